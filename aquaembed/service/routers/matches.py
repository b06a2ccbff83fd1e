"""The drill-down behind every confusion cell: ``GET /datasets/{ds}/matches``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from aquaembed._typing import MatchType
from aquaembed.service.deps import MatchSortKey, ModelQuery, OptionsDep, OrderQuery, PageDep, ViewDep
from aquaembed.service.schemas import MatchPage
from aquaembed.service.workflow_deps import FramesQuery, ScenarioQuery

__all__ = ["router"]

router = APIRouter(tags=["matches"])

ClassQuery = Annotated[
    str | None,
    Query(description="class name; 'background' selects unmatched inferences (gt) / unmatched labels (pred)", max_length=200),
]


@router.get("/datasets/{ds}/matches", response_model=MatchPage, summary="Rows of a confusion cell, sorted")
def list_matches(
    view: ViewDep,
    options: OptionsDep,
    page: PageDep,
    model: ModelQuery = None,
    gt_class: ClassQuery = None,
    pred_class: ClassQuery = None,
    type: Annotated[MatchType | None, Query(description="row type")] = None,
    sort: Annotated[
        MatchSortKey,
        Query(
            description="score (confidence), iou, area or aspect (width / height) of the label's box "
            "(the inference's when there is no label)"
        ),
    ] = "score",
    order: OrderQuery = "desc",
    scenario: ScenarioQuery = None,
    frames: FramesQuery = None,
) -> dict[str, Any]:
    """The rows of one confusion cell (``gt_class`` x ``pred_class``) or any slice of the match table.

    Label-error hunting: ``gt_class=car&pred_class=truck&sort=score&order=desc`` gives the
    most confident disagreements; ``type=TP&sort=score&order=asc`` the least confident
    agreements; ``type=TP&sort=iou&order=asc`` badly located boxes; ``sort=area`` by size.
    Unknown class names are 404. ``scenario`` / ``frames`` keep the rows of those frames.
    """
    resolved = view.model(model)
    out = view.matches(
        resolved,
        options=options,
        gt_class=gt_class,
        pred_class=pred_class,
        type=type,
        sort=sort,
        order=order,
        limit=page.limit,
        offset=page.offset,
        scenario=scenario,
        frames=frames,
    )
    return page.envelope(resolved, options, out)
