"""Failure discovery: ``GET /datasets/{ds}/clusters``, ``/slices/departing`` (also
``/slices?departing=true``), ``/coverage``, ``/report`` (the ``aquaembed report`` JSON) and
``/compare/regression`` (where B regressed). ``metric=`` runs them on a custom metric's
per-frame matrices. Every route calls the library."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from aquaembed.analysis.clusters import CUSTOM_METRIC_CLUSTERS
from aquaembed.analysis.report import build_report, options_json
from aquaembed.errors import ParameterError
from aquaembed.service.deps import ModelQuery, OptionsDep, ViewDep, WorkspaceDep
from aquaembed.service.workflow_deps import MetricQuery, ScenarioQuery

__all__ = ["router"]

router = APIRouter(tags=["failures"])


class _Open(BaseModel):
    """Response records: the documented fields, and any the library adds later (extended, never renamed)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CropRef(_Open):
    source: Literal["pred", "label"]
    id: int


class OverRepresented(_Open):
    field: str
    value: str
    share: float
    share_rest: float
    lift: float


class Cluster(_Open):
    id: int
    type: Literal["FP", "FN", "confusion", "broken"]
    size: int
    score: float
    crops: list[CropRef]
    classes: dict[str, int]
    over_represented: list[OverRepresented]
    typical: list[CropRef]
    frames: list[int]


class Options(_Open):
    conf: float
    iou: float
    mode: str
    class_aware: bool
    crowd: bool


class ClusterList(_Open):
    model: str
    options: Options
    clusters: list[Cluster]
    metric: str | None = None
    note: str | None = Field(None, description="why there are no clusters (a custom metric)")


class SliceDeparture(_Open):
    field: str | list[str]
    value: str | int | list[str]
    class_: str | None = Field(alias="class")
    metric: Literal["precision", "recall", "f1", "broken_share"]
    in_slice: float
    rest: float
    interval: list[float | None]
    direction: Literal["better", "worse"]
    q_value: float
    frames: int


class SliceList(_Open):
    model: str
    options: Options
    tested: int
    slices: list[SliceDeparture]
    metric: str | None = None


class Regression(_Open):
    models: list[str]
    options: Options
    labels: dict[str, int] = Field(description="label transitions from A to B: fixed, broken, both_found, both_missed")
    clusters: list[Cluster]
    tested: int
    slices: list[SliceDeparture]


class Coverage(_Open):
    train: str
    near_duplicates: list[dict[str, Any]]
    by_similarity: list[dict[str, Any]]


class Report(_Open):
    options: Options
    clusters: list[Cluster] = []
    slices: list[SliceDeparture] = []
    coverage: Coverage | None = None
    metric: str | None = None
    compare: dict[str, Any] | None = None
    notes: dict[str, str] | None = None
    scenario: str | None = None


TrainQuery = Annotated[str | None, Query(description="a stored dataset that is the training set", max_length=200)]
AlphaQuery = Annotated[float, Query(gt=0.0, lt=1.0, allow_inf_nan=False, description="false-discovery rate (BH) of the slices")]


@router.get("/datasets/{ds}/clusters", response_model=ClusterList, response_model_by_alias=True, summary="Failure clusters: error crops that gather in embedding space, ranked")
def clusters(
    view: ViewDep,
    options: OptionsDep,
    model: ModelQuery = None,
    type_: Annotated[str | None, Query(alias="type", pattern="^(FP|FN|confusion)$", description="only this error type")] = None,
    metric: MetricQuery = None,
    scenario: ScenarioQuery = None,
) -> dict[str, Any]:
    """The report's ``clusters`` (each with every member crop, class mix, over-represented
    metadata, typical members and frames), best first.

    Under a custom ``metric`` there are none (its per-frame matrices do not say which crop
    is an error) and ``note`` says so."""
    resolved = view.model(model)
    custom = view.custom_metric(resolved, metric)
    if custom is not None:
        return {"model": resolved, "options": options_json(options), "clusters": [], "metric": custom,
                "note": CUSTOM_METRIC_CLUSTERS}
    rows = view.failure_clusters(resolved, options, scenario=scenario)
    if type_ is not None:
        rows = [c for c in rows if c["type"] == type_]
    return {"model": resolved, "options": options_json(options), "clusters": rows}


@router.get("/datasets/{ds}/slices/departing", response_model=SliceList, response_model_by_alias=True, summary="Slices whose precision, recall or F1 departs from the rest")
def departing(
    view: ViewDep,
    options: OptionsDep,
    model: ModelQuery = None,
    alpha: AlphaQuery = 0.05,
    class_: Annotated[str | None, Query(alias="class", max_length=200, description="only slices of this class")] = None,
    metric: MetricQuery = None,
    scenario: ScenarioQuery = None,
) -> dict[str, Any]:
    """The report's ``slices``: significant at BH ``q < alpha``, best first, with bootstrap
    intervals (of a custom ``metric``'s per-frame matrices when given). The same list is
    ``GET /slices?departing=true``."""
    resolved = view.model(model)
    custom = view.custom_metric(resolved, metric)
    out = view.slice_departures(resolved, options, alpha=alpha, metric=custom, scenario=scenario)
    rows = out["slices"] if class_ is None else [s for s in out["slices"] if s["class"] == class_]
    res = {"model": resolved, "options": options_json(options), "tested": out["tested"], "slices": rows}
    return res if custom is None else {**res, "metric": custom}


@router.get("/datasets/{ds}/coverage", response_model=Coverage, response_model_by_alias=True, summary="Similarity of every frame and label crop to a training set")
def coverage(
    view: ViewDep,
    workspace: WorkspaceDep,
    options: OptionsDep,
    train: Annotated[str, Query(description="a stored dataset that is the training set", max_length=200)],
    model: ModelQuery = None,
    near_duplicate: Annotated[float, Query(gt=0.0, le=1.0, allow_inf_nan=False)] = 0.98,
    metric: MetricQuery = None,
) -> dict[str, Any]:
    """The report's ``coverage``: near-duplicates, metrics by similarity bin, per slice."""
    resolved = view.model(model)
    return view.coverage(workspace.get(train), resolved, options, near_duplicate=near_duplicate, metric=metric)


@router.get("/datasets/{ds}/report", response_model=Report, response_model_by_alias=True, response_model_exclude_unset=True, summary="The failure report (as `aquaembed report --json` writes it)")
def report(
    view: ViewDep,
    workspace: WorkspaceDep,
    options: OptionsDep,
    model: ModelQuery = None,
    train: TrainQuery = None,
    alpha: AlphaQuery = 0.05,
    metric: MetricQuery = None,
    compare: Annotated[list[str] | None, Query(max_length=2, description="two inference sets A and B "
                                                                           "(compare=A&compare=B): where B regressed")] = None,
    scenario: ScenarioQuery = None,
) -> dict[str, Any]:
    """Clusters, slices, coverage (with ``train``) and further sections of the report.

    ``metric``: slices and coverage of a custom metric (no clusters; ``notes`` says why).
    ``compare=A&compare=B``: clusters and slices of the labels B broke relative to A."""
    tv = workspace.get(train) if train else None
    pair = None
    if compare is not None:
        if len(compare) != 2:
            raise ParameterError("compare: give two inference sets, compare=A&compare=B", parameter="compare")
        pair = (compare[0], compare[1])
    return build_report(view, model, options, train=tv, alpha=alpha, metric=metric, compare=pair, scenario=scenario)


@router.get("/datasets/{ds}/compare/regression", response_model=Regression, response_model_by_alias=True,
            summary="Where B regressed: clusters and slices of the labels B broke relative to A")
def regression(
    view: ViewDep,
    options: OptionsDep,
    a: Annotated[str, Query(description="inference set A (the reference)", max_length=200)],
    b: Annotated[str, Query(description="inference set B", max_length=200)],
    alpha: AlphaQuery = 0.05,
    scenario: ScenarioQuery = None,
) -> dict[str, Any]:
    """Broken labels (TP under A, not under B): their clusters in crop-embedding space
    (``type: "broken"``) and the slices where their share of A's found labels departs
    from the rest (``metric: "broken_share"``), ranked."""
    return view.regression(a, b, options, alpha=alpha, scenario=scenario)
