"""Views derived from per-frame confusion matrices: the evaluate-shaped summary and slice groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from aquaembed.data import Dataset
from aquaembed.errors import ParameterError
from aquaembed.matching import MatchOptions
from aquaembed.metrics import FrameMatrices, per_class_counts

__all__ = ["matrix_evaluation", "slice_groups"]


def matrix_evaluation(dataset: Dataset, fm: FrameMatrices, options: MatchOptions) -> dict[str, Any]:
    """``conf_threshold``, ``iou_threshold``, ``classes``, ``confusion_matrix``, ``per_class``
    and ``overall`` of per-frame matrices, in the ``evaluate`` JSON layout."""
    cm = fm.confusion()
    per_class = per_class_counts(cm).to_json()
    return {
        "conf_threshold": options.conf,
        "iou_threshold": options.iou,
        "classes": list(dataset.classes.names_with_background),
        "confusion_matrix": cm.tolist(),
        "per_class": dict(zip(dataset.classes.names, per_class)),
        "overall": fm.overall().to_json(),
    }


def slice_groups(
    metadata: Mapping[str, np.ndarray], scalars: Mapping[str, np.ndarray], field: str, *, bins: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Slice values and the slice index of every frame (``-1``: in no slice).

    A metadata field slices by value (as text); a scalar metric by ``bins`` quantile
    bins labelled ``"[lo, hi]"`` (frames where it is undefined are in no slice).
    """
    if field in metadata:
        values, groups = np.unique(np.asarray(metadata[field]).astype(str), return_inverse=True)
        return values, groups.astype(np.int64)
    if field in scalars:
        if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 100:
            raise ParameterError(f"bins must be an integer in [1, 100], got {bins!r}", parameter="bins")
        x = np.asarray(scalars[field], dtype=np.float64)
        ok = ~np.isnan(x)
        if not ok.any():
            return np.asarray([], dtype=str), np.full(x.shape, -1, dtype=np.int64)
        edges = np.unique(np.quantile(x[ok], np.linspace(0, 1, bins + 1)))
        if edges.size == 1:
            edges = np.array([edges[0], edges[0]])
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
        groups = np.where(ok, idx, -1).astype(np.int64)
        values = np.asarray([f"[{edges[i]:.4g}, {edges[i + 1]:.4g}]" for i in range(edges.size - 1)], dtype=str)
        return values, groups
    known = ", ".join([*metadata, *scalars]) or "none"
    raise ParameterError(f"field: unknown metadata field or scalar metric {field!r}; use one of: {known}",
                         parameter="field")
