"""Candidate pairs: every overlapping (label, inference) pair of one inference set, found once.

Computed once per inference set (IoU > 0, across classes); every match at any options is
then a choice among these pairs, so a slider move never recomputes overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from aquaembed.data import Dataset, Inferences
from aquaembed.errors import InputError
from aquaembed.geometry import overlap_with_areas

__all__ = ["Candidates", "build_candidates", "group_by_frame"]


@dataclass(frozen=True, eq=False)
class Candidates:
    """Every overlapping (label, inference) pair of one inference set, grouped by frame.

    Built once by :func:`build_candidates` and reused for any thresholds.

    Attributes
    ----------
    n_frames, n_classes : int
    label_frame, label_cls : int64 arrays, shape (L,)
    label_crowd : bool array, shape (L,)
    label_area : float64 array, shape (L,)
        Object area as the source gives it (COCO ``area``), for COCO's area ranges.
    label_box_area, pred_box_area : float64 arrays, shapes (L,) and (N,)
        Box areas in square pixels.
    pred_frame, pred_cls : int64 arrays, shape (N,)
    pred_score : float64 array, shape (N,)
    label_start, pred_start, pair_start : int64 arrays, shape (F + 1,)
        CSR offsets: frame ``f`` owns ``label_order[label_start[f]:label_start[f+1]]``,
        likewise for inferences and for pairs.
    label_order, pred_order : int64 arrays, shapes (L,) and (N,)
        Row indices grouped by frame (stable).
    pair_label, pair_pred : int64 arrays, shape (P,)
        Label row and inference row of each overlapping pair.
    pair_iou : float64 array, shape (P,)
        IoU of the pair, in (0, 1].
    pair_iob : float64 array, shape (P,)
        Intersection over the inference's box area (COCO's score against a crowd region).
    """

    n_frames: int
    n_classes: int
    label_frame: np.ndarray
    label_cls: np.ndarray
    label_crowd: np.ndarray
    label_area: np.ndarray
    label_box_area: np.ndarray
    pred_frame: np.ndarray
    pred_cls: np.ndarray
    pred_score: np.ndarray
    pred_box_area: np.ndarray
    label_start: np.ndarray
    label_order: np.ndarray
    pred_start: np.ndarray
    pred_order: np.ndarray
    pair_start: np.ndarray
    pair_label: np.ndarray
    pair_pred: np.ndarray
    pair_iou: np.ndarray
    pair_iob: np.ndarray

    @property
    def n_labels(self) -> int:
        return int(self.label_frame.shape[0])

    @property
    def n_preds(self) -> int:
        return int(self.pred_frame.shape[0])

    @property
    def n_pairs(self) -> int:
        return int(self.pair_label.shape[0])

    def restrict(self, frames: np.ndarray) -> Candidates:
        """The candidates of some frames only: the labels, inferences and pairs of the frames
        where ``frames`` (bool, shape (F,)) is True, with rows renumbered in their order.

        Frame rows stay as they are (the others are empty), and each kept frame's pairs
        keep their order, so matching is per frame exactly what it is on the whole set
        (and what :func:`build_candidates` gives on a dataset of those frames).
        """
        keep = np.asarray(frames, dtype=bool)
        if keep.shape != (self.n_frames,):
            raise InputError(f"frames: a mask of {self.n_frames} frames is needed, got shape {keep.shape}")
        keep_l, keep_p = keep[self.label_frame], keep[self.pred_frame]
        new_l = np.cumsum(keep_l, dtype=np.int64) - 1  # old label row -> new
        new_p = np.cumsum(keep_p, dtype=np.int64) - 1
        keep_k = keep_l[self.pair_label]

        def offsets(frame: np.ndarray) -> np.ndarray:
            start = np.zeros(self.n_frames + 1, dtype=np.int64)
            np.cumsum(np.bincount(frame, minlength=self.n_frames), out=start[1:])
            return start

        l_order = self.label_order[keep_l[self.label_order]]
        p_order = self.pred_order[keep_p[self.pred_order]]
        return Candidates(
            n_frames=self.n_frames,
            n_classes=self.n_classes,
            label_frame=self.label_frame[keep_l],
            label_cls=self.label_cls[keep_l],
            label_crowd=self.label_crowd[keep_l],
            label_area=self.label_area[keep_l],
            label_box_area=self.label_box_area[keep_l],
            pred_frame=self.pred_frame[keep_p],
            pred_cls=self.pred_cls[keep_p],
            pred_score=self.pred_score[keep_p],
            pred_box_area=self.pred_box_area[keep_p],
            label_start=offsets(self.label_frame[keep_l]),
            label_order=new_l[l_order],
            pred_start=offsets(self.pred_frame[keep_p]),
            pred_order=new_p[p_order],
            pair_start=offsets(self.label_frame[self.pair_label[keep_k]]),
            pair_label=new_l[self.pair_label[keep_k]],
            pair_pred=new_p[self.pair_pred[keep_k]],
            pair_iou=self.pair_iou[keep_k],
            pair_iob=self.pair_iob[keep_k],
        )


def group_by_frame(frame: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(frame, kind="stable").astype(np.int64)
    start = np.zeros(n_frames + 1, dtype=np.int64)
    np.cumsum(np.bincount(frame, minlength=n_frames), out=start[1:])
    return start, order


@numba.njit(cache=True)
def _count_pairs(l_start, l_order, l_box, p_start, p_order, p_box):  # pragma: no cover - jit
    n_frames = l_start.shape[0] - 1
    counts = np.zeros(n_frames, dtype=np.int64)
    for f in range(n_frames):
        c = 0
        for i in range(l_start[f], l_start[f + 1]):
            a = l_box[l_order[i]]
            for j in range(p_start[f], p_start[f + 1]):
                b = p_box[p_order[j]]
                if min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]):
                    c += 1
        counts[f] = c
    return counts


@numba.njit(cache=True)
def _fill_pairs(l_start, l_order, l_box, l_area, p_start, p_order, p_box, p_area, pair_start):  # pragma: no cover
    n = pair_start[-1]
    pl = np.empty(n, dtype=np.int64)
    pp = np.empty(n, dtype=np.int64)
    piou = np.empty(n, dtype=np.float64)
    piob = np.empty(n, dtype=np.float64)
    for f in range(l_start.shape[0] - 1):
        k = pair_start[f]
        for i in range(l_start[f], l_start[f + 1]):
            li = l_order[i]
            a = l_box[li]
            for j in range(p_start[f], p_start[f + 1]):
                pj = p_order[j]
                b = p_box[pj]
                iou, iob, inter = overlap_with_areas(
                    a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3], l_area[li], p_area[pj]
                )
                if inter > 0.0:
                    pl[k] = li
                    pp[k] = pj
                    piou[k] = iou
                    piob[k] = iob
                    k += 1
    return pl, pp, piou, piob


def build_candidates(dataset: Dataset, inferences: Inferences) -> Candidates:
    """Find every overlapping (label, inference) pair, once per inference set.

    Parameters
    ----------
    dataset : Dataset
        Frames, labels and classes.
    inferences : Inferences
        One inference set on ``dataset``'s frames and classes.

    Returns
    -------
    Candidates
    """
    n_frames = len(dataset.frames)
    labels = dataset.labels
    for name, arr, upper in (
        ("inference frames", inferences.frame, n_frames),
        ("inference classes", inferences.cls, dataset.classes.n_classes),
    ):
        if arr.size and (arr.min() < 0 or arr.max() >= upper):
            raise InputError(f"{name}: values must lie in [0, {upper}), got {int(arr.min())}..{int(arr.max())}")
    l_start, l_order = group_by_frame(labels.frame, n_frames)
    p_start, p_order = group_by_frame(inferences.frame, n_frames)
    counts = _count_pairs(l_start, l_order, labels.box, p_start, p_order, inferences.box)
    pair_start = np.zeros(n_frames + 1, dtype=np.int64)
    np.cumsum(counts, out=pair_start[1:])
    # box areas as the source computed them (COCO: w * h), for pycocotools parity at thresholds
    l_area, p_area = np.asarray(labels.box_area), np.asarray(inferences.box_area)
    pl, pp, piou, piob = _fill_pairs(
        l_start, l_order, labels.box, l_area, p_start, p_order, inferences.box, p_area, pair_start
    )
    return Candidates(
        n_frames=n_frames,
        n_classes=dataset.classes.n_classes,
        label_frame=labels.frame,
        label_cls=labels.cls,
        label_crowd=labels.crowd,
        label_area=labels.area,
        label_box_area=l_area,
        pred_frame=inferences.frame,
        pred_cls=inferences.cls,
        pred_score=inferences.score,
        pred_box_area=p_area,
        label_start=l_start,
        label_order=l_order,
        pred_start=p_start,
        pred_order=p_order,
        pair_start=pair_start,
        pair_label=pl,
        pair_pred=pp,
        pair_iou=piou,
        pair_iob=piob,
    )
