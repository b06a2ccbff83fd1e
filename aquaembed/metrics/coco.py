"""COCO mAP: the twelve numbers of pycocotools' ``COCOeval.stats`` (bbox), from
:func:`~aquaembed.matching.coco_matches`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from aquaembed.errors import ParameterError
from aquaembed.matching import Candidates, coco_matches

__all__ = ["COCO_STAT_NAMES", "CocoInputs", "coco_accumulate", "coco_inputs", "coco_map", "coco_reduce", "coco_summarize"]

COCO_STAT_NAMES: tuple[str, ...] = (
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
)

_COCO_IOUS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
_COCO_RECALLS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)
_COCO_AREAS = np.array([[0, 1e5**2], [0, 32**2], [32**2, 96**2], [96**2, 1e5**2]], dtype=np.float64)
_COCO_MAX_DETS = (1, 10, 100)


@numba.njit(cache=True, nogil=True)
def _accumulate(cls, rank, matched, ignored, npig, max_dets, rec_thrs, precision, recall):  # pragma: no cover
    """Fill ``precision[t, r, k, a, m]`` and ``recall[t, k, a, m]`` as COCOeval.accumulate does.

    Only what :func:`coco_map`'s twelve numbers read is filled: precision at the largest
    ``max_dets``, recall at every ``max_dets`` for the first (all) area range and at the
    largest for the others. Detections come sorted by class, then descending score, then frame id, then rank
    within the frame (pycocotools' concatenation and stable sort): ``cls`` and ``rank``
    are (D,), ``matched``/``ignored`` are (D, T, A) in that order; ``npig`` is (A, K),
    the labels that count. Entries of classes without counted labels are left as they are.
    """
    n = cls.shape[0]
    n_t, n_a = matched.shape[1], matched.shape[2]
    last = max_dets.shape[0] - 1
    eps = np.spacing(1.0)
    rc = np.empty(n)
    pr = np.empty(n)
    s = 0
    while s < n:
        k = cls[s]
        e = s
        while e < n and cls[e] == k:
            e += 1
        for mi in range(max_dets.shape[0]):
            for a in range(n_a):
                # the twelve stats read the smaller maxDets only as recall over all areas
                if npig[a, k] == 0 or (mi != last and a != 0):
                    continue
                for t in range(n_t):
                    tp = 0.0
                    fp = 0.0
                    nd = 0
                    for i in range(s, e):
                        if rank[i] >= max_dets[mi]:
                            continue
                        if not ignored[i, t, a]:
                            if matched[i, t, a]:
                                tp += 1.0
                            else:
                                fp += 1.0
                        rc[nd] = tp / npig[a, k]
                        pr[nd] = tp / (fp + tp + eps)
                        nd += 1
                    recall[t, k, a, mi] = rc[nd - 1] if nd else 0.0
                    if mi != last:
                        continue
                    for i in range(nd - 1, 0, -1):
                        if pr[i] > pr[i - 1]:
                            pr[i - 1] = pr[i]
                    inds = np.searchsorted(rc[:nd], rec_thrs)
                    for r in range(rec_thrs.shape[0]):
                        precision[t, r, k, a, mi] = pr[inds[r]] if inds[r] < nd else 0.0
        s = e


@dataclass(frozen=True, eq=False)
class CocoInputs:
    """What COCO accumulation needs from one part of a dataset (a shard, or all of it).

    Inputs of disjoint sets of frames concatenate (:func:`coco_reduce`), and the result
    is bit-identical to accumulating them as one: the reduce sorts the detections by a
    total order (class, descending score, frame id, rank within the frame and class),
    so it does not depend on how the frames were split.

    Attributes
    ----------
    cls : int64 array, shape (D,)
        Class index of each taking-part detection.
    score : float64 array, shape (D,)
    frame_id : int64 array, shape (D,)
        External frame id (COCO ``image_id``; pycocotools breaks score ties by it).
    rank : int64 array, shape (D,)
        Rank within its frame and class (0 = highest score).
    matched, ignored : bool arrays, shape (D, T, A)
        At COCOeval's ten IoU thresholds and four area ranges.
    gt_counted : int64 array, shape (A, C)
        Labels per area range and class that count.
    """

    cls: np.ndarray
    score: np.ndarray
    frame_id: np.ndarray
    rank: np.ndarray
    matched: np.ndarray
    ignored: np.ndarray
    gt_counted: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.gt_counted.shape[1])


def coco_inputs(candidates: Candidates, *, frame_ids: np.ndarray | None = None) -> CocoInputs:
    """COCO's per-class greedy matching of one part of a dataset, ready to accumulate.

    Parameters
    ----------
    candidates : Candidates
    frame_ids : int array, shape (F,), optional
        External frame ids (default: frame row numbers).

    Returns
    -------
    CocoInputs
    """
    c = candidates
    max_dets = np.asarray(_COCO_MAX_DETS, dtype=np.int64)
    cm = coco_matches(c, iou_thresholds=_COCO_IOUS, area_ranges=_COCO_AREAS, max_det=int(max_dets[-1]))
    ids = np.arange(c.n_frames, dtype=np.int64) if frame_ids is None else np.asarray(frame_ids, dtype=np.int64)
    dets = cm.dets
    return CocoInputs(
        cls=c.pred_cls[dets].astype(np.int64), score=c.pred_score[dets].astype(np.float64),
        frame_id=ids[c.pred_frame[dets]], rank=cm.det_rank, matched=cm.matched, ignored=cm.ignored,
        gt_counted=cm.gt_counted,
    )


def coco_map(candidates: Candidates, *, frame_ids: np.ndarray | None = None) -> dict[str, float | None]:
    """COCO bbox mAP: the twelve numbers of pycocotools' ``COCOeval.stats``.

    AP@[.50:.95], AP50, AP75, AP small/medium/large (maxDets 100), AR1, AR10, AR100
    and AR small/medium/large, with crowd regions, area ranges on the labels' COCO
    ``area``, 101-point interpolation and per-class top-100 detections per frame, as
    pycocotools computes them. Equal to ``coco_reduce([coco_inputs(...)])``.

    Parameters
    ----------
    candidates : Candidates
    frame_ids : int array, shape (F,), optional
        External frame ids; detections with equal scores are ranked in ascending frame
        id, as pycocotools does. Default: frame row order.

    Returns
    -------
    dict mapping each name in :data:`COCO_STAT_NAMES` to a float, or None where
    pycocotools reports -1 (no label counts for that figure)
    """
    return coco_reduce([coco_inputs(candidates, frame_ids=frame_ids)])


def coco_reduce(parts: Sequence[CocoInputs]) -> dict[str, float | None]:
    """Accumulate and summarise the COCO inputs of disjoint parts (shards) of a dataset.

    Parameters
    ----------
    parts : sequence of CocoInputs
        One per shard, over the same classes; their frames must not overlap.

    Returns
    -------
    dict, as :func:`coco_map`
    """
    return coco_summarize(*coco_accumulate(parts))


def coco_accumulate(
    parts: Sequence[CocoInputs], *, classes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's ``accumulate`` over the parts' detections of some classes.

    Classes are independent here, so accumulating class groups separately (in parallel
    tasks) and putting their slices together gives the arrays of one pass, bit for bit.

    Parameters
    ----------
    parts : sequence of CocoInputs
    classes : int array, optional
        Class indices to accumulate (default all).

    Returns
    -------
    precision : float64 array, shape (T, R, K_s, A, M)
    recall : float64 array, shape (T, K_s, A, M)
        For the ``K_s`` classes asked for, in that order; ``-1`` where no label counts.
    """
    if not parts:
        raise ParameterError("coco_reduce needs at least one part", parameter="parts")
    n_k = parts[0].n_classes
    if any(p.n_classes != n_k for p in parts):
        raise ParameterError("COCO inputs over different class counts cannot be merged", parameter="parts")
    want = np.arange(n_k) if classes is None else np.asarray(classes, dtype=np.int64)
    if classes is not None:
        keep = np.zeros(n_k, dtype=bool)
        keep[want] = True
        parts = [_select(p, keep[p.cls]) for p in parts]
    max_dets = np.asarray(_COCO_MAX_DETS, dtype=np.int64)
    n_t, n_r, n_a, n_m = _COCO_IOUS.size, _COCO_RECALLS.size, _COCO_AREAS.shape[0], max_dets.size
    cls = np.concatenate([p.cls for p in parts])
    score = np.concatenate([p.score for p in parts])
    # pycocotools' order: class, then descending score, then frame id, then rank in the
    # frame (its concatenation of per-image lists and stable sort); a total order
    rank = np.concatenate([p.rank for p in parts])
    order = np.lexsort((rank, np.concatenate([p.frame_id for p in parts]), -score, cls))
    matched = np.concatenate([p.matched for p in parts])[order]
    ignored = np.concatenate([p.ignored for p in parts])[order]
    npig = np.sum([p.gt_counted for p in parts], axis=0)
    # -1 marks "no label counts" (pycocotools' convention); classes with counted labels
    # but no detections keep 0 precision and 0 recall
    has_gt = (npig > 0).T[None, :, :, None]  # (1, K, A, 1)
    recall = np.where(has_gt, 0.0, -1.0) * np.ones((n_t, n_k, n_a, n_m))
    precision = np.where(has_gt[:, None], 0.0, -1.0) * np.ones((n_t, n_r, n_k, n_a, n_m))
    _accumulate(cls[order], rank[order], matched, ignored, npig.astype(np.float64), max_dets, _COCO_RECALLS,
                precision, recall)
    return precision[:, :, want], recall[:, want]


def _select(p: CocoInputs, sel: np.ndarray) -> CocoInputs:
    return CocoInputs(p.cls[sel], p.score[sel], p.frame_id[sel], p.rank[sel], p.matched[sel], p.ignored[sel],
                      p.gt_counted)


def coco_summarize(precision: np.ndarray, recall: np.ndarray) -> dict[str, float | None]:
    """The twelve numbers from accumulated ``precision`` (T, R, K, A, M) and ``recall`` (T, K, A, M)."""

    def summarize(ap: bool, iou: float | None, area: int, mi: int) -> float | None:
        s = precision[:, :, :, area, mi] if ap else recall[:, :, area, mi]
        if iou is not None:
            s = s[np.flatnonzero(_COCO_IOUS == iou)]
        valid = s[s > -1]
        return float(np.mean(valid)) if valid.size else None

    last = len(_COCO_MAX_DETS) - 1
    values = [
        summarize(True, None, 0, last),
        summarize(True, 0.5, 0, last),
        summarize(True, 0.75, 0, last),
        summarize(True, None, 1, last),
        summarize(True, None, 2, last),
        summarize(True, None, 3, last),
        summarize(False, None, 0, 0),
        summarize(False, None, 0, 1),
        summarize(False, None, 0, 2),
        summarize(False, None, 1, last),
        summarize(False, None, 2, last),
        summarize(False, None, 3, last),
    ]
    return dict(zip(COCO_STAT_NAMES, values))
