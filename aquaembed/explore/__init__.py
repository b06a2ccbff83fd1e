"""What the API and the dashboard ask of stored datasets: one facade over the library."""

from __future__ import annotations

from aquaembed.explore.cache import LRUCache
from aquaembed.explore.matches import MATCH_SORT_KEYS
from aquaembed.explore.metrics import FRAME_SORT_KEYS
from aquaembed.explore.view import DatasetView, Workspace

__all__ = ["Workspace", "DatasetView", "LRUCache", "FRAME_SORT_KEYS", "MATCH_SORT_KEYS"]
