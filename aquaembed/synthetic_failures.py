"""A seeded generator of detection datasets with planted failure patterns (or none).

Used by the failure-discovery tests and benchmark: every frame has metadata ``site`` (8
values), ``weather`` (4) and ``shift`` (``day``/``night``) drawn independently; labels sit
on a grid (no overlaps), inferences are jittered copies (IoU > 0.8) or background false
positives far from any label. Crop embeddings are a class direction plus noise (a label
and its inference share an object vector); background false positives are random.

With ``planted=True``: site ``s3`` has a low detection rate (a *worse* slice), site
``s5`` a near-perfect one (a *better* slice), and frames of weather ``fog`` carry a
recurring false positive whose crops all lie near one direction (a failure cluster).
With ``planted=False`` nothing depends on the metadata (the null dataset).

With ``label_batches=True`` two annotation batches add label errors concentrated where
real ones are (one site each): in site ``s6`` the annotator skipped ``class1`` (90 % of
those objects have no label; their detections become false positives) and in site ``s7``
labelled ``class2`` as ``class3`` (80 %; their detections become confusion pairs
``class3 -> class2``). The objects' crop embeddings (labels and the inferences that
detect them) then also carry a per-site appearance (the look of a camera), which is what
makes a batch's crops resemble each other; these draws come
from a second generator, so the rest of the dataset is the same as without batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
from aquaembed.errors import ParameterError

__all__ = ["PlantedFailures", "make_failure_dataset"]


@dataclass
class PlantedFailures:
    """A generated dataset, its embeddings and the planted truth.

    ``pred_vectors`` are the crop embeddings of the inferences ``pred_ids`` (clutter has none).
    """

    dataset: Dataset
    frame_vectors: np.ndarray
    label_vectors: np.ndarray
    pred_vectors: np.ndarray
    pred_ids: np.ndarray
    truth: dict[str, Any]


def make_failure_dataset(
    n_frames: int = 400,
    *,
    labels_per_frame: float = 5.0,
    fp_per_frame: float = 1.0,
    clutter_per_frame: int = 0,
    planted: bool = True,
    label_batches: bool = False,
    n_classes: int = 4,
    dim: int = 16,
    seed: int = 0,
) -> PlantedFailures:
    """Generate the dataset (see the module docstring); all arrays vectorised.

    ``clutter_per_frame`` low-confidence inferences (scores below 0.3, random boxes, no
    crop embeddings) are added per frame, as a detector's raw top-k output would have.
    ``label_batches`` needs ``n_classes >= 4``.
    """
    if label_batches and n_classes < 4:
        raise ParameterError(f"label_batches needs n_classes >= 4, got {n_classes!r}", parameter="n_classes")
    rng = np.random.default_rng(seed)
    f = int(n_frames)
    site = rng.integers(0, 8, f)
    weather = rng.integers(0, 4, f)
    shift = rng.integers(0, 2, f)
    n_lab = np.minimum(rng.poisson(labels_per_frame, f), 9)
    lab_frame = np.repeat(np.arange(f), n_lab)
    slot = np.arange(lab_frame.size) - np.repeat(np.cumsum(n_lab) - n_lab, n_lab)
    n_l = lab_frame.size
    lab_cls = rng.integers(0, n_classes, n_l)
    x1 = 10.0 + 60.0 * slot
    lab_box = np.stack([x1, np.full(n_l, 10.0), x1 + 40.0, np.full(n_l, 50.0)], axis=1)
    p_detect = np.full(n_l, 0.75)
    if planted:
        p_detect[site[lab_frame] == 3] = 0.35
        p_detect[site[lab_frame] == 5] = 0.99
    detected = rng.random(n_l) < p_detect
    det = np.flatnonzero(detected)
    tp_box = lab_box[det] + rng.uniform(-2.0, 2.0, (det.size, 4))
    tp_cls = np.where(rng.random(det.size) < 0.95, lab_cls[det], rng.integers(0, n_classes, det.size))
    tp_score = rng.uniform(0.55, 1.0, det.size)
    n_fp = rng.poisson(fp_per_frame, f)
    fp_frame = np.repeat(np.arange(f), n_fp)
    fslot = np.arange(fp_frame.size) - np.repeat(np.cumsum(n_fp) - n_fp, n_fp)
    fx = 10.0 + 50.0 * (fslot % 10)
    fp_box = np.stack([fx, np.full(fx.size, 200.0), fx + 30.0, np.full(fx.size, 240.0)], axis=1)
    fp_cls = rng.integers(0, n_classes, fp_frame.size)
    fp_score = rng.uniform(0.3, 0.9, fp_frame.size)
    poster_frames = np.flatnonzero(weather == 2) if planted else np.zeros(0, np.int64)
    po_box = np.tile([[400.0, 300.0, 440.0, 360.0]], (poster_frames.size, 1))
    n_cl = f * int(clutter_per_frame)
    cl_frame = np.repeat(np.arange(f), int(clutter_per_frame))
    cxy = rng.uniform(0, 560, (n_cl, 2))
    cl_box = np.concatenate([cxy, cxy + rng.uniform(10, 80, (n_cl, 2))], axis=1)
    frame_all = np.concatenate([lab_frame[det], fp_frame, poster_frames, cl_frame])
    order = np.argsort(frame_all, kind="stable")
    cls_all = np.concatenate([tp_cls, fp_cls, np.zeros(poster_frames.size, np.int64), rng.integers(0, n_classes, n_cl)])[order]
    box_all = np.concatenate([tp_box, fp_box, po_box, cl_box])[order]
    score_all = np.concatenate(
        [tp_score, fp_score, rng.uniform(0.7, 0.95, poster_frames.size), rng.uniform(0.0, 0.3, n_cl)]
    )[order]
    origin = np.concatenate(
        [np.zeros(det.size, np.int8), np.ones(fp_frame.size, np.int8), np.full(poster_frames.size, 2, np.int8), np.full(n_cl, 3, np.int8)]
    )[order]

    centres = rng.normal(size=(n_classes, dim))
    obj = centres[lab_cls] + rng.normal(0, 0.8, (n_l, dim))
    label_vec = obj + rng.normal(0, 0.05, (n_l, dim))
    poster_dir = rng.normal(size=dim)
    pred_vec = np.concatenate(
        [
            obj[det] + rng.normal(0, 0.05, (det.size, dim)),
            rng.normal(size=(fp_frame.size, dim)) * 1.5,
            poster_dir + rng.normal(0, 0.05, (poster_frames.size, dim)),
            np.zeros((n_cl, dim)),
        ]
    )[order]
    pred_ids = np.flatnonzero(origin != 3)
    pred_vec = pred_vec[pred_ids]
    frame_vec = rng.normal(size=(f, dim))

    # annotation batches: their own generator, so everything above is drawn as without them
    lab_keep = np.ones(n_l, dtype=bool)
    lab_named = lab_cls.copy()
    batch_truth: dict[str, Any] = {}
    if label_batches:
        brng = np.random.default_rng([seed, 1])
        look = brng.normal(size=(8, dim)) * 1.2
        label_vec = label_vec + look[site[lab_frame]]
        on_object = (origin[pred_ids] == 0)[:, None]  # the poster and background FPs keep their look
        pred_vec = pred_vec + on_object * look[site[frame_all[order][pred_ids]]]
        position = np.empty(order.size, dtype=np.int64)
        position[order] = np.arange(order.size)  # inference index of each concatenated row
        skipped = (site[lab_frame] == 6) & (lab_cls == 1) & (brng.random(n_l) < 0.9)
        renamed = (site[lab_frame] == 7) & (lab_cls == 2) & (brng.random(n_l) < 0.8)
        lab_keep = ~skipped
        lab_named[renamed] = 3
        det_pos = position[: det.size]
        batch_truth = {
            "missing_batch": {
                "site": "s6", "class": "class1", "labels_skipped": int(skipped.sum()),
                "pred_indices": np.sort(det_pos[skipped[det]]).tolist(),
            },
            "wrong_class_batch": {
                "site": "s7", "class": "class2", "labeled_as": "class3",
                "gt_ids": (np.flatnonzero(renamed & lab_keep) + 1).tolist(),
                "pred_indices": np.sort(det_pos[renamed[det]]).tolist(),
            },
        }

    names = tuple(f"class{i}" for i in range(n_classes))
    frames = Frames(
        np.arange(1, f + 1, dtype=np.int64),
        np.array([f"{i:06d}.jpg" for i in range(1, f + 1)]),
        np.full(f, 640, dtype=np.int64),
        np.full(f, 480, dtype=np.int64),
        metadata={
            "site": np.array([f"s{v}" for v in range(8)])[site],
            "weather": np.array(["clear", "rain", "fog", "snow"])[weather],
            "shift": np.array(["day", "night"])[shift],
        },
    )
    keep = np.flatnonzero(lab_keep)
    labels = Labels(
        keep + 1, lab_frame[keep], lab_named[keep], lab_box[keep], (lab_box[keep, 2] - lab_box[keep, 0]) * 40.0,
        np.zeros(keep.size, dtype=bool),
    )
    label_vec = label_vec[keep]
    inf = Inferences(frame_all[order], cls_all, box_all, score_all, name="model")
    ds = Dataset(ClassMap(np.arange(1, n_classes + 1, dtype=np.int64), names), frames, labels, {"model": inf})
    truth = {
        "worse_site": "s3" if planted else None,
        "better_site": "s5" if planted else None,
        "poster_weather": "fog" if planted else None,
        "poster_pred_indices": np.flatnonzero(origin == 2).tolist(),
        **batch_truth,
    }
    return PlantedFailures(ds, frame_vec, label_vec, pred_vec, pred_ids, truth)
