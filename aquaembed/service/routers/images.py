"""Rendered images: ``/datasets/{ds}/frames/{frame_id}/image`` and ``/crops/{crop_id}/image``.

Images are rendered by :mod:`aquaembed.render` from the dataset's own image folder;
nothing in a request is ever used as a path: datasets are looked up by name among
the stored ones and frames and crops by integer id. Rendered images are kept in a
byte-bounded LRU (keyed by every parameter and the dataset's generation) and served
with ``Cache-Control`` and a strong ``ETag`` (``If-None-Match`` gives 304).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path, Query, Request, Response

from aquaembed.errors import NotFoundError
from aquaembed.explore import DatasetView
from aquaembed.service.deps import (
    INT64_MAX,
    INT64_MIN,
    ModelQuery,
    OptionsDep,
    SettingsDep,
    SourceQuery,
    StateDep,
    ViewDep,
)
from aquaembed.service.state import CachedImage

__all__ = ["router"]

router = APIRouter(tags=["images"])

_IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}, "description": "JPEG image"},
    304: {"description": "not modified (If-None-Match matched the ETag)"},
}


def _generation(view: DatasetView) -> int:
    return view.stored.generation


def _image_response(request: Request, image: CachedImage, max_age: int) -> Response:
    headers = {"Cache-Control": f"public, max-age={max_age}", "ETag": image.etag}
    match = request.headers.get("if-none-match")
    if match is not None and image.etag in [t.strip().removeprefix("W/") for t in match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(content=image.data, media_type=image.media_type, headers=headers)


@router.get(
    "/datasets/{ds}/frames/{frame_id}/image",
    response_class=Response,
    response_model=None,
    responses=_IMAGE_RESPONSES,
    summary="A frame with its boxes drawn",
)
def frame_image(
    request: Request,
    view: ViewDep,
    options: OptionsDep,
    state: StateDep,
    settings: SettingsDep,
    frame_id: Annotated[int, Path(ge=INT64_MIN, le=INT64_MAX, description="frame id (COCO image_id)")],
    models: Annotated[
        list[str] | None,
        Query(description="inference sets to draw (repeat the parameter); default: every set"),
    ] = None,
    highlight: Annotated[
        str | None,
        Query(
            pattern=r"^(label|pred):-?[0-9]{1,19}$",
            description="a box to emphasise: `label:<label id>` or `pred:<inference index of the first set>`",
        ),
    ] = None,
) -> Response:
    """The frame as JPEG: labels drawn solid, inferences at or above ``conf`` dashed, each coloured
    by its match type at the thresholds (TP green, FP orange, FN red, confusion purple)."""
    if view.dataset.frames.index_of_ids(np.array([frame_id], dtype=np.int64))[0] < 0:
        raise NotFoundError(f"dataset {view.name!r} has no frame with id {frame_id}")
    chosen = None if models is None else list(dict.fromkeys(view.model(m) for m in models))
    mark: tuple[str, int] | None = None
    if highlight is not None:
        which, _, number = highlight.partition(":")
        mark = (which, int(number))
    key = ("frame", view.name, _generation(view), frame_id, None if chosen is None else tuple(chosen), options, mark)
    render = state.render()

    image = state.images.get(
        key, lambda: render.frame_image(view, frame_id, models=chosen, options=options, highlight=mark)
    )
    return _image_response(request, image, settings.image_max_age)


@router.get(
    "/datasets/{ds}/crops/{crop_id}/image",
    response_class=Response,
    response_model=None,
    responses=_IMAGE_RESPONSES,
    summary="A padded thumbnail of one box",
)
def crop_image(
    request: Request,
    view: ViewDep,
    state: StateDep,
    settings: SettingsDep,
    crop_id: Annotated[
        int,
        Path(ge=INT64_MIN, le=INT64_MAX, description="label id (source=label) or inference index (source=pred)"),
    ],
    source: SourceQuery = "label",
    model: ModelQuery = None,
) -> Response:
    """A padded JPEG thumbnail of a label box or of an inference box of ``model``."""
    resolved: str | None = None
    if source == "label":
        if not np.any(view.dataset.labels.id == crop_id):
            raise NotFoundError(f"dataset {view.name!r} has no label with id {crop_id}")
    else:
        resolved = view.model(model)
        n = len(view.dataset.inference_set(resolved))
        if not 0 <= crop_id < n:
            raise NotFoundError(f"inference set {resolved!r} has no inference {crop_id} (it has {n})")
    key = ("crop", view.name, _generation(view), crop_id, source, resolved)
    render = state.render()

    image = state.images.get(key, lambda: render.crop_image(view, crop_id, source=source, model=resolved))
    return _image_response(request, image, settings.image_max_age)
