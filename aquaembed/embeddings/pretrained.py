"""Pretrained embedders that run offline: ONNX Runtime, timm and open_clip, one interface.

``--embedder`` takes a spec:

``builtin``
    the hand-made features of :mod:`aquaembed.embeddings.builtin` (the default);
``onnx:PATH``
    any exported image model (a DINOv2, a CLIP visual tower, a ResNet) run by ONNX
    Runtime (extra ``[onnx]``);
``timm:NAME`` / ``timm:NAME@WEIGHTS``
    a timm model with weights from the local Hugging Face / torch hub cache or from a
    file (extra ``[torch]``);
``open_clip:NAME/TAG`` / ``open_clip:NAME@WEIGHTS``
    an open_clip image tower, the same way (extra ``[torch]``).

Weights are only ever read from disk: nothing is downloaded at run time, and when
they are missing the error is one line naming every place that was looked in.
Preprocessing options follow a ``?``: ``onnx:model.onnx?size=224&mean=0.5,0.5,0.5
&std=0.5,0.5,0.5&context=0.2`` (default: what the model declares, see each backend).

Every embedder maps frames (padded to a square) and box crops (grown by
``context``, padded to a square) through :class:`~aquaembed.embeddings.preprocess.Preprocess`
to a model input, in batches, with image decoding and cropping on a thread pool
while the model runs.
"""

from __future__ import annotations

from typing import Any

from aquaembed.embeddings.base import PretrainedEmbedder, pool_output, require
from aquaembed.errors import ParameterError

__all__ = ["EMBEDDER_KINDS", "PretrainedEmbedder", "load_embedder", "parse_spec", "pool_output", "require"]

EMBEDDER_KINDS = ("builtin", "onnx", "timm", "open_clip")
_OPTION_KEYS = ("size", "mean", "std", "context", "interpolation", "output")


def parse_spec(spec: str) -> tuple[str, str, dict[str, Any]]:
    """Split ``kind:target?key=value&...`` into kind, target and typed options.

    Raises
    ------
    ParameterError
        Unknown kind, empty target, unknown or malformed option.
    """
    kind, _, rest = spec.partition(":")
    if kind not in EMBEDDER_KINDS:
        raise ParameterError(
            f"--embedder: expected builtin, onnx:PATH, timm:NAME or open_clip:NAME, got {spec!r}", parameter="embedder"
        )
    target, _, query = rest.partition("?")
    if kind != "builtin" and not target:
        raise ParameterError(f"--embedder {spec!r}: nothing after '{kind}:'", parameter="embedder")
    options: dict[str, Any] = {}
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        if key not in _OPTION_KEYS:
            raise ParameterError(f"--embedder: unknown option {key!r}; known: {', '.join(_OPTION_KEYS)}", parameter="embedder")
        try:
            if key == "size":
                options[key] = int(value)
            elif key == "context":
                options[key] = float(value)
            elif key in ("mean", "std"):
                options[key] = tuple(float(v) for v in value.split(","))
            else:
                options[key] = value
        except ValueError:
            raise ParameterError(f"--embedder: option {key}={value!r} is not valid", parameter="embedder") from None
    return kind, target, options


def load_embedder(spec: str) -> PretrainedEmbedder:
    """The pretrained embedder a spec names (see the module docstring).

    Raises
    ------
    ParameterError
        A malformed spec, or ``builtin`` (which is not a pretrained model).
    MissingExtraError
        The backend is not installed.
    InputError
        The model or its weights are not on disk (the message says where it looked).
    """
    kind, target, options = parse_spec(spec)
    if kind == "builtin":
        raise ParameterError("the built-in embedder is not a pretrained model", parameter="embedder")
    if kind == "onnx":
        from aquaembed.embeddings.onnx import OnnxEmbedder

        model: PretrainedEmbedder = OnnxEmbedder(target, **options)
    else:
        from aquaembed.embeddings.torch import OpenClipEmbedder, TimmEmbedder

        cls = TimmEmbedder if kind == "timm" else OpenClipEmbedder
        if "output" in options:
            raise ParameterError("--embedder: the output option is for onnx models only", parameter="embedder")
        model = cls(target, **options)
    model.spec = spec
    return model
