"""Custom metrics: per-frame confusion matrices from a file or a plugin, and per-frame scalars.

A custom metric takes the place of the built-in matching: a stack of per-frame
``(C + 1) x (C + 1)`` matrices (rows = label class, columns = inference class,
background last, the ``evaluate`` layout) from which every view derives its numbers
through :class:`~aquaembed.metrics.FrameMatrices`.

* **From a file** (:func:`read_metric_file`): ``{"classes": [...names, "background"],
  "frames": {"<image_id>": [[counts]], ...}}``; a frame absent from the file counts as
  all zeros. Stored as an ``.npy`` artefact, shape ``(F, C + 1, C + 1)`` int64.
* **As code** (:func:`load_plugin`, :func:`run_plugin`): ``package.module:function``,
  called with batches of frames (:class:`FrameBatch`) and the
  :class:`~aquaembed.matching.MatchOptions`; it returns one matrix per frame of the
  batch. Stored as a small JSON artefact naming the callable; run again whenever the
  options change.
* **Per-frame scalars** (:func:`read_scalar_file`): a Parquet or CSV file with
  ``image_id`` and numeric columns (a team's own severity, a loss); stored as an
  ``(F, K)`` float64 array (NaN for a frame the file does not give).

Persistence goes through :class:`CustomMetricStore` only, and everything is validated in
full before anything is written.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from aquaembed.data import Dataset, Inferences
from aquaembed.errors import InputError, NotFoundError, ParameterError
from aquaembed.matching import MatchOptions
from aquaembed.store import StoredDataset

__all__ = [
    "FrameBatch", "CustomMetricStore", "read_metric_file", "read_scalar_file", "load_plugin", "run_plugin",
    "METRIC_NAME",
]

METRIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a custom metric's (or scalar set's) name may be made of."""
_PREFIX = "metric."
_SCALARS = "scalars."
Progress = Callable[[int, int], None]


def check_metric_name(name: object, parameter: str = "metric") -> str:
    """A valid metric name, or a ParameterError naming it."""
    if not isinstance(name, str) or not METRIC_NAME.fullmatch(name):
        raise ParameterError(f"{parameter}: a name of letters, digits, '_' or '-' (at most 64), got {name!r}",
                             parameter=parameter)
    if name == "builtin":
        raise ParameterError(f"{parameter}: 'builtin' names the built-in matching", parameter=parameter)
    return name


# --------------------------------------------------------------------------- files


def read_metric_file(path: str | Path, dataset: Dataset) -> np.ndarray:
    """Read and validate a per-frame confusion-matrix file.

    Parameters
    ----------
    path : path
        JSON ``{"classes": [...], "frames": {"<image_id>": [[...]], ...}}``.
    dataset : Dataset
        Gives the class list (must be equal, background last) and the frames.

    Returns
    -------
    int64 array, shape (F, C + 1, C + 1)
        In the dataset's frame row order; frames absent from the file are all zeros.

    Raises
    ------
    InputError
        One line naming the file and the offending entry.
    """
    name = Path(path).name
    try:
        doc = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{name}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or set(doc) != {"classes", "frames"}:
        keys = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise InputError(f"{name}: expected an object with exactly 'classes' and 'frames', got {keys}")
    want = list(dataset.classes.names_with_background)
    if doc["classes"] != want:
        raise InputError(f"{name}: 'classes' must be the dataset's classes in category-id order, background last: "
                         f"{want}; got {doc['classes']!r}"[:400])
    frames = doc["frames"]
    if not isinstance(frames, dict):
        raise InputError(f"{name}: 'frames' must be an object keyed by image id")
    n = len(want)
    keys = list(frames)
    ids = np.empty(len(keys), dtype=np.int64)
    for i, key in enumerate(keys):
        if not re.fullmatch(r"-?[0-9]{1,18}", key):
            raise InputError(f"{name}: frames[{key!r}]: the key must be an integer image id")
        ids[i] = int(key)
    rows = dataset.frames.index_of_ids(ids)
    if (rows < 0).any():
        raise InputError(f"{name}: frames[{keys[int(np.flatnonzero(rows < 0)[0])]!r}]: unknown image id")
    if np.unique(rows).size != rows.size:
        raise InputError(f"{name}: an image id appears twice in 'frames'")
    out = np.zeros((len(dataset.frames), n, n), dtype=np.int64)
    for key, row in zip(keys, rows.tolist()):
        out[row] = _matrix(frames[key], n, f"{name}: frames[{key!r}]")
    return out


def _matrix(value: Any, n: int, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != n or not all(isinstance(r, list) and len(r) == n for r in value):
        raise InputError(f"{where}: expected a {n} x {n} list of lists (C + 1 = {n} with the background)")
    for r in value:
        for v in r:
            if isinstance(v, bool) or not isinstance(v, int) and not (isinstance(v, float) and v.is_integer()):
                raise InputError(f"{where}: counts must be non-negative integers, got {v!r}")
            if v < 0:
                raise InputError(f"{where}: counts must be non-negative integers, got {v!r}")
    return np.asarray(value, dtype=np.int64)


def read_scalar_file(path: str | Path, dataset: Dataset) -> tuple[list[str], np.ndarray]:
    """Read per-frame scalar metrics: ``image_id`` plus numeric columns (Parquet or CSV).

    Returns
    -------
    columns : list of str
        The numeric columns, in file order.
    values : float64 array, shape (F, K)
        In the dataset's frame row order; NaN for a frame the file does not give.
    """
    import pyarrow as pa

    p = Path(path)
    name = p.name
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            table = pq.read_table(p)
        elif p.suffix.lower() == ".csv":
            import pyarrow.csv as pcsv

            table = pcsv.read_csv(p)
        else:
            raise InputError(f"{name}: expected a .parquet or .csv file")
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{name}: cannot read ({str(exc).splitlines()[0]})") from None
    if "image_id" not in table.column_names:
        raise InputError(f"{name}: needs an 'image_id' column; has {', '.join(table.column_names)}")
    cols = [c for c in table.column_names if c != "image_id"]
    if not cols:
        raise InputError(f"{name}: needs at least one numeric column besides 'image_id'")
    id_col = table.column("image_id")
    if not pa.types.is_integer(id_col.type) or id_col.null_count:
        raise InputError(f"{name}: 'image_id' must hold integers without gaps, got {id_col.type}")
    ids = id_col.to_numpy()
    rows = dataset.frames.index_of_ids(ids)
    if (rows < 0).any():
        raise InputError(f"{name}: image_id {int(ids[np.flatnonzero(rows < 0)[0]])}: unknown image id")
    if np.unique(rows).size != rows.size:
        raise InputError(f"{name}: an image_id appears twice")
    out = np.full((len(dataset.frames), len(cols)), np.nan)
    reserved = set(dataset.frames.metadata) | {"id", "tp", "fp", "fn", "precision", "recall", "f1"}
    for k, c in enumerate(cols):
        if c in reserved or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", c):
            raise InputError(f"{name}: column {c!r}: needs a name of letters, digits and '_' not already a "
                             "metadata field or a built-in metric")
        col = table.column(c)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            raise InputError(f"{name}: column {c!r} must be numeric, got {col.type}")
        out[rows, k] = col.to_numpy(zero_copy_only=False).astype(np.float64)
    return cols, out


# --------------------------------------------------------------------------- plugins


@dataclass(frozen=True)
class FrameBatch:
    """A batch of frames handed to a metric plugin, as columnar arrays.

    Attributes
    ----------
    image_id : int64 array, shape (B,)
    classes : tuple of str
        Class names in category-id order, ``"background"`` last (C + 1 entries).
    label_frame : int64 array, shape (L,)
        Position of each label's frame in the batch, in ``[0, B)``.
    label_id : int64 array, shape (L,)
        COCO annotation ids.
    label_class : int64 array, shape (L,)
        Class index in ``[0, C)``.
    label_box : float64 array, shape (L, 4)
        ``[x1, y1, x2, y2]`` in pixels.
    label_crowd : bool array, shape (L,)
    pred_frame, pred_index, pred_class : int64 arrays, shape (N,)
        Batch position, position in the results file, class index.
    pred_box : float64 array, shape (N, 4)
    pred_score : float64 array, shape (N,)
    """

    image_id: np.ndarray
    classes: tuple[str, ...]
    label_frame: np.ndarray
    label_id: np.ndarray
    label_class: np.ndarray
    label_box: np.ndarray
    label_crowd: np.ndarray
    pred_frame: np.ndarray
    pred_index: np.ndarray
    pred_class: np.ndarray
    pred_box: np.ndarray
    pred_score: np.ndarray

    def __len__(self) -> int:
        return int(self.image_id.shape[0])


def load_plugin(spec: str) -> Callable[[FrameBatch, MatchOptions], Any]:
    """Import ``package.module:function``; a ParameterError names what is wrong."""
    if not isinstance(spec, str) or not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", spec):
        raise ParameterError(f"plugin: expected 'package.module:function', got {spec!r}", parameter="plugin")
    module_name, func_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ParameterError(f"plugin {spec}: cannot import {module_name!r} ({type(exc).__name__}: {exc})",
                             parameter="plugin") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ParameterError(f"plugin {spec}: {module_name} has no callable {func_name!r}", parameter="plugin")
    return func


def _batches(dataset: Dataset, inferences: Inferences, size: int) -> Any:
    f = len(dataset.frames)
    lab, inf = dataset.labels, inferences
    l_order = np.argsort(lab.frame, kind="stable")
    p_order = np.argsort(inf.frame, kind="stable")
    l_start = np.searchsorted(lab.frame[l_order], np.arange(f + 1))
    p_start = np.searchsorted(inf.frame[p_order], np.arange(f + 1))
    names = tuple(dataset.classes.names_with_background)
    for lo in range(0, f, size):
        hi = min(lo + size, f)
        li = l_order[l_start[lo]:l_start[hi]]
        pi = p_order[p_start[lo]:p_start[hi]]
        yield lo, hi, FrameBatch(
            image_id=dataset.frames.id[lo:hi], classes=names,
            label_frame=lab.frame[li] - lo, label_id=lab.id[li], label_class=lab.cls[li], label_box=lab.box[li],
            label_crowd=lab.crowd[li].astype(bool),
            pred_frame=inf.frame[pi] - lo, pred_index=pi.astype(np.int64), pred_class=inf.cls[pi],
            pred_box=inf.box[pi], pred_score=inf.score[pi],
        )


def _one_frame(batch: FrameBatch, k: int) -> FrameBatch:
    lm, pm = batch.label_frame == k, batch.pred_frame == k
    return FrameBatch(
        batch.image_id[k:k + 1], batch.classes, batch.label_frame[lm] * 0, batch.label_id[lm], batch.label_class[lm],
        batch.label_box[lm], batch.label_crowd[lm], batch.pred_frame[pm] * 0, batch.pred_index[pm],
        batch.pred_class[pm], batch.pred_box[pm], batch.pred_score[pm],
    )


def run_plugin(
    func: Callable[[FrameBatch, MatchOptions], Any],
    dataset: Dataset,
    inferences: Inferences,
    options: MatchOptions,
    *,
    spec: str = "plugin",
    batch_size: int = 512,
    progress: Progress | None = None,
) -> np.ndarray:
    """Run a metric plugin over every frame, in batches.

    Returns
    -------
    int64 array, shape (F, C + 1, C + 1)

    Raises
    ------
    InputError
        The callable raised (the message names the first frame it fails on, found by
        running that batch's frames one at a time) or returned something other than
        ``(B, C + 1, C + 1)`` non-negative integers.
    """
    n = dataset.classes.n_classes + 1
    f = len(dataset.frames)
    out = np.zeros((f, n, n), dtype=np.int64)
    for lo, hi, batch in _batches(dataset, inferences, batch_size):
        try:
            res = func(batch, options)
        except Exception as exc:
            raise InputError(f"plugin {spec} failed on frame {_failing_frame(func, batch, options)}: "
                             f"{type(exc).__name__}: {exc}") from None
        arr = np.asarray(res)
        if arr.shape != (hi - lo, n, n):
            raise InputError(f"plugin {spec}: returned shape {arr.shape} for frames {int(batch.image_id[0])}.."
                             f"{int(batch.image_id[-1])}; expected ({hi - lo}, {n}, {n})")
        if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0)):
            raise InputError(f"plugin {spec}: must return integer counts, got dtype {arr.dtype}")
        if arr.size and arr.min() < 0:
            bad = int(batch.image_id[int(np.flatnonzero((arr < 0).any(axis=(1, 2)))[0])])
            raise InputError(f"plugin {spec}: negative count for frame {bad}")
        out[lo:hi] = arr.astype(np.int64)
        if progress is not None:
            progress(hi, f)
    return out


def _failing_frame(func: Callable[..., Any], batch: FrameBatch, options: MatchOptions) -> str:
    for k in range(len(batch)):
        try:
            func(_one_frame(batch, k), options)
        except Exception:
            return str(int(batch.image_id[k]))
    return f"{int(batch.image_id[0])}..{int(batch.image_id[-1])} (fails only in a batch)"


# --------------------------------------------------------------------------- persistence


class CustomMetricStore:
    """Where custom metrics and per-frame scalars of a stored dataset live.

    Matrix metrics are ``.npy`` artefacts ``metric.<model>.<name>``, plugin metrics small
    JSON artefacts of the same name (``{"plugin": "pkg.mod:func"}``), scalar sets arrays
    ``scalars.<name>`` with their column names in the artefact's inputs.
    """

    def __init__(self, stored: StoredDataset) -> None:
        self.stored = stored

    def _name(self, model: str, metric: str) -> str:
        return f"{_PREFIX}{model}.{check_metric_name(metric)}"

    def names(self, model: str | None = None) -> dict[str, dict[str, Any]]:
        """``{metric: {"model", "kind" ("matrices" | "plugin"), "plugin"?}}`` (of one model if given)."""
        out: dict[str, dict[str, Any]] = {}
        for art in self.stored.artifact_names:
            info = (self.stored.artifact_info(art) or {}).get("inputs") or {}
            if art.startswith(_PREFIX) and info.get("custom_metric") and (model is None or info.get("model") == model):
                out.setdefault(info["custom_metric"], {"models": []})
                out[info["custom_metric"]]["models"].append(info["model"])
                out[info["custom_metric"]]["kind"] = info.get("kind")
        return out

    def has(self, model: str, metric: str) -> bool:
        return self._name(model, metric) in self.stored.artifact_names

    def save_matrices(self, model: str, metric: str, stack: np.ndarray, *, replace: bool = False) -> None:
        """Store a validated stack ``(F, C + 1, C + 1)`` as the metric of ``model``."""
        name = self._name(model, metric)
        ds = self.stored.dataset
        n = ds.classes.n_classes + 1
        arr = np.asarray(stack)
        if arr.shape != (len(ds.frames), n, n) or arr.dtype != np.int64 or (arr.size and arr.min() < 0):
            raise ParameterError(f"metric {metric}: expected non-negative int64 of shape ({len(ds.frames)}, {n}, {n})",
                                 parameter="metric")
        self.stored.save_array(name, arr, inputs={"custom_metric": metric, "model": model, "kind": "matrices"},
                               replace=replace)

    def save_plugin(self, model: str, metric: str, spec: str, *, replace: bool = False) -> None:
        """Record a plugin (run at the options of each request)."""
        name = self._name(model, metric)
        load_plugin(spec)
        self.stored.write_artifact_bytes(
            name, orjson.dumps({"plugin": spec}), suffix=".json",
            inputs={"custom_metric": metric, "model": model, "kind": "plugin"}, replace=replace,
        )

    def kind(self, model: str, metric: str) -> str:
        name = self._name(model, metric)
        info = self.stored.artifact_info(name)
        if info is None:
            known = ", ".join(self.names(model)) or "none"
            raise NotFoundError(f"metric: inference set {model!r} has no custom metric {metric!r}; known: {known}")
        return str((info.get("inputs") or {}).get("kind"))

    def matrices(self, model: str, metric: str) -> np.ndarray:
        """The stored stack of a matrix metric (memory-mapped)."""
        return np.asarray(self.stored.load_array(self._name(model, metric)))

    def plugin(self, model: str, metric: str) -> str:
        return str(orjson.loads(self.stored.read_artifact_bytes(self._name(model, metric)))["plugin"])

    def delete(self, model: str, metric: str) -> None:
        self.stored.delete_artifact(self._name(model, metric))

    # scalars

    def save_scalars(self, name: str, columns: list[str], values: np.ndarray, *, replace: bool = False) -> None:
        """Store per-frame scalars ``(F, K)`` with their column names."""
        check_metric_name(name, "name")
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(self.stored.dataset.frames), len(columns)):
            raise ParameterError("scalars: one row per frame and one column per name", parameter="scalars")
        taken = set(self.scalar_columns()) - set(self._scalar_sets().get(name, []))
        clash: list[str] = sorted(set(columns) & taken)
        if clash:
            raise InputError(f"scalars {name}: column(s) {', '.join(clash)} already stored by another scalar set")
        self.stored.save_array(_SCALARS + name, values, inputs={"scalars": name, "columns": list(columns)},
                               replace=replace)

    def _scalar_sets(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for art in self.stored.artifact_names:
            if art.startswith(_SCALARS):
                info = (self.stored.artifact_info(art) or {}).get("inputs") or {}
                out[art[len(_SCALARS):]] = list(info.get("columns") or [])
        return out

    def scalar_columns(self) -> dict[str, np.ndarray]:
        """Every stored per-frame scalar column: ``{column: float64 (F,)}``."""
        out: dict[str, np.ndarray] = {}
        for name, cols in self._scalar_sets().items():
            arr = np.asarray(self.stored.load_array(_SCALARS + name))
            for k, c in enumerate(cols):
                out[c] = arr[:, k]
        return out


def finite_or_none(v: float) -> float | None:
    return None if math.isnan(v) else v


def json_columns(mapping: Mapping[str, np.ndarray], row: int) -> dict[str, float | None]:
    return {k: finite_or_none(float(v[row])) for k, v in mapping.items()}
