"""Workspace and DatasetView: the facade the API and the dashboard call.

A :class:`Workspace` opens the datasets of a data directory; a :class:`DatasetView`
answers what the service and the dashboard ask (metrics at matching options, frame
tables, the rows of a confusion cell, projections, neighbours) by calling the matching
engine, the metrics and the analyses. It is assembled from focused parts:
:mod:`~aquaembed.explore.base` (dataset, evaluators, cached match tables),
:mod:`~aquaembed.explore.metrics`, :mod:`~aquaembed.explore.matches`,
:mod:`~aquaembed.explore.embeddings`, :mod:`~aquaembed.explore.review` (label issues) and
:mod:`~aquaembed.explore.report` (the failure report).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from aquaembed.errors import NotFoundError
from aquaembed.explore.compare import ComparePart
from aquaembed.explore.embeddings import EmbeddingsPart
from aquaembed.explore.matches import MatchesPart
from aquaembed.explore.metrics import MetricsPart
from aquaembed.explore.report import ReportPart
from aquaembed.explore.review import ReviewPart
from aquaembed.store import MANIFEST, Store
from aquaembed.store.tables import check_name

__all__ = ["Workspace", "DatasetView"]


class DatasetView(MetricsPart, MatchesPart, ReportPart, ComparePart, EmbeddingsPart, ReviewPart):
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
        self._stamps: dict[str, tuple[int, int, int]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Names of the stored datasets."""
        return self.store.list()

    def get(self, name: str) -> DatasetView:
        """The view of dataset ``name``, of its newest committed generation.

        One ``stat`` of the manifest per call notices a new generation (a writer renames
        a new manifest into place); the view is then reopened, and the old one lives on
        (pinning its files) only as long as the requests that still use it.

        Raises
        ------
        NotFoundError
            No dataset of that name.
        """
        try:
            st = os.stat(self.store.root / check_name(name, "dataset name") / MANIFEST)
        except (FileNotFoundError, NotADirectoryError):
            with self._lock:
                self._views.pop(name, None)
            raise NotFoundError(f"unknown dataset {name!r}; known: {', '.join(self.names()) or 'none'}") from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            view = self._views.get(name)
            if view is not None and self._stamps.get(name) == stamp:
                return view
        view = self._open(name)
        with self._lock:
            current = self._views.get(name)
            if current is not None and current.stored.generation >= view.stored.generation and self._stamps.get(name) == stamp:
                return current
            self._views[name], self._stamps[name] = view, stamp
            return view

    def _open(self, name: str) -> DatasetView:
        """A dataset's view: the sharded layout gets a :class:`~aquaembed.explore.sharded.ShardedView`."""
        from aquaembed.store.shards import folder_is_sharded

        if folder_is_sharded(self.store.root / name):
            from aquaembed.explore.sharded import ShardedView

            return ShardedView(self.store.open_sharded(name), cache_size=self._cache_size)  # type: ignore[return-value]
        return DatasetView(self.store.open(name), cache_size=self._cache_size)
