"""Engines: the same per-shard map and exact reduce, on this machine or on a Ray cluster.

``local`` (:class:`LocalEngine`) runs shards in threads on every core; ``ray``
(:class:`~aquaembed.engine.ray.RayEngine`, the ``[ray]`` extra) runs them as Ray tasks.
:func:`evaluate_shards` maps :func:`evaluate_shard` over shards and reduces the results
(:func:`reduce_shards`): counts sum, rows concatenate, COCO inputs accumulate once, so
every engine and every number of shards gives the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aquaembed._typing import EngineName
from aquaembed.engine.evaluation import (
    DEFAULT_PR_THRESHOLDS,
    Reduced,
    ShardResult,
    coco_group_task,
    evaluate_shard,
    reduce_shards,
)
from aquaembed.engine.local import LocalEngine
from aquaembed.engine.partition import Shard, shard_bounds, split, take_shard
from aquaembed.errors import ParameterError
from aquaembed.matching import MatchOptions

__all__ = [
    "DEFAULT_PR_THRESHOLDS",
    "Engine",
    "LocalEngine",
    "Reduced",
    "Shard",
    "ShardResult",
    "evaluate_shard",
    "evaluate_shards",
    "get_engine",
    "load_shard",
    "reduce_shards",
    "shard_bounds",
    "shard_task",
    "split",
    "take_shard",
]

Engine = Any
"""An engine: an object with ``name`` and ``map(fn, items, *, progress=None, **kwargs)``."""


def get_engine(engine: EngineName | Engine | None = None, *, address: str | None = None) -> Engine:
    """An engine from its name (``"local"``, ``"ray"``) or an engine itself.

    Parameters
    ----------
    engine : "local", "ray", an engine, or None (local)
    address : str, optional
        Ray cluster address (``--address``); only with ``"ray"``.
    """
    if engine is None or engine == "local":
        if address is not None:
            raise ParameterError("--address is for the ray engine only", parameter="address")
        return LocalEngine()
    if engine == "ray":
        from aquaembed.engine.ray import RayEngine

        return RayEngine(address)
    if isinstance(engine, str):
        raise ParameterError(f"engine must be 'local' or 'ray', got {engine!r}", parameter="engine")
    if not callable(getattr(engine, "map", None)):
        raise ParameterError(f"engine must be 'local', 'ray' or an engine, got {type(engine).__name__}", parameter="engine")
    return engine


def load_shard(item: Any) -> Shard:
    """A :class:`Shard` from a shard or from a shard reference (anything with ``load()``)."""
    return item if isinstance(item, Shard) else item.load()


def shard_task(item: Any, options: MatchOptions, totals: tuple[int, int, int], table: bool, coco: bool,
                pr_thresholds: np.ndarray | None) -> ShardResult:
    """The default per-shard task: load the shard (in the task) and :func:`evaluate_shard` it."""
    return evaluate_shard(load_shard(item), options, totals=totals, table=table, coco=coco, pr_thresholds=pr_thresholds)


def evaluate_shards(
    engine: Engine,
    items: Sequence[Any],
    options: MatchOptions,
    *,
    classes: Sequence[str],
    totals: tuple[int, int, int],
    table: bool = True,
    coco: bool = False,
    pr: bool = False,
    progress: Callable[[int, int], None] | None = None,
    task: Callable[..., ShardResult] | None = None,
) -> Reduced:
    """Map :func:`evaluate_shard` over shards on ``engine`` and reduce exactly.

    Parameters
    ----------
    engine : Engine
    items : sequence of Shard or shard references
        In shard order.
    options : MatchOptions
    classes : sequence of str
        Class names, background last.
    totals : (n_frames, n_labels, n_preds)
    table, coco, pr : bool
        Gather the match table / COCO inputs / PR counts.
    progress : callable(done, total), optional
    task : callable, optional
        Replaces the per-shard task (same signature as the default); for tests.
    """
    ts = DEFAULT_PR_THRESHOLDS if pr else None
    results = engine.map(
        task or shard_task, items, progress=progress, options=options, totals=tuple(totals), table=table,
        coco=coco, pr_thresholds=ts, fetch=False,
    )
    coco_parts = None
    if coco:
        # COCO accumulation is per class: class groups accumulate in parallel tasks
        n_groups = max(1, min(len(classes) - 1, int(getattr(engine, "cpus", 0) or getattr(engine, "threads", 1))))
        groups = [g for g in np.array_split(np.arange(len(classes) - 1), n_groups) if g.size]
        coco_parts = engine.map(coco_group_task, groups, results=list(results))
    if hasattr(engine, "get") and results and not isinstance(results[0], ShardResult):
        results = engine.get(results)
    return reduce_shards(results, options, classes, pr_thresholds=ts, coco_parts=coco_parts)
