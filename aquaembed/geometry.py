"""Box conversions and the one IoU definition of aquaembed.

Every overlap computed anywhere in the project goes through :func:`overlap`, a numba
function that the matching kernels inline; :func:`box_iou` exposes it to numpy users.
Boxes are ``[x1, y1, x2, y2]`` in pixels.
"""

from __future__ import annotations

import numba
import numpy as np

from aquaembed.errors import InputError

__all__ = ["xywh_to_xyxy", "xyxy_to_xywh", "box_area", "box_iou", "overlap", "overlap_with_areas"]


def _corner_shift(boxes: np.ndarray, sign: float) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = b.copy()
    out[:, 2:] += sign * b[:, :2]
    return out


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """Convert COCO ``[x, y, width, height]`` boxes to ``[x1, y1, x2, y2]``.

    Parameters
    ----------
    boxes : array of float, shape (n, 4)

    Returns
    -------
    array of float64, shape (n, 4)
    """
    return _corner_shift(boxes, 1.0)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """Convert ``[x1, y1, x2, y2]`` boxes to COCO ``[x, y, width, height]`` (same shapes)."""
    return _corner_shift(boxes, -1.0)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Area of ``[x1, y1, x2, y2]`` boxes in square pixels, shape (n,)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


@numba.njit(cache=True, inline="always")
def overlap(
    ax1: float, ay1: float, ax2: float, ay2: float, bx1: float, by1: float, bx2: float, by2: float
) -> tuple[float, float, float]:
    """Intersection-over-union of box a with box b, and intersection over b's area.

    Returns
    -------
    iou : float
        ``|a ∩ b| / |a ∪ b|``; 0 when the union is empty.
    iob : float
        ``|a ∩ b| / |b|`` (how COCO scores a box ``b`` against a crowd region ``a``);
        0 when ``b`` is empty.
    inter : float
        ``|a ∩ b|`` in square pixels.
    """
    area_a = (ax2 - ax1) * (ay2 - ay1)
    area_b = (bx2 - bx1) * (by2 - by1)
    return overlap_with_areas(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2, area_a, area_b)


@numba.njit(cache=True, inline="always")
def overlap_with_areas(
    ax1: float, ay1: float, ax2: float, ay2: float, bx1: float, by1: float, bx2: float, by2: float,
    area_a: float, area_b: float,
) -> tuple[float, float, float]:
    """:func:`overlap` with the two box areas given rather than computed from the corners.

    pycocotools computes a box's area as the ``width * height`` of its COCO bbox and
    the intersection from ``x + width``; ``(x2 - x1) * (y2 - y1)`` can differ from
    ``width * height`` in the last bit, which moves a pair whose IoU is exactly a
    threshold to the other side. Passing the source's ``width * height`` (the
    ``box_area`` of :class:`~aquaembed.data.Labels` / :class:`~aquaembed.data.Inferences`)
    with corners ``x1 = x``, ``x2 = x + width`` reproduces pycocotools bit for bit:
    ``iou = inter / (area_a + area_b - inter)``, ``iob = inter / area_b``.
    """
    iw = min(ax2, bx2) - max(ax1, bx1)
    ih = min(ay2, by2) - max(ay1, by1)
    if iw <= 0.0 or ih <= 0.0:
        return 0.0, 0.0, 0.0
    inter = iw * ih
    union = area_a + area_b - inter
    iou = inter / union if union > 0.0 else 0.0
    iob = inter / area_b if area_b > 0.0 else 0.0
    return iou, iob, inter


@numba.njit(cache=True)
def _iou_dense(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0], b.shape[0]), dtype=np.float64)
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = overlap(a[i, 0], a[i, 1], a[i, 2], a[i, 3], b[j, 0], b[j, 1], b[j, 2], b[j, 3])[0]
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two sets of ``[x1, y1, x2, y2]`` boxes.

    Parameters
    ----------
    a : array of float, shape (n, 4)
    b : array of float, shape (m, 4)

    Returns
    -------
    array of float64, shape (n, m)
        Values in [0, 1]; 0 for disjoint or empty boxes.
    """
    a = np.ascontiguousarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.ascontiguousarray(b, dtype=np.float64).reshape(-1, 4)
    for name, arr in (("a", a), ("b", b)):
        if not np.isfinite(arr).all():
            raise InputError(f"box_iou: {name} has a NaN or infinite coordinate")
        if (arr[:, 2] < arr[:, 0]).any() or (arr[:, 3] < arr[:, 1]).any():
            raise InputError(f"box_iou: {name} has a box with negative width or height")
    return _iou_dense(a, b)
