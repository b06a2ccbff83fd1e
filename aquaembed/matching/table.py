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

import numpy as np

from aquaembed.errors import ParameterError
from aquaembed.matching.candidates import Candidates
from aquaembed.matching.greedy import match_greedy
from aquaembed.matching.kernels import match_optimal
from aquaembed.matching.options import MatchOptions

__all__ = ["TP", "FP", "FN", "CONFUSION", "IGNORED", "TYPE_NAMES", "MatchTable", "Assignment", "match", "assign"]

TP, FP, FN, CONFUSION, IGNORED = 0, 1, 2, 3, 4
TYPE_NAMES: tuple[str, ...] = ("TP", "FP", "FN", "confusion", "ignored")


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
        l_match, l_iou, p_match, p_ignored = match_optimal(
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
    _, ignored, first_label = match_greedy(
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

    # rows by frame, then labels (by row) before unmatched inferences (by row): one
    # composite key, unique per row, sorts in one pass what a three-key lexsort would
    span = np.int64(c.n_labels + c.n_preds + 1)
    order = np.argsort(frame * span + np.where(label >= 0, label, c.n_labels + pred), kind="stable")
    return MatchTable(
        frame=frame[order], label=label[order], pred=pred[order], label_class=label_class[order],
        pred_class=pred_class[order], iou=iou_col[order], score=score[order], type=typ[order],
        label_area=label_area[order], pred_area=pred_area[order], n_frames=c.n_frames,
        n_classes=c.n_classes, n_labels=c.n_labels, n_preds=c.n_preds, options=options,
    )
