"""One stored dataset: reading its tables, embeddings and artefacts; writing through transactions."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
from aquaembed.errors import (
    ConflictError,
    NotFoundError,
    StoreError,
)
from aquaembed.store.atomic import digest, one_line
from aquaembed.store.lock import Pin
from aquaembed.store.manifest import Manifest
from aquaembed.store.tables import (
    boxes_of,
    column_to_numpy,
    json_dict,
    load_npy,
    optional_column,
)
from aquaembed.store.transaction import Transaction
from aquaembed.store.writes import DatasetWriter

__all__ = ["StoredDataset"]


class StoredDataset(DatasetWriter):
    """One dataset folder, opened from its manifest.

    Made by :meth:`Store.open` and :meth:`Store.creating`; do not construct directly.
    While open it pins its generation (see :mod:`aquaembed.store.lock`): writers keep
    that generation's files until it is released (:meth:`release`, or garbage
    collection). Every write runs in a transaction (:meth:`transaction`).

    Attributes
    ----------
    name : str
    path : Path
        The dataset folder.
    """

    def __init__(
        self,
        name: str,
        path: Path,
        manifest: Manifest,
        *,
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
        pin: bool = True,
    ) -> None:
        self.name = name
        self.path = path
        self._manifest = manifest
        self._wait = wait
        self._on_wait = on_wait
        self._txn: Transaction | None = None
        self._pin: Pin | None = Pin(path, manifest.generation) if pin else None

    def release(self) -> None:
        """Stop pinning this generation (reading files afterwards may fail once a writer sweeps)."""
        if self._pin is not None:
            self._pin.release()
            self._pin = None

    @property
    def generation(self) -> int:
        """The generation this object reads (the manifest's ``generation``)."""
        return self._manifest.generation

    def __repr__(self) -> str:
        c = self._manifest.counts
        return f"<StoredDataset {self.name!r}: {c.frames} frames, {c.labels} labels, sets {self.inference_names}>"

    # ---------------------------------------------------------------- reading

    @property
    def manifest(self) -> Manifest:
        """A copy of the manifest as of the last open or change by this object."""
        return self._manifest.copy()

    @property
    def inference_names(self) -> list[str]:
        """Names of the stored inference sets, in the order they were added."""
        return list(self._manifest.inferences)

    @property
    def embedding_kinds(self) -> list[str]:
        """Kinds of the stored embeddings (``frame``, ``label``, ``pred-<model>``)."""
        return list(self._manifest.embeddings)

    @property
    def artifact_names(self) -> list[str]:
        """Names of the stored artefacts."""
        return list(self._manifest.artifacts)

    def _file(self, rel: str) -> Path:
        path = self.path / rel
        if not path.exists():
            raise StoreError(
                f"dataset {self.name!r}: {rel}, listed in the manifest, is missing "
                "(changed by another process? reopen the dataset)"
            )
        return path

    def _read_table(self, rec: Mapping[str, Any], what: str, columns: list[str] | None = None) -> pa.Table:
        path = self._file(rec["file"])
        try:
            table = pq.read_table(path, columns=columns, memory_map=True)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(
                f"dataset {self.name!r}: cannot read the {what} table {rec['file']}: {one_line(exc)}"
            ) from None
        if table.num_rows != rec["rows"]:
            raise StoreError(
                f"dataset {self.name!r}: {rec['file']} has {table.num_rows} rows, the manifest says {rec['rows']}"
            )
        return table

    @cached_property
    def dataset(self) -> Dataset:
        """The tables as an in-memory :class:`~aquaembed.data.Dataset` (read on first access).

        Its arrays are read-only (some share memory with Arrow buffers); copy one before
        modifying it. Embeddings are not part of it; see :meth:`embeddings`.
        """
        m = self._manifest
        try:
            classes = ClassMap(np.asarray(m.classes.ids, dtype=np.int64), tuple(m.classes.names))
            t = self._read_table(m.tables["frames"], "frames")
            frames = Frames(
                id=t.column("id").to_numpy(),
                file_name=np.asarray(t.column("file_name").to_numpy(zero_copy_only=False), dtype=object),
                width=t.column("width").to_numpy(),
                height=t.column("height").to_numpy(),
                metadata={c["name"]: column_to_numpy(t.column(c["name"]), c["dtype"]) for c in m.frame_metadata},
            )
            t = self._read_table(m.tables["labels"], "labels")
            labels = Labels(
                id=t.column("id").to_numpy(),
                frame=t.column("frame").to_numpy(),
                cls=t.column("cls").to_numpy(),
                box=boxes_of(t),
                area=t.column("area").to_numpy(),
                crowd=t.column("crowd").to_numpy(zero_copy_only=False),
                box_area=optional_column(t, "box_area"),
            )
            sets = {}
            for inf_name, rec in m.inferences.items():
                t = self._read_table(rec, f"inference set {inf_name!r}")
                sets[inf_name] = Inferences(
                    frame=t.column("frame").to_numpy(),
                    cls=t.column("cls").to_numpy(),
                    box=boxes_of(t),
                    score=t.column("score").to_numpy(),
                    name=inf_name,
                    box_area=optional_column(t, "box_area"),
                )
            dataset = Dataset(classes, frames, labels, sets)
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"dataset {self.name!r}: stored tables are inconsistent: {one_line(exc)}") from None
        arrays = [*vars(frames).values(), *frames.metadata.values(), *vars(labels).values()]
        arrays += [a for inf in sets.values() for a in vars(inf).values()]
        for arr in arrays:
            if isinstance(arr, np.ndarray):
                arr.flags.writeable = False
        return dataset

    def embeddings(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """The embeddings of one kind, memory-mapped read-only.

        Parameters
        ----------
        kind : str
            ``"frame"``, ``"label"`` or ``"pred-<model>"``.

        Returns
        -------
        ids : np.memmap of int64, shape (n,)
            Frame ids (COCO ``image_id``) for ``frame``, label ids (annotation ``id``) for
            ``label``, 0-based results-file positions for ``pred-<model>``, in the order
            they were given.
        vectors : np.memmap of float32, shape (n, d)
            Row ``i`` is the embedding of ``ids[i]``.
        """
        rec = self._embedding_record(kind)
        try:
            ids = load_npy(self._file(rec["ids"]["file"]), mmap=True)
            vectors = load_npy(self._file(rec["vectors"]["file"]), mmap=True)
        except (OSError, ValueError) as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"dataset {self.name!r}: cannot read the {kind} embeddings: {one_line(exc)}") from None
        if vectors.shape != (rec["n"], rec["dim"]) or ids.shape != (rec["n"],):
            raise StoreError(
                f"dataset {self.name!r}: {kind} embeddings have shape {vectors.shape} and {ids.shape[0]} ids, "
                f"the manifest says ({rec['n']}, {rec['dim']})"
            )
        if vectors.dtype != np.float32 or ids.dtype != np.int64:
            raise StoreError(
                f"dataset {self.name!r}: {kind} embeddings are {vectors.dtype} with {ids.dtype} ids, "
                "expected float32 with int64 ids"
            )
        return ids, vectors

    def _embedding_record(self, kind: str) -> dict[str, Any]:
        try:
            return self._manifest.embeddings[kind]
        except KeyError:
            known = ", ".join(self._manifest.embeddings) or "none"
            raise NotFoundError(f"dataset {self.name!r} has no {kind!r} embeddings; stored: {known}") from None

    def artifact_info(self, name: str) -> dict[str, Any] | None:
        """The manifest record of an artefact (file, sha256, bytes, inputs, ...), or None."""
        rec = self._manifest.artifacts.get(name)
        return copy.deepcopy(rec) if rec is not None else None

    def current_inputs(self, kinds: list[str]) -> dict[str, Any]:
        """The content hashes an artefact over embeddings ``kinds`` records as its inputs.

        ``embeddings`` maps each kind to the sha256 of its vectors; ``tables`` maps the
        tables the kinds' ids refer to (``frames``, ``labels``, ``inferences/<model>``)
        to their sha256.
        """
        m = self._manifest
        tables: dict[str, str] = {}
        for kind in kinds:
            if kind == "frame":  # the frame index keeps each vector's frame row
                tables["frames"] = m.tables["frames"]["sha256"]
            elif kind == "label":
                tables["labels"] = m.tables["labels"]["sha256"]
            elif kind.startswith("pred-") and kind[5:] in m.inferences:
                tables[f"inferences/{kind[5:]}"] = m.inferences[kind[5:]]["sha256"]
        return {"embeddings": {k: m.embeddings[k]["vectors"]["sha256"] for k in kinds}, "tables": tables}

    def check_artifact(self, name: str) -> None:
        """Refuse an artefact whose recorded input hashes do not match what is stored now.

        Raises
        ------
        ConflictError
            An embedding or table it was computed from was replaced or removed since.
        """
        rec = self._artifact_record(name)
        inputs = rec.get("inputs") or {}
        m = self._manifest
        for kind, sha in (inputs.get("embeddings") or {}).items():
            cur = m.embeddings.get(kind)
            if cur is None or cur["vectors"]["sha256"] != sha:
                raise ConflictError(
                    f"dataset {self.name!r}: artefact {name!r} was built from {kind} embeddings that are no longer "
                    "stored; rebuild it (re-run the ingest or add-inferences step)"
                )
        for table, sha in (inputs.get("tables") or {}).items():
            cur = m.tables.get(table) if "/" not in table else m.inferences.get(table.split("/", 1)[1])
            if cur is None or cur.get("sha256") != sha:
                raise ConflictError(
                    f"dataset {self.name!r}: artefact {name!r} was built against another version of the {table} table; "
                    "rebuild it (re-run the ingest or add-inferences step)"
                )

    def has_artifact(self, name: str, *, inputs: Mapping[str, Any] | None = None) -> bool:
        """Whether an artefact is stored, and (given ``inputs``) was computed from exactly these.

        ``inputs`` is compared as it reads back from JSON (tuples become lists), so a cache
        can pass the same mapping it passed when writing.
        """
        rec = self._manifest.artifacts.get(name)
        if rec is None:
            return False
        return inputs is None or rec.get("inputs") == json_dict(inputs, "inputs")

    def _artifact_record(self, name: str) -> dict[str, Any]:
        rec = self._manifest.artifacts.get(name)
        if rec is None:
            known = ", ".join(self._manifest.artifacts) or "none"
            raise NotFoundError(f"dataset {self.name!r} has no artefact {name!r}; stored: {known}")
        return rec

    def artifact_path(self, name: str) -> Path:
        """Path of a stored artefact's file, for readers that want a path (``faiss.read_index``).

        The file must only be read: a change writes a new file under a new name.

        Raises
        ------
        ConflictError
            Its recorded inputs do not match the stored embeddings and tables.
        """
        self.check_artifact(name)
        return self._file(self._artifact_record(name)["file"])

    def read_artifact_bytes(self, name: str) -> bytes:
        """The content of a stored single-file artefact."""
        path = self.artifact_path(name)
        if path.is_dir():
            raise NotFoundError(f"dataset {self.name!r}: artefact {name!r} is a directory; use artifact_path")
        return path.read_bytes()

    def load_array(self, name: str, *, mmap: bool = True) -> np.ndarray:
        """An array stored with :meth:`save_array`, read-only (memory-mapped by default)."""
        rec = self._artifact_record(name)
        self.check_artifact(name)
        if rec.get("kind") != "array":
            raise NotFoundError(f"dataset {self.name!r}: artefact {name!r} is not an array")
        try:
            return load_npy(self._file(rec["file"]), mmap=mmap)
        except ValueError as exc:
            raise StoreError(f"dataset {self.name!r}: cannot read the array {name!r}: {one_line(exc)}") from None

    def verify(self) -> None:
        """Check that every file (and directory) the manifest lists exists and matches its sha256.

        Reads every file in full; meant for diagnostics, not for opening.

        Raises
        ------
        StoreError
            On the first missing or altered file.
        """
        for rel in sorted(self._manifest.referenced()):
            if digest(self._file(rel)) != self._manifest.sha256_of(rel):
                raise StoreError(f"dataset {self.name!r}: {rel} does not match the sha256 in the manifest")
