"""Pictures of frames and crops with their boxes, for the API and the dashboard.

Labels are drawn solid, inferences dashed; the colour says what the matching engine
made of the box at the given thresholds (TP green, FP orange, FN red, confusion
purple). Images are read only from inside the dataset's image root: a file name that
resolves outside it (``..``, an absolute path, a symlink leaving the root) is refused.
When a dataset has no images, or a file is missing, the boxes are drawn on a neutral
canvas of the frame's size with a note, so geometry stays inspectable.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image, ImageDraw

from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.matching import CONFUSION, FN, FP, IGNORED, TP, MatchOptions
from aquaembed.metrics import BELOW_THRESHOLD, inference_types, label_types

if TYPE_CHECKING:  # pragma: no cover
    from aquaembed.explore import DatasetView

__all__ = ["TYPE_COLOURS", "frame_image", "crop_image", "issue_image", "resolve_image"]

TYPE_COLOURS: dict[int, tuple[int, int, int]] = {
    TP: (46, 204, 64),
    FP: (255, 133, 27),
    FN: (255, 65, 54),
    CONFUSION: (177, 13, 201),
    IGNORED: (170, 170, 170),
    BELOW_THRESHOLD: (120, 120, 120),
}
"""RGB colour of each confusion type (shared with the dashboard's legend)."""


def resolve_image(root: str | Path | None, file_name: str) -> Path | None:
    """The path of ``file_name`` inside ``root``, or None when absent or outside the root.

    Parameters
    ----------
    root : path or None
        The dataset's image root.
    file_name : str
        The frame's file name, relative to the root.
    """
    if root is None or not file_name:
        return None
    base = Path(root).resolve()
    if Path(file_name).is_absolute():
        return None
    candidate = (base / file_name).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


def _load(view: DatasetView, row: int) -> tuple[Image.Image, bool]:
    frames = view.dataset.frames
    path = resolve_image(view.image_root, str(frames.file_name[row]))
    if path is not None:
        try:
            with Image.open(path) as im:
                return im.convert("RGB"), True
        except OSError:
            pass
    w = frames.width[row]
    h = frames.height[row]
    w = int(w) if np.isfinite(w) and w > 0 else 640
    h = int(h) if np.isfinite(h) and h > 0 else 480
    return Image.new("RGB", (w, h), (58, 58, 58)), False


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: list[float], colour: tuple[int, int, int], width: int) -> None:
    x1, y1, x2, y2 = box
    dash = max(4, 3 * width)
    for (ax, ay, bx, by) in ((x1, y1, x2, y1), (x2, y1, x2, y2), (x2, y2, x1, y2), (x1, y2, x1, y1)):
        length = float(np.hypot(bx - ax, by - ay))
        steps = max(1, int(length // dash))
        for i in range(0, steps, 2):
            t0, t1 = i / steps, min(1.0, (i + 1) / steps)
            draw.line([(ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)], fill=colour, width=width)


def _jpeg(im: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def frame_image(
    view: DatasetView,
    frame_id: int,
    *,
    models: list[str] | None = None,
    options: MatchOptions | None = None,
    highlight: tuple[Literal["label", "pred"], int] | None = None,
    max_size: int = 960,
) -> bytes:
    """The frame as a JPEG with its labels (solid) and inferences (dashed).

    Parameters
    ----------
    view : DatasetView
    frame_id : int
        External frame id.
    models : list of str, optional
        Inference sets to draw (default: all). Their boxes are coloured by their match
        type at the matching ``options`` (default ``MatchOptions()``); labels by their type for the first set.
    highlight : ("label", id) or ("pred", index), optional
        A box to emphasise (a label id, or an inference index of the first set).
    max_size : int
        Longest side of the returned picture in pixels.
    """
    scope = getattr(view, "frame_scope", None)  # a sharded dataset: draw from the frame's shard
    if scope is not None:
        view = scope(frame_id)
    ds = view.dataset
    row = int(ds.frames.index_of_ids(np.array([frame_id]))[0])
    if row < 0:
        raise NotFoundError(f"dataset {view.name!r} has no frame {frame_id}")
    models = view.models() if models is None else [view.model(m) for m in models]
    im, real = _load(view, row)
    scale = min(1.0, max_size / max(im.size))
    if scale < 1.0:
        im = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))))
    draw = ImageDraw.Draw(im)
    lw = max(2, int(round(max(im.size) / 320)))
    lab_rows = np.flatnonzero(ds.labels.frame == row)
    options = MatchOptions() if options is None else options
    l_types = label_types(view.table(models[0], options))[0] if models else None
    for i, model in enumerate(models):
        inf = ds.inference_set(model)
        p_types, _ = inference_types(view.table(model, options))
        for p in np.flatnonzero((inf.frame == row) & (inf.score >= options.conf)).tolist():
            colour = TYPE_COLOURS[int(p_types[p])]
            box = (inf.box[p] * scale).tolist()
            emphasised = i == 0 and highlight == ("pred", p)
            _dashed_rectangle(draw, box, (255, 255, 255) if emphasised else colour, lw + (2 if emphasised else 0))
            draw.text((box[0] + 2, box[3] + 1), f"{ds.classes.names[inf.cls[p]]} {inf.score[p]:.2f}", fill=colour)
    for li in lab_rows.tolist():
        colour = TYPE_COLOURS[int(l_types[li])] if l_types is not None else (230, 230, 230)
        box = (ds.labels.box[li] * scale).tolist()
        emphasised = highlight == ("label", int(ds.labels.id[li]))
        draw.rectangle(box, outline=(255, 255, 255) if emphasised else colour, width=lw + (2 if emphasised else 0))
        draw.text((box[0] + 2, box[1] + 1), ds.classes.names[ds.labels.cls[li]], fill=colour)
    if not real:
        draw.text((8, 8), "image not available: boxes only", fill=(220, 220, 220))
    return _jpeg(im)


def crop_image(
    view: DatasetView,
    crop_id: int,
    *,
    source: Literal["label", "pred"] = "label",
    model: str | None = None,
    pad: float = 0.15,
    size: int = 160,
) -> bytes:
    """A padded thumbnail (JPEG) of one label or inference box.

    Parameters
    ----------
    crop_id : int
        A label id (``source="label"``) or an inference index (``source="pred"``).
    model : str, optional
        The inference set, for ``source="pred"``.
    pad : float
        Margin around the box, as a fraction of its larger side.
    size : int
        Longest side of the thumbnail in pixels.
    """
    scope = getattr(view, "crop_scope", None)  # a sharded dataset: the crop's shard
    if scope is not None:
        view, crop_id = scope(crop_id, source, model)
    ds = view.dataset
    if source == "label":
        pos = np.flatnonzero(ds.labels.id == crop_id)
        if pos.size == 0:
            raise NotFoundError(f"dataset {view.name!r} has no label {crop_id}")
        row, box = int(ds.labels.frame[pos[0]]), ds.labels.box[pos[0]]
    elif source == "pred":
        inf = ds.inference_set(view.model(model))
        if not 0 <= crop_id < len(inf):
            raise NotFoundError(f"inference set {inf.name!r} has no inference {crop_id}")
        row, box = int(inf.frame[crop_id]), inf.box[crop_id]
    else:
        raise ParameterError(f"source must be 'label' or 'pred', got {source!r}")
    im, _ = _load(view, row)
    x1, y1, x2, y2 = box.tolist()
    m = pad * max(x2 - x1, y2 - y1, 4.0)
    left, top = max(0, int(x1 - m)), max(0, int(y1 - m))
    right, bottom = min(im.width, int(np.ceil(x2 + m))), min(im.height, int(np.ceil(y2 + m)))
    if right <= left or bottom <= top:
        left, top, right, bottom = 0, 0, im.width, im.height
    crop = im.crop((left, top, right, bottom))
    draw = ImageDraw.Draw(crop)
    rect = [x1 - left, y1 - top, x2 - left, y2 - top]
    if source == "label":
        draw.rectangle(rect, outline=(255, 255, 255), width=1)
    else:
        _dashed_rectangle(draw, rect, (255, 255, 255), 1)
    crop.thumbnail((size, size))
    return _jpeg(crop)


def issue_image(
    view: DatasetView,
    frame_id: int,
    *,
    model: str | None = None,
    label_id: int | None = None,
    pred_index: int | None = None,
    suggested_box: list[float] | None = None,
    max_size: int = 720,
) -> bytes:
    """A frame with only the boxes of one label issue: the label solid (red), the
    inference dashed (orange) and a suggested box dashed (green), as a JPEG.

    Parameters
    ----------
    label_id : int, optional
        The label of the issue (COCO annotation id).
    pred_index : int, optional
        The inference of the issue (0-based position in ``model``'s results).
    suggested_box : [x, y, w, h], optional
        A box the fix would give the label, when it is not the inference's.
    """
    ds = view.dataset
    row = int(ds.frames.index_of_ids(np.array([frame_id]))[0])
    if row < 0:
        raise NotFoundError(f"dataset {view.name!r} has no frame {frame_id}")
    im, real = _load(view, row)
    scale = min(1.0, max_size / max(im.size))
    if scale < 1.0:
        im = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))))
    draw = ImageDraw.Draw(im)
    lw = max(2, round(max(im.size) / 320))
    names = ds.classes.names
    if pred_index is not None:
        inf = ds.inference_set(view.model(model))
        if not 0 <= pred_index < len(inf):
            raise NotFoundError(f"inference set {inf.name!r} has no inference {pred_index}")
        box = (inf.box[pred_index] * scale).tolist()
        _dashed_rectangle(draw, box, TYPE_COLOURS[FP], lw)
        draw.text((box[0] + 2, box[3] + 1), f"{names[inf.cls[pred_index]]} {inf.score[pred_index]:.2f}", fill=TYPE_COLOURS[FP])
    if suggested_box is not None:
        x, y, w, h = suggested_box
        _dashed_rectangle(draw, [x * scale, y * scale, (x + w) * scale, (y + h) * scale], TYPE_COLOURS[TP], max(1, lw - 1))
    if label_id is not None:
        pos = np.flatnonzero(ds.labels.id == label_id)
        if pos.size == 0:
            raise NotFoundError(f"dataset {view.name!r} has no label {label_id}")
        box = (ds.labels.box[pos[0]] * scale).tolist()
        draw.rectangle(box, outline=TYPE_COLOURS[FN], width=lw)
        draw.text((box[0] + 2, box[1] + 1), names[ds.labels.cls[pos[0]]], fill=TYPE_COLOURS[FN])
    if not real:
        draw.text((8, 8), "image not available: boxes only", fill=(220, 220, 220))
    return _jpeg(im)
