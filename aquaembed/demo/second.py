"""The demo's second inference set, ``detector_v2``: better at night, worse in daytime rain and fog.

Its story, for the comparison mode: a new version of the detector was trained with
night frames (it finds most of the objects the first detector missed in the dark and is
more confident there), but an augmentation change hurt it on wet and foggy days (many
of its detections there lose confidence and drift). Everywhere else it behaves like
the first detector.

It is derived from the first detector's files (``pred.json``, ``pred_embeddings.npz``)
and the ground truth after they are written, with its own seeded generator, so the
first detector's outputs do not change. Crop embeddings: a detection carried over from
the first detector keeps its crop's vector (plus a little noise); a newly found night
object takes its label crop's vector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson

from aquaembed.data import Inferences
from aquaembed.evaluate import Evaluator
from aquaembed.io.coco import load_coco_gt, load_coco_results, write_coco_results
from aquaembed.io.embeddings import read_embeddings
from aquaembed.matching import FN, MatchOptions
from aquaembed.metrics import label_types
from aquaembed.store.atomic import atomic_write

__all__ = ["SECOND_MODEL", "build_second_model"]

SECOND_MODEL = "detector_v2"
FOUND_AT_NIGHT = 0.7
"""Share of the night objects the first detector missed that the second one finds."""
HURT_IN_BAD_WEATHER = 0.45
"""Share of daytime rain / fog detections whose confidence collapses."""


def _clip(box: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    out = box.copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width[:, None])
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height[:, None])
    out[:, 2] = np.maximum(out[:, 2], out[:, 0] + 1.0)
    out[:, 3] = np.maximum(out[:, 3], out[:, 1] + 1.0)
    return out


def build_second_model(build: str | Path, *, seed: int = 0) -> dict[str, Any]:
    """Write ``pred_v2.json``, ``pred_v2_embeddings.npz`` and ``second_model.json`` into ``build``.

    Returns
    -------
    dict
        The story (``second_model.json``): the night and bad-weather frame ids, the
        label ids newly found and the inference indices weakened.
    """
    build = Path(build)
    ds = load_coco_gt(build / "gt.json")
    a = load_coco_results(build / "pred.json", ds, name="detector")
    a_ids, a_vec = read_embeddings(build / "pred_embeddings.npz")
    l_ids, l_vec = read_embeddings(build / "label_embeddings.npz")
    rng = np.random.default_rng([int(seed), 2])
    meta = ds.frames.metadata
    night = np.asarray(meta["time_of_day"]).astype(str) == "night"
    weather = np.asarray(meta["weather"]).astype(str)
    bad = ~night & np.isin(weather, ["rain", "fog"])

    # carried over: boosted at night, weakened and moved on wet / foggy days
    score = a.score.copy()
    box = a.box.copy()
    at_night, in_bad = night[a.frame], bad[a.frame]
    score[at_night] = 1.0 - (1.0 - score[at_night]) * 0.6
    hurt = in_bad & (rng.random(len(a)) < HURT_IN_BAD_WEATHER)
    score[hurt] *= rng.uniform(0.25, 0.6, int(hurt.sum()))
    wh = np.concatenate([box[:, 2:] - box[:, :2]] * 2, axis=1)
    box[hurt] += rng.normal(0.0, 0.12, (int(hurt.sum()), 4)) * wh[hurt]
    width, height = ds.frames.width, ds.frames.height
    box = _clip(box, width[a.frame], height[a.frame])

    # new: night objects the first detector missed
    types, _ = label_types(Evaluator(ds, a).table(MatchOptions()))
    missed = np.flatnonzero((types == FN) & night[ds.labels.frame])
    found = missed[rng.random(missed.size) < FOUND_AT_NIGHT]
    lf = ds.labels.frame[found]
    lb = ds.labels.box[found]
    lwh = np.concatenate([lb[:, 2:] - lb[:, :2]] * 2, axis=1)
    new_box = _clip(lb + rng.normal(0.0, 0.04, lb.shape) * lwh, width[lf], height[lf])
    new_score = rng.uniform(0.6, 0.95, found.size)

    b = Inferences(
        np.concatenate([a.frame, lf]), np.concatenate([a.cls, ds.labels.cls[found]]),
        np.concatenate([box, new_box]), np.clip(np.concatenate([score, new_score]), 0.0, 1.0), name=SECOND_MODEL,
    )
    write_coco_results(b, ds, build / "pred_v2.json")
    order = np.argsort(a_ids)
    carried = np.asarray(a_vec)[order][: len(a)]
    l_order = np.argsort(l_ids)
    label_pos = l_order[np.searchsorted(np.asarray(l_ids)[l_order], ds.labels.id[found])]
    vec = np.concatenate([carried, np.asarray(l_vec)[label_pos]]).astype(np.float32)
    vec = vec + rng.normal(0.0, 0.01, vec.shape).astype(np.float32) * float(vec.std() or 1.0)

    def write_npz(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, ids=np.arange(len(b), dtype=np.int64), embeddings=vec)

    atomic_write(build / "pred_v2_embeddings.npz", write_npz)
    story = {
        "model": SECOND_MODEL,
        "description": "better at night (finds most objects the first detector missed in the dark), "
                       "worse in daytime rain and fog (many detections lose confidence and drift)",
        "night_image_ids": ds.frames.id[night].tolist(),
        "bad_weather_image_ids": ds.frames.id[bad].tolist(),
        "found_gt_ids": ds.labels.id[found].tolist(),
        "weakened_pred_indices": np.flatnonzero(hurt).tolist(),
    }
    (build / "second_model.json").write_bytes(orjson.dumps(story))
    return story
