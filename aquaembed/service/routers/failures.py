"""Failure discovery: ``GET /datasets/{ds}/clusters``, ``/slices/departing``, ``/coverage``
and ``/report`` (the ``aquaembed report`` JSON). Every route calls the library."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from aquaembed.analysis.report import build_report, options_json
from aquaembed.service.deps import ModelQuery, OptionsDep, ViewDep, WorkspaceDep

__all__ = ["router"]

router = APIRouter(tags=["failures"])

TrainQuery = Annotated[str | None, Query(description="a stored dataset that is the training set", max_length=200)]
AlphaQuery = Annotated[float, Query(gt=0.0, lt=1.0, allow_inf_nan=False, description="false-discovery rate (BH) of the slices")]


@router.get("/datasets/{ds}/clusters", summary="Failure clusters: error crops that gather in embedding space, ranked")
def clusters(
    view: ViewDep,
    options: OptionsDep,
    model: ModelQuery = None,
    type_: Annotated[str | None, Query(alias="type", pattern="^(FP|FN|confusion)$", description="only this error type")] = None,
) -> dict[str, Any]:
    """The report's ``clusters`` (each with every member crop, class mix, over-represented
    metadata, typical members and frames), best first."""
    resolved = view.model(model)
    rows = view.failure_clusters(resolved, options)
    if type_ is not None:
        rows = [c for c in rows if c["type"] == type_]
    return {"model": resolved, "options": options_json(options), "clusters": rows}


@router.get("/datasets/{ds}/slices/departing", summary="Slices whose precision, recall or F1 departs from the rest")
def departing(
    view: ViewDep,
    options: OptionsDep,
    model: ModelQuery = None,
    alpha: AlphaQuery = 0.05,
    class_: Annotated[str | None, Query(alias="class", max_length=200, description="only slices of this class")] = None,
) -> dict[str, Any]:
    """The report's ``slices``: significant at BH ``q < alpha``, best first, with bootstrap intervals."""
    resolved = view.model(model)
    out = view.slice_departures(resolved, options, alpha=alpha)
    rows = out["slices"] if class_ is None else [s for s in out["slices"] if s["class"] == class_]
    return {"model": resolved, "options": options_json(options), "tested": out["tested"], "slices": rows}


@router.get("/datasets/{ds}/coverage", summary="Similarity of every frame and label crop to a training set")
def coverage(
    view: ViewDep,
    workspace: WorkspaceDep,
    options: OptionsDep,
    train: Annotated[str, Query(description="a stored dataset that is the training set", max_length=200)],
    model: ModelQuery = None,
    near_duplicate: Annotated[float, Query(gt=0.0, le=1.0, allow_inf_nan=False)] = 0.98,
) -> dict[str, Any]:
    """The report's ``coverage``: near-duplicates, metrics by similarity bin, per slice."""
    resolved = view.model(model)
    return view.coverage(workspace.get(train), resolved, options, near_duplicate=near_duplicate)


@router.get("/datasets/{ds}/report", summary="The failure report (as `aquaembed report --json` writes it)")
def report(
    view: ViewDep,
    workspace: WorkspaceDep,
    options: OptionsDep,
    model: ModelQuery = None,
    train: TrainQuery = None,
    alpha: AlphaQuery = 0.05,
) -> dict[str, Any]:
    """Clusters, slices, coverage (with ``train``) and further sections of the report."""
    tv = workspace.get(train) if train else None
    return build_report(view, model, options, train=tv, alpha=alpha)
