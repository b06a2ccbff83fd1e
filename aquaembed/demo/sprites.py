"""How each class looks: Pillow drawings of cars, trucks, buses, pedestrians, cyclists and
traffic signs in a box, and :func:`rgb` (a colour scaled by a lighting factor).

Class looks (distinct shapes and colour ranges)
-----------------------------------------------
* car: low body with a cabin and two wheels, aspect about 2.0-2.6, any car colour;
* truck: tall cargo box and a cab, three wheels, aspect 1.5-2.1, white/brown/olive box;
* bus: long body with a band of windows, aspect 2.8-3.6, yellow/green/red/blue;
* pedestrian: head, torso, arms, two legs, aspect 0.32-0.45;
* cyclist: rider on a two-wheel bicycle, aspect 0.75-0.95;
* traffic sign: a round, triangular, square or diamond plate on a pole (the box is the
  plate).
"""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

__all__ = ["draw_bus", "draw_car", "draw_cyclist", "draw_pedestrian", "draw_sign", "draw_truck", "rgb"]


def rgb(colour: np.ndarray | tuple[int, ...], factor: float = 1.0) -> tuple[int, int, int]:
    a = np.clip(np.asarray(colour, dtype=np.float64)[:3] * factor, 0, 255)
    return (int(a[0]), int(a[1]), int(a[2]))


def _wheel(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, light: float) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rgb((22, 22, 22)))
    if r > 3:
        draw.ellipse((cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45), fill=rgb((150, 150, 150), light))


def _mirror(points: list[tuple[float, float]], x1: float, x2: float, facing: int) -> list[tuple[float, float]]:
    if facing > 0:
        return points
    return [(x1 + x2 - x, y) for x, y in points]


def _box(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float, float, float]:
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def draw_car(draw: ImageDraw.ImageDraw, box: np.ndarray, body: tuple[int, int, int], facing: int, night: bool) -> None:
    """Draw a car (side view) filling ``box`` = [x1, y1, x2, y2]; ``facing`` is +1 (right) or -1."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    light = 0.35 if night else 1.0
    cabin = _mirror(
        [(x1 + 0.18 * w, y1 + 0.42 * h), (x1 + 0.32 * w, y1), (x1 + 0.68 * w, y1), (x1 + 0.84 * w, y1 + 0.42 * h)],
        x1,
        x2,
        facing,
    )
    draw.polygon(cabin, fill=rgb(body, light))
    glass = _mirror(
        [
            (x1 + 0.25 * w, y1 + 0.40 * h),
            (x1 + 0.35 * w, y1 + 0.1 * h),
            (x1 + 0.65 * w, y1 + 0.1 * h),
            (x1 + 0.77 * w, y1 + 0.40 * h),
        ],
        x1,
        x2,
        facing,
    )
    draw.polygon(glass, fill=rgb((70, 90, 110), light))
    draw.rounded_rectangle((x1, y1 + 0.38 * h, x2, y2 - 0.14 * h), radius=max(0.0, 0.12 * h), fill=rgb(body, light))
    r = 0.17 * h
    _wheel(draw, x1 + 0.2 * w, y2 - r, r, light)
    _wheel(draw, x1 + 0.8 * w, y2 - r, r, light)
    front = x2 - 0.05 * w if facing > 0 else x1 + 0.05 * w
    back = x1 + 0.03 * w if facing > 0 else x2 - 0.03 * w
    lh = max(1.0, 0.08 * h)
    ly = y1 + 0.5 * h
    draw.rectangle(_box(front - 0.04 * w, ly, front, ly + lh), fill=(255, 250, 210) if night else (240, 235, 200))
    draw.rectangle(_box(back, ly, back + (0.03 * w if facing > 0 else -0.03 * w), ly + lh), fill=(230, 30, 30))


def draw_truck(
    draw: ImageDraw.ImageDraw,
    box: np.ndarray,
    cab: tuple[int, int, int],
    cargo: tuple[int, int, int],
    facing: int,
    night: bool,
) -> None:
    """Draw a truck (cargo box and cab) filling ``box``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    light = 0.35 if night else 1.0
    bottom = y2 - 0.12 * h
    cab_w = 0.27 * w
    if facing > 0:
        cargo_box, cab_box = (x1, y1, x2 - cab_w - 0.02 * w, bottom), (x2 - cab_w, y1 + 0.32 * h, x2, bottom)
        win = (x2 - cab_w * 0.6, y1 + 0.38 * h, x2 - cab_w * 0.1, y1 + 0.6 * h)
    else:
        cargo_box, cab_box = (x1 + cab_w + 0.02 * w, y1, x2, bottom), (x1, y1 + 0.32 * h, x1 + cab_w, bottom)
        win = (x1 + cab_w * 0.1, y1 + 0.38 * h, x1 + cab_w * 0.6, y1 + 0.6 * h)
    draw.rectangle(cargo_box, fill=rgb(cargo, light), outline=rgb((80, 80, 80), light))
    draw.rectangle(cab_box, fill=rgb(cab, light))
    draw.rectangle(win, fill=rgb((70, 90, 110), light))
    draw.rectangle((x1, bottom - 0.04 * h, x2, bottom), fill=rgb((50, 50, 50), light))
    r = 0.12 * h
    for f in (0.14, 0.32, 0.86) if facing > 0 else (0.14, 0.68, 0.86):
        _wheel(draw, x1 + f * w, y2 - r, r, light)
    if night:
        front = x2 - 0.02 * w if facing > 0 else x1 + 0.02 * w
        lamp = _box(front - 0.02 * w, bottom - 0.2 * h, front + 0.02 * w, bottom - 0.12 * h)
        draw.ellipse(lamp, fill=(255, 250, 210))


def draw_bus(draw: ImageDraw.ImageDraw, box: np.ndarray, body: tuple[int, int, int], facing: int, night: bool) -> None:
    """Draw a bus (long body, band of windows) filling ``box``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    light = 0.35 if night else 1.0
    draw.rounded_rectangle((x1, y1, x2, y2 - 0.08 * h), radius=max(0.0, 0.08 * h), fill=rgb(body, light))
    band = (x1 + 0.04 * w, y1 + 0.14 * h, x2 - 0.04 * w, y1 + 0.46 * h)
    draw.rectangle(band, fill=(235, 215, 150) if night else rgb((35, 45, 60)))
    n_pillars = max(2, int(w / max(h * 0.45, 1.0)))
    for k in range(1, n_pillars):
        px = band[0] + (band[2] - band[0]) * k / n_pillars
        draw.line((px, band[1], px, band[3]), fill=rgb(body, light), width=max(1, int(0.03 * h)))
    door_x = x1 + 0.82 * w if facing > 0 else x1 + 0.1 * w
    draw.rectangle((door_x, y1 + 0.18 * h, door_x + 0.08 * w, y2 - 0.14 * h), fill=rgb((40, 50, 60), light))
    draw.rectangle((x1, y1 + 0.62 * h, x2, y1 + 0.68 * h), fill=rgb((240, 240, 240), light))
    r = 0.11 * h
    _wheel(draw, x1 + 0.16 * w, y2 - r, r, light)
    _wheel(draw, x1 + 0.84 * w, y2 - r, r, light)


def draw_pedestrian(
    draw: ImageDraw.ImageDraw,
    box: np.ndarray,
    *,
    shirt: tuple[int, int, int],
    trousers: tuple[int, int, int],
    skin: tuple[int, int, int],
    facing: int,
    light: float = 1.0,
) -> None:
    """Draw a standing or walking person filling ``box``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2
    draw.ellipse((cx - 0.24 * w, y1, cx + 0.24 * w, y1 + 0.15 * h), fill=rgb(skin, light))
    draw.pieslice((cx - 0.25 * w, y1 - 0.01 * h, cx + 0.25 * w, y1 + 0.12 * h), 180, 360, fill=rgb((40, 30, 25), light))
    draw.rectangle((x1 + 0.14 * w, y1 + 0.16 * h, x2 - 0.14 * w, y1 + 0.56 * h), fill=rgb(shirt, light))
    arm = max(1, int(0.13 * w))
    draw.line((x1 + 0.12 * w, y1 + 0.18 * h, x1 + 0.06 * w, y1 + 0.5 * h), fill=rgb(shirt, light), width=arm)
    draw.line((x2 - 0.12 * w, y1 + 0.18 * h, x2 - 0.04 * w, y1 + 0.5 * h), fill=rgb(shirt, light), width=arm)
    stride = 0.12 * w * facing
    hip = y1 + 0.55 * h
    legs = [
        [(x1 + 0.16 * w, hip), (cx, hip), (cx - 0.05 * w - stride, y2), (x1 + 0.1 * w - stride, y2)],
        [(cx, hip), (x2 - 0.16 * w, hip), (x2 - 0.1 * w + stride, y2), (cx + 0.05 * w + stride, y2)],
    ]
    for leg in legs:
        draw.polygon(leg, fill=rgb(trousers, light))


def draw_cyclist(
    draw: ImageDraw.ImageDraw,
    box: np.ndarray,
    *,
    shirt: tuple[int, int, int],
    helmet: tuple[int, int, int],
    bike: tuple[int, int, int],
    skin: tuple[int, int, int],
    facing: int,
    light: float,
) -> None:
    """Draw a rider on a bicycle filling ``box``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    r = min(0.2 * h, 0.22 * w)
    lw = max(1, int(r / 5))
    back_c, front_c = (x1 + r, y2 - r), (x2 - r, y2 - r)
    if facing < 0:
        back_c, front_c = front_c, back_c
    for cxy in (back_c, front_c):
        draw.ellipse((cxy[0] - r, cxy[1] - r, cxy[0] + r, cxy[1] + r), outline=rgb((20, 20, 20)), width=lw)
    seat = (x1 + w * (0.42 if facing > 0 else 0.58), y1 + 0.55 * h)
    bar = (x1 + w * (0.72 if facing > 0 else 0.28), y1 + 0.45 * h)
    pedal = ((back_c[0] + front_c[0]) / 2, y2 - r)
    frame_w = max(1, int(r / 4))
    draw.line([back_c, seat, pedal, back_c], fill=rgb(bike, light), width=frame_w)
    draw.line([seat, bar, front_c], fill=rgb(bike, light), width=frame_w)
    draw.line([pedal, bar], fill=rgb(bike, light), width=frame_w)
    shoulder = (x1 + w * (0.56 if facing > 0 else 0.44), y1 + 0.2 * h)
    torso_w = max(2, int(0.16 * w))
    draw.line([seat, shoulder], fill=rgb(shirt, light), width=torso_w)
    draw.line([shoulder, bar], fill=rgb(shirt, light), width=max(1, torso_w // 2))
    draw.line([seat, pedal], fill=rgb((40, 45, 70), light), width=max(1, torso_w // 2))
    hx = shoulder[0] + (0.06 * w if facing > 0 else -0.06 * w)
    draw.ellipse((hx - 0.1 * w, y1, hx + 0.1 * w, y1 + 0.16 * h), fill=rgb(skin, light))
    draw.pieslice((hx - 0.11 * w, y1 - 0.01 * h, hx + 0.11 * w, y1 + 0.12 * h), 180, 360, fill=rgb(helmet, light))


def draw_sign(draw: ImageDraw.ImageDraw, box: np.ndarray, kind: int, foot_y: float, light: float) -> None:
    """Draw a traffic sign plate filling ``box`` on a pole that reaches down to ``foot_y``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2
    draw.line((cx, y2, cx, foot_y), fill=rgb((110, 110, 115), light), width=max(1, int(0.08 * w)))
    ring = max(1, int(0.14 * w))
    red, white = rgb((210, 25, 30), light), rgb((245, 245, 245), light)
    if kind == 0:
        draw.ellipse((x1, y1, x2, y2), fill=white, outline=red, width=ring)
    elif kind == 1:
        draw.polygon([(cx, y1), (x2, y2), (x1, y2)], fill=red)
        inset = 0.22 * w
        inner = [(cx, y1 + inset * 1.2), (x2 - inset, y2 - inset * 0.5), (x1 + inset, y2 - inset * 0.5)]
        draw.polygon(inner, fill=white)
    elif kind == 2:
        draw.rectangle((x1, y1, x2, y2), fill=rgb((25, 80, 190), light))
        draw.polygon([(x1 + 0.25 * w, y1 + 0.6 * h), (cx, y1 + 0.2 * h), (x2 - 0.25 * w, y1 + 0.6 * h)], fill=white)
    else:
        diamond = [(cx, y1), (x2, y1 + h / 2), (cx, y2), (x1, y1 + h / 2)]
        draw.polygon(diamond, fill=rgb((245, 200, 20), light), outline=rgb((20, 20, 20)))
