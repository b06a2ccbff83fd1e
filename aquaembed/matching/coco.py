"""COCO's matching for mAP: the greedy kernel at COCOeval's ten IoU thresholds and four
area ranges, in one pass over the candidates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aquaembed.matching.candidates import Candidates
from aquaembed.matching.greedy import match_greedy

__all__ = ["CocoMatches", "coco_matches"]


@dataclass(frozen=True, eq=False)
class CocoMatches:
    """COCO's greedy matching at every IoU threshold and area range.

    Attributes
    ----------
    iou_thresholds : float64 array, shape (T,)
    area_ranges : float64 array, shape (A, 2)
    dets : int64 array, shape (D,)
        Inference rows that take part (the ``max_det`` best of each frame and class),
        grouped by frame and class, by descending score within a group.
    det_rank : int64 array, shape (D,)
        Rank of each inference within its frame and class (0 = highest score).
    matched, ignored : bool arrays, shape (D, T, A)
    gt_counted : int64 array, shape (A, C)
        Labels per class that count in each area range (not crowd, area inside).
    """

    iou_thresholds: np.ndarray
    area_ranges: np.ndarray
    dets: np.ndarray
    det_rank: np.ndarray
    matched: np.ndarray
    ignored: np.ndarray
    gt_counted: np.ndarray


def coco_matches(
    candidates: Candidates,
    *,
    iou_thresholds: np.ndarray,
    area_ranges: np.ndarray,
    max_det: int = 100,
) -> CocoMatches:
    """Run COCO's per-class greedy matching at several IoU thresholds and area ranges.

    This is the engine's ``greedy`` mode with COCO's crowd and area-range rules, as
    ``pycocotools.cocoeval.COCOeval.evaluateImg`` applies them.

    Parameters
    ----------
    candidates : Candidates
    iou_thresholds : array of float, shape (T,)
    area_ranges : array of float, shape (A, 2)
        Inclusive ``[lo, hi]`` areas in square pixels.
    max_det : int, default 100
        Inferences kept per frame and class, by descending score.

    Returns
    -------
    CocoMatches
    """
    c = candidates
    n_c = np.int64(c.n_classes)
    thr = np.asarray(iou_thresholds, dtype=np.float64)
    rng = np.asarray(area_ranges, dtype=np.float64).reshape(-1, 2)
    key_d = c.pred_frame * n_c + c.pred_cls
    key_l = c.label_frame * n_c + c.label_cls
    by_score = np.argsort(-c.pred_score, kind="stable")
    by_score = by_score[np.argsort(key_d[by_score], kind="stable")]
    sorted_keys = key_d[by_score]
    first = np.searchsorted(sorted_keys, sorted_keys, side="left")
    rank_sorted = np.arange(by_score.shape[0]) - first
    keep = rank_sorted < max_det
    d_order = by_score[keep].astype(np.int64)
    det_rank = np.empty(c.n_preds, dtype=np.int64)
    det_rank[by_score] = rank_sorted
    l_order = np.argsort(key_l, kind="stable").astype(np.int64)
    gt_ig = c.label_crowd[None, :] | (c.label_area[None, :] < rng[:, :1]) | (c.label_area[None, :] > rng[:, 1:])
    dt_area = c.pred_box_area
    dt_out = (dt_area[None, :] < rng[:, :1]) | (dt_area[None, :] > rng[:, 1:])
    matched, ignored, _ = match_greedy(
        key_d[d_order], d_order, key_l[l_order], l_order, n_c, c.pair_start, c.pair_label, c.pair_pred,
        c.pair_iou, c.pair_iob, c.label_crowd, gt_ig, dt_out, np.minimum(thr, 1.0 - 1e-10),
    )
    gt_counted = np.zeros((rng.shape[0], c.n_classes), dtype=np.int64)
    for a in range(rng.shape[0]):
        gt_counted[a] = np.bincount(c.label_cls[~gt_ig[a]], minlength=c.n_classes)
    return CocoMatches(
        iou_thresholds=thr,
        area_ranges=rng,
        dets=d_order,
        det_rank=det_rank[d_order],
        matched=matched,
        ignored=ignored,
        gt_counted=gt_counted,
    )
