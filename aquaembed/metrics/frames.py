"""Per-frame confusion matrices: the one representation every view derives from.

The built-in matching produces them from its match table (:func:`frame_confusion`,
:meth:`FrameMatrices.from_table`); a custom metric supplies them directly (a stack of
shape ``(F, C + 1, C + 1)``). Either way the confusion matrix, the class report, the
overall line, per-frame counts and per-slice counts come from :class:`FrameMatrices`
by the rules of :func:`~aquaembed.metrics.per_class_counts` /
:func:`~aquaembed.metrics.overall_counts` (TP = diagonal without background, FP =
column sum - TP, FN = row sum - TP).

Internally the matrices are kept sparse (one entry per non-zero cell of a frame), so
a dataset with many classes does not need ``F x (C + 1)^2`` memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aquaembed.errors import ParameterError
from aquaembed.matching import IGNORED, MatchTable
from aquaembed.metrics.counts import Counts, overall_counts, per_class_counts

__all__ = ["FrameMatrices", "frame_confusion"]


def frame_confusion(table: MatchTable) -> np.ndarray:
    """The per-frame confusion matrices of a match table.

    Returns
    -------
    int64 array, shape (F, C + 1, C + 1)
        ``out[f]`` is the confusion matrix of frame row ``f`` (rows = label class,
        columns = inference class, background last); ``out.sum(axis=0)`` equals
        :func:`~aquaembed.metrics.confusion_matrix`.
    """
    return FrameMatrices.from_table(table).dense()


@dataclass(frozen=True, eq=False)
class FrameMatrices:
    """Per-frame ``(C + 1) x (C + 1)`` confusion matrices in sparse form.

    Attributes
    ----------
    frame, row, col : int64 arrays, shape (K,)
        Frame row, label class (row) and inference class (column) of each entry.
    count : int64 array, shape (K,)
        Non-negative count of the cell.
    n_frames : int
    n_classes : int
        C, without the background (which is index C).
    """

    frame: np.ndarray
    row: np.ndarray
    col: np.ndarray
    count: np.ndarray
    n_frames: int
    n_classes: int

    @classmethod
    def from_table(cls, table: MatchTable) -> FrameMatrices:
        """Matrices of the built-in matching (ignored rows, in crowd mode, are not counted)."""
        keep = table.type != IGNORED
        n = table.n_classes + 1
        key = (table.frame[keep] * n + table.label_class[keep]) * n + table.pred_class[keep]
        uniq, cnt = np.unique(key, return_counts=True)
        return cls._from_keys(uniq, cnt.astype(np.int64), table.n_frames, table.n_classes)

    @classmethod
    def from_stack(cls, stack: np.ndarray) -> FrameMatrices:
        """Matrices given densely, shape ``(F, C + 1, C + 1)`` of non-negative integers."""
        m = np.asarray(stack)
        if m.ndim != 3 or m.shape[1] != m.shape[2] or m.shape[1] < 1:
            raise ParameterError(f"matrices must have shape (F, C+1, C+1), got {m.shape}", parameter="matrices")
        if m.dtype.kind not in "iu":
            raise ParameterError(f"matrices must hold integers, got dtype {m.dtype}", parameter="matrices")
        if m.size and m.min() < 0:
            raise ParameterError("matrices must hold non-negative counts", parameter="matrices")
        f, g, p = np.nonzero(m)
        return cls(f.astype(np.int64), g.astype(np.int64), p.astype(np.int64),
                   m[f, g, p].astype(np.int64), int(m.shape[0]), int(m.shape[1]) - 1)

    @classmethod
    def _from_keys(cls, keys: np.ndarray, counts: np.ndarray, n_frames: int, n_classes: int) -> FrameMatrices:
        n = n_classes + 1
        frame, rest = np.divmod(keys, n * n)
        row, col = np.divmod(rest, n)
        return cls(frame.astype(np.int64), row.astype(np.int64), col.astype(np.int64), counts, n_frames, n_classes)

    # ------------------------------------------------------------------ views

    def dense(self) -> np.ndarray:
        """The stack, int64 of shape (F, C + 1, C + 1)."""
        n = self.n_classes + 1
        out = np.zeros((self.n_frames, n, n), dtype=np.int64)
        np.add.at(out, (self.frame, self.row, self.col), self.count)
        return out

    def restrict(self, frames: np.ndarray) -> FrameMatrices:
        """Only the frame rows in ``frames`` (a bool mask of shape (F,) or row indices); the
        others count as all zeros. Frame rows keep their positions."""
        sel = np.asarray(frames)
        if sel.dtype == bool:
            mask = sel
        else:
            mask = np.zeros(self.n_frames, dtype=bool)
            mask[sel.astype(np.int64)] = True
        keep = mask[self.frame]
        return FrameMatrices(self.frame[keep], self.row[keep], self.col[keep], self.count[keep],
                             self.n_frames, self.n_classes)

    def confusion(self) -> np.ndarray:
        """The summed ``(C + 1) x (C + 1)`` matrix, int64."""
        n = self.n_classes + 1
        flat = np.bincount(self.row * n + self.col, weights=self.count, minlength=n * n)
        return flat.astype(np.int64).reshape(n, n)

    def per_class(self) -> Counts:
        """Per-class counts summed over frames, shape (C,)."""
        return per_class_counts(self.confusion())

    def overall(self) -> Counts:
        """Micro totals, a scalar :class:`Counts`."""
        return overall_counts(self.confusion())

    def grouped(self, groups: np.ndarray, n_groups: int, *, cls: int | None = None) -> Counts:
        """Counts per group of frames, shape (n_groups,).

        Parameters
        ----------
        groups : int array, shape (F,)
            Group index of every frame row in ``[0, n_groups)``; ``-1`` leaves a frame out.
        cls : int, optional
            Count only this class as the class report does (a confusion is an FN of the
            label class and an FP of the inference class); default the overall rule.
        """
        g_all = np.asarray(groups, dtype=np.int64)
        if g_all.shape != (self.n_frames,):
            raise ParameterError(f"groups: expected shape ({self.n_frames},), got {g_all.shape}", parameter="groups")
        c = self.n_classes
        g = g_all[self.frame]
        inside = g >= 0
        is_tp = (self.row == self.col) & (self.row < c)
        is_fp = (self.col < c) & ~is_tp
        is_fn = (self.row < c) & ~is_tp
        if cls is not None:
            is_tp &= self.row == cls
            is_fp &= self.col == cls
            is_fn &= self.row == cls

        def count(mask: np.ndarray) -> np.ndarray:
            m = mask & inside
            return np.bincount(g[m], weights=self.count[m], minlength=n_groups).astype(np.int64)

        return Counts(count(is_tp), count(is_fp), count(is_fn))

    def per_frame(self, *, cls: int | None = None) -> Counts:
        """Counts of every frame row, shape (F,)."""
        return self.grouped(np.arange(self.n_frames, dtype=np.int64), self.n_frames, cls=cls)
