"""Ultralytics YOLO text labels and predictions: reading, validation and writing.

A YOLO dataset is a folder of images and a parallel folder of ``.txt`` files, one per
image (``images/a/b.jpg`` ↔ ``labels/a/b.txt``; an image without a file has no
labels). Each line is one box, ``class cx cy w h``, the class a 0-based index into
the names of ``data.yaml`` (or a names file), the box centre and size normalised by
the image width and height. Predictions add a trailing confidence:
``class cx cy w h conf`` (Ultralytics ``save_txt=True, save_conf=True``).

Normalised boxes need the image sizes: they are read from the image headers (no
pixel decode). Frames get ids 1, 2, ... in sorted image order, labels ids 1, 2, ...
in file and line order, categories ids ``class index + 1`` (see
:mod:`aquaembed.io._common`).

Every problem is one line naming the file, the line and the field, e.g.
``labels/a.txt: line 3: field 4 (w) must be a normalised number in [0, 1], got 1.7``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import numpy as np

from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
from aquaembed.errors import InputError, ParameterError, StoreError
from aquaembed.io._common import (
    find_names,
    image_sizes,
    list_images,
    read_names,
    stem_of,
)
from aquaembed.store.atomic import atomic_write_bytes

__all__ = ["load_yolo_gt", "load_yolo_results", "write_yolo", "yolo_images_for"]

StrPath: TypeAlias = "str | os.PathLike[str]"

_LABEL_FIELDS = ("class", "cx", "cy", "w", "h")
_PRED_FIELDS = (*_LABEL_FIELDS, "conf")


# ----------------------------------------------------------------- text parsing


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise InputError(f"{os.fspath(path)}: cannot read the file ({reason})") from None


def _why_line(tokens: list[str], fields: Sequence[str], n_classes: int) -> str | None:
    """What is wrong with one line's tokens, or None."""
    if len(tokens) != len(fields):
        return f"expected {len(fields)} fields ({' '.join(fields)}), got {len(tokens)}"
    for i, (tok, field) in enumerate(zip(tokens, fields)):
        try:
            v = float(tok)
        except ValueError:
            return f"field {i + 1} ({field}) must be a number, got {tok!r}"
        if field == "class":
            if not (np.isfinite(v) and v.is_integer() and 0 <= v < n_classes):
                return f"field 1 (class) must be a class index in [0, {n_classes}), got {tok}"
        elif field == "conf":
            if not 0.0 <= v <= 1.0:
                return f"field {i + 1} (conf) must be a number in [0, 1], got {tok}"
        elif not 0.0 <= v <= 1.0:
            return f"field {i + 1} ({field}) must be a normalised number in [0, 1], got {tok}"
    return None


def _raise_first(path: Path, text: str, fields: Sequence[str], n_classes: int) -> None:
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            problem = _why_line(line.split(), fields, n_classes)
            if problem is not None:
                raise InputError(f"{os.fspath(path)}: line {lineno}: {problem}")


def _read_rows(paths: Sequence[Path], fields: Sequence[str], n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The boxes of many files at once.

    Returns
    -------
    file : array of int64, shape (R,)
        Position in ``paths`` of each row's file.
    values : array of float64, shape (R, len(fields))
        The fields of each non-blank line, in file and line order.
    """
    k = len(fields)
    texts = [_read_text(p) for p in paths]
    lines_of = [[line for line in t.splitlines() if line.strip()] for t in texts]
    counts = np.fromiter(map(len, lines_of), dtype=np.int64, count=len(lines_of))
    lines = [line for ls in lines_of for line in ls]
    file = np.repeat(np.arange(len(paths), dtype=np.int64), counts)
    ok = True
    values = np.zeros((0, k))
    widths = np.fromiter(map(len, map(str.split, lines)), dtype=np.int64, count=len(lines))
    if (widths != k).any():
        ok = False
    else:
        try:
            values = np.array(" ".join(lines).split(), dtype=np.float64).reshape(-1, k)
        except ValueError:
            ok = False
    if ok:
        cls, rest = values[:, 0], values[:, 1:]
        good = np.isfinite(values).all(axis=1) & (cls >= 0) & (cls < n_classes) & (cls == np.floor(cls))
        good &= ((rest >= 0) & (rest <= 1)).all(axis=1)
        ok = bool(good.all())
    if not ok:  # find and describe the first bad line, in file order
        for path, text in zip(paths, texts):
            _raise_first(path, text, fields, n_classes)
        raise InputError(f"{os.fspath(paths[0]) if paths else 'YOLO'}: malformed lines")  # pragma: no cover
    return file, values


_DECIMALS = 6  # pixel coordinates are rounded to 1e-6 px


def _pixel_boxes(values: np.ndarray, width: np.ndarray, height: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised ``cx cy w h`` → pixel ``[x1, y1, x2, y2]`` and box area (square pixels).

    Corners are rounded to :data:`_DECIMALS` decimals of a pixel. Text normalised
    coordinates carry no more than that (Ultralytics writes 6 significant digits),
    and the rounding undoes the float noise of dividing and multiplying by the image
    size: integer pixel boxes written by :func:`write_yolo` read back exactly, so a
    COCO → YOLO → COCO conversion keeps every IoU and area, thresholds included.
    """
    half_w, half_h = values[:, 3] / 2.0, values[:, 4] / 2.0
    box = np.stack(
        [
            (values[:, 1] - half_w) * width,
            (values[:, 2] - half_h) * height,
            (values[:, 1] + half_w) * width,
            (values[:, 2] + half_h) * height,
        ],
        axis=1,
    )
    box = np.round(box, _DECIMALS)
    return box, (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])


# ------------------------------------------------------------------- ground truth


def yolo_images_for(labels: Path) -> Path:
    """The images folder of an Ultralytics labels folder (``.../labels/x`` → ``.../images/x``)."""
    parts = labels.resolve().parts
    if "labels" in parts:
        i = len(parts) - 1 - parts[::-1].index("labels")
        candidate = Path(*parts[:i], "images", *parts[i + 1 :])
        if candidate.is_dir():
            return candidate
    for candidate in (labels / "images", labels.parent / "images"):
        if candidate.is_dir():
            return candidate
    raise ParameterError(
        f"{os.fspath(labels)}: cannot find the images (looked for an images/ folder beside labels/); pass --images DIR",
        parameter="images",
    )


def load_yolo_gt(
    labels: StrPath, *, images: StrPath | None = None, names: StrPath | Sequence[str] | None = None
) -> Dataset:
    """Read a YOLO labels folder as a dataset.

    Parameters
    ----------
    labels : str or path-like
        Folder of ``.txt`` label files (searched recursively), or a ``data.yaml``
        whose folder holds ``labels/``.
    images : str or path-like, optional
        The images folder (default: Ultralytics' ``labels`` → ``images`` sibling).
        Every image is a frame; its size is read from its header.
    names : path or sequence of str, optional
        Class names: a ``data.yaml`` / names file, or the names themselves
        (default: ``data.yaml``, ``classes.txt``, ... in or above ``labels``).

    Returns
    -------
    Dataset
        Frames in sorted image order (ids 1..F, ``file_name`` relative to
        ``images``), labels in file and line order (ids 1..L), class index = YOLO
        class index, category id = index + 1.

    Raises
    ------
    InputError
        A bad line (file, line and field named), a label file without an image, an
        unreadable image header.
    ParameterError
        No images folder or names file found.
    """
    root = Path(labels)
    if root.is_file() and root.suffix.lower() in (".yaml", ".yml"):
        names = root if names is None else names
        root = root.parent / "labels"
    if not root.is_dir():
        raise ParameterError(f"{os.fspath(root)}: not a folder of YOLO label files", parameter="gt")
    class_names = _names(names, root)
    image_root = Path(images) if images is not None else yolo_images_for(root)
    files = list_images(image_root)
    row_of = {stem_of(f): i for i, f in enumerate(files)}
    label_files = sorted(root.rglob("*.txt"), key=lambda p: p.relative_to(root).as_posix())
    label_files = [p for p in label_files if p.name != "classes.txt"]
    frame_of_file = np.empty(len(label_files), dtype=np.int64)
    for k, path in enumerate(label_files):
        row = row_of.get(stem_of(path.relative_to(root).as_posix()))
        if row is None:
            raise InputError(f"{os.fspath(path)}: no image for this label file in {os.fspath(image_root)}")
        frame_of_file[k] = row
    width, height = image_sizes(image_root, files)
    file, values = _read_rows(label_files, _LABEL_FIELDS, len(class_names))
    frame = frame_of_file[file]
    box, box_area = _pixel_boxes(values, width[frame], height[frame])
    n = frame.shape[0]
    frames = Frames(np.arange(1, len(files) + 1), np.array(files, dtype=object), width, height)
    classes = ClassMap(np.arange(1, len(class_names) + 1), tuple(class_names))
    labels_ = Labels(
        np.arange(1, n + 1), frame, values[:, 0].astype(np.int64), box, box_area.copy(), np.zeros(n, bool), box_area
    )
    return Dataset(classes, frames, labels_)


def _names(names: StrPath | Sequence[str] | None, root: Path) -> list[str]:
    if names is None:
        return read_names(find_names(root, what=os.fspath(root)))
    if isinstance(names, (str, os.PathLike)):
        return read_names(names)
    return [str(n) for n in names]


# ------------------------------------------------------------------- predictions


def _frame_rows(dataset: Dataset) -> tuple[dict[str, int], dict[str, int]]:
    """Frame row by relative stem, and by base name stem where that is unambiguous."""
    full: dict[str, int] = {}
    base: dict[str, int] = {}
    clash: set[str] = set()
    for row, name in enumerate(dataset.frames.file_name.tolist()):
        stem = stem_of(str(name))
        full[stem] = row
        short = stem.rsplit("/", 1)[-1]
        if short in base:
            clash.add(short)
        base[short] = row
    for short in clash:
        del base[short]
    return full, base


def load_yolo_results(
    path: StrPath, dataset: Dataset, *, name: str = "model", names: StrPath | Sequence[str] | None = None
) -> Inferences:
    """Read a folder of YOLO prediction files (``class cx cy w h conf``) against a dataset.

    Parameters
    ----------
    path : str or path-like
        Folder of ``.txt`` files, one per image, named like the image (the frame's
        ``file_name`` without its suffix, or its base name when that is unique).
    dataset : Dataset
        The ground truth: gives the frames, their sizes and the classes.
    name : str
        Name of the inference set.
    names : path or sequence of str, optional
        Class names of the model's indices; each must be a class of ``dataset``
        (default: the model's index is the dataset's class index).

    Returns
    -------
    Inferences
        Row ``i`` is line ``i`` counting over the files in sorted order (that is the
        ``pred_index``).

    Raises
    ------
    InputError
        A bad line (file, line, field), a file for no frame, a frame without a size,
        a class name the dataset lacks.
    """
    root = Path(path)
    if not root.is_dir():
        raise ParameterError(f"{os.fspath(root)}: not a folder of YOLO prediction files", parameter="pred")
    to_class = np.arange(dataset.classes.n_classes)
    if names is not None:
        model_names = _names(names, root)
        known = {n: i for i, n in enumerate(dataset.classes.names)}
        missing = [n for n in model_names if n not in known]
        if missing:
            raise InputError(f"{os.fspath(root)}: class {missing[0]!r} of the names is not in the ground truth")
        to_class = np.array([known[n] for n in model_names], dtype=np.int64)
    full, base = _frame_rows(dataset)
    files = sorted(root.rglob("*.txt"), key=lambda p: p.relative_to(root).as_posix())
    frame_of_file = np.empty(len(files), dtype=np.int64)
    for k, p in enumerate(files):
        stem = stem_of(p.relative_to(root).as_posix())
        row = full.get(stem, base.get(stem.rsplit("/", 1)[-1]))
        if row is None:
            raise InputError(f"{os.fspath(p)}: no frame of the ground truth is called {stem!r} (+ an image suffix)")
        frame_of_file[k] = row
    file, values = _read_rows(files, _PRED_FIELDS, to_class.shape[0])
    frame = frame_of_file[file]
    width, height = dataset.frames.width[frame], dataset.frames.height[frame]
    unknown = ~(np.isfinite(width) & np.isfinite(height))
    if unknown.any():
        fid = int(dataset.frames.id[frame[np.flatnonzero(unknown)[0]]])
        raise InputError(f"{os.fspath(root)}: frame {fid} has no known image size, needed for normalised boxes")
    box, box_area = _pixel_boxes(values, width, height)
    return Inferences(frame, to_class[values[:, 0].astype(np.int64)], box, values[:, 5], name=name, box_area=box_area)


# ------------------------------------------------------------------------ writing


def _lines(values: np.ndarray, cls: np.ndarray) -> list[str]:
    return [" ".join([str(c), *map(repr, row)]) for c, row in zip(cls.tolist(), values.tolist())]


def _normalised(box: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    return np.stack([(box[:, 0] + w / 2) / width, (box[:, 1] + h / 2) / height, w / width, h / height], axis=1)


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, text.encode())
    except OSError as exc:
        raise StoreError(f"{os.fspath(path)}: cannot write the file ({exc.strerror or type(exc).__name__})") from None


def write_yolo(dataset: Dataset, out: StrPath, *, inferences: Inferences | None = None) -> None:
    """Write a dataset as YOLO text files: ``labels/``, ``data.yaml`` and ``predictions/``.

    One label file per frame (empty when it has no labels), named after the frame's
    ``file_name`` without suffix; ``data.yaml`` lists the names in class-index order.
    With ``inferences``, ``predictions/`` holds them with a trailing confidence. The
    images are not copied: read the result with ``images=`` the original folder.

    Raises
    ------
    InputError
        A frame with an unknown size (normalising needs it).
    StoreError
        A file cannot be written.
    """
    import yaml

    out = Path(out)
    frames = dataset.frames
    if not (np.isfinite(frames.width) & np.isfinite(frames.height)).all():
        bad = int(frames.id[np.flatnonzero(~np.isfinite(frames.width + frames.height))[0]])
        raise InputError(f"frame {bad} has no known image size: YOLO boxes are normalised by it")
    sets = [("labels", dataset.labels.frame, dataset.labels.cls, dataset.labels.box, None)]
    if inferences is not None:
        sets.append(("predictions", inferences.frame, inferences.cls, inferences.box, inferences.score))
    for folder, frame, cls, box, score in sets:
        values = _normalised(box, frames.width[frame], frames.height[frame])
        if score is not None:
            values = np.concatenate([values, score[:, None]], axis=1)
        order = np.argsort(frame, kind="stable")
        lines = _lines(values[order], cls[order])
        bounds = np.searchsorted(frame[order], np.arange(len(frames) + 1))
        for row, file_name in enumerate(frames.file_name.tolist()):
            text = "".join(f"{line}\n" for line in lines[bounds[row] : bounds[row + 1]])
            _write_text(out / folder / f"{stem_of(str(file_name))}.txt", text)
    doc = {"names": {i: n for i, n in enumerate(dataset.classes.names)}}
    _write_text(out / "data.yaml", yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
