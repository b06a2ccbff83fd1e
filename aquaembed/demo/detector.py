"""Labels with planted errors, and a simulated detector that behaves like a real one.

For each frame, from the objects that were drawn:

1. **Labels** are the exact clipped boxes of the objects a labeller would see (at least
   2 x 2 pixels and 20 % visible); then some are corrupted on purpose: a few objects get
   no label (*missing*), a few labels get another class (*wrong class*), a few boxes are
   shifted or resized (*badly placed*). On top of these even errors, the configured
   *annotation batches* concentrate errors (see ``batch_label_errors`` in
   :mod:`aquaembed.demo.config`): in the frames of a batch an annotator skipped a class
   (its objects get no label; the detector still finds them at its own confidence) or
   confused a class pair (the objects of one class are labelled as another).
2. **Inferences**: every labelable object (whatever its label says) gets a detection
   quality ``z`` (a logit) that rises with the box size and falls with occlusion, the
   cut by the frame edge, darkness, fog and rain, plus a class bias and noise; the
   score is ``sigmoid(z)``. The box is the true box with a jitter that grows as the
   score falls; trucks and buses are sometimes called cars (and a few more plausible
   confusions); a few detections come twice; a Poisson number of low-score background
   false positives is added. In the *overfitted* scene pedestrians get a large bonus
   (the model has memorised the place); objects left unlabeled are found with high
   confidence; the *poster* of the recurring-false-positive scene is detected as a
   pedestrian in most frames.

Everything is drawn from the frame's own generator, so a frame's labels and inferences
do not depend on the other frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aquaembed.demo.config import BUS, CAR, CLASS_KEYS, CYCLIST, PEDESTRIAN, SIGN, TRUCK, DemoConfig, SceneSpec
from aquaembed.demo.frames import FrameRender
from aquaembed.geometry import box_iou

__all__ = ["FrameTruth", "simulate_frame"]

SOURCE_BACKGROUND = -1
"""``pred_source`` of a background false positive."""
SOURCE_POSTER = -2
"""``pred_source`` of a detection of the poster."""

# The classes a wrong label may carry instead of the true one (plausible mistakes).
_WRONG_CLASS = {
    CAR: (TRUCK, BUS),
    TRUCK: (CAR, BUS),
    BUS: (TRUCK, CAR),
    PEDESTRIAN: (CYCLIST,),
    CYCLIST: (PEDESTRIAN,),
    SIGN: (PEDESTRIAN, CAR),
}


@dataclass(eq=False)
class FrameTruth:
    """Labels, inferences and planted facts of one frame, with frame-local indices.

    Attributes
    ----------
    label_obj : array of int64, shape (n_labels,)
        Object (row of the frame's :class:`ObjectTable`) each label belongs to.
    label_cls : array of int64, shape (n_labels,)
        Labelled class index (differs from the object's class for wrong-class labels).
    label_box : array of float64, shape (n_labels, 4)
        Labelled box ``[x1, y1, x2, y2]`` (differs from the truth for badly placed ones).
    label_kind : array of int8, shape (n_labels,)
        0 correct, 1 wrong class, 2 badly placed.
    pred_cls, pred_box, pred_score : arrays, shapes (n_preds,), (n_preds, 4), (n_preds,)
        Inferences, sorted by descending score.
    pred_source : array of int64, shape (n_preds,)
        The object an inference comes from, ``-1`` for a background false positive,
        ``-2`` for the poster.
    missing_obj : array of int64, shape (k,)
        Objects deliberately left without a label.
    missing_batch : array of int64, shape (k,)
        Index of the label-error batch each missing object belongs to (-1: an even one).
    label_batch : array of int64, shape (n_labels,)
        Index of the batch of a wrong-class label (-1: not a batch error).
    labelable : array of bool, shape (n_objects,)
        Objects big and visible enough to be labelled (and detected).
    """

    label_obj: np.ndarray
    label_cls: np.ndarray
    label_box: np.ndarray
    label_kind: np.ndarray
    pred_cls: np.ndarray
    pred_box: np.ndarray
    pred_score: np.ndarray
    pred_source: np.ndarray
    missing_obj: np.ndarray
    missing_batch: np.ndarray
    label_batch: np.ndarray
    labelable: np.ndarray


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _jitter_boxes(
    rng: np.random.Generator,
    boxes: np.ndarray,
    rel: np.ndarray,
    width: int,
    height: int,
    *,
    px: np.ndarray | float = 0.5,
) -> np.ndarray:
    """Move each edge by a normal error of ``rel`` x the box size + ``px`` pixels; clip; keep >= 1 px."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    scale = np.stack([w, h, w, h], axis=1) * rel[:, None] + np.reshape(px, (-1, 1))
    out = boxes + rng.standard_normal(boxes.shape) * scale
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    out[:, 2] = np.maximum(out[:, 2], np.minimum(out[:, 0] + 1.0, width))
    out[:, 0] = np.minimum(out[:, 0], out[:, 2] - 1.0)
    out[:, 3] = np.maximum(out[:, 3], np.minimum(out[:, 1] + 1.0, height))
    out[:, 1] = np.minimum(out[:, 1], out[:, 3] - 1.0)
    return out


def _misplace(rng: np.random.Generator, box: np.ndarray, width: int, height: int) -> np.ndarray:
    """A badly placed version of ``box`` (shape (4,)) with IoU in [0.25, 0.6] against it."""
    w, h = box[2] - box[0], box[3] - box[1]
    cands = np.empty((64, 4))
    shift = rng.uniform(0.2, 0.55, (64, 2)) * rng.choice([-1.0, 1.0], (64, 2)) * (rng.random((64, 2)) < 0.7)
    size = np.exp(rng.uniform(-0.6, 0.6, (64, 2)))
    cx, cy = (box[0] + box[2]) / 2 + shift[:, 0] * w, (box[1] + box[3]) / 2 + shift[:, 1] * h
    cands[:, 0], cands[:, 2] = cx - size[:, 0] * w / 2, cx + size[:, 0] * w / 2
    cands[:, 1], cands[:, 3] = cy - size[:, 1] * h / 2, cy + size[:, 1] * h / 2
    cands[:, [0, 2]] = np.clip(cands[:, [0, 2]], 0, width)
    cands[:, [1, 3]] = np.clip(cands[:, [1, 3]], 0, height)
    ok_size = ((cands[:, 2] - cands[:, 0]) >= 2) & ((cands[:, 3] - cands[:, 1]) >= 2)
    iou = box_iou(box[None], cands)[0]
    good = np.flatnonzero(ok_size & (iou >= 0.25) & (iou <= 0.6))
    if good.size == 0:
        return box.copy()
    return cands[good[0]]


def simulate_frame(
    cfg: DemoConfig, scene: SceneSpec, frame: FrameRender, rng: np.random.Generator
) -> FrameTruth:
    """Make the labels (with planted errors) and the inferences of one rendered frame.

    Parameters
    ----------
    cfg : DemoConfig
    scene : SceneSpec
    frame : FrameRender
    rng : numpy Generator
        The frame's generator (continuing the stream used to render it).

    Returns
    -------
    FrameTruth
    """
    W, H = cfg.width, cfg.height
    det, rates = cfg.detector, cfg.rates
    obj = frame.objects
    n = obj.cls.size
    cw = obj.clipped[:, 2] - obj.clipped[:, 0]
    ch = obj.clipped[:, 3] - obj.clipped[:, 1]
    labelable = (cw >= 2) & (ch >= 2) & (obj.visible >= 0.2)
    idx = np.flatnonzero(labelable)
    cls = obj.cls

    # ---- planted label errors: one uniform draw per object, disjoint ranges
    u = rng.random(n)
    iou_others = box_iou(obj.clipped, obj.clipped) if n else np.zeros((0, 0))
    np.fill_diagonal(iou_others, 0.0)
    isolated = iou_others.max(axis=1, initial=0.0) < 0.2
    eligible_missing = labelable & (np.sqrt(cw * ch) >= 14) & (obj.visible >= 0.6) & isolated
    n_lab = max(int(labelable.sum()), 1)
    p_missing = min(rates["missing_label"] * n_lab / max(int(eligible_missing.sum()), 1), 0.5)
    missing = eligible_missing & (u < p_missing)
    p_wrong, p_bad = rates["wrong_class_label"], rates["badly_placed_label"]
    v = rng.random(n)
    wrong = labelable & ~missing & (v < p_wrong)
    bad = labelable & ~missing & ~wrong & (v >= p_wrong) & (v < p_wrong + p_bad) & (np.sqrt(cw * ch) >= 8)

    label_obj = idx[~missing[idx]]
    label_cls = cls[label_obj].copy()
    label_box = obj.clipped[label_obj].copy()
    label_kind = np.zeros(label_obj.size, dtype=np.int8)
    for k, o in enumerate(label_obj.tolist()):
        if wrong[o]:
            options = _WRONG_CLASS[int(cls[o])]
            label_cls[k] = options[int(rng.integers(len(options)))]
            label_kind[k] = 1
        elif bad[o]:
            moved = _misplace(rng, obj.clipped[o], W, H)
            if not np.array_equal(moved, obj.clipped[o]):
                label_box[k] = moved
                label_kind[k] = 2

    # Annotation batches draw from a child generator and only override the labels made
    # above: the frame's own stream, hence every inference and every label outside the
    # batches, is the same as without them.
    batch = np.full(n, -1, dtype=np.int64)
    even_missing = missing
    in_batches = cfg.batches_of(scene.index)
    if in_batches:
        brng = rng.spawn(1)[0]
        relabel = cls.copy()
        for b in in_batches:
            hit = labelable & (cls == b.cls) & (batch < 0) & ~missing & (brng.random(n) < b.rate)
            batch[hit] = b.index
            if b.kind == "wrong_class_label":
                relabel[hit] = b.labeled_as
        skipped = np.isin(batch, [b.index for b in in_batches if b.kind == "missing_label"])
        renamed = (batch >= 0) & ~skipped
        r = renamed[label_obj]
        label_cls[r], label_kind[r], label_box[r] = relabel[label_obj[r]], 1, obj.clipped[label_obj[r]]
        keep = ~skipped[label_obj]
        label_obj, label_cls, label_box, label_kind = label_obj[keep], label_cls[keep], label_box[keep], label_kind[keep]
        missing = missing | skipped
    # A missing object must not be covered by any label (not even a misplaced one).
    missing_obj = np.flatnonzero(missing)
    if missing_obj.size and label_box.shape[0]:
        cover = box_iou(obj.clipped[missing_obj], label_box).max(axis=1)
        restore = missing_obj[cover >= 0.3]
        if restore.size:
            missing[restore] = False
            even_missing = even_missing & missing
            batch[restore] = -1
            missing_obj = np.flatnonzero(missing)
            keep = labelable & ~missing
            order = np.flatnonzero(keep)
            new_box = obj.clipped[order].copy()
            new_cls = cls[order].copy()
            new_kind = np.zeros(order.size, dtype=np.int8)
            pos = {o: k for k, o in enumerate(label_obj.tolist())}
            for k, o in enumerate(order.tolist()):
                if o in pos:
                    new_box[k], new_cls[k], new_kind[k] = label_box[pos[o]], label_cls[pos[o]], label_kind[pos[o]]
            label_obj, label_box, label_cls, label_kind = order, new_box, new_cls, new_kind

    # ---- detection quality of every labelable object
    size = np.sqrt(np.maximum(cw * ch, 1e-6))
    bias = np.array([det["class_bias"][k] for k in CLASS_KEYS])
    z = (
        det["base_logit"]
        + det["size_slope"] * np.log(size / det["size_ref_px"])
        - det["occlusion_penalty"] * (1.0 - obj.visible)
        - det["truncation_penalty"] * (1.0 - obj.inside)
        - det["darkness_penalty"] * frame.darkness
        - det["fog_penalty"] * obj.fog
        - det["rain_penalty"] * (scene.weather == "rain")
        + bias[cls]
        + det["noise"] * rng.standard_normal(n)
    )
    overfit = scene.index == cfg.overfitted_scene
    if overfit:
        z = np.where(cls == PEDESTRIAN, z + det["overfit_bonus"], z)
    score = _sigmoid(z)
    found = rng.random(n) < rates["missing_label_found"]
    forced = even_missing & found  # a skipped batch's objects keep the detector's own scores
    score = np.where(forced, rng.uniform(0.75, 0.97, n), score)
    detected = labelable & (score >= det["min_score"])
    rel = 0.025 + 0.11 * (1.0 - score)
    px = 0.15 + 0.7 * (1.0 - score)
    sure = forced | (overfit & (cls == PEDESTRIAN))
    rel = np.where(sure, 0.02, rel)
    px = np.where(sure, 0.1, px)

    d_idx = np.flatnonzero(detected)
    p_box = _jitter_boxes(rng, obj.clipped[d_idx], rel[d_idx], W, H, px=px[d_idx])
    p_score = score[d_idx]
    p_cls = cls[d_idx].copy()
    # Plausible confusions, more likely when the detector is unsure.
    conf = det["confusion"]
    r = rng.random(d_idx.size)
    unsure = 1.5 - p_score
    acc = np.zeros(d_idx.size)
    new_cls = p_cls.copy()
    for key, rate in conf.items():
        src, dst = (CLASS_KEYS.index(s) for s in key.split(">"))
        hit = (p_cls == src) & (r >= acc) & (r < acc + rate * unsure) & ~forced[d_idx]
        new_cls[hit] = dst
        acc = np.where(p_cls == src, acc + rate * unsure, acc)
    confused = new_cls != p_cls
    p_score = np.where(confused, p_score * rng.uniform(0.6, 0.95, d_idx.size), p_score)
    p_cls = new_cls
    p_src = d_idx.copy()

    # Duplicates: a second, looser box on the same object at a lower score.
    dup = (rng.random(d_idx.size) < det["duplicate_rate"]) & (p_score > 0.3)
    if dup.any():
        d_box = _jitter_boxes(rng, obj.clipped[d_idx[dup]], np.full(int(dup.sum()), 0.14), W, H)
        p_box = np.concatenate([p_box, d_box])
        p_score = np.concatenate([p_score, p_score[dup] * rng.uniform(0.4, 0.85, int(dup.sum()))])
        p_cls = np.concatenate([p_cls, p_cls[dup]])
        p_src = np.concatenate([p_src, d_idx[dup]])

    # The poster: a pedestrian where there is none.
    if frame.poster is not None and frame.poster_visible >= 0.5 and rng.random() < rates["recurring_fp_detected"]:
        pb = _jitter_boxes(rng, frame.poster[None], np.array([0.03]), W, H)
        p_box = np.concatenate([p_box, pb])
        p_score = np.concatenate([p_score, [rng.uniform(0.55, 0.93)]])
        p_cls = np.concatenate([p_cls, [PEDESTRIAN]])
        p_src = np.concatenate([p_src, [SOURCE_POSTER]])

    # Background false positives: low scores, anywhere below the sky line.
    lam = det["background_fp_per_frame"] * (1.5 if scene.time_of_day == "night" else 1.0)
    k = int(rng.poisson(lam))
    if k:
        bh = np.exp(rng.uniform(np.log(8), np.log(90), k))
        bcls = rng.choice(6, size=k, p=[0.3, 0.08, 0.05, 0.3, 0.1, 0.17])
        lo = np.array([1.8, 1.4, 2.6, 0.3, 0.7, 0.9])[bcls]
        hi = np.array([2.6, 2.2, 3.6, 0.5, 1.0, 1.1])[bcls]
        bw = bh * rng.uniform(lo, hi)
        bx = rng.uniform(0, W, k)
        by = rng.uniform(H * 0.25, H, k)
        bb = np.stack([bx - bw / 2, by - bh, bx + bw / 2, by], axis=1)
        bb[:, [0, 2]] = np.clip(bb[:, [0, 2]], 0, W)
        bb[:, [1, 3]] = np.clip(bb[:, [1, 3]], 0, H)
        okb = ((bb[:, 2] - bb[:, 0]) >= 2) & ((bb[:, 3] - bb[:, 1]) >= 2)
        bb, bcls = bb[okb], bcls[okb]
        bs = 0.05 + 0.9 * rng.beta(1.2, 7.0, bb.shape[0])
        p_box = np.concatenate([p_box, bb])
        p_score = np.concatenate([p_score, bs])
        p_cls = np.concatenate([p_cls, bcls])
        p_src = np.concatenate([p_src, np.full(bb.shape[0], SOURCE_BACKGROUND)])

    p_box = np.round(p_box.reshape(-1, 4), 2)
    p_score = np.round(np.clip(p_score, 0.0, 1.0), 4)
    order = np.lexsort((np.arange(p_score.size), -p_score))
    return FrameTruth(
        label_obj=label_obj.astype(np.int64),
        label_cls=label_cls.astype(np.int64),
        label_box=np.round(label_box.reshape(-1, 4), 2),
        label_kind=label_kind,
        pred_cls=p_cls[order].astype(np.int64),
        pred_box=p_box[order],
        pred_score=p_score[order],
        pred_source=p_src[order].astype(np.int64),
        missing_obj=missing_obj.astype(np.int64),
        missing_batch=batch[missing_obj].astype(np.int64),
        label_batch=np.where(label_kind == 1, batch[label_obj], -1).astype(np.int64),
        labelable=labelable,
    )
