"""The synthetic COCO generator: deterministic, valid COCO, and shaped as documented."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from aquaembed.errors import ParameterError
from aquaembed.synthetic import COCO_NAMES, make_coco, write_coco

N_FRAMES = 1500
PREDS = 30


@pytest.fixture(scope="module")
def synth() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return make_coco(N_FRAMES, preds_per_frame=PREDS, seed=7)


def _xyxy(boxes: list[list[float]]) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def _best_iou(gt: dict[str, Any], results: list[dict[str, Any]]) -> np.ndarray:
    """For each result, its largest IoU with a label of its frame (0 when none)."""
    labels: dict[int, list[list[float]]] = {}
    for a in gt["annotations"]:
        labels.setdefault(a["image_id"], []).append(a["bbox"])
    preds: dict[int, list[list[float]]] = {}
    for r in results:
        preds.setdefault(r["image_id"], []).append(r["bbox"])
    best = []
    for image_id, boxes in preds.items():
        p = _xyxy(boxes)
        g = _xyxy(labels.get(image_id, []))
        if g.shape[0] == 0:
            best.append(np.zeros(p.shape[0]))
            continue
        lt = np.maximum(p[:, None, :2], g[None, :, :2])
        rb = np.minimum(p[:, None, 2:], g[None, :, 2:])
        wh = np.clip(rb - lt, 0.0, None)
        inter = wh[..., 0] * wh[..., 1]
        area_p = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
        area_g = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
        best.append((inter / (area_p[:, None] + area_g[None, :] - inter)).max(axis=1))
    return np.concatenate(best)


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    a = write_coco(tmp_path / "a", 200, seed=3, preds_per_frame=20)
    b = write_coco(tmp_path / "b", 200, seed=3, preds_per_frame=20)
    c = write_coco(tmp_path / "c", 200, seed=4, preds_per_frame=20)
    assert [p.name for p in a] == ["gt.json", "pred.json"]
    assert a[0].read_bytes() == b[0].read_bytes()
    assert a[1].read_bytes() == b[1].read_bytes()
    assert a[1].read_bytes() != c[1].read_bytes()
    # nothing but the two files is left behind (no temporary names)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["gt.json", "pred.json"]


def test_written_files_equal_the_returned_documents(tmp_path: Path) -> None:
    gt_path, pred_path = write_coco(tmp_path, 50, seed=1, n_classes=5, preds_per_frame=10)
    gt, results = make_coco(50, seed=1, n_classes=5, preds_per_frame=10)
    assert orjson.loads(gt_path.read_bytes()) == gt
    assert orjson.loads(pred_path.read_bytes()) == results


def test_fields_and_value_ranges(synth: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    gt, results = synth
    images, anns, cats = gt["images"], gt["annotations"], gt["categories"]
    assert len(images) == N_FRAMES
    image_ids = [im["id"] for im in images]
    assert len(set(image_ids)) == N_FRAMES
    assert all(set(im) == {"id", "file_name", "width", "height"} for im in images)
    assert [c["id"] for c in cats] == list(range(1, 81))
    assert [c["name"] for c in cats] == list(COCO_NAMES)
    assert len({a["id"] for a in anns}) == len(anns)
    assert all(set(a) == {"id", "image_id", "category_id", "bbox", "area", "iscrowd"} for a in anns)
    assert all(set(r) == {"image_id", "category_id", "bbox", "score"} for r in results)
    known = set(image_ids)
    assert {a["image_id"] for a in anns} <= known
    assert {r["image_id"] for r in results} <= known
    assert {a["category_id"] for a in anns} <= set(range(1, 81))
    assert {r["category_id"] for r in results} <= set(range(1, 81))
    for boxes in (np.array([a["bbox"] for a in anns]), np.array([r["bbox"] for r in results])):
        assert (boxes[:, 2:] >= 1.0).all()
        assert (boxes[:, :2] >= 0.0).all()
        assert (boxes[:, 0] + boxes[:, 2] <= 640.0 + 1e-6).all()
        assert (boxes[:, 1] + boxes[:, 3] <= 480.0 + 1e-6).all()
    scores = np.array([r["score"] for r in results])
    assert ((scores >= 0.0) & (scores <= 1.0)).all()
    assert np.array_equal(np.round(scores, 3), scores)
    # results are grouped by image and sorted by descending score inside one
    frame_of = {i: k for k, i in enumerate(image_ids)}
    rows = np.array([frame_of[r["image_id"]] for r in results])
    assert (np.diff(rows) >= 0).all()
    same = np.diff(rows) == 0
    assert (np.diff(scores)[same] <= 0).all()


def test_loads_and_evaluates_with_pycocotools(tmp_path: Path) -> None:
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_path, pred_path = write_coco(tmp_path, 60, seed=2, n_classes=6, preds_per_frame=15)
    coco_gt = COCO(str(gt_path))
    coco_dt = coco_gt.loadRes(str(pred_path))
    ev = COCOeval(coco_gt, coco_dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    stats = np.asarray(ev.stats)
    assert stats.shape == (12,)
    # a detector that finds most objects: a clearly positive, imperfect AP50
    assert 0.2 < stats[1] < 0.95


def test_counts_near_the_requested_means(synth: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    gt, results = synth
    anns = gt["annotations"]
    assert len(anns) / N_FRAMES == pytest.approx(7.0, rel=0.05)
    per_frame_labels = Counter(a["image_id"] for a in anns)
    per_frame_preds = Counter(r["image_id"] for r in results)
    ids = [im["id"] for im in gt["images"]]
    no_labels = sum(1 for i in ids if per_frame_labels[i] == 0)
    no_preds = sum(1 for i in ids if per_frame_preds[i] == 0)
    assert 0.01 * N_FRAMES < no_labels < 0.06 * N_FRAMES
    assert 0 < no_preds < 0.03 * N_FRAMES
    assert max(per_frame_preds.values()) == PREDS
    # every frame with inferences is filled up to preds_per_frame
    assert sum(per_frame_preds.values()) == PREDS * (N_FRAMES - no_preds)
    crowd = np.mean([a["iscrowd"] for a in anns])
    assert 0.003 < crowd < 0.03


def test_realistic_shape(synth: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    gt, results = synth
    anns = gt["annotations"]
    area = np.array([a["area"] for a in anns])
    wh = np.array([a["bbox"][2] * a["bbox"][3] for a in anns])
    # COCO's small / medium / large ranges are all well populated
    small, large = area < 32**2, area >= 96**2
    for part in (small, ~small & ~large, large):
        assert part.mean() > 0.15
    # the segmentation-like area is below w * h for some labels, never above
    below = area < wh - 0.01
    assert 0.1 < below.mean() < 0.5
    assert (area <= wh + 0.01).all()
    # detections spread from poor to near-perfect overlap; many low-score background FPs
    best = _best_iou(gt, results)
    scores = np.array([r["score"] for r in results])
    hits = best[best >= 0.3]
    assert np.quantile(hits, 0.05) < 0.45
    assert np.quantile(hits, 0.95) > 0.9
    assert (scores < 0.1).mean() > 0.4  # here 30 per frame, ~21 of them background
    assert np.median(scores[best >= 0.7]) > 0.5
    # some confident detections name another class than the label they cover
    assert 0.02 < _confusion_rate(gt, results) < 0.1


def _confusion_rate(gt: dict[str, Any], results: list[dict[str, Any]]) -> float:
    """Among results with a same-box label (IoU >= 0.7), the fraction of another class."""
    by_frame: dict[int, list[dict[str, Any]]] = {}
    for a in gt["annotations"]:
        by_frame.setdefault(a["image_id"], []).append(a)
    same = other = 0
    for r in results:
        labels = by_frame.get(r["image_id"], [])
        if not labels:
            continue
        g = _xyxy([a["bbox"] for a in labels])
        p = _xyxy([r["bbox"]])[0]
        wh = np.clip(np.minimum(p[2:], g[:, 2:]) - np.maximum(p[:2], g[:, :2]), 0.0, None)
        inter = wh[:, 0] * wh[:, 1]
        iou = inter / ((p[2] - p[0]) * (p[3] - p[1]) + (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]) - inter)
        k = int(np.argmax(iou))
        if iou[k] >= 0.7:
            if labels[k]["category_id"] == r["category_id"]:
                same += 1
            else:
                other += 1
    return other / max(same + other, 1)


def test_many_classes_get_generic_names_and_small_inputs_work() -> None:
    gt, results = make_coco(5, n_classes=120, preds_per_frame=3, seed=0)
    names = [c["name"] for c in gt["categories"]]
    assert names[0] == "class_001" and names[-1] == "class_120"
    assert len(results) <= 15
    gt0, res0 = make_coco(0)
    assert gt0["images"] == [] and gt0["annotations"] == [] and res0 == []
    gt1, res1 = make_coco(10, labels_per_frame=0.0, preds_per_frame=0)
    assert gt1["annotations"] == [] and res1 == []


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"n_frames": -1}, "n_frames"),
        ({"n_frames": 3, "n_classes": 1}, "n_classes"),
        ({"n_frames": 3, "labels_per_frame": -2.0}, "labels_per_frame"),
        ({"n_frames": 3, "preds_per_frame": -1}, "preds_per_frame"),
        ({"n_frames": 3, "width": 4}, "width"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs: dict[str, Any], word: str) -> None:
    n = kwargs.pop("n_frames")
    with pytest.raises(ParameterError, match=word):
        make_coco(n, **kwargs)
