"""Columnar data model: frames, labels, inference sets and the class map.

Everything is held as parallel numpy columns (one array per field), never as lists of
per-box objects, so that every computation over a dataset is vectorised.

Conventions
-----------
* Boxes are pixel boxes ``[x1, y1, x2, y2]`` (float64, shape ``(n, 4)``); COCO's
  ``[x, y, width, height]`` is converted on import.
* Frames are referred to by their *row index* (``0 .. n_frames - 1``); their external
  ids (COCO ``image_id``) live in :attr:`Frames.id`.
* Classes are referred to by their *class index* (``0 .. n_classes - 1``), in ascending
  category-id order; the background is class index ``n_classes``.
* An inference is referred to by its row index, which is its 0-based position in the
  results file it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from aquaembed.errors import InputError, NotFoundError

__all__ = ["ClassMap", "Frames", "Labels", "Inferences", "Dataset"]


def _column(value: object, dtype: type | np.dtype, name: str, n: int | None = None) -> np.ndarray:
    arr = np.ascontiguousarray(value, dtype=dtype)
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-d array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise InputError(f"{name}: expected {n} entries, got {arr.shape[0]}")
    return arr


def _boxes(value: object, name: str, n: int) -> np.ndarray:
    arr = np.ascontiguousarray(value, dtype=np.float64)
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.shape[0] != n:
        raise InputError(f"{name}: expected boxes of shape ({n}, 4), got {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise InputError(f"{name}: box {bad} has a NaN or infinite coordinate")
    if (arr[:, 2] < arr[:, 0]).any() or (arr[:, 3] < arr[:, 1]).any():
        bad = int(np.flatnonzero((arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1]))[0])
        raise InputError(f"{name}: box {bad} has a negative width or height: {arr[bad].tolist()}")
    return arr


def _box_areas(value: object, box: np.ndarray, name: str) -> np.ndarray:
    """Given box areas (checked: finite, >= 0), or the areas of ``box`` when None."""
    if value is None:
        return (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    arr = _column(value, np.float64, name, box.shape[0])
    bad = ~(np.isfinite(arr) & (arr >= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{name}: entry {i} is {arr[i]!r}, expected a finite number >= 0")
    return arr


def _check_index(arr: np.ndarray, upper: int, name: str) -> None:
    if arr.size and (arr.min() < 0 or arr.max() >= upper):
        bad = int(np.flatnonzero((arr < 0) | (arr >= upper))[0])
        raise InputError(f"{name}: entry {bad} is {int(arr[bad])}, outside [0, {upper})")


@dataclass(frozen=True, eq=False)
class ClassMap:
    """Class names in ascending category-id order.

    Parameters
    ----------
    ids : array of int64, shape (C,)
        External category ids, strictly increasing.
    names : sequence of str, length C
        Display names, unique.
    """

    ids: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        ids = _column(self.ids, np.int64, "class ids")
        names = tuple(str(n) for n in self.names)
        if len(names) != ids.shape[0]:
            raise InputError(f"class map: {ids.shape[0]} ids but {len(names)} names")
        if ids.size > 1 and (np.diff(ids) <= 0).any():
            raise InputError("class map: category ids must be strictly increasing")
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise InputError(f"class map: the class name {dup!r} appears twice")
        if "background" in names:
            raise InputError("class map: 'background' is reserved for the background class")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "names", names)

    @property
    def n_classes(self) -> int:
        """Number of real classes ``C`` (the background is index ``C``)."""
        return len(self.names)

    @property
    def background(self) -> int:
        """Class index of the background."""
        return len(self.names)

    @property
    def names_with_background(self) -> list[str]:
        """Class names followed by ``"background"``, length ``C + 1``."""
        return [*self.names, "background"]

    def index_of_ids(self, category_ids: np.ndarray) -> np.ndarray:
        """Map external category ids to class indices.

        Parameters
        ----------
        category_ids : array of int, shape (n,)

        Returns
        -------
        array of int64, shape (n,)
            Class indices; ``-1`` where the id is unknown.
        """
        category_ids = np.asarray(category_ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, category_ids)
        pos = np.minimum(pos, max(self.ids.shape[0] - 1, 0))
        ok = self.ids.shape[0] > 0
        found = (self.ids[pos] == category_ids) if ok else np.zeros(category_ids.shape, bool)
        return np.where(found, pos, -1).astype(np.int64)

    def index_of_name(self, name: str) -> int:
        """Class index of a class name (``"background"`` gives ``C``)."""
        if name == "background":
            return self.background
        try:
            return self.names.index(name)
        except ValueError:
            raise NotFoundError(f"unknown class {name!r}; known: {', '.join(self.names)}") from None


@dataclass(frozen=True, eq=False)
class Frames:
    """The frames (images) of a dataset.

    Parameters
    ----------
    id : array of int64, shape (F,)
        External frame ids (COCO ``image_id``), unique.
    file_name : array of str, shape (F,)
    width, height : array of float64, shape (F,)
        Image size in pixels (NaN when unknown).
    metadata : mapping of str to array, each shape (F,)
        Extra per-frame fields (scene, time of day, ...).
    """

    id: np.ndarray
    file_name: np.ndarray
    width: np.ndarray
    height: np.ndarray
    metadata: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = _column(self.id, np.int64, "frame ids")
        n = ids.shape[0]
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise InputError(f"frames: the frame id {int(uniq[counts > 1][0])} appears twice")
        object.__setattr__(self, "id", ids)
        object.__setattr__(self, "file_name", _column(self.file_name, object, "frame file names", n))
        object.__setattr__(self, "width", _column(self.width, np.float64, "frame widths", n))
        object.__setattr__(self, "height", _column(self.height, np.float64, "frame heights", n))
        meta = {}
        for key, col in dict(self.metadata).items():
            arr = np.asarray(col)
            if arr.shape != (n,):
                raise InputError(f"frame metadata {key!r}: expected shape ({n},), got {arr.shape}")
            meta[str(key)] = arr
        object.__setattr__(self, "metadata", meta)
        order = np.argsort(ids, kind="stable")
        object.__setattr__(self, "_sorted_ids", ids[order])
        object.__setattr__(self, "_sorted_rows", order)

    def __len__(self) -> int:
        return int(self.id.shape[0])

    def index_of_ids(self, frame_ids: np.ndarray) -> np.ndarray:
        """Map external frame ids to row indices (``-1`` where unknown).

        Parameters
        ----------
        frame_ids : array of int, shape (n,)

        Returns
        -------
        array of int64, shape (n,)
        """
        frame_ids = np.asarray(frame_ids, dtype=np.int64)
        sorted_ids: np.ndarray = self._sorted_ids  # type: ignore[attr-defined]
        rows: np.ndarray = self._sorted_rows  # type: ignore[attr-defined]
        if sorted_ids.size == 0:
            return np.full(frame_ids.shape, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, frame_ids), sorted_ids.size - 1)
        return np.where(sorted_ids[pos] == frame_ids, rows[pos], -1).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Labels:
    """Ground-truth boxes.

    Parameters
    ----------
    id : array of int64, shape (L,)
        External label ids (COCO annotation ``id``), unique.
    frame : array of int64, shape (L,)
        Frame row index of each label.
    cls : array of int64, shape (L,)
        Class index of each label.
    box : array of float64, shape (L, 4)
        ``[x1, y1, x2, y2]`` in pixels.
    area : array of float64, shape (L,)
        Object area in square pixels, as the source gives it (COCO ``area`` is the
        segmentation area; it decides COCO's small/medium/large ranges).
    crowd : array of bool, shape (L,)
        COCO ``iscrowd`` flag.
    box_area : array of float64, shape (L,), optional
        Box area in square pixels as the source computes it (COCO: ``width * height``
        of the given bbox), used for IoU so that a pair exactly on a threshold lands
        where pycocotools puts it. Default: computed from ``box``.
    """

    id: np.ndarray
    frame: np.ndarray
    cls: np.ndarray
    box: np.ndarray
    area: np.ndarray
    crowd: np.ndarray
    box_area: np.ndarray | None = None

    def __post_init__(self) -> None:
        ids = _column(self.id, np.int64, "label ids")
        n = ids.shape[0]
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise InputError(f"labels: the label id {int(uniq[counts > 1][0])} appears twice")
        object.__setattr__(self, "id", ids)
        object.__setattr__(self, "frame", _column(self.frame, np.int64, "label frames", n))
        object.__setattr__(self, "cls", _column(self.cls, np.int64, "label classes", n))
        object.__setattr__(self, "box", _boxes(self.box, "label boxes", n))
        object.__setattr__(self, "area", _column(self.area, np.float64, "label areas", n))
        object.__setattr__(self, "crowd", _column(self.crowd, bool, "label crowd flags", n))
        object.__setattr__(self, "box_area", _box_areas(self.box_area, self.box, "label box areas"))

    def __len__(self) -> int:
        return int(self.id.shape[0])


@dataclass(frozen=True, eq=False)
class Inferences:
    """One named set of model inferences.

    Parameters
    ----------
    frame : array of int64, shape (N,)
        Frame row index of each inference.
    cls : array of int64, shape (N,)
        Class index of each inference.
    box : array of float64, shape (N, 4)
        ``[x1, y1, x2, y2]`` in pixels.
    score : array of float64, shape (N,)
        Confidence in [0, 1].
    name : str
        Name of the inference set (the model).
    box_area : array of float64, shape (N,), optional
        Box area in square pixels as the source computes it (COCO results:
        ``width * height``; pycocotools uses it for IoU and the area ranges).
        Default: computed from ``box``.

    Notes
    -----
    Row ``i`` is the inference at 0-based position ``i`` of its results file.
    """

    frame: np.ndarray
    cls: np.ndarray
    box: np.ndarray
    score: np.ndarray
    name: str = "model"
    box_area: np.ndarray | None = None

    def __post_init__(self) -> None:
        frame = _column(self.frame, np.int64, "inference frames")
        n = frame.shape[0]
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "cls", _column(self.cls, np.int64, "inference classes", n))
        object.__setattr__(self, "box", _boxes(self.box, "inference boxes", n))
        score = _column(self.score, np.float64, "inference scores", n)
        bad = ~((score >= 0.0) & (score <= 1.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"inference scores: entry {i} is {score[i]!r}, expected a number in [0, 1]")
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "box_area", _box_areas(self.box_area, self.box, "inference box areas"))

    def __len__(self) -> int:
        return int(self.frame.shape[0])


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labeled dataset with any number of named inference sets.

    Parameters
    ----------
    classes : ClassMap
    frames : Frames
    labels : Labels
    inferences : mapping of str to Inferences
        Keyed by inference-set name.
    """

    classes: ClassMap
    frames: Frames
    labels: Labels
    inferences: Mapping[str, Inferences] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_frames, n_classes = len(self.frames), self.classes.n_classes
        _check_index(self.labels.frame, n_frames, "label frames")
        _check_index(self.labels.cls, n_classes, "label classes")
        for name, inf in dict(self.inferences).items():
            _check_index(inf.frame, n_frames, f"inference set {name!r} frames")
            _check_index(inf.cls, n_classes, f"inference set {name!r} classes")
        object.__setattr__(self, "inferences", dict(self.inferences))

    def inference_set(self, name: str | None = None) -> Inferences:
        """The inference set called ``name`` (the only one when ``name`` is None)."""
        sets: dict[str, Inferences] = self.inferences  # type: ignore[assignment]
        if name is None:
            if len(sets) == 1:
                return next(iter(sets.values()))
            raise NotFoundError(
                f"name an inference set; this dataset has {len(sets)}: {', '.join(sets) or 'none'}"
            )
        try:
            return sets[name]
        except KeyError:
            raise NotFoundError(
                f"unknown inference set {name!r}; known: {', '.join(sets) or 'none'}"
            ) from None

    def with_inferences(self, inferences: Inferences) -> Dataset:
        """A copy of this dataset with ``inferences`` added (or replacing a same-named set)."""
        sets = dict(self.inferences)
        sets[inferences.name] = inferences
        return Dataset(self.classes, self.frames, self.labels, sets)
