"""The greedy assignment kernel (numba, GIL released): by descending confidence, each
inference takes its best remaining label (COCO's rule; also the ``greedy`` mode)."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["match_greedy"]


@numba.njit(cache=True, nogil=True)
def match_greedy(
    d_keys, d_order, l_keys, l_order, key_div, pair_start, pair_label, pair_pred, pair_iou, pair_iob,
    crowd_sem, gt_ig, dt_out, thr_start,
):  # pragma: no cover - jit
    """COCO's greedy rule over groups (a frame, or a frame and class).

    A group is a run of equal keys: inferences ``d_order`` (with sorted group keys
    ``d_keys``) in processing order (descending score) within a group, labels
    ``l_order`` (sorted keys ``l_keys``) in source order. A key is ``frame * key_div +
    class`` (class-aware) or the frame (``key_div == 1``). ``gt_ig[a, l]`` marks labels ignored in area range ``a``; ``dt_out[a, p]``
    marks inferences outside area range ``a``. ``thr_start[t]`` is the starting best
    IoU for threshold ``t`` (a pair is accepted when its IoU is not below it).
    ``crowd_sem[l]``: the label is a crowd region (scored by intersection over the
    inference's area, and may absorb several inferences).

    Returns, indexed by position ``q`` in ``d_order``: ``matched[q, t, a]``,
    ``ignored[q, t, a]`` and ``label[q]``, the label row matched at threshold 0 and
    area range 0 (-1 when none).
    """
    n_t = thr_start.shape[0]
    n_a = gt_ig.shape[0]
    n_p = dt_out.shape[1]
    n_l = gt_ig.shape[1]
    n_d = d_order.shape[0]
    matched = np.zeros((n_d, n_t, n_a), dtype=np.bool_)
    ignored = np.zeros((n_d, n_t, n_a), dtype=np.bool_)
    first_label = np.full(n_d, -1, dtype=np.int64)
    loc_l = np.full(n_l, -1, dtype=np.int64)
    loc_p = np.full(n_p, -1, dtype=np.int64)
    ni = d_keys.shape[0]
    nj = l_keys.shape[0]
    i = 0
    j = 0
    while i < ni:
        key = d_keys[i]
        ds = i
        while i < ni and d_keys[i] == key:
            i += 1
        de = i
        while j < nj and l_keys[j] < key:
            j += 1
        ls = j
        while j < nj and l_keys[j] == key:
            j += 1
        le = j
        nd = de - ds
        ng = le - ls
        if nd == 0:
            continue
        if ng == 0:
            for a in range(n_a):
                for q in range(ds, de):
                    p = d_order[q]
                    for t in range(n_t):
                        ignored[q, t, a] = dt_out[a, p]
            continue
        for q in range(ls, le):
            loc_l[l_order[q]] = q - ls
        for q in range(ds, de):
            loc_p[d_order[q]] = q - ds
        ious = np.zeros((nd, ng))
        f = key // key_div
        for k in range(pair_start[f], pair_start[f + 1]):
            li = loc_l[pair_label[k]]
            pj = loc_p[pair_pred[k]]
            if li >= 0 and pj >= 0:
                ious[pj, li] = pair_iob[k] if crowd_sem[pair_label[k]] else pair_iou[k]
        perm = np.empty(ng, dtype=np.int64)
        gtm = np.empty(ng, dtype=np.int64)
        for a in range(n_a):
            # labels not ignored first, then ignored ones, each in source order
            c = 0
            for q in range(ng):
                if not gt_ig[a, l_order[ls + q]]:
                    perm[c] = q
                    c += 1
            for q in range(ng):
                if gt_ig[a, l_order[ls + q]]:
                    perm[c] = q
                    c += 1
            for t in range(n_t):
                gtm[:] = -1
                for dq in range(nd):
                    p = d_order[ds + dq]
                    best = thr_start[t]
                    m = -1
                    for z in range(ng):
                        gq = perm[z]
                        lrow = l_order[ls + gq]
                        if gtm[gq] >= 0 and not crowd_sem[lrow]:
                            continue
                        if m > -1 and (not gt_ig[a, l_order[ls + m]]) and gt_ig[a, lrow]:
                            break
                        if ious[dq, gq] < best:
                            continue
                        best = ious[dq, gq]
                        m = gq
                    if m == -1:
                        ignored[ds + dq, t, a] = dt_out[a, p]
                    else:
                        lrow = l_order[ls + m]
                        ignored[ds + dq, t, a] = gt_ig[a, lrow]
                        matched[ds + dq, t, a] = True
                        if t == 0 and a == 0:
                            first_label[ds + dq] = lrow
                        gtm[m] = dq
        for q in range(ls, le):
            loc_l[l_order[q]] = -1
        for q in range(ds, de):
            loc_p[d_order[q]] = -1
    return matched, ignored, first_label
