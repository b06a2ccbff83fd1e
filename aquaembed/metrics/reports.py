"""Reports of a match table: confusion matrix, per class, overall, per frame, per slice,
and the confusion type of every crop. Each is a pure function of the table.

A ratio whose denominator is zero is undefined: NaN here (``null`` in JSON), never 0 or 1.
"""

from __future__ import annotations

import numpy as np

from aquaembed.errors import ParameterError
from aquaembed.matching import CONFUSION, FN, FP, IGNORED, TP, MatchTable
from aquaembed.metrics.counts import ratios

__all__ = [
    "BELOW_THRESHOLD", "confusion_matrix", "class_report", "overall_report", "frame_report",
    "slice_report", "label_types", "inference_types",
]

BELOW_THRESHOLD = -1
"""Crop type of an inference discarded by the confidence threshold."""

def confusion_matrix(table: MatchTable) -> np.ndarray:
    """The ``(C + 1) x (C + 1)`` confusion matrix, background last.

    Rows are label classes, columns inference classes. A matched pair counts in
    ``[g, p]``, an unmatched label in ``[g, C]``, an unmatched kept inference in
    ``[C, p]``. Ignored rows (crowd mode) are not counted.

    Returns
    -------
    int64 array, shape (C + 1, C + 1)
    """
    n = table.n_classes + 1
    keep = table.type != IGNORED
    flat = table.label_class[keep] * n + table.pred_class[keep]
    return np.bincount(flat, minlength=n * n).astype(np.int64).reshape(n, n)


def class_report(table: MatchTable, *, cm: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-class TP, FP, FN, precision, recall and F1.

    ``TP = cm[c, c]``, ``FP = column sum - TP``, ``FN = row sum - TP`` (background
    row and column included in the sums, so a confusion counts as an FN of the label
    class and an FP of the inference class).

    Returns
    -------
    dict of arrays, each shape (C,): ``tp``, ``fp``, ``fn`` (int64), ``precision``,
    ``recall``, ``f1`` (float64, NaN when undefined)
    """
    cm = confusion_matrix(table) if cm is None else cm
    c = table.n_classes
    tp = np.diag(cm)[:c].copy()
    fp = cm[:, :c].sum(axis=0) - tp
    fn = cm[:c, :].sum(axis=1) - tp
    return {"tp": tp, "fp": fp, "fn": fn, **ratios(tp, fp, fn)}


def overall_report(table: MatchTable, *, cm: np.ndarray | None = None) -> dict[str, float | int]:
    """Micro totals over classes: TP (diagonal), FP (kept inferences - TP), FN (labels - TP).

    Returns
    -------
    dict with ``tp``, ``fp``, ``fn`` (int) and ``precision``, ``recall``, ``f1``
    (float, NaN when undefined)
    """
    cm = confusion_matrix(table) if cm is None else cm
    c = table.n_classes
    tp = int(np.trace(cm[:c, :c]))
    fp = int(cm[:, :c].sum()) - tp
    fn = int(cm[:c, :].sum()) - tp
    r = ratios(np.array(tp), np.array(fp), np.array(fn))
    return {"tp": tp, "fp": fp, "fn": fn, **{k: float(v) for k, v in r.items()}}


def frame_report(table: MatchTable) -> dict[str, np.ndarray]:
    """Per-frame TP, FP, FN, precision, recall and F1.

    Returns
    -------
    dict of arrays, each shape (F,), indexed by frame row: ``tp``, ``fp``, ``fn``
    (int64) and ``precision``, ``recall``, ``f1`` (float64; an empty frame has all
    three undefined)
    """
    f = table.n_frames
    t = table.type
    tp = np.bincount(table.frame[t == TP], minlength=f)
    fp = np.bincount(table.frame[(t == FP) | (t == CONFUSION)], minlength=f)
    fn = np.bincount(table.frame[(t == FN) | (t == CONFUSION)], minlength=f)
    return {"tp": tp, "fp": fp, "fn": fn, **ratios(tp, fp, fn)}


def slice_report(
    table: MatchTable, groups: np.ndarray, n_groups: int, *, cls: int | None = None
) -> dict[str, np.ndarray]:
    """TP, FP, FN, precision, recall and F1 per slice of frames (a scene, a camera, ...).

    Parameters
    ----------
    table : MatchTable
    groups : int array, shape (F,)
        Slice index of every frame row, in ``[0, n_groups)``.
    n_groups : int
    cls : int, optional
        Count only this class (as :func:`class_report` counts it: a confusion is an FN
        of the label class and an FP of the inference class); default all classes, as
        :func:`overall_report` counts.

    Returns
    -------
    dict of arrays, each shape (n_groups,): ``frames``, ``tp``, ``fp``, ``fn`` (int64),
    ``precision``, ``recall``, ``f1`` (float64, NaN when undefined)
    """
    groups = np.asarray(groups, dtype=np.int64)
    if groups.shape != (table.n_frames,):
        raise ParameterError(f"groups: expected one slice per frame, shape ({table.n_frames},), got {groups.shape}")
    if groups.size and (groups.min() < 0 or groups.max() >= n_groups):
        raise ParameterError(f"groups: values must lie in [0, {n_groups})")
    t = table.type
    is_tp = t == TP
    is_fp = (t == FP) | (t == CONFUSION)
    is_fn = (t == FN) | (t == CONFUSION)
    if cls is not None:
        is_tp &= table.label_class == cls
        is_fp &= table.pred_class == cls
        is_fn &= table.label_class == cls
    g = groups[table.frame]
    tp = np.bincount(g[is_tp], minlength=n_groups)
    fp = np.bincount(g[is_fp], minlength=n_groups)
    fn = np.bincount(g[is_fn], minlength=n_groups)
    return {"frames": np.bincount(groups, minlength=n_groups), "tp": tp, "fp": fp, "fn": fn, **ratios(tp, fp, fn)}


def label_types(table: MatchTable) -> tuple[np.ndarray, np.ndarray]:
    """Confusion type of every label crop.

    Returns
    -------
    types : int8 array, shape (L,)
        ``TP``, ``FN`` (missed), ``CONFUSION`` or ``IGNORED``.
    other_class : int64 array, shape (L,)
        Class of the matched inference (the background for a missed label).
    """
    rows = np.flatnonzero(table.label >= 0)
    types = np.empty(table.n_labels, dtype=np.int8)
    other = np.empty(table.n_labels, dtype=np.int64)
    types[table.label[rows]] = table.type[rows]
    other[table.label[rows]] = table.pred_class[rows]
    return types, other


def inference_types(table: MatchTable) -> tuple[np.ndarray, np.ndarray]:
    """Confusion type of every inference crop.

    Returns
    -------
    types : int8 array, shape (N,)
        ``TP``, ``FP``, ``CONFUSION``, ``IGNORED``, or :data:`BELOW_THRESHOLD` for an
        inference the confidence threshold discarded.
    other_class : int64 array, shape (N,)
        Class of the matched label (the background for an FP or a discarded inference).
    """
    rows = np.flatnonzero(table.pred >= 0)
    types = np.full(table.n_preds, BELOW_THRESHOLD, dtype=np.int8)
    other = np.full(table.n_preds, table.n_classes, dtype=np.int64)
    types[table.pred[rows]] = table.type[rows]
    other[table.pred[rows]] = table.label_class[rows]
    return types, other
