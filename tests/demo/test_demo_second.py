"""The demo's second inference set tells its own story: better at night, worse in daytime rain and fog."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aquaembed.cli import main
from aquaembed.demo.install import BUILD_DIR, DEMO_MODEL, DEMO_MODEL_B, DEMO_NAME
from aquaembed.explore import Workspace


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("demo2")
    assert main(["demo", "--data", str(data), "--frames", "150", "--no-serve"]) == 0
    return data


def _pooled_f1(view, model: str, mask: np.ndarray) -> float:
    fm = view.frame_metrics(model)
    tp, fp, fn = (int(getattr(fm, k)[mask].sum()) for k in ("tp", "fp", "fn"))
    return 2 * tp / (2 * tp + fp + fn)


def test_second_model_is_better_at_night_and_worse_in_bad_weather(demo: Path) -> None:
    view = Workspace(demo).get(DEMO_NAME)
    assert view.models() == [DEMO_MODEL, DEMO_MODEL_B]
    meta = view.dataset.frames.metadata
    night = meta["time_of_day"].astype(str) == "night"
    bad = ~night & np.isin(meta["weather"].astype(str), ["rain", "fog"])
    rest = ~night & ~bad
    gain_night = _pooled_f1(view, DEMO_MODEL_B, night) - _pooled_f1(view, DEMO_MODEL, night)
    gain_bad = _pooled_f1(view, DEMO_MODEL_B, bad) - _pooled_f1(view, DEMO_MODEL, bad)
    gain_rest = _pooled_f1(view, DEMO_MODEL_B, rest) - _pooled_f1(view, DEMO_MODEL, rest)
    assert gain_night > 0.05 and gain_bad < -0.05 and abs(gain_rest) < 0.02, (gain_night, gain_bad, gain_rest)
    c = view.compare(DEMO_MODEL, DEMO_MODEL_B)
    story = json.loads((demo / BUILD_DIR / "second_model.json").read_text())
    fixed = set(c["labels"]["fixed"])
    night_labels = set(view.dataset.labels.id[night[view.dataset.labels.frame]].tolist())
    assert len(fixed & night_labels) >= 0.9 * len(fixed) > 0  # what B fixed is at night
    found = set(story["found_gt_ids"])
    assert len(found & fixed) >= 0.7 * len(found) > 0  # and the objects it newly finds count as fixed
    broken_frames = set(view.dataset.frames.id[view.dataset.labels.frame[np.isin(view.dataset.labels.id, c["labels"]["broken"])]].tolist())
    assert broken_frames <= set(story["bad_weather_image_ids"]) | set(story["night_image_ids"])


def test_second_model_leaves_the_first_detector_untouched(demo: Path, tmp_path: Path) -> None:
    build = demo / BUILD_DIR
    other = tmp_path / "again"
    from aquaembed.demo.build import build_demo

    build_demo(other, frames=150, seed=0, workers=1)
    assert (other / "pred.json").read_bytes() == (build / "pred.json").read_bytes()
    from aquaembed.demo.second import build_second_model

    build_second_model(other, seed=0)
    assert (other / "pred_v2.json").read_bytes() == (build / "pred_v2.json").read_bytes()
