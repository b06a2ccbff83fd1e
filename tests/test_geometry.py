"""Box conversions, areas and the one IoU: hand-worked values and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aquaembed.errors import InputError
from aquaembed.geometry import box_area, box_iou, overlap, xywh_to_xyxy, xyxy_to_xywh
from strategies import xyxy_box


def test_conversions_by_hand():
    xywh = np.array([[10, 20, 30, 40], [0.5, 0.25, 0, 2]])
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_array_equal(xyxy, [[10, 20, 40, 60], [0.5, 0.25, 0.5, 2.25]])
    np.testing.assert_array_equal(xyxy_to_xywh(xyxy), xywh)
    assert xyxy.dtype == np.float64 and xywh_to_xyxy(np.zeros((0, 4))).shape == (0, 4)
    assert xywh_to_xyxy([1, 2, 3, 4]).shape == (1, 4)  # one box


def test_conversions_do_not_touch_their_input():
    b = np.array([[1.0, 2.0, 3.0, 4.0]])
    xywh_to_xyxy(b)
    xyxy_to_xywh(b)
    assert b.tolist() == [[1.0, 2.0, 3.0, 4.0]]


def test_area_by_hand():
    np.testing.assert_array_equal(box_area(np.array([[0, 0, 10, 5], [2, 2, 2, 9], [1, 1, 1.5, 3]])), [50, 0, 1.0])


def test_iou_by_hand():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [10, 10, 20, 20], [0, 0, 10, 10], [2, 2, 4, 4]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0, 4 / 100]])
    # intersection over the second box's area (COCO's crowd rule) and the intersection
    iou, iob, inter = overlap(0, 0, 10, 10, 2, 2, 4, 4)
    assert (iou, iob, inter) == (pytest.approx(0.04), 1.0, 4.0)
    assert overlap(0, 0, 1, 1, 1, 0, 2, 1) == (0.0, 0.0, 0.0)  # touching edges do not overlap
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 4)


def test_iou_rejects_bad_boxes():
    with pytest.raises(InputError, match="NaN"):
        box_iou(np.array([[0, 0, np.nan, 1]]), np.array([[0, 0, 1, 1]]))
    with pytest.raises(InputError, match="negative"):
        box_iou(np.array([[0, 0, 1, 1]]), np.array([[2, 0, 1, 1]]))


@given(st.lists(xyxy_box, min_size=1, max_size=5))
def test_conversions_round_trip_and_area_is_width_times_height(boxes):
    b = np.array(boxes)
    wh = xyxy_to_xywh(b)
    np.testing.assert_allclose(xywh_to_xyxy(wh), b, rtol=0, atol=1e-9)
    np.testing.assert_allclose(box_area(b), wh[:, 2] * wh[:, 3], rtol=1e-12)
    assert (box_area(b) > 0).all()


@given(xyxy_box, xyxy_box, st.floats(-500, 500), st.floats(-500, 500), st.floats(0.1, 10))
def test_iou_symmetric_bounded_and_invariant(a, b, dx, dy, s):
    a_, b_ = np.array([a]), np.array([b])
    v = box_iou(a_, b_)[0, 0]
    assert 0.0 <= v <= 1.0
    assert v == pytest.approx(box_iou(b_, a_)[0, 0], abs=1e-12)
    shift = np.array([dx, dy, dx, dy])
    assert box_iou(a_ + shift, b_ + shift)[0, 0] == pytest.approx(v, abs=1e-6)
    assert box_iou(a_ * s, b_ * s)[0, 0] == pytest.approx(v, abs=1e-9)
    assert box_iou(a_, a_)[0, 0] == pytest.approx(1.0)
