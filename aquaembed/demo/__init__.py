"""The demo dataset: rendered street scenes, a simulated detector and planted failures.

``build_demo(out_dir, frames=3000, seed=0)`` writes the images, the COCO ground truth
and results, ``planted.json`` (the failures whose truth we know) and the built-in
embeddings of frames, labels and inferences into a folder.
"""

from __future__ import annotations

from aquaembed.demo.build import build_demo, frame_plan
from aquaembed.demo.config import CATEGORIES, DEFAULT_CONFIG, DemoConfig, load_config

__all__ = ["CATEGORIES", "DEFAULT_CONFIG", "DemoConfig", "build_demo", "frame_plan", "load_config"]
