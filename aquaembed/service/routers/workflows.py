"""Comparison and scenarios: ``GET /datasets/{ds}/compare``, ``/compare/cell``, and
``GET/POST /datasets/{ds}/scenarios``, ``DELETE /datasets/{ds}/scenarios/{name}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from aquaembed.service.deps import OptionsDep, ViewDep
from aquaembed.service.workflow_deps import ScenarioQuery

__all__ = ["router"]

router = APIRouter(tags=["compare", "scenarios"])

ModelName = Annotated[str, Query(description="an inference set", max_length=200)]


class Comparison(BaseModel):
    """The ``aquaembed compare`` JSON."""

    model_config = ConfigDict(extra="allow")
    models: list[str]
    options: dict[str, Any]
    overall: dict[str, dict[str, Any]] = Field(description="keyed by model name")
    confusion_matrix_diff: list[list[int]] = Field(description="B minus A, the evaluate layout")
    labels: dict[str, Any] = Field(description="fixed / broken annotation ids and the four transition counts")
    frames: dict[str, dict[str, float | None]] = Field(description="f1_a, f1_b, delta_f1 per image id")


class ScenarioBody(BaseModel):
    """A scenario to save: a filter expression or a list of frame ids."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    where: str | None = Field(default=None, max_length=2000, description='e.g. scene == "reef" and f1 <= 0.5')
    frames: list[int] | None = Field(default=None, max_length=10_000_000, description="frame ids (a lasso)")
    source: str | None = Field(default=None, description="frames, lasso, cluster or slice (with frames)")
    model: str | None = Field(default=None, description="inference set for the per-frame metrics of where")
    metric: str | None = Field(default=None, description="custom metric for the per-frame metrics of where")
    replace: bool = False


class ChangedPairs(BaseModel):
    """The changed pairs behind one cell of the difference matrix."""

    model_config = ConfigDict(extra="allow")
    gt_class: str
    pred_class: str
    total: int
    rows: list[dict[str, Any]]


class ScenarioInfo(BaseModel):
    """One scenario: its frame ids and where they came from."""

    name: str
    frames: list[int] | int = Field(description="frame ids (GET one) or their number (list, save)")
    source: str | None = None
    where: str | None = None


class ScenarioList(BaseModel):
    scenarios: dict[str, ScenarioInfo]


@router.get("/datasets/{ds}/compare", response_model=Comparison, summary="Compare two inference sets")
def compare(view: ViewDep, options: OptionsDep, a: ModelName, b: ModelName, scenario: ScenarioQuery = None) -> dict[str, Any]:
    """What B fixed and broke relative to A, per label and per frame (ΔF1), at the options."""
    return view.compare(a, b, options, scenario=scenario)


@router.get("/datasets/{ds}/compare/cell", response_model=ChangedPairs, summary="The changed pairs behind a cell of the difference matrix")
def compare_cell(
    view: ViewDep, options: OptionsDep, a: ModelName, b: ModelName,
    gt_class: Annotated[str, Query(max_length=200)], pred_class: Annotated[str, Query(max_length=200)],
    limit: Annotated[int, Query(ge=0, le=10_000)] = 200,
) -> dict[str, Any]:
    """Labels of ``gt_class`` that entered or left cell ``[gt_class, pred_class]`` from A to B."""
    return view.compare_cell(a, b, options, gt_class=gt_class, pred_class=pred_class, limit=limit)


@router.get("/datasets/{ds}/scenarios", response_model=ScenarioList, summary="List the saved scenarios")
def list_scenarios(view: ViewDep) -> dict[str, Any]:
    """Every scenario with its number of frames and where it came from."""
    return {"scenarios": {k: {"name": k, **v} for k, v in view.scenarios().items()}}


@router.get("/datasets/{ds}/scenarios/{name}", response_model=ScenarioInfo, summary="One scenario's frame ids")
def get_scenario(view: ViewDep, name: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    return {"name": name, **view.scenarios_record(name)}


@router.post("/datasets/{ds}/scenarios", status_code=201, response_model=ScenarioInfo, summary="Save a scenario")
def save_scenario(view: ViewDep, options: OptionsDep, body: ScenarioBody) -> dict[str, Any]:
    """Save ``{"name", "where"}`` or ``{"name", "frames"}``; a bad expression is a 422 naming the token."""
    return view.save_scenario(body.name, where=body.where, frames=body.frames, source=body.source,
                              model=body.model, options=options, metric=body.metric, replace=body.replace)


@router.delete("/datasets/{ds}/scenarios/{name}", status_code=204, summary="Delete a scenario")
def delete_scenario(view: ViewDep, name: Annotated[str, Path(max_length=64)]) -> None:
    view.delete_scenario(name)
