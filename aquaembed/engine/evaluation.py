"""Evaluation as a per-shard map and an exact reduce.

:func:`evaluate_shard` is the map: one shard's candidates, match table, confusion
matrix, per-frame counts and COCO accumulation inputs. :func:`reduce_shards` is the
reduce: confusion matrices and PR counts sum, per-frame counts and match-table rows
concatenate in shard (frame) order, COCO inputs concatenate and accumulate once. Every
count equals the one-process result, and so does COCO mAP, to the last bit (the COCO
reduce sorts by a total order, see :func:`aquaembed.metrics.coco_reduce`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from aquaembed.engine.partition import Shard
from aquaembed.errors import AquaembedError
from aquaembed.matching import MatchOptions, MatchTable, build_candidates, match
from aquaembed.metrics import (
    CocoInputs,
    ConfusionMatrix,
    Counts,
    coco_inputs,
    coco_reduce,
    coco_summarize,
    confusion_matrix,
    frame_report,
    pr_counts,
    pr_from_counts,
)

__all__ = ["DEFAULT_PR_THRESHOLDS", "Reduced", "ShardResult", "evaluate_shard", "reduce_shards"]

DEFAULT_PR_THRESHOLDS = np.round(np.linspace(0.0, 1.0, 21), 2)


@dataclass(frozen=True, eq=False)
class ShardResult:
    """What one shard's task returns to the driver.

    Attributes
    ----------
    index : int
    cm : int64 array, shape (C + 1, C + 1)
    frames : Counts, shape (F_s,)
        Per-frame TP / FP / FN of the shard's frames.
    frame_ids, label_ids : int64 arrays, shapes (F_s,) and (L_s,)
        External ids (COCO image / annotation ids).
    label_rows : int64 array, shape (L_s,)
        Global row of each of the shard's labels.
    table : MatchTable or None
        The shard's match table with *global* frame, label and inference rows.
    coco : CocoInputs or None
    pr : int64 array, shape (3, K, C), or None
        TP, FP, FN per PR threshold and class.
    seconds : float
        Time spent in the task (for benchmarks).
    peak_rss : int
        Peak resident memory of the process that ran the task, in bytes (Linux).
    """

    index: int
    cm: np.ndarray
    frames: Counts
    frame_ids: np.ndarray
    label_ids: np.ndarray
    label_rows: np.ndarray
    table: MatchTable | None
    coco: CocoInputs | None
    pr: np.ndarray | None
    seconds: float = 0.0
    peak_rss: int = 0


def _globalise(table: MatchTable, shard: Shard, n_frames: int, n_labels: int, n_preds: int) -> MatchTable:
    lab, pred = table.label, table.pred
    return replace(
        table,
        frame=table.frame + shard.frame_start,
        label=np.where(lab >= 0, shard.label_rows[np.maximum(lab, 0)] if lab.size and shard.label_rows.size else -1, -1),
        pred=np.where(pred >= 0, shard.pred_rows[np.maximum(pred, 0)] if pred.size and shard.pred_rows.size else -1, -1),
        n_frames=n_frames, n_labels=n_labels, n_preds=n_preds,
    )


def evaluate_shard(
    shard: Shard,
    options: MatchOptions,
    *,
    totals: tuple[int, int, int],
    table: bool = True,
    coco: bool = False,
    pr_thresholds: np.ndarray | None = None,
    threads: int | None = 1,
    candidates: Any = None,
) -> ShardResult:
    """The map step: match one shard and summarise it.

    Parameters
    ----------
    shard : Shard
    options : MatchOptions
    totals : (n_frames, n_labels, n_preds)
        Sizes of the whole dataset (for the globalised table).
    table : bool
        Return the match table rows (needed for ``matches``).
    coco : bool
        Return the COCO accumulation inputs.
    pr_thresholds : float array, optional
        Return PR counts at these confidence thresholds.
    threads : int, optional
        Threads for the PR sweep (1 in a Ray task, which owns one CPU).
    candidates : Candidates, optional
        The shard's candidate pairs, when kept from an earlier call (a served store).
    """
    import time

    t0 = time.perf_counter()
    try:
        cand = build_candidates(shard.dataset, shard.inferences) if candidates is None else candidates
        tab = match(cand, options)
        fr = frame_report(tab).counts
        cm = confusion_matrix(tab)
        ci = coco_inputs(cand, frame_ids=shard.dataset.frames.id) if coco else None
        pr = None
        if pr_thresholds is not None:
            pr = np.stack(pr_counts(cand, options, thresholds=pr_thresholds, threads=threads))
    except AquaembedError as exc:
        raise type(exc)(f"shard {shard.index}: {exc}", parameter=exc.parameter) from None
    return ShardResult(
        index=shard.index, cm=cm, frames=fr,
        frame_ids=shard.dataset.frames.id, label_ids=shard.dataset.labels.id, label_rows=shard.label_rows,
        table=_globalise(tab, shard, *totals) if table else None, coco=ci, pr=pr,
        seconds=time.perf_counter() - t0, peak_rss=_peak_rss(),
    )


def _peak_rss() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass(frozen=True, eq=False)
class Reduced:
    """The exact reduce of every shard's result.

    Attributes
    ----------
    options : MatchOptions
    cm : ConfusionMatrix
        Sum of the shards' matrices.
    frames : Counts, shape (F,)
        Per-frame counts in frame-row order.
    frame_ids, label_ids : int64 arrays, shapes (F,) and (L,)
        External ids by frame row and by label row.
    table : MatchTable or None
        The whole match table (shards' rows concatenated), when asked for.
    coco : dict or None
        The twelve COCO numbers.
    pr : dict or None
        As :func:`aquaembed.metrics.pr_curve` returns.
    shard_seconds : float array, shape (S,)
    shard_peak_rss : int64 array, shape (S,)
        Peak memory (bytes) of the process that ran each shard, after it.
    reduce_seconds : float
        Time of the reduce on the driver.
    """

    options: MatchOptions
    cm: ConfusionMatrix
    frames: Counts
    frame_ids: np.ndarray
    label_ids: np.ndarray
    table: MatchTable | None
    coco: dict[str, float | None] | None
    pr: dict[str, np.ndarray] | None
    shard_seconds: np.ndarray
    shard_peak_rss: np.ndarray
    reduce_seconds: float = 0.0


def _concat_tables(tables: Sequence[MatchTable]) -> MatchTable:
    cols = ("frame", "label", "pred", "label_class", "pred_class", "iou", "score", "type", "label_area", "pred_area")
    first = tables[0]
    merged: dict[str, Any] = {k: np.concatenate([getattr(t, k) for t in tables]) for k in cols}
    return replace(first, **merged)


def coco_group_task(classes: np.ndarray, results: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accumulate COCO for one group of classes over every shard's inputs (a task).

    ``results`` are the shards' :class:`ShardResult` (or references to them, fetched here).
    """
    from aquaembed.engine.sources import _resolve
    from aquaembed.metrics import coco_accumulate

    parts = [_resolve(r).coco for r in results]
    precision, recall = coco_accumulate(parts, classes=classes)
    return np.asarray(classes), precision, recall


def reduce_shards(
    results: Sequence[ShardResult], options: MatchOptions, classes: Sequence[str],
    *, pr_thresholds: np.ndarray | None = None, coco_parts: Sequence[Any] | None = None,
) -> Reduced:
    """The reduce step: sum, concatenate and accumulate the shards' results exactly.

    Parameters
    ----------
    results : sequence of ShardResult
        One per shard, any order (they are put in shard order).
    options : MatchOptions
    classes : sequence of str
        Class names with the background last.
    pr_thresholds : float array, optional
        The thresholds the shards' PR counts were taken at.
    coco_parts : sequence of (classes, precision, recall), optional
        COCO already accumulated per class group (:func:`coco_group_task`).
    """
    import time

    t0 = time.perf_counter()
    rs = sorted(results, key=lambda r: r.index)
    cm = ConfusionMatrix(np.sum([r.cm for r in rs], axis=0), tuple(classes), options)
    frames = Counts(*(np.concatenate([getattr(r.frames, k) for r in rs]) for k in ("tp", "fp", "fn")))
    tables = [r.table for r in rs if r.table is not None]
    table = _concat_tables(tables) if len(tables) == len(rs) else None
    coco: dict[str, float | None] | None = None
    if coco_parts:
        n_k = len(classes) - 1
        precision = np.empty((*coco_parts[0][1].shape[:2], n_k, *coco_parts[0][1].shape[3:]))
        recall = np.empty((coco_parts[0][2].shape[0], n_k, *coco_parts[0][2].shape[2:]))
        for cls_idx, p, r in coco_parts:
            precision[:, :, cls_idx] = p
            recall[:, cls_idx] = r
        coco = coco_summarize(precision, recall)
    else:
        inputs = [r.coco for r in rs if r.coco is not None]
        coco = coco_reduce(inputs) if len(inputs) == len(rs) else None
    pr = None
    prs = [r.pr for r in rs if r.pr is not None]
    if pr_thresholds is not None and len(prs) == len(rs):
        tp, fp, fn = np.sum(prs, axis=0)
        pr = pr_from_counts(pr_thresholds, tp, fp, fn)
    rows = np.concatenate([r.label_rows for r in rs])
    label_ids = np.empty(rows.shape[0], dtype=np.int64)
    label_ids[rows] = np.concatenate([r.label_ids for r in rs])
    return Reduced(
        options=options, cm=cm, frames=frames, frame_ids=np.concatenate([r.frame_ids for r in rs]),
        label_ids=label_ids, table=table, coco=coco, pr=pr,
        shard_seconds=np.array([r.seconds for r in rs]),
        shard_peak_rss=np.array([r.peak_rss for r in rs], dtype=np.int64), reduce_seconds=time.perf_counter() - t0,
    )
