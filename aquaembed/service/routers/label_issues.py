"""Label issues and their review: ``GET /datasets/{ds}/label-issues`` and ``POST .../verdicts``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from aquaembed.service.deps import ModelQuery, PageDep, ViewDep
from aquaembed.service.label_issue_schemas import LabelIssuePage, VerdictIn, VerdictOut
from aquaembed.service.schemas import ErrorBody

__all__ = ["router"]

router = APIRouter(tags=["label issues"])


@router.get("/datasets/{ds}/label-issues", response_model=LabelIssuePage, summary="Probable label errors, ranked")
def list_label_issues(
    view: ViewDep,
    page: PageDep,
    model: ModelQuery = None,
    kind: Annotated[
        Literal["missing_label", "wrong_class", "bad_location", "duplicate_label", "spurious_label"] | None,
        Query(description="keep one kind of issue"),
    ] = None,
    cls: Annotated[
        str | None,
        Query(alias="class", max_length=200, description="keep issues whose label class or suggested class is this"),
    ] = None,
    status: Annotated[
        Literal["open", "accept", "reject", "skip", "any"],
        Query(description="review state: open (no verdict or skipped), accept, reject, skip, any"),
    ] = "any",
) -> dict[str, Any]:
    """The label issues of an inference set, most likely error first, filtered and paged.

    Scores do not depend on the confidence or IoU threshold (every inference is evidence,
    weighted by its confidence), so this route takes none. Unknown classes are 404.
    """
    out = view.label_issues(model, kind=kind, cls=cls, status=status, limit=page.limit, offset=page.offset)
    return {**out, "limit": page.limit}


@router.post(
    "/datasets/{ds}/label-issues/verdicts",
    response_model=VerdictOut,
    summary="Record a review verdict",
    responses={400: {"model": ErrorBody, "description": "the body is not JSON"}},
)
def post_verdict(view: ViewDep, body: VerdictIn, model: ModelQuery = None) -> dict[str, Any]:
    """Accept (optionally with an edited class), reject or skip one issue; stored in the dataset."""
    rec = view.record_verdict(model, body.key, body.verdict, new_class=body.new_class)
    counts = view.reviews().counts(view.model(model))
    counts["issues"] = len(view.label_issue_records(model))
    return {"key": rec["key"], "verdict": rec["verdict"], "new_class": rec["new_class"], "counts": counts}
