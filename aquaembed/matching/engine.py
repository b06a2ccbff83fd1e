"""THE matching engine: inferences to labels, producing the match table.

Everything aquaembed says about correctness (confusion matrix, per-class and per-frame
metrics, crop confusion types, PR curves, COCO mAP, label-error rankings, dashboard
colours) is derived from what this module returns. There is no other matcher.

Work is split in two so a threshold slider is cheap:

1. :func:`build_candidates` computes, once per inference set, every (label, inference)
   pair of the same frame that overlaps at all (IoU > 0), across classes.
2. :func:`match` applies a confidence and an IoU threshold to those candidates and
   chooses the one-to-one pairs, by default as DESIGN.md states:

   * inferences with ``score < conf`` are discarded (``score == conf`` is kept);
   * pairs with ``IoU >= iou`` are allowed, **across classes**;
   * per frame, the allowed pairs are assigned one-to-one with the **largest total
     IoU** (an optimal assignment). Exact ties are broken towards pairs whose classes
     agree, then towards higher confidence, so the result does not depend on the input
     order (the tie-breaks weigh 1e-9 and 1e-12 of an IoU unit per pair);
   * unmatched labels are FN, unmatched kept inferences FP, matched pairs TP when the
     classes agree and ``confusion`` otherwise.

   Frames whose candidate graph splits into components of one label or one inference
   are solved directly; only components with several labels *and* several inferences
   run an assignment solver (Hungarian, shortest augmenting path).

Options (never the default): ``class_aware`` allows only same-class pairs; ``mode=
"greedy"`` takes inferences by descending confidence, each choosing its best remaining
label (COCO's rule); ``crowd`` treats COCO ``iscrowd`` labels as regions: they are never
FN, and a kept inference left unmatched that lies inside one (intersection over the
inference's area ``>= iou``) is ``ignored``, neither TP nor FP.

The greedy kernel also serves COCO mAP (:func:`coco_matches`), evaluating the ten IoU
thresholds and four area ranges of ``COCOeval`` in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from aquaembed.data import Dataset, Inferences
from aquaembed.errors import InputError, ParameterError
from aquaembed.geometry import overlap
from aquaembed.matching.options import MatchOptions

__all__ = [
    "TP",
    "FP",
    "FN",
    "CONFUSION",
    "IGNORED",
    "TYPE_NAMES",
    "Candidates",
    "MatchTable",
    "build_candidates",
    "match",
    "assign",
    "Assignment",
    "coco_matches",
    "CocoMatches",
]

TP, FP, FN, CONFUSION, IGNORED = 0, 1, 2, 3, 4
TYPE_NAMES: tuple[str, ...] = ("TP", "FP", "FN", "confusion", "ignored")

_SAME_CLASS_BONUS = 1e-9
_SCORE_BONUS = 1e-12


# --------------------------------------------------------------------------- candidates


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


def _group_by_frame(frame: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
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
def _fill_pairs(l_start, l_order, l_box, p_start, p_order, p_box, pair_start):  # pragma: no cover
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
                iou, iob, inter = overlap(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3])
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
    l_start, l_order = _group_by_frame(labels.frame, n_frames)
    p_start, p_order = _group_by_frame(inferences.frame, n_frames)
    counts = _count_pairs(l_start, l_order, labels.box, p_start, p_order, inferences.box)
    pair_start = np.zeros(n_frames + 1, dtype=np.int64)
    np.cumsum(counts, out=pair_start[1:])
    pl, pp, piou, piob = _fill_pairs(l_start, l_order, labels.box, p_start, p_order, inferences.box, pair_start)
    lb, pb = labels.box, inferences.box
    return Candidates(
        n_frames=n_frames,
        n_classes=dataset.classes.n_classes,
        label_frame=labels.frame,
        label_cls=labels.cls,
        label_crowd=labels.crowd,
        label_area=labels.area,
        label_box_area=(lb[:, 2] - lb[:, 0]) * (lb[:, 3] - lb[:, 1]),
        pred_frame=inferences.frame,
        pred_cls=inferences.cls,
        pred_score=inferences.score,
        pred_box_area=(pb[:, 2] - pb[:, 0]) * (pb[:, 3] - pb[:, 1]),
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


# --------------------------------------------------------------------------- assignment


@numba.njit(cache=True, nogil=True)
def _hungarian_min(cost):  # pragma: no cover - jit
    """Minimum-cost assignment of every row of ``cost`` (rows <= cols) to a distinct column.

    Shortest-augmenting-path Hungarian algorithm with potentials, O(n^2 m).
    Returns the column of each row.
    """
    n, m = cost.shape
    inf = np.inf
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    p = np.zeros(m + 1, dtype=np.int64)
    way = np.zeros(m + 1, dtype=np.int64)
    minv = np.empty(m + 1)
    used = np.zeros(m + 1, dtype=np.bool_)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv[:] = inf
        used[:] = False
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = inf
            j1 = 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = cost[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j]:
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
    col = np.full(n, -1, dtype=np.int64)
    for j in range(1, m + 1):
        if p[j] != 0:
            col[p[j] - 1] = j - 1
    return col


@numba.njit(cache=True, nogil=True)
def _find(parent, x):  # pragma: no cover - jit
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True, nogil=True)
def _match_optimal(
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
    max_nodes = 1
    max_pairs = 1
    for f in range(n_frames):
        max_nodes = max(max_nodes, (l_start[f + 1] - l_start[f]) + (p_start[f + 1] - p_start[f]))
        max_pairs = max(max_pairs, pair_start[f + 1] - pair_start[f])
    parent = np.empty(max_nodes, dtype=np.int64)
    e_l = np.empty(max_pairs, dtype=np.int64)
    e_p = np.empty(max_pairs, dtype=np.int64)
    e_w = np.empty(max_pairs, dtype=np.float64)
    e_k = np.empty(max_pairs, dtype=np.int64)
    e_root = np.empty(max_pairs, dtype=np.int64)
    node_l = np.empty(max_nodes, dtype=np.int64)
    node_p = np.empty(max_nodes, dtype=np.int64)
    for f in range(n_frames):
        ls, le = l_start[f], l_start[f + 1]
        ps, pe = p_start[f], p_start[f + 1]
        nl = le - ls
        ne = 0
        for k in range(pair_start[f], pair_start[f + 1]):
            li = pair_label[k]
            pj = pair_pred[k]
            if score[pj] < conf:
                continue
            if crowd_mode and l_crowd[li]:
                continue
            same = l_cls[li] == p_cls[pj]
            if class_aware and not same:
                continue
            v = pair_iou[k]
            if v < thr:
                continue
            e_l[ne] = li
            e_p[ne] = pj
            e_w[ne] = v + (_SAME_CLASS_BONUS if same else 0.0) + _SCORE_BONUS * score[pj]
            e_k[ne] = k
            ne += 1
        if ne > 0:
            for i in range(ls, le):
                loc[l_order[i]] = i - ls
            for j in range(ps, pe):
                loc[n_l + p_order[j]] = nl + (j - ps)
            n_nodes = nl + (pe - ps)
            for x in range(n_nodes):
                parent[x] = x
            for e in range(ne):
                a = _find(parent, loc[e_l[e]])
                b = _find(parent, loc[n_l + e_p[e]])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            for e in range(ne):
                e_root[e] = _find(parent, loc[e_l[e]])
            order = np.argsort(e_root[:ne], kind="mergesort")
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
                        best = order[s]
                        for q in range(s + 1, t):
                            e = order[q]
                            if e_w[e] > e_w[best]:
                                best = e
                        l_match[e_l[best]] = e_p[best]
                        p_match[e_p[best]] = e_l[best]
                        l_iou[e_l[best]] = pair_iou[e_k[best]]
                    else:
                        transpose = nlc > npc
                        nr = npc if transpose else nlc
                        nc = nlc if transpose else npc
                        cost = np.zeros((nr, nc))
                        edge_at = np.full((nr, nc), -1, dtype=np.int64)
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
                        col = _hungarian_min(cost)
                        for r in range(nr):
                            e = edge_at[r, col[r]]
                            if e >= 0:
                                l_match[e_l[e]] = e_p[e]
                                p_match[e_p[e]] = e_l[e]
                                l_iou[e_l[e]] = pair_iou[e_k[e]]
                s = t
        if crowd_mode:
            for k in range(pair_start[f], pair_start[f + 1]):
                li = pair_label[k]
                pj = pair_pred[k]
                if (
                    l_crowd[li]
                    and p_match[pj] < 0
                    and score[pj] >= conf
                    and pair_iob[k] >= thr
                    and (not class_aware or l_cls[li] == p_cls[pj])
                ):
                    p_ignored[pj] = True
    return l_match, l_iou, p_match, p_ignored


@numba.njit(cache=True, nogil=True)
def _match_greedy(
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


# --------------------------------------------------------------------------- match table


@dataclass(frozen=True, eq=False)
class MatchTable:
    """One row per matched pair, per unmatched label and per unmatched kept inference.

    Attributes
    ----------
    frame : int64 array, shape (R,)
        Frame row index.
    label, pred : int64 arrays, shape (R,)
        Label row / inference row (the inference's position in its results file);
        ``-1`` where the row has none.
    label_class, pred_class : int64 arrays, shape (R,)
        Class indices; ``n_classes`` (the background) where the row has no label /
        no inference.
    iou : float64 array, shape (R,)
        IoU of a matched pair; NaN otherwise.
    score : float64 array, shape (R,)
        Confidence of the inference; NaN for a row without one.
    type : int8 array, shape (R,)
        :data:`TP`, :data:`FP`, :data:`FN`, :data:`CONFUSION` or :data:`IGNORED`.
    label_area, pred_area : float64 arrays, shape (R,)
        Box areas in square pixels; NaN where absent.
    n_frames, n_classes, n_labels, n_preds : int
        Sizes of what was matched (``n_preds`` counts all inferences, kept or not).
    options : MatchOptions
        The options it was matched with (``conf`` and ``iou_threshold`` are shortcuts).
    """

    frame: np.ndarray
    label: np.ndarray
    pred: np.ndarray
    label_class: np.ndarray
    pred_class: np.ndarray
    iou: np.ndarray
    score: np.ndarray
    type: np.ndarray
    label_area: np.ndarray
    pred_area: np.ndarray
    n_frames: int
    n_classes: int
    n_labels: int
    n_preds: int
    options: MatchOptions

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    @property
    def conf(self) -> float:
        """The confidence threshold the table was matched at."""
        return self.options.conf

    @property
    def iou_threshold(self) -> float:
        """The IoU threshold the table was matched at."""
        return self.options.iou

    def type_names(self) -> np.ndarray:
        """Row types as strings (``"TP"``, ``"FP"``, ``"FN"``, ``"confusion"``, ``"ignored"``)."""
        return np.asarray(TYPE_NAMES, dtype=object)[self.type]


def match(candidates: Candidates, options: MatchOptions | None = None) -> MatchTable:
    """Match inferences to labels.

    Parameters
    ----------
    candidates : Candidates
        From :func:`build_candidates`.
    options : MatchOptions, optional
        Thresholds and mode; default ``MatchOptions()`` (conf 0.5, IoU 0.5, optimal,
        class-agnostic).

    Returns
    -------
    MatchTable
    """
    options = _options(options)
    a = assign(candidates, options)
    return _table(
        candidates, options, a.crowd_labels, a.label_match, a.label_iou, a.pred_match, a.pred_ignored,
    )


def _options(options: MatchOptions | None) -> MatchOptions:
    if options is None:
        return MatchOptions()
    if not isinstance(options, MatchOptions):
        raise ParameterError(
            f"options must be a MatchOptions, got {type(options).__name__}", parameter="options"
        )
    return options


@dataclass(frozen=True, eq=False)
class Assignment:
    """The raw outcome of one matching run, before it is laid out as a :class:`MatchTable`.

    Attributes
    ----------
    label_match : int64 array, shape (L,)
        Inference row matched to each label, or -1.
    label_iou : float64 array, shape (L,)
        IoU of that pair (NaN when unmatched).
    pred_match : int64 array, shape (N,)
        Label row matched to each inference, or -1.
    pred_ignored : bool array, shape (N,)
        Kept inferences that lie in a crowd region (crowd mode).
    crowd_labels : bool array, shape (L,)
        Labels treated as crowd regions (all False unless crowd mode).
    kept : bool array, shape (N,)
        Inferences at or above the confidence threshold.
    """

    label_match: np.ndarray
    label_iou: np.ndarray
    pred_match: np.ndarray
    pred_ignored: np.ndarray
    crowd_labels: np.ndarray
    kept: np.ndarray


def assign(candidates: Candidates, options: MatchOptions | None = None) -> Assignment:
    """Run the matcher and return the raw assignment (what :func:`match` tabulates).

    Parameters are those of :func:`match`. Use this where only counts are needed at
    many thresholds (PR curves): it skips building the table.
    """
    options = _options(options)
    conf, iou, mode = options.conf, options.iou, options.mode
    class_aware, crowd = options.class_aware, options.crowd
    c = candidates
    crowd_flags = c.label_crowd if crowd else np.zeros_like(c.label_crowd)
    if mode == "optimal":
        l_match, l_iou, p_match, p_ignored = _match_optimal(
            c.label_start, c.label_order, c.pred_start, c.pred_order, c.pair_start,
            c.pair_label, c.pair_pred, c.pair_iou, c.pair_iob,
            c.label_cls, c.pred_cls, c.pred_score, crowd_flags, conf, iou, class_aware, crowd,
        )
    else:
        l_match, l_iou, p_match, p_ignored = _greedy_as_assignment(c, conf, iou, class_aware, crowd_flags)
    return Assignment(l_match, l_iou, p_match, p_ignored, crowd_flags, c.pred_score >= conf)


def _greedy_as_assignment(
    c: Candidates, conf: float, iou: float, class_aware: bool, crowd_flags: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    kept = np.flatnonzero(c.pred_score >= conf)
    key_div = np.int64(c.n_classes) if class_aware else np.int64(1)
    key_d_all = c.pred_frame * key_div + c.pred_cls if class_aware else c.pred_frame
    key_l_all = c.label_frame * key_div + c.label_cls if class_aware else c.label_frame
    d_order = kept[np.argsort(-c.pred_score[kept], kind="stable")]
    d_order = d_order[np.argsort(key_d_all[d_order], kind="stable")].astype(np.int64)
    l_order = np.argsort(key_l_all, kind="stable").astype(np.int64)
    gt_ig = crowd_flags[None, :].copy()
    dt_out = np.zeros((1, c.n_preds), dtype=bool)
    _, ignored, first_label = _match_greedy(
        key_d_all[d_order], d_order, key_l_all[l_order], l_order, key_div, c.pair_start, c.pair_label,
        c.pair_pred, c.pair_iou, c.pair_iob, crowd_flags, gt_ig, dt_out, np.array([iou]),
    )
    p_match = np.full(c.n_preds, -1, dtype=np.int64)
    p_match[d_order] = first_label
    p_ignored = np.zeros(c.n_preds, dtype=bool)
    p_ignored[d_order] = ignored[:, 0, 0]
    # a match with a crowd region is "ignored", not a pair
    on_crowd = p_match >= 0
    on_crowd[on_crowd] = crowd_flags[p_match[on_crowd]]
    p_ignored |= on_crowd
    p_match[on_crowd] = -1
    l_match = np.full(c.n_labels, -1, dtype=np.int64)
    matched = np.flatnonzero(p_match >= 0)
    l_match[p_match[matched]] = matched
    l_iou = np.full(c.n_labels, np.nan)
    if matched.size:
        l_iou[p_match[matched]] = _pair_values(c, p_match[matched], matched)
    return l_match, l_iou, p_match, p_ignored


def _pair_values(c: Candidates, labels: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """IoU of given (label, inference) pairs, looked up in the candidate table."""
    key_pairs = c.pair_label * np.int64(max(c.n_preds, 1)) + c.pair_pred
    order = np.argsort(key_pairs, kind="stable")
    sorted_keys = key_pairs[order]
    want = labels * np.int64(max(c.n_preds, 1)) + preds
    pos = np.searchsorted(sorted_keys, want)
    return c.pair_iou[order[pos]]


def _table(
    c: Candidates, options: MatchOptions,
    crowd_flags: np.ndarray, l_match: np.ndarray, l_iou: np.ndarray, p_match: np.ndarray,
    p_ignored: np.ndarray,
) -> MatchTable:
    bg = c.n_classes
    kept = c.pred_score >= options.conf
    lab = np.arange(c.n_labels, dtype=np.int64)
    pred_rows = np.flatnonzero(kept & (p_match < 0)).astype(np.int64)
    n_l, n_u = lab.shape[0], pred_rows.shape[0]

    frame = np.concatenate([c.label_frame, c.pred_frame[pred_rows]])
    label = np.concatenate([lab, np.full(n_u, -1, dtype=np.int64)])
    pred = np.concatenate([l_match, pred_rows])
    has_pred = pred >= 0
    pred_safe = np.where(has_pred, pred, 0)
    label_class = np.concatenate([c.label_cls, np.full(n_u, bg, dtype=np.int64)])
    pred_class = np.where(has_pred, c.pred_cls[pred_safe] if c.n_preds else bg, bg).astype(np.int64)
    score = np.where(has_pred, c.pred_score[pred_safe] if c.n_preds else np.nan, np.nan)
    iou_col = np.concatenate([l_iou, np.full(n_u, np.nan)])
    label_area = np.concatenate([c.label_box_area, np.full(n_u, np.nan)])
    pred_area = np.where(has_pred, c.pred_box_area[pred_safe] if c.n_preds else np.nan, np.nan)

    typ = np.empty(n_l + n_u, dtype=np.int8)
    matched = np.concatenate([l_match >= 0, np.zeros(n_u, dtype=bool)])
    typ[:n_l] = FN
    typ[n_l:] = np.where(p_ignored[pred_rows], IGNORED, FP)
    typ[matched & (label_class == pred_class)] = TP
    typ[matched & (label_class != pred_class)] = CONFUSION
    if options.crowd:
        typ[:n_l][crowd_flags] = IGNORED

    order = np.lexsort((pred, np.where(label >= 0, label, c.n_labels), frame))
    return MatchTable(
        frame=frame[order], label=label[order], pred=pred[order], label_class=label_class[order],
        pred_class=pred_class[order], iou=iou_col[order], score=score[order], type=typ[order],
        label_area=label_area[order], pred_area=pred_area[order], n_frames=c.n_frames,
        n_classes=c.n_classes, n_labels=c.n_labels, n_preds=c.n_preds, options=options,
    )


# --------------------------------------------------------------------------- COCO


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
    matched, ignored, _ = _match_greedy(
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
