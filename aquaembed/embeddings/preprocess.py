"""Image preprocessing shared by the pretrained embedders: square crops, batches, normalisation.

A pretrained image model expects a fixed-size square input, scaled to ``[0, 1]`` and
normalised per channel. Crops are cut around the box grown by a context fraction and
*padded* to a square (never stretched: a tall person stays tall), the padding filled
with the model's mean colour so that it normalises to zero; whole frames are padded
to a square the same way. Then they are resized to the model's input size and
stacked into float32 batches in the layout the model wants (NCHW).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from aquaembed.errors import ParameterError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Preprocess", "square_boxes", "square_crops", "square_frame"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How to turn crops into a model's input.

    Parameters
    ----------
    size : int
        Square input side in pixels.
    mean, std : tuple of 3 floats
        Per-channel normalisation of ``[0, 1]`` RGB values: ``(x - mean) / std``.
    context : float
        Fraction of the box's longer side added as context on every side before
        padding to a square (0 = the box itself).
    interpolation : {"bilinear", "bicubic"}
        Resampling filter for the resize.
    """

    size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    context: float = 0.1
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if not (isinstance(self.size, int) and 8 <= self.size <= 4096):
            raise ParameterError(f"size must be an integer in [8, 4096], got {self.size!r}", parameter="size")
        if len(self.mean) != 3 or len(self.std) != 3 or not all(s > 0 for s in self.std):
            raise ParameterError(f"mean and std must be 3 numbers (std > 0), got {self.mean}, {self.std}", parameter="std")
        if not 0.0 <= self.context <= 2.0:
            raise ParameterError(f"context must be in [0, 2], got {self.context}", parameter="context")
        if self.interpolation not in ("bilinear", "bicubic"):
            raise ParameterError(f"interpolation must be bilinear or bicubic, got {self.interpolation!r}",
                                 parameter="interpolation")

    @property
    def fill(self) -> tuple[int, int, int]:
        """The padding colour: the mean, in 0-255 RGB (it normalises to about 0)."""
        return tuple(round(m * 255) for m in self.mean)  # type: ignore[return-value]

    def to_batch(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 images ``(n, size, size, 3)`` → normalised float32 ``(n, 3, size, size)``."""
        x = pixels.astype(np.float32) * np.float32(1.0 / 255.0)
        x -= np.asarray(self.mean, dtype=np.float32)
        x /= np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    @property
    def resample(self) -> int:
        return Image.Resampling.BICUBIC if self.interpolation == "bicubic" else Image.Resampling.BILINEAR


def square_boxes(boxes_xyxy: np.ndarray, context: float) -> np.ndarray:
    """Boxes grown by ``context`` x their longer side, then to a square about their centre.

    Parameters
    ----------
    boxes_xyxy : array of float, shape (n, 4)
        Pixel boxes.
    context : float
        Fraction of the longer side added on every side.

    Returns
    -------
    array of float64, shape (n, 4)
        Square ``[x1, y1, x2, y2]`` boxes (side at least 1 pixel); they may extend
        beyond the image, where the crop is padded.
    """
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    side = np.maximum(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * (1.0 + 2.0 * context), 1.0)
    cx, cy = (b[:, 0] + b[:, 2]) / 2.0, (b[:, 1] + b[:, 3]) / 2.0
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def _paste(image: Image.Image, box: tuple[int, int, int, int], fill: tuple[int, int, int]) -> Image.Image:
    """``image`` cropped to ``box`` (integer, may leave the image), outside filled with ``fill``."""
    x1, y1, x2, y2 = box
    if x1 >= 0 and y1 >= 0 and x2 <= image.width and y2 <= image.height:
        return image.crop(box)
    canvas = Image.new("RGB", (x2 - x1, y2 - y1), fill)
    inner = (max(x1, 0), max(y1, 0), min(x2, image.width), min(y2, image.height))
    if inner[2] > inner[0] and inner[3] > inner[1]:
        canvas.paste(image.crop(inner), (inner[0] - x1, inner[1] - y1))
    return canvas


def square_crops(image: Image.Image, boxes_xyxy: np.ndarray, prep: Preprocess) -> np.ndarray:
    """Square crops of the boxes with context, padded where they leave the image, resized.

    Parameters
    ----------
    image : PIL image (RGB)
    boxes_xyxy : array of float, shape (n, 4)
    prep : Preprocess

    Returns
    -------
    array of uint8, shape (n, prep.size, prep.size, 3)
    """
    squares = square_boxes(boxes_xyxy, prep.context)
    x1y1 = np.floor(squares[:, :2]).astype(np.int64)
    side = np.maximum(np.ceil(squares[:, 2] - squares[:, 0]).astype(np.int64), 1)
    out = np.empty((squares.shape[0], prep.size, prep.size, 3), dtype=np.uint8)
    for i, ((x, y), s) in enumerate(zip(x1y1.tolist(), side.tolist())):
        crop = _paste(image, (x, y, x + s, y + s), prep.fill)
        out[i] = np.asarray(crop.resize((prep.size, prep.size), prep.resample))
    return out


def square_frame(image: Image.Image, prep: Preprocess) -> np.ndarray:
    """The whole frame padded to a square (centred) and resized, uint8 ``(size, size, 3)``."""
    side = max(image.width, image.height)
    x = (image.width - side) // 2
    y = (image.height - side) // 2
    return np.asarray(_paste(image, (x, y, x + side, y + side), prep.fill).resize((prep.size, prep.size), prep.resample))
