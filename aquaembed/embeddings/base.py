"""The pretrained embedders' common part: batches in, vectors out, datasets embedded.

:class:`PretrainedEmbedder` turns frames and box crops into model inputs with
:class:`~aquaembed.embeddings.preprocess.Preprocess`, runs a backend's
:meth:`~PretrainedEmbedder.forward` in batches and embeds a whole COCO dataset with
image decoding on a thread pool (see :mod:`aquaembed.embeddings.pretrained` for the
specs that choose a backend).
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
from aquaembed.errors import InputError, MissingExtraError

__all__ = ["PretrainedEmbedder", "pool_output", "require"]


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
