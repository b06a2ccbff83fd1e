"""Hypothesis strategies shared by the property tests: boxes, frames, datasets.

A *frame set* is ``(labels, preds, n_frames, conf, iou)`` with labels as
``(frame, class, [x1, y1, x2, y2])`` and inferences as ``(frame, class, box, score)``
on 3 classes, small enough for brute-force references; :func:`factories.make_candidates`
turns one into candidates. Test modules import from here, never from each other.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["SCORES", "boxes", "coord", "frame_sets", "partitions", "xyxy_box"]

coord = st.integers(0, 40)
"""A box corner coordinate on a small grid (so boxes overlap often)."""

SCORES = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
"""Inference confidences drawn from (ties on purpose)."""

xyxy_box = st.tuples(
    st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.floats(0.01, 1e3), st.floats(0.01, 1e3)
).map(lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])
"""One ``[x1, y1, x2, y2]`` box of any position and a positive size (floats)."""


@st.composite
def boxes(draw: Any, n: int) -> list[list[int]]:
    """``n`` integer boxes ``[x1, y1, x2, y2]`` with sides of 1 to 30 pixels."""
    out = []
    for _ in range(n):
        x, y = draw(coord), draw(coord)
        w, h = draw(st.integers(1, 30)), draw(st.integers(1, 30))
        out.append([x, y, x + w, y + h])
    return out


@st.composite
def frame_sets(draw: Any, *, max_frames: int = 3, max_labels: int = 4, max_preds: int = 5) -> tuple[Any, ...]:
    """``(labels, preds, n_frames, conf, iou)``: a few frames of overlapping boxes, 3 classes."""
    n_frames = draw(st.integers(1, max_frames))
    labels, preds = [], []
    for f in range(n_frames):
        for b in draw(boxes(draw(st.integers(0, max_labels)))):
            labels.append((f, draw(st.integers(0, 2)), b))
        for b in draw(boxes(draw(st.integers(0, max_preds)))):
            preds.append((f, draw(st.integers(0, 2)), b, draw(st.sampled_from(SCORES))))
    conf = draw(st.sampled_from([0.0, 0.3, 0.5, 0.9]))
    iou = draw(st.sampled_from([0.1, 0.3, 0.5, 0.75]))
    return labels, preds, n_frames, conf, iou


@st.composite
def partitions(draw: Any, n: int, *, max_parts: int = 4) -> list[list[int]]:
    """A random partition of ``range(n)`` into non-empty parts (each part in ascending order)."""
    k = draw(st.integers(1, max(1, min(n, max_parts))))
    owner = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    parts = [[i for i in range(n) if owner[i] == p] for p in range(k)]
    return [p for p in parts if p]
