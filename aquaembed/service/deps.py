"""Dependencies of the routes and the ``Annotated`` aliases they are used through.

Routes never reach into ``request.app.state`` themselves: they declare ``ViewDep``,
``ConfQuery``, ``PageDep`` and so on, so a parameter is validated (and documented) in one
place, whatever route uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request

from aquaembed.explore import DatasetView, Workspace
from aquaembed.matching import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MODE, MatchOptions
from aquaembed.service.errors import ApiParameterError
from aquaembed.service.settings import Settings
from aquaembed.service.state import AppState

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "StateDep",
    "SettingsDep",
    "WorkspaceDep",
    "ViewDep",
    "ModelQuery",
    "ConfQuery",
    "IouQuery",
    "OptionsDep",
    "get_options",
    "MatchSortKey",
    "OrderQuery",
    "KindQuery",
    "SourceQuery",
    "Page",
    "PageDep",
    "get_state",
    "get_view",
    "get_page",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_MAX_OFFSET = 2**53
"""Largest offset accepted (beyond any dataset; keeps numpy indexing in int64)."""


async def get_state(request: Request) -> AppState:
    """The state built by the lifespan (cheap dependencies are ``async``: no thread hop)."""
    state: AppState = request.app.state.aquaembed
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    """The settings of this process."""
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_workspace(state: StateDep) -> Workspace:
    """The workspace of the data directory."""
    return state.workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]


def get_view(
    ds: Annotated[str, Path(description="dataset name (see GET /datasets)", max_length=200)],
    workspace: WorkspaceDep,
) -> DatasetView:
    """The dataset named in the path; unknown names are 404 (plain ``def``: it may read a manifest)."""
    return workspace.get(ds)


ViewDep = Annotated[DatasetView, Depends(get_view)]

ModelQuery = Annotated[
    str | None,
    Query(
        description="inference set (see `inference_sets` of the dataset); may be omitted when the dataset has one",
        max_length=200,
    ),
]
ConfQuery = Annotated[
    float,
    Query(ge=0.0, le=1.0, allow_inf_nan=False, description="confidence threshold in [0, 1]; inferences below it are dropped"),
]
IouQuery = Annotated[
    float,
    Query(gt=0.0, le=1.0, allow_inf_nan=False, description="IoU threshold in (0, 1]; a pair matches when IoU >= it"),
]


async def get_options(
    conf: ConfQuery = DEFAULT_CONF,
    iou: IouQuery = DEFAULT_IOU,
    mode: Annotated[
        Literal["optimal", "greedy"],
        Query(description="assignment: `optimal` (largest total IoU, the default) or `greedy` (by confidence, as COCO)"),
    ] = DEFAULT_MODE,
    class_aware: Annotated[bool, Query(description="allow only same-class pairs (default: classes ignored for matching)")] = False,
    crowd: Annotated[bool, Query(description="COCO `iscrowd` labels are regions: an inference inside one is neither TP nor FP")] = False,
) -> MatchOptions:
    """The matching options of a threshold-taking route, validated once as a :class:`MatchOptions`."""
    return MatchOptions(conf=conf, iou=iou, mode=mode, class_aware=class_aware, crowd=crowd)


OptionsDep = Annotated[MatchOptions, Depends(get_options)]
"""``conf``, ``iou``, ``mode``, ``class_aware`` and ``crowd`` query parameters as one value."""

MatchSortKey = Literal["score", "iou", "area", "aspect"]
"""Sort keys of the match rows (the library's ``MATCH_SORT_KEYS``)."""

OrderQuery = Annotated[Literal["asc", "desc"], Query(description="sort direction; undefined values sort last either way")]
KindQuery = Annotated[Literal["frame", "crop"], Query(description="frame embeddings or box-crop embeddings")]
SourceQuery = Annotated[
    Literal["label", "pred"], Query(description="crop source: a ground-truth label or an inference (prediction)")
]


@dataclass(frozen=True)
class Page:
    """A validated page request.

    Attributes
    ----------
    limit : int
        Rows per page, ``0 <= limit <= max_limit``.
    offset : int
        Rows skipped, ``>= 0``.
    """

    limit: int
    offset: int

    def envelope(self, model: str, options: MatchOptions, result: Mapping[str, Any]) -> dict[str, Any]:
        """A paged route's answer: model, thresholds, ``total``, this page and its ``rows``."""
        return {
            "model": model,
            "conf_threshold": options.conf,
            "iou_threshold": options.iou,
            "total": result["total"],
            "offset": self.offset,
            "limit": self.limit,
            "rows": result["rows"],
        }


async def get_page(
    settings: SettingsDep,
    limit: Annotated[
        int, Query(ge=0, description="rows per page, at most the server's max_limit (1000 by default)")
    ] = 50,
    offset: Annotated[int, Query(ge=0, le=_MAX_OFFSET, description="rows to skip")] = 0,
) -> Page:
    """Validate ``limit`` against the server's cap."""
    if limit > settings.max_limit:
        raise ApiParameterError("limit", f"must be <= {settings.max_limit}, got {limit}")
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(get_page)]
