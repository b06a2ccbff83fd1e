"""The writing half of :class:`~aquaembed.store.StoredDataset`: transactions and every write.

Every method here stages its files in a :class:`~aquaembed.store.transaction.Transaction`:
its own, or the one a caller opened with :meth:`DatasetWriter.transaction` (then all of
them become visible with one manifest switch).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from aquaembed.data import Dataset, Inferences, _check_index
from aquaembed.errors import InputError, NotFoundError, ParameterError, StoreError
from aquaembed.store.lock import Pin, writer_lock
from aquaembed.store.manifest import Manifest, read_manifest
from aquaembed.store.tables import (
    NAME_RE,
    check_ids,
    check_name,
    crop_kind,
    inferences_table,
    json_dict,
    validate_embeddings,
)
from aquaembed.store.transaction import Transaction, now

__all__ = ["DatasetWriter"]


class DatasetWriter:
    """Writes of a stored dataset (the base of :class:`~aquaembed.store.StoredDataset`)."""

    name: str
    path: Path
    _manifest: Manifest
    _wait: bool
    _on_wait: Callable[[str], None] | None
    _txn: Transaction | None
    _pin: Pin | None

    @property
    def dataset(self) -> Dataset:  # pragma: no cover - defined by StoredDataset
        raise NotImplementedError

    def release(self) -> None:  # pragma: no cover - defined by StoredDataset
        raise NotImplementedError

    def _read_table(self, rec: Mapping[str, Any], what: str, columns: list[str] | None = None) -> pa.Table:  # pragma: no cover
        raise NotImplementedError

    @contextlib.contextmanager
    def transaction(self, *, based_on: tuple[tuple[str, ...], ...] = ()) -> Iterator[Transaction]:
        """Group writes into one commit: all of them become visible at once, or none.

        Holds the dataset's writer lock for the whole block. Inside it, this object's
        write methods (:meth:`add_inferences`, :meth:`set_embeddings`,
        :meth:`save_array`, :meth:`write_artifact`, ...) stage into the transaction,
        and its read methods see the staged state. When the block ends without an
        exception the manifest switches once; otherwise the staged files are removed
        and nothing changed. Nested calls join the open transaction.

        Yields
        ------
        Transaction
            For writers with their own files: ``txn.parquet(stem, table)``,
            ``txn.npy(stem, array)``, ``txn.file(stem, suffix)``,
            ``txn.directory(stem)`` stage a file and return (or fill) its record; put
            the record into ``txn.manifest`` (e.g. ``txn.manifest.sections``).

        Parameters
        ----------
        based_on : tuple of key paths, keyword-only
            Manifest entries (e.g. ``("tables",)``, ``("inferences", "yolo")``) the caller
            validated its input against; if another process changed one since this
            object was opened, :class:`StoreError` is raised and nothing is written.
        """
        with self._change(based_on=based_on) as txn:
            yield txn

    @contextlib.contextmanager
    def _change(self, *, based_on: tuple[tuple[str, ...], ...] = ()) -> Iterator[Transaction]:
        """Join the open transaction, or lock, re-read the manifest and run a new one.

        ``based_on`` lists manifest entries (key paths such as ``("inferences", "yolo")``)
        the caller validated against; if another process changed one meanwhile, nothing
        is written.
        """
        if self._txn is not None:
            yield self._txn
            return

        def entry(manifest: Any, keys: tuple[str, ...]) -> Any:
            for key in keys:
                manifest = manifest.get(key, {}) if isinstance(manifest, Mapping) else {}
            return manifest

        with writer_lock(self.path, self.name, wait=self._wait, on_wait=self._on_wait):
            current = read_manifest(self.path, self.name)
            mine, theirs = self._manifest.to_json(), current.to_json()
            for keys in based_on:
                if entry(theirs, keys) != entry(mine, keys):
                    raise StoreError(
                        f"dataset {self.name!r} was changed by another process since it was opened; reopen it"
                    )
            with self._staging(Transaction(self.path, self.name, current.copy(), current)) as txn:
                yield txn

    @contextlib.contextmanager
    def _staging(self, txn: Transaction) -> Iterator[Transaction]:
        """Run ``txn`` on this object: reads see the staged state; commit or roll back at the end."""
        before, cached = self._manifest, self.__dict__.get("dataset")
        self._txn, self._manifest = txn, txn.manifest
        self.release()  # the writer lock is held: nothing is swept before this ends
        try:
            yield txn
            txn.finish()
        except BaseException:
            txn.abandon()
            raise
        finally:
            self._txn = None
            if not txn.committed:
                self._manifest = before
                self.__dict__.pop("dataset", None)
                if cached is not None:
                    self.__dict__["dataset"] = cached
            self._pin = Pin(self.path, self._manifest.generation)

    def add_inferences(
        self,
        inferences: Inferences,
        *,
        replace: bool = False,
        source: Mapping[str, Any] | None = None,
    ) -> None:
        """Store an inference set under ``inferences.name``.

        Parameters
        ----------
        inferences : Inferences
            Frame and class indices must refer to this dataset's frames and classes.
        replace : bool, keyword-only
            Replace a stored set of the same name. Its ``pred-<name>`` embeddings are
            removed with it (their ids are positions in the replaced results file).
        source : mapping, keyword-only
            JSON-serialisable provenance, kept in the manifest.

        Raises
        ------
        StoreError
            The set exists and ``replace`` is false.
        InputError
            A frame or class index is out of range.
        """
        name = check_name(inferences.name, "inference set name")
        src = json_dict(source, "source")
        counts = self._manifest.counts
        _check_index(inferences.frame, counts.frames, f"inference set {name!r} frames")
        _check_index(inferences.cls, counts.classes, f"inference set {name!r} classes")
        table = inferences_table(inferences)
        with self._change(based_on=(("tables",), ("classes",))) as commit:
            m = commit.manifest
            if name in m.inferences and not replace:
                raise StoreError(
                    f"dataset {self.name!r} already has an inference set {name!r}; pass replace=True to replace it"
                )
            record = commit.parquet(f"inferences/{name}", table)
            m.inferences[name] = {**record, "created": now(), "source": src}
            m.counts.inferences[name] = len(inferences)
            m.embeddings.pop(f"pred-{name}", None)
        if "dataset" in self.__dict__:
            self.__dict__["dataset"] = self.dataset.with_inferences(inferences)  # the cached tables

    def _expected_ids(self, kind: str) -> tuple[np.ndarray, str]:
        m = self._manifest
        if kind == "frame":
            if "dataset" in self.__dict__:
                return self.dataset.frames.id, "a frame id"
            return self._read_table(m.tables["frames"], "frames", ["id"]).column("id").to_numpy(), "a frame id"
        if kind == "label":
            if "dataset" in self.__dict__:
                return self.dataset.labels.id, "a label id"
            return self._read_table(m.tables["labels"], "labels", ["id"]).column("id").to_numpy(), "a label id"
        model = kind[len("pred-") :]
        if not kind.startswith("pred-") or not NAME_RE.fullmatch(model):
            raise ParameterError(f"embedding kind {kind!r}: expected 'frame', 'label' or 'pred-<inference set>'")
        if model not in m.inferences:
            known = ", ".join(m.inferences) or "none"
            raise NotFoundError(
                f"embedding kind {kind!r}: dataset {self.name!r} has no inference set {model!r}; known: {known}"
            )
        n = m.counts.inferences[model]
        return np.arange(n, dtype=np.int64), f"a position in inference set {model!r} (0..{n - 1})"

    def set_embeddings(
        self,
        kind: str,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        replace: bool = False,
        source: Mapping[str, Any] | None = None,
    ) -> None:
        """Store embeddings of one kind, for all frames, all labels or all inferences of a set.

        Parameters
        ----------
        kind : str
            ``"frame"`` (ids are frame ids), ``"label"`` (ids are label ids) or
            ``"pred-<model>"`` (ids are 0-based positions in inference set ``model``).
        ids : array of int, shape (n,)
            Every id of the kind exactly once, in any order.
        vectors : array of float, shape (n, d)
            Finite values; stored as float32. Label and prediction crop embeddings share
            one dimension (they go into one index); frame embeddings have their own.
        replace : bool, keyword-only
            Replace stored embeddings of this kind (their dimension may then change,
            unless other crop embeddings fix it).
        source : mapping, keyword-only
            JSON-serialisable provenance, kept in the manifest.

        Raises
        ------
        InputError
            Ids unknown, duplicated or incomplete; vectors not 2-d, ragged, non-finite
            or of a dimension other than the related stored kinds. Nothing is written.
        StoreError
            Embeddings of this kind exist and ``replace`` is false.
        """
        expected, what = self._expected_ids(kind)
        src = json_dict(source, "source")
        if kind in self._manifest.embeddings and not replace:  # early; checked again under the lock
            raise StoreError(f"dataset {self.name!r} already has {kind} embeddings; pass replace=True to replace them")
        ids_arr, vec = validate_embeddings(kind, ids, vectors)
        check_ids(ids_arr, expected, kind, what)
        dim = int(vec.shape[1])
        basis: tuple[tuple[str, ...], ...] = (("tables",),)
        if kind.startswith("pred-"):
            basis += (("inferences", kind[len("pred-") :]),)
        with self._change(based_on=basis) as commit:
            m = commit.manifest
            if kind in m.embeddings and not replace:
                raise StoreError(
                    f"dataset {self.name!r} already has {kind} embeddings; pass replace=True to replace them"
                )
            if crop_kind(kind):
                for other, rec in m.embeddings.items():
                    if other != kind and crop_kind(other) and rec["dim"] != dim:
                        raise InputError(
                            f"{kind} embeddings: dimension {dim}, but the stored {other} crop embeddings have "
                            f"dimension {rec['dim']} (label and prediction crops share one index)"
                        )
            m.embeddings[kind] = {
                "n": int(ids_arr.shape[0]),
                "dim": dim,
                "dtype": "float32",
                "vectors": commit.npy(f"embeddings/{kind}", vec),
                "ids": commit.npy(f"embeddings/{kind}_ids", ids_arr),
                "created": now(),
                "source": src,
            }

    def _put_artifact(self, commit: Transaction, name: str, replace: bool) -> None:
        if name in commit.manifest.artifacts and not replace:
            raise StoreError(f"dataset {self.name!r} already has an artefact {name!r}; pass replace=True to replace it")

    @contextlib.contextmanager
    def write_artifact(
        self,
        name: str,
        *,
        suffix: str = ".bin",
        inputs: Mapping[str, Any] | None = None,
        replace: bool = False,
    ) -> Iterator[Path]:
        """Write an artefact through a path, for writers that want one (``faiss.write_index``).

        Yields a temporary path in the dataset folder; write the file there. When the
        block ends without an exception the file is sealed and recorded in the manifest;
        otherwise it is discarded and the previous artefact stays.

        Parameters
        ----------
        name : str
            Artefact name (letters, digits, ``.``, ``_``, ``-``).
        suffix : str, keyword-only
            File name ending, e.g. ``".faiss"``.
        inputs : mapping, keyword-only
            JSON-serialisable description of what it was computed from (content hashes of
            the embeddings, parameters); compare it via :meth:`artifact_info` to reuse.
        replace : bool, keyword-only
            Replace a stored artefact of that name.
        """
        check_name(name, "artefact name")
        if suffix and not re.fullmatch(r"\.[A-Za-z0-9_.-]{1,20}", suffix):
            raise ParameterError(f"artefact suffix {suffix!r}: expected '.' followed by letters or digits")
        normalised = json_dict(inputs, "inputs")
        with self._change() as commit:
            self._put_artifact(commit, name, replace)
            with commit.file(f"artifacts/{name}", suffix) as (tmp, record):
                yield tmp
            commit.manifest.artifacts[name] = {
                **record,
                "kind": "file",
                "inputs": normalised,
                "created": now(),
            }

    @contextlib.contextmanager
    def write_artifact_dir(
        self,
        name: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        replace: bool = False,
    ) -> Iterator[Path]:
        """Write an artefact made of several files (an index and its sidecar, say).

        Yields an empty temporary directory in the dataset folder; write any files there.
        When the block ends without an exception the directory is sealed, renamed into
        place and recorded (``kind`` ``"dir"``, with its file list); otherwise it is
        discarded and the previous artefact stays. :meth:`artifact_path` then gives the
        directory. Parameters as for :meth:`write_artifact`.
        """
        check_name(name, "artefact name")
        normalised = json_dict(inputs, "inputs")
        with self._change() as commit:
            self._put_artifact(commit, name, replace)
            with commit.directory(f"artifacts/{name}") as (tmp, record):
                yield tmp
            commit.manifest.artifacts[name] = {
                **record,
                "kind": "dir",
                "inputs": normalised,
                "created": now(),
            }

    def write_artifact_bytes(
        self,
        name: str,
        data: bytes,
        *,
        suffix: str = ".bin",
        inputs: Mapping[str, Any] | None = None,
        replace: bool = False,
    ) -> None:
        """Store ``data`` as an artefact; see :meth:`write_artifact` for the parameters."""
        with self.write_artifact(name, suffix=suffix, inputs=inputs, replace=replace) as tmp:
            tmp.write_bytes(bytes(data))

    def save_array(
        self,
        name: str,
        array: np.ndarray,
        *,
        inputs: Mapping[str, Any] | None = None,
        replace: bool = False,
    ) -> None:
        """Store a numeric or boolean array (a cached projection, say) as ``.npy``.

        Parameters
        ----------
        name : str
            Artefact name.
        array : array of bool or numbers, any shape
        inputs : mapping, keyword-only
            What it was computed from; see :meth:`write_artifact`.
        replace : bool, keyword-only
            Replace a stored artefact of that name.

        Raises
        ------
        InputError
            The array holds objects or strings (they would need pickle).
        """
        check_name(name, "artefact name")
        arr = np.asarray(array)
        if arr.dtype.kind not in "biufc":
            raise InputError(f"array {name!r}: dtype {arr.dtype} cannot be stored; use numbers or bools")
        normalised = json_dict(inputs, "inputs")
        with self._change() as commit:
            self._put_artifact(commit, name, replace)
            record = commit.npy(f"artifacts/{name}", np.ascontiguousarray(arr))
            commit.manifest.artifacts[name] = {
                **record,
                "kind": "array",
                "shape": list(arr.shape),
                "dtype": arr.dtype.str,
                "inputs": normalised,
                "created": now(),
            }

    def delete_artifact(self, name: str) -> None:
        """Remove a stored artefact.

        Raises
        ------
        NotFoundError
            No artefact of that name.
        """
        with self._change() as commit:
            if name not in commit.manifest.artifacts:
                raise NotFoundError(f"dataset {self.name!r} has no artefact {name!r}")
            del commit.manifest.artifacts[name]

