"""Any exported image model, run by ONNX Runtime on the CPU (extra ``[onnx]``).

The model takes one float32 NCHW image batch. Its output is turned into one vector
per image by :func:`~aquaembed.embeddings.pretrained.pool_output` (a ``(n, d)``
output as is, a ViT's ``(n, tokens, d)`` by its first (CLS) token, a feature map by
its spatial mean).

Preprocessing is, in order of precedence: the options given (``size``, ``mean``,
``std``, ``context``, ``interpolation``, ``output``); the model's metadata
properties ``aquaembed.size``, ``aquaembed.mean``, ``aquaembed.std``,
``aquaembed.output`` (set them when exporting: ``onnx.helper.set_model_props``);
the input's static height; and otherwise 224 px with the ImageNet mean and std.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from aquaembed.embeddings.base import PretrainedEmbedder, require
from aquaembed.embeddings.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from aquaembed.errors import InputError

__all__ = ["OnnxEmbedder"]


def _floats(text: str, key: str, path: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{path}: metadata {key}={text!r} is not a comma-separated list of numbers") from None


class OnnxEmbedder(PretrainedEmbedder):
    """An ONNX image model as an embedder.

    Parameters
    ----------
    path : str or path-like
        The ``.onnx`` file.
    size : int, optional
        Input side in pixels.
    mean, std : tuple of 3 floats, optional
        Normalisation of ``[0, 1]`` RGB.
    context : float
        Crop context (see :class:`~aquaembed.embeddings.preprocess.Preprocess`).
    interpolation : {"bilinear", "bicubic"}, optional
    output : str, optional
        Which output to use (default: the first).
    threads : int, optional
        ONNX Runtime intra-op threads (default: its own choice, all cores).

    Raises
    ------
    MissingExtraError
        onnxruntime is not installed.
    InputError
        No file at ``path`` (the message gives the absolute path looked at), or
        the file is not a model ONNX Runtime can load.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        size: int | None = None,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
        context: float = 0.1,
        interpolation: str | None = None,
        output: str | None = None,
        threads: int | None = None,
    ) -> None:
        ort = require("onnxruntime", "onnx")
        file = Path(path).expanduser()
        label = os.fspath(path)
        if not file.is_file():
            raise InputError(f"onnx: no model file at {label} (looked at {file.resolve()})")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise InputError(f"{label}: ONNX Runtime cannot load the model ({str(exc).splitlines()[0]})") from None
        meta: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        inp = self.session.get_inputs()[0]
        self.input_name: str = inp.name
        static = inp.shape[2] if len(inp.shape) == 4 and isinstance(inp.shape[2], int) else None
        if size is None:
            size = int(meta["aquaembed.size"]) if "aquaembed.size" in meta else (static or 224)
        if mean is None:
            mean = _floats(meta["aquaembed.mean"], "aquaembed.mean", label) if "aquaembed.mean" in meta else IMAGENET_MEAN
        if std is None:
            std = _floats(meta["aquaembed.std"], "aquaembed.std", label) if "aquaembed.std" in meta else IMAGENET_STD
        outputs = [o.name for o in self.session.get_outputs()]
        self.output_name: str = output or meta.get("aquaembed.output", outputs[0])
        if self.output_name not in outputs:
            raise InputError(f"{label}: no output {self.output_name!r}; the model has {', '.join(outputs)}")
        self.prep = Preprocess(
            size=int(size), mean=tuple(mean), std=tuple(std), context=context,  # type: ignore[arg-type]
            interpolation=interpolation or meta.get("aquaembed.interpolation", "bilinear"),
        )
        self.spec = f"onnx:{label}"

    def forward(self, batch: np.ndarray) -> Any:
        """Run the model on a float32 NCHW batch; returns its chosen output."""
        return self.session.run([self.output_name], {self.input_name: batch})[0]
