"""Frames of a scene: which objects pass, how they look, and the finished JPEG pixels.

Objects stand on the ground: an object whose foot is ``d`` pixels below the horizon is
``height_m * scale * d`` pixels tall, so far objects are tiny and near ones are large
(and often cut by the frame edge). They are drawn far to near with Pillow, so nearer
objects occlude farther ones; the visible fraction of each box is measured on an
integer map of which object owns each pixel (box-level occlusion). Then the frame gets
its weather (fog, rain streaks), its lighting (gain and tint) and sensor noise.

The shapes of the classes are drawn by :mod:`aquaembed.demo.sprites`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from aquaembed.demo.config import BUS, CAR, CYCLIST, PEDESTRIAN, SIGN, TRUCK, DemoConfig, SceneSpec
from aquaembed.demo.sprites import draw_bus, draw_car, draw_cyclist, draw_pedestrian, draw_sign, draw_truck, rgb
from aquaembed.demo.world import SceneWorld

__all__ = ["FrameRender", "ObjectTable", "render_frame"]

_HEIGHT_M = np.array([1.5, 3.0, 3.1, 1.75, 1.8, 0.75])
_ASPECT = np.array([[2.0, 2.6], [1.5, 2.1], [2.8, 3.6], [0.32, 0.45], [0.75, 0.95], [0.95, 1.05]])
_SIGN_CENTRE_M = 2.4  # height of the plate's centre above the foot of its pole

_CAR_COLOURS = np.array(
    [(190, 30, 35), (35, 65, 170), (30, 30, 35), (165, 168, 175), (235, 235, 232), (30, 105, 60), (120, 20, 30)]
)
_TRUCK_CAB = np.array([(225, 120, 25), (40, 90, 160), (200, 35, 35), (60, 60, 60)])
_TRUCK_CARGO = np.array([(238, 236, 225), (130, 95, 60), (95, 110, 85), (205, 205, 195)])
_BUS_COLOURS = np.array([(240, 190, 20), (40, 140, 75), (205, 45, 45), (30, 110, 190)])
_TROUSERS = np.array([(40, 45, 70), (30, 30, 30), (150, 130, 100), (70, 70, 80)])
_SKIN = np.array([(240, 200, 170), (200, 150, 110), (140, 95, 60), (90, 60, 40)])
_BIKES = np.array([(30, 30, 30), (180, 30, 30), (30, 60, 160)])


@dataclass(frozen=True, eq=False)
class ObjectTable:
    """The objects of one frame, in drawing order (far to near), as parallel columns.

    Attributes
    ----------
    cls : array of int64, shape (n,)
        Class index 0..5 (car, truck, bus, pedestrian, cyclist, traffic sign).
    box : array of float64, shape (n, 4)
        Full (unclipped) box ``[x1, y1, x2, y2]`` in frame pixels.
    clipped : array of float64, shape (n, 4)
        The box clipped to the frame: what a labeller would draw.
    visible : array of float64, shape (n,)
        Fraction of the clipped box not covered by nearer objects.
    inside : array of float64, shape (n,)
        Fraction of the full box inside the frame (1 = not cut by the edge).
    fog : array of float64, shape (n,)
        Fog density at the object's depth, in [0, 1).
    """

    cls: np.ndarray
    box: np.ndarray
    clipped: np.ndarray
    visible: np.ndarray
    inside: np.ndarray
    fog: np.ndarray


@dataclass(frozen=True, eq=False)
class FrameRender:
    """A rendered frame and what is in it."""

    jpeg: bytes
    objects: ObjectTable
    poster: np.ndarray | None  # frame box of the poster's person, or None
    poster_visible: float  # its visible fraction (0 when absent)
    darkness: float  # 0 (bright day) .. about 1.3 (dark night)
    offset: tuple[int, int]  # camera offset (dx, dy) in pixels
    gain: float  # lighting gain of the frame


# --------------------------------------------------------------------------- sampling


@lru_cache(maxsize=4)
def _noise_bank(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(424242).standard_normal((height + 32, width + 32, 3)).astype(np.float32)


def _vivid(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random saturated colours, shape (n, 3)."""
    hue = rng.uniform(0, 6, n)
    k = hue.astype(int) % 6
    f = hue - np.floor(hue)
    hi, lo = rng.uniform(190, 245, n), rng.uniform(20, 70, n)
    mid_up, mid_dn = lo + (hi - lo) * f, hi - (hi - lo) * f
    table = np.stack(
        [
            np.stack([hi, mid_up, lo], 1),
            np.stack([mid_dn, hi, lo], 1),
            np.stack([lo, hi, mid_up], 1),
            np.stack([lo, mid_dn, hi], 1),
            np.stack([mid_up, lo, hi], 1),
            np.stack([hi, lo, mid_dn], 1),
        ],
        0,
    )
    return table[k, np.arange(n)]


def _sample_feet(
    rng: np.random.Generator,
    world: SceneWorld,
    mask: np.ndarray,
    n: int,
    horizon: float,
    off: tuple[int, int],
    cfg: DemoConfig,
) -> np.ndarray:
    """Up to n ground points (frame x, frame foot row, depth) on ``mask``: shape (k, 3)."""
    if n == 0:
        return np.zeros((0, 3))
    m = 40 * n
    d_max = cfg.height + 40 - horizon
    d = np.exp(rng.uniform(np.log(7.0), np.log(d_max), m))
    x = rng.uniform(-0.15 * cfg.width, 1.15 * cfg.width, m)
    y = horizon + d
    wy = np.clip((y + cfg.jitter + off[1]).astype(np.int64), 0, mask.shape[0] - 1)
    wx = np.clip((x + cfg.jitter + off[0]).astype(np.int64), 0, mask.shape[1] - 1)
    ok = np.flatnonzero(mask[wy, wx])[:n]
    return np.stack([x[ok], y[ok], d[ok]], axis=1)


def _sample_objects(
    rng: np.random.Generator, world: SceneWorld, scene: SceneSpec, horizon: float, off: tuple[int, int], cfg: DemoConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return cls (n,), box (n, 4), foot row (n,), style (n, 12) colours, attrs (n, 2) facing/kind."""
    counts = rng.poisson(scene.traffic[:5])
    cls_l, feet_l = [], []
    for c in range(5):
        n = int(counts[c])
        if n == 0:
            continue
        if c <= BUS:
            feet = _sample_feet(rng, world, world.road, n, horizon, off, cfg)
        else:
            on_road = rng.random(n) < (0.2 if c == PEDESTRIAN else 0.6)
            feet = np.concatenate(
                [
                    _sample_feet(rng, world, world.road, int(on_road.sum()), horizon, off, cfg),
                    _sample_feet(rng, world, world.walk, int((~on_road).sum()), horizon, off, cfg),
                ]
            )
        cls_l.append(np.full(feet.shape[0], c))
        feet_l.append(feet)
    cls = np.concatenate(cls_l).astype(np.int64) if cls_l else np.zeros(0, np.int64)
    feet = np.concatenate(feet_l) if feet_l else np.zeros((0, 3))
    n = cls.size
    h = _HEIGHT_M[cls] * world.scale * feet[:, 2] * rng.uniform(0.9, 1.1, n)
    w = h * rng.uniform(_ASPECT[cls, 0], _ASPECT[cls, 1])
    box = np.stack([feet[:, 0] - w / 2, feet[:, 1] - h, feet[:, 0] + w / 2, feet[:, 1]], axis=1)
    foot = feet[:, 1].copy()
    # Fixed signs: world positions moved by the camera offset.
    if world.signs.shape[0]:
        sx = world.signs[:, 0] - cfg.jitter - off[0]
        sy = world.signs[:, 1] - cfg.jitter - off[1]
        depth = world.signs[:, 1] - world.horizon
        side = _HEIGHT_M[SIGN] * world.scale * depth
        centre = sy - _SIGN_CENTRE_M * world.scale * depth
        sbox = np.stack([sx - side / 2, centre - side / 2, sx + side / 2, centre + side / 2], axis=1)
        cls = np.concatenate([cls, np.full(sx.size, SIGN)])
        box = np.concatenate([box, sbox])
        foot = np.concatenate([foot, sy])
    n = cls.size
    style = np.zeros((n, 12))
    pick = lambda table: table[rng.integers(len(table), size=n)]  # noqa: E731
    vivid = _vivid(rng, n)
    col = cls[:, None]
    style[:, 0:3] = np.select(
        [col == CAR, col == TRUCK, col == BUS], [pick(_CAR_COLOURS), pick(_TRUCK_CAB), pick(_BUS_COLOURS)], vivid
    )
    style[:, 3:6] = np.where(col == TRUCK, pick(_TRUCK_CARGO), np.where(col == CYCLIST, pick(_BIKES), pick(_TROUSERS)))
    style[:, 6:9] = pick(_SKIN)
    style[:, 9:12] = _vivid(rng, n)
    style[:, :6] = np.clip(style[:, :6] + rng.uniform(-12, 12, (n, 6)), 0, 255)
    attrs = np.stack([np.where(rng.random(n) < 0.5, 1, -1), rng.integers(0, 4, n)], axis=1)
    if world.signs.shape[0]:
        attrs[-world.signs.shape[0] :, 1] = world.signs[:, 2]
    order = np.argsort(foot, kind="stable")
    return cls[order], box[order], foot[order], style[order], attrs[order]


# --------------------------------------------------------------------------- frames


def render_frame(cfg: DemoConfig, scene: SceneSpec, world: SceneWorld, rng: np.random.Generator) -> FrameRender:
    """Render one frame of a scene.

    Parameters
    ----------
    cfg : DemoConfig
    scene : SceneSpec
    world : SceneWorld
        From :func:`aquaembed.demo.scenes.render_world` for this scene.
    rng : numpy Generator
        The frame's own generator (the frame is a function of it alone).

    Returns
    -------
    FrameRender
    """
    W, H, J = cfg.width, cfg.height, cfg.jitter
    night = scene.time_of_day == "night"
    dx, dy = (int(v) for v in rng.integers(-J, J + 1, 2))
    horizon = world.horizon - J - dy
    cls, box, foot, style, attrs = _sample_objects(rng, world, scene, horizon, (dx, dy), cfg)
    canvas = Image.fromarray(world.background[J + dy : J + dy + H, J + dx : J + dx + W].copy(), "RGB")
    draw = ImageDraw.Draw(canvas)
    light = 0.35 if night else 1.0
    owner = np.full((H, W), -1, dtype=np.int32)
    clipped = box.copy()
    clipped[:, [0, 2]] = np.clip(box[:, [0, 2]], 0, W)
    clipped[:, [1, 3]] = np.clip(box[:, [1, 3]], 0, H)
    ibox = np.concatenate([np.floor(clipped[:, :2]), np.ceil(clipped[:, 2:])], axis=1).astype(np.int64)
    for i in range(cls.size):
        c, b, facing = int(cls[i]), box[i], int(attrs[i, 0])
        col = [rgb(style[i, k : k + 3]) for k in (0, 3, 6, 9)]
        if c == CAR:
            draw_car(draw, b, col[0], facing, night)
        elif c == TRUCK:
            draw_truck(draw, b, col[0], col[1], facing, night)
        elif c == BUS:
            draw_bus(draw, b, col[0], facing, night)
        elif c == PEDESTRIAN:
            draw_pedestrian(draw, b, shirt=col[0], trousers=col[1], skin=col[2], facing=facing, light=light)
        elif c == CYCLIST:
            draw_cyclist(draw, b, shirt=col[0], helmet=col[3], bike=col[1], skin=col[2], facing=facing, light=light)
        else:
            draw_sign(draw, b, int(attrs[i, 1]), float(foot[i]), light)
        x1, y1, x2, y2 = ibox[i]
        owner[y1:y2, x1:x2] = i
    area_px = np.maximum((ibox[:, 2] - ibox[:, 0]) * (ibox[:, 3] - ibox[:, 1]), 0)
    seen = np.bincount(owner.ravel() + 1, minlength=cls.size + 1)[1:]
    visible = np.where(area_px > 0, seen / np.maximum(area_px, 1), 0.0)
    full = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    inside = ((clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])) / np.maximum(full, 1e-9)

    poster, poster_visible = None, 0.0
    if world.poster is not None:
        poster = world.poster - np.array([J + dx, J + dy, J + dx, J + dy], dtype=np.float64)
        px1, py1, px2, py2 = np.clip(np.round(poster).astype(np.int64), 0, [W, H, W, H])
        region = owner[py1:py2, px1:px2]
        poster_visible = float((region == -1).mean()) if region.size else 0.0

    if scene.weather == "rain":
        n = 140
        rx, ry = rng.uniform(0, W, n), rng.uniform(0, H, n)
        length = rng.uniform(8, 20, n)
        streak = (175, 180, 190) if not night else (80, 82, 90)
        for x, y, ln in zip(rx.tolist(), ry.tolist(), length.tolist()):
            draw.line((x, y, x - 0.25 * ln, y + ln), fill=streak, width=1)

    arr: np.ndarray = np.asarray(canvas, dtype=np.float32)
    rows = np.arange(H, dtype=np.float32)
    fog_rows = np.where(rows <= horizon, world.fog, world.fog * np.exp(-(rows - horizon) / (0.45 * (H - horizon))))
    if world.fog > 0:
        fog_colour = np.array([200.0, 200.0, 205.0] if not night else [48.0, 48.0, 56.0], dtype=np.float32)
        f = fog_rows[:, None, None]
        arr = arr * (1.0 - f) + fog_colour * f
    gain = float(rng.uniform(0.82, 1.18))
    tint = 1.0 + rng.normal(0.0, 0.03, 3)
    ox, oy = (int(v) for v in rng.integers(0, 32, 2))
    noise = _noise_bank(H, W)[oy : oy + H, ox : ox + W]
    arr = arr * (gain * tint).astype(np.float32) + noise * np.float32(world.noise_sigma)
    out = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=cfg.jpeg_quality, subsampling=2, optimize=False)
    fog_obj = np.interp(np.clip(foot, 0, H - 1), rows, fog_rows) if world.fog > 0 else np.zeros(cls.size)
    return FrameRender(
        jpeg=buf.getvalue(),
        objects=ObjectTable(cls=cls, box=box, clipped=clipped, visible=visible, inside=inside, fog=fog_obj),
        poster=poster,
        poster_visible=poster_visible,
        darkness=float(world.darkness * (1.0 + 0.3 * (1.0 - gain) / 0.18)),
        offset=(dx, dy),
        gain=gain,
    )
