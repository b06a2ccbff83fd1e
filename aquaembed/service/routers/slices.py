"""Metrics per slice of frames: ``GET /datasets/{ds}/slices``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from aquaembed.service.deps import ModelQuery, OptionsDep, ViewDep
from aquaembed.service.schemas import SliceTable
from aquaembed.service.workflow_deps import MetricQuery, ScenarioQuery

__all__ = ["router"]

router = APIRouter(tags=["frames"])


@router.get(
    "/datasets/{ds}/slices",
    response_model=SliceTable,
    response_model_by_alias=True,
    summary="Metrics per value of a frame metadata field",
)
def slices(
    view: ViewDep,
    options: OptionsDep,
    field: Annotated[str, Query(description="a frame metadata field, e.g. scene or time_of_day", max_length=200)],
    model: ModelQuery = None,
    class_: Annotated[
        str | None, Query(alias="class", description="count only this class (default: all classes)", max_length=200)
    ] = None,
    metric: MetricQuery = None,
    scenario: ScenarioQuery = None,
) -> dict[str, Any]:
    """TP/FP/FN/precision/recall/F1 of the frames sharing each value of ``field``.

    Overfitting hunt: ``field=scene&class=pedestrian`` shows the scene where the model is
    suspiciously perfect on pedestrians; ``field=time_of_day`` a hard condition.
    """
    resolved = view.model(model)
    out = view.slices(resolved, options=options, field=field, cls=class_, metric=metric, scenario=scenario)
    return {
        "model": resolved,
        "conf_threshold": options.conf,
        "iou_threshold": options.iou,
        "field": out["field"],
        "class": out["class"],
        "rows": out["rows"],
    }
