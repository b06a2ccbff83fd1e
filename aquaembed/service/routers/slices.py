"""Metrics per slice of frames: ``GET /datasets/{ds}/slices``, extended with ``departing=true``
(the failure report's slices that depart from the rest; ``/slices/departing`` stays as an alias)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import ConfigDict, Field

from aquaembed.errors import ParameterError
from aquaembed.service.deps import ModelQuery, OptionsDep, ViewDep
from aquaembed.service.routers.failures import AlphaQuery, SliceDeparture
from aquaembed.service.schemas import SliceRow, SliceTable
from aquaembed.service.workflow_deps import MetricQuery, ScenarioQuery

__all__ = ["router"]

router = APIRouter(tags=["frames"])


class SliceRowDeparture(SliceRow):
    """A row of ``/slices``; with ``departing=true`` it also says whether its value departs
    from the rest and, if so, how (the fields of the report's slice record)."""

    model_config = ConfigDict(extra="allow")

    departing: bool | None = Field(None, description="with departing=true: the value is a departing slice")
    departure_metric: str | None = Field(None, description="the metric that departs most (precision, recall, f1)")
    in_slice: float | None = None
    rest: float | None = Field(None, description="the metric over the frames outside the slice")
    interval: list[float | None] | None = Field(None, description="bootstrap interval (over frames) of in_slice")
    q_value: float | None = Field(None, description="Benjamini-Hochberg q-value over everything tested")
    direction: str | None = Field(None, description="better or worse than the rest")


class SliceTableDeparting(SliceTable):
    """The ``/slices`` table; ``departing=true`` adds ``tested`` and ``slices`` (the
    report's departing slices, of ``field`` when given, of ``class`` when given)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    field: str | None  # type: ignore[assignment]
    rows: list[SliceRowDeparture]  # type: ignore[assignment]
    departing: bool | None = None
    alpha: float | None = None
    tested: int | None = None
    slices: list[SliceDeparture] | None = None
    metric: str | None = None


def _of_field(rec: dict[str, Any], field: str) -> bool:
    f = rec["field"]
    return f == field or (isinstance(f, list) and field in f)


@router.get(
    "/datasets/{ds}/slices",
    response_model=SliceTableDeparting,
    response_model_by_alias=True,
    response_model_exclude_unset=True,
    summary="Metrics per value of a frame metadata field (departing=true: the slices that depart from the rest)",
)
def slices(
    view: ViewDep,
    options: OptionsDep,
    field: Annotated[
        str | None, Query(description="a frame metadata field, e.g. scene or time_of_day (optional with departing=true)",
                          max_length=200)
    ] = None,
    model: ModelQuery = None,
    class_: Annotated[
        str | None, Query(alias="class", description="count only this class (default: all classes)", max_length=200)
    ] = None,
    metric: MetricQuery = None,
    scenario: ScenarioQuery = None,
    departing: Annotated[bool, Query(description="add the failure report's departing slices (and per row "
                                                 "whether and how its value departs)")] = False,
    alpha: AlphaQuery = 0.05,
) -> dict[str, Any]:
    """TP/FP/FN/precision/recall/F1 of the frames sharing each value of ``field``.

    Overfitting hunt: ``field=scene&class=pedestrian`` shows the scene where the model is
    suspiciously perfect on pedestrians; ``field=time_of_day`` a hard condition.

    ``departing=true`` adds the departure test of the failure report (frame-clustered
    z-test, bootstrap interval over frames, Benjamini-Hochberg q-values at ``alpha``):
    ``tested``, ``slices`` (the significant ones, best first; only those involving
    ``field`` and of ``class`` when given), and on each row ``departing`` plus, for a
    departing value, ``departure_metric``, ``in_slice``, ``rest``, ``interval``,
    ``q_value`` and ``direction``. ``field`` may then be left out (no rows).
    """
    resolved = view.model(model)
    if field is None and not departing:
        raise ParameterError("field: name a frame metadata field (or ask departing=true)", parameter="field")
    out: dict[str, Any] = {
        "model": resolved, "conf_threshold": options.conf, "iou_threshold": options.iou, "field": field,
        "class": class_, "rows": [],
    }
    if field is not None:
        table = view.slices(resolved, options=options, field=field, cls=class_, metric=metric, scenario=scenario)
        out.update(field=table["field"], rows=table["rows"])
    if not departing:
        return out
    dep = view.slice_departures(resolved, options, alpha=alpha, metric=metric, scenario=scenario)
    recs = [s for s in dep["slices"] if (field is None or _of_field(s, field)) and (class_ is None or s["class"] == class_)]
    by_value: dict[str, dict[str, Any]] = {}
    for s in recs:  # best first: the first record of a value is its strongest departure
        if s["field"] == field and s["class"] == class_:
            by_value.setdefault(str(s["value"]), s)
    rows = []
    for row in out["rows"]:
        hit = by_value.get(str(row["value"]))
        extra: dict[str, Any] = {"departing": hit is not None}
        if hit is not None:
            extra.update(departure_metric=hit["metric"], in_slice=hit["in_slice"], rest=hit["rest"],
                         interval=hit["interval"], q_value=hit["q_value"], direction=hit["direction"])
        rows.append({**row, **extra})
    out.update(rows=rows, departing=True, alpha=alpha, tested=dep["tested"], slices=recs)
    if metric not in (None, "builtin"):
        out["metric"] = metric
    return out
