"""What the API and the dashboard ask of stored datasets: one facade over the library."""

from __future__ import annotations

from aquaembed.explore.core import FRAME_SORT_KEYS, MATCH_SORT_KEYS, DatasetView, LRUCache, Workspace

__all__ = ["Workspace", "DatasetView", "LRUCache", "FRAME_SORT_KEYS", "MATCH_SORT_KEYS"]
