"""Metrics, every one a pure function of the match table (or of per-frame confusion matrices).

Layout: :mod:`~aquaembed.metrics.counts` (:class:`Counts`, :class:`ConfusionMatrix`, the one
NaN rule), :mod:`~aquaembed.metrics.reports` (confusion matrix; per class / overall / frame /
slice as :class:`ClassReport`, :class:`Counts`, :class:`FrameReport`, :class:`SliceReport`;
crop types), :mod:`~aquaembed.metrics.pr` (PR curves) and :mod:`~aquaembed.metrics.coco`
(COCO mAP, equal to pycocotools).
"""

from __future__ import annotations

from aquaembed.metrics.coco import (
    COCO_STAT_NAMES,
    CocoInputs,
    coco_accumulate,
    coco_inputs,
    coco_map,
    coco_reduce,
    coco_summarize,
)
from aquaembed.metrics.counts import ConfusionMatrix, Counts, json_value, overall_counts, per_class_counts, ratios
from aquaembed.metrics.frames import FrameMatrices, frame_confusion
from aquaembed.metrics.pr import pr_counts, pr_curve, pr_curve_and_table, pr_from_counts
from aquaembed.metrics.reports import (
    BELOW_THRESHOLD,
    ClassReport,
    FrameReport,
    SliceReport,
    class_report,
    confusion_matrix,
    frame_report,
    inference_types,
    label_types,
    overall_report,
    slice_report,
)

__all__ = [
    "BELOW_THRESHOLD", "COCO_STAT_NAMES", "ClassReport", "ConfusionMatrix", "Counts", "FrameMatrices", "FrameReport", "frame_confusion",
    "SliceReport", "class_report", "coco_map", "confusion_matrix", "frame_report", "inference_types",
    "json_value", "label_types", "overall_counts", "overall_report", "per_class_counts", "pr_curve",
    "ratios", "slice_report",
    "CocoInputs", "coco_accumulate", "coco_inputs", "coco_reduce", "coco_summarize", "pr_counts", "pr_from_counts",
    "pr_curve_and_table",
]
