"""aquaembed: find where and why an object-detection model fails."""

from __future__ import annotations

from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
from aquaembed.errors import AquaembedError, InputError, NotFoundError, ParameterError, StoreError

__version__ = "0.1.0"

__all__ = [
    "AquaembedError",
    "ClassMap",
    "Dataset",
    "Frames",
    "Inferences",
    "InputError",
    "Labels",
    "NotFoundError",
    "ParameterError",
    "StoreError",
    "__version__",
]
