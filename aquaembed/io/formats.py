"""One entry point for every annotation format: detection from the path, then the reader.

``load_gt`` and ``load_inferences`` are what ``evaluate``, ``ingest``,
``add-inferences`` and ``convert`` call; they pick the COCO, YOLO or Pascal VOC
reader from ``format`` or, when it is None, from the path:

* a ``.json`` file → COCO;
* a ``.yaml`` file, or a folder of ``.txt`` files → YOLO;
* an ``.xml`` file, or a folder of ``.xml`` files → Pascal VOC.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

from aquaembed._typing import BoxFormat, Difficult
from aquaembed.data import Dataset, Inferences
from aquaembed.errors import InputError, ParameterError

__all__ = ["BOX_FORMATS", "detect_format", "fill_image_sizes", "load_gt", "load_inferences", "write_gt"]

StrPath: TypeAlias = "str | os.PathLike[str]"
BOX_FORMATS: tuple[BoxFormat, ...] = ("coco", "yolo", "voc")


def detect_format(path: StrPath, *, parameter: str = "gt") -> BoxFormat:
    """The format of an annotation file or folder, from its suffix or the files it holds.

    Raises
    ------
    ParameterError
        The path does not exist or holds no ``.json``, ``.txt`` or ``.xml``: the
        message says so and names ``--format``.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if p.is_file() or not p.exists():
        kinds = {".json": "coco", ".yaml": "yolo", ".yml": "yolo", ".xml": "voc"}
        if suffix in kinds:
            return kinds[suffix]  # type: ignore[return-value]
        if not p.exists():
            raise ParameterError(f"--{parameter}: {os.fspath(p)!r} does not exist", parameter=parameter)
        return "coco"  # a file of another suffix: let the COCO reader say what it holds
    has_xml = next(p.rglob("*.xml"), None) is not None
    has_txt = next((q for q in p.rglob("*.txt") if q.name != "classes.txt"), None) is not None
    if has_xml and not has_txt:
        return "voc"
    if has_txt and not has_xml:
        return "yolo"
    if (p / "labels").is_dir():
        return "yolo"
    what = "both .xml and .txt files" if has_xml else "no .xml or .txt files"
    raise ParameterError(
        f"--{parameter}: cannot tell the format of the folder {os.fspath(p)!r} ({what}); pass --format coco|yolo|voc",
        parameter=parameter,
    )


def _check_format(fmt: str | None, path: StrPath, parameter: str) -> BoxFormat:
    if fmt is None:
        return detect_format(path, parameter=parameter)
    if fmt not in BOX_FORMATS:
        raise ParameterError(f"--format must be one of {', '.join(BOX_FORMATS)}, got {fmt!r}", parameter="format")
    return fmt  # type: ignore[return-value]


def load_gt(
    path: StrPath,
    *,
    format: BoxFormat | None = None,
    images: StrPath | None = None,
    names: StrPath | Sequence[str] | None = None,
    difficult: Difficult = "label",
) -> Dataset:
    """Read a ground truth in any supported format.

    Parameters
    ----------
    path : str or path-like
        A COCO JSON file, a YOLO labels folder (or its ``data.yaml``), or a folder
        of Pascal VOC XML files.
    format : {"coco", "yolo", "voc"}, optional
        Default: detected from ``path`` (:func:`detect_format`).
    images : str or path-like, optional
        YOLO only: the images folder (sizes come from the image headers).
    names : path or sequence of str, optional
        YOLO and VOC: the class names (a ``data.yaml`` or names file).
    difficult : {"label", "crowd"}
        VOC only: what ``difficult`` objects become.
    """
    fmt = _check_format(format, path, "gt")
    if fmt == "coco":
        from aquaembed.io.coco import load_coco_gt

        return load_coco_gt(path)
    if fmt == "yolo":
        from aquaembed.io.yolo import load_yolo_gt

        return load_yolo_gt(path, images=images, names=names)
    from aquaembed.io.voc import load_voc_gt

    return load_voc_gt(path, names=names, difficult=difficult)


def load_inferences(
    path: StrPath,
    dataset: Dataset,
    *,
    format: BoxFormat | None = None,
    name: str = "model",
    names: StrPath | Sequence[str] | None = None,
) -> Inferences:
    """Read one inference set in any supported format against its ground truth.

    Parameters
    ----------
    path : str or path-like
        A COCO results JSON list, a folder of YOLO prediction ``.txt`` files
        (``class cx cy w h conf``), or a folder of VOC XML files with scores.
    dataset : Dataset
        The ground truth.
    format : {"coco", "yolo", "voc"}, optional
        Default: detected from ``path``.
    name : str
        Name of the inference set.
    names : path or sequence of str, optional
        YOLO only: the model's class names, when its indices differ from the
        dataset's.
    """
    fmt = _check_format(format, path, "pred")
    if fmt == "coco":
        from aquaembed.io.coco import load_coco_results

        return load_coco_results(path, dataset, name=name)
    if fmt == "yolo":
        from aquaembed.io.yolo import load_yolo_results

        return load_yolo_results(path, dataset, name=name, names=names)
    from aquaembed.io.voc import load_voc_results

    return load_voc_results(path, dataset, name=name)


def write_gt(
    dataset: Dataset, out: StrPath, *, format: BoxFormat = "coco", inferences: Inferences | None = None
) -> list[Path]:
    """Write a dataset (and optionally one inference set) in ``format``; returns what was written.

    COCO: ``out/gt.json`` (and ``out/pred.json``); YOLO: ``out/labels/``,
    ``out/data.yaml`` (and ``out/predictions/``); VOC: ``out/annotations/`` (and
    ``out/predictions/``).
    """
    out = Path(out)
    if format == "coco":
        from aquaembed.io.coco import write_coco_gt, write_coco_results

        out.mkdir(parents=True, exist_ok=True)
        write_coco_gt(dataset, out / "gt.json")
        written = [out / "gt.json"]
        if inferences is not None:
            write_coco_results(inferences, dataset, out / "pred.json")
            written.append(out / "pred.json")
        return written
    if format == "yolo":
        from aquaembed.io.yolo import write_yolo

        write_yolo(dataset, out, inferences=inferences)
        return [out / "labels", out / "data.yaml"] + ([out / "predictions"] if inferences is not None else [])
    if format == "voc":
        from aquaembed.io.voc import write_voc

        write_voc(dataset, out / "annotations")
        written = [out / "annotations"]
        if inferences is not None:
            write_voc(dataset, out / "predictions", inferences=inferences)
            written.append(out / "predictions")
        return written
    raise ParameterError(f"--to must be one of {', '.join(BOX_FORMATS)}, got {format!r}", parameter="to")


def fill_image_sizes(dataset: Dataset, images: StrPath | None) -> Dataset:
    """``dataset`` with unknown frame sizes (NaN: absent, 0 or null in the file) read from the image headers.

    Frames whose image file is missing or unreadable keep NaN; known sizes are
    never changed. Returns ``dataset`` itself when nothing was unknown.
    """
    import numpy as np

    from aquaembed.data import Frames
    from aquaembed.io._common import image_sizes

    frames = dataset.frames
    unknown = np.flatnonzero(~(np.isfinite(frames.width) & np.isfinite(frames.height)))
    if images is None or unknown.size == 0:
        return dataset
    root = Path(images)
    names = [str(frames.file_name[i]) for i in unknown.tolist()]
    present = [k for k, name in enumerate(names) if name and (root / name).is_file()]
    width, height = frames.width.copy(), frames.height.copy()
    if present:
        try:
            w, h = image_sizes(root, [names[k] for k in present])
        except InputError:
            return dataset  # an unreadable image: its size stays unknown, the embedder reports it
        rows = unknown[present]
        width[rows], height[rows] = w, h
    sized = Frames(frames.id, frames.file_name, width, height, frames.metadata)
    return Dataset(dataset.classes, sized, dataset.labels, dataset.inferences)
