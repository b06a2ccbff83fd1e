"""The data directory: one folder per dataset; opening, creating and deleting datasets."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from aquaembed.data import Dataset
from aquaembed.errors import NotFoundError, StoreError
from aquaembed.store.atomic import fsync_dir, resource_error
from aquaembed.store.dataset import StoredDataset
from aquaembed.store.lock import writer_lock
from aquaembed.store.manifest import (
    MANIFEST,
    ClassList,
    Counts,
    Manifest,
    read_manifest,
)
from aquaembed.store.tables import (
    NAME_RE,
    check_name,
    frames_table,
    inferences_table,
    json_dict,
    labels_table,
)
from aquaembed.store.transaction import Transaction, now

__all__ = ["Store"]


class Store:
    """A data directory holding one folder per dataset.

    Parameters
    ----------
    root : path
        The data directory. It is created on the first :meth:`create`.
    wait : bool, keyword-only
        When another process writes a dataset, wait for it (default) or fail at once
        with one line (:class:`~aquaembed.errors.StoreError`).
    on_wait : callable, keyword-only
        Told one line when a write waits for another writer.

    Examples
    --------
    >>> store = Store("data")                                   # doctest: +SKIP
    >>> stored = store.create("harbour", dataset)               # doctest: +SKIP
    >>> store.open("harbour").dataset.labels.box.shape          # doctest: +SKIP
    (2000000, 4)
    """

    def __init__(
        self, root: str | os.PathLike[str], *, wait: bool = True, on_wait: Callable[[str], None] | None = None
    ) -> None:
        self.root = Path(root)
        self.wait = wait
        self.on_wait = on_wait

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def _folder(self, name: str) -> Path:
        return self.root / check_name(name, "dataset name")

    def list(self) -> list[str]:
        """Names of the datasets (folders with a manifest), sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if NAME_RE.fullmatch(p.name) and (p / MANIFEST).is_file())

    def exists(self, name: str) -> bool:
        """Whether a dataset called ``name`` exists (its folder has a manifest)."""
        return (self._folder(name) / MANIFEST).is_file()

    def open(self, name: str) -> StoredDataset:
        """Open a stored dataset; reads only its manifest, and pins its generation.

        Raises
        ------
        NotFoundError
            No dataset of that name.
        StoreError
            The manifest is missing, corrupt or of a newer schema version.
        """
        folder = self._folder(name)
        if not folder.is_dir():
            known = ", ".join(self.list()) or "none"
            raise NotFoundError(f"no dataset {name!r} in {self.root}; known: {known}")
        for _ in range(8):
            manifest = read_manifest(folder, name)
            sd = StoredDataset(name, folder, manifest, wait=self.wait, on_wait=self.on_wait)
            # pinned; if a writer committed meanwhile it may have swept this generation: retry
            if read_manifest(folder, name).generation == manifest.generation:
                return sd
            sd.release()
        return sd

    def open_sharded(self, name: str) -> Any:
        """Open a dataset in the sharded layout (:class:`aquaembed.store.shards.ShardedStore`)."""
        from aquaembed.store.shards import ShardedStore

        folder = self._folder(name)
        if not folder.is_dir():
            known = ", ".join(self.list()) or "none"
            raise NotFoundError(f"no dataset {name!r} in {self.root}; known: {known}")
        return ShardedStore(str(folder))

    def create(
        self,
        name: str,
        dataset: Dataset,
        *,
        replace: bool = False,
        source: Mapping[str, Any] | None = None,
    ) -> StoredDataset:
        """Store ``dataset`` (classes, frames, labels, every inference set) as ``name``.

        The same as an empty :meth:`creating` block.

        Raises
        ------
        StoreError
            The name exists and ``replace`` is false, or the folder cannot be written.
        """
        with self.creating(name, dataset, replace=replace, source=source) as sd:
            pass
        return sd

    @contextlib.contextmanager
    def creating(
        self,
        name: str,
        dataset: Dataset,
        *,
        replace: bool = False,
        source: Mapping[str, Any] | None = None,
    ) -> Iterator[StoredDataset]:
        """Create (or replace) dataset ``name`` in one transaction that the block extends.

        The tables are staged before the block runs; inside it the yielded dataset's
        writes (embeddings, artefacts) join the transaction. The new dataset replaces
        the previous one (if any) at once when the block ends; on an exception nothing
        changed.

        Parameters
        ----------
        name : str
            Dataset name: letters, digits, ``.``, ``_``, ``-``.
        dataset : Dataset
        replace : bool, keyword-only
            Replace an existing dataset of that name, with its embeddings and artefacts.
        source : mapping, keyword-only
            JSON-serialisable provenance (input file names, hashes), kept in the manifest.

        Raises
        ------
        StoreError
            The name exists and ``replace`` is false; the folder cannot be written.
        """
        folder = self._folder(name)
        src = json_dict(source, "source")
        for inf_name in dataset.inferences:
            check_name(inf_name, "inference set name")
        frames, metadata = frames_table(dataset.frames)
        labels = labels_table(dataset.labels)
        sets = {n: inferences_table(inf) for n, inf in dataset.inferences.items()}
        if not replace and self.exists(name):
            raise StoreError(f"dataset {name!r} already exists in {self.root}; pass replace=True to replace it")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                folder.mkdir()
                fsync_dir(self.root)
            except FileExistsError:
                pass
        except OSError as exc:
            raise (resource_error(exc, self.root, f"dataset {name!r}") or
                   StoreError(f"cannot create dataset {name!r} in {self.root}: {exc.strerror}")) from None
        with writer_lock(folder, name, wait=self.wait, on_wait=self.on_wait):
            previous: Manifest | None = None
            if (folder / MANIFEST).is_file():
                if not replace:
                    raise StoreError(f"dataset {name!r} already exists in {self.root}; pass replace=True to replace it")
                with contextlib.suppress(StoreError):
                    previous = read_manifest(folder, name)
            manifest = Manifest(
                name=name,
                generation=previous.generation if previous is not None else 0,
                counts=Counts(len(dataset.frames), len(dataset.labels), dataset.classes.n_classes, {}),
                classes=ClassList(dataset.classes.ids.tolist(), list(dataset.classes.names)),
                frame_metadata=metadata,
                source=src,
                created=now(),
            )
            sd = StoredDataset(name, folder, manifest, wait=self.wait, on_wait=self.on_wait, pin=False)
            with sd._staging(Transaction(folder, name, manifest, previous)) as txn:
                manifest.tables["frames"] = txn.parquet("frames", frames)
                manifest.tables["labels"] = txn.parquet("labels", labels)
                for inf_name, table in sets.items():
                    manifest.inferences[inf_name] = {**txn.parquet(f"inferences/{inf_name}", table), "created": now(),
                                                     "source": {}}
                    manifest.counts.inferences[inf_name] = table.num_rows
                yield sd

    def delete(self, name: str) -> None:
        """Delete a dataset and everything stored with it.

        The folder is first renamed away (atomically), then removed.

        Raises
        ------
        NotFoundError
            No dataset of that name.
        """
        folder = self._folder(name)
        if not folder.is_dir():
            raise NotFoundError(f"no dataset {name!r} in {self.root}")
        trash = self.root / f".deleted-{name}-{secrets.token_hex(4)}"
        with writer_lock(folder, name, wait=self.wait, on_wait=self.on_wait):
            os.replace(folder, trash)
        fsync_dir(self.root)
        shutil.rmtree(trash, ignore_errors=True)
