"""Datasets and their metrics: ``GET /datasets``, ``/datasets/{ds}``, ``/datasets/{ds}/metrics``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from aquaembed.service.deps import ModelQuery, OptionsDep, ViewDep, WorkspaceDep
from aquaembed.service.schemas import DatasetList, DatasetSummary, Metrics
from aquaembed.service.workflow_deps import FramesQuery, MetricQuery, ScenarioQuery

__all__ = ["router"]

router = APIRouter(tags=["datasets"])


@router.get("/datasets", response_model=DatasetList, summary="List the stored datasets")
def list_datasets(workspace: WorkspaceDep) -> dict[str, Any]:
    """Every dataset of the data directory: counts, classes, inference sets, embeddings, metadata fields."""
    return {"datasets": [workspace.get(name).summary() for name in workspace.names()]}


@router.get("/datasets/{ds}", response_model=DatasetSummary, summary="Describe one dataset")
def get_dataset(view: ViewDep) -> dict[str, Any]:
    """Counts, classes, inference sets, embedding kinds and frame-metadata fields of one dataset."""
    return view.summary()


@router.get("/datasets/{ds}/metrics", response_model=Metrics, summary="Metrics at a threshold pair")
def get_metrics(
    view: ViewDep,
    options: OptionsDep,
    model: ModelQuery = None,
    map_: Annotated[bool, Query(alias="map", description="add COCO mAP (AP@[.50:.95], AP50, ..., AR100)")] = False,
    pr: Annotated[bool, Query(description="add PR curves (the confidence swept at this IoU threshold)")] = True,
    metric: MetricQuery = None,
    scenario: ScenarioQuery = None,
    frames: FramesQuery = None,
) -> dict[str, Any]:
    """The ``evaluate`` JSON (DESIGN.md) without ``matches`` and ``per_frame``.

    Confusion matrix (background last), per-class and overall counts with precision,
    recall and F1 (``null`` when undefined), PR curves unless ``pr=false``, and COCO
    mAP with ``map=true``; with ``scenario`` / ``frames`` all of them over those frames
    only. A custom ``metric`` has no PR curves or mAP (``notes`` says so). Match tables
    are cached per (model, conf, iou).
    """
    return view.metrics(model, options=options, coco=map_, pr=pr, metric=metric, scenario=scenario, frames=frames)
