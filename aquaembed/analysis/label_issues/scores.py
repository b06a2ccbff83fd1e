"""Label-issue scores: which labels are probably wrong, of what kind, and the suggested fix.

Every label and every inference gets a score in ``[0, 1]`` for each kind of label error
it can be evidence of. The scores use **all** inferences, each weighted by its confidence
(no confidence threshold), so they do not move when the dashboard's sliders move. The
evidence comes from the candidate pairs of the one matcher (every overlapping label /
inference pair with its IoU, :class:`~aquaembed.matching.Candidates`) and, optionally,
from a k-nearest-neighbour consensus over the label crops' embeddings (FAISS).

Kinds
-----
``missing_label`` (an inference)
    A confident inference that overlaps no label: ``s * (1 - cover)``, where ``cover``
    ramps up with its IoU to a same-class label (0.25 -> 0.5) or to any label
    (0.4 -> 0.6); an inference overlapped (IoU >= 0.5) by a more confident one is a
    duplicate detection and is damped (by 75 % at IoU >= 0.6). With embeddings it is
    multiplied by ``0.4 + 0.6 * agree``: the similarity-weighted share of its crop's
    label-crop neighbours that carry the inferred class, times how close those neighbours
    are relative to a label crop's usual neighbours. Last, an inference that is a label's
    suggested box is multiplied by ``1 - bad_location`` of that label (one inference
    explains one error).
``wrong_class`` (a label)
    A confident inference of another class on the label (IoU ramp 0.4 -> 0.6) that is
    not better explained by a label of its own class, against the confidence of a
    same-class inference on it: ``other * (1 - support)``; with embeddings combined
    (``1 - (1 - a)(1 - b)``) with the kNN consensus ``share(c) * (1 - share(own))``
    tempered by the same support and graded by how close the neighbours are. Suggests the class the evidence names.
``bad_location`` (a label)
    The most convincing same-class inference on the label (largest ``s * IoU``, the
    inference's best label): ``s * deficit * plausible``, where ``deficit`` is how far
    its IoU falls below what the model typically reaches on boxes of that size (median
    and 10th percentile of its confident same-class overlaps per size bin: 0 within the
    usual spread, 1 three spreads below the median; damped up to 70 % as the IoU rises
    from 0.4 to 0.7), and ``plausible`` ramps the IoU from
    0.05 to 0.25 (same object). Suggests that inference's box.
``duplicate_label`` (a label)
    Two labels of one frame that overlap (IoU ramp 0.5 -> 0.9; other classes count 0.6):
    the one with the weaker inference support is the duplicate to drop.
``spurious_label`` (a label)
    No inference of any class and confidence overlaps it (IoU ramp 0.3 -> 0.5, weighted
    by confidence), and (with embeddings) its neighbours disagree with its class
    (``1 - share(own)``) without agreeing on one other class (``1 - 0.7 share(c)``: that
    would be a wrong class; a box on background looks like nothing in particular).

Crowd labels get no issues and an inference on a crowd region is no missing label.
Everything is vectorised over the candidate pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aquaembed.analysis.label_issues.neighbours import Neighbours
from aquaembed.data import Dataset, Inferences, Labels
from aquaembed.matching import Candidates, build_candidates

__all__ = ["ISSUE_KINDS", "LABEL_KINDS", "LabelIssueScores", "score_label_issues"]

ISSUE_KINDS: tuple[str, ...] = ("missing_label", "wrong_class", "bad_location", "duplicate_label", "spurious_label")
"""The kinds of label issue, in the order the report names them."""

LABEL_KINDS: tuple[str, ...] = ISSUE_KINDS[1:]
"""Kinds scored per label (``missing_label`` is scored per inference)."""

_SIZE_BINS = 8  # box-size bins for the model's typical IoU
_MIN_REFERENCE = 10  # fewer reference overlaps in a size bin: assume IoU median 0.85, 10th percentile 0.7
_DUP_CONF = 0.05  # inferences below this confidence are not checked for duplicate detections


@dataclass(frozen=True)
class LabelIssueScores:
    """Scores of every label and inference for every kind, with the suggested fixes.

    Attributes
    ----------
    label : dict of kind to float array, shape (L,)
        ``wrong_class``, ``bad_location``, ``duplicate_label``, ``spurious_label``.
    missing : float array, shape (N,)
        ``missing_label`` score of each inference.
    suggested_class : int array, shape (L,)
        Class index the ``wrong_class`` evidence names (-1 none).
    suggested_pred : int array, shape (L,)
        Inference whose box ``bad_location`` suggests (-1 none).
    wrong_class_pred : int array, shape (L,)
        The other-class inference behind ``wrong_class`` (-1 none).
    duplicate_of : int array, shape (L,)
        The label row a ``duplicate_label`` duplicates (-1 none).
    best_iou : float array, shape (L,)
        IoU of the ``bad_location`` inference with the label (NaN none).
    typical_iou : float array, shape (L,)
        The model's typical IoU on boxes the size of each label (what ``bad_location``
        compares against).
    """

    label: dict[str, np.ndarray]
    missing: np.ndarray
    suggested_class: np.ndarray
    suggested_pred: np.ndarray
    wrong_class_pred: np.ndarray
    duplicate_of: np.ndarray
    best_iou: np.ndarray
    typical_iou: np.ndarray


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def _group_max(group: np.ndarray, value: np.ndarray, n: int, fill: float = 0.0) -> np.ndarray:
    out = np.full(n, fill, dtype=np.float64)
    if group.size:
        np.maximum.at(out, group, value)
    return out


def _group_argmax(group: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """Position (into ``group``) of the largest ``value`` per group, -1 for empty groups."""
    out = np.full(n, -1, dtype=np.int64)
    if group.size:
        order = np.lexsort((value, group))
        last = np.r_[group[order][1:] != group[order][:-1], True]
        out[group[order][last]] = order[last]
    return out


def _self_pairs(frame: np.ndarray, cls: np.ndarray, box: np.ndarray, dataset: Dataset) -> Candidates:
    """Overlapping pairs of a box set with itself (the one overlap kernel, via build_candidates)."""
    n = frame.shape[0]
    labels = Labels(
        id=np.arange(n), frame=frame, cls=cls, box=box, area=np.zeros(n), crowd=np.zeros(n, dtype=bool)
    )
    same = Dataset(dataset.classes, dataset.frames, labels)
    return build_candidates(same, Inferences(frame=frame, cls=cls, box=box, score=np.ones(n)))


def _consensus(cls: np.ndarray, sim: np.ndarray, own: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Similarity-weighted class votes of neighbours.

    Returns the share of ``own`` (shape (n,)), the best other class and its share, and
    the mean neighbour similarity (NaN without neighbours).
    """
    n = cls.shape[0]
    ok = cls >= 0
    w = np.where(ok, np.clip(np.nan_to_num(sim, nan=0.0), 1e-3, None), 0.0)
    flat = (np.arange(n)[:, None] * (n_classes + 1) + np.where(ok, cls, n_classes)).ravel()
    votes = np.bincount(flat, weights=w.ravel(), minlength=n * (n_classes + 1)).reshape(n, n_classes + 1)[:, :n_classes]
    total = votes.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    own_c = np.clip(own, 0, n_classes - 1)
    share_own = np.where((total > 0) & (own >= 0), votes[np.arange(n), own_c] / safe, 0.0)
    others = votes.copy()
    others[np.arange(n), own_c] = np.where(own >= 0, -1.0, others[np.arange(n), own_c])
    best = np.argmax(others, axis=1)
    share_best = np.where(total > 0, np.maximum(others[np.arange(n), best], 0.0) / safe, 0.0)
    with np.errstate(invalid="ignore"):
        mean_sim = np.where(ok.any(axis=1), np.nansum(np.where(ok, sim, 0.0), axis=1) / np.maximum(ok.sum(axis=1), 1), np.nan)
    return share_own, np.where(total > 0, best, -1), share_best, mean_sim


def score_label_issues(
    dataset: Dataset,
    inferences: Inferences,
    candidates: Candidates,
    *,
    neighbours: Neighbours | None = None,
) -> LabelIssueScores:
    """Score every label and inference for every kind of label issue.

    Parameters
    ----------
    dataset : Dataset
    inferences : Inferences
        The inference set ``candidates`` was built from.
    candidates : Candidates
        Every overlapping (label, inference) pair (``build_candidates``).
    neighbours : Neighbours, keyword-only, optional
        Label-crop kNN; without it the embedding evidence is left out (the ablation).

    Returns
    -------
    LabelIssueScores
    """
    labels = dataset.labels
    n_l, n_p, n_c = len(labels), len(inferences), dataset.classes.n_classes
    pl, pp, iou = candidates.pair_label, candidates.pair_pred, candidates.pair_iou
    s = inferences.score[pp]
    lcls, pcls = labels.cls[pl], inferences.cls[pp]
    same = lcls == pcls
    crowd_pair = labels.crowd[pl]
    real = ~crowd_pair

    # ---- per inference: its best overlaps with labels
    iou_same_p = _group_max(pp[same & real], iou[same & real], n_p)
    iou_any_p = _group_max(pp[real], iou[real], n_p)
    crowd_cover = _group_max(pp[crowd_pair], candidates.pair_iob[crowd_pair], n_p)

    # ---- missing_label
    cover = np.maximum(_ramp(iou_same_p, 0.25, 0.5), _ramp(iou_any_p, 0.4, 0.6))
    cover = np.maximum(cover, _ramp(crowd_cover, 0.3, 0.5))
    missing = inferences.score * (1.0 - cover)
    hot = np.flatnonzero(inferences.score >= _DUP_CONF)
    if hot.size:
        pairs = _self_pairs(inferences.frame[hot], inferences.cls[hot], inferences.box[hot], dataset)
        a, b = hot[pairs.pair_label], hot[pairs.pair_pred]
        # b is damped by a more confident inference a overlapping it (ties: lower index wins)
        sa, sb = inferences.score[a], inferences.score[b]
        dom = (a != b) & ((sa > sb) | ((sa == sb) & (a < b)))
        damp = _group_max(b[dom], _ramp(pairs.pair_iou[dom], 0.4, 0.6), n_p)
        missing = missing * (1.0 - 0.75 * damp)

    # ---- support of each label by same-class inferences, at matching-level overlap
    hi = _ramp(iou, 0.4, 0.6)
    support = _group_max(pl[same], (s * hi)[same], n_l)
    # an other-class inference counts against the label unless a label of its own class
    # explains it at least as well
    other_ok = ~same & (iou_same_p[pp] < iou)
    other_ev = (s * hi)[other_ok]
    k_other = _group_argmax(pl[other_ok], other_ev, n_l)
    other = np.where(k_other >= 0, other_ev[np.maximum(k_other, 0)] if other_ev.size else 0.0, 0.0)
    other_pos = np.flatnonzero(other_ok)
    wc_pred = np.where(k_other >= 0, pp[other_pos[np.maximum(k_other, 0)]] if other_pos.size else -1, -1)
    wc_class = np.where(wc_pred >= 0, inferences.cls[np.maximum(wc_pred, 0)] if n_p else -1, -1)
    wc_model = other * (1.0 - support)
    wrong = wc_model.copy()
    suggested = wc_class.copy()

    # ---- spurious_label: nothing of any class or confidence on it
    any_support = _group_max(pl, s * _ramp(iou, 0.3, 0.5), n_l)
    spurious = 1.0 - any_support

    if neighbours is not None:
        own_share, knn_cls, knn_share, label_mean = _consensus(neighbours.label_cls, neighbours.label_sim, labels.cls, n_c)
        typical_sim = float(np.nanmedian(label_mean)) if np.isfinite(label_mean).any() else 1.0
        # graded by how close the neighbours are (relative to a label crop's usual
        # neighbours), so that unanimous neighbourhoods do not all tie
        closeness_l = np.clip(np.nan_to_num(label_mean, nan=0.0) / max(typical_sim, 1e-6), 0.0, 1.0)
        knn_wc = knn_share * (1.0 - own_share) * (1.0 - support) * (0.8 + 0.2 * closeness_l)
        agree = knn_cls == wc_class
        combined = 1.0 - (1.0 - wc_model) * (1.0 - knn_wc)
        wrong = np.where(agree | (wc_class < 0), combined, np.maximum(wc_model, knn_wc))
        suggested = np.where((wc_class < 0) | (~agree & (knn_wc > wc_model)), knn_cls, wc_class)
        has_nb = (neighbours.label_cls >= 0).any(axis=1)
        # ... and its neighbours disagree with it without agreeing on one other class
        # (that is a wrong class): a box on background looks like nothing in particular
        spurious = np.where(has_nb, spurious * (1.0 - own_share) * (1.0 - 0.7 * knn_share), spurious)
        # missing_label: do label crops of the inferred class look like this crop?
        p_share, _, _, p_mean = _consensus(neighbours.pred_cls, neighbours.pred_sim, inferences.cls, n_c)
        closeness = np.clip(np.nan_to_num(p_mean, nan=0.0) / max(typical_sim, 1e-6), 0.0, 1.0)
        searched = (neighbours.pred_cls >= 0).any(axis=1)
        missing = np.where(searched, missing * (0.4 + 0.6 * p_share * closeness), missing)
    wrong = np.where(suggested >= 0, wrong, 0.0)

    # ---- bad_location: the most convincing same-class inference overlaps only partly
    own_best = same & real & (iou >= iou_any_p[pp])  # the label is the inference's best label
    # what the model typically reaches on comparable boxes: the IoU quantiles of its
    # confident same-class overlaps, per box-size bin (small boxes reach lower IoUs)
    size = np.sqrt(np.maximum(candidates.label_box_area, 0.0))
    ref = own_best & (s >= 0.5) & (iou >= 0.1)
    edges = np.quantile(size[pl[ref]], np.linspace(0, 1, _SIZE_BINS + 1)[1:-1]) if ref.sum() >= 4 * _SIZE_BINS else np.zeros(0)
    bin_of = np.searchsorted(edges, size)
    q_mid, q_low = np.full(edges.size + 1, 0.85), np.full(edges.size + 1, 0.7)
    if ref.any():
        rb = bin_of[pl[ref]]
        for b_ in np.unique(rb).tolist():  # one pass per size bin (a handful)
            vals = iou[ref][rb == b_]
            if vals.size >= _MIN_REFERENCE:
                q_mid[b_], q_low[b_] = np.quantile(vals, 0.5), np.quantile(vals, 0.1)
    ev = (s * iou)[own_best]
    k_loc = _group_argmax(pl[own_best], ev, n_l)
    loc_pos = np.flatnonzero(own_best)
    has_loc = k_loc >= 0
    pos = loc_pos[np.maximum(k_loc, 0)] if loc_pos.size else np.zeros(n_l, dtype=np.int64)
    best_iou = np.where(has_loc, iou[pos] if loc_pos.size else np.nan, np.nan)
    t_mid, t_low = q_mid[bin_of], q_low[bin_of]
    spread = np.maximum(t_mid - t_low, 0.02)
    # 0 while the IoU is within the usual spread, 1 at three spreads below the median
    deficit = np.clip(((t_mid - np.nan_to_num(best_iou)) / spread - 1.0) / 2.0, 0.0, 1.0)
    # ... weighed by how far below the matching threshold it falls (an IoU of 0.7 is the
    # model's jitter more often than a misplaced box)
    deficit = deficit * (1.0 - 0.7 * _ramp(np.nan_to_num(best_iou), 0.4, 0.7))
    bad_loc = np.where(has_loc, (s[pos] if loc_pos.size else 0.0) * deficit * _ramp(np.nan_to_num(best_iou), 0.05, 0.25), 0.0)
    typical = t_mid
    loc_pred = np.where(has_loc, pp[pos] if loc_pos.size else -1, -1)

    # one inference explains one error: an inference that is a label's suggested box is
    # that label's bad location more than a missing label of its own
    explained = _group_max(loc_pred[loc_pred >= 0], bad_loc[loc_pred >= 0], n_p)
    missing = missing * (1.0 - explained)

    # ---- duplicate_label: two labels of one object
    dup = np.zeros(n_l)
    dup_of = np.full(n_l, -1, dtype=np.int64)
    if n_l:
        lpairs = _self_pairs(labels.frame, labels.cls, labels.box, dataset)
        a, b = lpairs.pair_label, lpairs.pair_pred
        keep = (a != b) & ~labels.crowd[a] & ~labels.crowd[b]
        # the weaker-supported label of the pair is the duplicate (ties: the higher id)
        weaker = (support[b] < support[a]) | ((support[b] == support[a]) & (labels.id[b] > labels.id[a]))
        keep &= weaker
        a, b, piou = a[keep], b[keep], lpairs.pair_iou[keep]
        val = _ramp(piou, 0.5, 0.9) * np.where(labels.cls[a] == labels.cls[b], 1.0, 0.6)
        k_dup = _group_argmax(b, val, n_l)
        has = k_dup >= 0
        dup[has] = val[k_dup[has]]
        dup_of[has] = a[k_dup[has]]

    crowd = labels.crowd
    scores = {
        "wrong_class": np.where(crowd, 0.0, wrong),
        "bad_location": np.where(crowd, 0.0, bad_loc),
        "duplicate_label": np.where(crowd, 0.0, dup),
        "spurious_label": np.where(crowd, 0.0, spurious),
    }
    return LabelIssueScores(
        label=scores,
        missing=missing,
        suggested_class=np.where(scores["wrong_class"] > 0, suggested, -1).astype(np.int64),
        suggested_pred=loc_pred.astype(np.int64),
        wrong_class_pred=wc_pred.astype(np.int64),
        duplicate_of=dup_of,
        best_iou=best_iou,
        typical_iou=typical,
    )
