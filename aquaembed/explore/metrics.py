"""Metrics, frame tables and slices of a stored dataset (a part of :class:`DatasetView`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aquaembed.errors import ParameterError
from aquaembed.evaluate import evaluation, pr_curves_json
from aquaembed.explore.custom import CustomPart
from aquaembed.explore.matrix_views import matrix_evaluation, slice_groups
from aquaembed.explore.paging import check_page, sort_order
from aquaembed.matching import Candidates, MatchOptions
from aquaembed.metrics import FrameReport, SliceReport, coco_map, json_value, pr_curve, pr_curve_and_table

__all__ = ["MetricsPart", "FRAME_SORT_KEYS"]

FRAME_SORT_KEYS = ("id", "tp", "fp", "fn", "precision", "recall", "f1")
"""Per-frame columns the frame table sorts by (metadata fields are allowed too)."""


class MetricsPart(CustomPart):
    """Metrics at matching options, the frame table and per-slice metrics."""

    def metrics(
        self, model: str | None = None, options: MatchOptions | None = None, *, coco: bool = False, pr: bool = True,
        metric: str | None = None, scenario: str | None = None, frames: Sequence[int] | np.ndarray | None = None,
    ) -> dict[str, Any]:
        """The ``evaluate`` JSON without ``matches``/``per_frame``, plus PR curves and mAP as asked.

        With a custom ``metric``, a ``scenario`` or ``frames`` (frame ids, shape (n,)) the
        counts come from the per-frame matrices (of that metric, restricted to the
        scenario's frames and to ``frames``). PR curves and COCO mAP are per frame too:
        with the built-in matching they are those of the restricted frames' candidates
        (equal to evaluating an export of those frames). A custom metric has neither
        (they need the built-in matching): ``notes`` says so.
        """
        model = self.model(model)
        builtin = metric in (None, "builtin")
        if builtin and scenario is None and frames is None:
            opts = MatchOptions() if options is None else options
            ev = self.evaluator(model)
            curves = None
            pr_key = ("pr", model, opts.replace(conf=0.0))
            if pr and not ev.sharded and pr_key not in self._derived and (model, opts) not in self._tables:
                # a new IoU: one sweep over the frames gives the curves and the table
                both = pr_curve_and_table(ev.candidates, opts)
                self._tables.get((model, opts), lambda: both[0])
                self._derived.get(pr_key, lambda: both[1])
            table = self.table(model, opts)
            if pr:
                curves = self._derived.get(pr_key, lambda: pr_curve(ev.candidates, opts))
            coco_numbers = self._derived.get(("coco", model), ev.coco) if coco else None
            out = evaluation(self.dataset, table, coco=coco_numbers, matches=False, per_frame=False, pr=curves)
            out.update(model=model, metric=None, scenario=None)
            return out
        options = MatchOptions() if options is None else options
        fm = self.frame_matrices(model, options, metric)
        mask = self.frame_restriction(scenario, frames)
        out = matrix_evaluation(self.dataset, fm if mask is None else fm.restrict(mask), options)
        out.update(model=model, metric=None if builtin else metric, scenario=scenario)
        if not builtin:
            if pr or coco:
                out["notes"] = [f"pr_curves and coco need the built-in matching: absent with metric={metric!r}"]
            return out
        if pr:
            out["pr_curves"] = pr_curves_json(self._restricted(model, mask, "pr", options), self.dataset.classes.names)
        if coco:
            out["coco"] = self._restricted(model, mask, "coco", options)
        return out

    def _restricted(self, model: str, mask: np.ndarray | None, what: str, options: MatchOptions) -> Any:
        """PR curves (at ``options`` but conf) or COCO mAP of the candidates of the frames in
        ``mask`` (all frames when None), cached per mask."""
        if mask is None:
            key: tuple[Any, ...] = ("all",)
        else:
            key = (hashlib.sha1(np.packbits(mask).tobytes()).hexdigest(),)
        ev = self.evaluator(model)

        def candidates() -> Candidates:
            return ev.candidates if mask is None else ev.candidates.restrict(mask)

        def compute() -> Any:
            cands = self._derived.get(("candidates", model, *key), candidates)
            if what == "pr":
                return pr_curve(cands, options)
            return coco_map(cands, frame_ids=self.dataset.frames.id)

        opts = options.replace(conf=0.0) if what == "pr" else None
        return self._derived.get((what, model, opts, *key), compute)

    def frame_metrics(
        self, model: str | None = None, options: MatchOptions | None = None, metric: str | None = None
    ) -> FrameReport:
        """Per-frame counts and ratios (shape (F,), frame-row order), cached; from the per-frame
        matrices of the built-in matching or of custom ``metric``."""
        model = self.resolve(model)
        options = MatchOptions() if options is None else options
        ids = self.dataset.frames.id
        return self._derived.get(
            ("frames", model, options, metric),
            lambda: FrameReport(self.frame_matrices(model, options, metric).per_frame(), ids),
        )

    def frames(
        self,
        model: str | None = None,
        *,
        options: MatchOptions | None = None,
        sort: str = "f1",
        order: str = "asc",
        limit: int = 50,
        offset: int = 0,
        equals: Mapping[str, Sequence[str]] | None = None,
        ranges: Mapping[str, tuple[float | None, float | None]] | None = None,
        metric: str | None = None,
        scenario: str | None = None,
        frames: Sequence[int] | np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Frames with their metrics and metadata, filtered, sorted and paged.

        Parameters
        ----------
        sort : str
            One of :data:`FRAME_SORT_KEYS` or a metadata field. Undefined values
            (NaN) sort last in either order.
        order : {"asc", "desc"}
        equals : mapping of metadata field to allowed values (compared as strings)
        ranges : mapping of a metric or numeric metadata field to inclusive (lo, hi);
            a frame whose value is undefined fails any range on it.

        Returns
        -------
        dict with ``total`` (frames passing the filters) and ``rows`` (the page)

        ``metric`` takes the per-frame counts from a custom metric; ``scenario`` keeps
        only its frames, ``frames`` (frame ids) only those; scalar metrics (``scalars`` of
        each row) sort and filter like metrics.
        """
        ds = self.dataset
        fm = self.frame_metrics(model, options, metric)
        scalars = self.scalar_columns()
        cols: dict[str, np.ndarray] = {"id": ds.frames.id, **fm.counts.as_dict(), **ds.frames.metadata, **scalars}
        check_page(limit, offset, order)
        mask = self.frame_restriction(scenario, frames)
        keep = np.ones(len(ds.frames), dtype=bool) if mask is None else mask.copy()
        for key, allowed in (equals or {}).items():
            col = self._column(cols, key)
            keep &= np.isin(col.astype(str), np.asarray(list(allowed), dtype=str))
        for key, (lo, hi) in (ranges or {}).items():
            col = self._column(cols, key)
            try:
                vals = col.astype(np.float64)
            except (TypeError, ValueError):
                raise ParameterError(f"{key}: a range needs a numeric field") from None
            with np.errstate(invalid="ignore"):
                if lo is not None:
                    keep &= vals >= lo
                if hi is not None:
                    keep &= vals <= hi
        rows = np.flatnonzero(keep)
        key_col = self._column(cols, sort)[rows]
        rows = rows[sort_order(key_col, order, tiebreak=ds.frames.id[rows])]
        page = rows[offset : offset + limit]
        out_rows = [
            {
                "id": int(ds.frames.id[i]), "file_name": str(ds.frames.file_name[i]), **counts,
                "metadata": {k: json_value(v[i]) for k, v in ds.frames.metadata.items()},
                "scalars": {k: json_value(float(v[i])) for k, v in scalars.items()},
            }
            for i, counts in zip(page.tolist(), fm.counts[page].to_json())
        ]
        return {"total": int(rows.size), "rows": out_rows}

    def slices(
        self,
        model: str | None = None,
        *,
        options: MatchOptions | None = None,
        field: str,
        cls: str | None = None,
        metric: str | None = None,
        scenario: str | None = None,
        frames: Sequence[int] | np.ndarray | None = None,
        bins: int = 4,
    ) -> dict[str, Any]:
        """Metrics per value of a frame metadata field (per scene, camera, ...).

        The slice where a model is suspiciously better than elsewhere (overfitting) or
        much worse (a hard condition) stands out here.

        Parameters
        ----------
        field : str
            A frame metadata field, or a scalar metric (cut into ``bins`` quantile bins).
        metric, scenario : str, optional
            Counts from a custom metric; only the frames of a scenario.
        frames : array of int, shape (n,), optional
            Only these frame ids.
        cls : str, optional
            A class name: count only that class; default all classes.

        Returns
        -------
        dict with ``field``, ``class`` and ``rows``: one per value, in value order,
        with ``value``, ``frames``, ``tp``, ``fp``, ``fn``, ``precision``, ``recall``,
        ``f1`` (undefined ratios are None)
        """
        class_index = None if cls is None else self.dataset.classes.index_of_name(cls)
        if class_index == self.dataset.classes.background:
            raise ParameterError("class: name a real class, not the background")
        values, groups = slice_groups(self.dataset.frames.metadata, self.scalar_columns(), field, bins=bins)
        mask = self.frame_restriction(scenario, frames)
        if mask is not None:
            groups = np.where(mask, groups, -1)
        counts = self.frame_matrices(model, options, metric).grouped(groups, values.size, cls=class_index)
        frames = np.bincount(groups[groups >= 0], minlength=values.size)
        rep = SliceReport(counts, tuple(str(v) for v in values.tolist()), frames)
        return {"field": field, "class": cls, "rows": rep.to_json()}

    @staticmethod
    def _column(cols: Mapping[str, np.ndarray], key: str) -> np.ndarray:
        if key not in cols:
            raise ParameterError(f"unknown field {key!r}; use one of: {', '.join(cols)}")
        return np.asarray(cols[key])
