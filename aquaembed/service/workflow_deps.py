"""Query parameters of the custom-metric and scenario workflows (``metric=``, ``scenario=``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

__all__ = ["MetricQuery", "ScenarioQuery"]

MetricQuery = Annotated[
    str | None,
    Query(description="a custom metric of the inference set (aquaembed add-metric); default the built-in matching",
          max_length=64),
]
ScenarioQuery = Annotated[
    str | None,
    Query(description="restrict to the frames of a saved scenario (GET /datasets/{ds}/scenarios)", max_length=64),
]
