"""COCO mAP parity with pycocotools on real public data and on synthetic sets."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from aquaembed.evaluate import Evaluator
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.metrics import COCO_STAT_NAMES

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

REAL_SETS = {
    "cocoapi-val2014-100": ("cocoapi-val2014-100/instances_val2014_100.json", "cocoapi-val2014-100/instances_val2014_fakebbox100_results.json"),
    "cartucho-map": ("cartucho-map/coco/gt.json", "cartucho-map/coco/dt.json"),
    "padilla-voc100": ("padilla-voc100/coco_aligned/gt.json", "padilla-voc100/coco_aligned/dt.json"),
}

# Published by cocoapi (results/val2014_fake_eval_res.txt), 3 decimals.
PUBLISHED_COCOAPI = [0.505, 0.697, 0.573, 0.586, 0.519, 0.501, 0.387, 0.594, 0.595, 0.640, 0.566, 0.564]


def pycocotools_stats(gt: Path, dt: Path) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt))
        coco_dt = coco_gt.loadRes(str(dt))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=float)


def ours(gt: Path, dt: Path) -> np.ndarray:
    ds = load_coco_gt(gt)
    res = Evaluator(ds, load_coco_results(dt, ds)).coco()
    return np.array([-1.0 if res[k] is None else res[k] for k in COCO_STAT_NAMES])


@pytest.mark.parametrize("name", list(REAL_SETS))
def test_real_data_parity(real_data, name):
    gt, dt = (real_data / p for p in REAL_SETS[name])
    expected = pycocotools_stats(gt, dt)
    got = ours(gt, dt)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    if name == "cocoapi-val2014-100":
        np.testing.assert_allclose(got, PUBLISHED_COCOAPI, atol=5e-4 + 1e-12)


def test_padilla_variant_parity(real_data, tmp_path):
    base = real_data / "cocoapi-val2014-100" / "padilla_variant"
    dets = json.loads((base / "sampled_bbox_results.json").read_text())["annotations"]
    dt = tmp_path / "dt.json"
    dt.write_text(json.dumps(dets))
    gt = base / "sampled_gts_bbox_area.json"
    np.testing.assert_allclose(ours(gt, dt), pycocotools_stats(gt, dt), atol=1e-4, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_parity(tmp_path, seed):
    from aquaembed.synthetic import write_coco

    gt, dt = write_coco(tmp_path, 120, seed=seed, n_classes=8, preds_per_frame=30)
    np.testing.assert_allclose(ours(Path(gt), Path(dt)), pycocotools_stats(Path(gt), Path(dt)), atol=1e-4, rtol=0)


def test_parity_with_shuffled_files_and_tied_scores(tmp_path):
    """Image order, annotation order and tied scores must not change the numbers."""
    from aquaembed.synthetic import make_coco

    gt, dets = make_coco(80, n_classes=6, preds_per_frame=25, seed=7)
    rng = np.random.default_rng(1)
    rng.shuffle(gt["images"])
    rng.shuffle(gt["annotations"])
    for d in dets:  # coarse scores: many exact ties across frames
        d["score"] = round(d["score"], 1)
    rng.shuffle(dets)
    gt_path, dt_path = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_path.write_text(json.dumps(gt))
    dt_path.write_text(json.dumps(dets))
    np.testing.assert_allclose(ours(gt_path, dt_path), pycocotools_stats(gt_path, dt_path), atol=1e-4, rtol=0)
