"""The confidence sweep (PR curve counts) equals the matcher run at each threshold on its own."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
from aquaembed.matching import Candidates, MatchOptions, assign, build_candidates, sweep_counts
from aquaembed.metrics import pr_counts
from aquaembed.synthetic import make_coco
from factories import make_candidates as make
from strategies import SCORES, frame_sets


def one_at_a_time(c: Candidates, options: MatchOptions, ts: np.ndarray) -> tuple[np.ndarray, ...]:
    """TP, FP, FN per threshold and class from a separate matching run at each threshold."""
    out = []
    for t in ts:
        a = assign(c, options.replace(conf=float(t)))
        lab = np.flatnonzero(a.label_match >= 0)
        same = lab[c.pred_cls[a.label_match[lab]] == c.label_cls[lab]]
        tp = np.bincount(c.label_cls[same], minlength=c.n_classes)
        fp = np.bincount(c.pred_cls[a.kept & ~a.pred_ignored], minlength=c.n_classes) - tp
        fn = np.bincount(c.label_cls[~a.crowd_labels], minlength=c.n_classes) - tp
        out.append((tp, fp, fn))
    return tuple(np.array([o[i] for o in out]).reshape(len(ts), c.n_classes) for i in range(3))


@settings(max_examples=150, deadline=None)
@given(
    frame_sets(max_frames=4, max_labels=6, max_preds=8),
    st.booleans(),
    st.booleans(),
    st.lists(st.sampled_from((0.0, 0.05, *SCORES, 0.55, 0.95)), min_size=1, max_size=8),
    st.integers(1, 3),
)
def test_the_sweep_is_the_matcher_at_each_threshold(case, class_aware, crowd, thresholds, threads):
    labels, preds, n_frames, _, iou = case
    c = make(labels, preds, n_frames=n_frames, crowd=[i % 3 == 0 for i in range(len(labels))])
    options = MatchOptions(iou=iou, class_aware=class_aware, crowd=crowd)
    ts = np.asarray(thresholds)  # unsorted, repeated, equal to scores: pr_counts sorts them out
    got = pr_counts(c, options, thresholds=ts, threads=threads)
    want = one_at_a_time(c, options, ts)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def synthetic_candidates(n_frames: int, seed: int) -> Candidates:
    """A seeded synthetic set with crowded frames (components that need the Hungarian
    solver) and a third of the labels marked as crowd regions."""
    gt, results = make_coco(n_frames, n_classes=4, labels_per_frame=12.0, preds_per_frame=40, seed=seed,
                            width=160, height=120)
    cats = [c["id"] for c in gt["categories"]]
    classes = ClassMap(np.array(cats), tuple(c["name"] for c in gt["categories"]))
    ids = np.array([im["id"] for im in gt["images"]])
    row = {int(i): r for r, i in enumerate(ids)}
    cat_row = {c: r for r, c in enumerate(cats)}
    frames = Frames(ids, np.array([""] * len(ids), dtype=object), np.full(len(ids), 160.0), np.full(len(ids), 120.0))

    def xyxy(b: list[float]) -> list[float]:
        return [b[0], b[1], b[0] + b[2], b[1] + b[3]]

    anns = gt["annotations"]
    lab = Labels(
        id=np.array([a["id"] for a in anns]), frame=[row[a["image_id"]] for a in anns],
        cls=[cat_row[a["category_id"]] for a in anns], box=np.array([xyxy(a["bbox"]) for a in anns]).reshape(-1, 4),
        area=np.array([a["bbox"][2] * a["bbox"][3] for a in anns]), crowd=np.arange(len(anns)) % 3 == 0,
    )
    inf = Inferences(
        frame=[row[r["image_id"]] for r in results], cls=[cat_row[r["category_id"]] for r in results],
        box=np.array([xyxy(r["bbox"]) for r in results]).reshape(-1, 4),
        # scores on a 0.05 grid: ties with each other and with the thresholds
        score=np.round(np.array([r["score"] for r in results]) * 20) / 20,
    )
    return build_candidates(Dataset(classes, frames, lab, {"m": inf}), inf)


@pytest.mark.parametrize("class_aware", [False, True])
@pytest.mark.parametrize("crowd", [False, True])
def test_the_sweep_on_crowded_frames(class_aware, crowd):
    c = synthetic_candidates(60, seed=3)
    ts = np.round(np.linspace(0.0, 1.0, 21), 2)
    for iou in (0.1, 0.5):
        options = MatchOptions(iou=iou, class_aware=class_aware, crowd=crowd)
        want = one_at_a_time(c, options, ts)
        for threads in (1, 2):
            got = sweep_counts(c, options, ts, threads=threads)
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)


def test_the_sweep_of_frames_splits_adds_up():
    # counts of disjoint frame ranges (the kernel's parts) add up, whatever the cut
    c = synthetic_candidates(30, seed=5)
    ts = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    options = MatchOptions(iou=0.3)
    whole = sweep_counts(c, options, ts, threads=1)
    for threads in (2, 3, 7):
        for g, w in zip(sweep_counts(c, options, ts, threads=threads), whole):
            np.testing.assert_array_equal(g, w)
    assert whole[0][0].sum() > 0 and whole[1][0].sum() > 0 and whole[2][0].sum() > 0


@settings(max_examples=60, deadline=None)
@given(frame_sets(max_frames=4, max_labels=6, max_preds=8), st.booleans())
def test_table_rows_are_by_frame_then_label_then_unmatched_inference(case, crowd):
    from aquaembed.matching import match

    labels, preds, n_frames, conf, iou = case
    c = make(labels, preds, n_frames=n_frames, crowd=[i % 2 == 0 for i in range(len(labels))])
    t = match(c, MatchOptions(conf=conf, iou=iou, crowd=crowd))
    # the documented order, by an independent three-key sort of the rows as they came out
    want = np.lexsort((t.pred, np.where(t.label >= 0, t.label, c.n_labels), t.frame))
    np.testing.assert_array_equal(want, np.arange(len(t)))
    assert sorted(t.label[t.label >= 0].tolist()) == list(range(c.n_labels))


def test_a_large_component_is_solved_optimally_by_the_sweep_and_the_matcher():
    # 70 labels and 70 inferences piled on one spot: one component too large for the
    # solver's reusable work arrays; the total IoU is scipy's optimum
    from scipy.optimize import linear_sum_assignment

    from aquaembed.geometry import box_iou
    from aquaembed.matching import match

    rng = np.random.default_rng(7)
    base = np.array([100.0, 100.0, 160.0, 150.0])
    lab_boxes = base + rng.normal(0, 6, (70, 4))
    pred_boxes = base + rng.normal(0, 6, (70, 4))
    scores = np.round(rng.uniform(0, 1, 70), 2)
    labels = [(0, int(i % 3), b.tolist()) for i, b in enumerate(lab_boxes)]
    preds = [(0, int(i % 3), b.tolist(), float(s)) for i, (b, s) in enumerate(zip(pred_boxes, scores))]
    c = make(labels, preds)
    iou = box_iou(lab_boxes, pred_boxes)
    for conf in (0.0, 0.4):
        w = np.where((iou >= 0.5) & (scores[None, :] >= conf), iou, 0.0)
        r, col = linear_sum_assignment(-w)
        t = match(c, MatchOptions(conf=conf, iou=0.5))
        assert np.nansum(t.iou) == pytest.approx(w[r, col].sum(), abs=1e-6)
    ts = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    for g, want in zip(sweep_counts(c, MatchOptions(iou=0.5), ts), one_at_a_time(c, MatchOptions(iou=0.5), ts)):
        np.testing.assert_array_equal(g, want)


def assert_same_table(got, want):
    for name in ("frame", "label", "pred", "label_class", "pred_class", "iou", "score", "type", "label_area",
                 "pred_area"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.options == want.options and (got.n_labels, got.n_preds) == (want.n_labels, want.n_preds)


@settings(max_examples=100, deadline=None)
@given(frame_sets(max_frames=4, max_labels=6, max_preds=8), st.booleans(), st.booleans(), st.integers(1, 3))
def test_match_and_sweep_is_match_and_pr_curve(case, class_aware, crowd, threads):
    from aquaembed.matching import match, match_and_sweep
    from aquaembed.metrics import pr_curve, pr_curve_and_table

    labels, preds, n_frames, conf, iou = case
    c = make(labels, preds, n_frames=n_frames, crowd=[i % 3 == 0 for i in range(len(labels))])
    options = MatchOptions(conf=conf, iou=iou, class_aware=class_aware, crowd=crowd)
    ts = np.array([0.0, 0.3, 0.55, 0.9, 1.0])
    table, counts = match_and_sweep(c, options, ts, threads=threads)
    assert_same_table(table, match(c, options))
    for g, w in zip(counts, one_at_a_time(c, options, ts)):
        np.testing.assert_array_equal(g, w)
    table, curve = pr_curve_and_table(c, options)
    assert_same_table(table, match(c, options))
    want = pr_curve(c, options)
    for k in want:
        np.testing.assert_array_equal(curve[k], want[k])


@pytest.mark.parametrize("crowd", [False, True])
def test_match_and_sweep_on_crowded_frames(crowd):
    from aquaembed.matching import match, match_and_sweep

    c = synthetic_candidates(60, seed=4)
    for conf in (0.0, 0.35, 0.5, 1.0):
        options = MatchOptions(conf=conf, iou=0.3, crowd=crowd)
        table, _ = match_and_sweep(c, options, np.round(np.linspace(0.0, 1.0, 21), 2), threads=2)
        assert_same_table(table, match(c, options))
