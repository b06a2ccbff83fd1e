"""The matching engine: hand-worked cases for every rule of DESIGN.md, and properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aquaembed.errors import ParameterError
from aquaembed.geometry import box_iou
from aquaembed.matching import CONFUSION, FN, FP, IGNORED, TP, MatchOptions, match
from aquaembed.metrics import class_report, confusion_matrix, frame_report, overall_report
from factories import make_candidates as make
from strategies import frame_sets


def pairs(table):
    m = table.label >= 0
    m &= table.pred >= 0
    return sorted(zip(table.label[m].tolist(), table.pred[m].tolist()))


# Boxes with IoU .64 (P1-A), .56 (P1-B), .60 (P2-A): 1-D intervals of height 10.
A = [0, 0, 100, 10]
P1 = [36, 0, 100, 10]
B = [36, 0, 36 + 64 / 0.56, 10]
P2 = [0, 0, 60, 10]


def test_design_example_optimal_beats_greedy():
    c = make([(0, 0, A), (0, 0, B)], [(0, 0, P1, 0.9), (0, 0, P2, 0.8)])
    iou = box_iou(np.array([A, B]), np.array([P1, P2]))
    assert iou[0, 0] == pytest.approx(0.64) and iou[1, 0] == pytest.approx(0.56) and iou[0, 1] == pytest.approx(0.60)
    assert iou[1, 1] < 0.5
    optimal = match(c)
    assert pairs(optimal) == [(0, 1), (1, 0)]  # A-P2, B-P1
    assert (optimal.type == TP).sum() == 2
    greedy = match(c, MatchOptions(mode="greedy"))
    assert pairs(greedy) == [(0, 0)]  # P1 takes A, B is missed
    assert sorted(greedy.type.tolist()) == sorted([TP, FN, FP])


def test_duplicate_detection_stays_unmatched():
    c = make([(0, 0, [0, 0, 10, 10])], [(0, 0, [0, 0, 10, 10], 0.9), (0, 0, [0, 0, 10, 9], 0.95)])
    t = match(c)
    assert pairs(t) == [(0, 0)]  # the higher IoU wins, not the higher score
    assert (t.type == FP).sum() == 1 and t.pred[t.type == FP].tolist() == [1]


def test_confidence_threshold_keeps_equal_score():
    c = make([(0, 0, [0, 0, 10, 10])], [(0, 0, [0, 0, 10, 10], 0.5), (0, 0, [20, 20, 30, 30], np.nextafter(0.5, 0))])
    t = match(c, MatchOptions(conf=0.5))
    assert pairs(t) == [(0, 0)]
    assert 1 not in t.pred.tolist()  # below the threshold: not in the table at all
    assert len(t) == 1


def test_iou_threshold_is_inclusive():
    # IoU exactly 0.5: [0,0,10,10] vs [0,0,10,5]
    c = make([(0, 0, [0, 0, 10, 10])], [(0, 0, [0, 0, 10, 5], 0.9)])
    assert box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 5]]))[0, 0] == 0.5
    assert pairs(match(c, MatchOptions(iou=0.5))) == [(0, 0)]
    assert pairs(match(c, MatchOptions(iou=np.nextafter(0.5, 1)))) == []


def test_empty_frames_and_one_sided_frames():
    c = make(
        [(1, 0, [0, 0, 10, 10])],
        [(2, 1, [0, 0, 10, 10], 0.9)],
        n_frames=3,
    )
    t = match(c)
    fr = frame_report(t)
    assert fr.tp.tolist() == [0, 0, 0]
    assert fr.fp.tolist() == [0, 0, 1]
    assert fr.fn.tolist() == [0, 1, 0]
    assert np.isnan([fr.precision[0], fr.recall[0], fr.f1[0]]).all()  # empty frame
    assert np.isnan(fr.precision[1]) and fr.recall[1] == 0 and fr.f1[1] == 0  # only labels
    assert fr.precision[2] == 0 and np.isnan(fr.recall[2]) and fr.f1[2] == 0  # only inferences


def test_cross_class_match_is_a_confusion():
    c = make([(0, 0, [0, 0, 10, 10])], [(0, 1, [0, 0, 10, 10], 0.9)])
    t = match(c)
    assert t.type.tolist() == [CONFUSION]
    cm = confusion_matrix(t)
    assert cm[0, 1] == 1 and cm.sum() == 1
    rep = class_report(t)
    assert rep.fn.tolist() == [1, 0, 0] and rep.fp.tolist() == [0, 1, 0] and rep.tp.sum() == 0
    ov = overall_report(t)
    assert (ov.tp, ov.fp, ov.fn) == (0, 1, 1)
    # class-aware matching refuses the pair: an FN and an FP, in the background cells
    t2 = match(c, MatchOptions(class_aware=True))
    assert sorted(t2.type.tolist()) == [FP, FN]
    cm2 = confusion_matrix(t2)
    assert cm2[0, 3] == 1 and cm2[3, 1] == 1


def test_background_row_and_column_and_class_order():
    c = make(
        [(0, 0, [0, 0, 10, 10]), (0, 2, [50, 50, 60, 60])],
        [(0, 0, [0, 0, 10, 10], 0.9), (0, 1, [100, 100, 110, 110], 0.9)],
    )
    cm = confusion_matrix(match(c))
    expected = np.zeros((4, 4), int)
    expected[0, 0] = 1  # TP
    expected[2, 3] = 1  # missed c2
    expected[3, 1] = 1  # false c1
    assert (cm == expected).all()
    rep = class_report(match(c))
    assert np.isnan(rep.recall[1]) and rep.precision[1] == 0  # c1: no labels
    assert np.isnan(rep.precision[2]) and rep.recall[2] == 0  # c2: no inferences


def test_equal_iou_prefers_agreeing_class_then_confidence():
    box = [0, 0, 10, 10]
    c = make([(0, 0, box)], [(0, 1, box, 0.9), (0, 0, box, 0.6)])
    t = match(c)
    assert pairs(t) == [(0, 1)]
    c = make([(0, 0, box)], [(0, 0, box, 0.6), (0, 0, box, 0.9)])
    assert pairs(match(c)) == [(0, 1)]


def test_all_ratios_undefined_without_boxes():
    c = make([], [], n_frames=2)
    t = match(c)
    ov = overall_report(t)
    assert (ov.tp, ov.fp, ov.fn) == (0, 0, 0)
    assert np.isnan([ov.precision, ov.recall, ov.f1]).all()
    assert confusion_matrix(t).sum() == 0


def test_crowd_option():
    crowd_box = [0, 0, 100, 100]
    c = make(
        [(0, 0, crowd_box), (0, 0, [200, 200, 210, 210])],
        [(0, 0, [10, 10, 20, 20], 0.9), (0, 0, [300, 300, 310, 310], 0.9)],
        crowd=[True, False],
    )
    default = match(c)  # crowd labels are ordinary labels by default
    assert (default.type == FN).sum() == 2 and (default.type == FP).sum() == 2
    t = match(c, MatchOptions(crowd=True))
    types = dict(zip(zip(t.label.tolist(), t.pred.tolist()), t.type.tolist()))
    assert types[(0, -1)] == IGNORED  # the crowd region is never missed
    assert types[(-1, 0)] == IGNORED  # inside the crowd region: neither TP nor FP
    assert types[(1, -1)] == FN and types[(-1, 1)] == FP
    cm = confusion_matrix(t)
    assert cm.sum() == 2


def test_threshold_validation():
    c = make([], [])
    for kw in ({"conf": -0.1}, {"conf": 1.1}, {"iou": 0.0}, {"iou": 1.5}, {"conf": float("nan")}):
        with pytest.raises(ParameterError):
            match(c, MatchOptions(**kw))
    with pytest.raises(ParameterError):
        match(c, MatchOptions(mode="hungarian"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties

def brute_force_best(labels, preds, conf, iou, n_frames, class_aware=False):
    total = 0.0
    for f in range(n_frames):
        ls = [x for x in labels if x[0] == f]
        ps = [x for x in preds if x[0] == f and x[3] >= conf]
        if not ls or not ps:
            continue
        m = box_iou(np.array([x[2] for x in ls], float), np.array([x[2] for x in ps], float))
        best = 0.0
        k = min(len(ls), len(ps))
        for r in range(1, k + 1):
            for lsub in itertools.combinations(range(len(ls)), r):
                for psub in itertools.permutations(range(len(ps)), r):
                    vals = [m[i, j] for i, j in zip(lsub, psub)]
                    if all(v >= iou for v in vals) and (
                        not class_aware or all(ls[i][1] == ps[j][1] for i, j in zip(lsub, psub))
                    ):
                        best = max(best, sum(vals))
        total += best
    return total


@given(frame_sets(), st.booleans())
def test_every_box_once_and_counts_add_up(case, class_aware):
    labels, preds, n_frames, conf, iou = case
    t = match(make(labels, preds, n_frames=n_frames), MatchOptions(conf=conf, iou=iou, class_aware=class_aware))
    kept = sum(p[3] >= conf for p in preds)
    lab = t.label[t.label >= 0]
    prd = t.pred[t.pred >= 0]
    assert sorted(lab.tolist()) == list(range(len(labels)))
    assert len(set(prd.tolist())) == prd.size == kept
    ov = overall_report(t)
    assert ov.tp + ov.fn == len(labels)
    assert ov.tp + ov.fp == kept
    fr = frame_report(t)
    assert fr.tp.sum() == ov.tp and fr.fp.sum() == ov.fp and fr.fn.sum() == ov.fn
    matched = (t.label >= 0) & (t.pred >= 0)
    assert (t.iou[matched] >= iou).all() and np.isnan(t.iou[~matched]).all()
    if class_aware:
        assert (t.type != CONFUSION).all()


@given(frame_sets(), st.booleans())
def test_total_iou_is_maximal(case, class_aware):
    labels, preds, n_frames, conf, iou = case
    t = match(make(labels, preds, n_frames=n_frames), MatchOptions(conf=conf, iou=iou, class_aware=class_aware))
    ours = np.nansum(t.iou)
    assert ours == pytest.approx(brute_force_best(labels, preds, conf, iou, n_frames, class_aware), abs=1e-6)


@given(frame_sets(), st.randoms(use_true_random=False))
def test_independent_of_input_order(case, rnd):
    labels, preds, n_frames, conf, iou = case
    t1 = match(make(labels, preds, n_frames=n_frames), MatchOptions(conf=conf, iou=iou))
    labels2, preds2 = list(labels), list(preds)
    rnd.shuffle(labels2)
    rnd.shuffle(preds2)
    t2 = match(make(labels2, preds2, n_frames=n_frames), MatchOptions(conf=conf, iou=iou))
    assert (confusion_matrix(t1) == confusion_matrix(t2)).all()
    assert np.nansum(t1.iou) == pytest.approx(np.nansum(t2.iou), abs=1e-9)
    for k in ("tp", "fp", "fn"):
        assert (getattr(frame_report(t1), k) == getattr(frame_report(t2), k)).all()


def greedy_reference(labels, preds, conf, iou, n_frames):
    """COCO's greedy rule, written plainly: by descending score, best remaining label."""
    total = 0.0
    for f in range(n_frames):
        ls = [x for x in labels if x[0] == f]
        ps = sorted((x for x in preds if x[0] == f and x[3] >= conf), key=lambda p: -p[3])
        used = set()
        for p in ps:
            best, m = iou, -1
            for i, lab in enumerate(ls):
                if i in used:
                    continue
                v = box_iou(np.array([lab[2]], float), np.array([p[2]], float))[0, 0]
                if v >= best:
                    best, m = v, i
            if m >= 0:
                used.add(m)
                total += best
    return total


@given(frame_sets())
def test_greedy_mode_matches_plain_greedy(case):
    labels, preds, n_frames, conf, iou = case
    # distinct scores so that the processing order is unambiguous
    preds = [(f, c, b, round(0.05 + 0.9 * (i + 1) / (len(preds) + 1), 6)) for i, (f, c, b, _) in enumerate(preds)]
    t = match(make(labels, preds, n_frames=n_frames), MatchOptions(conf=conf, iou=iou, mode="greedy"))
    assert np.nansum(t.iou) == pytest.approx(greedy_reference(labels, preds, conf, iou, n_frames), abs=1e-9)


@given(frame_sets(), st.booleans(), st.booleans())
def test_pr_curve_equals_the_class_report_at_each_threshold(case, class_aware, crowd):
    from aquaembed.metrics import pr_curve

    labels, preds, n_frames, _, iou = case
    flags = [i % 3 == 0 for i in range(len(labels))]
    c = make(labels, preds, n_frames=n_frames, crowd=flags)
    ts = [0.0, 0.3, 0.5, 0.9, 1.0]
    curve = pr_curve(c, MatchOptions(iou=iou, class_aware=class_aware, crowd=crowd), thresholds=ts)
    for i, t in enumerate(ts):
        t_ = match(c, MatchOptions(conf=t, iou=iou, class_aware=class_aware, crowd=crowd))
        rep, ov = class_report(t_), overall_report(t_)
        np.testing.assert_array_equal(curve["precision"][i], rep.precision)
        np.testing.assert_array_equal(curve["recall"][i], rep.recall)
        np.testing.assert_array_equal(curve["overall_precision"][i], ov.precision)
        np.testing.assert_array_equal(curve["overall_recall"][i], ov.recall)


@given(frame_sets(), st.integers(1, 3))
def test_slices_add_up_to_the_reports(case, n_groups):
    from aquaembed.metrics import slice_report

    labels, preds, n_frames, conf, iou = case
    t = match(make(labels, preds, n_frames=n_frames), MatchOptions(conf=conf, iou=iou))
    groups = np.arange(n_frames) % n_groups
    total = slice_report(t, groups, n_groups)
    ov = overall_report(t)
    assert (total.tp.sum(), total.fp.sum(), total.fn.sum()) == (ov.tp, ov.fp, ov.fn)
    assert total.frames.sum() == n_frames
    rep = class_report(t)
    for c in range(3):
        one = slice_report(t, groups, n_groups, cls=c)
        assert (one.tp.sum(), one.fp.sum(), one.fn.sum()) == (rep.tp[c], rep.fp[c], rep.fn[c])


def test_slice_report_by_hand():
    from aquaembed.metrics import slice_report

    # frame 0 (slice 0): a TP and a car seen as class 1; frame 1 (slice 1): a miss and a false c0
    c = make(
        [(0, 0, [0, 0, 10, 10]), (0, 0, [50, 50, 60, 60]), (1, 0, [0, 0, 10, 10])],
        [(0, 0, [0, 0, 10, 10], 0.9), (0, 1, [50, 50, 60, 60], 0.9), (1, 0, [70, 70, 80, 80], 0.9)],
        n_frames=2,
    )
    t = match(c)
    rep = slice_report(t, np.array([0, 1]), 2, cls=0)
    assert rep.tp.tolist() == [1, 0] and rep.fp.tolist() == [0, 1] and rep.fn.tolist() == [1, 1]
    assert rep.precision[0] == 1.0 and rep.recall[0] == 0.5 and rep.f1[1] == 0.0
    rep = slice_report(t, np.array([0, 1]), 2)
    assert rep.fp.tolist() == [1, 1] and rep.fn.tolist() == [1, 1]
    with pytest.raises(ParameterError):
        slice_report(t, np.array([0]), 2)
