"""Datasets on disk: Parquet tables, memory-mapped embeddings, artefacts and a manifest.

A *data directory* holds one folder per dataset. A dataset folder is owned by the
store; its ``manifest.json`` is the single source of truth for what the dataset
contains::

    DATA/
      <dataset>/
        manifest.json                       schema version, counts, classes, file list
        frames.g1.parquet                   id, file_name, width, height, <metadata...>
        labels.g1.parquet                   id, frame, cls, x1, y1, x2, y2, area, crowd
        inferences/<model>.g2.parquet       frame, cls, x1, y1, x2, y2, score
        embeddings/<kind>.g3.npy            float32, shape (n, d)
        embeddings/<kind>_ids.g3.npy        int64, shape (n,)
        artifacts/<name>.g4.<ext>           FAISS indexes, cached projections, ...
        .lock                               serialises writers

Every data file name carries the *generation* (``.g<N>``) of the commit that wrote
it, so a file is never overwritten in place: a change writes new files (each to a
temporary name, fsync, ``os.replace``), then the manifest (the same way), and only
then removes the files the new manifest no longer lists. Killing the process at any
point leaves the previous manifest and every file it lists untouched; leftovers of
an interrupted write are removed by the next successful write. Readers never lock:
they read the manifest once and open the files it names. Always find files through
the manifest (or this module's API), never by guessing names.

The manifest (JSON) holds ``schema_version``, ``name``, ``created``/``updated`` (UTC,
ISO 8601), ``generation``, ``source`` (provenance given at create), ``counts``
(frames, labels, classes, rows per inference set), ``classes`` (``ids``, ``names``),
``frame_metadata`` (name and numpy dtype of each metadata column, in order),
``tables`` and ``inferences`` (per file: ``file``, ``sha256``, ``bytes``, ``rows``),
``embeddings`` (per kind: ``n``, ``dim``, ``vectors`` and ``ids`` file records,
``source``) and ``artifacts`` (per name: file record, ``kind`` (``file`` or
``array``), ``inputs``: what it was computed from). The ``sha256`` of an embedding
file is the content hash to key caches on.

Tables are read and written with pyarrow; arrays with ``numpy.lib.format`` and
``allow_pickle=False``. Opening a dataset reads only the manifest; the tables are
read on first access to :attr:`StoredDataset.dataset`, and embeddings and arrays
are memory-mapped read-only when asked for.

Frame and label references in the tables are *row indices* (``labels.frame``,
``inferences.frame``) and *class indices* (``cls``), exactly as in
:mod:`aquaembed.data`; the external ids are in ``frames.id`` and ``labels.id``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels, _check_index
from aquaembed.errors import InputError, NotFoundError, ParameterError, StoreError

try:  # POSIX advisory locks; without them (Windows) writers are not serialised.
    import fcntl
except ImportError:  # pragma: no cover - exercised only on Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SCHEMA_VERSION", "Store", "StoredDataset"]

SCHEMA_VERSION = 1
"""Version of the on-disk layout this module writes and the newest it reads."""

MANIFEST = "manifest.json"
_LOCK = ".lock"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_TMP_MARK = ".tmp-"
_FILE_PART_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
_CHUNK_ROWS = 1 << 16

_FRAME_COLUMNS = ("id", "file_name", "width", "height")
_LABEL_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("frame", pa.int64()),
        ("cls", pa.int64()),
        ("x1", pa.float64()),
        ("y1", pa.float64()),
        ("x2", pa.float64()),
        ("y2", pa.float64()),
        ("area", pa.float64()),
        ("crowd", pa.bool_()),
    ]
)
_INFERENCE_SCHEMA = pa.schema(
    [
        ("frame", pa.int64()),
        ("cls", pa.int64()),
        ("x1", pa.float64()),
        ("y1", pa.float64()),
        ("x2", pa.float64()),
        ("y2", pa.float64()),
        ("score", pa.float64()),
    ]
)


# --------------------------------------------------------------------------- helpers


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ParameterError(
            f"{what} {name!r}: use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_fsync = os.fsync
"""Flushes a file descriptor to disk (one name, so tests can count the calls)."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        _fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _discard(path: Path) -> None:
    """Clean up a file or directory after a failed write (a killed process never gets here)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        _remove(path)


def _tmp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}{_TMP_MARK}{secrets.token_hex(4)}")


def _seal(tmp: Path, final: Path) -> tuple[str, int]:
    """Hash and fsync ``tmp``, then rename it to ``final``; returns (sha256, size)."""
    with open(tmp, "r+b") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        size = f.tell()
        f.flush()
        _fsync(f.fileno())
    os.replace(tmp, final)
    return digest, size


def _dir_files(folder: Path) -> list[str]:
    return sorted(
        Path(d, f).relative_to(folder).as_posix() for d, _, files in os.walk(folder) for f in files
    )


def _digest(path: Path) -> str:
    """sha256 of a file; of a directory, sha256 of its ``sha256sum``-style listing."""
    if path.is_dir():
        lines = [f"{_digest(path / rel)}  {rel}\n" for rel in _dir_files(path)]
        return hashlib.sha256("".join(lines).encode()).hexdigest()
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _seal_dir(tmp: Path, final: Path) -> tuple[str, int, list[str]]:
    """fsync every file of ``tmp`` and the directory, rename it to ``final``; returns (sha256, size, files)."""
    files = _dir_files(tmp)
    size = 0
    for rel in files:
        with open(tmp / rel, "r+b") as f:
            size += os.fstat(f.fileno()).st_size
            _fsync(f.fileno())
    for d in {(tmp / rel).parent for rel in files} | {tmp}:
        _fsync_dir(d)
    digest = _digest(tmp)
    if final.exists():  # left by an interrupted write of the same generation; never listed
        shutil.rmtree(final)
    os.replace(tmp, final)
    return digest, size, files


def _write_json_atomic(path: Path, obj: Mapping[str, Any]) -> None:
    tmp = _tmp_name(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, ensure_ascii=False, allow_nan=False)
            f.write("\n")
            f.flush()
            _fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the writer lock of a dataset folder."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise StoreError(f"dataset folder {folder} no longer exists") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, allow_pickle=False)


def _load_npy(path: Path, *, mmap: bool) -> np.ndarray:
    if mmap:
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            if "empty file" not in str(exc):  # numpy cannot mmap a zero-size array
                raise
    arr = np.load(path, allow_pickle=False)
    arr.flags.writeable = False
    return arr


def _finite_rows(vectors: np.ndarray) -> int:
    """Index of the first row holding a NaN or infinity, or -1 (checked in chunks)."""
    for start in range(0, vectors.shape[0], _CHUNK_ROWS):
        ok = np.isfinite(vectors[start : start + _CHUNK_ROWS]).all(axis=1)
        if not ok.all():
            return start + int(np.flatnonzero(~ok)[0])
    return -1


def _json_dict(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """``value`` as it will read back from the manifest (after a JSON round trip)."""
    if value is None:
        return {}
    try:
        return json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what}: expected a JSON-serialisable mapping ({exc})") from None


def _metadata_array(key: str, values: np.ndarray) -> pa.Array:
    kind = values.dtype.kind
    if kind in "biuf":
        if values.dtype == np.float16:
            values = values.astype(np.float32)
        return pa.array(values.astype(values.dtype.newbyteorder("="), copy=False))
    if kind == "U":
        return pa.array(values, type=pa.string())
    if kind == "O":
        try:
            arr = pa.array(list(values), from_pandas=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise InputError(
                f"frame metadata {key!r}: expected one type of str, int, float or bool per column ({exc})"
            ) from None
        t = arr.type
        if pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
            return arr
        if pa.types.is_null(t):
            return arr.cast(pa.string())
        raise InputError(f"frame metadata {key!r}: values of type {t} are not supported; use str, int, float or bool")
    raise InputError(f"frame metadata {key!r}: dtype {values.dtype} is not supported; use str, int, float or bool")


def _column_to_numpy(column: pa.ChunkedArray, dtype: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "O":
        out = np.empty(len(column), dtype=object)
        out[:] = column.to_pylist()
        return out
    return np.asarray(column.to_numpy(zero_copy_only=False)).astype(dt, copy=False)


def _frames_table(frames: Frames) -> tuple[pa.Table, list[dict[str, str]]]:
    try:
        names = pa.array(list(frames.file_name), type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"frames: file names must be strings ({exc})") from None
    cols: dict[str, pa.Array] = {
        "id": pa.array(frames.id, type=pa.int64()),
        "file_name": names,
        "width": pa.array(frames.width, type=pa.float64()),
        "height": pa.array(frames.height, type=pa.float64()),
    }
    meta: list[dict[str, str]] = []
    for key, values in frames.metadata.items():
        if key in _FRAME_COLUMNS:
            raise InputError(f"frame metadata {key!r}: the name is reserved for a frame column")
        cols[key] = _metadata_array(key, np.asarray(values))
        meta.append({"name": key, "dtype": np.asarray(values).dtype.str})
    return pa.table(cols), meta


def _labels_table(labels: Labels) -> pa.Table:
    b = labels.box
    return pa.table(
        [labels.id, labels.frame, labels.cls, b[:, 0], b[:, 1], b[:, 2], b[:, 3], labels.area, labels.crowd],
        schema=_LABEL_SCHEMA,
    )


def _inferences_table(inf: Inferences) -> pa.Table:
    b = inf.box
    return pa.table([inf.frame, inf.cls, b[:, 0], b[:, 1], b[:, 2], b[:, 3], inf.score], schema=_INFERENCE_SCHEMA)


def _boxes_of(table: pa.Table) -> np.ndarray:
    box = np.empty((table.num_rows, 4), dtype=np.float64)
    for j, name in enumerate(("x1", "y1", "x2", "y2")):
        box[:, j] = table.column(name).to_numpy()
    return box


def _crop_kind(kind: str) -> bool:
    return kind == "label" or kind.startswith("pred-")


def _check_ids(ids: np.ndarray, expected: np.ndarray, kind: str, what: str) -> None:
    """Refuse unknown or duplicated ids and a partial set (all or none)."""
    known = np.sort(expected)
    if known.size:
        pos = np.minimum(np.searchsorted(known, ids), known.size - 1)
        unknown = known[pos] != ids
    else:
        unknown = np.ones(ids.shape, dtype=bool)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise InputError(f"{kind} embeddings: entry {i} has id {int(ids[i])}, which is not {what}")
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = int(np.flatnonzero(counts > 1)[0])
        raise InputError(f"{kind} embeddings: id {int(uniq[dup])} appears {int(counts[dup])} times")
    if uniq.size != known.size:
        missing = int(np.setdiff1d(known, uniq, assume_unique=True)[0])
        raise InputError(
            f"{kind} embeddings: {uniq.size} of {known.size} ids given; give all or none (missing: id {missing})"
        )


# --------------------------------------------------------------------------- transaction


class _Commit:
    """One change to a dataset folder: new files under fresh names, then the manifest.

    Only :meth:`StoredDataset._change` and :meth:`Store.create` make these, with the
    folder's writer lock held.
    """

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.manifest = manifest
        self.generation = int(manifest.get("generation", 0)) + 1
        self.written: list[Path] = []
        self.committed = False

    def target(self, stem: str, suffix: str) -> tuple[str, Path]:
        rel = f"{stem}.g{self.generation}{suffix}"
        path = self.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return rel, path

    @contextlib.contextmanager
    def file(self, stem: str, suffix: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Yield a temporary path to write and a record to be filled with file, sha256, bytes."""
        rel, final = self.target(stem, suffix)
        tmp = _tmp_name(final)
        record: dict[str, Any] = {"file": rel}
        try:
            yield tmp, record
            if not tmp.is_file():
                raise StoreError(f"dataset folder {self.folder}: nothing was written for {rel}")
            self.written.append(final)
            record["sha256"], record["bytes"] = _seal(tmp, final)
        except BaseException:
            _discard(tmp)
            raise

    @contextlib.contextmanager
    def directory(self, stem: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Like :meth:`file`, for an artefact made of several files: yields an empty directory."""
        rel, final = self.target(stem, "")
        tmp = _tmp_name(final)
        tmp.mkdir()
        record: dict[str, Any] = {"file": rel}
        try:
            yield tmp, record
            self.written.append(final)
            record["sha256"], record["bytes"], record["files"] = _seal_dir(tmp, final)
        except BaseException:
            _discard(tmp)
            raise

    def parquet(self, stem: str, table: pa.Table) -> dict[str, Any]:
        with self.file(stem, ".parquet") as (tmp, record):
            pq.write_table(table, tmp)
        record["rows"] = table.num_rows
        return record

    def npy(self, stem: str, array: np.ndarray) -> dict[str, Any]:
        with self.file(stem, ".npy") as (tmp, record):
            _save_npy(tmp, array)
        return record

    def finish(self) -> dict[str, Any]:
        """Write the manifest (last), then remove files it no longer lists."""
        for parent in {p.parent for p in self.written} | {self.folder}:
            _fsync_dir(parent)
        self.manifest["generation"] = self.generation
        self.manifest["updated"] = _now()
        _write_json_atomic(self.folder / MANIFEST, self.manifest)
        self.committed = True  # from here on the new files are the dataset
        with contextlib.suppress(OSError):  # best effort: the next write sweeps again
            _sweep(self.folder, self.manifest)
        return self.manifest

    def abandon(self) -> None:
        if self.committed:
            return
        for path in self.written:
            _discard(path)


def _referenced(manifest: Mapping[str, Any]) -> set[str]:
    files = {rec["file"] for rec in manifest.get("tables", {}).values()}
    files.update(rec["file"] for rec in manifest.get("inferences", {}).values())
    files.update(rec["file"] for rec in manifest.get("artifacts", {}).values())
    for rec in manifest.get("embeddings", {}).values():
        files.update((rec["vectors"]["file"], rec["ids"]["file"]))
    return files


def _sweep(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Remove files the manifest does not list (superseded or left by a crash)."""
    keep = _referenced(manifest) | {MANIFEST, _LOCK}
    parents = {rel.rsplit("/", 1)[0] for rel in keep if "/" in rel}
    for dirpath, dirnames, files in os.walk(folder):  # does not follow symbolic links
        here = Path(dirpath)
        for sub in list(dirnames):
            rel = (here / sub).relative_to(folder).as_posix()
            if rel in keep:  # a directory artefact: keep it whole
                dirnames.remove(sub)
            elif rel not in parents and not (here / sub).is_symlink():
                shutil.rmtree(here / sub, ignore_errors=True)
                dirnames.remove(sub)
        for file in files:
            path = here / file
            if path.relative_to(folder).as_posix() not in keep:
                _remove(path)


def _read_manifest(folder: Path, name: str) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"dataset {name!r}: {path} is missing (an interrupted create?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"dataset {name!r}: cannot read {path}: {_one_line(exc)}") from None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"dataset {name!r}: {path} is not valid JSON ({_one_line(exc)})") from None
    if not isinstance(manifest, dict):
        raise StoreError(f"dataset {name!r}: {path} must hold a JSON object")
    version = manifest.get("schema_version")
    if manifest.get("layout") == "sharded":  # hook: aquaembed.store.shards (schema version 2)
        raise StoreError(f"dataset {name!r} is in the sharded layout: open it with Store.open_sharded({name!r})")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StoreError(f"dataset {name!r}: {path} has no valid schema_version (got {version!r})")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"dataset {name!r}: schema version {version} is newer than this aquaembed reads "
            f"({SCHEMA_VERSION}); upgrade aquaembed"
        )
    shape = {
        "counts": dict,
        "classes": dict,
        "frame_metadata": list,
        "tables": dict,
        "inferences": dict,
        "embeddings": dict,
        "artifacts": dict,
        "generation": int,
    }
    for key, typ in shape.items():
        if not isinstance(manifest.get(key), typ):
            raise StoreError(f"dataset {name!r}: {path} lacks a valid {key!r} entry")
    for table in ("frames", "labels"):
        if not isinstance(manifest["tables"].get(table), dict):
            raise StoreError(f"dataset {name!r}: {path} does not list the {table} table")
    try:
        files = _referenced(manifest)
    except (KeyError, TypeError, AttributeError):
        raise StoreError(f"dataset {name!r}: {path} has a malformed file entry") from None
    for rel in files:
        parts = rel.split("/") if isinstance(rel, str) else [""]
        if not all(_FILE_PART_RE.fullmatch(part) for part in parts):
            raise StoreError(f"dataset {name!r}: {path} lists a file outside the dataset folder: {rel!r}")
    return manifest


# --------------------------------------------------------------------------- public API


class Store:
    """A data directory holding one folder per dataset.

    Parameters
    ----------
    root : path
        The data directory. It is created on the first :meth:`create`.

    Examples
    --------
    >>> store = Store("data")                                   # doctest: +SKIP
    >>> stored = store.create("harbour", dataset)               # doctest: +SKIP
    >>> store.open("harbour").dataset.labels.box.shape          # doctest: +SKIP
    (2000000, 4)
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def _folder(self, name: str) -> Path:
        return self.root / _check_name(name, "dataset name")

    def list(self) -> list[str]:
        """Names of the datasets (folders with a manifest), sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if _NAME_RE.fullmatch(p.name) and (p / MANIFEST).is_file()
        )

    def exists(self, name: str) -> bool:
        """Whether a dataset called ``name`` exists (its folder has a manifest)."""
        return (self._folder(name) / MANIFEST).is_file()

    def open(self, name: str) -> StoredDataset:
        """Open a stored dataset; reads only its manifest.

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
        return StoredDataset(name, folder, _read_manifest(folder, name))

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

        Parameters
        ----------
        name : str
            Dataset name: letters, digits, ``.``, ``_``, ``-``.
        dataset : Dataset
        replace : bool, keyword-only
            Replace an existing dataset of that name, with its embeddings and artefacts.
            Without it an existing name is refused.
        source : mapping, keyword-only
            JSON-serialisable provenance (input file names, hashes), kept in the manifest.

        Returns
        -------
        StoredDataset

        Raises
        ------
        StoreError
            The name exists and ``replace`` is false, or the folder cannot be written.
        """
        folder = self._folder(name)
        src = _json_dict(source, "source")
        for inf_name in dataset.inferences:
            _check_name(inf_name, "inference set name")
        frames_table, metadata = _frames_table(dataset.frames)
        if not replace and self.exists(name):
            raise StoreError(f"dataset {name!r} already exists in {self.root}; pass replace=True to replace it")
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()
            _fsync_dir(self.root)
        except FileExistsError:
            pass
        with _locked(folder):
            previous: dict[str, Any] = {}
            if (folder / MANIFEST).is_file():
                if not replace:
                    raise StoreError(f"dataset {name!r} already exists in {self.root}; pass replace=True to replace it")
                with contextlib.suppress(StoreError):
                    previous = _read_manifest(folder, name)
            manifest: dict[str, Any] = {
                "schema_version": SCHEMA_VERSION,
                "name": name,
                "created": _now(),
                "updated": None,
                "generation": int(previous.get("generation", 0)),
                "source": src,
                "counts": {
                    "frames": len(dataset.frames),
                    "labels": len(dataset.labels),
                    "classes": dataset.classes.n_classes,
                    "inferences": {},
                },
                "classes": {
                    "ids": dataset.classes.ids.tolist(),
                    "names": list(dataset.classes.names),
                },
                "frame_metadata": metadata,
                "tables": {},
                "inferences": {},
                "embeddings": {},
                "artifacts": {},
            }
            commit = _Commit(folder, manifest)
            try:
                manifest["tables"]["frames"] = commit.parquet("frames", frames_table)
                manifest["tables"]["labels"] = commit.parquet("labels", _labels_table(dataset.labels))
                for inf_name, inf in dataset.inferences.items():
                    record = commit.parquet(f"inferences/{inf_name}", _inferences_table(inf))
                    manifest["inferences"][inf_name] = {**record, "created": _now(), "source": {}}
                    manifest["counts"]["inferences"][inf_name] = len(inf)
                commit.finish()
            except BaseException:
                commit.abandon()
                raise
        return StoredDataset(name, folder, manifest)

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
        with _locked(folder):
            os.replace(folder, trash)
        _fsync_dir(self.root)
        shutil.rmtree(trash, ignore_errors=True)


class StoredDataset:
    """One dataset folder, opened from its manifest.

    Made by :meth:`Store.open` and :meth:`Store.create`; do not construct directly.

    Attributes
    ----------
    name : str
    path : Path
        The dataset folder.
    """

    def __init__(self, name: str, path: Path, manifest: dict[str, Any]) -> None:
        self.name = name
        self.path = path
        self._manifest = manifest

    def __repr__(self) -> str:
        c = self._manifest["counts"]
        return f"<StoredDataset {self.name!r}: {c['frames']} frames, {c['labels']} labels, sets {self.inference_names}>"

    # ---------------------------------------------------------------- reading

    @property
    def manifest(self) -> dict[str, Any]:
        """A copy of the manifest as of the last open or change by this object."""
        return copy.deepcopy(self._manifest)

    @property
    def inference_names(self) -> list[str]:
        """Names of the stored inference sets, in the order they were added."""
        return list(self._manifest["inferences"])

    @property
    def embedding_kinds(self) -> list[str]:
        """Kinds of the stored embeddings (``frame``, ``label``, ``pred-<model>``)."""
        return list(self._manifest["embeddings"])

    @property
    def artifact_names(self) -> list[str]:
        """Names of the stored artefacts."""
        return list(self._manifest["artifacts"])

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
                f"dataset {self.name!r}: cannot read the {what} table {rec['file']}: {_one_line(exc)}"
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
            classes = ClassMap(np.asarray(m["classes"]["ids"], dtype=np.int64), tuple(m["classes"]["names"]))
            t = self._read_table(m["tables"]["frames"], "frames")
            frames = Frames(
                id=t.column("id").to_numpy(),
                file_name=np.asarray(t.column("file_name").to_numpy(zero_copy_only=False), dtype=object),
                width=t.column("width").to_numpy(),
                height=t.column("height").to_numpy(),
                metadata={c["name"]: _column_to_numpy(t.column(c["name"]), c["dtype"]) for c in m["frame_metadata"]},
            )
            t = self._read_table(m["tables"]["labels"], "labels")
            labels = Labels(
                id=t.column("id").to_numpy(),
                frame=t.column("frame").to_numpy(),
                cls=t.column("cls").to_numpy(),
                box=_boxes_of(t),
                area=t.column("area").to_numpy(),
                crowd=t.column("crowd").to_numpy(zero_copy_only=False),
            )
            sets = {}
            for inf_name, rec in m["inferences"].items():
                t = self._read_table(rec, f"inference set {inf_name!r}")
                sets[inf_name] = Inferences(
                    frame=t.column("frame").to_numpy(),
                    cls=t.column("cls").to_numpy(),
                    box=_boxes_of(t),
                    score=t.column("score").to_numpy(),
                    name=inf_name,
                )
            dataset = Dataset(classes, frames, labels, sets)
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"dataset {self.name!r}: stored tables are inconsistent: {_one_line(exc)}") from None
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
            ids = _load_npy(self._file(rec["ids"]["file"]), mmap=True)
            vectors = _load_npy(self._file(rec["vectors"]["file"]), mmap=True)
        except (OSError, ValueError) as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"dataset {self.name!r}: cannot read the {kind} embeddings: {_one_line(exc)}") from None
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
            return self._manifest["embeddings"][kind]
        except KeyError:
            known = ", ".join(self._manifest["embeddings"]) or "none"
            raise NotFoundError(f"dataset {self.name!r} has no {kind!r} embeddings; stored: {known}") from None

    def artifact_info(self, name: str) -> dict[str, Any] | None:
        """The manifest record of an artefact (file, sha256, bytes, inputs, ...), or None."""
        rec = self._manifest["artifacts"].get(name)
        return copy.deepcopy(rec) if rec is not None else None

    def has_artifact(self, name: str, *, inputs: Mapping[str, Any] | None = None) -> bool:
        """Whether an artefact is stored, and (given ``inputs``) was computed from exactly these.

        ``inputs`` is compared as it reads back from JSON (tuples become lists), so a cache
        can pass the same mapping it passed when writing.
        """
        rec = self._manifest["artifacts"].get(name)
        if rec is None:
            return False
        return inputs is None or rec.get("inputs") == _json_dict(inputs, "inputs")

    def _artifact_record(self, name: str) -> dict[str, Any]:
        rec = self._manifest["artifacts"].get(name)
        if rec is None:
            known = ", ".join(self._manifest["artifacts"]) or "none"
            raise NotFoundError(f"dataset {self.name!r} has no artefact {name!r}; stored: {known}")
        return rec

    def artifact_path(self, name: str) -> Path:
        """Path of a stored artefact's file, for readers that want a path (``faiss.read_index``).

        The file must only be read: a change writes a new file under a new name.
        """
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
        if rec.get("kind") != "array":
            raise NotFoundError(f"dataset {self.name!r}: artefact {name!r} is not an array")
        try:
            return _load_npy(self._file(rec["file"]), mmap=mmap)
        except ValueError as exc:
            raise StoreError(f"dataset {self.name!r}: cannot read the array {name!r}: {_one_line(exc)}") from None

    def verify(self) -> None:
        """Check that every file (and directory) the manifest lists exists and matches its sha256.

        Reads every file in full; meant for diagnostics, not for opening.

        Raises
        ------
        StoreError
            On the first missing or altered file.
        """
        for rel in sorted(_referenced(self._manifest)):
            if _digest(self._file(rel)) != self._sha256_of(rel):
                raise StoreError(f"dataset {self.name!r}: {rel} does not match the sha256 in the manifest")

    def _sha256_of(self, rel: str) -> str:
        m = self._manifest
        recs = [*m["tables"].values(), *m["inferences"].values(), *m["artifacts"].values()]
        for emb in m["embeddings"].values():
            recs += [emb["vectors"], emb["ids"]]
        return next(r["sha256"] for r in recs if r["file"] == rel)

    # ---------------------------------------------------------------- writing

    @contextlib.contextmanager
    def _change(self, *, based_on: tuple[tuple[str, ...], ...] = ()) -> Iterator[_Commit]:
        """Lock, re-read the manifest, let the caller write files, commit the manifest.

        ``based_on`` lists manifest entries (key paths such as ``("inferences", "yolo")``)
        the caller validated against; if another process changed one meanwhile, nothing
        is written.
        """

        def entry(manifest: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
            for key in keys:
                manifest = manifest.get(key, {}) if isinstance(manifest, Mapping) else {}
            return manifest

        with _locked(self.path):
            current = _read_manifest(self.path, self.name)
            for keys in based_on:
                if entry(current, keys) != entry(self._manifest, keys):
                    raise StoreError(
                        f"dataset {self.name!r} was changed by another process since it was opened; reopen it"
                    )
            commit = _Commit(self.path, current)
            try:
                yield commit
                commit.finish()
            except BaseException:
                commit.abandon()
                raise
            finally:
                if commit.committed:
                    self._manifest = commit.manifest

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
        name = _check_name(inferences.name, "inference set name")
        src = _json_dict(source, "source")
        counts = self._manifest["counts"]
        _check_index(inferences.frame, counts["frames"], f"inference set {name!r} frames")
        _check_index(inferences.cls, counts["classes"], f"inference set {name!r} classes")
        table = _inferences_table(inferences)
        with self._change(based_on=(("tables",), ("classes",))) as commit:
            m = commit.manifest
            if name in m["inferences"] and not replace:
                raise StoreError(
                    f"dataset {self.name!r} already has an inference set {name!r}; pass replace=True to replace it"
                )
            record = commit.parquet(f"inferences/{name}", table)
            m["inferences"][name] = {**record, "created": _now(), "source": src}
            m["counts"]["inferences"][name] = len(inferences)
            m["embeddings"].pop(f"pred-{name}", None)
        if "dataset" in self.__dict__:
            self.dataset = self.dataset.with_inferences(inferences)

    def _expected_ids(self, kind: str) -> tuple[np.ndarray, str]:
        m = self._manifest
        if kind == "frame":
            if "dataset" in self.__dict__:
                return self.dataset.frames.id, "a frame id"
            return self._read_table(m["tables"]["frames"], "frames", ["id"]).column("id").to_numpy(), "a frame id"
        if kind == "label":
            if "dataset" in self.__dict__:
                return self.dataset.labels.id, "a label id"
            return self._read_table(m["tables"]["labels"], "labels", ["id"]).column("id").to_numpy(), "a label id"
        model = kind[len("pred-") :]
        if not kind.startswith("pred-") or not _NAME_RE.fullmatch(model):
            raise ParameterError(f"embedding kind {kind!r}: expected 'frame', 'label' or 'pred-<inference set>'")
        if model not in m["inferences"]:
            known = ", ".join(m["inferences"]) or "none"
            raise NotFoundError(
                f"embedding kind {kind!r}: dataset {self.name!r} has no inference set {model!r}; known: {known}"
            )
        n = m["counts"]["inferences"][model]
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
        src = _json_dict(source, "source")
        if kind in self._manifest["embeddings"] and not replace:  # early; checked again under the lock
            raise StoreError(f"dataset {self.name!r} already has {kind} embeddings; pass replace=True to replace them")
        ids_arr = np.asarray(ids)
        if ids_arr.ndim != 1 or (ids_arr.size and ids_arr.dtype.kind not in "iu"):
            raise InputError(
                f"{kind} embeddings: ids must be a 1-d integer array, got {ids_arr.dtype} of shape {ids_arr.shape}"
            )
        ids_arr = np.ascontiguousarray(ids_arr, dtype=np.int64)
        try:
            vec = np.asarray(vectors)
        except ValueError:
            raise InputError(f"{kind} embeddings: the vectors have mixed dimensions") from None
        if vec.dtype.kind not in "fiu":
            raise InputError(f"{kind} embeddings: expected numbers, got dtype {vec.dtype} (mixed dimensions?)")
        if vec.ndim != 2 or vec.shape[1] == 0:
            raise InputError(f"{kind} embeddings: expected a 2-d array (n, d) with d >= 1, got shape {vec.shape}")
        if vec.shape[0] != ids_arr.shape[0]:
            raise InputError(f"{kind} embeddings: {ids_arr.shape[0]} ids but {vec.shape[0]} vectors")
        if ids_arr.size == 0:
            raise InputError(f"{kind} embeddings: no embeddings given")
        with np.errstate(over="ignore", invalid="ignore"):
            vec = np.ascontiguousarray(vec, dtype=np.float32)
        bad = _finite_rows(vec)
        if bad >= 0:
            raise InputError(
                f"{kind} embeddings: the vector of id {int(ids_arr[bad])} (entry {bad}) has a NaN or infinite value"
            )
        _check_ids(ids_arr, expected, kind, what)
        dim = int(vec.shape[1])
        basis: tuple[tuple[str, ...], ...] = (("tables",),)
        if kind.startswith("pred-"):
            basis += (("inferences", kind[len("pred-") :]),)
        with self._change(based_on=basis) as commit:
            m = commit.manifest
            if kind in m["embeddings"] and not replace:
                raise StoreError(
                    f"dataset {self.name!r} already has {kind} embeddings; pass replace=True to replace them"
                )
            if _crop_kind(kind):
                for other, rec in m["embeddings"].items():
                    if other != kind and _crop_kind(other) and rec["dim"] != dim:
                        raise InputError(
                            f"{kind} embeddings: dimension {dim}, but the stored {other} crop embeddings have "
                            f"dimension {rec['dim']} (label and prediction crops share one index)"
                        )
            m["embeddings"][kind] = {
                "n": int(ids_arr.shape[0]),
                "dim": dim,
                "dtype": "float32",
                "vectors": commit.npy(f"embeddings/{kind}", vec),
                "ids": commit.npy(f"embeddings/{kind}_ids", ids_arr),
                "created": _now(),
                "source": src,
            }

    def _put_artifact(self, commit: _Commit, name: str, replace: bool) -> None:
        if name in commit.manifest["artifacts"] and not replace:
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
        _check_name(name, "artefact name")
        if suffix and not re.fullmatch(r"\.[A-Za-z0-9_.-]{1,20}", suffix):
            raise ParameterError(f"artefact suffix {suffix!r}: expected '.' followed by letters or digits")
        normalised = _json_dict(inputs, "inputs")
        with self._change() as commit:
            self._put_artifact(commit, name, replace)
            with commit.file(f"artifacts/{name}", suffix) as (tmp, record):
                yield tmp
            commit.manifest["artifacts"][name] = {
                **record,
                "kind": "file",
                "inputs": normalised,
                "created": _now(),
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
        _check_name(name, "artefact name")
        normalised = _json_dict(inputs, "inputs")
        with self._change() as commit:
            self._put_artifact(commit, name, replace)
            with commit.directory(f"artifacts/{name}") as (tmp, record):
                yield tmp
            commit.manifest["artifacts"][name] = {
                **record,
                "kind": "dir",
                "inputs": normalised,
                "created": _now(),
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
        _check_name(name, "artefact name")
        arr = np.asarray(array)
        if arr.dtype.kind not in "biufc":
            raise InputError(f"array {name!r}: dtype {arr.dtype} cannot be stored; use numbers or bools")
        normalised = _json_dict(inputs, "inputs")
        with self._change() as commit:
            self._put_artifact(commit, name, replace)
            record = commit.npy(f"artifacts/{name}", np.ascontiguousarray(arr))
            commit.manifest["artifacts"][name] = {
                **record,
                "kind": "array",
                "shape": list(arr.shape),
                "dtype": arr.dtype.str,
                "inputs": normalised,
                "created": _now(),
            }

    def delete_artifact(self, name: str) -> None:
        """Remove a stored artefact.

        Raises
        ------
        NotFoundError
            No artefact of that name.
        """
        with self._change() as commit:
            if name not in commit.manifest["artifacts"]:
                raise NotFoundError(f"dataset {self.name!r} has no artefact {name!r}")
            del commit.manifest["artifacts"][name]

