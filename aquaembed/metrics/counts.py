"""Typed, mergeable results: :class:`Counts` and :class:`ConfusionMatrix`.

Counts add up exactly (per frame, per shard, per slice), and every ratio is derived
from them with one rule: a ratio whose denominator is zero is undefined (NaN in
arrays, ``None`` in JSON), never 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aquaembed.errors import ParameterError

__all__ = ["Counts", "ConfusionMatrix", "ratios", "json_value", "per_class_counts", "overall_counts", "RATIO_NAMES"]

RATIO_NAMES: tuple[str, ...] = ("precision", "recall", "f1")


def json_value(v: Any) -> Any:
    """A value as JSON: NaN (an undefined ratio) becomes ``None``, numpy scalars Python ones.

    Lists, tuples and arrays become lists and mappings dicts (string keys), converted
    element by element. This is the one NaN-to-null rule of aquaembed (a non-finite
    float, which JSON cannot hold either, is ``None`` too).
    """
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, np.generic):
        return json_value(v.item())
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): json_value(x) for k, x in v.items()}
    return v


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def ratios(tp: Any, fp: Any, fn: Any) -> dict[str, np.ndarray]:
    """Precision, recall and F1 from counts; NaN where a denominator is zero.

    Parameters
    ----------
    tp, fp, fn : array of int, same shape

    Returns
    -------
    dict with ``precision``, ``recall``, ``f1`` : float64 arrays of that shape
    """
    c = Counts(tp, fp, fn)
    return {"precision": c.precision, "recall": c.recall, "f1": c.f1}


@dataclass(frozen=True, eq=False)
class Counts:
    """TP, FP and FN counts, of any shape (a scalar, per class, per frame, ...).

    Counts of disjoint parts add up to the counts of the whole (``a + b``,
    :meth:`sum`), so per-frame or per-shard results merge exactly.

    Parameters
    ----------
    tp, fp, fn : int arrays, one shape
    """

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray

    def __post_init__(self) -> None:
        arrays = [np.asarray(getattr(self, k)) for k in ("tp", "fp", "fn")]
        if not (arrays[0].shape == arrays[1].shape == arrays[2].shape):
            raise ParameterError(
                f"tp, fp and fn must have one shape, got {[a.shape for a in arrays]}", parameter="counts"
            )
        for k, a in zip(("tp", "fp", "fn"), arrays):
            if a.dtype.kind not in "iub":
                if a.size and not np.all(np.equal(np.mod(a, 1), 0)):
                    raise ParameterError(f"{k} must hold integer counts", parameter=k)
            object.__setattr__(self, k, a.astype(np.int64, copy=False))

    @classmethod
    def zeros(cls, shape: int | tuple[int, ...] = ()) -> Counts:
        """All-zero counts of a shape."""
        z = np.zeros(shape, dtype=np.int64)
        return cls(z, z.copy(), z.copy())

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tp.shape)

    @property
    def precision(self) -> np.ndarray:
        """``tp / (tp + fp)``; NaN where undefined. float64, the shape of the counts."""
        return _ratio(self.tp.astype(np.float64), (self.tp + self.fp).astype(np.float64))

    @property
    def recall(self) -> np.ndarray:
        """``tp / (tp + fn)``; NaN where undefined."""
        return _ratio(self.tp.astype(np.float64), (self.tp + self.fn).astype(np.float64))

    @property
    def f1(self) -> np.ndarray:
        """``2 tp / (2 tp + fp + fn)``; NaN where undefined."""
        return _ratio(2.0 * self.tp, (2 * self.tp + self.fp + self.fn).astype(np.float64))

    def __add__(self, other: Counts) -> Counts:
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def __radd__(self, other: Any) -> Counts:
        if isinstance(other, int) and other == 0:  # so that sum([...]) works
            return self
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Counts):
            return NotImplemented
        return all(np.array_equal(getattr(self, k), getattr(other, k)) for k in ("tp", "fp", "fn"))

    def __getitem__(self, key: Any) -> Counts:
        return Counts(self.tp[key], self.fp[key], self.fn[key])

    def __len__(self) -> int:
        return int(self.tp.shape[0]) if self.tp.ndim else 1

    def sum(self, axis: int | None = None) -> Counts:
        """Counts summed over an axis (all axes by default)."""
        return Counts(self.tp.sum(axis=axis), self.fp.sum(axis=axis), self.fn.sum(axis=axis))

    def group(self, groups: np.ndarray, n_groups: int) -> Counts:
        """Per-row counts (shape (n,)) summed per group index in ``[0, n_groups)``."""
        g = np.asarray(groups, dtype=np.int64)
        if g.shape != self.shape or self.tp.ndim != 1:
            raise ParameterError(f"groups: expected shape {self.shape}, got {g.shape}", parameter="groups")
        return Counts(*(np.bincount(g, weights=getattr(self, k), minlength=n_groups).astype(np.int64)
                        for k in ("tp", "fp", "fn")))

    def to_json(self) -> Any:
        """``{"tp", "fp", "fn", "precision", "recall", "f1"}`` (undefined ratios ``None``).

        For a scalar an object; for an array a list of objects, one per entry.
        """
        if self.tp.ndim == 0:
            return {
                "tp": int(self.tp), "fp": int(self.fp), "fn": int(self.fn),
                "precision": json_value(float(self.precision)),
                "recall": json_value(float(self.recall)),
                "f1": json_value(float(self.f1)),
            }
        cols = [self.tp.tolist(), self.fp.tolist(), self.fn.tolist(),
                self.precision.tolist(), self.recall.tolist(), self.f1.tolist()]
        return [
            {"tp": tp, "fp": fp, "fn": fn, "precision": json_value(p), "recall": json_value(r), "f1": json_value(f)}
            for tp, fp, fn, p, r, f in zip(*cols)
        ]

    def as_dict(self) -> dict[str, np.ndarray]:
        """``tp``, ``fp``, ``fn``, ``precision``, ``recall``, ``f1`` as arrays."""
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True, eq=False)
class ConfusionMatrix:
    """A ``(C + 1) x (C + 1)`` confusion matrix, rows = label class, columns = inference class.

    Parameters
    ----------
    matrix : int64 array, shape (C + 1, C + 1)
        Background last.
    classes : sequence of str, length C + 1
        Class names in category-id order, the background name last.
    options : MatchOptions or None
        The matching options it was counted with (``None`` for a custom metric given as
        matrices).

    Matrices of disjoint frames add up (``a + b``).
    """

    matrix: np.ndarray
    classes: tuple[str, ...]
    options: Any = field(default=None)

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix)
        n = len(self.classes)
        if m.shape != (n, n):
            raise ParameterError(f"matrix must be {n} x {n} for {n} classes, got {m.shape}", parameter="matrix")
        object.__setattr__(self, "matrix", m.astype(np.int64, copy=False))
        object.__setattr__(self, "classes", tuple(self.classes))

    @property
    def n_classes(self) -> int:
        """C, the number of object classes (without the background)."""
        return len(self.classes) - 1

    def per_class(self) -> Counts:
        """Per class c: ``TP = cm[c, c]``, ``FP = column sum - TP``, ``FN = row sum - TP``; shape (C,)."""
        return per_class_counts(self.matrix)

    def overall(self) -> Counts:
        """Micro totals: TP = diagonal without background, FP = kept inferences - TP, FN = labels - TP."""
        return overall_counts(self.matrix)

    def normalised(self, axis: int = 1) -> np.ndarray:
        """Rows (``axis=1``, each label class sums to 1) or columns (``axis=0``) normalised.

        Returns float64 of the matrix's shape; an all-zero row/column is NaN.
        """
        if axis not in (0, 1):
            raise ParameterError(f"axis must be 0 or 1, got {axis!r}", parameter="axis")
        tot = self.matrix.sum(axis=axis, keepdims=True).astype(np.float64)
        return _ratio(self.matrix.astype(np.float64), np.broadcast_to(tot, self.matrix.shape))

    def __add__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        if not isinstance(other, ConfusionMatrix):
            return NotImplemented
        if other.classes != self.classes:
            raise ParameterError("confusion matrices over different classes cannot be added", parameter="classes")
        return ConfusionMatrix(self.matrix + other.matrix, self.classes, self.options)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConfusionMatrix):
            return NotImplemented
        return self.classes == other.classes and np.array_equal(self.matrix, other.matrix)

    def to_json(self) -> list[list[int]]:
        """The matrix as nested lists (the ``evaluate`` JSON's ``confusion_matrix``)."""
        return self.matrix.tolist()


def per_class_counts(cm: np.ndarray) -> Counts:
    """Per-class counts of a ``(..., C + 1, C + 1)`` matrix (or a stack of them); shape (..., C)."""
    cm = np.asarray(cm)
    c = cm.shape[-1] - 1
    tp = np.diagonal(cm, axis1=-2, axis2=-1)[..., :c]
    fp = cm[..., :, :c].sum(axis=-2) - tp
    fn = cm[..., :c, :].sum(axis=-1) - tp
    return Counts(tp, fp, fn)


def overall_counts(cm: np.ndarray) -> Counts:
    """Micro totals of a ``(..., C + 1, C + 1)`` matrix (or a stack of them); shape (...)."""
    cm = np.asarray(cm)
    c = cm.shape[-1] - 1
    tp = np.trace(cm[..., :c, :c], axis1=-2, axis2=-1)
    fp = cm[..., :, :c].sum(axis=(-2, -1)) - tp
    fn = cm[..., :c, :].sum(axis=(-2, -1)) - tp
    return Counts(tp, fp, fn)


