"""Paging and sorting rules shared by the frame table and the match rows."""

from __future__ import annotations

import numpy as np

from aquaembed._validate import integer
from aquaembed.errors import ParameterError

__all__ = ["check_page", "sort_order"]


def check_page(limit: int, offset: int, order: str) -> None:
    integer(limit, "limit", low=0)
    integer(offset, "offset", low=0)
    if order not in ("asc", "desc"):
        raise ParameterError(f"order must be 'asc' or 'desc', got {order!r}")


def sort_order(key: np.ndarray, order: str, *, tiebreak: np.ndarray) -> np.ndarray:
    """Stable sort positions of ``key`` (NaN / None last in either direction)."""
    key = np.asarray(key)
    if key.dtype.kind in "fiub":
        k = key.astype(np.float64)
        missing = np.isnan(k)
        k = np.where(missing, 0.0, k)
        primary = -k if order == "desc" else k
        return np.lexsort((tiebreak, primary, missing))
    strs = key.astype(str)
    uniq, inv = np.unique(strs, return_inverse=True)
    rank = inv if order == "asc" else (uniq.size - 1 - inv)
    return np.lexsort((tiebreak, rank))
