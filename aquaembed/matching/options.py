"""The one value that carries every matching option between layers."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, get_args

from aquaembed._typing import MatchMode
from aquaembed.errors import ParameterError

__all__ = ["DEFAULT_CONF", "DEFAULT_IOU", "DEFAULT_MODE", "MatchOptions"]

DEFAULT_CONF = 0.5
"""Default confidence threshold: inferences with ``score < conf`` are discarded."""
DEFAULT_IOU = 0.5
"""Default IoU threshold: a pair is allowed when ``IoU >= iou``."""
DEFAULT_MODE: MatchMode = "optimal"
"""Default assignment: the one-to-one set of allowed pairs with the largest total IoU."""

_MODES: tuple[str, ...] = get_args(MatchMode)


@dataclass(frozen=True)
class MatchOptions:
    """How inferences are matched to labels; validated once, on construction.

    Parameters
    ----------
    conf : float, default 0.5
        Confidence threshold in [0, 1]; inferences with ``score < conf`` are discarded
        (a score equal to ``conf`` is kept).
    iou : float, default 0.5
        IoU threshold in (0, 1]; a pair is allowed when ``IoU >= iou``.
    mode : {"optimal", "greedy"}, default "optimal"
        ``"optimal"``: per frame, the one-to-one assignment with the largest total IoU.
        ``"greedy"``: inferences by descending confidence each take their best
        remaining label (COCO's rule).
    class_aware : bool, default False
        Allow only pairs of the same class (default: classes are ignored for matching).
    crowd : bool, default False
        Treat COCO ``iscrowd`` labels as regions: an inference inside one is neither a
        TP nor an FP.

    Instances are hashable and compare by value, so they serve as cache keys.
    """

    conf: float = DEFAULT_CONF
    iou: float = DEFAULT_IOU
    mode: MatchMode = DEFAULT_MODE
    class_aware: bool = False
    crowd: bool = False

    def __post_init__(self) -> None:
        conf = _number(self.conf, "conf")
        iou = _number(self.iou, "iou")
        if not 0.0 <= conf <= 1.0:
            raise ParameterError(f"conf must be in [0, 1], got {self.conf!r}", parameter="conf")
        if not 0.0 < iou <= 1.0:
            raise ParameterError(
                f"iou must be in (0, 1] (a pair needs some overlap), got {self.iou!r}", parameter="iou"
            )
        if self.mode not in _MODES:
            raise ParameterError(
                f"mode must be one of {', '.join(map(repr, _MODES))}, got {self.mode!r}", parameter="mode"
            )
        for name in ("class_aware", "crowd"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"{name} must be true or false, got {getattr(self, name)!r}", parameter=name)
        object.__setattr__(self, "conf", conf)
        object.__setattr__(self, "iou", iou)

    def replace(self, **changes: Any) -> MatchOptions:
        """A copy with some options changed (validated again)."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """``{"conf", "iou", "mode", "class_aware", "crowd"}`` as JSON values."""
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Any) -> MatchOptions:
        """The inverse of :meth:`to_json` (unknown keys are refused)."""
        if not isinstance(obj, dict):
            raise ParameterError(f"options must be an object, got {type(obj).__name__}", parameter="options")
        unknown = set(obj) - {"conf", "iou", "mode", "class_aware", "crowd"}
        if unknown:
            raise ParameterError(f"unknown matching option(s): {', '.join(sorted(unknown))}", parameter="options")
        return cls(**obj)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a number, got {value!r}", parameter=name)
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}", parameter=name) from None
    if math.isnan(out):
        raise ParameterError(f"{name} must be a number, got NaN", parameter=name)
    return out
