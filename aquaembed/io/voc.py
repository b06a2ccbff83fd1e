"""Pascal VOC XML annotations: reading, validation and writing.

A VOC dataset is a folder of ``.xml`` files, one per image::

    <annotation>
      <filename>2007_000027.jpg</filename>
      <size><width>486</width><height>500</height></size>
      <object>
        <name>person</name> <difficult>0</difficult>
        <bndbox><xmin>174</xmin><ymin>101</ymin><xmax>349</xmax><ymax>351</ymax></bndbox>
      </object>
    </annotation>

Boxes are pixel corners, taken as given (``[xmin, ymin, xmax, ymax]``, as the usual
VOC → COCO conversions do). ``difficult`` objects are ordinary labels by default; with
``difficult="crowd"`` they become crowd-like regions, ignored by ``--crowd`` matching
(a detection on them is neither TP nor FP, a missed one is no FN). Predictions use the
same layout with a ``<score>`` (or ``<confidence>``) in each object.

Frames get ids 1, 2, ... in sorted file order, labels 1, 2, ... in file and object
order, categories ``class index + 1`` in the order of the names file (default:
sorted names). Every problem is one line naming the file, the object and the field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias
from xml.sax.saxutils import escape

import numpy as np

from aquaembed._typing import Difficult
from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
from aquaembed.errors import InputError, ParameterError, StoreError
from aquaembed.io._common import read_names, stem_of
from aquaembed.store.atomic import atomic_write_bytes

__all__ = ["Difficult", "load_voc_gt", "load_voc_results", "write_voc"]

StrPath: TypeAlias = "str | os.PathLike[str]"

_CORNERS = ("xmin", "ymin", "xmax", "ymax")


class _File:
    """The parsed content of one XML file (only what aquaembed uses)."""

    def __init__(self, path: Path, *, scored: bool) -> None:
        # defusedxml refuses entity bombs and external entities
        from defusedxml import DefusedXmlException
        from defusedxml import ElementTree as ET

        self.path = path
        label = os.fspath(path)
        try:
            root = ET.parse(path).getroot()
        except OSError as exc:
            raise InputError(f"{label}: cannot read the file ({exc.strerror or type(exc).__name__})") from None
        except ET.ParseError as exc:
            line, col = exc.position
            raise InputError(f"{label}: not valid XML (line {line}, column {col})") from None
        except DefusedXmlException as exc:  # entities, DTDs, external references
            raise InputError(f"{label}: refused XML ({type(exc).__name__})") from None
        if root.tag != "annotation":
            raise InputError(f"{label}: expected an <annotation> root element, got <{root.tag}>")
        self.file_name = (root.findtext("filename") or "").strip() or f"{path.stem}.jpg"
        self.width = self._size(root, "width")
        self.height = self._size(root, "height")
        self.names: list[str] = []
        self.boxes: list[list[float]] = []
        self.difficult: list[bool] = []
        self.scores: list[float] = []
        for k, obj in enumerate(root.findall("object")):
            self._object(k, obj, scored)

    def _fail(self, where: str, problem: str) -> InputError:
        return InputError(f"{os.fspath(self.path)}: {where}: {problem}")

    def _size(self, root, key: str) -> float:
        text = root.findtext(f"size/{key}")
        if text is None or not text.strip():
            return math.nan
        try:
            v = float(text)
        except ValueError:
            raise self._fail("size", f"{key} must be a number, got {text.strip()!r}") from None
        if not (math.isfinite(v) and v >= 0):
            raise self._fail("size", f"{key} must be a finite number >= 0, got {text.strip()}")
        return v if v > 0 else math.nan  # 0: unknown

    def _object(self, k: int, obj, scored: bool) -> None:
        name = (obj.findtext("name") or "").strip()
        where = f"object {k + 1}" + (f" ({name})" if name else "")
        if not name:
            raise self._fail(where, "missing <name>")
        box = []
        for key in _CORNERS:
            text = obj.findtext(f"bndbox/{key}")
            if text is None:
                raise self._fail(where, f"missing <bndbox><{key}>")
            try:
                v = float(text)
            except ValueError:
                raise self._fail(where, f"bndbox/{key} must be a number, got {text.strip()!r}") from None
            if not math.isfinite(v):
                raise self._fail(where, f"bndbox/{key} must be finite, got {text.strip()}")
            box.append(v)
        if box[2] < box[0]:
            raise self._fail(where, f"bndbox/xmax must be >= xmin, got xmin {box[0]:g}, xmax {box[2]:g}")
        if box[3] < box[1]:
            raise self._fail(where, f"bndbox/ymax must be >= ymin, got ymin {box[1]:g}, ymax {box[3]:g}")
        flag = (obj.findtext("difficult") or "0").strip()
        if flag not in ("0", "1", "true", "false"):
            raise self._fail(where, f"difficult must be 0 or 1, got {flag!r}")
        if scored:
            text = obj.findtext("score")
            text = obj.findtext("confidence") if text is None else text
            if text is None:
                raise self._fail(where, "missing <score> (a prediction needs a confidence)")
            try:
                s = float(text)
            except ValueError:
                s = math.nan
            if not 0.0 <= s <= 1.0:
                raise self._fail(where, f"score must be a number in [0, 1], got {text.strip()!r}")
            self.scores.append(s)
        self.names.append(name)
        self.boxes.append(box)
        self.difficult.append(flag in ("1", "true"))


def _files(path: StrPath, what: str, *, scored: bool) -> list[_File]:
    root = Path(path)
    if root.is_file() and root.suffix.lower() == ".xml":
        paths = [root]
    elif root.is_dir():
        paths = sorted(root.rglob("*.xml"), key=lambda p: p.relative_to(root).as_posix())
    else:
        raise ParameterError(f"{os.fspath(root)}: not a folder of Pascal VOC .xml files", parameter=what)
    if not paths:
        raise InputError(f"{os.fspath(root)}: no .xml files")
    return [_File(p, scored=scored) for p in paths]


def _class_index(files: Sequence[_File], names: list[str]) -> np.ndarray:
    known = {n: i for i, n in enumerate(names)}
    out = []
    for f in files:
        for k, n in enumerate(f.names):
            if n not in known:
                raise f._fail(f"object {k + 1} ({n})", f"class {n!r} is not in the class names")
            out.append(known[n])
    return np.asarray(out, dtype=np.int64)


def _columns(files: Sequence[_File]) -> tuple[np.ndarray, np.ndarray]:
    counts = np.array([len(f.names) for f in files], dtype=np.int64)
    box = np.array([b for f in files for b in f.boxes], dtype=np.float64).reshape(-1, 4)
    return np.repeat(np.arange(len(files), dtype=np.int64), counts), box


def load_voc_gt(
    path: StrPath, *, names: StrPath | Sequence[str] | None = None, difficult: Difficult = "label"
) -> Dataset:
    """Read a folder of Pascal VOC XML files as a dataset.

    Parameters
    ----------
    path : str or path-like
        Folder of ``.xml`` files (searched recursively) or one file.
    names : path or sequence of str, optional
        Class names in index order (a names file or ``data.yaml``, or the names);
        default: the sorted names found in the files.
    difficult : {"label", "crowd"}
        ``"crowd"`` marks difficult objects as crowd regions (ignored when matching
        with ``crowd=True``); ``"label"`` (default) keeps them as plain labels.

    Returns
    -------
    Dataset
        One frame per file (ids 1..F), ``file_name`` from ``<filename>``, size
        from ``<size>`` (NaN when absent or 0).

    Raises
    ------
    InputError
        Malformed XML or a bad field, naming the file, the object and the field.
    """
    if difficult not in ("label", "crowd"):
        raise ParameterError(f"difficult must be 'label' or 'crowd', got {difficult!r}", parameter="difficult")
    files = _files(path, "gt", scored=False)
    if names is None:
        class_names = sorted({n for f in files for n in f.names})
    elif isinstance(names, (str, os.PathLike)):
        class_names = read_names(names)
    else:
        class_names = [str(n) for n in names]
    file_names = [f.file_name for f in files]
    seen: dict[str, Path] = {}
    for f in files:
        if f.file_name in seen:
            raise InputError(f"{os.fspath(f.path)}: filename {f.file_name!r} is also in {os.fspath(seen[f.file_name])}")
        seen[f.file_name] = f.path
    frames = Frames(
        np.arange(1, len(files) + 1),
        np.array(file_names, dtype=object),
        np.array([f.width for f in files]),
        np.array([f.height for f in files]),
    )
    frame, box = _columns(files)
    cls = _class_index(files, class_names)
    hard = np.array([d for f in files for d in f.difficult], dtype=bool)
    n = frame.shape[0]
    labels = Labels(
        np.arange(1, n + 1), frame, cls, box, (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]),
        hard if difficult == "crowd" else np.zeros(n, dtype=bool),
    )
    classes = ClassMap(np.arange(1, len(class_names) + 1), tuple(class_names))
    return Dataset(classes, frames, labels)


def load_voc_results(path: StrPath, dataset: Dataset, *, name: str = "model") -> Inferences:
    """Read VOC-layout prediction XML files (each object with a ``<score>``) against a dataset.

    Files are matched to frames by ``<filename>``, else by the file's stem; classes
    by name. Row ``i`` is object ``i`` counting over the files in sorted order.
    """
    files = _files(path, "pred", scored=True)
    by_name = {str(n): i for i, n in enumerate(dataset.frames.file_name.tolist())}
    by_stem = {stem_of(str(n)).rsplit("/", 1)[-1]: i for i, n in enumerate(dataset.frames.file_name.tolist())}
    rows = []
    for f in files:
        row = by_name.get(f.file_name, by_stem.get(f.path.stem))
        if row is None:
            raise InputError(f"{os.fspath(f.path)}: filename {f.file_name!r} is not a frame of the ground truth")
        rows.append(row)
    file, box = _columns(files)
    frame = np.asarray(rows, dtype=np.int64)[file] if rows else np.zeros(0, np.int64)
    cls = _class_index(files, list(dataset.classes.names))
    score = np.array([s for f in files for s in f.scores], dtype=np.float64)
    return Inferences(frame, cls, box, score, name=name)


def write_voc(dataset: Dataset, out: StrPath, *, inferences: Inferences | None = None) -> None:
    """Write one VOC XML file per frame into ``out`` (with ``inferences``: their boxes and scores).

    Crowd labels are written as ``<difficult>1</difficult>``. Files are named after
    the frame's ``file_name`` without suffix.
    """
    out = Path(out)
    frames = dataset.frames
    if inferences is None:
        frame, cls, box, score = dataset.labels.frame, dataset.labels.cls, dataset.labels.box, None
        flag = dataset.labels.crowd
    else:
        frame, cls, box, score = inferences.frame, inferences.cls, inferences.box, inferences.score
        flag = np.zeros(len(inferences), dtype=bool)
    order = np.argsort(frame, kind="stable")
    bounds = np.searchsorted(frame[order], np.arange(len(frames) + 1))
    names = dataset.classes.names
    for row, file_name in enumerate(frames.file_name.tolist()):
        parts = ["<annotation>", f"  <filename>{escape(str(file_name))}</filename>"]
        w, h = frames.width[row], frames.height[row]
        if math.isfinite(w) and math.isfinite(h):
            parts.append(f"  <size><width>{w:g}</width><height>{h:g}</height><depth>3</depth></size>")
        for i in order[bounds[row] : bounds[row + 1]].tolist():
            x1, y1, x2, y2 = (repr(v) for v in box[i].tolist())
            extra = f"<score>{float(score[i])!r}</score>" if score is not None else ""
            parts.append(
                f"  <object><name>{escape(names[cls[i]])}</name><difficult>{int(flag[i])}</difficult>{extra}"
                f"<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
            )
        parts.append("</annotation>\n")
        target = out / f"{stem_of(str(file_name))}.xml"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, "\n".join(parts).encode())
        except OSError as exc:
            raise StoreError(f"{os.fspath(target)}: cannot write the file ({exc.strerror or type(exc).__name__})") from None
