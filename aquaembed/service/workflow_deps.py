"""Query parameters of the custom-metric and scenario workflows (``metric=``, ``scenario=``,
``frames=``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

__all__ = ["FramesQuery", "MetricQuery", "ScenarioQuery"]

MetricQuery = Annotated[
    str | None,
    Query(description="a custom metric of the inference set (aquaembed add-metric); default the built-in matching",
          max_length=64),
]
ScenarioQuery = Annotated[
    str | None,
    Query(description="restrict to the frames of a saved scenario (GET /datasets/{ds}/scenarios)", max_length=64),
]
FramesQuery = Annotated[
    list[int] | None,
    Query(description="restrict to these frame ids (repeat the parameter: frames=1&frames=2); with a scenario, "
          "the frames in both"),
]
