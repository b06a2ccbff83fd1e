"""Frame shards: a dataset split into contiguous runs of frames, each self-contained.

A :class:`Shard` holds the frames ``[frame_start, frame_start + n)`` of a dataset, their
labels and the inferences of one set on them, re-indexed locally (frame rows from 0,
label and inference rows from 0) together with the global rows they came from. Matching
is per frame, so matching a shard and mapping its rows back gives exactly the rows the
whole dataset gives for those frames.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from aquaembed.data import Dataset, Frames, Inferences, Labels
from aquaembed.errors import ParameterError

__all__ = ["Shard", "assemble_shard", "shard_bounds", "split", "take_shard"]


@dataclass(frozen=True, eq=False)
class Shard:
    """One frame shard of a dataset and one inference set.

    Attributes
    ----------
    index : int
        Position of the shard (shards are in frame order).
    dataset : Dataset
        The shard's frames, their labels (frame rows local) and the classes.
    inferences : Inferences
        The inferences on these frames (frame rows local).
    frame_start : int
        Global row of the shard's first frame.
    label_rows : int64 array, shape (L_s,)
        Global label row of each local label, increasing.
    pred_rows : int64 array, shape (N_s,)
        Global inference row (0-based position in the results) of each local inference,
        increasing.
    """

    index: int
    dataset: Dataset
    inferences: Inferences
    frame_start: int
    label_rows: np.ndarray
    pred_rows: np.ndarray

    @property
    def n_boxes(self) -> int:
        """Labels plus inferences in the shard."""
        return int(self.label_rows.shape[0] + self.pred_rows.shape[0])


def shard_bounds(frame_boxes: np.ndarray, *, shards: int | None = None, rows_per_shard: int | None = None) -> np.ndarray:
    """Cut frames into contiguous shards of about equal box counts.

    Parameters
    ----------
    frame_boxes : int array, shape (F,)
        Boxes (labels + inferences) of each frame, in frame-row order.
    shards : int, optional
        Number of shards (at most F, at least 1).
    rows_per_shard : int, optional
        Target boxes per shard (used when ``shards`` is not given; default 1,000,000).

    Returns
    -------
    int64 array, shape (S + 1,)
        Frame-row offsets: shard ``s`` holds frames ``bounds[s]:bounds[s + 1]``.
    """
    w = np.asarray(frame_boxes, dtype=np.int64)
    n_f = w.shape[0]
    total = int(w.sum())
    if shards is None:
        per = 1_000_000 if rows_per_shard is None else int(rows_per_shard)
        if per <= 0:
            raise ParameterError(f"rows_per_shard must be positive, got {per}", parameter="rows_per_shard")
        shards = max(1, -(-total // per))
    if int(shards) <= 0:
        raise ParameterError(f"shards must be a positive integer, got {shards}", parameter="shards")
    n_s = max(1, min(int(shards), n_f))
    # cut where the cumulative box count crosses s/n_s of the total (+1 per frame so
    # empty frames spread out too)
    cum = np.cumsum(w + 1)
    targets = (np.arange(1, n_s) * (cum[-1] if n_f else 0)) // n_s
    cuts = np.searchsorted(cum, targets, side="right") + 1 if n_f else np.zeros(0, np.int64)
    bounds = np.unique(np.concatenate([[0], np.minimum(cuts, n_f), [n_f]])).astype(np.int64)
    return bounds if n_f else np.array([0, 0], dtype=np.int64)


def _frames_slice(frames: Frames, lo: int, hi: int) -> Frames:
    return Frames(
        id=frames.id[lo:hi], file_name=frames.file_name[lo:hi], width=frames.width[lo:hi],
        height=frames.height[lo:hi], metadata={k: v[lo:hi] for k, v in frames.metadata.items()},
    )


def take_shard(dataset: Dataset, inferences: Inferences, lo: int, hi: int, *, index: int = 0) -> Shard:
    """The shard of frames ``[lo, hi)`` (rows) of ``dataset`` with ``inferences``."""
    p_rows = np.flatnonzero((inferences.frame >= lo) & (inferences.frame < hi)).astype(np.int64)
    inf = Inferences(
        frame=inferences.frame[p_rows], cls=inferences.cls[p_rows], box=inferences.box[p_rows],
        score=inferences.score[p_rows], name=inferences.name, box_area=None if inferences.box_area is None else inferences.box_area[p_rows],
    )
    return assemble_shard(dataset, inf, p_rows, lo, hi, index=index)


def assemble_shard(
    dataset: Dataset, inferences: Inferences, pred_rows: np.ndarray, lo: int, hi: int, *, index: int = 0
) -> Shard:
    """A shard from the whole ground truth and the shard's own inferences.

    Parameters
    ----------
    dataset : Dataset
        The whole ground truth (its labels of frames ``[lo, hi)`` are taken).
    inferences : Inferences
        Only inferences on frames ``[lo, hi)``, frame rows *global*.
    pred_rows : int64 array, shape (N_s,)
        Their global rows (positions in the results), increasing.
    """
    lab = dataset.labels
    l_rows = np.flatnonzero((lab.frame >= lo) & (lab.frame < hi)).astype(np.int64)
    labels = Labels(
        id=lab.id[l_rows], frame=lab.frame[l_rows] - lo, cls=lab.cls[l_rows], box=lab.box[l_rows],
        area=lab.area[l_rows], crowd=lab.crowd[l_rows], box_area=None if lab.box_area is None else lab.box_area[l_rows],
    )
    inf = Inferences(
        frame=inferences.frame - lo, cls=inferences.cls, box=inferences.box, score=inferences.score,
        name=inferences.name, box_area=inferences.box_area,
    )
    ds = Dataset(dataset.classes, _frames_slice(dataset.frames, lo, hi), labels, {inf.name: inf})
    return Shard(index=index, dataset=ds, inferences=inf, frame_start=int(lo), label_rows=l_rows,
                 pred_rows=np.asarray(pred_rows, dtype=np.int64))


def split(
    dataset: Dataset, inferences: Inferences, *, shards: int | None = None, rows_per_shard: int | None = None
) -> list[Shard]:
    """Split a dataset and one inference set into frame shards (see :func:`shard_bounds`)."""
    n_f = len(dataset.frames)
    boxes = np.bincount(dataset.labels.frame, minlength=n_f) + np.bincount(inferences.frame, minlength=n_f)
    bounds = shard_bounds(boxes, shards=shards, rows_per_shard=rows_per_shard)
    return [take_shard(dataset, inferences, int(lo), int(hi), index=s)
            for s, (lo, hi) in enumerate(itertools.pairwise(bounds))]
