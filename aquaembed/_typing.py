"""User-facing string options as ``Literal`` aliases, in one place."""

from __future__ import annotations

from typing import Literal

MatchMode = Literal["optimal", "greedy"]
"""How one-to-one pairs are chosen: maximum total IoU, or by descending confidence."""

MatchType = Literal["TP", "FP", "FN", "confusion", "ignored"]
"""The type of one row of the match table."""

BoxFormat = Literal["coco", "yolo", "voc"]
"""An annotation file format: COCO JSON, Ultralytics YOLO text files, Pascal VOC XML."""

Difficult = Literal["label", "crowd"]
"""What Pascal VOC ``difficult`` objects become: plain labels, or crowd-like ignore regions."""
EngineName = Literal["local", "ray"]
"""Where per-shard work runs: this machine's cores, or a Ray cluster."""
