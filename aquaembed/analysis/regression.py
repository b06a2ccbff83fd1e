"""Where B regressed: the failure report run on the labels B broke relative to A.

A label is *broken* when it is a TP under inference set A and not under B (missed, or
matched to another class), at the same :class:`~aquaembed.matching.MatchOptions`
(:func:`aquaembed.analysis.compare.label_transitions`). Two analyses locate them, with
the methods of the failure report so that their guarantees carry over:

* **clusters** of the broken label crops in crop-embedding space:
  :func:`aquaembed.analysis.clusters.cluster_rows` on the stored crop kNN graph, with
  the chance level ``broken labels / all graph crops``, exactly as the FN clusters are
  found (a core point is a broken crop whose neighbourhood holds significantly more
  broken crops than chance);
* **slices** where the *broken share* -- broken labels over the labels A found
  (``broken / (broken + found by both)``), per frame, per class and over all classes --
  departs from the rest: the frame-clustered z-test, Poisson bootstrap interval and
  Benjamini-Hochberg q-values of :func:`aquaembed.analysis.slices.ratio_departures`. A
  slice with a higher share than the rest has ``direction: "worse"`` (B regressed there),
  a lower one ``"better"``. Broken labels are rare (a share of a few per cent), so the
  test's variances are centred on the pooled share (``pooled=True``): a slice without a
  single broken label then has the variance the null hypothesis gives it, not zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aquaembed.analysis.slices import SliceSet, ratio_departures

__all__ = ["BROKEN", "BOTH_FOUND", "broken_parts", "regression_departures"]

BROKEN = 1
"""Transition code of a broken label (see :data:`aquaembed.analysis.compare.TRANSITIONS`)."""
BOTH_FOUND = 2
"""Transition code of a label both sets found."""


def broken_parts(
    transitions: np.ndarray, label_frame: np.ndarray, label_cls: np.ndarray, n_frames: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame broken labels and labels found by A, per class and over all classes.

    Parameters
    ----------
    transitions : int8 array, shape (L,)
        :func:`~aquaembed.analysis.compare.label_transitions` of every label row.
    label_frame, label_cls : int arrays, shape (L,)
        Frame row and class index of every label row.
    n_frames, n_classes : int

    Returns
    -------
    broken, found_a : int64 arrays, shape (F, C + 1)
        Column ``C`` is all classes.
    """
    t = np.asarray(transitions)
    k = n_classes + 1
    flat = np.asarray(label_frame, dtype=np.int64) * k + np.asarray(label_cls, dtype=np.int64)
    out = []
    for mask in (t == BROKEN, (t == BROKEN) | (t == BOTH_FOUND)):
        m = np.bincount(flat[mask], minlength=n_frames * k).reshape(n_frames, k).astype(np.int64)
        m[:, n_classes] = m[:, :n_classes].sum(axis=1)
        out.append(m)
    return out[0], out[1]


def regression_departures(
    transitions: np.ndarray,
    label_frame: np.ndarray,
    label_cls: np.ndarray,
    slices: SliceSet,
    class_names: Sequence[str],
    *,
    frame_ids: np.ndarray,
    alpha: float = 0.05,
    limit: int | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """Slices whose broken share departs from the rest, ranked (see the module docstring).

    Returns
    -------
    dict with ``tested`` and ``slices``: records as the report's slices, with ``metric``
    ``"broken_share"`` and the counts ``broken`` and ``found_a`` of the slice
    """
    n_frames = slices.membership.shape[1]
    broken, found = broken_parts(transitions, label_frame, label_cls, n_frames, len(class_names))
    return ratio_departures(
        broken[None].astype(np.float64), found[None].astype(np.float64), slices, class_names,
        metrics=("broken_share",), totals={"broken": broken, "found_a": found}, frame_ids=frame_ids,
        alpha=alpha, limit=limit, higher="worse", pooled=True, **kw,
    )
