"""The demo dataset: determinism, planted patterns that agree with the data, and the
patterns visible in raw numbers and in the built-in embeddings.

One build of 300 frames (20 per scene, in two worker processes) serves most tests; the
determinism tests use 30-frame builds in this process.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from PIL import Image

from aquaembed.demo import DEFAULT_CONFIG, build_demo, frame_plan, load_config
from aquaembed.demo.config import CLASS_KEYS
from aquaembed.embeddings.builtin import embed_coco
from aquaembed.errors import InputError, ParameterError

REPO = Path(__file__).resolve().parents[2]
FILES = ("gt.json", "pred.json", "planted.json", "frame_embeddings.npz", "label_embeddings.npz", "pred_embeddings.npz")


# --------------------------------------------------------------------------- helpers


def _xyxy(b: list[float]) -> np.ndarray:
    return np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]], dtype=np.float64)


def _boxes(xywh: Any) -> np.ndarray:
    return np.stack([_xyxy(b) for b in xywh])


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU, written out independently of the library: (n, 4) x (m, 4) -> (n, m)."""
    a = a.reshape(-1, 4)
    b = b.reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def _load(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _hashes(folder: Path) -> dict[str, str]:
    names = list(FILES) + sorted(f"images/{p.name}" for p in (folder / "images").iterdir())
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in names}


def _knn_share(emb: np.ndarray, groups: np.ndarray, k: int = 10) -> np.ndarray:
    """Per row: fraction of its k nearest neighbours (cosine, brute force) in its group."""
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)
    nn = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return (groups[nn] == groups[:, None]).mean(axis=1)


class Demo:
    """The files of one build, parsed, with a quick greedy matching (conf 0.5, IoU 0.5)."""

    def __init__(self, root: Path, summary: dict[str, Any]) -> None:
        self.root = root
        self.summary = summary
        self.gt = _load(root / "gt.json")
        self.pred = _load(root / "pred.json")
        self.planted = _load(root / "planted.json")
        self.images = {im["id"]: im for im in self.gt["images"]}
        self.labels_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for a in self.gt["annotations"]:
            self.labels_of[a["image_id"]].append(a)
        self.preds_of: dict[int, list[int]] = defaultdict(list)
        for i, p in enumerate(self.pred):
            self.preds_of[p["image_id"]].append(i)
        self.label_hit = self._greedy()

    def _greedy(self) -> dict[int, bool]:
        """Label id -> found by a kept inference of its class (class-agnostic greedy pairing)."""
        hit: dict[int, bool] = {}
        for image_id in self.images:
            labels = self.labels_of[image_id]
            kept = [i for i in self.preds_of[image_id] if self.pred[i]["score"] >= 0.5]
            kept.sort(key=lambda i: -self.pred[i]["score"])
            for a in labels:
                hit[a["id"]] = False
            if not labels or not kept:
                continue
            iou = _iou(_boxes(a["bbox"] for a in labels), _boxes(self.pred[i]["bbox"] for i in kept))
            used: set[int] = set()
            for j, i in enumerate(kept):
                cand = [k for k in range(len(labels)) if k not in used and iou[k, j] >= 0.5]
                if cand:
                    k = max(cand, key=lambda k: iou[k, j])
                    used.add(k)
                    hit[labels[k]["id"]] = labels[k]["category_id"] == self.pred[i]["category_id"]
        return hit

    def recall(self, frame_ok: Any, category: int | None = None) -> tuple[float, int]:
        ids = [
            a["id"]
            for a in self.gt["annotations"]
            if frame_ok(self.images[a["image_id"]]) and (category is None or a["category_id"] == category)
        ]
        return float(np.mean([self.label_hit[i] for i in ids])), len(ids)

    def f1(self, frame_ok: Any) -> float:
        frames = [i for i, im in self.images.items() if frame_ok(im)]
        tp = sum(self.label_hit[a["id"]] for i in frames for a in self.labels_of[i])
        n_labels = sum(len(self.labels_of[i]) for i in frames)
        n_kept = sum(1 for i in frames for p in self.preds_of[i] if self.pred[p]["score"] >= 0.5)
        return 2 * tp / (n_labels + n_kept)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("demo") / "d300"
    summary = build_demo(root, frames=300, seed=0, workers=2)
    return Demo(root, summary)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("small")
    out = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        build_demo(base / name, frames=30, seed=seed)
        out[name] = base / name
    return out


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_files(small: dict[str, Path]) -> None:
    assert _hashes(small["a"]) == _hashes(small["b"])


def test_another_seed_gives_other_files(small: dict[str, Path]) -> None:
    a, c = _hashes(small["a"]), _hashes(small["c"])
    assert a.keys() == c.keys()
    assert all(a[n] != c[n] for n in FILES)


def test_frames_do_not_depend_on_build_size_or_workers(small: dict[str, Path], demo: Demo) -> None:
    # Frame (scene s, index f) is the same picture in a 30-frame in-process build and in
    # the 300-frame two-worker build.
    cfg = load_config()
    big = {(s, f): i for i, s, f in frame_plan(cfg, 300)}
    for image_id, s, f in frame_plan(cfg, 30):
        a = (small["a"] / "images" / f"{image_id:06d}.jpg").read_bytes()
        b = (demo.root / "images" / f"{big[(s, f)]:06d}.jpg").read_bytes()
        assert a == b, (s, f)


# --------------------------------------------------------------------------- format


def test_coco_files_are_well_formed(demo: Demo) -> None:
    gt = demo.gt
    assert [c["id"] for c in gt["categories"]] == [1, 2, 3, 4, 5, 6]
    assert [c["name"] for c in gt["categories"]] == ["car", "truck", "bus", "pedestrian", "cyclist", "traffic sign"]
    assert len(gt["images"]) == 300 and len({im["id"] for im in gt["images"]}) == 300
    scenes = {s["name"]: s for s in DEFAULT_CONFIG["scenes"]}
    for im in gt["images"]:
        assert (im["width"], im["height"]) == (640, 384)
        s = scenes[im["scene"]]
        assert (im["time_of_day"], im["weather"], im["camera_id"]) == (s["time_of_day"], s["weather"], s["camera_id"])
        assert 0 <= im["frame_index"] < 20
    ids = [a["id"] for a in gt["annotations"]]
    assert ids == list(range(1, len(ids) + 1))
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        assert a["image_id"] in demo.images and 1 <= a["category_id"] <= 6 and a["iscrowd"] == 0
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 640.01 and y + h <= 384.01
        assert a["area"] == pytest.approx(w * h, abs=0.02)
    for p in demo.pred:
        assert p["image_id"] in demo.images and 1 <= p["category_id"] <= 6 and 0.0 <= p["score"] <= 1.0
        assert p["bbox"][2] > 0 and p["bbox"][3] > 0
    # Every scene contributes; the classes range from tiny to large and some boxes touch an edge.
    assert len({im["scene"] for im in gt["images"]}) == 15
    sides = np.sqrt([a["bbox"][2] * a["bbox"][3] for a in gt["annotations"]])
    assert sides.min() < 8 and sides.max() > 150
    assert sum(a["bbox"][0] <= 0.01 or a["bbox"][0] + a["bbox"][2] >= 639.99 for a in gt["annotations"]) > 10
    assert {a["category_id"] for a in gt["annotations"]} == {1, 2, 3, 4, 5, 6}


def test_images_and_summary(demo: Demo) -> None:
    names = sorted(p.name for p in (demo.root / "images").iterdir())
    assert names == sorted(im["file_name"] for im in demo.gt["images"])
    with Image.open(demo.root / "images" / names[0]) as im:
        assert im.size == (640, 384) and im.format == "JPEG"
    counts = demo.summary["counts"]
    assert counts["frames"] == 300
    assert counts["labels"] == len(demo.gt["annotations"]) and counts["inferences"] == len(demo.pred)
    assert demo.planted["counts"] == counts


def test_embedding_files_line_up_with_the_json(demo: Demo) -> None:
    f = np.load(demo.root / "frame_embeddings.npz")
    lab = np.load(demo.root / "label_embeddings.npz")
    pr = np.load(demo.root / "pred_embeddings.npz")
    assert f["ids"].tolist() == [im["id"] for im in demo.gt["images"]]
    assert lab["ids"].tolist() == [a["id"] for a in demo.gt["annotations"]]
    assert pr["ids"].tolist() == list(range(len(demo.pred)))
    for arr in (f, lab, pr):
        e = arr["embeddings"]
        assert e.dtype == np.float32 and e.shape[0] == arr["ids"].shape[0]
        assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)


def test_the_ingest_embedder_reproduces_the_demo_embeddings(demo: Demo) -> None:
    emb = embed_coco(demo.root / "images", demo.gt, demo.pred, workers=1)
    lab = np.load(demo.root / "label_embeddings.npz")["embeddings"]
    pr = np.load(demo.root / "pred_embeddings.npz")["embeddings"]
    fr = np.load(demo.root / "frame_embeddings.npz")["embeddings"]
    np.testing.assert_array_equal(emb.labels, lab)
    np.testing.assert_array_equal(emb.preds, pr)
    assert np.allclose((emb.frames * fr).sum(axis=1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------- planted


def test_missing_labels_have_no_label_and_a_confident_inference(demo: Demo) -> None:
    missing = demo.planted["missing_labels"]
    even = [m for m in missing if m["batch"] is None]
    n_objects = len(demo.gt["annotations"]) + len(missing)
    assert 0.015 <= len(even) / n_objects <= 0.05
    found = 0
    for m in missing:
        box = _xyxy(m["bbox"])
        labels = demo.labels_of[m["image_id"]]
        if labels:
            assert _iou(box, np.stack([_xyxy(a["bbox"]) for a in labels])).max() < 0.3
        for i in m["pred_indices"]:
            assert demo.pred[i]["image_id"] == m["image_id"]
        if m["batch"] is None:  # the even ones are found with confidence (a skipped batch's are not forced)
            confident = [i for i in m["pred_indices"] if demo.pred[i]["score"] >= 0.5]
            found += any(_iou(box, _xyxy(demo.pred[i]["bbox"]))[0, 0] >= 0.5 for i in confident)
    assert found / len(even) >= 0.8


def test_wrong_class_labels(demo: Demo) -> None:
    wrong = demo.planted["wrong_class_labels"]
    even = [w for w in wrong if w["batch"] is None]
    assert 0.002 <= len(even) / len(demo.gt["annotations"]) <= 0.025
    by_id = {a["id"]: a for a in demo.gt["annotations"]}
    agree = 0
    for w in wrong:
        a = by_id[w["gt_id"]]
        assert a["image_id"] == w["image_id"] and a["category_id"] == w["labeled_category_id"]
        assert w["labeled_category_id"] != w["true_category_id"]
        confident = [i for i in w["pred_indices"] if demo.pred[i]["score"] >= 0.5]
        agree += any(demo.pred[i]["category_id"] == w["true_category_id"] for i in confident)
    assert agree >= len(wrong) // 3  # the detector often sees the true class


def _in_batch(batch: dict[str, Any], image: dict[str, Any]) -> bool:
    return str(image[batch["field"]]) == batch["value"]


def test_label_error_batches(demo: Demo) -> None:
    """Each configured batch is recorded with its frames and ids, and hits about ``rate`` of
    its class there (and nothing elsewhere)."""
    batches = demo.planted["batch_label_errors"]
    assert [(b["kind"], b["field"], b["value"]) for b in batches] == [
        (c["kind"], c["field"], c["value"]) for c in DEFAULT_CONFIG["batch_label_errors"]
    ]
    names = {i + 1: k for i, k in enumerate(CLASS_KEYS)}
    for index, (batch, spec) in enumerate(zip(batches, DEFAULT_CONFIG["batch_label_errors"], strict=True)):
        frames = [i for i, im in demo.images.items() if _in_batch(batch, im)]
        assert batch["image_ids"] == frames and frames
        assert names[batch["category_id"]] == spec["class"] and batch["rate"] == spec["rate"]
        if batch["kind"] == "missing_label":
            hit = [m for m in demo.planted["missing_labels"] if m["batch"] == index]
            assert all(m["category_id"] == batch["category_id"] and m["image_id"] in frames for m in hit)
            assert batch["pred_indices"] == [i for m in hit for i in m["pred_indices"]]
            left = [a for i in frames for a in demo.labels_of[i] if a["category_id"] == batch["category_id"]]
            # the detector finds most skipped objects at its own confidence
            found = sum(any(demo.pred[i]["score"] >= 0.5 for i in m["pred_indices"]) for m in hit)
            assert found >= 0.5 * len(hit)
        else:
            hit = [w for w in demo.planted["wrong_class_labels"] if w["batch"] == index]
            assert names[batch["labeled_category_id"]] == spec["labeled_as"]
            assert all(
                (w["true_category_id"], w["labeled_category_id"]) == (batch["category_id"], batch["labeled_category_id"])
                and w["image_id"] in frames
                for w in hit
            )
            assert batch["gt_ids"] == [w["gt_id"] for w in hit]
            assert batch["pred_indices"] == [i for w in hit for i in w["pred_indices"]]
            left = [
                a for i in frames for a in demo.labels_of[i]
                if a["category_id"] == batch["category_id"] and a["id"] not in set(batch["gt_ids"])
            ]
        assert len(hit) >= 8
        # ~20 frames of the batch at this size: a binomial share, loosely bounded
        assert spec["rate"] - 0.3 <= len(hit) / (len(hit) + len(left)) <= min(spec["rate"] + 0.3, 1.0)
    counts = demo.planted["counts"]
    assert counts["batch_missing_labels"] == sum(m["batch"] is not None for m in demo.planted["missing_labels"])
    assert counts["batch_wrong_class_labels"] == sum(w["batch"] is not None for w in demo.planted["wrong_class_labels"])


def test_badly_placed_labels(demo: Demo) -> None:
    bad = demo.planted["badly_placed_labels"]
    assert 0.002 <= len(bad) / len(demo.gt["annotations"]) <= 0.025
    by_id = {a["id"]: a for a in demo.gt["annotations"]}
    for b in bad:
        a = by_id[b["gt_id"]]
        assert a["bbox"] == b["labeled_bbox"] and a["category_id"] == b["category_id"]
        iou = _iou(_xyxy(b["true_bbox"]), _xyxy(b["labeled_bbox"]))[0, 0]
        assert 0.24 <= iou <= 0.61 and iou == pytest.approx(b["iou"], abs=2e-3)


def test_overfitted_scene_and_night_records(demo: Demo) -> None:
    over = demo.planted["overfitted_scene"]
    frames = [i for i, im in demo.images.items() if im["scene"] == over["scene"]]
    assert over["image_ids"] == frames and over["category_id"] == 4
    assert over["gt_ids"] == [a["id"] for i in frames for a in demo.labels_of[i] if a["category_id"] == 4]
    night = demo.planted["hard_condition"]
    assert night["image_ids"] == [i for i, im in demo.images.items() if im["time_of_day"] == "night"]
    assert set(night["scenes"]) == {s["name"] for s in DEFAULT_CONFIG["scenes"] if s["time_of_day"] == "night"}


def test_recurring_false_positive(demo: Demo) -> None:
    rec = demo.planted["recurring_false_positive"]
    frames = [i for i, im in demo.images.items() if im["scene"] == rec["scene"]]
    assert rec["image_ids"] == frames
    assert len(rec["detected_image_ids"]) >= 0.6 * len(frames)
    assert len(rec["pred_indices"]) == len(rec["detected_image_ids"]) == len(rec["bboxes"])
    for i, box in zip(rec["pred_indices"], rec["bboxes"]):
        p = demo.pred[i]
        assert p["image_id"] in rec["detected_image_ids"] and p["category_id"] == 4 and p["score"] >= 0.5
        assert _iou(_xyxy(p["bbox"]), _xyxy(box))[0, 0] >= 0.6
        labels = demo.labels_of[p["image_id"]]
        if labels:  # nobody labelled the poster
            assert _iou(_xyxy(p["bbox"]), np.stack([_xyxy(a["bbox"]) for a in labels])).max() < 0.5


# --------------------------------------------------------------------------- in numbers


def test_the_patterns_show_in_raw_numbers(demo: Demo) -> None:
    over = demo.planted["overfitted_scene"]["scene"]
    day, n_day = demo.recall(lambda im: im["time_of_day"] == "day")
    night, n_night = demo.recall(lambda im: im["time_of_day"] == "night")
    assert n_day > 500 and n_night > 150
    assert night < day - 0.2
    ped_over, n_over = demo.recall(lambda im: im["scene"] == over, 4)
    ped_else, n_else = demo.recall(lambda im: im["scene"] != over, 4)
    assert n_over >= 20 and n_else >= 50
    assert ped_over >= 0.9 and ped_else <= 0.75 and ped_over - ped_else >= 0.25
    # A decent detector where nothing is planted: day scenes but the overfitted one.
    f1 = demo.f1(lambda im: im["time_of_day"] == "day" and im["scene"] != over)
    assert 0.7 <= f1 <= 0.9


def test_trucks_and_buses_are_sometimes_called_cars(demo: Demo) -> None:
    called_car = total = 0
    for image_id, labels in demo.labels_of.items():
        big = [a for a in labels if a["category_id"] in (2, 3)]
        kept = [i for i in demo.preds_of[image_id] if demo.pred[i]["score"] >= 0.3]
        if not big or not kept:
            continue
        iou = _iou(np.stack([_xyxy(a["bbox"]) for a in big]), np.stack([_xyxy(demo.pred[i]["bbox"]) for i in kept]))
        for k in range(len(big)):
            j = int(np.argmax(iou[k]))
            if iou[k, j] >= 0.5:
                total += 1
                called_car += demo.pred[kept[j]]["category_id"] == 1
    assert total > 50 and 0.02 <= called_car / total <= 0.35


# --------------------------------------------------------------------------- embeddings


def test_frames_of_a_scene_are_neighbours(demo: Demo) -> None:
    f = np.load(demo.root / "frame_embeddings.npz")
    scenes = np.array([demo.images[i]["scene"] for i in f["ids"].tolist()])
    assert _knn_share(f["embeddings"], scenes).mean() >= 0.9


def test_label_crops_group_by_class(demo: Demo) -> None:
    lab = np.load(demo.root / "label_embeddings.npz")
    cls = np.array([a["category_id"] for a in demo.gt["annotations"]])
    assert _knn_share(lab["embeddings"], cls).mean() >= 0.8


def test_recurring_false_positives_are_each_others_neighbours(demo: Demo) -> None:
    pr = np.load(demo.root / "pred_embeddings.npz")["embeddings"]
    poster = np.zeros(len(demo.pred), dtype=bool)
    poster[demo.planted["recurring_false_positive"]["pred_indices"]] = True
    k = min(10, int(poster.sum()) - 1)
    share = _knn_share(pr, poster, k=k)[poster]
    assert k >= 5 and share.mean() >= 0.8


# --------------------------------------------------------------------------- configuration


def test_the_repository_config_is_the_default() -> None:
    assert _load(REPO / "data" / "demo.json") == DEFAULT_CONFIG
    cfg = load_config(REPO / "data" / "demo.json")
    assert len(cfg.scenes) == 15 and cfg.scenes[cfg.overfitted_scene].name == "plaza_crossing"


def test_bad_configurations_are_rejected(tmp_path: Path) -> None:
    broken = dict(DEFAULT_CONFIG, overfitted_scene="nowhere")
    with pytest.raises(InputError, match="overfitted_scene"):
        load_config(broken)
    scenes = [dict(s) for s in DEFAULT_CONFIG["scenes"]]
    scenes[3] = dict(scenes[3], weather="snow")
    with pytest.raises(InputError, match=r"scenes\[3\].weather"):
        load_config(dict(DEFAULT_CONFIG, scenes=scenes))
    for change, message in (
        ({"kind": "extra_label"}, r"batch_label_errors\[1\].kind"),
        ({"value": "cam-99"}, r"batch_label_errors\[1\]: no scene has camera_id = 'cam-99'"),
        ({"labeled_as": "truck"}, "labeled_as must differ"),
        ({"rate": 1.5}, r"batch_label_errors\[1\].rate must be in \[0, 1\]"),
        ({"class": "traffic_sign", "field": "scene", "value": "riverside_park"}, "another batch already plants"),
    ):
        batches = [dict(b) for b in DEFAULT_CONFIG["batch_label_errors"]]
        batches[1].update(change)
        with pytest.raises(InputError, match=message):
            load_config(dict(DEFAULT_CONFIG, batch_label_errors=batches))
    path = tmp_path / "demo.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="demo.json"):
        load_config(path)


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="frames"):
        build_demo(tmp_path / "x", frames=3)
    with pytest.raises(ParameterError, match="workers"):
        build_demo(tmp_path / "x", frames=30, workers=0)
