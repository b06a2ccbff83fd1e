"""Picture routes on the Dash server: frames and crops as JPEG, cached.

Paths carry integers only (dataset and inference-set *positions*, frame ids, label ids
or inference indices), so no file name ever comes from the browser; the pictures are
drawn by :mod:`aquaembed.render`.

* ``{base}_thumb/frame/<ds>/<frame id>.jpg?m=<model>&c=<conf>&i=<iou>&s=<size>[&g=1&a=1&w=1][&hs=0|1&hi=<id>]``
  (``g``/``a``/``w``: greedy, class-aware, crowd matching; ``hs``/``hi``: highlight a
  label id or an inference index)
* ``{base}_thumb/crop/<ds>/<0 label | 1 inference>/<id>.jpg?m=<model>&s=<size>``
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, Response, abort, request

from aquaembed.dashboard.context import Context
from aquaembed.errors import AquaembedError
from aquaembed.matching import MatchOptions
from aquaembed.render import crop_image, frame_image

__all__ = ["register"]


def _float_arg(name: str, default: float) -> float:
    value = request.args.get(name, default, type=float)
    if value is None or not 0.0 <= value <= 1.0:
        abort(400, f"{name} must be a number in [0, 1]")
    return float(value)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name, default, type=int)
    if value is None or not low <= value <= high:
        abort(400, f"{name} must be an integer in [{low}, {high}]")
    return int(value)


def register(server: Flask, ctx: Context) -> None:
    """Add the picture routes to the Dash app's Flask server."""

    def resolve(ds: int, m: int) -> tuple[str, str]:
        names = ctx.names()
        if not 0 <= ds < len(names):
            abort(404, "unknown dataset")
        models = ctx.view(names[ds]).models()
        if not 0 <= m < len(models):
            abort(404, "unknown inference set")
        return names[ds], models[m]

    @lru_cache(maxsize=512)
    def frame_jpeg(name: str, generation: int, model: str, fid: int, options: MatchOptions, hl: tuple[str, int] | None, size: int) -> bytes:
        return frame_image(ctx.view(name), fid, models=[model], options=options, highlight=hl, max_size=size)

    @lru_cache(maxsize=4096)
    def crop_jpeg(name: str, generation: int, model: str, source: str, cid: int, size: int) -> bytes:
        return crop_image(ctx.view(name), cid, source=source, model=model, size=size)

    def send(data: bytes) -> Response:
        resp = Response(data, mimetype="image/jpeg")
        resp.headers["Cache-Control"] = "public, max-age=600"
        return resp

    @server.route(f"{ctx.base}_thumb/frame/<int:ds>/<int:fid>.jpg", endpoint="aquaembed_thumb_frame")
    def frame_route(ds: int, fid: int) -> Response:
        name, model = resolve(ds, _int_arg("m", 0, 0, 10_000))
        hs = request.args.get("hs", None, type=int)
        hl = None
        if hs is not None:
            hl = ("label" if hs == 0 else "pred", _int_arg("hi", 0, 0, 2**62))
        try:
            options = MatchOptions(conf=_float_arg("c", 0.5), iou=_float_arg("i", 0.5),
                                   mode="greedy" if _int_arg("g", 0, 0, 1) else "optimal",
                                   class_aware=bool(_int_arg("a", 0, 0, 1)), crowd=bool(_int_arg("w", 0, 0, 1)))
            data = frame_jpeg(name, ctx.view(name).stored.generation, model, fid, options, hl, _int_arg("s", 480, 64, 1600))
        except AquaembedError as exc:
            abort(404, str(exc))
        return send(data)

    @server.route(f"{ctx.base}_thumb/crop/<int:ds>/<int:src>/<int:cid>.jpg", endpoint="aquaembed_thumb_crop")
    def crop_route(ds: int, src: int, cid: int) -> Response:
        name, model = resolve(ds, _int_arg("m", 0, 0, 10_000))
        if src not in (0, 1):
            abort(404, "source must be 0 (label) or 1 (inference)")
        try:
            data = crop_jpeg(name, ctx.view(name).stored.generation, model, "label" if src == 0 else "pred", cid, _int_arg("s", 128, 32, 512))
        except AquaembedError as exc:
            abort(404, str(exc))
        return send(data)
