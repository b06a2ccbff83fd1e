"""The frame table: ``GET /datasets/{ds}/frames`` (per-frame metrics with metadata)."""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request

from aquaembed.explore import FRAME_SORT_KEYS, DatasetView
from aquaembed.service.deps import ModelQuery, OptionsDep, OrderQuery, PageDep, ViewDep
from aquaembed.service.errors import ApiParameterError
from aquaembed.service.schemas import FramePage
from aquaembed.service.workflow_deps import FramesQuery, MetricQuery, ScenarioQuery

__all__ = ["router", "FRAMES_DESCRIPTION"]

router = APIRouter(tags=["frames"])

_COUNTS = ("tp", "fp", "fn")
_RATIOS = ("precision", "recall", "f1")
_META = "meta."
_META_MIN = "meta_min."
_META_MAX = "meta_max."
_DECLARED = frozenset(
    {"model", "conf", "iou", "mode", "class_aware", "crowd", "sort", "order", "limit", "offset", "metric", "scenario", "frames"}
    | {f"{m}_{end}" for m in (*_COUNTS, *_RATIOS) for end in ("min", "max")}
)

FRAMES_DESCRIPTION = """\
Frames with their TP / FP / FN, precision, recall and F1 at the thresholds, and their
metadata; filtered, sorted and paged.

**Filters** (all combine with AND):

* `<metric>_min`, `<metric>_max` for `tp`, `fp`, `fn`, `precision`, `recall`, `f1`:
  inclusive bounds. A frame whose ratio is undefined (null) fails any bound on it.
* `meta.<field>=<value>`: metadata equality, compared as text; repeat the parameter
  for several allowed values (`meta.scene=reef&meta.scene=harbour` keeps either).
* `meta_min.<field>=<number>`, `meta_max.<field>=<number>`: inclusive bounds on a
  numeric metadata field.

`<field>` is one of the dataset's `frame_metadata` (GET /datasets/{ds}). An unknown
field, a non-numeric bound or any other unknown parameter is a 422 that names it.

**Sort**: `sort` is `id`, `tp`, `fp`, `fn`, `precision`, `recall`, `f1` or a metadata
field (optionally written `meta.<field>`); undefined values sort last in either order,
ties by frame id.
"""


def _bound(values: list[str], key: str) -> float:
    if len(values) != 1:
        raise ApiParameterError(key, f"give at most one value, got {len(values)}")
    try:
        v = float(values[0])
    except ValueError:
        raise ApiParameterError(key, f"expected a number, got {values[0]!r}") from None
    if not math.isfinite(v):
        raise ApiParameterError(key, f"expected a finite number, got {values[0]!r}")
    return v


def _metadata_filters(
    request: Request, view: DatasetView
) -> tuple[dict[str, list[str]], dict[str, tuple[float | None, float | None]]]:
    """Parse the ``meta.*``, ``meta_min.*`` and ``meta_max.*`` parameters; refuse unknown ones."""
    fields = {**view.dataset.frames.metadata, **view.scalar_columns()}
    grouped: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        grouped.setdefault(key, []).append(value)
    equals: dict[str, list[str]] = {}
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for key, values in grouped.items():
        if key in _DECLARED:
            continue
        for prefix in (_META_MIN, _META_MAX, _META):
            if key.startswith(prefix):
                name = key[len(prefix) :]
                break
        else:
            raise ApiParameterError(
                key, "unknown parameter; filter metadata with meta.<field>, meta_min.<field> or meta_max.<field>"
            )
        if name not in fields:
            raise ApiParameterError(key, f"unknown metadata field {name!r}; known: {', '.join(fields) or 'none'}")
        if prefix == _META:
            equals[name] = values
            continue
        if np.asarray(fields[name]).dtype.kind not in "biuf":
            raise ApiParameterError(key, f"metadata field {name!r} is not numeric; filter it with meta.{name}=<value>")
        lo, hi = ranges.get(name, (None, None))
        if prefix == _META_MIN:
            lo = _bound(values, key)
        else:
            hi = _bound(values, key)
        ranges[name] = (lo, hi)
    return equals, ranges


Count = Annotated[int | None, Query(ge=0)]
Ratio = Annotated[float | None, Query(ge=0.0, le=1.0, allow_inf_nan=False)]


@router.get(
    "/datasets/{ds}/frames",
    response_model=FramePage,
    summary="Frames with their metrics and metadata (filter, sort, page)",
    description=FRAMES_DESCRIPTION,
)
def list_frames(
    request: Request,
    view: ViewDep,
    options: OptionsDep,
    page: PageDep,
    model: ModelQuery = None,
    sort: Annotated[str, Query(description="id, tp, fp, fn, precision, recall, f1 or a metadata field", max_length=200)] = "f1",
    order: OrderQuery = "asc",
    tp_min: Count = None,
    tp_max: Count = None,
    fp_min: Count = None,
    fp_max: Count = None,
    fn_min: Count = None,
    fn_max: Count = None,
    precision_min: Ratio = None,
    precision_max: Ratio = None,
    recall_min: Ratio = None,
    recall_max: Ratio = None,
    f1_min: Ratio = None,
    f1_max: Ratio = None,
    metric: MetricQuery = None,
    scenario: ScenarioQuery = None,
    frames: FramesQuery = None,
) -> dict[str, Any]:
    """Per-frame metrics with metadata; see the operation description for the filters."""
    resolved = view.model(model)
    sort_key = sort[len(_META) :] if sort.startswith(_META) else sort
    fields = {**view.dataset.frames.metadata, **view.scalar_columns()}
    if sort_key not in FRAME_SORT_KEYS and sort_key not in fields:
        known = [*FRAME_SORT_KEYS, *fields]
        raise ApiParameterError("sort", f"expected one of {', '.join(known)}, got {sort!r}")
    bounds = {
        "tp": (tp_min, tp_max),
        "fp": (fp_min, fp_max),
        "fn": (fn_min, fn_max),
        "precision": (precision_min, precision_max),
        "recall": (recall_min, recall_max),
        "f1": (f1_min, f1_max),
    }
    ranges: dict[str, tuple[float | None, float | None]] = {
        k: (lo, hi) for k, (lo, hi) in bounds.items() if lo is not None or hi is not None
    }
    equals, meta_ranges = _metadata_filters(request, view)
    ranges.update(meta_ranges)
    out = view.frames(
        resolved,
        options=options,
        sort=sort_key,
        order=order,
        limit=page.limit,
        offset=page.offset,
        equals=equals,
        ranges=ranges,
        metric=metric,
        scenario=scenario,
        frames=frames,
    )
    return page.envelope(resolved, options, out)
