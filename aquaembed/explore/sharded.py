"""A dataset stored in the sharded layout, served without assembling it in one array.

:class:`ShardedView` answers the metrics (overall, per class, confusion matrix, PR
curves, COCO mAP), the frame table and the match rows through
:class:`~aquaembed.engine.serving.ShardedMatcher`: the shards stay separate in memory
(each with its candidate pairs, built once), a threshold change re-matches them on
every local core and the results are reduced exactly, so every answer equals the one
of the same data stored in one folder. Only per-frame columns (ids, file names,
metadata, per-frame counts) are held for the whole dataset. What needs the stored
artefacts of the one-folder layout (embeddings, projections, label review, custom
metrics, scenarios, the failure report) is refused with one line naming the layout.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from aquaembed.data import ClassMap, Frames
from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.explore.cache import LRUCache
from aquaembed.explore.metrics import MetricsPart
from aquaembed.matching import TYPE_NAMES, MatchOptions
from aquaembed.metrics import FrameMatrices, FrameReport

__all__ = ["ShardedView"]


@dataclass(frozen=True, eq=False)
class ShardedFrames:
    """What a sharded view holds of its dataset as a whole: the classes and the frames."""

    classes: ClassMap
    frames: Frames

    @property
    def labels(self) -> NoReturn:
        raise NotFoundError("a sharded dataset keeps its labels per shard (no whole-dataset label table)")


@dataclass(frozen=True, eq=False)
class _StoredInfo:
    """The parts of a :class:`~aquaembed.store.StoredDataset` the dashboard reads."""

    name: str
    generation: int
    inference_names: tuple[str, ...]
    artifact_names: tuple[str, ...] = ()
    embedding_kinds: tuple[str, ...] = ()


class _FrameScope:
    """One shard behind the few view methods the frame renderer calls (shard-local rows)."""

    def __init__(self, view: ShardedView, index: int) -> None:
        from aquaembed.data import Dataset

        self.name, self.image_root = view.name, view.image_root
        self._view = view
        self._index = index
        self._held = {m: _shard_of(view.matcher(m), index) for m in view.models()}
        first = next(iter(self._held.values()))[0] if self._held else None
        if first is None:
            view._unavailable("drawing a frame without inference sets")
        self.dataset = Dataset(first.dataset.classes, first.dataset.frames, first.dataset.labels,
                               {m: sh.inferences for m, (sh, _) in self._held.items()})
        self._frame_start = first.frame_start

    def models(self) -> list[str]:
        return list(self._held)

    def pred_rows(self, model: str) -> np.ndarray:
        """Global inference rows of the shard's inferences of ``model`` (increasing)."""
        return self._held[model][0].pred_rows

    def model(self, model: str | None) -> str:
        return self._view.model(model)

    def table(self, model: str | None = None, options: MatchOptions | None = None) -> Any:
        from aquaembed.matching import match

        model = self.model(model)
        options = MatchOptions() if options is None else options
        matcher = self._view.matcher(model)
        if matcher.resident:
            return matcher.tables(options)[self._index]
        return match(self._held[model][1], options)


def _lookup(per_shard: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values (label ids, inference rows) over the shards, and the shard of each."""
    values = np.concatenate(per_shard) if per_shard else np.zeros(0, np.int64)
    shard = np.repeat(np.arange(len(per_shard), dtype=np.int32), [a.size for a in per_shard])
    order = np.argsort(values, kind="stable")
    return values[order], shard[order]


def _shard_of(matcher: Any, index: int) -> tuple[Any, Any]:
    """A shard and its candidates: the kept ones, or read now."""
    from aquaembed.engine.serving import _prepare

    if matcher.resident:
        return matcher._shards()[index]
    return _prepare(matcher.refs[index])


class _ShardedMatrices:
    """The part of :class:`FrameMatrices` the slices use (:meth:`grouped`), summed over shards."""

    def __init__(self, matcher: Any, options: MatchOptions) -> None:
        self.matcher, self.options = matcher, options

    def grouped(self, groups: np.ndarray, n_groups: int, *, cls: int | None = None) -> Any:
        return self.matcher.grouped(self.options, groups, n_groups, cls=cls)


BYTES_PER_BOX = 250
"""Memory of a served box, bytes: above the measured 125-190 (a shard's arrays and candidate pairs;
benchmarks/RESULTS_scale.md), to leave room for the match tables of a request."""


def _fits_in_memory(store: Any) -> bool:
    import os

    c = store.manifest["counts"]
    boxes = int(c["labels"]) + max((int(v) for v in c["inferences"].values()), default=0)
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return True
    return boxes * BYTES_PER_BOX * max(1, len(c["inferences"])) < ram // 3


class ShardedView(MetricsPart):
    """A sharded dataset behind the :class:`~aquaembed.explore.DatasetView` interface.

    Parameters
    ----------
    store : aquaembed.store.shards.ShardedStore
    engine : LocalEngine, optional
        Where shards are matched (default: a thread per core).
    cache_size : int
        Reduced results kept (one per inference set and options).
    resident : bool, optional
        Keep the shards and their candidates in memory between requests (see
        :class:`~aquaembed.engine.serving.ShardedMatcher`); default: when they fit in
        a third of this machine's memory (measured ~250 bytes per box), else stream
        the shards from the store on every request.
    """

    sharded = True

    def __init__(self, store: Any, *, engine: Any = None, cache_size: int = 32, resident: bool | None = None) -> None:
        from aquaembed.engine.local import LocalEngine

        self.store = store
        self.name = store.name
        self.engine = engine or LocalEngine()
        self.stored = _StoredInfo(  # type: ignore[assignment]  # the parts of a StoredDataset the views read
            store.name, int(store.manifest.get("generation", 0)), tuple(store.inference_names))
        self.resident = _fits_in_memory(store) if resident is None else bool(resident)
        self._lock = threading.Lock()
        self._matchers: dict[str, Any] = {}
        self._frames: ShardedFrames | None = None
        self._tables = LRUCache(cache_size)
        self._derived = LRUCache(cache_size * 4)
        self._static: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"ShardedView({self.name!r}, shards={self.store.n_shards})"

    # ------------------------------------------------------------------ basics

    def matcher(self, model: str | None = None) -> Any:
        """The :class:`~aquaembed.engine.serving.ShardedMatcher` of an inference set (shards read on first use)."""
        from aquaembed.engine.serving import ShardedMatcher

        model = self.model(model)
        with self._lock:
            if model not in self._matchers:
                self._matchers[model] = ShardedMatcher(self.store, model, engine=self.engine, resident=self.resident)
            return self._matchers[model]

    @property
    def dataset(self) -> ShardedFrames:  # type: ignore[override]
        """The classes and every frame (ids, file names, metadata), from the shards' frames tables."""
        if self._frames is None:
            frames = self.store.frames()
            with self._lock:
                self._frames = self._frames or ShardedFrames(self.store.classes, frames)
        return self._frames

    @property
    def image_root(self) -> Path | None:
        """The frames' image folder from the manifest's ``source`` (relative: to the data directory)."""
        root = (self.store.manifest.get("source") or {}).get("images")
        if not root or "://" in str(self.store.root):
            return None
        path = Path(root)
        return path if path.is_absolute() else Path(self.store.path).parent / path

    def models(self) -> list[str]:
        return list(self.store.inference_names)

    def summary(self) -> dict[str, Any]:
        m = self.store.manifest
        return {
            "name": self.name,
            "frames": int(m["counts"]["frames"]),
            "labels": int(m["counts"]["labels"]),
            "classes": list(self.store.classes.names),
            "inference_sets": {k: int(v) for k, v in m["counts"]["inferences"].items()},
            "embeddings": [],
            "frame_metadata": [rec["name"] for rec in m["frame_metadata"]],
        }

    def scalar_columns(self) -> dict[str, np.ndarray]:
        return {}

    def custom_metrics(self, model: str | None = None) -> dict[str, dict[str, Any]]:
        return {}

    def scenarios(self) -> dict[str, dict[str, Any]]:
        return {}

    def scenario_mask(self, scenario: str | None) -> np.ndarray | None:
        if scenario is None:
            return None
        self._unavailable("scenarios")

    def _unavailable(self, what: str) -> NoReturn:
        raise NotFoundError(f"dataset {self.name!r} is in the sharded layout: {what} need(s) the one-folder layout "
                            "(metrics, frames and match rows are served)")

    def __getattr__(self, attr: str) -> Any:
        # the rest of the DatasetView interface (embeddings, review, report, compare, ...)
        from aquaembed.explore.compare import ComparePart
        from aquaembed.explore.embeddings import EmbeddingsPart
        from aquaembed.explore.report import ReportPart
        from aquaembed.explore.review import ReviewPart

        parts = (ReportPart, ComparePart, EmbeddingsPart, ReviewPart)
        if not attr.startswith("_") and any(hasattr(p, attr) for p in parts):
            def refuse(*args: Any, **kwargs: Any) -> NoReturn:
                self._unavailable(attr.replace("_", " "))

            return refuse
        raise AttributeError(attr)

    def table(self, model: str | None = None, options: MatchOptions | None = None) -> NoReturn:
        self._unavailable("a whole match table")

    def evaluator(self, model: str | None = None) -> NoReturn:
        self._unavailable("a whole-dataset evaluator")

    def frame_scope(self, frame_id: int) -> _FrameScope:
        """The shard holding frame ``frame_id`` as a small view (its labels, every inference
        set's boxes and match tables there), for drawing the frame (:func:`aquaembed.render.frame_image`)."""
        row = int(self.dataset.frames.index_of_ids(np.array([frame_id], dtype=np.int64))[0])
        if row < 0:
            raise NotFoundError(f"dataset {self.name!r} has no frame {frame_id}")
        starts = np.asarray([rec["frames"][0] for rec in self.store.manifest["shards"]], dtype=np.int64)
        return self._scope(int(np.searchsorted(starts, row, side="right") - 1))

    def crop_scope(self, crop_id: int, source: str, model: str | None) -> tuple[_FrameScope, int]:
        """The shard holding a label (by id) or an inference (by index) as a small view, and
        the crop's id there (a label keeps its id; an inference gets its row in the shard)."""
        if source == "label":
            ids, shard_of = self._once("label-shards", lambda: _lookup(self.store.column("labels", "id")))
            pos = int(np.searchsorted(ids, crop_id))
            if pos >= ids.size or ids[pos] != crop_id:
                raise NotFoundError(f"dataset {self.name!r} has no label {crop_id}")
            return self._scope(int(shard_of[pos])), int(crop_id)
        if source != "pred":
            raise ParameterError(f"source must be 'label' or 'pred', got {source!r}")
        model = self.model(model)
        rows, shard_of = self._once(f"pred-shards:{model}", lambda: _lookup(self.store.column(f"inferences/{model}", "row")))
        pos = int(np.searchsorted(rows, crop_id))
        if pos >= rows.size or rows[pos] != crop_id:
            raise NotFoundError(f"inference set {model!r} has no inference {crop_id}")
        scope = self._scope(int(shard_of[pos]))
        return scope, int(np.searchsorted(scope.pred_rows(model), crop_id))

    def _scope(self, index: int) -> _FrameScope:
        return self._derived.get(("scope", index), lambda: _FrameScope(self, index))

    # ------------------------------------------------------------------ answers

    def _reduced(self, model: str, options: MatchOptions) -> Any:
        return self._derived.get(("reduced", model, options), lambda: self.matcher(model).reduced(options))

    def frame_matrices(self, model: str | None = None, options: MatchOptions | None = None,
                       metric: str | None = None) -> FrameMatrices:
        """Per-frame counts grouped over the shards (what the slices need); no custom metric."""
        if metric not in (None, "builtin"):
            self._unavailable("custom metrics")
        return _ShardedMatrices(self.matcher(model), MatchOptions() if options is None else options)  # type: ignore[return-value]

    def frame_metrics(self, model: str | None = None, options: MatchOptions | None = None,
                      metric: str | None = None) -> FrameReport:
        """Per-frame counts and ratios (shape (F,), frame-row order) from the shards' reduce."""
        if metric not in (None, "builtin"):
            self._unavailable("custom metrics")
        model = self.model(model)
        red = self._reduced(model, MatchOptions() if options is None else options)
        return FrameReport(red.frames, red.frame_ids)

    def metrics(
        self, model: str | None = None, options: MatchOptions | None = None, *, coco: bool = False, pr: bool = True,
        metric: str | None = None, scenario: str | None = None, frames: Sequence[int] | np.ndarray | None = None,
    ) -> dict[str, Any]:
        """As :meth:`DatasetView.metrics`, from the shards (no custom metric or scenario).

        ``frames`` (frame ids): the counts, per-class numbers and confusion matrix of those
        frames only (each shard's restricted confusion matrix, added); PR curves and COCO
        mAP of a frame subset are not reduced over shards (``notes`` says so).
        """
        from aquaembed.evaluate import reduced_evaluation
        from aquaembed.explore.matrix_views import matrix_evaluation

        model = self.model(model)
        if metric not in (None, "builtin") or scenario is not None:
            self._unavailable("custom metrics and scenarios")
        options = MatchOptions() if options is None else options
        if frames is not None:
            mask = self.frame_restriction(None, frames)
            cm = self.matcher(model).confusion(options, mask)
            out = matrix_evaluation(self.dataset, FrameMatrices.from_stack(cm[None]), options)  # type: ignore[arg-type]  # needs .classes only
            out.update(model=model, metric=None, scenario=None)
            if pr or coco:
                out["notes"] = ["pr_curves and coco of a frame subset need the one-folder layout: absent on a "
                                "sharded dataset"]
            return out
        red = self._reduced(model, options)
        m = self.matcher(model)
        curves = self._derived.get(("pr", model, options.replace(conf=0.0)),
                                   lambda: m.reduced(options, pr=True).pr) if pr else None
        coco_numbers = self._derived.get(("coco", model), lambda: m.reduced(options, coco=True).coco) if coco else None
        out = reduced_evaluation(replace(red, coco=coco_numbers, pr=curves), matches=False, per_frame=False)
        out.update(model=model, metric=None, scenario=None)
        return out

    def matches(
        self, model: str | None = None, *, options: MatchOptions | None = None, gt_class: str | None = None,
        pred_class: str | None = None, type: str | None = None, sort: str = "score", order: str = "desc",
        limit: int = 50, offset: int = 0, scenario: str | None = None,
        frames: Sequence[int] | np.ndarray | None = None,
    ) -> dict[str, Any]:
        """As :meth:`DatasetView.matches`: each shard sends its first rows, merged exactly
        (``frames``: only the rows of these frame ids; no scenarios on a sharded dataset)."""
        from aquaembed.explore.matches import MATCH_SORT_KEYS
        from aquaembed.explore.paging import check_page

        check_page(limit, offset, order)
        if sort not in MATCH_SORT_KEYS:
            raise ParameterError(f"sort must be one of {', '.join(MATCH_SORT_KEYS)}, got {sort!r}")
        classes = self.store.classes
        gt = None if gt_class is None else classes.index_of_name(gt_class)
        pc = None if pred_class is None else classes.index_of_name(pred_class)
        code = None
        if type is not None:
            if type not in TYPE_NAMES:
                raise ParameterError(f"type must be one of {', '.join(TYPE_NAMES)}, got {type!r}")
            code = TYPE_NAMES.index(type)
        mask = self.frame_restriction(scenario, frames)
        return self.matcher(model).page(MatchOptions() if options is None else options, gt_class=gt, pred_class=pc,
                                        type_code=code, sort=sort, order=order, limit=limit, offset=offset,
                                        frame_mask=mask)
