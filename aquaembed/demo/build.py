"""Build the demo dataset into a folder.

The frames are split into chunks (consecutive frames of one scene) that worker
processes render, label, detect and embed independently: every frame draws from its own
generator seeded by ``(seed, scene, frame index)``, so the files do not depend on the
number of workers. The parent process numbers the labels and inferences, and writes the
JSON files (orjson, a temporary name, then ``os.replace``) and the embeddings (``.npz``
archives with fixed timestamps, so the bytes are reproducible).
"""

from __future__ import annotations

import io
import os
import re
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from PIL import Image

from aquaembed._parallel import process_map
from aquaembed._validate import integer, positive_int
from aquaembed.demo.config import CATEGORIES, CLASS_KEYS, PEDESTRIAN, DemoConfig, load_config
from aquaembed.demo.detector import SOURCE_POSTER, FrameTruth, simulate_frame
from aquaembed.demo.frames import render_frame
from aquaembed.demo.world import SceneWorld, render_world
from aquaembed.embeddings.builtin import FRAME_DIM, crop_features, crop_pixels, frame_features, frame_pixels, project
from aquaembed.errors import StoreError
from aquaembed.geometry import box_iou, xyxy_to_xywh
from aquaembed.store.atomic import atomic_write, atomic_write_bytes

__all__ = ["CROP_PAD", "build_demo", "frame_plan"]

CROP_PAD = 0.15
"""Context around boxes for the crop embeddings (fraction of width and height)."""

_IMAGE_NAME = re.compile(r"^\d{6}\.jpg$")
_WORLDS: dict[tuple[int, int, int], SceneWorld] = {}


def frame_plan(cfg: DemoConfig, frames: int) -> list[tuple[int, int, int]]:
    """Which frames to make: ``(image_id, scene index, frame index)`` in image-id order.

    Frames are spread evenly over the scenes (the first scenes get one more when the
    count does not divide); image ids start at 1, scene after scene.
    """
    n_scenes = len(cfg.scenes)
    base, extra = divmod(frames, n_scenes)
    plan = []
    image_id = 1
    for s in range(n_scenes):
        for f in range(base + (s < extra)):
            plan.append((image_id, s, f))
            image_id += 1
    return plan


def _world(cfg: DemoConfig, scene: int, seed: int) -> SceneWorld:
    key = (id(cfg.raw), scene, seed)
    if key not in _WORLDS:
        if len(_WORLDS) > 32:
            _WORLDS.clear()
        _WORLDS[key] = render_world(cfg, cfg.scenes[scene], seed)
    return _WORLDS[key]


def _file_name(image_id: int) -> str:
    return f"{image_id:06d}.jpg"


def _work(task: tuple[Mapping[str, Any], int, str, list[tuple[int, int, int]]]) -> dict[str, Any]:
    """Render, label, detect and embed a chunk of frames; write their JPEGs."""
    raw, seed, out_dir, items = task
    cfg = _config(raw)
    images = Path(out_dir) / "images"
    frames: list[dict[str, Any]] = []
    thumbs, label_crops, label_wh, pred_crops, pred_wh = [], [], [], [], []
    for image_id, s, f in items:
        scene = cfg.scenes[s]
        rng = np.random.default_rng([seed, s, f])
        frame = render_frame(cfg, scene, _world(cfg, s, seed), rng)
        truth = simulate_frame(cfg, scene, frame, rng)
        (images / _file_name(image_id)).write_bytes(frame.jpeg)
        with Image.open(io.BytesIO(frame.jpeg)) as im:
            img = im.convert("RGB")
        thumbs.append(frame_pixels(img))
        label_crops.append(crop_pixels(img, truth.label_box, pad=CROP_PAD))
        label_wh.append(xyxy_to_xywh(truth.label_box)[:, 2:])
        pred_crops.append(crop_pixels(img, truth.pred_box, pad=CROP_PAD))
        pred_wh.append(xyxy_to_xywh(truth.pred_box)[:, 2:])
        frames.append(
            {
                "truth": truth,
                "obj_cls": frame.objects.cls,
                "obj_box": np.round(frame.objects.clipped, 2),
                "poster": None if frame.poster is None else np.round(frame.poster, 2),
                "jpeg_bytes": len(frame.jpeg),
            }
        )
    return {
        "frames": frames,
        "frame_vec": frame_features(np.stack(thumbs)),
        "label_vec": crop_features(np.concatenate(label_crops), np.concatenate(label_wh), pad=CROP_PAD),
        "pred_vec": crop_features(np.concatenate(pred_crops), np.concatenate(pred_wh), pad=CROP_PAD),
    }


_CONFIGS: dict[bytes, DemoConfig] = {}


def _config(raw: Mapping[str, Any]) -> DemoConfig:
    key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    if key not in _CONFIGS:
        _CONFIGS[key] = load_config(raw)
    return _CONFIGS[key]


def _xywh(box: np.ndarray) -> list[float]:
    return [round(v, 2) for v in xyxy_to_xywh(box)[0].tolist()]


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, orjson.dumps(obj))


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write an uncompressed ``.npz`` with fixed zip timestamps (reproducible bytes)."""
    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, arr in arrays.items():
                info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.ascontiguousarray(arr), allow_pickle=False)

    atomic_write(path, write)


def build_demo(
    out_dir: str | os.PathLike[str],
    *,
    frames: int = 3000,
    seed: int = 0,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    workers: int | None = None,
    progress: bool = False,
    plan: list[tuple[int, int, int]] | None = None,
) -> dict[str, Any]:
    """Generate the demo dataset into ``out_dir``.

    Writes ``images/<image id>.jpg`` (640 x 384), ``gt.json`` (COCO ground truth with
    frame metadata: scene, time_of_day, weather, camera_id, frame_index), ``pred.json``
    (COCO results of the simulated detector; an inference's id is its 0-based
    position), ``planted.json`` (every planted failure with the ids involved) and
    ``frame_embeddings.npz``, ``label_embeddings.npz``, ``pred_embeddings.npz`` (arrays
    ``ids`` and ``embeddings``) from :mod:`aquaembed.embeddings.builtin`.

    Parameters
    ----------
    out_dir : path
        Created if needed; files of a previous build are replaced (stale frame images
        beyond ``frames`` are removed).
    frames : int, keyword-only
        Number of frames, spread evenly over the scenes (at least one per scene).
    seed : int, keyword-only
        Same seed, same configuration: byte-identical files.
    config : path or mapping, optional, keyword-only
        Generator configuration (see ``data/demo.json``); default
        :data:`aquaembed.demo.config.DEFAULT_CONFIG`. Its ``seed`` and ``frames``
        fields are ignored in favour of the arguments.
    workers : int, optional, keyword-only
        Processes; default: the number of CPUs (at most 8). Builds under 100 frames and
        ``workers=1`` run in this process. The files do not depend on it.
    progress : bool, keyword-only
        Show a progress bar (tqdm) on stderr.
    plan : list of (image id, scene index, frame index), optional, keyword-only
        Which frames to make instead of :func:`frame_plan` (the training set uses
        :func:`aquaembed.demo.train.train_plan`); ``frames`` is then ignored.

    Returns
    -------
    dict
        Counts (frames, labels, inferences, planted instances), bytes written and
        timings in seconds.

    Raises
    ------
    ParameterError
        ``frames`` or ``workers`` out of range.
    InputError
        The configuration is invalid.
    StoreError
        ``out_dir`` cannot be written.
    """
    t0 = time.perf_counter()
    cfg = load_config(config)
    frames = integer(frames, "frames (at least one per scene)", low=len(cfg.scenes))
    if workers is not None:
        workers = positive_int(workers, "workers")
    out = Path(out_dir)
    images_dir = out / "images"
    try:
        images_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{out}: cannot create the demo folder ({exc})") from None
    plan = frame_plan(cfg, int(frames)) if plan is None else list(plan)
    wanted = {_file_name(i) for i, _, _ in plan}
    for p in images_dir.iterdir():
        if _IMAGE_NAME.match(p.name) and p.name not in wanted:
            p.unlink()

    # Chunks of consecutive frames of one scene.
    n_workers = min(os.cpu_count() or 1, 8) if workers is None else int(workers)
    chunk = int(np.clip(len(plan) // (max(n_workers, 1) * 6), 4, 40))
    chunks: list[list[tuple[int, int, int]]] = []
    for item in plan:
        if not chunks or len(chunks[-1]) >= chunk or chunks[-1][-1][1] != item[1]:
            chunks.append([])
        chunks[-1].append(item)
    raw = dict(cfg.raw)
    tasks = [(raw, int(seed), str(out), c) for c in chunks]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), desc="demo frames", unit="frame")
    results: list[dict[str, Any]] = []
    try:
        with process_map(_work, tasks, workers=n_workers, serial=len(plan) < 100) as it:
            for task, res in zip(tasks, it):
                results.append(res)
                if bar is not None:
                    bar.update(len(task[3]))
    except OSError as exc:
        raise StoreError(f"{out}: cannot write the demo images ({exc})") from None
    finally:
        if bar is not None:
            bar.close()
    t_frames = time.perf_counter() - t0

    # ---- number everything, assemble the files
    names = dict(CATEGORIES)
    gt_images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    preds: list[dict[str, Any]] = []
    planted: dict[str, Any] = {"missing_labels": [], "wrong_class_labels": [], "badly_placed_labels": []}
    overfit_images, overfit_labels = [], []
    poster_images, poster_detected, poster_preds, poster_boxes = [], [], [], []
    night_scenes = [s.name for s in cfg.scenes if s.time_of_day == "night"]
    night_images = []
    batches: list[dict[str, Any]] = [
        {
            "kind": b.kind,
            "field": b.field,
            "value": b.value,
            "category_id": b.cls + 1,
            **({"labeled_category_id": b.labeled_as + 1} if b.kind == "wrong_class_label" else {}),
            "rate": b.rate,
            "description": b.description or f"{b.kind} of {CLASS_KEYS[b.cls]} where {b.field} = {b.value}",
            "scenes": [cfg.scenes[i].name for i in b.scenes],
            "image_ids": [],
            **({"gt_ids": []} if b.kind == "wrong_class_label" else {}),
            "pred_indices": [],
        }
        for b in cfg.batches
    ]
    frame_rows = [f for r in results for f in r["frames"]]
    jpeg_bytes = 0
    for (image_id, s, f), fr in zip(plan, frame_rows):
        scene = cfg.scenes[s]
        truth: FrameTruth = fr["truth"]
        jpeg_bytes += fr["jpeg_bytes"]
        gt_images.append(
            {
                "id": image_id,
                "file_name": _file_name(image_id),
                "width": cfg.width,
                "height": cfg.height,
                "scene": scene.name,
                "time_of_day": scene.time_of_day,
                "weather": scene.weather,
                "camera_id": scene.camera_id,
                "frame_index": f,
            }
        )
        first_label = len(annotations) + 1
        first_pred = len(preds)
        for k in range(truth.label_obj.size):
            xywh = _xywh(truth.label_box[k])
            annotations.append(
                {
                    "id": first_label + k,
                    "image_id": image_id,
                    "category_id": int(truth.label_cls[k]) + 1,
                    "bbox": xywh,
                    "area": round(xywh[2] * xywh[3], 2),
                    "iscrowd": 0,
                }
            )
        for k in range(truth.pred_cls.size):
            preds.append(
                {
                    "image_id": image_id,
                    "category_id": int(truth.pred_cls[k]) + 1,
                    "bbox": _xywh(truth.pred_box[k]),
                    "score": float(truth.pred_score[k]),
                }
            )

        def preds_of(obj: int) -> list[int]:
            return [first_pred + int(k) for k in np.flatnonzero(truth.pred_source == obj)]  # noqa: B023

        for spec in cfg.batches_of(s):
            batches[spec.index]["image_ids"].append(image_id)
        for o, b in zip(truth.missing_obj.tolist(), truth.missing_batch.tolist()):
            pi = preds_of(o)
            planted["missing_labels"].append(
                {
                    "image_id": image_id,
                    "category_id": int(fr["obj_cls"][o]) + 1,
                    "bbox": _xywh(fr["obj_box"][o]),
                    "pred_indices": pi,
                    "max_score": max((float(preds[p]["score"]) for p in pi), default=None),
                    "batch": None if b < 0 else b,
                }
            )
            if b >= 0:
                batches[b]["pred_indices"] += pi
        for k in np.flatnonzero(truth.label_kind == 1).tolist():
            o, b = int(truth.label_obj[k]), int(truth.label_batch[k])
            planted["wrong_class_labels"].append(
                {
                    "image_id": image_id,
                    "gt_id": first_label + k,
                    "labeled_category_id": int(truth.label_cls[k]) + 1,
                    "true_category_id": int(fr["obj_cls"][o]) + 1,
                    "pred_indices": preds_of(o),
                    "batch": None if b < 0 else b,
                }
            )
            if b >= 0:
                batches[b]["gt_ids"].append(first_label + k)
                batches[b]["pred_indices"] += preds_of(o)
        for k in np.flatnonzero(truth.label_kind == 2).tolist():
            o = int(truth.label_obj[k])
            true_box = fr["obj_box"][o]
            planted["badly_placed_labels"].append(
                {
                    "image_id": image_id,
                    "gt_id": first_label + k,
                    "category_id": int(truth.label_cls[k]) + 1,
                    "true_bbox": _xywh(true_box),
                    "labeled_bbox": _xywh(truth.label_box[k]),
                    "iou": round(float(box_iou(true_box[None], truth.label_box[k][None])[0, 0]), 4),
                    "pred_indices": preds_of(o),
                }
            )
        if s == cfg.overfitted_scene:
            overfit_images.append(image_id)
            overfit_labels += [first_label + int(k) for k in np.flatnonzero(truth.label_cls == PEDESTRIAN)]
        if s == cfg.recurring_fp_scene:
            poster_images.append(image_id)
            hits = [first_pred + int(k) for k in np.flatnonzero(truth.pred_source == SOURCE_POSTER)]
            if hits:
                poster_detected.append(image_id)
                poster_preds += hits
                poster_boxes.append(_xywh(fr["poster"]))
        if scene.time_of_day == "night":
            night_images.append(image_id)

    planted["overfitted_scene"] = {
        "scene": cfg.scenes[cfg.overfitted_scene].name,
        "category_id": PEDESTRIAN + 1,
        "description": "the detector is near-perfect on pedestrians here and much weaker on them elsewhere",
        "image_ids": overfit_images,
        "gt_ids": overfit_labels,
    }
    planted["recurring_false_positive"] = {
        "scene": cfg.scenes[cfg.recurring_fp_scene].name,
        "category_id": PEDESTRIAN + 1,
        "description": "a poster of a person on a facade, detected as a pedestrian; it has no label",
        "image_ids": poster_images,
        "detected_image_ids": poster_detected,
        "pred_indices": poster_preds,
        "bboxes": poster_boxes,
    }
    planted["batch_label_errors"] = batches
    planted["hard_condition"] = {
        "condition": "night",
        "description": "dark frames: the detector's recall is clearly lower",
        "scenes": night_scenes,
        "image_ids": night_images,
    }
    counts = {
        "frames": len(gt_images),
        "labels": len(annotations),
        "inferences": len(preds),
        "missing_labels": len(planted["missing_labels"]),
        "wrong_class_labels": len(planted["wrong_class_labels"]),
        "badly_placed_labels": len(planted["badly_placed_labels"]),
        "batch_missing_labels": sum(m["batch"] is not None for m in planted["missing_labels"]),
        "batch_wrong_class_labels": sum(m["batch"] is not None for m in planted["wrong_class_labels"]),
        "recurring_false_positives": len(poster_preds),
        "night_frames": len(night_images),
    }
    planted = {"version": 1, "seed": int(seed), "counts": counts, **planted}
    gt = {
        "info": {
            "description": "aquaembed demo dataset (rendered scenes, simulated detector)",
            "version": "1",
            "seed": int(seed),
        },
        "images": gt_images,
        "annotations": annotations,
        "categories": [
            {"id": i, "name": n, "supercategory": "vehicle" if i <= 3 else ("person" if i <= 5 else "object")}
            for i, n in names.items()
        ],
    }
    try:
        _write_json(out / "gt.json", gt)
        _write_json(out / "pred.json", preds)
        _write_json(out / "planted.json", planted)
        _write_npz(
            out / "frame_embeddings.npz",
            ids=np.asarray([im["id"] for im in gt_images], dtype=np.int64),
            embeddings=project(np.concatenate([r["frame_vec"] for r in results]), dim=FRAME_DIM),
        )
        _write_npz(
            out / "label_embeddings.npz",
            ids=np.asarray([a["id"] for a in annotations], dtype=np.int64),
            embeddings=np.concatenate([r["label_vec"] for r in results]),
        )
        _write_npz(
            out / "pred_embeddings.npz",
            ids=np.arange(len(preds), dtype=np.int64),
            embeddings=np.concatenate([r["pred_vec"] for r in results]),
        )
    except OSError as exc:
        raise StoreError(f"{out}: cannot write the demo files ({exc})") from None
    total = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file()) + jpeg_bytes
    return {
        "out_dir": str(out),
        "seed": int(seed),
        "workers": 1 if (n_workers == 1 or len(plan) < 100) else n_workers,
        "counts": counts,
        "bytes": int(size),
        "seconds": {"frames": round(t_frames, 3), "write": round(total - t_frames, 3), "total": round(total, 3)},
    }
