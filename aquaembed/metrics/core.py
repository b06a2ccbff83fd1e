"""Metrics, every one a pure function of the matching engine's output.

* :func:`confusion_matrix`, :func:`class_report`, :func:`overall_report`,
  :func:`frame_report`, :func:`label_types`, :func:`inference_types` take a
  :class:`~aquaembed.matching.MatchTable`.
* :func:`pr_curve` re-matches at a sweep of confidence thresholds.
* :func:`coco_map` reproduces the twelve numbers of pycocotools' ``COCOeval.stats``
  (bbox) from :func:`~aquaembed.matching.coco_matches`.

A ratio whose denominator is zero is undefined: NaN here (``null`` in JSON), never 0 or 1.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numba
import numpy as np

from aquaembed.errors import ParameterError
from aquaembed.metrics.counts import ratios
from aquaembed.matching import (
    CONFUSION,
    FN,
    FP,
    IGNORED,
    TP,
    Candidates,
    MatchOptions,
    MatchTable,
    assign,
    coco_matches,
)

__all__ = [
    "BELOW_THRESHOLD",
    "ratios",
    "confusion_matrix",
    "class_report",
    "overall_report",
    "frame_report",
    "slice_report",
    "label_types",
    "inference_types",
    "pr_curve",
    "coco_map",
    "COCO_STAT_NAMES",
]

BELOW_THRESHOLD = -1
"""Crop type of an inference discarded by the confidence threshold."""

COCO_STAT_NAMES: tuple[str, ...] = (
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
)


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


def pr_curve(
    candidates: Candidates,
    options: MatchOptions | None = None,
    *,
    thresholds: Sequence[float] | np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Precision and recall per class and overall, sweeping the confidence threshold.

    Every point re-runs the matcher at that confidence threshold and the fixed IoU
    threshold, so it is exactly what :func:`match` and :func:`class_report` report
    there (the counts are taken from the assignment directly, without laying out the
    table, which at low thresholds holds every inference).

    Parameters
    ----------
    candidates : Candidates
    options : MatchOptions, optional
        Everything but ``conf``, which the sweep replaces (default ``MatchOptions()``).
    thresholds : sequence of float, optional
        Confidence thresholds in [0, 1]; default 0.00, 0.05, ..., 1.00.

    Returns
    -------
    dict with ``thresholds`` (K,), ``precision`` and ``recall`` (K, C), and
    ``overall_precision`` and ``overall_recall`` (K,); NaN where undefined
    """
    ts = np.round(np.linspace(0.0, 1.0, 21), 2) if thresholds is None else np.asarray(thresholds, float)
    if ts.ndim != 1 or ts.size == 0:
        raise ParameterError("thresholds must be a non-empty 1-d sequence of confidences")
    c = candidates
    base = MatchOptions() if options is None else options
    sweep = [base.replace(conf=float(t)) for t in ts]
    k, n_c = ts.shape[0], c.n_classes
    tp = np.empty((k, n_c), dtype=np.int64)
    fp = np.empty((k, n_c), dtype=np.int64)
    fn = np.empty((k, n_c), dtype=np.int64)
    def counts(i: int) -> None:
        # the counts class_report would take from the table at this threshold, without
        # building the table: TP = matched same-class pairs, FP = kept (not ignored)
        # inferences - TP, FN = (not crowd) labels - TP, per class
        a = assign(c, sweep[i])
        matched = a.label_match >= 0
        same = np.zeros(c.n_labels, dtype=bool)
        same[matched] = c.pred_cls[a.label_match[matched]] == c.label_cls[matched]
        tp[i] = np.bincount(c.label_cls[same], minlength=n_c)
        fp[i] = np.bincount(c.pred_cls[a.kept & ~a.pred_ignored], minlength=n_c) - tp[i]
        fn[i] = np.bincount(c.label_cls[~a.crowd_labels], minlength=n_c) - tp[i]

    # the matcher's kernels release the GIL, so the thresholds run on every core
    with ThreadPoolExecutor(max_workers=min(k, os.cpu_count() or 1)) as pool:
        list(pool.map(counts, range(k)))
    per_class = ratios(tp, fp, fn)
    overall = ratios(tp.sum(axis=1), fp.sum(axis=1), fn.sum(axis=1))
    return {
        "thresholds": ts,
        "precision": per_class["precision"],
        "recall": per_class["recall"],
        "overall_precision": overall["precision"],
        "overall_recall": overall["recall"],
    }


# --------------------------------------------------------------------------- COCO mAP

_COCO_IOUS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
_COCO_RECALLS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)
_COCO_AREAS = np.array([[0, 1e5**2], [0, 32**2], [32**2, 96**2], [96**2, 1e5**2]], dtype=np.float64)
_COCO_MAX_DETS = (1, 10, 100)


@numba.njit(cache=True)
def _accumulate(cls, rank, matched, ignored, npig, max_dets, rec_thrs, precision, recall):  # pragma: no cover
    """Fill ``precision[t, r, k, a, m]`` and ``recall[t, k, a, m]`` as COCOeval.accumulate does.

    Detections come sorted by class, then descending score, then frame id, then rank
    within the frame (pycocotools' concatenation and stable sort): ``cls`` and ``rank``
    are (D,), ``matched``/``ignored`` are (D, T, A) in that order; ``npig`` is (A, K),
    the labels that count. Entries of classes without counted labels are left as they are.
    """
    n = cls.shape[0]
    n_t, n_a = matched.shape[1], matched.shape[2]
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
                if npig[a, k] == 0:
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
