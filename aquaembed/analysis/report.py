"""The failure report: one JSON document assembled from independent sections.

Each section is one function ``section(ctx: ReportContext) -> value | None`` registered in
:data:`SECTIONS` under its key in the report JSON (``None`` leaves the key out). The
report is ``{"options": ..., **{name: section(ctx) for name in SECTIONS}}``, in
registration order; adding an analysis to the report is one entry here.

``label_issues`` plugs in the same way: its section calls
:func:`aquaembed.analysis.label_issues.label_issues_section`, which returns the ranked list of
label-issue records.

The context carries a duck-typed :class:`~aquaembed.explore.DatasetView` (this package
never imports the explore facade): whatever it offers (``failure_clusters``,
``slice_departures``, ``coverage``, ``table``, ``dataset``, ...) a section may call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aquaembed.matching import MatchOptions

__all__ = ["SECTIONS", "ReportContext", "build_report", "options_json"]

Progress = Callable[[str, float], None]


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
    """

    view: Any
    model: str
    options: MatchOptions
    train: Any = None
    params: dict[str, Any] = field(default_factory=dict)


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
    from aquaembed.artifacts import CROP_INDEX

    if CROP_INDEX not in ctx.view.stored.artifact_names:
        return []
    kw = {k: ctx.params[k] for k in ("min_cluster_size",) if k in ctx.params}
    return ctx.view.failure_clusters(ctx.model, ctx.options, **kw)


def _slices(ctx: ReportContext) -> list[dict[str, Any]]:
    kw = {k: ctx.params[k] for k in ("alpha", "limit") if k in ctx.params}
    return ctx.view.slice_departures(ctx.model, ctx.options, **kw)["slices"]


def _coverage(ctx: ReportContext) -> dict[str, Any] | None:
    if ctx.train is None:
        return None
    kw = {k: ctx.params[k] for k in ("near_duplicate",) if k in ctx.params}
    return ctx.view.coverage(ctx.train, ctx.model, ctx.options, **kw)


def _label_issues(ctx: ReportContext) -> list[dict[str, Any]]:
    """Probable label errors, most likely first (:mod:`aquaembed.analysis.label_issues`)."""
    from aquaembed.analysis.label_issues import label_issues_section

    kw = {k: ctx.params[k] for k in ("min_score",) if k in ctx.params}
    return label_issues_section(ctx.view, ctx.model, **kw)


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
        Called with ``(section name, fraction done)`` before each section and with
        ``("done", 1.0)`` at the end.
    **params
        Passed to the sections through :attr:`ReportContext.params`.

    Returns
    -------
    dict
        ``{"options": {...}, "clusters": [...], "slices": [...], "coverage": {...}, ...}``
    """
    options = MatchOptions() if options is None else options
    ctx = ReportContext(view=view, model=view.model(model), options=options, train=train, params=params)
    names = list(SECTIONS) if sections is None else [s for s in SECTIONS if s in sections]
    out: dict[str, Any] = {"dataset": view.name, "model": ctx.model, "options": options_json(options)}
    for i, name in enumerate(names):
        if progress is not None:
            progress(name, i / max(len(names), 1))
        value = SECTIONS[name](ctx)
        if value is not None:
            out[name] = value
    if progress is not None:
        progress("done", 1.0)
    return out
