"""The demo's configuration: categories, scenes, planted error rates, detector parameters.

The configuration (:data:`DEFAULT_CONFIG`, mirrored in ``data/demo.json`` of the
repository) lists the scenes, the planted error rates and the detector's parameters.
Everything else in :mod:`aquaembed.demo` imports from here; this module imports nothing
of the demo (the demo's imports run one way: config, sprites, world, frames, detector,
build).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from aquaembed.errors import InputError

__all__ = [
    "BUS", "BatchError", "CAR", "CATEGORIES", "CLASS_KEYS", "CYCLIST", "DEFAULT_CONFIG", "DemoConfig", "PEDESTRIAN",
    "SIGN", "SceneSpec", "TRUCK", "load_config",
]

CATEGORIES: tuple[tuple[int, str], ...] = (
    (1, "car"),
    (2, "truck"),
    (3, "bus"),
    (4, "pedestrian"),
    (5, "cyclist"),
    (6, "traffic sign"),
)
"""COCO categories of the demo: (category id, name); class index = id - 1."""

CLASS_KEYS: tuple[str, ...] = ("car", "truck", "bus", "pedestrian", "cyclist", "traffic_sign")
"""Class names as configuration keys, in class-index order."""

CAR, TRUCK, BUS, PEDESTRIAN, CYCLIST, SIGN = range(6)
"""Class indices of the demo's categories."""

TIMES = ("day", "night")
WEATHERS = ("clear", "overcast", "rain", "fog")
STYLES = ("downtown", "suburb", "industrial", "park", "highway", "market")
LAYOUTS = ("straight", "cross", "intersection", "highway")


def _scene(
    name: str, time: str, weather: str, camera: str, style: str, layout: str, traffic: list[float]
) -> dict[str, Any]:
    return {
        "name": name,
        "time_of_day": time,
        "weather": weather,
        "camera_id": camera,
        "style": style,
        "layout": layout,
        "traffic": dict(zip(CLASS_KEYS, traffic, strict=True)),
    }


# traffic: expected number of passing objects per frame (Poisson) for the five moving
# classes, and the number of fixed signs of the scene for "traffic_sign".
DEFAULT_CONFIG: dict[str, Any] = {
    "version": 1,
    "seed": 0,
    "frames": 3000,
    "width": 640,
    "height": 384,
    "camera_jitter_px": 10,
    "jpeg_quality": 88,
    "overfitted_scene": "plaza_crossing",
    "recurring_fp_scene": "market_street",
    "rates": {
        "missing_label": 0.03,
        "wrong_class_label": 0.01,
        "badly_placed_label": 0.01,
        "missing_label_found": 0.9,
        "recurring_fp_detected": 0.85,
    },
    # Label errors concentrated in one annotation batch (all frames whose metadata
    # `field` equals `value`), on top of the even ones above: an annotator who skipped a
    # class (missing labels), an annotator who confused a class pair (wrong-class labels).
    "batch_label_errors": [
        {
            "kind": "missing_label",
            "field": "scene",
            "value": "riverside_park",
            "class": "traffic_sign",
            "rate": 0.45,
            "description": "the annotator of the riverside_park batch skipped most traffic signs",
        },
        {
            "kind": "wrong_class_label",
            "field": "camera_id",
            "value": "cam-07",
            "class": "truck",
            "labeled_as": "car",
            "rate": 0.45,
            "description": "the annotator of camera cam-07 labelled most trucks as cars",
        },
    ],
    "detector": {
        "base_logit": 1.5,
        "size_slope": 1.6,
        "size_ref_px": 24.0,
        "occlusion_penalty": 3.5,
        "truncation_penalty": 2.0,
        "darkness_penalty": 2.2,
        "fog_penalty": 1.5,
        "rain_penalty": 0.4,
        "noise": 0.9,
        "class_bias": {
            "car": 0.4,
            "truck": 0.2,
            "bus": 0.6,
            "pedestrian": 0.3,
            "cyclist": -0.3,
            "traffic_sign": 0.7,
        },
        "overfit_bonus": 6.0,
        "confusion": {
            "truck>car": 0.12,
            "bus>car": 0.04,
            "bus>truck": 0.05,
            "car>truck": 0.02,
            "cyclist>pedestrian": 0.07,
            "pedestrian>cyclist": 0.02,
        },
        "duplicate_rate": 0.04,
        "background_fp_per_frame": 2.4,
        "min_score": 0.05,
    },
    "scenes": [
        _scene("downtown_avenue", "day", "clear", "cam-01", "downtown", "straight", [3.5, 0.6, 0.4, 2.0, 0.5, 2]),
        _scene("plaza_crossing", "day", "clear", "cam-02", "downtown", "cross", [1.5, 0.2, 0.3, 4.0, 0.6, 1]),
        _scene("suburb_lane", "day", "overcast", "cam-03", "suburb", "straight", [2.5, 0.3, 0.1, 1.2, 0.8, 2]),
        _scene("industrial_park", "day", "clear", "cam-04", "industrial", "cross", [1.5, 2.2, 0.1, 0.4, 0.2, 1]),
        _scene("bus_terminal", "day", "clear", "cam-05", "downtown", "intersection", [1.5, 0.3, 1.6, 1.8, 0.3, 2]),
        _scene("riverside_park", "day", "clear", "cam-06", "park", "cross", [1.0, 0.1, 0.2, 2.0, 1.6, 1]),
        _scene("foggy_bridge", "day", "fog", "cam-07", "highway", "straight", [3.0, 1.0, 0.2, 0.3, 0.2, 1]),
        _scene("rainy_boulevard", "day", "rain", "cam-08", "downtown", "intersection", [3.0, 0.5, 0.5, 1.5, 0.3, 2]),
        _scene("market_street", "day", "clear", "cam-09", "market", "cross", [2.0, 0.5, 0.2, 2.5, 0.6, 1]),
        _scene("ring_road", "day", "overcast", "cam-10", "highway", "highway", [4.5, 1.5, 0.3, 0.0, 0.0, 2]),
        _scene("school_zone", "day", "clear", "cam-11", "suburb", "intersection", [2.0, 0.2, 0.5, 2.5, 1.0, 3]),
        _scene("downtown_night", "night", "clear", "cam-01", "downtown", "straight", [3.0, 0.4, 0.4, 1.5, 0.3, 2]),
        _scene("ring_road_night", "night", "clear", "cam-10", "highway", "highway", [4.0, 1.5, 0.2, 0.0, 0.0, 2]),
        _scene("suburb_night_rain", "night", "rain", "cam-03", "suburb", "straight", [2.0, 0.2, 0.1, 1.0, 0.5, 2]),
        _scene("harbour_night_fog", "night", "fog", "cam-12", "industrial", "cross", [1.5, 2.0, 0.1, 0.8, 0.2, 1]),
    ],
}
"""The default generator configuration (``data/demo.json`` holds the same)."""


@dataclass(frozen=True)
class SceneSpec:
    """One scene of the configuration."""

    index: int
    name: str
    time_of_day: str
    weather: str
    camera_id: str
    style: str
    layout: str
    traffic: tuple[float, ...]  # per class index: expected passing objects; signs: fixed count


BATCH_KINDS = ("missing_label", "wrong_class_label")
BATCH_FIELDS = ("scene", "camera_id", "time_of_day", "weather")


@dataclass(frozen=True)
class BatchError:
    """Label errors concentrated in one annotation batch (``batch_label_errors[index]``).

    ``scenes`` are the indices of the scenes whose frames form the batch; each labelable
    object of class ``cls`` there is hit with probability ``rate``: left unlabelled
    (``missing_label``) or labelled as ``labeled_as`` (``wrong_class_label``).
    """

    index: int
    kind: str
    field: str
    value: str
    scenes: tuple[int, ...]
    cls: int
    labeled_as: int
    rate: float
    description: str


@dataclass(frozen=True)
class DemoConfig:
    """A validated generator configuration (see :data:`DEFAULT_CONFIG` for the fields)."""

    raw: Mapping[str, Any]
    seed: int
    frames: int
    width: int
    height: int
    jitter: int
    jpeg_quality: int
    scenes: tuple[SceneSpec, ...]
    overfitted_scene: int
    recurring_fp_scene: int
    rates: Mapping[str, float]
    detector: Mapping[str, Any]
    batches: tuple[BatchError, ...] = ()

    def batches_of(self, scene: int) -> tuple[BatchError, ...]:
        """The label-error batches that include the frames of scene ``scene``."""
        return tuple(b for b in self.batches if scene in b.scenes)


def _need(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise InputError(f"{where}: missing field {key!r}")
    return mapping[key]


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise InputError(f"{where}: expected one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def load_config(source: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> DemoConfig:
    """Read and validate a generator configuration.

    Parameters
    ----------
    source : path, mapping or None
        A JSON file (such as ``data/demo.json``), an already parsed mapping, or None for
        :data:`DEFAULT_CONFIG`. Fields absent from a mapping are *not* filled in.

    Returns
    -------
    DemoConfig

    Raises
    ------
    InputError
        The file cannot be read or a field is missing or invalid (the message names it).
    """
    where = "demo config"
    if source is None:
        raw: Mapping[str, Any] = copy.deepcopy(DEFAULT_CONFIG)
    elif isinstance(source, Mapping):
        raw = copy.deepcopy(dict(source))
    else:
        where = str(source)
        try:
            raw = orjson.loads(Path(source).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InputError(f"{where}: cannot read the demo configuration ({exc})") from None
        if not isinstance(raw, Mapping):
            raise InputError(f"{where}: expected a JSON object at the top level")
    scenes_raw = _need(raw, "scenes", where)
    if not isinstance(scenes_raw, list) or not scenes_raw:
        raise InputError(f"{where}: 'scenes' must be a non-empty list")
    scenes = []
    names: dict[str, int] = {}
    for i, s in enumerate(scenes_raw):
        w = f"{where}: scenes[{i}]"
        name = str(_need(s, "name", w))
        if name in names:
            raise InputError(f"{w}: duplicate scene name {name!r}")
        names[name] = i
        traffic = _need(s, "traffic", w)
        missing = [k for k in CLASS_KEYS if k not in traffic]
        if missing:
            raise InputError(f"{w}: traffic lacks {', '.join(missing)}")
        values = tuple(float(traffic[k]) for k in CLASS_KEYS)
        if any(v < 0 or not np.isfinite(v) for v in values):
            raise InputError(f"{w}: traffic values must be finite and >= 0, got {values}")
        scenes.append(
            SceneSpec(
                index=i,
                name=name,
                time_of_day=_choice(_need(s, "time_of_day", w), TIMES, f"{w}.time_of_day"),
                weather=_choice(_need(s, "weather", w), WEATHERS, f"{w}.weather"),
                camera_id=str(_need(s, "camera_id", w)),
                style=_choice(_need(s, "style", w), STYLES, f"{w}.style"),
                layout=_choice(_need(s, "layout", w), LAYOUTS, f"{w}.layout"),
                traffic=values,
            )
        )
    special = {}
    for key in ("overfitted_scene", "recurring_fp_scene"):
        name = _need(raw, key, where)
        if name not in names:
            raise InputError(f"{where}: {key} names an unknown scene {name!r}")
        special[key] = names[name]
    if any(scenes[special[k]].time_of_day != "day" for k in special):
        raise InputError(f"{where}: the overfitted and the recurring-false-positive scenes must be day scenes")
    rates = dict(_need(raw, "rates", where))
    for key in DEFAULT_CONFIG["rates"]:
        v = float(_need(rates, key, f"{where}: rates"))
        if not 0.0 <= v <= 1.0:
            raise InputError(f"{where}: rates.{key} must be in [0, 1], got {v}")
        rates[key] = v
    if rates["missing_label"] + rates["wrong_class_label"] + rates["badly_placed_label"] > 0.5:
        raise InputError(f"{where}: the planted label-error rates add up to more than 0.5")
    batches = _batches(_need(raw, "batch_label_errors", where), scenes, where)
    detector = dict(_need(raw, "detector", where))
    for key in DEFAULT_CONFIG["detector"]:
        _need(detector, key, f"{where}: detector")
    width, height = int(_need(raw, "width", where)), int(_need(raw, "height", where))
    if not (64 <= width <= 4096 and 64 <= height <= 4096):
        raise InputError(f"{where}: width and height must be in [64, 4096], got {width} x {height}")
    quality = int(_need(raw, "jpeg_quality", where))
    if not 1 <= quality <= 95:
        raise InputError(f"{where}: jpeg_quality must be in [1, 95], got {quality}")
    return DemoConfig(
        raw=raw,
        seed=int(_need(raw, "seed", where)),
        frames=int(_need(raw, "frames", where)),
        width=width,
        height=height,
        jitter=int(_need(raw, "camera_jitter_px", where)),
        jpeg_quality=quality,
        scenes=tuple(scenes),
        overfitted_scene=special["overfitted_scene"],
        recurring_fp_scene=special["recurring_fp_scene"],
        rates=rates,
        detector=detector,
        batches=batches,
    )


def _batches(raw: Any, scenes: list[SceneSpec], where: str) -> tuple[BatchError, ...]:
    """Validate ``batch_label_errors``: a list of batches, at most one per (kind, class, scene)."""
    if not isinstance(raw, list):
        raise InputError(f"{where}: 'batch_label_errors' must be a list")
    out: list[BatchError] = []
    taken: set[tuple[int, int]] = set()
    for i, b in enumerate(raw):
        w = f"{where}: batch_label_errors[{i}]"
        if not isinstance(b, Mapping):
            raise InputError(f"{w}: expected an object")
        kind = _choice(_need(b, "kind", w), BATCH_KINDS, f"{w}.kind")
        field = _choice(_need(b, "field", w), BATCH_FIELDS, f"{w}.field")
        value = str(_need(b, "value", w))
        members = tuple(s.index for s in scenes if str(getattr(s, "name" if field == "scene" else field)) == value)
        if not members:
            raise InputError(f"{w}: no scene has {field} = {value!r}")
        cls = CLASS_KEYS.index(_choice(_need(b, "class", w), CLASS_KEYS, f"{w}.class"))
        labeled_as = cls
        if kind == "wrong_class_label":
            labeled_as = CLASS_KEYS.index(_choice(_need(b, "labeled_as", w), CLASS_KEYS, f"{w}.labeled_as"))
            if labeled_as == cls:
                raise InputError(f"{w}: labeled_as must differ from class ({CLASS_KEYS[cls]!r})")
        try:
            rate = float(_need(b, "rate", w))
        except (TypeError, ValueError):
            raise InputError(f"{w}.rate: expected a number, got {b['rate']!r}") from None
        if not 0.0 <= rate <= 1.0:
            raise InputError(f"{w}.rate must be in [0, 1], got {rate}")
        for s in members:
            if (cls, s) in taken:
                raise InputError(f"{w}: another batch already plants label errors on {CLASS_KEYS[cls]} in {scenes[s].name}")
            taken.add((cls, s))
        out.append(BatchError(i, kind, field, value, members, cls, labeled_as, rate, str(b.get("description", ""))))
    return tuple(out)
