"""Metrics of a match table: typed reports, the one NaN rule, and additivity.

The partition property is the contract that lets per-shard results merge exactly:
counts of any partition of the frames, matched part by part, sum to the counts of the
whole, for every counted metric (per class, overall, per frame, per slice, confusion
matrix) and for every matching mode.
"""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aquaembed.errors import ParameterError
from aquaembed.matching import MatchOptions, match
from aquaembed.metrics import (
    ClassReport,
    ConfusionMatrix,
    Counts,
    FrameReport,
    SliceReport,
    class_report,
    confusion_matrix,
    frame_report,
    json_value,
    overall_report,
    slice_report,
)
from factories import make_candidates
from strategies import frame_sets, partitions

OPTION_SETS = [
    MatchOptions(mode=mode, class_aware=aware, crowd=crowd)
    for mode in ("optimal", "greedy")
    for aware in (False, True)
    for crowd in (False, True)
]


def _part(labels, preds, frames):
    """The labels and inferences of some frames, renumbered 0..len(frames)-1 in that order."""
    new = {f: i for i, f in enumerate(frames)}
    lab = [(new[f], c, b) for f, c, b in labels if f in new]
    prd = [(new[f], c, b, s) for f, c, b, s in preds if f in new]
    crowd = [i % 3 == 0 for i, (f, _, _) in enumerate(labels) if f in new]
    return lab, prd, crowd


# --------------------------------------------------------------------------- partition property


@given(frame_sets(max_frames=6), st.data(), st.sampled_from(OPTION_SETS))
def test_counts_of_a_partition_of_the_frames_sum_to_the_whole(case, data, base):
    labels, preds, n_frames, conf, iou = case
    options = base.replace(conf=conf, iou=iou)
    crowd = [i % 3 == 0 for i in range(len(labels))]
    whole = match(make_candidates(labels, preds, n_frames=n_frames, crowd=crowd), options)
    n_groups = data.draw(st.integers(1, 3))
    groups = np.asarray(data.draw(st.lists(st.integers(0, n_groups - 1), min_size=n_frames, max_size=n_frames)))
    parts = data.draw(partitions(n_frames))

    cm_sum = np.zeros((4, 4), dtype=np.int64)
    per_class = Counts.zeros(3)
    overall = Counts.zeros()
    slices = Counts.zeros(n_groups)
    slices_c1 = Counts.zeros(n_groups)
    per_frame = Counts.zeros(n_frames)
    for frames in parts:
        lab, prd, flags = _part(labels, preds, frames)
        t = match(make_candidates(lab, prd, n_frames=len(frames), crowd=flags), options)
        cm_sum += confusion_matrix(t)
        per_class = per_class + class_report(t).counts
        overall = overall + overall_report(t)
        slices = slices + slice_report(t, groups[frames], n_groups).counts
        slices_c1 = slices_c1 + slice_report(t, groups[frames], n_groups, cls=1).counts
        fr = frame_report(t).counts
        for k in ("tp", "fp", "fn"):
            getattr(per_frame, k)[frames] = getattr(fr, k)  # each frame in exactly one part

    np.testing.assert_array_equal(cm_sum, confusion_matrix(whole))
    assert per_class == class_report(whole).counts
    assert overall == overall_report(whole)
    assert slices == slice_report(whole, groups, n_groups).counts
    assert slices_c1 == slice_report(whole, groups, n_groups, cls=1).counts
    assert per_frame == frame_report(whole).counts
    # the ratios of the summed counts are the whole's ratios (NaN where undefined)
    np.testing.assert_array_equal(per_class.f1, class_report(whole).f1)
    # and the reports agree with each other on the whole
    assert frame_report(whole).counts.sum() == overall
    assert ConfusionMatrix(cm_sum, ("c0", "c1", "c2", "background")).overall() == overall


# --------------------------------------------------------------------------- typed reports, by hand


def _hand_table():
    # frame 0: one TP (c0), frame 1: a confusion (label c1, inference c0) and a missed c2,
    # frame 2: empty
    labels = [(0, 0, [0, 0, 10, 10]), (1, 1, [0, 0, 10, 10]), (1, 2, [50, 50, 60, 60])]
    preds = [(0, 0, [0, 0, 10, 10], 0.9), (1, 0, [0, 0, 10, 10], 0.8)]
    return match(make_candidates(labels, preds, n_frames=3))


def test_class_report_by_hand_and_its_json():
    rep = class_report(_hand_table(), classes=["car", "truck", "bus"])
    assert isinstance(rep, ClassReport)
    assert rep.tp.tolist() == [1, 0, 0] and rep.fp.tolist() == [1, 0, 0] and rep.fn.tolist() == [0, 1, 1]
    js = rep.to_json()
    assert list(js) == ["car", "truck", "bus"]
    assert js["car"] == {"tp": 1, "fp": 1, "fn": 0, "precision": 0.5, "recall": 1.0, "f1": 2 / 3}
    assert js["truck"] == {"tp": 0, "fp": 0, "fn": 1, "precision": None, "recall": 0.0, "f1": 0.0}
    assert class_report(_hand_table()).classes == ("0", "1", "2")


def test_frame_report_by_hand_and_its_json():
    rep = frame_report(_hand_table(), ids=np.array([7, 3, 11]))
    assert isinstance(rep, FrameReport)
    js = rep.to_json()
    assert list(js) == ["7", "3", "11"]
    assert js["7"] == {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert js["3"] == {"tp": 0, "fp": 1, "fn": 2, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert js["11"] == {"tp": 0, "fp": 0, "fn": 0, "precision": None, "recall": None, "f1": None}


def test_slice_report_json_rows():
    rep = slice_report(_hand_table(), np.array([0, 0, 1]), 2, values=["day", "night"])
    assert isinstance(rep, SliceReport)
    assert rep.to_json() == [
        {"value": "day", "frames": 2, "tp": 1, "fp": 1, "fn": 2, "precision": 0.5, "recall": 1 / 3, "f1": 0.4},
        {"value": "night", "frames": 1, "tp": 0, "fp": 0, "fn": 0, "precision": None, "recall": None, "f1": None},
    ]


def test_overall_report_is_scalar_counts():
    ov = overall_report(_hand_table())
    assert ov.shape == () and ov.to_json() == {"tp": 1, "fp": 1, "fn": 2, "precision": 0.5, "recall": 1 / 3, "f1": 0.4}


def test_reports_refuse_names_of_the_wrong_length():
    t = _hand_table()
    with pytest.raises(ParameterError):
        class_report(t, classes=["car"])
    with pytest.raises(ParameterError):
        frame_report(t, ids=np.array([1, 2]))
    with pytest.raises(ParameterError):
        slice_report(t, np.array([0, 0, 1]), 2, values=["a"])


# --------------------------------------------------------------------------- Counts, ConfusionMatrix, json_value


def test_counts_ratios_are_undefined_on_zero_denominators():
    c = Counts(np.array([0, 2, 0]), np.array([0, 2, 3]), np.array([0, 0, 1]))
    assert np.isnan(c.precision[0]) and np.isnan(c.recall[0]) and np.isnan(c.f1[0])
    assert c.precision[1] == 0.5 and c.recall[1] == 1.0 and c.f1[1] == pytest.approx(2 / 3)
    assert c.precision[2] == 0.0 and c.recall[2] == 0.0 and c.f1[2] == 0.0
    assert sum([c[0], c[1], c[2]]) == c.sum()
    with pytest.raises(ParameterError):
        Counts(np.array([1]), np.array([1, 2]), np.array([1]))
    with pytest.raises(ParameterError):
        Counts(np.array([0.5]), np.array([1.0]), np.array([1.0]))


def test_counts_group_sums_rows_per_group():
    c = Counts(np.array([1, 2, 3]), np.array([0, 1, 0]), np.array([4, 0, 1]))
    g = c.group(np.array([1, 0, 1]), 3)
    assert g == Counts(np.array([2, 4, 0]), np.array([1, 0, 0]), np.array([0, 5, 0]))


def test_confusion_matrix_normalised_and_addition():
    a = ConfusionMatrix(np.array([[2, 1, 1], [0, 0, 0], [1, 0, 0]]), ("a", "b", "background"))
    rows = a.normalised()
    np.testing.assert_allclose(rows[0], [0.5, 0.25, 0.25])
    assert np.isnan(rows[1]).all()  # a label class without labels
    cols = a.normalised(axis=0)
    np.testing.assert_allclose(cols[:, 0], [2 / 3, 0, 1 / 3])
    assert (a + a).matrix.tolist() == (2 * a.matrix).tolist()
    with pytest.raises(ParameterError):
        a + ConfusionMatrix(a.matrix, ("x", "b", "background"))
    with pytest.raises(ParameterError):
        a.normalised(axis=2)
    assert a.per_class() == Counts(np.array([2, 0]), np.array([1, 1]), np.array([2, 0]))


def test_json_value_is_the_one_nan_rule():
    assert json_value(float("nan")) is None and json_value(np.float32("nan")) is None
    assert json_value(math.inf) is None
    assert json_value(np.int64(3)) == 3 and type(json_value(np.int64(3))) is int
    assert json_value(np.bool_(True)) is True
    assert json_value({"a": [1.5, np.nan], 2: (np.float64(2.0),)}) == {"a": [1.5, None], "2": [2.0]}
    assert json_value(np.array([[1.0, np.nan]])) == [[1.0, None]]
    assert json_value("text") == "text" and json_value(None) is None
    # what orjson writes for the converted value is strict JSON
    assert orjson.loads(orjson.dumps(json_value({"x": np.nan}))) == {"x": None}
