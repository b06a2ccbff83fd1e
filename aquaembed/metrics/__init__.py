"""Metrics, every one a pure function of the match table (or of per-frame confusion matrices)."""

from __future__ import annotations

from aquaembed.metrics.core import (
    BELOW_THRESHOLD,
    COCO_STAT_NAMES,
    class_report,
    coco_map,
    confusion_matrix,
    frame_report,
    inference_types,
    label_types,
    overall_report,
    pr_curve,
    slice_report,
)
from aquaembed.metrics.counts import ConfusionMatrix, Counts, json_value, overall_counts, per_class_counts, ratios

__all__ = [
    "BELOW_THRESHOLD", "COCO_STAT_NAMES", "ConfusionMatrix", "Counts",
    "class_report", "coco_map", "confusion_matrix", "frame_report", "inference_types", "json_value",
    "label_types", "overall_counts", "overall_report", "per_class_counts", "pr_curve", "ratios", "slice_report",
]
