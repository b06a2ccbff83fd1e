"""Workspace and DatasetView: the facade the API and the dashboard call.

A :class:`Workspace` opens the datasets of a data directory; a :class:`DatasetView`
answers what the service and the dashboard ask (metrics at matching options, frame
tables, the rows of a confusion cell, projections, neighbours) by calling the matching
engine, the metrics and the analyses. It is assembled from focused parts:
:mod:`~aquaembed.explore.base` (dataset, evaluators, cached match tables),
:mod:`~aquaembed.explore.metrics`, :mod:`~aquaembed.explore.matches` and
:mod:`~aquaembed.explore.embeddings`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from aquaembed.errors import NotFoundError
from aquaembed.explore.compare import ComparePart
from aquaembed.explore.embeddings import EmbeddingsPart
from aquaembed.explore.matches import MatchesPart
from aquaembed.explore.metrics import MetricsPart
from aquaembed.store import Store

__all__ = ["Workspace", "DatasetView"]


class DatasetView(MetricsPart, MatchesPart, ComparePart, EmbeddingsPart):
    """One stored dataset, ready to answer exploration queries.

    Parameters
    ----------
    stored : StoredDataset
    cache_size : int
        How many match tables (one per inference set and options) to keep.
    """


class Workspace:
    """The datasets of one data directory, opened on demand and kept open.

    Parameters
    ----------
    root : path
        The data directory.
    cache_size : int
        Match tables kept per dataset.
    """

    def __init__(self, root: str | Path, *, cache_size: int = 32) -> None:
        self.root = Path(root)
        self.store = Store(self.root)
        self._cache_size = cache_size
        self._views: dict[str, DatasetView] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Names of the stored datasets."""
        return self.store.list()

    def get(self, name: str) -> DatasetView:
        """The view of dataset ``name``; raises NotFoundError for an unknown name."""
        with self._lock:
            view = self._views.get(name)
            if view is not None:
                return view
        if name not in self.names():
            raise NotFoundError(f"unknown dataset {name!r}; known: {', '.join(self.names()) or 'none'}")
        view = DatasetView(self.store.open(name), cache_size=self._cache_size)
        with self._lock:
            return self._views.setdefault(name, view)
