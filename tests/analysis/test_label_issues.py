"""Label-issue scores: hand-worked cases, the kNN consensus, and a brute-force check."""

from __future__ import annotations

import numpy as np
import pytest

from aquaembed.analysis.label_issues import (
    Neighbours,
    issue_records,
    score_label_issues,
)
from aquaembed.data import Dataset, Inferences
from aquaembed.geometry import box_iou
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.matching import build_candidates
from aquaembed.synthetic import write_coco
from factories import label_issue_case

CAR, TRUCK, PERSON = 0, 1, 2
_case = label_issue_case


def test_hand_worked_case():
    ds, inf = _case()
    sc = score_label_issues(ds, inf, build_candidates(ds, inf))
    # wrong class: a .8 truck on a car label that no car inference supports
    assert sc.label["wrong_class"][1] == pytest.approx(0.8)
    assert sc.suggested_class[1] == TRUCK and sc.wrong_class_pred[1] == 1
    assert sc.label["wrong_class"][0] == 0.0 and sc.suggested_class[0] == -1
    # missing label: the .7 car on nothing; its .6 duplicate detection is damped by 75 %
    assert sc.missing[2] == pytest.approx(0.7)
    assert sc.missing[5] == pytest.approx(0.6 * 0.25)
    assert sc.missing[[0, 1, 4]].max() == pytest.approx(0.0)
    # a partial same-class overlap (IoU 0.4286) covers the inference only partly, and
    # as label 2's suggested box it is explained by label 2's bad location
    cover = (120 / 280 - 0.25) / 0.25
    assert sc.missing[3] == pytest.approx(0.9 * (1 - cover) * (1 - sc.label["bad_location"][2]))
    # bad location: label 2's best inference is pred 3 at IoU 60/140
    assert sc.suggested_pred[2] == 3
    assert sc.best_iou[2] == pytest.approx(120 / 280)
    assert sc.label["bad_location"][2] > 0.3
    assert sc.label["bad_location"][0] == 0.0
    # duplicate: labels 3 and 4 (IoU 0.95) are one object; both equally supported, the higher id goes
    assert sc.label["duplicate_label"][4] == pytest.approx(np.clip((0.95 - 0.5) / 0.4, 0, 1))
    assert sc.duplicate_of[4] == 3 and sc.label["duplicate_label"][3] == 0.0
    # spurious: nothing of any class overlaps label 5
    assert sc.label["spurious_label"][5] == 1.0
    assert sc.label["spurious_label"][0] == pytest.approx(0.1)  # only the .9 car supports it


def test_records_are_ranked_and_shaped():
    ds, inf = _case()
    recs = issue_records(ds, inf, score_label_issues(ds, inf, build_candidates(ds, inf)), min_score=0.2)
    assert [r["score"] for r in recs] == sorted((r["score"] for r in recs), reverse=True)
    keys = {"kind", "label_id", "pred_index", "frame", "suggested_class", "suggested_box", "score", "reason"}
    assert all(keys <= set(r) for r in recs)
    by = {(r["kind"], r["label_id"], r["pred_index"]): r for r in recs}
    wc = by[("wrong_class", 12, 1)]
    assert wc["suggested_class"] == "truck" and wc["frame"] == 7
    ml = by[("missing_label", None, 2)]
    assert ml["suggested_box"] == [50.0, 50.0, 10.0, 10.0] and ml["suggested_class"] == "car"
    bl = by[("bad_location", 13, 3)]
    assert bl["suggested_box"] == [104.0, 0.0, 10.0, 20.0]
    assert by[("duplicate_label", 15, None)]["duplicate_of"] == 14
    assert ("spurious_label", 16, None) in by
    assert ("missing_label", None, 5) not in by  # damped below min_score


def _nb(ds: Dataset, inf: Inferences, label_cls: np.ndarray) -> Neighbours:
    n_p, k = len(inf), label_cls.shape[1]
    return Neighbours(label_cls, np.full(label_cls.shape, 0.9, np.float32), np.full((n_p, k), -1), np.full((n_p, k), np.nan, np.float32))


def test_knn_consensus_names_the_class_the_model_missed():
    ds, inf = _case()
    cands = build_candidates(ds, inf)
    agree = np.repeat(ds.labels.cls[:, None], 4, axis=1)
    base = score_label_issues(ds, inf, cands, neighbours=_nb(ds, inf, agree))
    # neighbours that agree leave the model's evidence as it is, and clear spurious
    assert base.label["wrong_class"][1] == pytest.approx(0.8)
    assert base.label["spurious_label"][5] == 0.0
    # label 5 (car, nothing detected): all its neighbours are trucks
    flipped = agree.copy()
    flipped[5] = TRUCK
    sc = score_label_issues(ds, inf, cands, neighbours=_nb(ds, inf, flipped))
    assert sc.label["wrong_class"][5] == pytest.approx(1.0)
    assert sc.suggested_class[5] == TRUCK
    # unanimous neighbours of one other class make it a wrong class more than a spurious box
    assert sc.label["spurious_label"][5] == pytest.approx(1.0 - 0.7)
    # a well supported label keeps a low score even when its neighbours disagree
    flipped[0] = TRUCK
    sc = score_label_issues(ds, inf, cands, neighbours=_nb(ds, inf, flipped))
    assert sc.label["wrong_class"][0] == pytest.approx(1.0 * (1 - 0.9))


def test_missing_and_support_match_brute_force(tmp_path):
    gt, pred = write_coco(tmp_path, 30, n_classes=5, labels_per_frame=5, preds_per_frame=12, seed=4)
    ds = load_coco_gt(gt)
    inf = load_coco_results(pred, ds)
    sc = score_label_issues(ds, inf, build_candidates(ds, inf))

    def ramp(x: float, lo: float, hi: float) -> float:
        return float(np.clip((x - lo) / (hi - lo), 0, 1))

    L, P = ds.labels, inf
    for p in range(len(P)):
        same_f = np.flatnonzero((L.frame == P.frame[p]) & ~L.crowd)
        ious = box_iou(P.box[p][None], L.box[same_f])[0] if same_f.size else np.zeros(0)
        same_c = L.cls[same_f] == P.cls[p]
        iou_same = ious[same_c].max() if same_c.any() else 0.0
        iou_any = ious.max() if ious.size else 0.0
        crowd_f = np.flatnonzero((L.frame == P.frame[p]) & L.crowd)
        cover = max(ramp(iou_same, 0.25, 0.5), ramp(iou_any, 0.4, 0.6))
        if crowd_f.size:
            a = (P.box[p, 2] - P.box[p, 0]) * (P.box[p, 3] - P.box[p, 1])
            inter = [max(0, min(P.box[p, 2], L.box[c, 2]) - max(P.box[p, 0], L.box[c, 0])) * max(0, min(P.box[p, 3], L.box[c, 3]) - max(P.box[p, 1], L.box[c, 1])) for c in crowd_f]
            cover = max(cover, ramp(max(inter) / a, 0.3, 0.5))
        # damping by a more confident overlapping inference
        others = np.flatnonzero((P.frame == P.frame[p]) & (np.arange(len(P)) != p) & (P.score >= 0.05))
        damp = 0.0
        if P.score[p] >= 0.05 and others.size:
            dom = (P.score[others] > P.score[p]) | ((P.score[others] == P.score[p]) & (others < p))
            if dom.any():
                damp = ramp(box_iou(P.box[p][None], P.box[others[dom]])[0].max(), 0.4, 0.6)
        explained = max((sc.label["bad_location"][r] for r in np.flatnonzero(sc.suggested_pred == p)), default=0.0)
        assert sc.missing[p] == pytest.approx(P.score[p] * (1 - cover) * (1 - 0.75 * damp) * (1 - explained), abs=1e-9), p


@pytest.mark.parametrize("min_score, best", [(0.05, False), (0.3, False), (0.1, True)])
def test_first_records_equal_the_full_rankings_head(tmp_path, min_score, best):
    """issue_records(limit=k) ranks on arrays and builds only k records: the same as the
    first k of the full list, ties included (many equal rounded scores)."""
    gt, pred = write_coco(tmp_path, 60, n_classes=3, labels_per_frame=5, preds_per_frame=9, seed=4)
    ds = load_coco_gt(gt)
    inf = load_coco_results(pred, ds, name="m")
    sc = score_label_issues(ds, inf, build_candidates(ds, inf))
    full = issue_records(ds, inf, sc, min_score=min_score, best_kind_only=best)
    assert len(full) > 50
    for k in (0, 1, 7, 50, len(full), len(full) + 5):
        assert issue_records(ds, inf, sc, min_score=min_score, best_kind_only=best, limit=k) == full[:k]
    from aquaembed.analysis.label_issues.records import issue_count

    if not best:
        assert issue_count(sc, len(ds.labels), min_score=min_score) == len(full)
