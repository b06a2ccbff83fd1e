"""The built-in image embedder: hand-made features for frames and box crops.

CPU only, no downloads, deterministic and fast. It is the embedder of the demo dataset
and of ``aquaembed ingest --images`` when the user brings no embeddings of their own.

What a vector is made of
------------------------
Frames (resized to an 80 x 48 thumbnail):

* a spatial colour layout: mean CIELAB colour of a 10 x 6 grid of cells (where the sky,
  the buildings and the road are);
* a joint CIELAB colour histogram (4 x 5 x 5 bins, square-rooted);
* a HOG-like gradient-orientation histogram (9 unsigned orientations per 4 x 4 cell:
  the skyline, the road edges, the facades' windows);

2,440 raw features, projected by default to ``FRAME_DIM`` = 512 dimensions.

Crops (the box grown by ``pad`` on every side, resized to 32 x 32):

* a 4 x 4 CIELAB colour layout;
* a joint CIELAB colour histogram weighted towards the centre (the object, not the
  context);
* a HOG-like histogram on 4 x 4 cells;
* the box shape: its aspect ratio and its size, each encoded by soft bins (radial basis
  functions of the logarithm), so that a box's geometry weighs like one feature block.

Every block is L2-normalised, multiplied by a fixed weight, the blocks are concatenated
and the result is L2-normalised again, so the cosine similarity (the dot product) of
two vectors is the natural similarity. Every operation is a per-sample numpy operation
on a batch: a vector does not depend on the other images of its batch.

The ``dim=`` arguments project vectors with a fixed, seeded Gaussian random matrix to a
chosen dimension (and re-normalise them); the same input and output dimensions always
give the same matrix. Frames are projected to 512 dimensions by default, crops (308
features) are not. The projection is a matrix product on a whole array: the raw
features are batch-independent bit for bit, projected vectors up to float rounding.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aquaembed._parallel import process_map
from aquaembed._validate import integer, positive_int
from aquaembed.errors import InputError, ParameterError
from aquaembed.geometry import xywh_to_xyxy, xyxy_to_xywh

__all__ = [
    "CROP_DIM",
    "CROP_SIZE",
    "FRAME_DIM",
    "FRAME_RAW_DIM",
    "FRAME_SIZE",
    "DatasetEmbeddings",
    "crop_features",
    "crop_pixels",
    "embed_coco",
    "embed_crops",
    "embed_images",
    "frame_features",
    "frame_pixels",
    "project",
]

FRAME_SIZE: tuple[int, int] = (80, 48)
"""Thumbnail size (width, height) in pixels that frames are resized to."""

CROP_SIZE: int = 32
"""Side in pixels of the square that crops are resized to."""

_N_ORIENT = 9
_LAB_BINS = (4, 5, 5)  # L, a, b
_FRAME_GRID = (10, 6)  # cells across, cells down (8 x 8 thumbnail pixels each)
_FRAME_HOG_CELL = 4
_CROP_GRID = 4  # 4 x 4 colour cells of 8 x 8 pixels
_CROP_HOG_CELL = 8
_ASPECT_CENTRES = np.linspace(-1.6, 1.6, 13)  # log(w / h)
_ASPECT_WIDTH = 0.18
_SIZE_CENTRES = np.linspace(np.log(4.0), np.log(400.0), 9)  # log(sqrt(w h)), pixels
_SIZE_WIDTH = 0.45

# Block weights (each block is L2-normalised first).
_FRAME_WEIGHTS = {"layout": 0.7, "hist": 0.3, "hog": 1.5}
_CROP_WEIGHTS = {"layout": 0.8, "hist": 1.0, "hog": 1.0, "aspect": 1.1, "size": 0.35}

_N_LAB_BINS = _LAB_BINS[0] * _LAB_BINS[1] * _LAB_BINS[2]
FRAME_RAW_DIM: int = _FRAME_GRID[0] * _FRAME_GRID[1] * 3 + _N_LAB_BINS + (
    (FRAME_SIZE[0] // _FRAME_HOG_CELL) * (FRAME_SIZE[1] // _FRAME_HOG_CELL) * _N_ORIENT
)
"""Dimension of the raw frame features (:func:`frame_features`)."""

FRAME_DIM: int = 512
"""Default dimension of a frame vector: the raw features projected by :func:`project`."""

CROP_DIM: int = (
    _CROP_GRID * _CROP_GRID * 3
    + _N_LAB_BINS
    + (CROP_SIZE // _CROP_HOG_CELL) ** 2 * _N_ORIENT
    + _ASPECT_CENTRES.size
    + _SIZE_CENTRES.size
)
"""Dimension of a crop vector (without projection)."""


# --------------------------------------------------------------------------- colour


def _srgb_lut() -> np.ndarray:
    c = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin.astype(np.float32)


_SRGB_TO_LINEAR = _srgb_lut()
# sRGB (D65) -> XYZ, rows divided by the reference white so that white maps to 1.
_RGB_TO_XYZ = (
    np.array(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
    )
    / np.array([[0.95047], [1.0], [1.08883]])
).astype(np.float32)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert 8-bit sRGB to CIELAB (D65).

    Parameters
    ----------
    rgb : array of uint8, shape (..., 3)

    Returns
    -------
    array of float32, shape (..., 3)
        L in [0, 100], a and b roughly in [-100, 100].
    """
    lin = _SRGB_TO_LINEAR[np.asarray(rgb, dtype=np.uint8)]
    r, g, b = lin[..., 0], lin[..., 1], lin[..., 2]
    m = _RGB_TO_XYZ
    # Written out (no BLAS): the result of a pixel never depends on its batch.
    xyz = np.stack([r * m[i, 0] + g * m[i, 1] + b * m[i, 2] for i in range(3)], axis=-1)
    f = np.where(xyz > 0.008856, np.cbrt(np.maximum(xyz, 0.0)), 7.787 * xyz + 16.0 / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def _lab_histogram(lab: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Joint L x a x b histogram per sample, weighted, square-rooted.

    lab: (n, h, w, 3) float32; weights: (h, w) float32. Returns (n, _N_LAB_BINS).
    """
    n = lab.shape[0]
    nl, na, nb = _LAB_BINS
    li = np.clip((lab[..., 0] * (nl / 100.0)).astype(np.int64), 0, nl - 1)
    ai = np.clip(((lab[..., 1] + 40.0) * (na / 80.0)).astype(np.int64), 0, na - 1)
    bi = np.clip(((lab[..., 2] + 40.0) * (nb / 80.0)).astype(np.int64), 0, nb - 1)
    idx = (li * na + ai) * nb + bi + (np.arange(n, dtype=np.int64) * _N_LAB_BINS)[:, None, None]
    w = np.broadcast_to(weights, lab.shape[:3])
    hist = np.bincount(idx.ravel(), weights=w.ravel(), minlength=n * _N_LAB_BINS)
    return np.sqrt(hist.reshape(n, _N_LAB_BINS)).astype(np.float32)


def _cell_means(lab: np.ndarray, cells_x: int, cells_y: int) -> np.ndarray:
    """Mean colour of a grid of cells: (n, h, w, 3) -> (n, cells_y * cells_x * 3), scaled."""
    n, h, w, _ = lab.shape
    grid = lab.reshape(n, cells_y, h // cells_y, cells_x, w // cells_x, 3).mean(axis=(2, 4))
    # L spans 0..100 and a, b about -60..60: scale them alike, centre L.
    grid = (grid - np.array([50.0, 0.0, 0.0], dtype=np.float32)) / np.float32(50.0)
    return grid.reshape(n, -1).astype(np.float32)


# --------------------------------------------------------------------------- gradients


def _hog(gray: np.ndarray, cell: int) -> np.ndarray:
    """HOG-like histograms: (n, h, w) float32 -> (n, cells * _N_ORIENT).

    Centred differences, unsigned orientation in [0, pi) split linearly between the two
    nearest of ``_N_ORIENT`` bins, magnitude-weighted, summed per ``cell`` x ``cell``
    cell; the whole descriptor is square-rooted, L2-normalised, clipped at 0.2 and
    normalised again (as HOG does per block).
    """
    n, h, w = gray.shape
    gx = np.zeros_like(gray)
    gy = np.zeros_like(gray)
    gx[:, :, 1:-1] = gray[:, :, 2:] - gray[:, :, :-2]
    gy[:, 1:-1, :] = gray[:, 2:, :] - gray[:, :-2, :]
    mag = np.sqrt(gx * gx + gy * gy)
    ang = np.arctan2(gy, gx) % np.pi
    pos = ang * (_N_ORIENT / np.pi) - 0.5
    low = np.floor(pos)
    frac = (pos - low).astype(np.float32)
    b0 = low.astype(np.int64) % _N_ORIENT
    b1 = (b0 + 1) % _N_ORIENT
    cy, cx = h // cell, w // cell
    cell_id = (np.arange(h)[:, None] // cell) * cx + (np.arange(w)[None, :] // cell)
    base = (np.arange(n, dtype=np.int64)[:, None, None] * (cy * cx) + cell_id[None]) * _N_ORIENT
    size = n * cy * cx * _N_ORIENT
    hist = np.bincount((base + b0).ravel(), weights=(mag * (1.0 - frac)).ravel(), minlength=size)
    hist += np.bincount((base + b1).ravel(), weights=(mag * frac).ravel(), minlength=size)
    hist = np.sqrt(hist.reshape(n, cy * cx * _N_ORIENT))
    hist = _l2(hist.astype(np.float32))
    np.minimum(hist, 0.2, out=hist)
    return _l2(hist)


def _gray(rgb: np.ndarray) -> np.ndarray:
    luma = rgb[..., 0] * np.float32(0.299) + rgb[..., 1] * np.float32(0.587) + rgb[..., 2] * np.float32(0.114)
    return luma / np.float32(255.0)


def _l2(x: np.ndarray) -> np.ndarray:
    norm = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    return (x / np.maximum(norm, np.float32(1e-12))).astype(np.float32)


def _rbf(values: np.ndarray, centres: np.ndarray, width: float) -> np.ndarray:
    d = (values[:, None] - centres[None, :]) / width
    return np.exp(-0.5 * d * d).astype(np.float32)


def _combine(blocks: list[tuple[np.ndarray, float]]) -> np.ndarray:
    out = np.concatenate([_l2(b) * np.float32(w) for b, w in blocks], axis=1)
    return _l2(out)


# --------------------------------------------------------------------------- frames


def frame_pixels(image: Image.Image | np.ndarray) -> np.ndarray:
    """Resize one frame to the thumbnail the frame features are computed on.

    Parameters
    ----------
    image : PIL image or array of uint8, shape (H, W, 3)

    Returns
    -------
    array of uint8, shape (48, 80, 3)
    """
    img = _as_pil(image, "image")
    return np.asarray(img.resize(FRAME_SIZE, Image.Resampling.BILINEAR, reducing_gap=None), dtype=np.uint8)


def frame_features(thumbs: np.ndarray) -> np.ndarray:
    """Frame vectors from a batch of thumbnails.

    Parameters
    ----------
    thumbs : array of uint8, shape (n, 48, 80, 3)
        Thumbnails from :func:`frame_pixels`.

    Returns
    -------
    array of float32, shape (n, FRAME_RAW_DIM)
        Unit-norm raw features (before the projection of :func:`embed_images`).
    """
    thumbs = np.asarray(thumbs, dtype=np.uint8)
    want = (FRAME_SIZE[1], FRAME_SIZE[0], 3)
    if thumbs.ndim != 4 or thumbs.shape[1:] != want:
        raise InputError(
            f"frame_features: expected thumbnails of shape (n, {want[0]}, {want[1]}, 3), got {thumbs.shape}"
        )
    if thumbs.shape[0] == 0:
        return np.zeros((0, FRAME_RAW_DIM), dtype=np.float32)
    lab = rgb_to_lab(thumbs)
    layout = _cell_means(lab, *_FRAME_GRID)
    hist = _lab_histogram(lab, np.ones(thumbs.shape[1:3], dtype=np.float32))
    hog = _hog(_gray(thumbs.astype(np.float32)), _FRAME_HOG_CELL)
    w = _FRAME_WEIGHTS
    return _combine([(layout, w["layout"]), (hist, w["hist"]), (hog, w["hog"])])


def embed_images(
    images: Sequence[Image.Image | np.ndarray] | np.ndarray, *, dim: int | None = FRAME_DIM
) -> np.ndarray:
    """Embed whole frames.

    Parameters
    ----------
    images : sequence of PIL images or of uint8 arrays (H, W, 3), or a uint8 array of shape (n, H, W, 3)
        Any sizes; each is resized to an 80 x 48 thumbnail.
    dim : int or None, keyword-only
        Project to this dimension with :func:`project` (default 512); None keeps the
        raw features.

    Returns
    -------
    array of float32, shape (n, dim) or (n, FRAME_RAW_DIM)
        Unit-norm vectors; cosine similarity is their dot product.
    """
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise InputError(
            f"embed_images: expected a batch of shape (n, H, W, 3), got a single array of shape {images.shape}"
        )
    thumbs = [frame_pixels(im) for im in images]
    shape = (0, FRAME_SIZE[1], FRAME_SIZE[0], 3)
    out = frame_features(np.stack(thumbs) if thumbs else np.zeros(shape, dtype=np.uint8))
    return project(out, dim=dim) if dim is not None else out


# --------------------------------------------------------------------------- crops


def _check_boxes(boxes_xyxy: Any, name: str) -> np.ndarray:
    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InputError(f"{name}: expected boxes of shape (n, 4) as [x1, y1, x2, y2], got {boxes.shape}")
    if not np.isfinite(boxes).all():
        raise InputError(f"{name}: box {int(np.flatnonzero(~np.isfinite(boxes).all(axis=1))[0])} is not finite")
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{name}: box {i} has a negative width or height: {boxes[i].tolist()}")
    return boxes


def crop_pixels(image: Image.Image | np.ndarray, boxes_xyxy: Any, *, pad: float = 0.15) -> np.ndarray:
    """Cut the boxes out of one image, grown by ``pad``, resized to 32 x 32.

    Parameters
    ----------
    image : PIL image or array of uint8, shape (H, W, 3)
    boxes_xyxy : array of float, shape (n, 4)
        Pixel boxes ``[x1, y1, x2, y2]``.
    pad : float, keyword-only
        Context added on every side, as a fraction of the box width (left, right) and
        height (top, bottom). The grown box is clipped to the image; a box narrower than
        one pixel is widened to one pixel.

    Returns
    -------
    array of uint8, shape (n, 32, 32, 3)
    """
    if not (0.0 <= pad <= 2.0):
        raise ParameterError(f"pad must be in [0, 2], got {pad}")
    img = _as_pil(image, "image")
    boxes = _check_boxes(boxes_xyxy, "boxes_xyxy")
    out = np.empty((boxes.shape[0], CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    if boxes.shape[0] == 0:
        return out
    width, height = img.size
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    grown = boxes + np.stack([-pad * w, -pad * h, pad * w, pad * h], axis=1)
    grown[:, [0, 2]] = np.clip(grown[:, [0, 2]], 0.0, width)
    grown[:, [1, 3]] = np.clip(grown[:, [1, 3]], 0.0, height)
    # At least one pixel wide and high, still inside the image.
    for lo, hi, limit in ((0, 2, width), (1, 3, height)):
        narrow = grown[:, hi] - grown[:, lo] < 1.0
        centre = np.clip((grown[narrow, lo] + grown[narrow, hi]) / 2.0, 0.5, limit - 0.5)
        grown[narrow, lo] = centre - 0.5
        grown[narrow, hi] = centre + 0.5
    size = (CROP_SIZE, CROP_SIZE)
    for i, box in enumerate(grown.tolist()):
        out[i] = np.asarray(img.resize(size, Image.Resampling.BILINEAR, box=tuple(box), reducing_gap=None))
    return out


@lru_cache(maxsize=8)
def _centre_weights(pad: float) -> np.ndarray:
    # Weight 1 on the box itself and a soft fall-off on the added context.
    r = (np.arange(CROP_SIZE, dtype=np.float64) + 0.5) / CROP_SIZE - 0.5  # -0.5..0.5
    inner = 0.5 / (1.0 + 2.0 * pad)
    d = np.maximum(np.abs(r) - inner, 0.0) / max(0.5 - inner, 1e-6)
    w1 = np.exp(-4.0 * d * d)
    return np.outer(w1, w1).astype(np.float32)


def crop_features(crops: np.ndarray, box_wh: Any, *, pad: float = 0.15) -> np.ndarray:
    """Crop vectors from a batch of crops and the sizes of their boxes.

    Parameters
    ----------
    crops : array of uint8, shape (n, 32, 32, 3)
        From :func:`crop_pixels`.
    box_wh : array of float, shape (n, 2)
        Width and height in pixels of the boxes (without the pad); they carry the
        aspect ratio and the size that resizing to a square removes.
    pad : float, keyword-only
        The pad the crops were cut with (sets where the centre weighting falls off).

    Returns
    -------
    array of float32, shape (n, CROP_DIM)
        Unit-norm vectors.
    """
    crops = np.asarray(crops, dtype=np.uint8)
    if crops.ndim != 4 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
        raise InputError(f"crop_features: expected crops of shape (n, {CROP_SIZE}, {CROP_SIZE}, 3), got {crops.shape}")
    wh = np.asarray(box_wh, dtype=np.float64).reshape(-1, 2)
    if wh.shape[0] != crops.shape[0]:
        raise InputError(f"crop_features: {crops.shape[0]} crops but {wh.shape[0]} box sizes")
    n = crops.shape[0]
    if n == 0:
        return np.zeros((0, CROP_DIM), dtype=np.float32)
    lab = rgb_to_lab(crops)
    layout = _cell_means(lab, _CROP_GRID, _CROP_GRID)
    hist = _lab_histogram(lab, _centre_weights(float(pad)))
    hog = _hog(_gray(crops.astype(np.float32)), _CROP_HOG_CELL)
    w = np.maximum(wh[:, 0], 0.5)
    h = np.maximum(wh[:, 1], 0.5)
    aspect = _rbf(np.log(w / h), _ASPECT_CENTRES, _ASPECT_WIDTH)
    size = _rbf(0.5 * np.log(w * h), _SIZE_CENTRES, _SIZE_WIDTH)
    cw = _CROP_WEIGHTS
    return _combine(
        [(layout, cw["layout"]), (hist, cw["hist"]), (hog, cw["hog"]), (aspect, cw["aspect"]), (size, cw["size"])]
    )


def embed_crops(
    image: Image.Image | np.ndarray, boxes_xyxy: Any, *, pad: float = 0.15, dim: int | None = None
) -> np.ndarray:
    """Embed box crops of one image.

    Parameters
    ----------
    image : PIL image or array of uint8, shape (H, W, 3)
    boxes_xyxy : array of float, shape (n, 4)
        Pixel boxes ``[x1, y1, x2, y2]``.
    pad : float, keyword-only
        Context around each box, as a fraction of its width and height.
    dim : int, optional, keyword-only
        Project to this dimension with :func:`project`.

    Returns
    -------
    array of float32, shape (n, CROP_DIM) or (n, dim)
        Unit-norm vectors.
    """
    boxes = _check_boxes(boxes_xyxy, "boxes_xyxy")
    crops = crop_pixels(image, boxes, pad=pad)
    out = crop_features(crops, xyxy_to_xywh(boxes)[:, 2:], pad=pad)
    return project(out, dim=dim) if dim is not None else out


# --------------------------------------------------------------------------- projection


@lru_cache(maxsize=8)
def _projection_matrix(d_in: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng([20240917, d_in, dim])
    return (rng.standard_normal((d_in, dim)) / np.sqrt(dim)).astype(np.float32)


def project(vectors: np.ndarray, *, dim: int) -> np.ndarray:
    """Project unit vectors to ``dim`` dimensions with a fixed seeded Gaussian matrix.

    The matrix depends only on the input dimension and ``dim``, so projected vectors of
    different calls are comparable. Cosine similarities are preserved up to a
    distortion of about ``1 / sqrt(dim)``.

    Parameters
    ----------
    vectors : array of float32, shape (n, d)
    dim : int, keyword-only
        Target dimension, at least 2.

    Returns
    -------
    array of float32, shape (n, dim)
        Unit-norm vectors.
    """
    dim = integer(dim, "dim", low=2)
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise InputError(f"project: expected vectors of shape (n, d), got {v.shape}")
    return _l2(v @ _projection_matrix(v.shape[1], int(dim)))


# --------------------------------------------------------------------------- datasets


def _as_pil(image: Image.Image | np.ndarray, name: str) -> Image.Image:
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InputError(
            f"{name}: expected a PIL image or a uint8 array of shape (H, W, 3), got {arr.dtype} {arr.shape}"
        )
    return Image.fromarray(arr, "RGB")


@dataclass(frozen=True, eq=False)
class DatasetEmbeddings:
    """Embeddings of the frames, labels and inferences of one dataset.

    Attributes
    ----------
    frame_ids : array of int64, shape (n_frames,)
        COCO image ids, in the order of the ground truth's ``images``.
    frames : array of float32, shape (n_frames, d_frame)
    label_ids : array of int64, shape (n_labels,)
        COCO annotation ids, in the order of the ground truth's ``annotations``.
    labels : array of float32, shape (n_labels, d_crop)
    pred_ids : array of int64, shape (n_preds,)
        0-based positions in the results list.
    preds : array of float32, shape (n_preds, d_crop)
    """

    frame_ids: np.ndarray
    frames: np.ndarray
    label_ids: np.ndarray
    labels: np.ndarray
    pred_ids: np.ndarray
    preds: np.ndarray


_Task = tuple[str, np.ndarray, np.ndarray]


def _inside(root: Path, file_name: Any, i: int) -> str:
    """The path of an image inside ``root`` (the image routes' rule); refuses one that leaves it."""
    base = root.resolve()
    name = str(file_name) if file_name is not None else ""
    candidate = (base / name).resolve()
    if not name or Path(name).is_absolute() or not candidate.is_relative_to(base):
        raise InputError(f"images[{i}]: file_name {name[:200]!r} is outside the image folder {root}; only files inside it are read")
    return str(candidate)


def _embed_files(chunk: tuple[list[_Task], float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Raw frame features and crop vectors of a chunk of frames, batched."""
    tasks, pad = chunk
    thumbs, lab_crops, pred_crops = [], [], []
    for path, label_boxes, pred_boxes in tasks:
        try:
            with Image.open(path) as im:
                img = im.convert("RGB")
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read the image ({exc})") from None
        thumbs.append(frame_pixels(img))
        lab_crops.append(crop_pixels(img, label_boxes, pad=pad))
        pred_crops.append(crop_pixels(img, pred_boxes, pad=pad))

    def wh(boxes: list[np.ndarray]) -> np.ndarray:
        return xyxy_to_xywh(np.concatenate(boxes))[:, 2:]

    return (
        frame_features(np.stack(thumbs)),
        crop_features(np.concatenate(lab_crops), wh([t[1] for t in tasks]), pad=pad),
        crop_features(np.concatenate(pred_crops), wh([t[2] for t in tasks]), pad=pad),
        len(tasks),
    )


def embed_coco(
    image_dir: str | os.PathLike[str],
    gt: Mapping[str, Any],
    preds: Sequence[Mapping[str, Any]] | None = None,
    *,
    pad: float = 0.15,
    frame_dim: int | None = FRAME_DIM,
    crop_dim: int | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> DatasetEmbeddings:
    """Embed every frame, label crop and inference crop of a COCO dataset.

    Parameters
    ----------
    image_dir : path
        Folder that the images' ``file_name`` are relative to.
    gt : mapping
        A COCO ground-truth dict (``images`` with ``id`` and ``file_name``;
        ``annotations`` with ``id``, ``image_id`` and ``bbox`` as ``[x, y, w, h]``).
    preds : sequence of mappings, optional
        A COCO results list (``image_id``, ``bbox``); inference ids are positions.
    pad : float, keyword-only
        Crop context, see :func:`crop_pixels`.
    frame_dim, crop_dim : int or None, keyword-only
        Projection of the frame vectors (default 512) and of the crop vectors (default
        none), as in :func:`embed_images` and :func:`embed_crops`.
    workers : int, optional, keyword-only
        Processes to use; default: the number of CPUs (at most 8); 1 runs in-process.
    progress : bool, keyword-only
        Show a progress bar.

    Returns
    -------
    DatasetEmbeddings
    """
    image_dir = Path(image_dir)
    try:
        images = list(gt["images"])
        annotations = list(gt.get("annotations", []))
    except (KeyError, TypeError) as exc:
        raise InputError(f"gt: expected a COCO dict with 'images' and 'annotations' ({exc})") from None
    preds = list(preds or [])
    index: dict[int, int] = {}
    for i, im in enumerate(images):
        try:
            index[int(im["id"])] = i
        except (KeyError, TypeError, ValueError):
            raise InputError(f"gt: images[{i}] has no integer 'id'") from None
    n = len(images)
    label_rows: list[list[int]] = [[] for _ in range(n)]
    pred_rows: list[list[int]] = [[] for _ in range(n)]
    for rows, entries, what in ((label_rows, annotations, "annotations"), (pred_rows, preds, "preds")):
        for j, entry in enumerate(entries):
            row = index.get(int(entry["image_id"]))
            if row is None:
                raise InputError(f"{what}[{j}]: unknown image_id {entry['image_id']}")
            rows[row].append(j)

    def boxes(entries: list[Mapping[str, Any]], rows: list[int]) -> np.ndarray:
        return xywh_to_xyxy(np.asarray([entries[j]["bbox"] for j in rows], dtype=np.float64))

    tasks = [
        (_inside(image_dir, im.get("file_name"), i), boxes(annotations, label_rows[i]), boxes(preds, pred_rows[i]))
        for i, im in enumerate(images)
    ]
    n_workers = min(os.cpu_count() or 1, 8) if workers is None else positive_int(workers, "workers")
    chunks = [(tasks[i : i + 32], pad) for i in range(0, n, 32)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc="embedding", unit="frame")
    try:
        frames, labels, inferences = [], [], []
        with process_map(_embed_files, chunks, workers=n_workers, serial=n < 64) as results:
            for f, lab, pr, k in results:
                frames.append(f)
                labels.append(lab)
                inferences.append(pr)
                if bar is not None:
                    bar.update(k)
    finally:
        if bar is not None:
            bar.close()
    label_order = np.asarray([j for rows in label_rows for j in rows], dtype=np.int64)
    pred_order = np.asarray([j for rows in pred_rows for j in rows], dtype=np.int64)
    lab_vec = _scatter(labels, label_order, len(annotations), CROP_DIM)
    pred_vec = _scatter(inferences, pred_order, len(preds), CROP_DIM)
    frame_vec = np.concatenate(frames) if frames else np.zeros((0, FRAME_RAW_DIM), np.float32)
    if frame_dim is not None:
        frame_vec = project(frame_vec, dim=frame_dim)
    if crop_dim is not None:
        lab_vec, pred_vec = project(lab_vec, dim=crop_dim), project(pred_vec, dim=crop_dim)
    return DatasetEmbeddings(
        frame_ids=np.asarray([int(im["id"]) for im in images], dtype=np.int64),
        frames=frame_vec,
        label_ids=np.asarray([int(a["id"]) for a in annotations], dtype=np.int64),
        labels=lab_vec,
        pred_ids=np.arange(len(preds), dtype=np.int64),
        preds=pred_vec,
    )


def _scatter(parts: list[np.ndarray], order: np.ndarray, n: int, d: int) -> np.ndarray:
    out = np.zeros((n, d), dtype=np.float32)
    if order.size:
        out[order] = np.concatenate(parts)
    return out
