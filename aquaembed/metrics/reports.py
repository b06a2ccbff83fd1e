"""Reports of a match table: confusion matrix, per class, overall, per frame, per slice,
and the confusion type of every crop. Each is a pure function of the table.

The per-class, per-frame and per-slice reports are small typed values built on
:class:`~aquaembed.metrics.counts.Counts` with the names or ids of their entries; each has
one ``to_json()``. A ratio whose denominator is zero is undefined: NaN in arrays,
``null`` in JSON (:func:`~aquaembed.metrics.counts.json_value`), never 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aquaembed.errors import ParameterError
from aquaembed.matching import CONFUSION, FN, FP, IGNORED, TP, MatchTable
from aquaembed.metrics.counts import Counts, overall_counts, per_class_counts

__all__ = [
    "BELOW_THRESHOLD", "ClassReport", "FrameReport", "SliceReport", "confusion_matrix", "class_report",
    "overall_report", "frame_report", "slice_report", "label_types", "inference_types",
]

BELOW_THRESHOLD = -1
"""Crop type of an inference discarded by the confidence threshold."""


def _from_counts(name: str) -> property:
    def get(self: _CountsReport) -> np.ndarray:
        return getattr(self.counts, name)

    return property(get, doc=f"``counts.{name}``: shape (n,)")


@dataclass(frozen=True, eq=False)
class _CountsReport:
    """Counts of shape (n,) with the ratios as attributes (``rep.tp``, ``rep.f1``, ...)."""

    counts: Counts

    tp = _from_counts("tp")
    fp = _from_counts("fp")
    fn = _from_counts("fn")
    precision = _from_counts("precision")
    recall = _from_counts("recall")
    f1 = _from_counts("f1")

    def __len__(self) -> int:
        return len(self.counts)

    def _check(self, n: int, what: str) -> None:
        if self.counts.tp.ndim != 1 or self.counts.shape != (n,):
            raise ParameterError(f"{what}: {n} entries but counts of shape {self.counts.shape}", parameter=what)


@dataclass(frozen=True, eq=False)
class ClassReport(_CountsReport):
    """Per-class counts, shape (C,), with the class names in class-index order."""

    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        self._check(len(self.classes), "classes")

    def to_json(self) -> dict[str, dict[str, Any]]:
        """``{class name: {"tp", "fp", "fn", "precision", "recall", "f1"}}`` (the ``per_class`` block)."""
        return dict(zip(self.classes, self.counts.to_json()))


@dataclass(frozen=True, eq=False)
class FrameReport(_CountsReport):
    """Per-frame counts, shape (F,), with the frame ids in frame-row order."""

    ids: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", np.asarray(self.ids, dtype=np.int64))
        self._check(self.ids.shape[0], "ids")

    def to_json(self) -> dict[str, dict[str, Any]]:
        """``{"<frame id>": {"tp", ...}}`` for every frame (the ``per_frame`` block)."""
        return dict(zip(map(str, self.ids.tolist()), self.counts.to_json()))


@dataclass(frozen=True, eq=False)
class SliceReport(_CountsReport):
    """Counts per slice of frames (a scene, a camera, ...), shape (S,).

    ``values`` names each slice; ``frames`` (int64, shape (S,)) counts its frames.
    """

    values: tuple[str, ...]
    frames: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        object.__setattr__(self, "frames", np.asarray(self.frames, dtype=np.int64))
        self._check(len(self.values), "values")
        if self.frames.shape != self.counts.shape:
            raise ParameterError(f"frames: expected shape {self.counts.shape}, got {self.frames.shape}", parameter="frames")

    def to_json(self) -> list[dict[str, Any]]:
        """One row per slice: ``value``, ``frames``, ``tp``, ``fp``, ``fn``, ``precision``, ``recall``, ``f1``."""
        return [
            {"value": v, "frames": n, **c}
            for v, n, c in zip(self.values, self.frames.tolist(), self.counts.to_json())
        ]


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


def class_report(
    table: MatchTable, *, classes: Sequence[str] | None = None, cm: np.ndarray | None = None
) -> ClassReport:
    """Per-class TP, FP, FN, precision, recall and F1.

    ``TP = cm[c, c]``, ``FP = column sum - TP``, ``FN = row sum - TP`` (background
    row and column included in the sums, so a confusion counts as an FN of the label
    class and an FP of the inference class).

    Parameters
    ----------
    table : MatchTable
    classes : sequence of str, length C, optional
        Class names in class-index order (default ``"0"``, ``"1"``, ...).
    cm : int array, shape (C + 1, C + 1), optional
        The table's :func:`confusion_matrix`, when already computed.

    Returns
    -------
    ClassReport
        Counts of shape (C,).
    """
    cm = confusion_matrix(table) if cm is None else cm
    names = tuple(str(i) for i in range(table.n_classes)) if classes is None else tuple(classes)
    return ClassReport(per_class_counts(cm), names)


def overall_report(table: MatchTable, *, cm: np.ndarray | None = None) -> Counts:
    """Micro totals over classes: TP (diagonal), FP (kept inferences - TP), FN (labels - TP).

    Returns
    -------
    Counts
        Scalar counts (shape ``()``); ``.precision`` etc. are NaN when undefined.
    """
    return overall_counts(confusion_matrix(table) if cm is None else cm)


def frame_report(table: MatchTable, *, ids: np.ndarray | None = None) -> FrameReport:
    """Per-frame TP, FP, FN, precision, recall and F1.

    Parameters
    ----------
    table : MatchTable
    ids : int array, shape (F,), optional
        Frame ids in frame-row order (default the row indices).

    Returns
    -------
    FrameReport
        Counts of shape (F,) indexed by frame row (an empty frame has all three ratios
        undefined).
    """
    f = table.n_frames
    t = table.type
    tp = np.bincount(table.frame[t == TP], minlength=f)
    fp = np.bincount(table.frame[(t == FP) | (t == CONFUSION)], minlength=f)
    fn = np.bincount(table.frame[(t == FN) | (t == CONFUSION)], minlength=f)
    return FrameReport(Counts(tp, fp, fn), np.arange(f) if ids is None else ids)


def slice_report(
    table: MatchTable,
    groups: np.ndarray,
    n_groups: int,
    *,
    values: Sequence[str] | None = None,
    cls: int | None = None,
) -> SliceReport:
    """TP, FP, FN, precision, recall and F1 per slice of frames (a scene, a camera, ...).

    Parameters
    ----------
    table : MatchTable
    groups : int array, shape (F,)
        Slice index of every frame row, in ``[0, n_groups)``.
    n_groups : int
    values : sequence of str, length n_groups, optional
        The name of each slice (default ``"0"``, ``"1"``, ...).
    cls : int, optional
        Count only this class (as :func:`class_report` counts it: a confusion is an FN
        of the label class and an FP of the inference class); default all classes, as
        :func:`overall_report` counts.

    Returns
    -------
    SliceReport
        Counts and frame counts of shape (n_groups,).
    """
    groups = np.asarray(groups, dtype=np.int64)
    if groups.shape != (table.n_frames,):
        raise ParameterError(
            f"groups: expected one slice per frame, shape ({table.n_frames},), got {groups.shape}", parameter="groups"
        )
    if groups.size and (groups.min() < 0 or groups.max() >= n_groups):
        raise ParameterError(f"groups: values must lie in [0, {n_groups})", parameter="groups")
    t = table.type
    is_tp = t == TP
    is_fp = (t == FP) | (t == CONFUSION)
    is_fn = (t == FN) | (t == CONFUSION)
    if cls is not None:
        is_tp &= table.label_class == cls
        is_fp &= table.pred_class == cls
        is_fn &= table.label_class == cls
    g = groups[table.frame]
    counts = Counts(*(np.bincount(g[m], minlength=n_groups) for m in (is_tp, is_fp, is_fn)))
    names = tuple(str(i) for i in range(n_groups)) if values is None else tuple(values)
    return SliceReport(counts, names, np.bincount(groups, minlength=n_groups))


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
