"""timm and open_clip image models with weights from disk (extra ``[torch]``).

``timm:NAME`` builds the timm architecture without its classifier (``num_classes=0``:
the output is the pooled feature vector) and loads weights from, in order:

* the file after ``@`` (``timm:resnet18@/models/resnet18.safetensors``; ``.safetensors``,
  or a torch checkpoint read with ``weights_only=True``);
* the local Hugging Face cache (``$HF_HUB_CACHE``, default
  ``~/.cache/huggingface/hub``) for the model's ``hf_hub_id``;
* the torch hub cache (``$TORCH_HOME/hub/checkpoints``) for its legacy URL.

``open_clip:NAME/TAG`` (``open_clip:ViT-B-32/laion2b_s34b_b79k``) or
``open_clip:NAME@FILE`` does the same for an open_clip model and embeds with its
image tower (``encode_image``). Nothing is ever downloaded: when no weights are
found, the error names every place looked in. Preprocessing (input size, mean, std,
interpolation) comes from the model's pretrained configuration unless given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from aquaembed.embeddings.base import PretrainedEmbedder, require
from aquaembed.embeddings.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from aquaembed.errors import InputError

__all__ = ["OpenClipEmbedder", "TimmEmbedder", "load_state_dict"]

_HF_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def load_state_dict(path: Path) -> dict[str, Any]:
    """Tensors of a ``.safetensors`` file or a torch checkpoint (``weights_only``, never pickle code)."""
    torch = require("torch", "torch")
    label = os.fspath(path)
    if not path.is_file():
        raise InputError(f"no weights file at {label} (looked at {path.resolve()})")
    state: Any
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"{label}: cannot read the weights ({str(exc).splitlines()[0]})") from None
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise InputError(f"{label}: expected a dict of tensors, got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _hf_cache() -> Path:
    env = os.environ.get("HF_HUB_CACHE")
    if env:
        return Path(env)
    home = os.environ.get("HF_HOME")
    return Path(home) / "hub" if home else Path.home() / ".cache" / "huggingface" / "hub"


def _find_cached(what: str, hf_repo: str | None, url: str | None, files: tuple[str, ...] = _HF_FILES) -> Path:
    """A weights file in the local caches, or an InputError naming every place looked in."""
    looked: list[str] = []
    if hf_repo:
        repo = hf_repo.strip("/")
        folder = _hf_cache() / f"models--{repo.replace('/', '--')}" / "snapshots"
        for snapshot in sorted(folder.glob("*")) if folder.is_dir() else []:
            for name in files:
                if (snapshot / name).is_file():
                    return snapshot / name
        looked.append(os.fspath(folder))
    if url:
        torch = require("torch", "torch")
        candidate = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url.split("?")[0])
        if candidate.is_file():
            return candidate
        looked.append(os.fspath(candidate))
    where = "; ".join(looked) if looked else "no cache location is known for it"
    raise InputError(
        f"{what}: no weights on disk (looked in {where}); nothing is downloaded at run time: "
        f"fetch them once, or give a file as {what}@/path/to/weights"
    )


class _TorchEmbedder(PretrainedEmbedder):
    model: Any
    _torch: Any

    def _setup(self, cfg_size: Any, cfg_mean: Any, cfg_std: Any, cfg_interp: Any, options: dict[str, Any]) -> None:
        size = options.get("size") or (cfg_size[-1] if isinstance(cfg_size, (tuple, list)) else cfg_size) or 224
        self.prep = Preprocess(
            size=int(size),
            mean=tuple(options.get("mean") or cfg_mean or IMAGENET_MEAN),
            std=tuple(options.get("std") or cfg_std or IMAGENET_STD),
            context=float(options.get("context", 0.1)),
            interpolation=options.get("interpolation") or ("bicubic" if cfg_interp == "bicubic" else "bilinear"),
        )
        if options.get("threads"):
            self._torch.set_num_threads(int(options["threads"]))

    def _call(self, x: Any) -> Any:
        return self.model(x)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """The model on a float32 NCHW batch, without gradients, as numpy."""
        torch = self._torch
        with torch.inference_mode():
            out = self._call(torch.from_numpy(np.ascontiguousarray(batch)))
        return out.float().numpy()


class TimmEmbedder(_TorchEmbedder):
    """A timm model (classifier removed) as an embedder; ``target`` is ``NAME`` or ``NAME@WEIGHTS``.

    Options: ``size``, ``mean``, ``std``, ``context``, ``interpolation``, ``threads``.

    Raises
    ------
    MissingExtraError
        torch or timm is not installed.
    InputError
        Unknown model name, weights not on disk (the places looked in are named),
        or weights that do not fit the architecture.
    """

    def __init__(self, target: str, **options: Any) -> None:
        self._torch = require("torch", "torch")
        timm = require("timm", "torch")
        name, _, weights = target.partition("@")
        try:
            model = timm.create_model(name, pretrained=False, num_classes=0)
        except RuntimeError as exc:
            raise InputError(f"timm:{name}: {str(exc).splitlines()[0]}") from None
        cfg = dict(getattr(model, "pretrained_cfg", {}) or {})
        if weights:
            file = Path(weights).expanduser()
        else:
            file = _find_cached(f"timm:{name}", cfg.get("hf_hub_id"), cfg.get("url"))
        state = load_state_dict(file)
        try:
            missing, _unexpected = model.load_state_dict(state, strict=False)  # the classifier's keys are unexpected
        except RuntimeError as exc:  # a tensor of the wrong shape
            detail = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), "shape mismatch")
            raise InputError(f"{os.fspath(file)}: not weights of timm {name} ({detail})") from None
        if missing:
            raise InputError(
                f"{os.fspath(file)}: not weights of timm {name} ({len(missing)} tensors missing, e.g. {missing[0]})"
            )
        self.model = model.eval()
        self.weights = file
        self._setup(cfg.get("input_size"), cfg.get("mean"), cfg.get("std"), cfg.get("interpolation"), options)
        self.spec = f"timm:{target}"


class OpenClipEmbedder(_TorchEmbedder):
    """An open_clip image tower as an embedder; ``target`` is ``NAME/TAG`` or ``NAME@WEIGHTS``.

    Options: ``size``, ``mean``, ``std``, ``context``, ``interpolation``, ``threads``.
    """

    def __init__(self, target: str, **options: Any) -> None:
        self._torch = require("torch", "torch")
        open_clip = require("open_clip", "torch")
        name, _, weights = target.partition("@")
        name, _, tag = name.partition("/")
        if weights:
            file = Path(weights).expanduser()
        else:
            cfg = open_clip.get_pretrained_cfg(name, tag) if tag else {}
            if not cfg:
                raise InputError(
                    f"open_clip:{target}: give a pretrained tag (open_clip:{name}/TAG) or a weights file "
                    f"(open_clip:{name}@/path/to/weights)"
                )
            file = _find_cached(f"open_clip:{name}/{tag}", cfg.get("hf_hub"), cfg.get("url"))
        if not file.is_file():
            raise InputError(f"open_clip:{name}: no weights file at {os.fspath(file)} (looked at {file.resolve()})")
        try:
            model = open_clip.create_model(name, pretrained=str(file), device="cpu")
        except RuntimeError as exc:
            raise InputError(f"open_clip:{name}: {str(exc).splitlines()[0]}") from None
        self.model = model.eval()
        self.weights = file
        visual = model.visual
        self._setup(
            getattr(visual, "image_size", None),
            getattr(visual, "image_mean", None) or getattr(open_clip, "OPENAI_DATASET_MEAN", None),
            getattr(visual, "image_std", None) or getattr(open_clip, "OPENAI_DATASET_STD", None),
            "bicubic",
            options,
        )
        self.spec = f"open_clip:{target}"

    def _call(self, x: Any) -> Any:
        return self.model.encode_image(x)
