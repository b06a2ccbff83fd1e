"""Every valid COCO file is read, and gives pycocotools' numbers.

Each case is a file that pycocotools reads and that aquaembed used to refuse, or a
box that sits exactly on a threshold; the reference numbers come from pycocotools on
the same files.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aquaembed.evaluate import Evaluator
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.matching import MatchOptions
from aquaembed.metrics import COCO_STAT_NAMES

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def _reference(gt: Path, dt: Path) -> tuple[np.ndarray, COCOeval]:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt))
        coco_dt = coco_gt.loadRes(str(dt))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=float), ev


def _ours(gt: Path, dt: Path) -> tuple[np.ndarray, Evaluator]:
    ds = load_coco_gt(gt)
    evaluator = Evaluator(ds, load_coco_results(dt, ds))
    res = evaluator.coco()
    return np.array([-1.0 if res[k] is None else res[k] for k in COCO_STAT_NAMES]), evaluator


def _files(tmp_path: Path, gt: dict, dt: list) -> tuple[Path, Path]:
    gt_path, dt_path = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_path.write_text(json.dumps(gt))
    dt_path.write_text(json.dumps(dt))
    return gt_path, dt_path


def _base() -> tuple[dict, list]:
    gt = {
        "images": [{"id": 1, "width": 100, "height": 80}, {"id": 2, "width": 100, "height": 80}],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 20], "area": 600, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 40, 40, 30], "area": 1200, "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [5, 5, 60, 50], "area": 3000, "iscrowd": 0},
        ],
    }
    dt = [
        {"image_id": 1, "category_id": 1, "bbox": [11, 10, 30, 21], "score": 0.9},
        {"image_id": 1, "category_id": 2, "bbox": [52, 41, 37, 30], "score": 0.8},
        {"image_id": 1, "category_id": 1, "bbox": [60, 0, 10, 10], "score": 0.7},
        {"image_id": 2, "category_id": 2, "bbox": [6, 5, 58, 50], "score": 0.6},
        {"image_id": 2, "category_id": 1, "bbox": [4, 6, 61, 49], "score": 0.4},
    ]
    return gt, dt


def test_ground_truth_without_annotations_key(tmp_path: Path) -> None:
    """test-dev style: no "annotations" at all; every inference is an FP."""
    gt, dt = _base()
    del gt["annotations"]
    gt_path, dt_path = _files(tmp_path, gt, dt)
    expected, _ = _reference(gt_path, dt_path)
    got, evaluator = _ours(gt_path, dt_path)
    np.testing.assert_array_equal(got, expected)  # all -1: nothing to recall
    report = evaluator.report(MatchOptions(conf=0.0))
    assert report["overall"]["tp"] == 0 and report["overall"]["fn"] == 0
    assert report["overall"]["fp"] == len(dt)
    assert report["overall"]["precision"] == 0.0 and report["overall"]["recall"] is None


def test_category_named_background(tmp_path: Path) -> None:
    gt, dt = _base()
    gt["categories"][1]["name"] = "background"
    gt_path, dt_path = _files(tmp_path, gt, dt)
    expected, _ = _reference(gt_path, dt_path)
    got, evaluator = _ours(gt_path, dt_path)
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)
    report = evaluator.report(MatchOptions(conf=0.0))
    assert report["classes"] == ["car", "background (id 2)", "background"]
    # the user's class is a class like any other: its own row, its own TP on the diagonal
    assert report["per_class"]["background (id 2)"]["tp"] == 1
    cm = np.asarray(report["confusion_matrix"])
    assert cm.shape == (3, 3) and cm[1, 1] == 1


def test_duplicate_category_names(tmp_path: Path) -> None:
    gt, dt = _base()
    gt["categories"][1]["name"] = "car"
    gt_path, dt_path = _files(tmp_path, gt, dt)
    expected, _ = _reference(gt_path, dt_path)
    got, evaluator = _ours(gt_path, dt_path)
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)
    report = evaluator.report(MatchOptions(conf=0.0, class_aware=True))
    assert report["classes"] == ["car (id 1)", "car (id 2)", "background"]
    # kept apart by id: a car(1) detection on a car(2) label is a confusion
    assert report["per_class"]["car (id 2)"]["tp"] == 1
    assert report["per_class"]["car (id 1)"]["tp"] == 2


@pytest.mark.parametrize("size", [0, None])
def test_unknown_image_size(tmp_path: Path, size: int | None) -> None:
    gt, dt = _base()
    gt["images"][0]["width"] = size
    gt["images"][1]["height"] = size
    gt_path, dt_path = _files(tmp_path, gt, dt)
    expected, _ = _reference(gt_path, dt_path)
    got, evaluator = _ours(gt_path, dt_path)
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)
    frames = evaluator.dataset.frames
    assert np.isnan(frames.width[0]) and np.isnan(frames.height[1])
    assert frames.width[1] == 100 and frames.height[0] == 80


def test_annotation_id_zero_is_matched_where_pycocotools_is_not(tmp_path: Path) -> None:
    """pycocotools treats a match with annotation id 0 as unmatched (its own bug); we do not.

    The correct answer is what pycocotools gives for the same file with the ids
    renumbered from 1.
    """
    gt, dt = _base()
    for ann in gt["annotations"]:
        ann["id"] -= 1  # ids 0, 1, 2
    gt_path, dt_path = _files(tmp_path, gt, dt)
    buggy, _ = _reference(gt_path, dt_path)
    got, _ = _ours(gt_path, dt_path)
    gt_ok, dt_ok = _base()
    expected, _ = _reference(*_files(tmp_path, gt_ok, dt_ok))
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)
    assert not np.allclose(buggy, expected)  # the bug is real: the README says so


# ------------------------------------------------------------------ thresholds


@st.composite
def _snapped_boxes(draw: st.DrawFn) -> tuple[dict, list]:
    """Pairs whose IoU is 1/2 on paper and detections of area 32² on paper, at odd offsets.

    In floating point such a pair lands a hair above or below 0.5 depending on the
    offset; the area ``w * h`` lands on 1024 or next to it. Parity means landing
    exactly where pycocotools lands.
    """
    n = draw(st.integers(1, 6))
    coord = st.floats(0.0, 500.0, allow_nan=False, allow_infinity=False)
    images, anns, dets = [], [], []
    for i in range(1, n + 1):
        images.append({"id": i, "width": 0, "height": 0})
        x, y = draw(coord), draw(coord)
        s = draw(st.floats(1.0, 64.0))
        k = draw(st.sampled_from([0.5, 1.0, 2.0, 4.0, 1.6, 1.25]))
        kind = draw(st.sampled_from(["iou", "area", "both"]))
        if kind in ("iou", "both"):
            gw, gh = 2 * s, s  # label twice the detection: IoU 1/2
            dw, dh = s, s
        else:
            gw, gh = s * k, s / k
            dw, dh = gw, gh
        if kind in ("area", "both"):
            dw, dh = 32.0 * k, 32.0 / k  # area 32² on paper
            gw, gh = (2 * dw, dh) if kind == "both" else (dw * 1.01, dh)
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [x, y, gw, gh], "area": gw * gh, "iscrowd": 0})
        dx = x + draw(st.sampled_from([0.0, gw - dw]))
        dets.append({"image_id": i, "category_id": 1, "bbox": [dx, y, dw, dh], "score": draw(st.floats(0.05, 1.0))})
    gt = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "fish"}]}
    return gt, dets


@settings(max_examples=60, deadline=None)
@given(case=_snapped_boxes())
def test_boxes_on_the_thresholds_agree_with_pycocotools(tmp_path_factory: pytest.TempPathFactory, case) -> None:
    gt, dt = case
    tmp = tmp_path_factory.mktemp("snap")
    gt_path, dt_path = _files(tmp, gt, dt)
    expected, ev = _reference(gt_path, dt_path)
    got, evaluator = _ours(gt_path, dt_path)
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)
    # and the one matcher, at IoU 0.5, matches exactly the pairs COCOeval matches at 0.5
    coco_matched = sum(
        int((e["dtMatches"][0] > 0).sum()) for e in ev.evalImgs if e is not None and e["aRng"] == [0, 1e10]
    )
    table = evaluator.table(MatchOptions(conf=0.0, iou=0.5, class_aware=True, mode="greedy"))
    assert int((table.type_names() == "TP").sum()) == coco_matched
