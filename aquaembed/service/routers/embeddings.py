"""The embedding map and similarity search: ``/datasets/{ds}/projection`` and ``/similar``."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query

from aquaembed._typing import MatchType
from aquaembed.matching import TYPE_NAMES
from aquaembed.metrics import json_value
from aquaembed.service.deps import (
    INT64_MAX,
    INT64_MIN,
    KindQuery,
    ModelQuery,
    OptionsDep,
    SettingsDep,
    SourceQuery,
    ViewDep,
)
from aquaembed.service.errors import ApiParameterError
from aquaembed.service.schemas import EncodedArray, Projection, Similar

__all__ = ["router", "encode_array", "decode_array", "PROJECTION_DESCRIPTION"]

router = APIRouter(
    tags=["embeddings"],
)

CROP_SOURCES = ("label", "pred")
"""Names of the crop ``source`` codes (0 = label, 1 = pred)."""

PROJECTION_DESCRIPTION = """\
The 2-D map (UMAP) of the frame or crop embeddings with the fields to colour it by.

Every column is an **encoded array** `{dtype, shape, data}`: `data` is the base64 of the
array's raw little-endian bytes (C order). Decode in Python with
`numpy.frombuffer(base64.b64decode(data), dtype).reshape(shape)`, in JavaScript with a
typed array over the decoded bytes (`<f4` Float32Array, `<i8` BigInt64Array, `<i4`
Int32Array, `<i2` Int16Array, `|i1` Int8Array, `|u1` Uint8Array). Floats are sent as
`<f4` (NaN means undefined); integers in the smallest signed type that holds the
column's range, so always read `dtype`. A text column is sent as `<i4` codes with its
`categories` (-1: missing).

* frame kind: `ids` (frame ids), `x`, `y`, `tp`, `fp`, `fn`, `precision`, `recall`,
  `f1`; the metadata fields are in `metadata`, encoded the same way.
* crop kind: the crops of the labels and of inference set `model`: `ids` (label id
  or inference index), `x`, `y`, `source` (0 label, 1 pred; names in `codes.source`), `class`
  (class index, names in `codes.class`), `type` (0 TP, 1 FP, 2 FN, 3 confusion,
  4 ignored, -1 below the confidence threshold; names in `codes.type`), `score`
  (NaN for labels) and `frame_id`.
"""


def encode_array(values: Any) -> dict[str, Any]:
    """Encode a 1-d or n-d array as ``{dtype, shape, data[, categories]}``.

    Parameters
    ----------
    values : array-like
        Numbers, booleans or text. float64 is narrowed to float32; integers to the
        smallest signed type holding their range (``|i1``, ``<i2``, ``<i4`` or ``<i8``);
        booleans become ``|u1``; text (or objects that are not all numbers) becomes
        ``<i4`` codes into ``categories`` (``-1`` for None).

    Returns
    -------
    dict
        ``dtype`` (little-endian numpy dtype string), ``shape``, ``data`` (base64) and,
        for text, ``categories``.
    """
    arr = np.asarray(values)
    categories: list[str] | None = None
    if arr.dtype.kind == "O":
        flat = arr.ravel().tolist()
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in flat):
            arr = np.array([np.nan if v is None else v for v in flat], dtype=np.float64).reshape(arr.shape)
        elif all(v is None or isinstance(v, bool) for v in flat) and None not in flat:
            arr = np.array(flat, dtype=bool).reshape(arr.shape)
    if arr.dtype.kind in "OUS":
        flat = arr.ravel().tolist()
        present = sorted({str(v) for v in flat if v is not None})
        lookup = {name: i for i, name in enumerate(present)}
        arr = np.array([-1 if v is None else lookup[str(v)] for v in flat], dtype=np.int32).reshape(arr.shape)
        categories = present
    elif arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    elif arr.dtype.kind == "f" and arr.dtype.itemsize > 4:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(_narrowest_int(arr), copy=False)
    elif arr.dtype.kind not in "iuf":
        raise TypeError(f"cannot encode an array of dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    out: dict[str, Any] = {
        "dtype": arr.dtype.str,
        "shape": list(arr.shape),
        "data": base64.b64encode(arr.tobytes()).decode("ascii"),
    }
    if categories is not None:
        out["categories"] = categories
    return out


def _narrowest_int(arr: np.ndarray) -> np.dtype:
    """The smallest signed integer dtype that holds every value of ``arr``."""
    if arr.size == 0:
        return np.dtype(np.int8)
    lo, hi = int(arr.min()), int(arr.max())
    for dt in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dt)
    raise TypeError(f"integer values up to {hi} do not fit in int64")


def decode_array(encoded: Mapping[str, Any] | EncodedArray) -> np.ndarray:
    """Inverse of :func:`encode_array` (codes stay codes); for clients and tests."""
    if isinstance(encoded, EncodedArray):
        encoded = encoded.model_dump()
    raw = base64.b64decode(encoded["data"])
    return np.frombuffer(raw, dtype=np.dtype(encoded["dtype"])).reshape(encoded["shape"])


def _limit_faiss_threads(n: int) -> None:
    """Cap the OpenMP threads of FAISS searches made by *this* thread (an OpenMP setting
    is per thread, so it is applied in the worker thread that runs the search)."""
    if n <= 0:
        return
    import faiss

    faiss.omp_set_num_threads(n)


@router.get(
    "/datasets/{ds}/projection",
    response_model=Projection,
    summary="2-D embedding map with colour fields (compact typed arrays)",
    description=PROJECTION_DESCRIPTION,
)
def get_projection(
    view: ViewDep,
    options: OptionsDep,
    kind: KindQuery = "frame",
    model: ModelQuery = None,
) -> dict[str, Any]:
    """See the operation description."""
    project = view.projection
    resolved = view.resolve(model)
    result = project(kind, resolved, options=options)
    ids = np.asarray(result["ids"])
    n = int(ids.shape[0])
    columns: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    codes: dict[str, list[str]] = {}
    extra: dict[str, Any] = {}
    for key, value in result.items():
        if key in ("kind", "model"):
            continue
        if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == n:
            columns[key] = encode_array(value)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            codes[key] = list(value)
        elif isinstance(value, Mapping):
            if key == "metadata":
                metadata = {str(k): encode_array(v) for k, v in value.items()}
        else:
            extra[key] = json_value(value)
    if "type" in columns and "categories" not in columns["type"]:
        codes.setdefault("type", list(TYPE_NAMES))
    if "class" in columns and "categories" not in columns["class"]:
        codes.setdefault("class", list(view.dataset.classes.names))
    if "source" in columns and "categories" not in columns["source"]:
        codes.setdefault("source", list(CROP_SOURCES))
    return {
        "dataset": view.name,
        "kind": kind,
        "model": resolved,
        "conf_threshold": options.conf,
        "iou_threshold": options.iou,
        "n": n,
        "columns": columns,
        "metadata": metadata,
        "codes": codes,
        "extra": extra,
    }


@router.get("/datasets/{ds}/similar", response_model=Similar, summary="Nearest neighbours of a frame or a crop")
def get_similar(
    view: ViewDep,
    options: OptionsDep,
    settings: SettingsDep,
    id: Annotated[int, Query(ge=INT64_MIN, le=INT64_MAX, description="frame id (kind=frame) or crop id (kind=crop)")],
    kind: KindQuery = "frame",
    k: Annotated[int, Query(ge=1, description="number of neighbours, at most the server's max_limit")] = 10,
    source: Annotated[SourceQuery | None, Query(description="crop kind: is `id` a label or a prediction crop")] = None,
    types: Annotated[
        list[MatchType] | None,
        Query(description="crop kind: keep neighbours of these match types (repeat the parameter)"),
    ] = None,
    same_class: Annotated[bool, Query(description="crop kind: keep neighbours of the query's class")] = False,
    model: ModelQuery = None,
) -> dict[str, Any]:
    """The ``k`` nearest neighbours by cosine similarity (FAISS), with their frame metrics and
    metadata (frame kind) or their source, class, match type and score (crop kind) at the
    thresholds. Crop neighbours are label crops and crops of inference set ``model``.
    Unknown ids are 404."""
    if k > settings.max_limit:
        raise ApiParameterError("k", f"must be <= {settings.max_limit}, got {k}")
    if kind != "crop":
        for name, given in (("source", source is not None), ("types", types is not None), ("same_class", same_class)):
            if given:
                raise ApiParameterError(name, "applies to kind=crop only")
    similar = view.similar
    resolved = view.resolve(model)
    kwargs: dict[str, Any] = {"k": k, "model": resolved, "options": options}
    if kind == "crop":
        kwargs["source"] = source or "label"
        if types is not None:
            kwargs["types"] = list(types)
        if same_class:
            kwargs["same_class"] = True
    _limit_faiss_threads(settings.faiss_threads)
    result = similar(kind, id, **kwargs)
    neighbors = [json_value(dict(n)) for n in result.get("neighbors", [])]
    query = result.get("query")
    return {
        "dataset": view.name,
        "kind": kind,
        "id": id,
        "k": k,
        "model": resolved,
        "source": kwargs.get("source"),
        "conf_threshold": options.conf,
        "iou_threshold": options.iou,
        "query": None if query is None else json_value(dict(query)),
        "neighbors": neighbors,
    }
