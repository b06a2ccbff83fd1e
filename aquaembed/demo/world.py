"""A scene's world: its background drawn once, and where objects may stand.

A *scene* is a place seen by one camera: a sky, a row of buildings (or trees) on the
horizon, a ground, a road layout, and at night street lamps and lit windows. Its
background is drawn once (slightly larger than a frame, so that camera jitter can move
the view) together with the masks where vehicles (the road) and people (the walkable
ground) may stand, the perspective scale, the fixed traffic signs and, in one scene,
a poster of a person on a facade.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from aquaembed.demo.config import DemoConfig, SceneSpec
from aquaembed.demo.sprites import draw_pedestrian

__all__ = ["SceneWorld", "render_world"]

@dataclass(frozen=True, eq=False)
class SceneWorld:
    """A scene's background and geometry, in *world* pixels.

    The world is the frame grown by ``jitter`` on every side; a frame with camera
    offset ``(dx, dy)`` (each in ``[-jitter, jitter]``) shows world pixels
    ``[jitter + dx, jitter + dx + width) x [jitter + dy, jitter + dy + height)``.

    Attributes
    ----------
    background : array of uint8, shape (H + 2 jitter, W + 2 jitter, 3)
    road : array of bool, same height and width
        Where vehicles drive.
    walk : array of bool
        Where people walk (ground that is not road).
    horizon : float
        World row of the horizon (the ground starts below it).
    scale : float
        Pixels per metre of object height per pixel of depth below the horizon: an
        object of height ``h`` metres standing on world row ``y`` is
        ``h * scale * (y - horizon)`` pixels tall.
    darkness : float
        0 by day, about 1 at night.
    fog : float
        Fog density in [0, 1) (0 without fog).
    signs : array of float64, shape (k, 4)
        Fixed traffic signs: world x of the pole, world row of its foot, sign type
        (0..3), colour variant.
    poster : array of float64, shape (4,) or None
        World box ``[x1, y1, x2, y2]`` of the person printed on the poster.
    noise_sigma : float
        Standard deviation of the sensor noise, in 8-bit levels.
    """

    background: np.ndarray
    road: np.ndarray
    walk: np.ndarray
    horizon: float
    scale: float
    darkness: float
    fog: float
    signs: np.ndarray
    poster: np.ndarray | None
    noise_sigma: float


_SKY = {
    ("day", "clear"): ((70, 125, 205), (185, 212, 236)),
    ("day", "overcast"): ((135, 140, 150), (196, 198, 202)),
    ("day", "rain"): ((88, 92, 102), (150, 154, 160)),
    ("day", "fog"): ((190, 192, 196), (214, 215, 218)),
    ("night", "clear"): ((4, 6, 18), (28, 32, 58)),
    ("night", "overcast"): ((12, 12, 18), (40, 38, 44)),
    ("night", "rain"): ((10, 11, 16), (34, 36, 44)),
    ("night", "fog"): ((30, 30, 36), (55, 55, 62)),
}
_GROUND = {
    "downtown": (128, 126, 122),
    "suburb": (96, 140, 72),
    "industrial": (120, 112, 96),
    "park": (80, 150, 70),
    "highway": (110, 132, 80),
    "market": (168, 150, 124),
}
_HEIGHTS = {
    "downtown": (70, 150),
    "suburb": (28, 60),
    "industrial": (35, 80),
    "park": (20, 40),
    "highway": (12, 40),
    "market": (55, 110),
}
_FACADES = {
    "downtown": [(150, 150, 160), (120, 110, 100), (170, 160, 140), (90, 100, 115), (185, 180, 170)],
    "suburb": [(210, 190, 160), (190, 120, 90), (230, 225, 210), (170, 180, 150)],
    "industrial": [(130, 130, 125), (150, 120, 90), (100, 110, 120), (170, 165, 150)],
    "park": [(150, 140, 120)],
    "highway": [(140, 140, 140), (120, 125, 110)],
    "market": [(200, 90, 70), (230, 190, 80), (90, 150, 170), (180, 110, 160), (240, 230, 200)],
}


def _jitter_colour(rng: np.random.Generator, colour: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    c = np.clip(np.asarray(colour, dtype=np.float64) + rng.uniform(-amount, amount, 3), 0, 255)
    return tuple(int(v) for v in c)  # type: ignore[return-value]


def _dim(colour: tuple[int, ...], factor: float) -> tuple[int, int, int]:
    return tuple(int(min(255, v * factor)) for v in colour[:3])  # type: ignore[return-value]


def render_world(cfg: DemoConfig, scene: SceneSpec, seed: int) -> SceneWorld:
    """Draw a scene's background, masks and fixed objects.

    Parameters
    ----------
    cfg : DemoConfig
    scene : SceneSpec
    seed : int
        The build seed; the scene's look is a function of it and the scene index.

    Returns
    -------
    SceneWorld
    """
    rng = np.random.default_rng([seed, 7919, scene.index])
    j = cfg.jitter
    ww, wh = cfg.width + 2 * j, cfg.height + 2 * j
    night = scene.time_of_day == "night"
    horizon = float(j + rng.uniform(0.30, 0.42) * cfg.height)
    hz = int(round(horizon))
    scale = float(rng.uniform(0.24, 0.32))

    # Sky: a vertical gradient, tinted per scene.
    top, bottom = _SKY[(scene.time_of_day, scene.weather)]
    top = _jitter_colour(rng, top, 10 if not night else 4)
    bottom = _jitter_colour(rng, bottom, 10 if not night else 4)
    t = np.linspace(0.0, 1.0, hz)[:, None]
    arr = np.zeros((wh, ww, 3), dtype=np.float32)
    arr[:hz] = (np.asarray(top) * (1 - t) + np.asarray(bottom) * t)[:, None, :]
    ground = np.asarray(_jitter_colour(rng, _GROUND[scene.style], 14), dtype=np.float32)
    if night:
        ground = ground * 0.22
    elif scene.weather in ("rain", "overcast"):
        ground = ground * 0.85
    depth = np.linspace(0.0, 1.0, wh - hz)[:, None]
    arr[hz:] = (ground * (0.8 + 0.25 * depth))[:, None, :]
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)

    # Buildings (or trees) standing on the horizon.
    facade_factor = 0.28 if night else (0.85 if scene.weather in ("rain", "overcast") else 1.0)
    heights = _HEIGHTS[scene.style]
    x = -int(rng.integers(0, 30))
    facades: list[tuple[int, int, int, int]] = []
    while x < ww:
        bw = int(rng.integers(40, 130 if scene.style != "industrial" else 200))
        bh = int(rng.integers(*heights))
        palette = _FACADES[scene.style]
        colour = _dim(_jitter_colour(rng, palette[int(rng.integers(len(palette)))], 12), facade_factor)
        y0 = max(hz - bh, 2)
        if scene.style == "park" and rng.random() < 0.7:
            # A tree: a trunk and a round crown.
            cx = x + bw // 2
            crown = _dim(_jitter_colour(rng, (50, 110, 50), 20), facade_factor)
            draw.rectangle((cx - 4, hz - bh // 2, cx + 4, hz), fill=_dim((90, 60, 40), facade_factor))
            draw.ellipse((x + 4, hz - bh - 30, x + bw - 4, hz - bh // 3), fill=crown)
        else:
            draw.rectangle((x, y0, x + bw, hz), fill=colour)
            if scene.style == "suburb":
                roof = [(x - 4, y0), (x + bw + 4, y0), (x + bw // 2, y0 - bw // 3)]
                draw.polygon(roof, fill=_dim((120, 60, 50), facade_factor))
            if scene.style == "industrial" and rng.random() < 0.4:
                draw.rectangle((x + bw // 4, y0 - 40, x + bw // 4 + 10, y0), fill=_dim((110, 100, 95), facade_factor))
            if scene.style == "market":
                awnings = [(200, 40, 40), (40, 120, 60), (230, 200, 40)]
                awning = _dim(_jitter_colour(rng, awnings[int(rng.integers(3))], 20), facade_factor)
                draw.rectangle((x + 2, hz - 26, x + bw - 2, hz - 18), fill=awning)
            facades.append((x, y0, x + bw, hz))
            # Windows: a grid; at night some are lit.
            win_w, win_h = int(rng.integers(6, 11)), int(rng.integers(7, 12))
            step_x, step_y = win_w + int(rng.integers(5, 10)), win_h + int(rng.integers(6, 10))
            day_win = _dim(_jitter_colour(rng, (150, 175, 200), 20), facade_factor)
            for wy in range(y0 + 6, hz - win_h - (30 if scene.style == "market" else 4), step_y):
                for wx in range(x + 5, x + bw - win_w - 3, step_x):
                    if night:
                        fill = (235, 200, 120) if rng.random() < 0.35 else (25, 25, 32)
                    else:
                        fill = day_win
                    draw.rectangle((wx, wy, wx + win_w, wy + win_h), fill=fill)
        x += bw + int(rng.integers(0, 20))

    # The road.
    road_img = Image.new("L", (ww, wh), 0)
    road_draw = ImageDraw.Draw(road_img)
    vx = float(rng.uniform(0.35, 0.65) * ww)
    asphalt = _jitter_colour(rng, (72, 72, 78), 8)
    if night:
        asphalt = _dim(asphalt, 0.35)
    lane = (200, 200, 190) if not night else (90, 90, 85)
    polys: list[list[tuple[float, float]]] = []
    dashes: list[tuple[tuple[float, float], tuple[float, float]]] = []
    if scene.layout in ("straight", "highway", "intersection"):
        half = float(rng.uniform(230, 330) if scene.layout != "highway" else rng.uniform(420, 560))
        polys.append([(vx - 4, hz), (vx + 4, hz), (vx + half, wh), (vx - half, wh)])
        lanes = (0.0,) if scene.layout != "highway" else (-1 / 3, 1 / 3)
        for f in lanes:
            for k in range(14):
                a, b = 1.12**k * 6, 1.12**k * 6 * 1.06
                for sgn_a, sgn_b in ((a, b),):
                    ya, yb = hz + sgn_a, hz + sgn_b + 2
                    if ya < wh:
                        spread = f * half / (wh - hz)
                        dashes.append(((vx + spread * (ya - hz), ya), (vx + spread * (yb - hz), yb)))
    if scene.layout in ("cross", "intersection"):
        ya = hz + float(rng.uniform(0.25, 0.4)) * (wh - hz)
        yb = hz + float(rng.uniform(0.7, 0.9)) * (wh - hz)
        polys.append([(0, ya), (ww, ya), (ww, yb), (0, yb)])
        ym = (ya + yb) / 2
        for k in range(0, ww, 60):
            dashes.append(((k, ym), (k + 30, ym)))
    for poly in polys:
        draw.polygon(poly, fill=asphalt)
        road_draw.polygon(poly, fill=255)
    for (xa, ya), (xb, yb) in dashes:
        width = max(1, int(round((ya - hz) / 60)))
        draw.line((xa, ya, xb, yb), fill=lane, width=width)
    road = np.asarray(road_img) > 0
    rows = np.arange(wh)[:, None]
    below = np.broadcast_to(rows > hz + 2, (wh, ww))
    walk = below & ~road
    road = road & below

    # Fixed traffic signs: beside the road, at various depths.
    n_signs = int(scene.traffic[5])
    signs = np.zeros((n_signs, 4))
    for k in range(n_signs):
        for _ in range(200):
            d = float(np.exp(rng.uniform(np.log(25.0), np.log(wh - hz - 5))))
            sx = float(rng.uniform(0.05, 0.95) * ww)
            sy = hz + d
            if walk[int(min(sy, wh - 1)), int(sx)]:
                break
        signs[k] = (sx, sy, int(rng.integers(4)), int(rng.integers(3)))

    # Night: street lamps and their pools of light.
    lamps: list[tuple[float, float]] = []
    if night:
        for _ in range(int(rng.integers(3, 6))):
            lamps.append((float(rng.uniform(0, ww)), float(hz + rng.uniform(0.3, 0.9) * (wh - hz))))
        for lx, ly in lamps:
            h_px = 5.0 * scale * (ly - hz)
            draw.line((lx, ly, lx, ly - h_px), fill=(60, 60, 60), width=max(1, int(h_px / 40)))
            r = max(2.0, h_px / 25)
            draw.ellipse((lx - r, ly - h_px - r, lx + r, ly - h_px + r), fill=(255, 240, 190))

    # The poster of a person on a facade (the recurring false positive).
    poster = None
    if scene.index == cfg.recurring_fp_scene:
        fx0, fy0, fx1, fy1 = max(facades, key=lambda f: (min(f[2], ww - 40) - max(f[0], 40)) * (f[3] - f[1]))
        ph = min(78.0, fy1 - fy0 - 30.0)
        pw = ph * 0.62
        px0 = float(np.clip((fx0 + fx1) / 2 - pw / 2, 40, ww - 40 - pw))
        py0 = float(fy1 - 30 - ph)
        draw.rectangle((px0 - 3, py0 - 3, px0 + pw + 3, py0 + ph + 3), fill=(240, 240, 235))
        draw.rectangle((px0, py0, px0 + pw, py0 + ph), fill=(70, 170, 200))
        person = np.array([px0 + pw * 0.3, py0 + ph * 0.06, px0 + pw * 0.7, py0 + ph * 0.97])
        draw_pedestrian(draw, person, shirt=(220, 60, 90), trousers=(40, 40, 60), skin=(230, 190, 160), facing=1)
        poster = person

    arr = np.asarray(img, dtype=np.float32).copy()
    if lamps:
        yy, xx = np.mgrid[0:wh, 0:ww].astype(np.float32)
        glow = np.zeros((wh, ww), dtype=np.float32)
        for lx, ly in lamps:
            sx = 0.35 * scale * (ly - hz) * 5.0
            sy = sx * 0.35
            glow += np.exp(-(((xx - lx) / sx) ** 2 + ((yy - ly) / sy) ** 2))
        arr += glow[..., None] * np.array([95.0, 80.0, 50.0], dtype=np.float32)
    background = np.clip(arr, 0, 255).astype(np.uint8)
    return SceneWorld(
        background=background,
        road=road,
        walk=walk,
        horizon=horizon,
        scale=scale,
        darkness=1.0 if night else 0.0,
        fog=0.55 if scene.weather == "fog" else 0.0,
        signs=signs,
        poster=poster,
        noise_sigma=6.0 if night else (4.0 if scene.weather == "rain" else 3.0),
    )
