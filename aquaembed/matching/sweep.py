"""The optimal matcher at many confidence thresholds in one pass: the counts of a PR curve.

Matching at a confidence threshold ``t`` chooses among the allowed pairs whose inference
has ``score >= t``. The allowed pairs of a frame at a higher threshold are a subset of
those at a lower one, so each connected component of the pairs allowed at the lowest
threshold changes only when one of its own inferences drops out. :func:`sweep_counts`
therefore, per frame, finds the allowed pairs and their components once, walks the
thresholds upwards and re-solves a component only when it lost a pair, with the
matcher's own per-frame solver (:func:`~aquaembed.matching.kernels.solve_edges`) on its
remaining pairs in pair order, which is exactly what :func:`~aquaembed.matching.match`
does at that threshold. A component with one label or one inference (a star) keeps its
choice while the chosen pair is kept (the first largest weight stays the first largest
when other pairs leave). Frames are cut into ranges that run on all cores (the kernel
releases the GIL).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from aquaembed.matching.candidates import Candidates
from aquaembed.matching.kernels import (
    WORK_SIZE,
    best_edge,
    crowd_ignored,
    edge_components,
    frame_edges,
    frame_locals,
    frame_sizes,
    solve_edges,
)
from aquaembed.matching.options import MatchOptions
from aquaembed.matching.table import Assignment, MatchTable, _table

__all__ = ["match_and_sweep", "sweep_counts"]


@numba.njit(cache=True, nogil=True)
def _sweep(
    f0, f1, l_start, l_order, p_start, p_order, pair_start, pair_label, pair_pred, pair_iou, pair_iob,
    l_cls, p_cls, score, l_crowd, confs, thr, class_aware, crowd_mode, n_classes,
    l_match, l_iou, p_match, p_ignored, loc, capture, out_l_match, out_l_iou, out_p_match, out_p_ignored,
):  # pragma: no cover - jit
    """TP, ignored and kept inferences per (ascending) threshold and class, frames ``f0:f1``.

    Only what changes is touched at each threshold: the components that lost a pair
    there (TP is kept as its change per threshold and summed at the end).

    ``l_match``, ``l_iou``, ``p_match``, ``p_ignored`` and ``loc`` are scratch arrays
    over all rows (-1 / NaN / -1 / False / any); only the rows of these frames are
    touched, so disjoint frame ranges may run at once on the same arrays. At threshold
    ``capture`` (-1: none) the assignment is copied into the ``out_*`` arrays.
    """
    n_k = confs.shape[0]
    n_l = l_order.shape[0]
    tp_step = np.zeros((n_k, n_classes), dtype=np.int64)  # change of TP from threshold i - 1 to i
    ign = np.zeros((n_k, n_classes), dtype=np.int64)
    kept_last = np.zeros((n_k, n_classes), dtype=np.int64)  # inferences kept up to threshold i, no further
    max_nodes, max_pairs = frame_sizes(l_start, p_start, pair_start, f0, f1)
    parent = np.empty(max_nodes, dtype=np.int64)
    node_l = np.empty(max_nodes, dtype=np.int64)
    node_p = np.empty(max_nodes, dtype=np.int64)
    surv = np.empty(max_nodes, dtype=np.int64)  # per local node: number of thresholds it is kept at
    e_l = np.empty(max_pairs, dtype=np.int64)
    e_p = np.empty(max_pairs, dtype=np.int64)
    e_w = np.empty(max_pairs, dtype=np.float64)
    e_k = np.empty(max_pairs, dtype=np.int64)
    e_root = np.empty(max_pairs, dtype=np.int64)
    e_comp = np.empty(max_pairs, dtype=np.int64)
    e_surv = np.empty(max_pairs, dtype=np.int64)
    s_l = np.empty(max_pairs, dtype=np.int64)
    s_p = np.empty(max_pairs, dtype=np.int64)
    s_w = np.empty(max_pairs, dtype=np.float64)
    s_k = np.empty(max_pairs, dtype=np.int64)
    s_root = np.empty(max_pairs, dtype=np.int64)
    kept_idx = np.empty(max_pairs, dtype=np.int64)
    comp_start = np.empty(max_pairs + 1, dtype=np.int64)
    comp_star = np.empty(max_pairs, dtype=np.bool_)
    comp_best = np.empty(max_pairs, dtype=np.int64)
    comp_dirty = np.empty(max_pairs, dtype=np.bool_)
    dirty = np.empty(max_pairs, dtype=np.int64)
    drop_start = np.empty(n_k + 2, dtype=np.int64)
    drops = np.empty(max_pairs, dtype=np.int64)
    order = np.empty(max_pairs, dtype=np.int64)
    s_order = np.empty(max_pairs, dtype=np.int64)
    work_f = np.empty(WORK_SIZE)
    work_i = np.empty(WORK_SIZE, dtype=np.int64)
    for f in range(f0, f1):
        ls, le = l_start[f], l_start[f + 1]
        ps, pe = p_start[f], p_start[f + 1]
        nl = le - ls
        for j in range(ps, pe):
            pj = p_order[j]
            # kept at the first `lo` thresholds: the number of (ascending) confs <= score
            lo = 0
            hi = n_k
            while lo < hi:
                mid = (lo + hi) // 2
                if confs[mid] <= score[pj]:
                    lo = mid + 1
                else:
                    hi = mid
            surv[nl + j - ps] = lo
            if lo > 0:
                kept_last[lo - 1, p_cls[pj]] += 1
        # the pairs allowed at the lowest threshold, grouped by component (pair order within)
        ne = frame_edges(
            pair_start[f], pair_start[f + 1], pair_label, pair_pred, pair_iou, l_cls, p_cls, score, l_crowd,
            confs[0], thr, class_aware, crowd_mode, e_l, e_p, e_w, e_k,
        )
        n_comp = 0
        if ne > 0:
            frame_locals(ls, le, l_order, ps, pe, p_order, n_l, loc)
            edge_components(ne, e_l, e_p, loc, n_l, parent, e_root, order)
            n_comp = _group(ne, order, e_root, e_l, e_p, comp_start, comp_star, e_comp)
            # the edges bucketed by the threshold that drops them (a counting sort)
            drop_start[:] = 0
            for e in range(ne):
                e_surv[e] = surv[loc[n_l + e_p[e]]]
                drop_start[e_surv[e] + 1] += 1
            for i in range(n_k + 1):
                drop_start[i + 1] += drop_start[i]
            for e in range(ne):
                drops[drop_start[e_surv[e]]] = e
                drop_start[e_surv[e]] += 1
            for i in range(n_k, 0, -1):
                drop_start[i] = drop_start[i - 1]
            drop_start[0] = 0
            for q in range(n_comp):
                comp_dirty[q] = False
                comp_best[q] = -1
        for ti in range(n_k):
            n_dirty = 0
            if ti == 0:
                for q in range(n_comp):
                    dirty[n_dirty] = q
                    n_dirty += 1
            elif ne > 0:
                for z in range(drop_start[ti], drop_start[ti + 1]):
                    q = e_comp[drops[z]]
                    if not comp_dirty[q]:
                        comp_dirty[q] = True
                        dirty[n_dirty] = q
                        n_dirty += 1
            for d in range(n_dirty):
                q = dirty[d]
                comp_dirty[q] = False
                cs, ce = comp_start[q], comp_start[q + 1]
                if comp_star[q]:
                    b = comp_best[q]
                    if b >= 0 and e_surv[b] > ti:
                        continue  # the choice stands while its pair is kept
                    if b >= 0:
                        if l_cls[e_l[b]] == p_cls[e_p[b]]:
                            tp_step[ti, l_cls[e_l[b]]] -= 1
                        l_match[e_l[b]] = -1
                        l_iou[e_l[b]] = np.nan
                        p_match[e_p[b]] = -1
                    n = 0
                    for z in range(cs, ce):
                        if e_surv[order[z]] > ti:
                            kept_idx[n] = order[z]
                            n += 1
                    b = best_edge(kept_idx, 0, n, e_w) if n > 0 else -1
                    comp_best[q] = b
                    if b >= 0:
                        l_match[e_l[b]] = e_p[b]
                        p_match[e_p[b]] = e_l[b]
                        l_iou[e_l[b]] = pair_iou[e_k[b]]
                        if l_cls[e_l[b]] == p_cls[e_p[b]]:
                            tp_step[ti, l_cls[e_l[b]]] += 1
                    continue
                for z in range(cs, ce):
                    e = order[z]
                    if l_match[e_l[e]] == e_p[e] and l_cls[e_l[e]] == p_cls[e_p[e]]:
                        tp_step[ti, l_cls[e_l[e]]] -= 1
                n = 0
                for z in range(cs, ce):
                    e = order[z]
                    l_match[e_l[e]] = -1
                    l_iou[e_l[e]] = np.nan
                    p_match[e_p[e]] = -1
                    if e_surv[e] > ti:
                        s_l[n] = e_l[e]
                        s_p[n] = e_p[e]
                        s_w[n] = e_w[e]
                        s_k[n] = e_k[e]
                        n += 1
                if n > 0:
                    solve_edges(n, s_l, s_p, s_w, s_k, pair_iou, loc, n_l, parent, s_root, node_l, node_p,
                                l_match, l_iou, p_match, s_order, work_f, work_i)
                for z in range(cs, ce):
                    e = order[z]
                    if l_match[e_l[e]] == e_p[e] and l_cls[e_l[e]] == p_cls[e_p[e]]:
                        tp_step[ti, l_cls[e_l[e]]] += 1
            if crowd_mode:
                crowd_ignored(pair_start[f], pair_start[f + 1], pair_label, pair_pred, pair_iob, l_cls, p_cls,
                              score, l_crowd, p_match, confs[ti], thr, class_aware, p_ignored)
            if ti == capture:
                for i in range(ls, le):
                    out_l_match[l_order[i]] = l_match[l_order[i]]
                    out_l_iou[l_order[i]] = l_iou[l_order[i]]
                for j in range(ps, pe):
                    out_p_match[p_order[j]] = p_match[p_order[j]]
                    out_p_ignored[p_order[j]] = p_ignored[p_order[j]]
            if crowd_mode:
                for k in range(pair_start[f], pair_start[f + 1]):
                    pj = pair_pred[k]
                    if p_ignored[pj]:
                        ign[ti, p_cls[pj]] += 1
                        p_ignored[pj] = False
    for ti in range(1, n_k):
        tp_step[ti] += tp_step[ti - 1]
    return tp_step, ign, kept_last


@numba.njit(cache=True, nogil=True)
def _group(ne, order, e_root, e_l, e_p, comp_start, comp_star, e_comp):  # pragma: no cover - jit
    """Components as runs of equal ``e_root[order]``: fill their starts in ``order``, whether
    each is a star (one label or one inference) and each edge's component; return the count."""
    n = 0
    s = 0
    while s < ne:
        comp_start[n] = s
        one_l = True
        one_p = True
        t = s
        while t < ne and e_root[order[t]] == e_root[order[s]]:
            e = order[t]
            one_l = one_l and e_l[e] == e_l[order[s]]
            one_p = one_p and e_p[e] == e_p[order[s]]
            e_comp[e] = n
            t += 1
        comp_star[n] = one_l or one_p
        n += 1
        s = t
    comp_start[n] = ne
    return n


def sweep_counts(
    candidates: Candidates, options: MatchOptions, confs: np.ndarray, *, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP and FN per confidence threshold and class of the optimal matcher.

    Parameters
    ----------
    candidates : Candidates
    options : MatchOptions
        Optimal mode; everything but ``conf``, which ``confs`` replaces.
    confs : float64 array, shape (K,)
        Confidence thresholds, strictly ascending, in [0, 1].
    threads : int, optional
        Frame ranges run at once (default: the CPU count).

    Returns
    -------
    tp, fp, fn : int64 arrays, shape (K, C)
        What ``assign(candidates, options.replace(conf=confs[i]))`` counts at each
        threshold: TP = matched same-class pairs, FP = kept inferences not in a crowd
        region - TP, FN = labels (not crowd regions in crowd mode) - TP, per class.
    """
    counts, _ = _run(candidates, options, np.asarray(confs, dtype=np.float64), -1, threads)
    return counts


def match_and_sweep(
    candidates: Candidates, options: MatchOptions, confs: np.ndarray, *, threads: int | None = None
) -> tuple[MatchTable, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`~aquaembed.matching.match` at ``options`` and :func:`sweep_counts` at ``confs``
    in one pass (the sweep passes through ``options.conf`` and keeps its assignment there).

    Returns
    -------
    table : MatchTable
        Equal to ``match(candidates, options)``.
    tp, fp, fn : int64 arrays, shape (K, C)
    """
    confs = np.asarray(confs, dtype=np.float64)
    every = np.unique(np.append(confs, options.conf))
    capture = int(np.searchsorted(every, options.conf))
    (tp, fp, fn), a = _run(candidates, options, every, capture, threads)
    at = np.searchsorted(every, confs)
    table = _table(candidates, options, a.crowd_labels, a.label_match, a.label_iou, a.pred_match, a.pred_ignored)
    return table, (tp[at], fp[at], fn[at])


def _run(
    c: Candidates, options: MatchOptions, confs: np.ndarray, capture: int, threads: int | None
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], Assignment]:
    crowd = options.crowd
    crowd_flags = c.label_crowd if crowd else np.zeros_like(c.label_crowd)
    n_k, n_c = confs.shape[0], c.n_classes
    scratch = (
        np.full(c.n_labels, -1, dtype=np.int64), np.full(c.n_labels, np.nan),
        np.full(c.n_preds, -1, dtype=np.int64), np.zeros(c.n_preds, dtype=bool),
        np.zeros(c.n_labels + c.n_preds, dtype=np.int64),
    )
    n_out_l, n_out_p = (c.n_labels, c.n_preds) if capture >= 0 else (0, 0)
    out = (
        np.full(n_out_l, -1, dtype=np.int64), np.full(n_out_l, np.nan),
        np.full(n_out_p, -1, dtype=np.int64), np.zeros(n_out_p, dtype=bool),
    )
    workers = max(1, threads or os.cpu_count() or 1)
    # frame ranges of about equal numbers of pairs, a few per worker
    n_parts = min(max(c.n_frames, 1), 4 * workers)
    cuts = np.searchsorted(c.pair_start, np.linspace(0, c.pair_start[-1], n_parts + 1), side="left")
    cuts = np.unique(np.concatenate([[0], np.clip(cuts, 0, c.n_frames), [c.n_frames]]))

    def part(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _sweep(
            np.int64(cuts[i]), np.int64(cuts[i + 1]), c.label_start, c.label_order, c.pred_start, c.pred_order,
            c.pair_start, c.pair_label, c.pair_pred, c.pair_iou, c.pair_iob, c.label_cls, c.pred_cls,
            c.pred_score, crowd_flags, confs, options.iou, options.class_aware, crowd, n_c, *scratch,
            np.int64(capture), *out,
        )

    ranges = range(cuts.size - 1)
    if workers == 1 or len(ranges) <= 1:
        results = [part(i) for i in ranges]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(part, ranges))
    tp = np.zeros((n_k, n_c), dtype=np.int64)
    ign = np.zeros((n_k, n_c), dtype=np.int64)
    kept_last = np.zeros((n_k, n_c), dtype=np.int64)
    for t, g, k in results:
        tp += t
        ign += g
        kept_last += k
    kept = np.cumsum(kept_last[::-1], axis=0)[::-1]
    fp = kept - ign - tp
    fn = np.bincount(c.label_cls[~crowd_flags], minlength=n_c)[None, :] - tp
    conf = float(confs[capture]) if capture >= 0 else 0.0
    return (tp, fp, fn), Assignment(*out, crowd_flags, c.pred_score >= conf)
