"""Metric plugins used by the tests (imported as ``metric_plugins:<function>``)."""

from __future__ import annotations

import numpy as np

from aquaembed.analysis.custom_metrics import FrameBatch
from aquaembed.matching import MatchOptions


def label_counts(batch: FrameBatch, options: MatchOptions) -> np.ndarray:
    """Every label an FN, every inference at or above conf an FP (no matching at all)."""
    n = len(batch.classes)
    out = np.zeros((len(batch), n, n), dtype=np.int64)
    np.add.at(out, (batch.label_frame, batch.label_class, n - 1), 1)
    kept = batch.pred_score >= options.conf
    np.add.at(out, (batch.pred_frame[kept], n - 1, batch.pred_class[kept]), 1)
    return out


def fails_on_frame_13(batch: FrameBatch, options: MatchOptions) -> np.ndarray:
    if (batch.image_id == 13).any():
        raise RuntimeError("cannot score this one")
    return label_counts(batch, options)


def wrong_shape(batch: FrameBatch, options: MatchOptions) -> np.ndarray:
    return np.zeros((len(batch), 2, 2), dtype=np.int64)
