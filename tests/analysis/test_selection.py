"""Selection summaries against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from aquaembed.analysis.selection import (
    crop_selection,
    frame_selection,
    mix,
    over_represented,
    projection_mask,
    projection_selection,
    selection_mask,
)
from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.matching import CONFUSION, FN, FP, IGNORED, TP
from aquaembed.metrics import BELOW_THRESHOLD, Counts


def test_frame_selection_sums_counts_and_ratios() -> None:
    # frames 0 and 2 selected: TP 3+0, FP 1+2, FN 0+1 -> P 3/6, R 3/4, F1 6/10
    counts = Counts(np.array([3, 5, 0, 1]), np.array([1, 0, 2, 0]), np.array([0, 0, 1, 4]))
    mask = selection_mask(4, [0, 2, 2])
    s = frame_selection(counts, {}, mask)
    assert (s.n_selected, s.n_total) == (2, 4)
    assert (int(s.selection.tp), int(s.selection.fp), int(s.selection.fn)) == (3, 3, 1)
    assert float(s.selection.precision) == pytest.approx(0.5)
    assert float(s.selection.recall) == pytest.approx(0.75)
    assert float(s.selection.f1) == pytest.approx(0.6)
    assert (int(s.rest.tp), int(s.rest.fp), int(s.rest.fn)) == (6, 0, 4)
    js = s.to_json()
    assert js["selected"] == 2 and js["share"] == 0.5
    assert js["selection"] == {"tp": 3, "fp": 3, "fn": 1, "precision": 0.5, "recall": 0.75, "f1": 0.6}


def test_undefined_ratios_are_null() -> None:
    counts = Counts(np.array([0, 1]), np.array([0, 0]), np.array([0, 0]))
    js = frame_selection(counts, {}, np.array([True, False])).to_json()
    assert js["selection"]["precision"] is None and js["selection"]["f1"] is None
    assert js["rest"]["precision"] == 1.0


def test_over_represented_shares_and_lift() -> None:
    # 10 frames, scene a on 0-3 and 6, b on 4, 5, 7-9; select 0,1,2,4
    scene = np.array(list("aaaabbabbb"))
    mask = selection_mask(10, [0, 1, 2, 4])
    over = over_represented({"scene": scene}, mask)
    # a: 3 of 4 selected (0.75), 5 of 10 overall (0.5): lift 1.5; rest: 2 of 6
    assert len(over) == 1
    o = over[0]
    assert (o.field, o.value, o.count) == ("scene", "a", 3)
    assert o.share == pytest.approx(0.75) and o.share_rest == pytest.approx(2 / 6) and o.lift == pytest.approx(1.5)
    # b: 0.25 of the selection, below min_share 0.15? no: 0.25 >= 0.15, but lift 0.5 < 1.3
    assert over_represented({"scene": scene}, mask, min_lift=0.4)[1].value == "b"


def test_over_represented_skips_id_like_and_constant_fields() -> None:
    mask = selection_mask(60, range(10))
    cols = {"id": np.arange(60), "constant": np.zeros(60), "flag": np.r_[np.ones(10), np.zeros(50)]}
    over = over_represented(cols, mask)
    assert [(o.field, o.value) for o in over] == [("flag", "1.0")]
    assert over[0].lift == pytest.approx(6.0) and over[0].share_rest == 0.0


def test_mix_shares_are_over_the_whole_selection_and_rest() -> None:
    # defect 2: the rest's share of a class is over the whole rest, not over the classes
    # that the selection happens to hold
    cls = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
    mask = selection_mask(10, [0, 1])
    m = mix(cls, mask, field="class", categories=[0, 1, 2], names=["car", "pedestrian", "bus"])
    assert m.categories == ("car", "pedestrian", "bus")
    assert m.selected.tolist() == [2, 0, 0] and m.rest.tolist() == [0, 3, 5]
    assert m.share.tolist() == [1.0, 0.0, 0.0]
    assert m.share_rest.tolist() == pytest.approx([0.0, 3 / 8, 5 / 8])


def test_crop_selection_counts_each_side() -> None:
    # label crops: TP, FN, confusion, ignored; inference crops: TP, FP, confusion, below threshold
    source = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=np.uint8)
    types = np.array([TP, FN, CONFUSION, IGNORED, TP, FP, CONFUSION, BELOW_THRESHOLD], dtype=np.int8)
    classes = np.array([0, 1, 1, 0, 0, 1, 0, 1])
    meta = {"scene": np.array(["x", "y", "y", "x", "x", "y", "y", "y"])}
    mask = np.ones(8, dtype=bool)
    s = crop_selection(source, types, classes, ["car", "pedestrian"], meta, mask)
    # TP on the inference TP; FP: the inference FP and the inference confusion; FN: label FN and label confusion
    assert (int(s.selection.tp), int(s.selection.fp), int(s.selection.fn)) == (1, 2, 2)
    assert s.mix("type").selected.tolist() == [2, 1, 1, 2, 1, 1]
    assert s.mix("class").selected.tolist() == [4, 4]
    # half the crops selected: FP inference crop + 2 labels (FN, confusion) of pedestrian
    half = np.array([False, True, True, False, False, True, False, False])
    s2 = crop_selection(source, types, classes, ["car", "pedestrian"], meta, half)
    assert (int(s2.selection.tp), int(s2.selection.fp), int(s2.selection.fn)) == (0, 1, 2)
    assert (int(s2.rest.tp), int(s2.rest.fp), int(s2.rest.fn)) == (1, 1, 0)
    over = {(o.field, o.value): o for o in s2.over}
    # pedestrian: 3/3 selected, 4/8 overall: lift 2; scene y: 3/3, 5/8: lift 1.6
    assert over[("class", "pedestrian")].lift == pytest.approx(2.0)
    assert over[("scene", "y")].lift == pytest.approx(1.6)
    assert over[("scene", "y")].share_rest == pytest.approx(2 / 5)
    js = s2.to_json()
    assert js["mixes"]["type"][1] == {"value": "FP", "selected": 1, "rest": 0, "share": pytest.approx(1 / 3), "share_rest": 0.0}


def test_projection_mask_maps_ids() -> None:
    proj = {"kind": "crop", "ids": np.array([301, 302, 0, 1]), "source": np.array([0, 0, 1, 1])}
    assert projection_mask(proj, [302], [0]).tolist() == [False, True, True, False]
    with pytest.raises(NotFoundError, match="pred_ids: no inference 7"):
        projection_mask(proj, [], [7])
    frames = {"kind": "frame", "ids": np.array([10, 11, 12])}
    assert projection_mask(frames, [12, 10]).tolist() == [True, False, True]
    with pytest.raises(NotFoundError, match="ids: no frame 13"):
        projection_mask(frames, [13])
    with pytest.raises(ParameterError):
        selection_mask(3, [3])


def test_projection_selection_within_compares_with_the_rest_of_those_points_only() -> None:
    # frames 0..5; a scenario holds frames 1, 2, 4; the selection is frame 2
    counts = dict(tp=np.array([9, 3, 1, 7, 2, 8]), fp=np.array([0, 1, 4, 0, 2, 0]), fn=np.array([0, 2, 0, 0, 1, 0]))
    proj = {"kind": "frame", **counts, "metadata": {"scene": np.array(["a", "b", "b", "a", "c", "a"])}}
    mask = selection_mask(6, [2])
    s = projection_selection(proj, mask, class_names=["x"], within=np.array([1, 2, 4]))
    assert (s.n_selected, s.n_total) == (1, 3)
    assert (int(s.selection.tp), int(s.selection.fp), int(s.selection.fn)) == (1, 4, 0)
    assert (int(s.rest.tp), int(s.rest.fp), int(s.rest.fn)) == (3 + 2, 1 + 2, 2 + 1)  # frames 1 and 4 only
    everything = projection_selection(proj, mask, class_names=["x"])
    assert everything.n_total == 6 and int(everything.rest.tp) == 9 + 3 + 7 + 2 + 8
