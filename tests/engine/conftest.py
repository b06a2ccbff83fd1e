"""Fixtures of the engine tests: one local Ray cluster for the whole test session.

Without ray installed the Ray tests skip with a reason, except under CI (``CI`` set),
where CI installs the ``[ray]`` extra and its absence is a failure.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from aquaembed.synthetic import make_coco


@pytest.fixture(scope="session")
def ray_engine():
    """A :class:`~aquaembed.engine.ray.RayEngine` on a 2-CPU local cluster, started once."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI is set but ray is not installed (the Makefile installs '.[test,ray]')")
        pytest.skip("ray is not installed: pip install 'aquaembed[ray]'")
    from aquaembed.engine.ray import RayEngine

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    engine = RayEngine()
    yield engine
    ray.shutdown()


@pytest.fixture(scope="session")
def coco_pair(tmp_path_factory) -> tuple[Path, Path, list]:
    """A small synthetic COCO ground truth and results file (with empty frames)."""
    root = tmp_path_factory.mktemp("coco")
    gt, pred = make_coco(120, n_classes=6, labels_per_frame=5.0, preds_per_frame=12, seed=11)
    gt["images"] += [{"id": 10_000 + i, "file_name": f"empty{i}.jpg", "width": 640, "height": 480} for i in range(3)]
    (root / "gt.json").write_text(json.dumps(gt))
    (root / "pred.json").write_text(json.dumps(pred))
    return root / "gt.json", root / "pred.json", pred
