"""What the YOLO and Pascal VOC readers share: class-name files, image folders and sizes.

Both formats spread a dataset over one text or XML file per image, with no image or
category ids. aquaembed gives them the ids a COCO conversion would: frames are
numbered 1, 2, ... in sorted file order and categories 1, 2, ... in the order of the
names list (``category id = class index + 1``), so that converting to COCO and back
changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeAlias

import numpy as np

from aquaembed.errors import InputError, MissingExtraError, ParameterError

__all__ = ["IMAGE_SUFFIXES", "find_names", "image_sizes", "list_images", "read_names", "stem_of"]

StrPath: TypeAlias = "str | os.PathLike[str]"

# the image suffixes Ultralytics reads, lower case
IMAGE_SUFFIXES = frozenset(
    {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".heic"}
)
_NAME_FILES = ("data.yaml", "dataset.yaml", "classes.txt", "obj.names", "classes.names")


def read_names(path: StrPath) -> list[str]:
    """Class names from a YOLO ``data.yaml`` (``names:`` list or ``{index: name}``) or a names file.

    Parameters
    ----------
    path : str or path-like
        A ``.yaml`` / ``.yml`` file with a ``names`` key, or a text file with one
        name per line (``classes.txt``, ``obj.names``, ``voc.names``; blank lines
        ignored).

    Returns
    -------
    list of str
        Names in class-index order.

    Raises
    ------
    InputError
        Unreadable file, no ``names``, an index missing from a ``{index: name}``
        mapping, or an empty or duplicate name, naming the file (and line).
    """
    label = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise InputError(f"{label}: cannot read the class names ({reason})") from None
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        names = _yaml_names(text, label)
    else:
        names = []
        for lineno, line in enumerate(text.splitlines(), 1):
            name = line.strip()
            if name:
                names.append((lineno, name))
        names = _unique(names, label)
    if not names:
        raise InputError(f"{label}: no class names")
    return names


def _yaml_names(text: str, label: str) -> list[str]:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{label}: not valid YAML{where}") from None
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        keys = sorted(names, key=lambda k: (not isinstance(k, int), k if isinstance(k, int) else 0))
        if [k for k in keys if isinstance(k, int)] != list(range(len(names))):
            raise InputError(f"{label}: names: expected indices 0..{len(names) - 1}, got {sorted(map(str, names))}")
        names = [names[k] for k in range(len(names))]
    if not isinstance(names, list):
        raise InputError(f'{label}: expected a "names" list or {{index: name}} mapping')
    return _unique([(f"names[{i}]", n) for i, n in enumerate(names)], label)


def _unique(entries: Sequence[tuple[object, object]], label: str) -> list[str]:
    seen: dict[str, object] = {}
    for where, name in entries:
        shown = f"line {where}" if isinstance(where, int) else str(where)
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{label}: {shown}: a class name must be a non-empty string, got {name!r}")
        if name in seen:
            first = seen[name]
            also = f"line {first}" if isinstance(first, int) else str(first)
            raise InputError(f"{label}: {shown}: duplicate class name {name!r} (also {also})")
        seen[name] = where
    return list(seen)


def find_names(start: Path, *, what: str) -> Path:
    """The class-names file for a label folder: ``data.yaml``, ``classes.txt``, ... nearby.

    Looks in ``start``, its parent and its grandparent, for the files in
    :data:`_NAME_FILES`, then any single ``*.yaml`` / ``*.names`` file.

    Raises
    ------
    ParameterError
        None found: the message names the folders searched and the option to use.
    """
    folders = [start, start.parent, start.parent.parent]
    for folder in folders:
        for name in _NAME_FILES:
            if (folder / name).is_file():
                return folder / name
        found = sorted(p for pattern in ("*.yaml", "*.yml", "*.names") for p in folder.glob(pattern))
        if len(found) == 1:
            return found[0]
    looked = ", ".join(dict.fromkeys(os.fspath(f) for f in folders))
    raise ParameterError(
        f"{what}: no class names found (looked for {', '.join(_NAME_FILES)}, *.yaml, *.names in {looked}); "
        "pass --names FILE",
        parameter="names",
    )


def stem_of(file_name: str) -> str:
    """A frame's key for matching label files to images: its relative path without suffix."""
    return os.fspath(Path(file_name).with_suffix("")).replace(os.sep, "/")


def list_images(root: Path) -> list[str]:
    """Image files under ``root`` (recursively), as sorted ``/``-separated relative paths."""
    if not root.is_dir():
        raise ParameterError(f"images: {os.fspath(root)!r} is not a folder", parameter="images")
    found = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    ]
    return sorted(found)


def _pillow() -> None:
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "reading YOLO image sizes needs Pillow: pip install 'aquaembed[app]' (or pip install pillow)"
        ) from None


def _size(path: Path) -> tuple[float, float]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:  # lazy: reads the header, not the pixels
            return float(im.width), float(im.height)
    except (OSError, UnidentifiedImageError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).split("\n")[0]
        raise InputError(f"{os.fspath(path)}: cannot read the image size ({reason})") from None


def image_sizes(root: Path, files: Sequence[str], *, threads: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of each image from its header (no pixel decode), shape (n,) each.

    Headers are read on a few threads (the work is file I/O).
    """
    _pillow()
    paths = [root / f for f in files]
    if len(paths) > 64:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            sizes = list(pool.map(_size, paths))
    else:
        sizes = [_size(p) for p in paths]
    arr = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    return arr[:, 0].copy(), arr[:, 1].copy()
