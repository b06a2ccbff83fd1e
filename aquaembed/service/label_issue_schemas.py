"""Response and request bodies of the label-issue routes (kept apart from the library's types)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["LabelIssue", "LabelIssuePage", "ReviewCounts", "VerdictIn", "VerdictOut"]

IssueKind = Literal["missing_label", "wrong_class", "bad_location", "duplicate_label", "spurious_label"]


class LabelIssue(BaseModel):
    """One probable label error, with the fix the evidence suggests."""

    key: str = Field(description="stable key of the issue (model|kind|label or pred|id), for verdicts")
    kind: IssueKind
    label_id: int | None = Field(description="COCO annotation id (null for a missing label)")
    pred_index: int | None = Field(description="0-based position of the inference in the results file")
    frame: int = Field(description="COCO image id")
    label_class: str | None = Field(description="class of the label (null for a missing label)")
    suggested_class: str | None
    suggested_box: list[float] | None = Field(description="[x, y, width, height] in pixels")
    duplicate_of: int | None = Field(default=None, description="the label a duplicate duplicates")
    score: float = Field(description="how likely this is a label error, in [0, 1]")
    reason: str
    verdict: Literal["accept", "reject", "skip"] | None = Field(description="the latest verdict, null if unreviewed")
    new_class: str | None = Field(description="the class an accept edited to, if any")


class ReviewCounts(BaseModel):
    issues: int = Field(description="issues of the inference set (all kinds, all classes)")
    reviewed: int = Field(description="issues accepted or rejected")
    accepted: int
    rejected: int
    skipped: int


class LabelIssuePage(BaseModel):
    """A page of the ranked label issues (most likely error first)."""

    model: str
    total: int = Field(description="issues passing the filters")
    offset: int
    limit: int
    counts: ReviewCounts
    issues: list[LabelIssue]


class VerdictIn(BaseModel):
    key: str = Field(max_length=600, description="the issue's key")
    verdict: Literal["accept", "reject", "skip"]
    new_class: str | None = Field(default=None, max_length=200, description="with accept: the class to give the label")


class VerdictOut(BaseModel):
    key: str
    verdict: Literal["accept", "reject", "skip"]
    new_class: str | None
    counts: ReviewCounts
