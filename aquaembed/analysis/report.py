"""The failure report: one JSON document assembled from independent sections.

Each section is one function ``section(ctx: ReportContext) -> value | None`` registered in
:data:`SECTIONS` under its key in the report JSON (``None`` leaves the key out). The
report is ``{"options": ..., **{name: section(ctx) for name in SECTIONS}}``, in
registration order; adding an analysis to the report is one entry here.

``label_issues`` plugs in the same way: its section calls
:func:`aquaembed.analysis.label_issues.label_issues_section`, which returns the ranked list of
label-issue records.

Under a custom metric (``metric=``) the slices and the coverage come from its per-frame
matrices; failure clusters and label issues, which need to know which crop is an error,
are not computed and ``notes`` says why (never the built-in matching under the metric's
name). With ``compare=(A, B)`` the report is "where B regressed": ``clusters`` and
``slices`` run on the labels B broke relative to A (:mod:`aquaembed.analysis.regression`),
with ``compare`` holding the two models and the label transition counts.

The context carries a duck-typed :class:`~aquaembed.explore.DatasetView` (this package
never imports the explore facade): whatever it offers (``failure_clusters``,
``slice_departures``, ``coverage``, ``table``, ``dataset``, ...) a section may call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aquaembed.matching import MatchOptions

__all__ = ["SECTIONS", "ReportContext", "build_report", "options_json"]

Progress = Callable[[str, float], None]
"""``progress(step, fraction done)``: called before each section and with ``("done", 1.0)``."""


@dataclass
class ReportContext:
    """What a section sees.

    Attributes
    ----------
    view : DatasetView
        The evaluated dataset.
    model : str
        Its inference set.
    options : MatchOptions
    train : DatasetView, optional
        The training dataset (``--train``).
    params : dict
        Section parameters (``alpha``, ``near_duplicate``, ``min_cluster_size``, ...).
    metric : str, optional
        A custom metric of ``model`` (None: the built-in matching).
    compare : (str, str), optional
        Inference sets A and B: the report of the labels B broke (``model`` is B).
    notes : dict
        Why a section is empty or left out (filled by the sections).
    scenario : str, optional
        Only the frames of this saved scenario (clusters and slices).
    """

    view: Any
    model: str
    options: MatchOptions
    train: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None
    compare: tuple[str, str] | None = None
    notes: dict[str, str] = field(default_factory=dict)
    scenario: str | None = None


def options_json(options: MatchOptions) -> dict[str, Any]:
    """The options as the report's ``options`` object."""
    return {
        "conf": options.conf,
        "iou": options.iou,
        "mode": options.mode,
        "class_aware": options.class_aware,
        "crowd": options.crowd,
    }


def _clusters(ctx: ReportContext) -> list[dict[str, Any]]:
    """Failure clusters; an empty list for a dataset without crop embeddings."""
    from aquaembed.analysis.clusters import CUSTOM_METRIC_CLUSTERS
    from aquaembed.artifacts import CROP_INDEX

    if CROP_INDEX not in ctx.view.stored.artifact_names:
        ctx.notes["clusters"] = "no failure clusters: the dataset has no crop embeddings"
        return []
    kw = {k: ctx.params[k] for k in ("min_cluster_size",) if k in ctx.params}
    if ctx.compare is not None:
        return ctx.view.regression_clusters(*ctx.compare, ctx.options, scenario=ctx.scenario, **kw)
    if ctx.metric is not None:
        ctx.notes["clusters"] = CUSTOM_METRIC_CLUSTERS
        return []
    return ctx.view.failure_clusters(ctx.model, ctx.options, scenario=ctx.scenario, **kw)


def _slices(ctx: ReportContext) -> list[dict[str, Any]]:
    kw = {k: ctx.params[k] for k in ("alpha", "limit") if k in ctx.params}
    if ctx.compare is not None:
        return ctx.view.regression_slices(*ctx.compare, ctx.options, scenario=ctx.scenario, **kw)["slices"]
    return ctx.view.slice_departures(ctx.model, ctx.options, metric=ctx.metric, scenario=ctx.scenario, **kw)["slices"]


def _coverage(ctx: ReportContext) -> dict[str, Any] | None:
    if ctx.train is None or ctx.compare is not None:
        return None
    if ctx.scenario is not None:
        ctx.notes["coverage"] = "coverage is computed over all frames (the scenario restricts clusters and slices)"
    kw = {k: ctx.params[k] for k in ("near_duplicate",) if k in ctx.params}
    return ctx.view.coverage(ctx.train, ctx.model, ctx.options, metric=ctx.metric, **kw)


LABEL_ISSUES_LIMIT = 1000
"""Label issues a report lists (the most likely first; ``label_issues_limit`` changes it,
None for all): a report is read and mailed, the review queue holds every issue."""


def _label_issues(ctx: ReportContext) -> list[dict[str, Any]] | None:
    """Probable label errors, most likely first (:mod:`aquaembed.analysis.label_issues`)."""
    from aquaembed.analysis.label_issues import label_issues_section

    if ctx.compare is not None:
        return None
    if ctx.scenario is not None:
        ctx.notes["label_issues"] = "label issues are ranked over all frames (the scenario restricts clusters and slices)"
    if ctx.metric is not None:
        ctx.notes["label_issues"] = ("no label issues under a custom metric: they rank label and inference crops "
                                     "of the built-in matching, which a custom metric's per-frame matrices replace")
        return None
    kw = {k: ctx.params[k] for k in ("min_score",) if k in ctx.params}
    limit = ctx.params.get("label_issues_limit", LABEL_ISSUES_LIMIT)
    out = label_issues_section(ctx.view, ctx.model, limit=limit, **kw)
    if limit is not None and len(out) == limit:
        from aquaembed.analysis.label_issues.records import REPORT_MIN_SCORE, issue_count

        total = issue_count(ctx.view.label_issue_scores(ctx.model), len(ctx.view.dataset.labels),
                            min_score=kw.get("min_score", REPORT_MIN_SCORE))
        if total > limit:
            ctx.notes["label_issues"] = (f"the first {limit:,} of {total:,} label issues, most likely first; the review "
                                         "queue (aquaembed review, the dashboard's Label review) holds all of them")
    return out


SECTIONS: dict[str, Callable[[ReportContext], Any]] = {
    "clusters": _clusters,
    "slices": _slices,
    "coverage": _coverage,
    "label_issues": _label_issues,
}
"""Report sections in output order: key in the JSON -> function of the context."""


def build_report(
    view: Any,
    model: str | None = None,
    options: MatchOptions | None = None,
    *,
    train: Any = None,
    sections: tuple[str, ...] | None = None,
    progress: Progress | None = None,
    metric: str | None = None,
    compare: tuple[str, str] | None = None,
    scenario: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Assemble the report JSON.

    Parameters
    ----------
    view : DatasetView
    model : str, optional
        Inference set (the only one when None).
    options : MatchOptions, optional
    train : DatasetView, optional
        Training dataset for the ``coverage`` section.
    sections : tuple of str, optional
        Only these sections (default all of :data:`SECTIONS`).
    progress : callable, optional
        Called with ``(step, fraction done)``: ``("matching", 0.0)`` before the match
        tables are computed, ``(section name, fraction)`` before each section and
        ``("done", 1.0)`` at the end.
    metric : str, optional
        A custom metric of ``model``: slices and coverage from its per-frame matrices
        (``"builtin"`` or None: the built-in matching).
    compare : (str, str), optional
        Inference sets A and B: clusters and slices of the labels B broke relative to A
        (``model`` must then be None or B).
    scenario : str, optional
        A saved scenario: clusters and slices within its frames only (each slice tested
        against the scenario's other frames); the JSON gains ``"scenario"``.
    **params
        Passed to the sections through :attr:`ReportContext.params`.

    Returns
    -------
    dict
        ``{"options": {...}, "clusters": [...], "slices": [...], "coverage": {...}, ...}``
    """
    from aquaembed.errors import ParameterError

    options = MatchOptions() if options is None else options
    pair: tuple[str, str] | None = None
    if compare is not None:
        if len(compare) != 2:
            raise ParameterError(f"compare: name two inference sets A and B, got {len(compare)}", parameter="compare")
        pair = (view.model(compare[0]), view.model(compare[1]))
        if pair[0] == pair[1]:
            raise ParameterError(f"compare: name two different inference sets, got {pair[0]!r} twice", parameter="compare")
        if model is not None and view.model(model) != pair[1]:
            raise ParameterError(f"model: with compare the report is of B ({pair[1]!r}), got {model!r}", parameter="model")
        if metric not in (None, "builtin"):
            raise ParameterError("metric: a comparison uses the built-in matching of both sets", parameter="metric")
        model = pair[1]
    resolved = view.model(model)
    custom = view.custom_metric(resolved, metric)
    mask = view.scenario_mask(scenario)  # an unknown scenario fails here, before any work
    ctx = ReportContext(view=view, model=resolved, options=options, train=train, params=params, metric=custom,
                        compare=pair, scenario=scenario)
    names = list(SECTIONS) if sections is None else [s for s in SECTIONS if s in sections]
    out: dict[str, Any] = {"dataset": view.name, "model": ctx.model, "options": options_json(options)}
    if custom is not None:
        out["metric"] = custom
    if scenario is not None:
        out["scenario"] = scenario
    steps = len(names) + 1
    if progress is not None:
        progress("matching", 0.0)
    for m in pair or (ctx.model,):  # the match tables (or the metric's matrices) every section reads
        if custom is None:
            view.table(m, options)
        else:
            view.frame_matrices(m, options, custom)
    if pair is not None:
        from aquaembed.analysis.compare import TRANSITIONS

        trans = view.transitions(*pair, options)
        if mask is not None:
            trans = np.where(mask[view.dataset.labels.frame], trans, -1)
        out["compare"] = {"models": list(pair),
                          "labels": {name: int((trans == code).sum()) for code, name in enumerate(TRANSITIONS)}}
    for i, name in enumerate(names):
        if progress is not None:
            progress(name, (i + 1) / steps)
        value = SECTIONS[name](ctx)
        if value is not None:
            out[name] = value
    if ctx.notes:
        out["notes"] = dict(ctx.notes)
    if progress is not None:
        progress("done", 1.0)
    return out
