"""COCO mAP: the twelve numbers of pycocotools' ``COCOeval.stats`` (bbox), from
:func:`~aquaembed.matching.coco_matches`.
"""

from __future__ import annotations

import numba
import numpy as np

from aquaembed.matching import Candidates, coco_matches

__all__ = ["COCO_STAT_NAMES", "coco_map"]

COCO_STAT_NAMES: tuple[str, ...] = (
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
)

_COCO_IOUS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
_COCO_RECALLS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)
_COCO_AREAS = np.array([[0, 1e5**2], [0, 32**2], [32**2, 96**2], [96**2, 1e5**2]], dtype=np.float64)
_COCO_MAX_DETS = (1, 10, 100)


@numba.njit(cache=True)
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


def coco_map(candidates: Candidates, *, frame_ids: np.ndarray | None = None) -> dict[str, float | None]:
    """COCO bbox mAP: the twelve numbers of pycocotools' ``COCOeval.stats``.

    AP@[.50:.95], AP50, AP75, AP small/medium/large (maxDets 100), AR1, AR10, AR100
    and AR small/medium/large, with crowd regions, area ranges on the labels' COCO
    ``area``, 101-point interpolation and per-class top-100 detections per frame, as
    pycocotools computes them.

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
    c = candidates
    max_dets = np.asarray(_COCO_MAX_DETS, dtype=np.int64)
    cm = coco_matches(c, iou_thresholds=_COCO_IOUS, area_ranges=_COCO_AREAS, max_det=int(max_dets[-1]))
    n_t, n_r, n_k, n_a, n_m = _COCO_IOUS.size, _COCO_RECALLS.size, c.n_classes, _COCO_AREAS.shape[0], max_dets.size
    if frame_ids is None:
        frame_pos = np.arange(c.n_frames)
    else:
        frame_pos = np.empty(c.n_frames, dtype=np.int64)
        frame_pos[np.argsort(np.asarray(frame_ids), kind="stable")] = np.arange(c.n_frames)
    dets = cm.dets
    cls = c.pred_cls[dets]
    # pycocotools' order: class, then descending score, then frame id, then rank in the
    # frame. ``dets`` run by (frame row, class, rank); bring frames into id order (when
    # rows are not already), then two stable sorts put score and class in front.
    pos = frame_pos[c.pred_frame[dets]]
    order = np.arange(dets.shape[0])
    if (np.diff(pos) < 0).any():
        order = np.argsort(pos, kind="stable")
    order = order[np.argsort(-c.pred_score[dets][order], kind="stable")]
    order = order[np.argsort(cls[order], kind="stable")]
    npig = cm.gt_counted
    # -1 marks "no label counts" (pycocotools' convention); classes with counted labels
    # but no detections keep 0 precision and 0 recall
    has_gt = (npig > 0).T[None, :, :, None]  # (1, K, A, 1)
    recall = np.where(has_gt, 0.0, -1.0) * np.ones((n_t, n_k, n_a, n_m))
    precision = np.where(has_gt[:, None], 0.0, -1.0) * np.ones((n_t, n_r, n_k, n_a, n_m))
    _accumulate(cls[order], cm.det_rank[order], cm.matched[order], cm.ignored[order], npig.astype(np.float64), max_dets, _COCO_RECALLS, precision, recall)

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
