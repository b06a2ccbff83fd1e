"""aquaembed: find where and why an object-detection model fails.

What users type is re-exported here (``aquaembed.Dataset``, ``aquaembed.MatchOptions``,
``aquaembed.Evaluator``, ``aquaembed.Counts``, ...). The re-exports are resolved on first
use, so ``import aquaembed`` (and ``aquaembed --help``) does not pay for numpy and numba.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from aquaembed.errors import AquaembedError, InputError, MissingExtraError, NotFoundError, ParameterError, StoreError

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "ClassMap": "aquaembed.data",
    "Dataset": "aquaembed.data",
    "Frames": "aquaembed.data",
    "Inferences": "aquaembed.data",
    "Labels": "aquaembed.data",
    "MatchOptions": "aquaembed.matching",
    "match": "aquaembed.matching",
    "Evaluator": "aquaembed.evaluate",
    "Counts": "aquaembed.metrics",
    "ConfusionMatrix": "aquaembed.metrics",
}

if TYPE_CHECKING:
    from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
    from aquaembed.evaluate import Evaluator
    from aquaembed.matching import MatchOptions, match
    from aquaembed.metrics import ConfusionMatrix, Counts

__all__ = [
    "AquaembedError", "ClassMap", "ConfusionMatrix", "Counts", "Dataset", "Evaluator", "Frames",
    "Inferences", "InputError", "Labels", "MatchOptions", "MissingExtraError", "NotFoundError",
    "ParameterError", "StoreError", "__version__", "match",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aquaembed' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
