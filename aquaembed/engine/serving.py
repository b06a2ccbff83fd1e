"""Serving a large sharded store on one machine: shards opened lazily, candidates kept,
each threshold change re-matched shard by shard on every local core.

:class:`ShardedMatcher` reads nothing until first asked; then every shard is read and its
candidate pairs built once (in parallel), and each call re-runs only the matching and the
reduce. The matcher's kernels release the GIL, so the local engine's threads use every
core. Results equal the one-process evaluation (the same exact reduce).
"""

from __future__ import annotations

import threading
from typing import Any

from aquaembed.engine.evaluation import Reduced, evaluate_shard, reduce_shards
from aquaembed.engine.local import LocalEngine
from aquaembed.matching import MatchOptions, build_candidates

__all__ = ["ShardedMatcher"]


def _prepare(ref: Any) -> tuple[Any, Any]:
    shard = ref.load()
    return shard, build_candidates(shard.dataset, shard.inferences)


def _rematch(item: tuple[Any, Any], options: MatchOptions, totals: tuple[int, int, int], table: bool,
             coco: bool) -> Any:
    shard, cand = item
    return evaluate_shard(shard, options, totals=totals, table=table, coco=coco, candidates=cand)


class ShardedMatcher:
    """Re-match a sharded dataset at any options, keeping each shard's candidates.

    Parameters
    ----------
    store : aquaembed.store.shards.ShardedStore
    model : str, optional
        Inference set (default: the only one).
    engine : LocalEngine, optional
        Default: a thread per core.
    """

    def __init__(self, store: Any, model: str | None = None, *, engine: LocalEngine | None = None) -> None:
        self.store = store
        self.refs = store.shards(model)
        self.model = self.refs[0].model
        self.engine = engine or LocalEngine()
        self._items: list[tuple[Any, Any]] | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the shards have been read (they are on first use)."""
        return self._items is not None

    def _shards(self) -> list[tuple[Any, Any]]:
        with self._lock:
            if self._items is None:
                self._items = self.engine.map(_prepare, self.refs)
            return self._items

    def reduced(self, options: MatchOptions | None = None, *, table: bool = False, coco: bool = False) -> Reduced:
        """Match every shard at ``options`` and reduce (see :func:`reduce_shards`)."""
        options = options or MatchOptions()
        n_f, n_l, _ = self.store.totals
        totals = (n_f, n_l, self.store.n_preds(self.model))
        results = self.engine.map(_rematch, self._shards(), options=options, totals=totals, table=table, coco=coco)
        return reduce_shards(results, options, self.store.classes.names_with_background)

    def report(self, options: MatchOptions | None = None, *, coco: bool = False, matches: bool = False,
               per_frame: bool = True) -> dict[str, Any]:
        """The ``evaluate`` JSON at ``options`` (without ``matches`` unless asked)."""
        from aquaembed.evaluate import reduced_evaluation

        return reduced_evaluation(self.reduced(options, table=matches, coco=coco), matches=matches, per_frame=per_frame)
