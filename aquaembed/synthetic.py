"""Seeded synthetic COCO data: a ground-truth file and a detector's results file.

The generator stands in for a real dataset in the benchmarks, in the tests and in the
first command of the README. Everything is drawn column-wise with numpy from one
seeded generator, so the same arguments always give the same bytes.

What the data looks like
------------------------
* Frames with a Poisson number of labels (some frames have none), classes with a
  long-tailed frequency, box sizes log-uniform so that COCO's small, medium and large
  ranges are all well populated, and some boxes overlapping a neighbour.
* About 1 % crowd labels (``iscrowd=1``), and a COCO ``area`` that is smaller than
  ``w * h`` for some labels (as a segmentation area would be).
* Per label 0 to 3 detections, jittered so that their IoU with the label spreads from
  about 0.3 to about 0.98; about 5 % carry another class; duplicates score lower.
* Low-score background false positives fill every frame up to ``preds_per_frame``
  inferences (a detector's ``maxDets``); a few frames have no inferences at all.
* Scores are in [0, 1] rounded to 3 decimals; boxes are rounded to 2 decimals.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from aquaembed.errors import ParameterError
from aquaembed.store.atomic import write_output

__all__ = ["COCO_NAMES", "make_coco", "write_coco"]

COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
)  # fmt: skip
"""The 80 COCO detection class names, used when ``n_classes <= 80``."""

# Shape of the generated data (fractions and distribution parameters).
_EMPTY_FRAME_FRACTION = 0.03  # frames forced to have no labels
_NO_INFERENCE_FRACTION = 0.01  # frames for which the detector returns nothing
_CROWD_FRACTION = 0.01
_SEGMENTATION_AREA_FRACTION = 0.3  # labels whose area is below w * h
_OVERLAP_FRACTION = 0.2  # labels placed next to the previous label of their frame
_CONFUSION_FRACTION = 0.05
_DETECTIONS_PER_LABEL_P = (0.12, 0.60, 0.20, 0.08)  # P(0), P(1), P(2), P(3) detections
_SIDE_RANGE = (6.0, 360.0)  # sqrt(area) of a label, pixels, log-uniform
_ASPECT_RANGE = (0.4, 2.5)  # width / height, log-uniform


def _class_names(n_classes: int) -> list[str]:
    if n_classes <= len(COCO_NAMES):
        return list(COCO_NAMES[:n_classes])
    digits = len(str(n_classes))
    return [f"class_{k:0{digits}d}" for k in range(1, n_classes + 1)]


def _log_uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(low), np.log(high), n))


def _place(
    cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray, width: float, height: float
) -> np.ndarray:
    """Clip sizes to the image, shift centres inside it; return ``[x, y, w, h]`` rounded."""
    w = np.clip(w, 1.0, width)
    h = np.clip(h, 1.0, height)
    x = np.clip(cx - w / 2, 0.0, width - w)
    y = np.clip(cy - h / 2, 0.0, height - h)
    xywh = np.round(np.stack([x, y, w, h], axis=1), 2)
    xywh[:, 2:] = np.maximum(xywh[:, 2:], 1.0)
    return xywh


def _rank_within(groups: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """0-based position of each row inside its run of equal ``groups`` (rows grouped)."""
    starts = np.cumsum(counts) - counts
    return np.arange(groups.shape[0]) - np.repeat(starts, counts)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic dicts are built.

    Each allocation burst otherwise triggers collections that rescan every container
    built so far, which triples the time to build the results list.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def make_coco(
    n_frames: int,
    *,
    n_classes: int = 80,
    labels_per_frame: float = 7.0,
    preds_per_frame: int = 100,
    seed: int = 0,
    width: int = 640,
    height: int = 480,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Generate a seeded synthetic COCO ground truth and a matching results list.

    Parameters
    ----------
    n_frames : int
        Number of images, ``>= 0``.
    n_classes : int, default 80
        Number of categories; their ids are ``1 .. n_classes``. With at most 80 classes
        the COCO names are used, otherwise ``"class_001"``-style names.
    labels_per_frame : float, default 7.0
        Mean number of labels per frame (empty frames included).
    preds_per_frame : int, default 100
        Inferences per frame: detections of labels, topped up with background false
        positives, and capped (highest scores kept). A few frames get none.
    seed : int, default 0
        Seed of the random generator; equal arguments give equal output.
    width, height : int, default 640, 480
        Image size in pixels; every box lies inside the image.

    Returns
    -------
    gt : dict
        COCO ground truth with ``images`` (``id``, ``file_name``, ``width``,
        ``height``), ``annotations`` (``id``, ``image_id``, ``category_id``, ``bbox`` as
        ``[x, y, w, h]`` pixels, ``area`` in square pixels, ``iscrowd``) and
        ``categories`` (``id``, ``name``, ``supercategory``).
    results : list of dict
        COCO results ``{image_id, category_id, bbox, score}``, grouped by image in
        ascending ``image_id`` order and by descending score inside an image.

    Raises
    ------
    ParameterError
        If a count or size is out of range.
    """
    if n_frames < 0:
        raise ParameterError(f"n_frames must be >= 0, got {n_frames}")
    if n_classes < 2:
        raise ParameterError(f"n_classes must be >= 2 (confusions need two classes), got {n_classes}")
    if not labels_per_frame >= 0:
        raise ParameterError(f"labels_per_frame must be >= 0, got {labels_per_frame}")
    if preds_per_frame < 0:
        raise ParameterError(f"preds_per_frame must be >= 0, got {preds_per_frame}")
    if width < 8 or height < 8:
        raise ParameterError(f"width and height must be >= 8 pixels, got {width} x {height}")

    rng = np.random.default_rng(seed)
    W, H, C = float(width), float(height), int(n_classes)

    # Frames: sparse, increasing image ids (as in COCO).
    image_ids = np.cumsum(rng.integers(1, 8, n_frames)).astype(np.int64)
    class_p = 1.0 / np.arange(1, C + 1) ** 0.9
    class_p /= class_p.sum()

    # Labels.
    empty = rng.random(n_frames) < _EMPTY_FRAME_FRACTION
    n_lab = rng.poisson(labels_per_frame / (1.0 - _EMPTY_FRAME_FRACTION), n_frames)
    n_lab[empty] = 0
    n_labels = int(n_lab.sum())
    lab_frame = np.repeat(np.arange(n_frames), n_lab)
    lab_cls = rng.choice(C, size=n_labels, p=class_p)
    side = _log_uniform(rng, *_SIDE_RANGE, n_labels)
    aspect = _log_uniform(rng, *_ASPECT_RANGE, n_labels)
    crowd = rng.random(n_labels) < _CROWD_FRACTION
    side[crowd] *= 2.0  # crowd regions cover a group of objects
    w = side * np.sqrt(aspect)
    h = side / np.sqrt(aspect)
    cx = rng.uniform(0.0, W, n_labels)
    cy = rng.uniform(0.0, H, n_labels)
    # Some labels sit next to the previous label of their frame, overlapping it.
    near = rng.random(n_labels) < _OVERLAP_FRACTION
    near[0:1] = False
    near[1:] &= lab_frame[1:] == lab_frame[:-1]
    prev = np.flatnonzero(near) - 1
    cx[near] = cx[prev] + rng.normal(0.0, 0.35, prev.size) * w[prev]
    cy[near] = cy[prev] + rng.normal(0.0, 0.35, prev.size) * h[prev]
    w[near] = w[prev] * np.exp(rng.normal(0.0, 0.25, prev.size))
    h[near] = h[prev] * np.exp(rng.normal(0.0, 0.25, prev.size))
    lab_xywh = _place(cx, cy, w, h, W, H)
    area = lab_xywh[:, 2] * lab_xywh[:, 3]
    seg = rng.random(n_labels) < _SEGMENTATION_AREA_FRACTION
    area[seg] *= rng.uniform(0.55, 0.98, int(seg.sum()))
    area = np.round(area, 2)

    # Detections of labels: 0..3 per label, the first one the best.
    n_det = rng.choice(len(_DETECTIONS_PER_LABEL_P), size=n_labels, p=_DETECTIONS_PER_LABEL_P)
    src = np.repeat(np.arange(n_labels), n_det)
    n_dets = src.size
    primary = _rank_within(src, n_det) == 0
    sigma = np.where(primary, rng.uniform(0.005, 0.14, n_dets), rng.uniform(0.04, 0.28, n_dets))
    lw, lh = lab_xywh[src, 2], lab_xywh[src, 3]
    det_xywh = _place(
        lab_xywh[src, 0] + lw / 2 + rng.normal(0.0, 1.0, n_dets) * sigma * lw,
        lab_xywh[src, 1] + lh / 2 + rng.normal(0.0, 1.0, n_dets) * sigma * lh,
        lw * np.exp(rng.normal(0.0, 1.0, n_dets) * sigma),
        lh * np.exp(rng.normal(0.0, 1.0, n_dets) * sigma),
        W,
        H,
    )
    det_cls = lab_cls[src].copy()
    confused = rng.random(n_dets) < _CONFUSION_FRACTION
    det_cls[confused] = (det_cls[confused] + rng.integers(1, C, int(confused.sum()))) % C
    quality = np.where(primary, rng.beta(6.0, 2.0, n_dets), rng.beta(2.0, 4.0, n_dets))
    quality[confused] *= 0.7
    small_penalty = 0.6 + 0.4 * np.minimum(1.0, side[src] / 64.0)
    det_score = quality * small_penalty
    det_frame = lab_frame[src]

    # Background false positives fill each frame up to preds_per_frame.
    n_fp = np.maximum(0, preds_per_frame - np.bincount(det_frame, minlength=n_frames))
    n_fps = int(n_fp.sum())
    fp_frame = np.repeat(np.arange(n_frames), n_fp)
    fp_side = _log_uniform(rng, 4.0, 250.0, n_fps)
    fp_aspect = _log_uniform(rng, *_ASPECT_RANGE, n_fps)
    fp_xywh = _place(
        rng.uniform(0.0, W, n_fps),
        rng.uniform(0.0, H, n_fps),
        fp_side * np.sqrt(fp_aspect),
        fp_side / np.sqrt(fp_aspect),
        W,
        H,
    )
    fp_cls = rng.choice(C, size=n_fps, p=class_p)
    fp_score = rng.beta(1.0, 11.0, n_fps)

    # Together: drop the frames without inferences, keep the top preds_per_frame per
    # frame, order by frame and descending score.
    frame = np.concatenate([det_frame, fp_frame])
    cls = np.concatenate([det_cls, fp_cls])
    xywh = np.concatenate([det_xywh, fp_xywh])
    score = np.round(np.clip(np.concatenate([det_score, fp_score]), 0.0, 1.0), 3)
    no_inference = rng.random(n_frames) < _NO_INFERENCE_FRACTION
    order = np.lexsort((-score, frame))
    order = order[~no_inference[frame[order]]]
    sorted_frame = frame[order]
    counts = np.bincount(sorted_frame, minlength=n_frames)
    order = order[_rank_within(sorted_frame, counts) < preds_per_frame]

    with _gc_paused():
        return _documents(
            seed=seed,
            width=width,
            height=height,
            image_ids=image_ids,
            names=_class_names(C),
            labels=(lab_frame, lab_cls, lab_xywh, area, crowd),
            inferences=(frame[order], cls[order], xywh[order], score[order]),
        )


def _documents(
    *,
    seed: int,
    width: int,
    height: int,
    image_ids: np.ndarray,
    names: list[str],
    labels: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    inferences: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Build the COCO dicts from the columns (frames as row indices, classes 0-based)."""
    lab_frame, lab_cls, lab_xywh, area, crowd = labels
    res_frame, res_cls, res_xywh, res_score = inferences
    categories = [
        {"id": k + 1, "name": name, "supercategory": "object"} for k, name in enumerate(names)
    ]
    images = [
        {"id": i, "file_name": f"{i:012d}.jpg", "width": width, "height": height}
        for i in image_ids.tolist()
    ]
    annotations = [
        {"id": a, "image_id": i, "category_id": c, "bbox": b, "area": s, "iscrowd": z}
        for a, i, c, b, s, z in zip(
            range(1, lab_frame.shape[0] + 1),
            image_ids[lab_frame].tolist(),
            (lab_cls + 1).tolist(),
            lab_xywh.tolist(),
            area.tolist(),
            crowd.astype(np.int64).tolist(),
        )
    ]
    gt: dict[str, Any] = {
        "info": {"description": "aquaembed synthetic data", "seed": seed},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    results = [
        {"image_id": i, "category_id": c, "bbox": b, "score": s}
        for i, c, b, s in zip(
            image_ids[res_frame].tolist(),
            (res_cls + 1).tolist(),
            res_xywh.tolist(),
            res_score.tolist(),
        )
    ]
    return gt, results


def write_coco(
    out_dir: str | os.PathLike[str],
    n_frames: int,
    *,
    n_classes: int = 80,
    labels_per_frame: float = 7.0,
    preds_per_frame: int = 100,
    seed: int = 0,
    width: int = 640,
    height: int = 480,
) -> tuple[Path, Path]:
    """Generate a synthetic set with :func:`make_coco` and write it as COCO JSON.

    Parameters
    ----------
    out_dir : path-like
        Folder to write into (created if absent).
    n_frames : int
        Number of images.
    n_classes, labels_per_frame, preds_per_frame, seed, width, height
        As in :func:`make_coco`.

    Returns
    -------
    gt_path, pred_path : Path
        ``out_dir / "gt.json"`` (ground truth) and ``out_dir / "pred.json"`` (results).
        Each is written to a temporary name and renamed, so a reader never sees a
        partial file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gt, results = make_coco(
        n_frames,
        n_classes=n_classes,
        labels_per_frame=labels_per_frame,
        preds_per_frame=preds_per_frame,
        seed=seed,
        width=width,
        height=height,
    )
    gt_path, pred_path = out / "gt.json", out / "pred.json"
    write_output(gt_path, orjson.dumps(gt), what="out_dir")  # a regular file or nothing; the umask's mode
    del gt
    write_output(pred_path, orjson.dumps(results), what="out_dir")
    return gt_path, pred_path
