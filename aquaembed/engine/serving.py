"""Serving a large sharded store on one machine: shards opened lazily, candidates kept,
each threshold change re-matched shard by shard on every local core.

:class:`ShardedMatcher` reads nothing until first asked; then every shard is read and its
candidate pairs built once (in parallel), and each call re-runs only the matching and the
reduce. The matcher's kernels release the GIL, so the local engine's threads use every
core. Results equal the one-process evaluation (the same exact reduce); a page of match
rows is each shard's first rows in the requested order merged on a total order (key,
then row of the whole table), so it equals the page of the whole table.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np

from aquaembed.engine.evaluation import DEFAULT_PR_THRESHOLDS, Reduced, evaluate_shard, reduce_shards
from aquaembed.engine.local import LocalEngine
from aquaembed.matching import MatchOptions, MatchTable, build_candidates, match

__all__ = ["MatchPage", "ShardedMatcher"]

MatchPage = dict[str, Any]
"""``{"total": int, "rows": [...]}``: rows as :meth:`DatasetView.matches` gives them."""


def _prepare(ref: Any) -> tuple[Any, Any]:
    shard = ref.load()
    return shard, build_candidates(shard.dataset, shard.inferences)


def _load(ref: Any) -> Any:
    return ref.load()


def _held(item: Any) -> tuple[Any, Any]:
    """A shard and its candidates: kept ones (a pair), or read and built now (a reference)."""
    return item if isinstance(item, tuple) else _prepare(item)


def _rematch(item: Any, options: MatchOptions, totals: tuple[int, int, int], table: bool,
             coco: bool, pr_thresholds: np.ndarray | None) -> Any:
    shard, cand = _held(item)
    return evaluate_shard(shard, options, totals=totals, table=table, coco=coco, candidates=cand,
                          pr_thresholds=pr_thresholds)


def _table(item: tuple[Any, Any], options: MatchOptions) -> MatchTable:
    return match(item[1], options)


def _shard_page(pair: tuple[Any, MatchTable | None], options: MatchOptions, names: tuple[str, ...],
                gt_class: int | None, pred_class: int | None, type_code: int | None, sort: str, order: str,
                k: int, frame_mask: np.ndarray | None) -> tuple[Any, ...]:
    """One shard's share of a match page: its first ``k`` selected rows in sort order.

    ``pair`` is (kept shard and candidates, or a shard reference; its match table at
    ``options`` or None to match now). Returns ``(rows in the shard's table, selected,
    keys, rows, records)``: the table's length, how many rows the filters keep, the sort
    keys and shard-table rows of the first ``k``, and their JSON records.
    """
    from aquaembed.evaluate import _match_rows
    from aquaembed.explore.paging import sort_order
    from aquaembed.geometry import box_area, xyxy_to_xywh
    from aquaembed.metrics import json_value

    held, tab = pair
    shard, cand = _held(held)
    if tab is None:
        tab = match(cand, options)
    keep = np.ones(len(tab), dtype=bool)
    if gt_class is not None:
        keep &= tab.label_class == gt_class
    if pred_class is not None:
        keep &= tab.pred_class == pred_class
    if type_code is not None:
        keep &= tab.type == type_code
    if frame_mask is not None:  # over the dataset's frame rows
        keep &= frame_mask[shard.frame_start + tab.frame]
    rows = np.flatnonzero(keep)
    lab_box, inf_box = shard.dataset.labels.box, shard.inferences.box
    lab = tab.label[rows]
    box = np.empty((rows.size, 4))
    has = lab >= 0
    box[has] = lab_box[lab[has]]
    box[~has] = inf_box[tab.pred[rows][~has]]
    w, h = xyxy_to_xywh(box)[:, 2:].T
    with np.errstate(divide="ignore", invalid="ignore"):
        aspect = np.where(h > 0, w / np.where(h > 0, h, 1), np.nan)
    area = box_area(box)
    key = {"score": tab.score[rows], "iou": tab.iou[rows], "area": area, "aspect": aspect}[sort]
    sel = sort_order(key, order, tiebreak=rows)[:k]
    page = rows[sel]
    glob = replace(tab, pred=np.where(tab.pred >= 0, shard.pred_rows[np.maximum(tab.pred, 0)]
                                      if shard.pred_rows.size else -1, -1))
    recs = _match_rows(names, shard.dataset.frames.id, shard.dataset.labels.id, glob, page)
    for rec, li, pi, a, asp in zip(recs, tab.label[page].tolist(), tab.pred[page].tolist(), area[sel].tolist(),
                                   aspect[sel].tolist()):
        rec["gt_box"] = lab_box[li].tolist() if li >= 0 else None
        rec["pred_box"] = inf_box[pi].tolist() if pi >= 0 else None
        rec["area"] = a
        rec["aspect"] = json_value(asp)
    return len(tab), int(rows.size), key[sel], page, recs


def _grouped(item: Any, options: MatchOptions, groups: np.ndarray, n_groups: int, cls: int | None) -> Any:
    from aquaembed.metrics import FrameMatrices

    shard, cand = _held(item)
    lo = shard.frame_start
    local = groups[lo:lo + len(shard.dataset.frames)]
    return FrameMatrices.from_table(match(cand, options)).grouped(local, n_groups, cls=cls)


def _confusion(item: Any, options: MatchOptions, frame_mask: np.ndarray) -> np.ndarray:
    from aquaembed.metrics import FrameMatrices

    shard, cand = _held(item)
    lo = shard.frame_start
    local = frame_mask[lo:lo + len(shard.dataset.frames)]
    return FrameMatrices.from_table(match(cand, options)).restrict(local).confusion()


class ShardedMatcher:
    """Re-match a sharded dataset at any options, keeping each shard's candidates.

    Parameters
    ----------
    store : aquaembed.store.shards.ShardedStore
    model : str, optional
        Inference set (default: the only one).
    engine : LocalEngine, optional
        Default: a thread per core.
    tables : int, default 2
        Per-shard match tables kept for this many options (for paging match rows).
    resident : bool, default True
        Keep every shard and its candidates in memory after the first request (a
        threshold change then only re-matches); False reads each shard again in its
        task on every request, so memory holds only the shards being matched (one
        per thread) plus the per-frame results, whatever the dataset's size.
    """

    def __init__(self, store: Any, model: str | None = None, *, engine: LocalEngine | None = None,
                 tables: int = 2, resident: bool = True) -> None:
        self.store = store
        self.refs = store.shards(model)
        self.model = self.refs[0].model
        self.engine = engine or LocalEngine()
        self.resident = bool(resident)
        self._items: list[tuple[Any, Any]] | None = None
        self._lock = threading.Lock()
        self._tables: OrderedDict[MatchOptions, list[MatchTable]] = OrderedDict()
        self._n_tables = max(1, int(tables))

    @property
    def loaded(self) -> bool:
        """Whether the shards have been read (they are on first use)."""
        return self._items is not None

    def _shards(self) -> list[tuple[Any, Any]]:
        with self._lock:
            if self._items is None:
                self._items = self.engine.map(_prepare, self.refs)
            return self._items

    def _work(self) -> list[Any]:
        """What each request's tasks get: the kept shards, or references to read."""
        return self._shards() if self.resident else list(self.refs)

    def shards(self) -> list[Any]:
        """The shards (:class:`~aquaembed.engine.partition.Shard`), in frame order (kept when resident)."""
        if self.resident:
            return [s for s, _ in self._shards()]
        return self.engine.map(_load, self.refs)

    @property
    def totals(self) -> tuple[int, int, int]:
        n_f, n_l, _ = self.store.totals
        return n_f, n_l, self.store.n_preds(self.model)

    def reduced(self, options: MatchOptions | None = None, *, table: bool = False, coco: bool = False,
                pr: bool = False) -> Reduced:
        """Match every shard at ``options`` and reduce (see :func:`reduce_shards`)."""
        options = options or MatchOptions()
        ts = DEFAULT_PR_THRESHOLDS if pr else None
        results = self.engine.map(_rematch, self._work(), options=options, totals=self.totals, table=table,
                                  coco=coco, pr_thresholds=ts)
        return reduce_shards(results, options, self.store.classes.names_with_background, pr_thresholds=ts)

    def grouped(self, options: MatchOptions, groups: np.ndarray, n_groups: int, *, cls: int | None = None) -> Any:
        """Counts per group of frames at ``options``, as :meth:`FrameMatrices.grouped` of the
        whole dataset gives them (each shard's sums, added).

        Parameters
        ----------
        groups : int array, shape (F,)
            Group of every frame row (``-1``: in none).
        """
        from aquaembed.metrics import Counts

        parts = self.engine.map(_grouped, self._work(), options=options, groups=np.asarray(groups, dtype=np.int64),
                                n_groups=int(n_groups), cls=cls)
        zero = np.zeros(int(n_groups), dtype=np.int64)
        return Counts(*(sum((getattr(p, k) for p in parts), zero) for k in ("tp", "fp", "fn")))

    def confusion(self, options: MatchOptions, frame_mask: np.ndarray) -> np.ndarray:
        """The ``(C + 1) x (C + 1)`` confusion matrix (int64) of the frames in ``frame_mask``
        (bool, shape (F,) over global frame rows) at ``options``: each shard's, added."""
        mask = np.asarray(frame_mask, dtype=bool)
        parts = self.engine.map(_confusion, self._work(), options=options, frame_mask=mask)
        return np.asarray(np.sum(parts, axis=0, dtype=np.int64))

    def tables(self, options: MatchOptions) -> list[MatchTable]:
        """Each shard's match table at ``options`` (shard-local rows), kept for the last few options."""
        with self._lock:
            if options in self._tables:
                self._tables.move_to_end(options)
                return self._tables[options]
        tabs = self.engine.map(_table, self._shards(), options=options)
        with self._lock:
            self._tables[options] = tabs
            while len(self._tables) > self._n_tables:
                self._tables.popitem(last=False)
        return tabs

    def page(self, options: MatchOptions, *, gt_class: int | None = None, pred_class: int | None = None,
             type_code: int | None = None, sort: str = "score", order: str = "desc", limit: int = 50,
             offset: int = 0, frame_mask: np.ndarray | None = None) -> MatchPage:
        """Rows of the match table at ``options``, filtered, sorted and paged, as the whole table's.

        Rows are ordered by ``sort`` (NaN last), ties by their row in the whole match
        table (the shards' tables one after the other); each shard sends only its first
        ``offset + limit`` rows. ``frame_mask`` (bool, shape (F,)) keeps only the rows of
        those frame rows.
        """
        from aquaembed.explore.paging import sort_order

        work = self._work()
        tabs: list[MatchTable | None] = list(self.tables(options)) if self.resident else [None] * len(work)
        parts = self.engine.map(_shard_page, list(zip(work, tabs)), options=options,
                                names=tuple(self.store.classes.names_with_background), gt_class=gt_class,
                                pred_class=pred_class, type_code=type_code, sort=sort, order=order,
                                k=offset + limit, frame_mask=frame_mask)
        starts = np.concatenate([[0], np.cumsum([p[0] for p in parts])[:-1]]).astype(np.int64)
        total = sum(p[1] for p in parts)
        keys = np.concatenate([np.asarray(p[2], dtype=np.float64) for p in parts])
        rows = np.concatenate([p[3] + s for p, s in zip(parts, starts)])
        recs = [r for p in parts for r in p[4]]
        sel = sort_order(keys, order, tiebreak=rows)[offset:offset + limit]
        return {"total": int(total), "rows": [recs[i] for i in sel.tolist()]}

    def report(self, options: MatchOptions | None = None, *, coco: bool = False, matches: bool = False,
               per_frame: bool = True) -> dict[str, Any]:
        """The ``evaluate`` JSON at ``options`` (without ``matches`` unless asked)."""
        from aquaembed.evaluate import reduced_evaluation

        return reduced_evaluation(self.reduced(options, table=matches, coco=coco), matches=matches, per_frame=per_frame)
