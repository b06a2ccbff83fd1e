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

import os
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aquaembed.embeddings.builtin import DatasetEmbeddings
from aquaembed.embeddings.preprocess import Preprocess, square_crops, square_frame
from aquaembed.errors import InputError, MissingExtraError, ParameterError

__all__ = ["EMBEDDER_KINDS", "PretrainedEmbedder", "load_embedder", "parse_spec"]

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


def require(module: str, extra: str) -> Any:
    """Import an optional dependency or raise the install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is needed for this embedder ({exc}); install it with: pip install 'aquaembed[{extra}]'"
        ) from None


class PretrainedEmbedder:
    """Base class: a model that maps a normalised NCHW float32 batch to vectors.

    Subclasses set :attr:`prep` and :attr:`spec` and implement :meth:`forward`.
    """

    prep: Preprocess
    spec: str

    def forward(self, batch: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Vectors of a batch: float32 ``(n, 3, size, size)`` → float32 ``(n, d)``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- arrays

    def embed_pixels(self, pixels: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """Vectors of uint8 square images ``(n, size, size, 3)``, float32 ``(n, d)``."""
        out = [self._run(self.prep.to_batch(pixels[i : i + batch_size])) for i in range(0, pixels.shape[0], batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def embed_crops(self, image: Image.Image, boxes_xyxy: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """Vectors of box crops of one image, float32 ``(n, d)``."""
        return self.embed_pixels(square_crops(image.convert("RGB"), boxes_xyxy, self.prep), batch_size=batch_size)

    def embed_frames(self, images: Sequence[Image.Image], *, batch_size: int = 32) -> np.ndarray:
        """Vectors of whole frames (padded to a square), float32 ``(n, d)``."""
        pixels = np.stack([square_frame(im.convert("RGB"), self.prep) for im in images]) if images else None
        if pixels is None:
            return np.zeros((0, self.dim), np.float32)
        return self.embed_pixels(pixels, batch_size=batch_size)

    @property
    def dim(self) -> int:
        """Vector dimension (found by running one blank input once)."""
        if not hasattr(self, "_dim"):
            blank = np.zeros((1, 3, self.prep.size, self.prep.size), np.float32)
            self._dim = int(self._run(blank).shape[1])
        return self._dim

    def _run(self, batch: np.ndarray) -> np.ndarray:
        out = np.asarray(self.forward(batch), dtype=np.float32)
        return pool_output(out)

    # ---------------------------------------------------------------- datasets

    def embed_coco(
        self,
        image_dir: str | os.PathLike[str],
        gt: Mapping[str, Any],
        preds: Sequence[Mapping[str, Any]] | None = None,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        progress: bool = False,
    ) -> DatasetEmbeddings:
        """Embed every frame, label crop and inference crop (the built-in embedder's interface).

        Parameters
        ----------
        image_dir : path
            Folder the images' ``file_name`` are relative to.
        gt : mapping
            COCO dict: ``images`` (``id``, ``file_name``), ``annotations`` (``id``,
            ``image_id``, ``bbox`` ``[x, y, w, h]``).
        preds : sequence of mappings, optional
            COCO results (``image_id``, ``bbox``); ids are positions.
        batch_size : int
            Crops per model call.
        threads : int, optional
            Threads that decode and crop images (default: CPUs, at most 4).
        progress : bool
            Show a progress bar.

        Returns
        -------
        DatasetEmbeddings
        """
        root = Path(image_dir)
        images = list(gt["images"])
        annotations = list(gt.get("annotations", []))
        preds = list(preds or [])
        row = {int(im["id"]): i for i, im in enumerate(images)}
        label_rows = _rows_by_frame(annotations, row, len(images))
        pred_rows = _rows_by_frame(preds, row, len(images))
        tasks = [
            (root / str(im["file_name"]), _xyxy(annotations, label_rows[i]), _xyxy(preds, pred_rows[i]))
            for i, im in enumerate(images)
        ]
        frames = np.zeros((len(images), self.dim), np.float32)
        labels = np.zeros((len(annotations), self.dim), np.float32)
        inferences = np.zeros((len(preds), self.dim), np.float32)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(images), desc="embedding", unit="frame")
        n_threads = threads or min(os.cpu_count() or 1, 4)
        pending: list[tuple[np.ndarray, np.ndarray, list[int]]] = []  # pixels, destination, rows

        def flush() -> None:
            if not pending:
                return
            vectors = self.embed_pixels(np.concatenate([px for px, _, _ in pending]), batch_size=batch_size)
            k = 0
            for _, dest, rows in pending:
                dest[rows] = vectors[k : k + len(rows)]
                k += len(rows)
            pending.clear()

        try:  # crops of several frames share a batch; decoding runs ahead on the threads
            for i, (frame_px, label_px, pred_px) in enumerate(_prefetch(self._prepare, tasks, n_threads)):
                pending.append((frame_px[None], frames, [i]))
                if label_rows[i]:
                    pending.append((label_px, labels, label_rows[i]))
                if pred_rows[i]:
                    pending.append((pred_px, inferences, pred_rows[i]))
                if sum(len(rows) for _, _, rows in pending) >= batch_size:
                    flush()
                if bar is not None:
                    bar.update(1)
            flush()
        finally:
            if bar is not None:
                bar.close()
        return DatasetEmbeddings(
            frame_ids=np.asarray([int(im["id"]) for im in images], dtype=np.int64),
            frames=frames,
            label_ids=np.asarray([int(a["id"]) for a in annotations], dtype=np.int64),
            labels=labels,
            pred_ids=np.arange(len(preds), dtype=np.int64),
            preds=inferences,
        )

    def _prepare(self, task: tuple[Path, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        path, label_boxes, pred_boxes = task
        try:
            with Image.open(path) as im:
                img = im.convert("RGB")
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read the image ({exc})") from None
        return square_frame(img, self.prep), square_crops(img, label_boxes, self.prep), square_crops(img, pred_boxes, self.prep)


def pool_output(out: np.ndarray) -> np.ndarray:
    """A model output as one vector per input: (n, d) as is; (n, t, d) → token 0 (CLS); (n, c, h, w) → mean."""
    if out.ndim == 2:
        return out
    if out.ndim == 3:
        return np.ascontiguousarray(out[:, 0, :])
    if out.ndim == 4:
        return out.mean(axis=(2, 3))
    raise InputError(f"the model's output has shape {out.shape}; expected (n, d), (n, tokens, d) or (n, c, h, w)")


def _rows_by_frame(entries: list, row: dict[int, int], n: int) -> list[list[int]]:
    rows: list[list[int]] = [[] for _ in range(n)]
    for j, entry in enumerate(entries):
        i = row.get(int(entry["image_id"]))
        if i is None:
            raise InputError(f"entry {j}: unknown image_id {entry['image_id']}")
        rows[i].append(j)
    return rows


def _xyxy(entries: list, rows: list[int]) -> np.ndarray:
    b = np.asarray([entries[j]["bbox"] for j in rows], dtype=np.float64).reshape(-1, 4)
    b[:, 2:] += b[:, :2]
    return b


def _prefetch(fn: Any, tasks: list, threads: int) -> Iterator[Any]:
    """``map(fn, tasks)`` in order, at most ``2 * threads`` tasks ahead, on a thread pool."""
    if threads <= 1:
        yield from map(fn, tasks)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        window: deque[Future] = deque()
        it = iter(tasks)
        for task in it:
            window.append(pool.submit(fn, task))
            if len(window) >= 2 * threads:
                break
        while window:
            result = window.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                window.append(pool.submit(fn, nxt))
            yield result


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
