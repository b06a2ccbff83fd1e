"""Arrow schemas of the stored tables, conversions both ways, and the checks on embeddings.

Frame and label references in the tables are *row indices* (``labels.frame``,
``inferences.frame``) and *class indices* (``cls``), exactly as in
:mod:`aquaembed.data`; the external ids are in ``frames.id`` and ``labels.id``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from aquaembed.data import Frames, Inferences, Labels
from aquaembed.errors import InputError, ParameterError

__all__ = [
    "NAME_RE",
    "boxes_of",
    "check_ids",
    "check_name",
    "column_to_numpy",
    "crop_kind",
    "frames_table",
    "inferences_table",
    "json_dict",
    "labels_table",
    "load_npy",
    "optional_column",
    "save_npy",
    "validate_embeddings",
]

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
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
        ("box_area", pa.float64()),
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
        ("box_area", pa.float64()),
    ]
)


# --------------------------------------------------------------------------- helpers



def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ParameterError(
            f"{what} {name!r}: use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name



def save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, allow_pickle=False)


def load_npy(path: Path, *, mmap: bool) -> np.ndarray:
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


def json_dict(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
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
    if kind == "U":  # through Python strings: Arrow's numpy path stops at an embedded NUL
        return pa.array(values.tolist(), type=pa.string())
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


def column_to_numpy(column: pa.ChunkedArray, dtype: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "O":
        out = np.empty(len(column), dtype=object)
        out[:] = column.to_pylist()
        return out
    return np.asarray(column.to_numpy(zero_copy_only=False)).astype(dt, copy=False)


def frames_table(frames: Frames) -> tuple[pa.Table, list[dict[str, str]]]:
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


def labels_table(labels: Labels) -> pa.Table:
    b = labels.box
    return pa.table(
        [labels.id, labels.frame, labels.cls, b[:, 0], b[:, 1], b[:, 2], b[:, 3], labels.area, labels.crowd,
         labels.box_area],
        schema=_LABEL_SCHEMA,
    )


def inferences_table(inf: Inferences) -> pa.Table:
    b = inf.box
    return pa.table([inf.frame, inf.cls, b[:, 0], b[:, 1], b[:, 2], b[:, 3], inf.score, inf.box_area],
                    schema=_INFERENCE_SCHEMA)


def optional_column(table: pa.Table, name: str) -> np.ndarray | None:
    """A column that tables written by older versions lack (``box_area``: the box areas as
    the source file computed them, e.g. COCO's ``w * h``; None, then recomputed from the
    corners, which can differ in the last bit)."""
    return table.column(name).to_numpy() if name in table.column_names else None


def boxes_of(table: pa.Table) -> np.ndarray:
    box = np.empty((table.num_rows, 4), dtype=np.float64)
    for j, name in enumerate(("x1", "y1", "x2", "y2")):
        box[:, j] = table.column(name).to_numpy()
    return box


def crop_kind(kind: str) -> bool:
    return kind == "label" or kind.startswith("pred-")


def check_ids(ids: np.ndarray, expected: np.ndarray, kind: str, what: str) -> None:
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



def validate_embeddings(kind: str, ids: Any, vectors: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check embeddings before anything is written; returns (int64 ids, float32 vectors).

    Parameters
    ----------
    kind : str
        ``"frame"``, ``"label"`` or ``"pred-<model>"`` (for the messages).
    ids : array of int, shape (n,)
    vectors : array of numbers, shape (n, d)

    Raises
    ------
    InputError
        Ids not 1-d integers; vectors not a 2-d numeric array with ``n >= 1`` rows and
        ``d >= 1`` columns; a row with a NaN or infinity; a row of zeros (zero norm:
        cosine similarity is undefined for it).
    """
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
        every = not np.isfinite(vec).any()
        raise InputError(
            f"{kind} embeddings: every value is NaN or infinite" if every else
            f"{kind} embeddings: the vector of id {int(ids_arr[bad])} (entry {bad}) has a NaN or infinite value"
        )
    for start in range(0, vec.shape[0], _CHUNK_ROWS):
        zero = ~vec[start : start + _CHUNK_ROWS].any(axis=1)
        if zero.any():
            i = start + int(np.flatnonzero(zero)[0])
            raise InputError(
                f"{kind} embeddings: the vector of id {int(ids_arr[i])} (entry {i}) is all zeros "
                "(zero norm: its cosine similarity is undefined)"
            )
    return ids_arr, vec
