"""Datasets on disk: Parquet tables, memory-mapped embeddings, artefacts and a typed manifest.

A *data directory* holds one folder per dataset. A dataset folder is owned by the
store; its ``manifest.json`` (a :class:`Manifest`) is the single source of truth for
what the dataset contains::

    DATA/
      <dataset>/
        manifest.json                       the committed generation (see manifest.py)
        frames.g1.parquet                   id, file_name, width, height, <metadata...>
        labels.g1.parquet                   id, frame, cls, x1, y1, x2, y2, area, crowd
        inferences/<model>.g2.parquet       frame, cls, x1, y1, x2, y2, score
        embeddings/<kind>.g3.npy            float32, shape (n, d)
        embeddings/<kind>_ids.g3.npy        int64, shape (n,)
        artifacts/<name>.g4.<ext>           FAISS indexes, cached projections, ...
        .lock                               the writer lock
        .pins/g<N>                          readers' shared locks on generation N
        .manifests/g<N>.json                superseded manifests still being read

Modules: :mod:`~aquaembed.store.manifest` (the typed manifest),
:mod:`~aquaembed.store.tables` (Arrow schemas, conversions, embedding checks),
:mod:`~aquaembed.store.atomic` (the one atomic-write layer, and
:func:`~aquaembed.store.atomic.write_output` for user-named output files),
:mod:`~aquaembed.store.lock` (writer lock, generation pins),
:mod:`~aquaembed.store.transaction` (staging and the manifest switch),
:mod:`~aquaembed.store.dataset` (:class:`StoredDataset`) and
:mod:`~aquaembed.store.store` (:class:`Store`).

Transactions
------------
Every operation is one commit: it stages each file it writes under a new
generation-named path (no committed manifest lists it) and publishes them all with a
single rename of ``manifest.json``. A kill at any moment leaves exactly the previous
state or exactly the new one. Writers exclude each other with an OS lock on ``.lock``
(released when the holder dies); a second writer waits, or fails fast with one line
(``Store(root, wait=False)``, ``--no-wait`` on the CLI). Readers never lock: they read
the manifest once, pin its generation, and open the files it names. After a commit the
files of older generations are removed once no process pins them.

Group several writes into one commit with a transaction::

    sd = Store("data").open("harbour")
    with sd.transaction() as txn:
        sd.add_inferences(inferences, replace=True)      # staged, not yet visible
        sd.set_embeddings("pred-yolo", ids, vectors, replace=True)
        sd.save_array("my-metric", values, inputs=sd.current_inputs(["label"]))
        # a writer with its own files (review verdicts, scenarios, custom metrics):
        rec = txn.parquet("reviews/verdicts", table)     # or txn.npy / txn.file / txn.directory
        txn.manifest.sections.setdefault("reviews", {})["verdicts"] = rec
    # here every change is visible at once; on an exception in the block, none is

Read a section back with ``sd.manifest.sections["reviews"]["verdicts"]["file"]`` (a
path relative to ``sd.path``). Creating a dataset works the same way:
``with store.creating(name, dataset, replace=True) as sd: ...``.

Artefacts record the content hashes of their inputs (:meth:`StoredDataset.current_inputs`);
:meth:`StoredDataset.artifact_path` and :meth:`StoredDataset.load_array` refuse one
whose inputs no longer match (:class:`~aquaembed.errors.ConflictError`).

Tables are read and written with pyarrow; arrays with ``numpy.lib.format`` and
``allow_pickle=False``. Opening a dataset reads only the manifest; the tables are read
on first access to :attr:`StoredDataset.dataset`, and embeddings and arrays are
memory-mapped read-only when asked for.
"""

from __future__ import annotations

from aquaembed.store.dataset import StoredDataset
from aquaembed.store.manifest import (
    MANIFEST,
    SCHEMA_VERSION,
    ClassList,
    Counts,
    Manifest,
)
from aquaembed.store.store import Store
from aquaembed.store.tables import validate_embeddings
from aquaembed.store.transaction import Transaction

__all__ = [
    "MANIFEST", "SCHEMA_VERSION", "ClassList", "Counts", "Manifest", "Store", "StoredDataset", "Transaction",
    "validate_embeddings",
]
