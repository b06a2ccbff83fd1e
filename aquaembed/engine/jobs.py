"""Whole evaluation jobs on an engine: from COCO files (several results files or a
Parquet dataset of inferences) or from a stored sharded dataset.

Each returns the ``evaluate`` JSON (:func:`aquaembed.evaluate.evaluation`'s shape),
identical to the local one-process evaluation of the same inputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aquaembed.engine import evaluate_shards, get_engine
from aquaembed.engine.partition import shard_bounds
from aquaembed.engine.sources import expand_sources, file_shards
from aquaembed.matching import MatchOptions

__all__ = ["evaluate_files", "evaluate_store"]

Progress = Callable[[str, int, int], None]


def _stage(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


def _default_shards(engine: Any, n_boxes: int) -> int:
    return max(-(-n_boxes // 1_000_000), int(getattr(engine, "cpus", 1)))


def evaluate_files(
    gt: str | os.PathLike[str],
    preds: Sequence[str | os.PathLike[str]],
    options: MatchOptions | None = None,
    *,
    engine: Any = None,
    shards: int | None = None,
    coco: bool = False,
    matches: bool = True,
    per_frame: bool = True,
    pr: bool = False,
    progress: Progress | None = None,
    json_out: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Evaluate COCO results spread over several files (or a Parquet dataset) on an engine.

    Parameters
    ----------
    gt : path
        COCO ground truth (parsed on the driver).
    preds : sequence of paths
        COCO results JSON files, Parquet files of inferences, or directories of Parquet
        files; inference rows number through them in this order.
    options : MatchOptions, optional
    engine : "local", "ray" or an engine
    shards : int, optional
        Frame shards (default: one per ~1M labels, at least one per CPU).
    coco, matches, per_frame, pr : bool
        As :meth:`aquaembed.evaluate.Evaluator.report`.
    progress : callable(stage, done, total), optional
    json_out : path, optional
        Write the ``evaluate`` JSON here, streamed from the shards' parts (see
        :mod:`aquaembed.engine.output`); the returned dict then lacks ``matches`` and
        ``per_frame``, which never pass through this process.
    """
    from aquaembed.io.coco import load_coco_gt

    _check(json_out)
    engine = get_engine(engine)
    dataset = load_coco_gt(gt)
    paths = expand_sources(preds)
    n_f = len(dataset.frames)
    n_s = shards or _default_shards(engine, len(dataset.labels))
    bounds = shard_bounds(np.bincount(dataset.labels.frame, minlength=n_f), shards=n_s)
    items, n_preds = file_shards(engine, dataset, paths, bounds, progress=_stage(progress, "read"))
    return _run(engine, items, options, dataset.classes.names_with_background, (n_f, len(dataset.labels), n_preds),
                coco=coco, matches=matches, per_frame=per_frame, pr=pr, progress=progress, json_out=json_out)


def _check(json_out: str | os.PathLike[str] | None) -> None:
    if json_out is not None:
        from aquaembed.engine.output import check_output

        check_output(json_out)


def _run(engine: Any, items: Sequence[Any], options: MatchOptions | None, classes: Sequence[str],
         totals: tuple[int, int, int], *, coco: bool, matches: bool, per_frame: bool, pr: bool,
         progress: Progress | None, json_out: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Map, reduce and either return the whole JSON or stream it to ``json_out``."""
    from functools import partial

    from aquaembed.engine.output import parts_folder, shard_output_task, streamed_output
    from aquaembed.evaluate import reduced_evaluation

    options = options or MatchOptions()
    keys = tuple(k for k, on in (("per_frame", per_frame), ("matches", matches)) if on)
    if json_out is None or not keys:
        red = evaluate_shards(engine, items, options, classes=classes, totals=totals, table=matches, coco=coco, pr=pr,
                              progress=_stage(progress, "match"))
        out = reduced_evaluation(red, matches=matches, per_frame=per_frame)
        if json_out is not None:
            import orjson

            from aquaembed.store.atomic import write_output

            write_output(json_out, orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY), what="--json")
        return out
    parts = parts_folder(json_out)
    try:
        task = partial(shard_output_task, parts=str(parts), names=tuple(classes), keys=keys)
        red = evaluate_shards(engine, items, options, classes=classes, totals=totals, table=False, coco=coco, pr=pr,
                              progress=_stage(progress, "match"), task=task)
        head = reduced_evaluation(red, matches=False, per_frame=False)
        streamed_output(json_out, head, parts, keys, len(items))
    finally:
        import shutil

        shutil.rmtree(parts, ignore_errors=True)
    return head


def evaluate_store(
    root: str,
    options: MatchOptions | None = None,
    *,
    model: str | None = None,
    engine: Any = None,
    coco: bool = False,
    matches: bool = True,
    per_frame: bool = True,
    pr: bool = False,
    progress: Progress | None = None,
    filesystem: Any = None,
    json_out: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Evaluate a stored sharded dataset (:mod:`aquaembed.store.shards`): one task per shard.

    Parameters
    ----------
    root : str
        Local path or URI of the sharded dataset.
    model : str, optional
        Inference set (default: the only one).
    json_out : path, optional
        As :func:`evaluate_files`: the JSON streamed from the shards' parts.
    """
    from aquaembed.store.shards import ShardedStore

    _check(json_out)
    engine = get_engine(engine)
    store = ShardedStore(root, filesystem=filesystem)
    refs = store.shards(model)
    n_f, n_l, _ = store.totals
    return _run(engine, refs, options, store.classes.names_with_background, (n_f, n_l, store.n_preds(refs[0].model)),
                coco=coco, matches=matches, per_frame=per_frame, pr=pr, progress=progress, json_out=json_out)
