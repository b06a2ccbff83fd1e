"""The base of :class:`~aquaembed.explore.DatasetView`: the dataset, its inference sets,
evaluators and cached match tables, and the stored artefacts.

Match tables are cached per (inference set, :class:`~aquaembed.matching.MatchOptions`) in
a bounded LRU; every method is thread-safe (caches are guarded by locks, cached values are
immutable, and two requests with different options never share a result).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from aquaembed.data import Dataset, Inferences
from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.evaluate import Evaluator
from aquaembed.explore.cache import LRUCache
from aquaembed.matching import MatchOptions, MatchTable
from aquaembed.store import StoredDataset

T = TypeVar("T")

__all__ = ["ViewBase"]


class ViewBase:
    """The state every part of a :class:`~aquaembed.explore.DatasetView` shares.

    Parameters
    ----------
    stored : StoredDataset
    cache_size : int
        How many match tables (one per inference set and threshold pair) to keep.
    """

    def __init__(self, stored: StoredDataset, *, cache_size: int = 32) -> None:
        self.stored = stored
        self.name = stored.name
        self._lock = threading.Lock()
        self._dataset: Dataset | None = None
        self._evaluators: dict[str, Evaluator] = {}
        self._tables = LRUCache(cache_size)
        self._derived = LRUCache(cache_size * 4)
        self._static: dict[str, Any] = {}

    # ------------------------------------------------------------------ basics

    @property
    def dataset(self) -> Dataset:
        """The dataset's tables, read from the store on first use."""
        with self._lock:
            if self._dataset is None:
                self._dataset = self.stored.dataset
            return self._dataset

    @property
    def image_root(self) -> Path | None:
        """Folder of the frames' images (the ingest's ``images`` source), or None.

        A relative path is taken relative to the data directory holding the dataset.
        """
        root = self.stored.manifest.source.get("images")
        if not root:
            return None
        path = Path(root)
        return path if path.is_absolute() else self.stored.path.parent / path

    def models(self) -> list[str]:
        """Names of the inference sets."""
        return list(self.stored.inference_names)

    def model(self, model: str | None) -> str:
        """Resolve an inference-set name (the only one when ``model`` is None)."""
        names = self.models()
        if model is None:
            if len(names) == 1:
                return names[0]
            raise ParameterError(f"model: name an inference set; dataset {self.name!r} has {', '.join(names) or 'none'}")
        if model not in names:
            raise NotFoundError(f"dataset {self.name!r} has no inference set {model!r}; known: {', '.join(names) or 'none'}")
        return model

    def resolve(self, model: str | None) -> str | None:
        """Like :meth:`model`, but None for a dataset without inference sets.

        Such a dataset is explored on its labels alone: its match table is that of an
        empty inference set (every label unmatched), so projections, similarity search
        and the maps work unchanged.
        """
        if model is None and not self.models():
            return None
        return self.model(model)

    def inferences(self, model: str | None) -> Inferences:
        """The inference set ``model`` (resolved), or an empty one for ``None``."""
        if model is None:
            empty = np.zeros(0, dtype=np.int64)
            return Inferences(empty, empty, np.zeros((0, 4)), np.zeros(0), name="none")
        return self.dataset.inference_set(model)

    def evaluator(self, model: str | None = None) -> Evaluator:
        """The evaluator (with its candidate pairs) of an inference set, built once."""
        model = self.resolve(model)
        with self._lock:
            ev = self._evaluators.get(model)  # type: ignore[arg-type]
        if ev is None:
            ev = Evaluator(self.dataset, self.inferences(model))
            with self._lock:
                ev = self._evaluators.setdefault(model, ev)  # type: ignore[arg-type]
        return ev

    def table(self, model: str | None = None, options: MatchOptions | None = None) -> MatchTable:
        """The match table at these thresholds (cached)."""
        model = self.resolve(model)
        options = MatchOptions() if options is None else options
        return self._tables.get((model, options), lambda: self.evaluator(model).table(options))

    def summary(self) -> dict[str, Any]:
        """Name, counts, classes, inference sets and embedding kinds, from the manifest."""
        m = self.stored.manifest
        return {
            "name": self.name,
            "frames": m.counts.frames,
            "labels": m.counts.labels,
            "classes": list(m.classes.names),
            "inference_sets": {name: int(rec.get("rows", 0)) for name, rec in m.inferences.items()},
            "embeddings": list(self.stored.embedding_kinds),
            "frame_metadata": [rec["name"] for rec in m.frame_metadata],
        }

    def _once(self, key: str, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._static:
                return self._static[key]
        value = compute()
        with self._lock:
            return self._static.setdefault(key, value)

    def _artifact(self, name: str, what: str) -> None:
        if name not in self.stored.artifact_names:
            raise NotFoundError(f"dataset {self.name!r} has no {what} (ingest embeddings, or images to embed)")

    def _row_boxes(self, table: MatchTable, rows: np.ndarray, pred_boxes: np.ndarray) -> np.ndarray:
        """Box of each row: the label's, or the inference's when the row has no label."""
        lab = table.label[rows]
        out = np.empty((rows.size, 4))
        has = lab >= 0
        out[has] = self.dataset.labels.box[lab[has]]
        out[~has] = pred_boxes[table.pred[rows][~has]]
        return out
