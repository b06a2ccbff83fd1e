"""The optimal assignment kernels (numba, GIL released): per frame, the components of the
candidate graph, solved directly (one label or one inference) or by the Hungarian
algorithm. The greedy rule (COCO's) is in :mod:`~aquaembed.matching.greedy`.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "match_optimal", "best_edge", "frame_edges", "edge_components", "solve_edges", "frame_locals", "frame_sizes",
    "crowd_ignored", "WORK_SIZE",
]

_SAME_CLASS_BONUS = 1e-9
"""Tie-break weight (in IoU units) of a pair whose classes agree."""
_SCORE_BONUS = 1e-12
"""Tie-break weight (in IoU units per unit of confidence) of a pair's inference confidence."""
WORK_SIZE = 4096
"""Length of the work arrays a solver run reuses for its components (larger ones allocate)."""


@numba.njit(cache=True, nogil=True)
def _hungarian_min(cost, u, v, p, way, minv, used, col):  # pragma: no cover - jit
    """Minimum-cost assignment of every row of ``cost`` (n x m, n <= m) to a distinct column.

    Shortest-augmenting-path Hungarian algorithm with potentials, O(n^2 m). Work arrays
    are the caller's: ``u`` (n + 1), ``v``, ``minv`` (m + 1, float), ``p``, ``way``,
    ``used`` (m + 1, int). Fills ``col`` (n) with the column of each row.
    """
    n, m = cost.shape
    inf = np.inf
    u[: n + 1] = 0.0
    v[: m + 1] = 0.0
    p[: m + 1] = 0
    way[: m + 1] = 0
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv[: m + 1] = inf
        used[: m + 1] = 0
        while True:
            used[j0] = 1
            i0 = p[j0]
            delta = inf
            j1 = 0
            for j in range(1, m + 1):
                if used[j] == 0:
                    cur = cost[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j] != 0:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    col[:n] = -1
    for j in range(1, m + 1):
        if p[j] != 0:
            col[p[j] - 1] = j - 1


@numba.njit(cache=True, nogil=True)
def _find(parent, x):  # pragma: no cover - jit
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True, nogil=True)
def frame_edges(
    ks, ke, pair_label, pair_pred, pair_iou, l_cls, p_cls, score, l_crowd, conf, thr, class_aware, crowd_mode,
    e_l, e_p, e_w, e_k,
):  # pragma: no cover - jit
    """The allowed pairs ``ks:ke`` of one frame, in pair order, into ``e_*``; returns their count.

    A pair is allowed when its inference is kept (``score >= conf``), its label is not
    a crowd region (crowd mode), its classes agree (class-aware) and ``IoU >= thr``;
    its weight is the IoU plus the tie-breaks.
    """
    ne = 0
    for k in range(ks, ke):
        v = pair_iou[k]
        if v < thr:
            continue  # first the test that reads the pairs in order and rejects most
        li = pair_label[k]
        pj = pair_pred[k]
        if score[pj] < conf:
            continue
        if crowd_mode and l_crowd[li]:
            continue
        same = l_cls[li] == p_cls[pj]
        if class_aware and not same:
            continue
        e_l[ne] = li
        e_p[ne] = pj
        e_w[ne] = v + (_SAME_CLASS_BONUS if same else 0.0) + _SCORE_BONUS * score[pj]
        e_k[ne] = k
        ne += 1
    return ne


@numba.njit(cache=True, nogil=True)
def edge_components(ne, e_l, e_p, loc, n_l, parent, e_root, order):  # pragma: no cover - jit
    """Connected components of the edges ``0:ne`` (labels and inferences as nodes).

    ``loc`` maps a label row ``l`` to its local node and an inference row ``p`` (at
    ``n_l + p``) to its local node. Fills ``e_root[e]`` (a component's id) and
    ``order[:ne]``: the edges grouped by component, in edge order within a component.
    """
    for e in range(ne):
        parent[loc[e_l[e]]] = loc[e_l[e]]
        parent[loc[n_l + e_p[e]]] = loc[n_l + e_p[e]]
    for e in range(ne):
        a = _find(parent, loc[e_l[e]])
        b = _find(parent, loc[n_l + e_p[e]])
        if a != b:
            parent[max(a, b)] = min(a, b)
    for e in range(ne):
        e_root[e] = _find(parent, loc[e_l[e]])
    if ne > 48:
        order[:ne] = np.argsort(e_root[:ne], kind="mergesort")
        return
    # a stable insertion sort (the same order as a stable sort), without allocating
    for e in range(ne):
        z = e
        while z > 0 and e_root[order[z - 1]] > e_root[e]:
            order[z] = order[z - 1]
            z -= 1
        order[z] = e


@numba.njit(cache=True, nogil=True)
def best_edge(edges, s, t, e_w):  # pragma: no cover - jit
    """The choice in a component with one label or one inference (a star): its edge of the
    largest weight, the first in ``edges[s:t]`` (pair order) among equals."""
    best = edges[s]
    for q in range(s + 1, t):
        e = edges[q]
        if e_w[e] > e_w[best]:
            best = e
    return best


@numba.njit(cache=True, nogil=True)
def solve_edges(
    ne, e_l, e_p, e_w, e_k, pair_iou, loc, n_l, parent, e_root, node_l, node_p, l_match, l_iou, p_match,
    order, work_f, work_i,
):  # pragma: no cover - jit
    """The largest-total-weight one-to-one choice among the edges ``0:ne`` of one frame.

    Writes the chosen pairs into ``l_match`` / ``p_match`` (and their IoU into
    ``l_iou``); entries of unchosen nodes are left as they are. The result depends
    only on the edges and their order, so any union of whole components of a frame's
    allowed pairs, given in pair order, is solved exactly as the whole frame is.
    ``order`` (>= ne), ``work_f`` and ``work_i`` (float / int) are work arrays; a
    component too large for the latter two gets its own.
    """
    edge_components(ne, e_l, e_p, loc, n_l, parent, e_root, order)
    s = 0
    while s < ne:
        root = e_root[order[s]]
        t = s
        while t < ne and e_root[order[t]] == root:
            t += 1
        # edges order[s:t] form one component
        if t - s == 1:
            e = order[s]
            l_match[e_l[e]] = e_p[e]
            p_match[e_p[e]] = e_l[e]
            l_iou[e_l[e]] = pair_iou[e_k[e]]
        else:
            # distinct labels / preds of the component, in local order
            nlc = 0
            npc = 0
            for q in range(s, t):
                e = order[q]
                a = e_l[e]
                b = e_p[e]
                seen = False
                for z in range(nlc):
                    if node_l[z] == a:
                        seen = True
                        break
                if not seen:
                    node_l[nlc] = a
                    nlc += 1
                seen = False
                for z in range(npc):
                    if node_p[z] == b:
                        seen = True
                        break
                if not seen:
                    node_p[npc] = b
                    npc += 1
            if nlc == 1 or npc == 1:
                best = best_edge(order, s, t, e_w)
                l_match[e_l[best]] = e_p[best]
                p_match[e_p[best]] = e_l[best]
                l_iou[e_l[best]] = pair_iou[e_k[best]]
            else:
                transpose = nlc > npc
                nr = npc if transpose else nlc
                nc = nlc if transpose else npc
                need_f = nr * nc + (nr + 1) + 2 * (nc + 1)
                need_i = nr * nc + 3 * (nc + 1) + nr
                wf = work_f if need_f <= work_f.shape[0] else np.empty(need_f)
                wi = work_i if need_i <= work_i.shape[0] else np.empty(need_i, dtype=np.int64)
                cost = wf[: nr * nc].reshape((nr, nc))
                cost[:, :] = 0.0
                edge_at = wi[: nr * nc].reshape((nr, nc))
                edge_at[:, :] = -1
                for q in range(s, t):
                    e = order[q]
                    r = 0
                    while node_l[r] != e_l[e]:
                        r += 1
                    c = 0
                    while node_p[c] != e_p[e]:
                        c += 1
                    if transpose:
                        r, c = c, r
                    cost[r, c] = -e_w[e]
                    edge_at[r, c] = e
                f0 = nr * nc
                i0 = nr * nc
                col = wi[i0 + 3 * (nc + 1) : i0 + 3 * (nc + 1) + nr]
                _hungarian_min(
                    cost, wf[f0 : f0 + nr + 1], wf[f0 + nr + 1 : f0 + nr + nc + 2],
                    wi[i0 : i0 + nc + 1], wi[i0 + nc + 1 : i0 + 2 * (nc + 1)],
                    wf[f0 + nr + nc + 2 : f0 + nr + 2 * nc + 3], wi[i0 + 2 * (nc + 1) : i0 + 3 * (nc + 1)], col,
                )
                for r in range(nr):
                    e = edge_at[r, col[r]]
                    if e >= 0:
                        l_match[e_l[e]] = e_p[e]
                        p_match[e_p[e]] = e_l[e]
                        l_iou[e_l[e]] = pair_iou[e_k[e]]
        s = t


@numba.njit(cache=True, nogil=True)
def frame_locals(ls, le, l_order, ps, pe, p_order, n_l, loc):  # pragma: no cover - jit
    """Local node numbers of one frame: its labels ``0..nl-1``, then its inferences."""
    for i in range(ls, le):
        loc[l_order[i]] = i - ls
    for j in range(ps, pe):
        loc[n_l + p_order[j]] = (le - ls) + (j - ps)


@numba.njit(cache=True, nogil=True)
def frame_sizes(l_start, p_start, pair_start, f0, f1):  # pragma: no cover - jit
    """Largest node count and pair count of the frames ``f0:f1`` (at least 1)."""
    max_nodes = 1
    max_pairs = 1
    for f in range(f0, f1):
        max_nodes = max(max_nodes, (l_start[f + 1] - l_start[f]) + (p_start[f + 1] - p_start[f]))
        max_pairs = max(max_pairs, pair_start[f + 1] - pair_start[f])
    return max_nodes, max_pairs


@numba.njit(cache=True, nogil=True)
def match_optimal(
    l_start, l_order, p_start, p_order, pair_start, pair_label, pair_pred, pair_iou, pair_iob,
    l_cls, p_cls, score, l_crowd, conf, thr, class_aware, crowd_mode,
):  # pragma: no cover - jit
    n_frames = l_start.shape[0] - 1
    n_l = l_order.shape[0]
    n_p = p_order.shape[0]
    l_match = np.full(n_l, -1, dtype=np.int64)
    l_iou = np.full(n_l, np.nan)
    p_match = np.full(n_p, -1, dtype=np.int64)
    p_ignored = np.zeros(n_p, dtype=np.bool_)
    loc = np.zeros(n_l + n_p, dtype=np.int64)  # global node -> local node (labels, then preds)
    max_nodes, max_pairs = frame_sizes(l_start, p_start, pair_start, 0, n_frames)
    parent = np.empty(max_nodes, dtype=np.int64)
    e_l = np.empty(max_pairs, dtype=np.int64)
    e_p = np.empty(max_pairs, dtype=np.int64)
    e_w = np.empty(max_pairs, dtype=np.float64)
    e_k = np.empty(max_pairs, dtype=np.int64)
    e_root = np.empty(max_pairs, dtype=np.int64)
    node_l = np.empty(max_nodes, dtype=np.int64)
    node_p = np.empty(max_nodes, dtype=np.int64)
    order = np.empty(max_pairs, dtype=np.int64)
    work_f = np.empty(WORK_SIZE)
    work_i = np.empty(WORK_SIZE, dtype=np.int64)
    for f in range(n_frames):
        ne = frame_edges(
            pair_start[f], pair_start[f + 1], pair_label, pair_pred, pair_iou, l_cls, p_cls, score, l_crowd,
            conf, thr, class_aware, crowd_mode, e_l, e_p, e_w, e_k,
        )
        if ne > 0:
            frame_locals(l_start[f], l_start[f + 1], l_order, p_start[f], p_start[f + 1], p_order, n_l, loc)
            solve_edges(ne, e_l, e_p, e_w, e_k, pair_iou, loc, n_l, parent, e_root, node_l, node_p, l_match, l_iou,
                        p_match, order, work_f, work_i)
        if crowd_mode:
            crowd_ignored(pair_start[f], pair_start[f + 1], pair_label, pair_pred, pair_iob, l_cls, p_cls, score,
                          l_crowd, p_match, conf, thr, class_aware, p_ignored)
    return l_match, l_iou, p_match, p_ignored


@numba.njit(cache=True, nogil=True)
def crowd_ignored(
    ks, ke, pair_label, pair_pred, pair_iob, l_cls, p_cls, score, l_crowd, p_match, conf, thr, class_aware, p_ignored,
):  # pragma: no cover - jit
    """Mark the kept, unmatched inferences of pairs ``ks:ke`` that lie in a crowd region;
    returns how many were newly marked."""
    n = 0
    for k in range(ks, ke):
        li = pair_label[k]
        pj = pair_pred[k]
        if (
            l_crowd[li]
            and p_match[pj] < 0
            and score[pj] >= conf
            and pair_iob[k] >= thr
            and (not class_aware or l_cls[li] == p_cls[pj])
            and not p_ignored[pj]
        ):
            p_ignored[pj] = True
            n += 1
    return n
