"""What a selection has in common: ``POST /datasets/{ds}/selection``.

The dashboard's lasso summary, served: the body names frames or crops, the answer is
:func:`aquaembed.analysis.selection.projection_selection` of them (counts and ratios of
the selection and the rest, type and class mix, over-represented metadata values).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from aquaembed.analysis.selection import (
    crop_metadata,
    projection_mask,
    projection_selection,
)
from aquaembed.service.deps import INT64_MAX, INT64_MIN, ModelQuery, OptionsDep, ViewDep
from aquaembed.service.schemas import Counts

__all__ = ["SelectionRequest", "SelectionResponse", "router"]

router = APIRouter(tags=["embeddings"])

MAX_IDS = 2_000_000
"""Most ids one request may name (a lasso over a whole 1M-crop map fits)."""

Id = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


class SelectionRequest(BaseModel):
    """The selected frames or crops."""

    kind: Literal["frame", "crop"] = Field(description="frames or box crops (as in the projection)")
    ids: list[Id] = Field(default_factory=list, max_length=MAX_IDS,
                           description="frames: frame ids; crops: label (annotation) ids")
    pred_ids: list[Id] = Field(default_factory=list, max_length=MAX_IDS,
                                description="crops only: inference indices (0-based positions in the results file)")


class MixRow(BaseModel):
    value: str
    selected: int = Field(description="selected items with this value")
    rest: int = Field(description="other items with this value")
    share: float | None = Field(description="selected / selection size (null for an empty selection)")
    share_rest: float | None = Field(description="rest / size of the rest (null when the rest is empty)")


class OverRow(BaseModel):
    field: str
    value: str
    count: int = Field(description="selected items with this value")
    share: float = Field(description="its share of the selection")
    share_rest: float | None = Field(description="its share of the rest")
    lift: float = Field(description="share / its share of the whole dataset")


class SelectionResponse(BaseModel):
    """A selection against the rest."""

    model: str
    conf_threshold: float
    iou_threshold: float
    kind: Literal["frame", "crop"]
    selected: int
    total: int
    share: float | None = Field(description="selected / total")
    selection: Counts = Field(description="frames: the frames' counts summed; crops: TP and FP on inference crops, "
                                          "FN on label crops (a confusion counts on both)")
    rest: Counts
    mixes: dict[str, list[MixRow]] = Field(description="crops: `type` and `class` mixes; frames: none")
    over_represented: list[OverRow] = Field(
        description="metadata values (and, for crops, class and source) holding at least 15% of the selection "
                    "and at least 1.3 times as common in it as in the dataset; largest share - share_rest first")


@router.post("/datasets/{ds}/selection", response_model=SelectionResponse,
             summary="What a selection of frames or crops has in common")
def selection(view: ViewDep, options: OptionsDep, body: SelectionRequest, model: ModelQuery = None) -> dict[str, Any]:
    """Counts and ratios of the selected frames or crops against the rest, their type and
    class mix, and the metadata values over-represented in them (with share, share of the
    rest and lift). Unknown ids are 404 naming the first one."""
    resolved = view.model(model)
    proj = dict(view.projection(body.kind, resolved, options=options))
    if body.kind == "crop":
        frames = view.dataset.frames
        proj["metadata"] = crop_metadata(proj["frame_id"], frames.metadata, frames.index_of_ids)
    mask = projection_mask(proj, body.ids, body.pred_ids)
    names = [str(c) for c in view.dataset.classes.names]
    out = projection_selection(proj, mask, class_names=names).to_json()
    return {"model": resolved, "conf_threshold": options.conf, "iou_threshold": options.iou, **out}
