"""COCO ground-truth and results files: reading, validation and writing.

A COCO ground-truth file is a JSON object with ``images``, ``annotations`` and
``categories`` lists; a COCO results file is a JSON list of
``{image_id, category_id, bbox, score}`` objects. Boxes in both are pixel boxes
``[x, y, width, height]``; they are converted to ``[x1, y1, x2, y2]`` on import and
back on export.

Every problem in a file is reported as an :class:`~aquaembed.errors.InputError` whose
message is one line: the file, the offending entry, what was expected and what was
received, for example (the first is one line)::

    gt.json: annotations[17] (id 301): bbox must be 4 finite numbers [x, y, width, height],
        got [1, 2, -3, 4] (negative width)
    pred.json: entry 41: unknown image_id 999 (not in the ground truth)

Validation is vectorised: columns are pulled out of the parsed JSON in bulk and
checked with numpy. Only when a check fails does a per-entry scan run, to find and
describe the *first* offending entry (in file order). Ids must be JSON integers
(``3.0`` and ``true`` are refused) that fit in a signed 64-bit integer.
"""

from __future__ import annotations

import gc
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

import numba
import numpy as np
import orjson

from aquaembed.io.limits import JSON_EXPANSION, check_budget
from aquaembed.store.atomic import atomic_write_bytes
from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
from aquaembed.errors import InputError, StoreError

__all__ = [
    "display_names",
    "load_coco_gt",
    "load_coco_results",
    "read_json",
    "write_coco_gt",
    "write_coco_results",
]

StrPath: TypeAlias = "str | os.PathLike[str]"

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_NUMBER_TYPES = frozenset({int, float})
_BBOX_EXPECTED = "bbox must be 4 finite numbers [x, y, width, height]"
_RESERVED_CLASS = "background"


class _Bad(Exception):
    """Internal: the vectorised check failed; the per-entry scan describes why."""


# --------------------------------------------------------------------------- reading


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many small containers are built.

    Parsing a 500k-entry results file creates a million dicts and lists; with the
    collector running, its repeated full passes cost more than the parse itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_bytes(path: StrPath, label: str) -> bytes:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"{label}: cannot read the file ({reason})") from None
    return raw


def _declared(path: StrPath, label: str, factor: int) -> None:
    """Refuse a file whose parsed form would not fit in memory (see :mod:`aquaembed.io.limits`)."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return  # reading reports it
    check_budget(label, size * factor, f"{size} bytes of JSON would take about")


def _read_json(path: StrPath, label: str) -> Any:
    _declared(path, label, JSON_EXPANSION)
    return _parse(_read_bytes(path, label), label)


_CHUNK_BYTES = 32 << 20  # results files larger than this are parsed in pieces
_CHUNK_ENTRIES = 200_000


@numba.njit(cache=True)
def _array_cuts(buf: np.ndarray, every: int) -> tuple[np.ndarray, int, int]:  # pragma: no cover - jit
    """Split points of a top-level JSON array, every ``every`` elements.

    Scans ``buf`` (uint8) once, tracking strings (with escapes) and nesting. Returns
    the byte offsets of the separating commas after element ``every``, ``2 * every``,
    ... (at nesting depth 1), the offset of the opening ``[`` and of the closing ``]``;
    ``-1`` for those two when the buffer is not one well-formed array (the caller then
    lets orjson describe the problem).
    """
    n = buf.shape[0]
    cuts = np.empty(n // (3 * every) + 2, dtype=np.int64)
    n_cuts = 0
    i = 0
    while i < n and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
        i += 1
    if i == n or buf[i] != 91:  # "["
        return cuts[:0], -1, -1
    start = i
    depth = 0
    in_str = False
    esc = False
    count = 0
    end = -1
    while i < n:
        c = buf[i]
        if in_str:
            if esc:
                esc = False
            elif c == 92:  # backslash
                esc = True
            elif c == 34:
                in_str = False
        elif c == 34:  # quote
            in_str = True
        elif c == 91 or c == 123:  # [ {
            depth += 1
        elif c == 93 or c == 125:  # ] }
            depth -= 1
            if depth == 0:
                end = i
                break
            if depth < 0:
                return cuts[:0], -1, -1
        elif c == 44 and depth == 1:  # a comma between elements
            count += 1
            if count % every == 0:
                if n_cuts == cuts.shape[0]:
                    return cuts[:0], -1, -1
                cuts[n_cuts] = i
                n_cuts += 1
        i += 1
    if end < 0:
        return cuts[:0], -1, -1
    i = end + 1
    while i < n:
        if not (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
            return cuts[:0], -1, -1
        i += 1
    return cuts[:n_cuts], start, end


def _read_json_pieces(path: StrPath, label: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(offset, part)``: a large top-level JSON array in pieces, else the whole document.

    Parsing a results file with millions of entries into Python objects at once costs
    gigabytes; in pieces of :data:`_CHUNK_ENTRIES` the objects of one piece are freed
    before the next is parsed. Anything that is not a well-formed array is parsed
    whole, so orjson's message names the problem.
    """
    _declared(path, label, 3)  # the bytes, one piece's objects, the arrays
    raw = _read_bytes(path, label)
    cuts: np.ndarray = np.zeros(0, dtype=np.int64)
    start = end = -1
    if len(raw) > _CHUNK_BYTES:
        cuts, start, end = _array_cuts(np.frombuffer(raw, dtype=np.uint8), _CHUNK_ENTRIES)
    if start < 0 or cuts.size == 0:
        check_budget(label, len(raw) * JSON_EXPANSION, f"{len(raw)} bytes of JSON would take about")
        yield 0, _parse(raw, label)
        return
    bounds = [start, *cuts.tolist(), end]
    offset = 0
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        piece = b"[" + raw[lo + 1 : hi] + b"]"
        try:
            part = orjson.loads(piece)
        except orjson.JSONDecodeError:
            _parse(raw, label)  # raises with the position in the whole file
            raise  # pragma: no cover - the whole file parsed although a piece did not
        yield offset, part
        offset += len(part)


def _parse(raw: bytes, label: str) -> Any:
    with _gc_paused():
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(
                f"{label}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None


def read_json(path: StrPath) -> object:
    """Read a JSON file with orjson.

    Parameters
    ----------
    path : str or path-like
        The file to read.

    Returns
    -------
    object
        The parsed document (dicts, lists, str, int, float, bool, None).

    Raises
    ------
    InputError
        The file is missing or unreadable, or is not valid JSON (empty, truncated,
        ``NaN`` literals, numbers that overflow to infinity, invalid UTF-8). The
        message is one line naming the file, e.g.
        ``gt.json: not valid JSON (unexpected end of data at line 1 column 2003)``.
    """
    return _read_json(path, os.fspath(path))


# ---------------------------------------------------------------- describing values


def _show(value: object, limit: int = 80) -> str:
    """A short one-line JSON rendering of a received value."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_KINDS = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def _kind(value: object) -> str:
    """The JSON kind of a value, with its article ("an object", "a list", ...)."""
    return _KINDS.get(type(value), type(value).__name__)


def _is_number(value: object) -> bool:
    return type(value) in _NUMBER_TYPES


def _is_finite_number(value: object) -> bool:
    return type(value) in _NUMBER_TYPES and math.isfinite(value)  # type: ignore[arg-type]


# Per-field checks used by the per-entry scan. Each takes (key, value) and returns what
# is wrong, or None. The vectorised checks in the fast path accept exactly the values
# these accept.


def _why_id(key: str, value: object) -> str | None:
    if type(value) is float and value.is_integer() and not -(2.0**63) <= value < 2.0**63:
        # orjson reads an integer of 2**64 or more as a float: say what is really wrong
        return f"{key} does not fit in a signed 64-bit integer, got {int(value)}"
    if type(value) is not int:
        return f"{key} must be an integer, got {_show(value)}"
    if not _INT64_MIN <= value <= _INT64_MAX:
        return f"{key} does not fit in a signed 64-bit integer, got {value}"
    return None


def _why_bbox(key: str, value: object) -> str | None:
    reason = _bbox_problem(value)
    return None if reason is None else f"{_BBOX_EXPECTED}, got {_show(value)} ({reason})"


def _bbox_problem(value: object) -> str | None:
    if type(value) is not list:
        return f"{_kind(value)}, not a list"
    if len(value) != 4:
        return f"{len(value)} value{'' if len(value) == 1 else 's'}"
    for pos, coord in enumerate(value):
        if not _is_number(coord):
            return f"value {pos} is {_kind(coord)}"
    if not all(math.isfinite(c) for c in value):
        return "not finite"
    x, y, w, h = (float(c) for c in value)
    if w < 0:
        return "negative width"
    if h < 0:
        return "negative height"
    for what, total in (("x + width", x + w), ("y + height", y + h), ("width * height", w * h)):
        if not math.isfinite(total):
            return f"{what} overflows"
    return None


def _why_area(key: str, value: object) -> str | None:
    if _is_finite_number(value) and value >= 0:  # type: ignore[operator]
        return None
    return f"{key} must be a finite number >= 0, got {_show(value)}"


def _why_size(key: str, value: object) -> str | None:
    # 0 and null mean "size unknown" (some exporters write them); the size is then
    # taken from the image when it is read
    if value is None or (_is_finite_number(value) and value >= 0):  # type: ignore[operator]
        return None
    return f"{key} must be a finite number >= 0 or null, got {_show(value)}"


def _why_score(key: str, value: object) -> str | None:
    if _is_number(value) and 0 <= value <= 1:  # type: ignore[operator]
        return None
    return f"{key} must be a number in [0, 1], got {_show(value)}"


def _why_crowd(key: str, value: object) -> str | None:
    if type(value) is bool or (type(value) is int and value in (0, 1)):
        return None
    return f"{key} must be 0, 1, true or false, got {_show(value)}"


def _why_string(key: str, value: object) -> str | None:
    return None if type(value) is str else f"{key} must be a string, got {_show(value)}"


def _why_name(key: str, value: object) -> str | None:
    if type(value) is str and value:
        return None
    return f"{key} must be a non-empty string, got {_show(value)}"


_Why: TypeAlias = Callable[[str, object], "str | None"]
_Field: TypeAlias = "tuple[str, _Why, bool]"  # key, check, required

_IMAGE_FIELDS: tuple[_Field, ...] = (
    ("id", _why_id, True),
    ("file_name", _why_string, False),
    ("width", _why_size, False),
    ("height", _why_size, False),
)
_CATEGORY_FIELDS: tuple[_Field, ...] = (("id", _why_id, True), ("name", _why_name, True))
_ANNOTATION_FIELDS: tuple[_Field, ...] = (
    ("id", _why_id, True),
    ("image_id", _why_id, True),
    ("category_id", _why_id, True),
    ("bbox", _why_bbox, True),
    ("area", _why_area, False),
    ("iscrowd", _why_crowd, False),
)
_RESULT_FIELDS: tuple[_Field, ...] = (
    ("image_id", _why_id, True),
    ("category_id", _why_id, True),
    ("bbox", _why_bbox, True),
    ("score", _why_score, True),
)


# ------------------------------------------------------------------- per-entry scan


def _why_entry(entry: object, fields: Sequence[_Field]) -> str | None:
    if type(entry) is not dict:
        shown = "" if entry is None else f" {_show(entry, 40)}"
        return f"expected an object, got {_kind(entry)}{shown}"
    for key, why, required in fields:
        if key in entry:
            problem = why(key, entry[key])
            if problem is not None:
                return problem
        elif required:
            return f'missing the key "{key}"'
    return None


def _where_gt(section: str) -> Callable[[int, object], str]:
    def where(i: int, entry: object) -> str:
        ident = entry.get("id") if type(entry) is dict else None
        if type(ident) is int:
            return f"{section}[{i}] (id {ident})"
        return f"{section}[{i}]"

    return where


def _where_result(i: int, entry: object) -> str:
    return f"entry {i}"


_Relate: TypeAlias = Callable[[int, dict], "str | None"]


def _first_problem(
    entries: list, fields: Sequence[_Field], relate: _Relate | None = None
) -> tuple[int, str] | None:
    """The index of the first bad entry and what is wrong with it, or None.

    ``relate`` checks an entry against the others or against the ground truth
    (duplicates, unknown ids); it only sees entries whose own fields are valid.
    """
    for i, entry in enumerate(entries):
        problem = _why_entry(entry, fields)
        if problem is None and relate is not None:
            problem = relate(i, entry)
        if problem is not None:
            return i, problem
    return None


def _raise_first(
    label: str,
    entries: list,
    fields: Sequence[_Field],
    where: Callable[[int, object], str],
    relate: _Relate | None = None,
) -> NoReturn:
    """Raise an InputError describing the first bad entry (the fast path found one)."""
    found = _first_problem(entries, fields, relate)
    if found is None:
        # The vectorised checks refused something no per-entry check names: a bug here.
        raise InputError(f"{label}: malformed entries (the first problem could not be located)")
    i, problem = found
    raise InputError(f"{label}: {where(i, entries[i])}: {problem}")


def _duplicates(key: str, what: str, section: str) -> _Relate:
    seen: dict[object, int] = {}

    def relate(i: int, entry: dict) -> str | None:
        first = seen.setdefault(entry[key], i)
        if first != i:
            return f"duplicate {what} {_show(entry[key])} (also {section}[{first}])"
        return None

    return relate


def _known(key: str, ids: np.ndarray, suffix: str) -> _Relate:
    known = set(ids.tolist())

    def relate(i: int, entry: dict) -> str | None:
        if entry[key] not in known:
            return f"unknown {key} {entry[key]} ({suffix})"
        return None

    return relate


def _all_of(*checks: _Relate) -> _Relate:
    def relate(i: int, entry: dict) -> str | None:
        for check in checks:
            problem = check(i, entry)
            if problem is not None:
                return problem
        return None

    return relate


# ----------------------------------------------------------------- vectorised path


def _required(entries: list, key: str) -> list:
    """The values of a required key, in entry order."""
    try:
        return list(map(itemgetter(key), entries))
    except (KeyError, TypeError, IndexError):
        raise _Bad from None


_MISSING = object()


def _optional(entries: list, key: str) -> tuple[list, np.ndarray | None]:
    """The values of an optional key and where they are.

    Returns
    -------
    values : list
        The values of the entries that have ``key``, in entry order.
    present : array of bool, shape (n,), or None
        Which entries have ``key``; None when all of them do.
    """
    try:
        column = [entry.get(key, _MISSING) for entry in entries]
    except AttributeError:
        raise _Bad from None
    missing = column.count(_MISSING)
    if missing == 0:
        return column, None
    present = np.array([value is not _MISSING for value in column], dtype=bool)
    return [value for value in column if value is not _MISSING], present


def _int64s(values: list) -> np.ndarray:
    """Array of JSON integers, shape (n,), int64."""
    if not set(map(type, values)) <= {int}:
        raise _Bad
    try:
        return np.fromiter(values, dtype=np.int64, count=len(values))
    except OverflowError:
        raise _Bad from None


def _float64s(values: list) -> np.ndarray:
    """Array of finite JSON numbers, shape (n,), float64."""
    if not set(map(type, values)) <= _NUMBER_TYPES:
        raise _Bad
    arr = np.fromiter(values, dtype=np.float64, count=len(values))
    if not np.isfinite(arr).all():
        raise _Bad
    return arr


def _xyxy(values: list) -> tuple[np.ndarray, np.ndarray]:
    """COCO ``[x, y, w, h]`` lists to boxes and areas.

    Returns
    -------
    box : array of float64, shape (n, 4)
        ``[x1, y1, x2, y2]``.
    area : array of float64, shape (n,)
        ``w * h`` from the original widths and heights.
    """
    n = len(values)
    try:
        if not set(map(len, values)) <= {4}:
            raise _Bad
        flat = list(chain.from_iterable(values))
    except TypeError:  # an entry without a length or not iterable
        raise _Bad from None
    # Only lists remain: an object or a string of length 4 gives str items below.
    xywh = _float64s(flat).reshape(n, 4)
    wh = xywh[:, 2:]
    if (wh < 0).any():
        raise _Bad
    with np.errstate(over="ignore"):
        box = np.concatenate([xywh[:, :2], xywh[:, :2] + wh], axis=1)
        area = wh[:, 0] * wh[:, 1]
    if not (np.isfinite(box).all() and np.isfinite(area).all()):
        raise _Bad
    return box, area


def _require_unique(ids: np.ndarray) -> None:
    if ids.size > 1:
        ordered = np.sort(ids)
        if (ordered[1:] == ordered[:-1]).any():
            raise _Bad


def _optional_sizes(entries: list, key: str) -> np.ndarray:
    """Image width or height, shape (n,), float64, NaN where absent, null or 0 (unknown)."""
    values, present = _optional(entries, key)
    if None in values:
        known = np.array([v is not None for v in values], dtype=bool)
        given = _float64s([v for v in values if v is not None])
        arr = np.full(len(values), np.nan)
        arr[known] = given
    else:
        arr = _float64s(values)
    if (arr < 0).any():
        raise _Bad
    arr[arr == 0] = np.nan
    if present is None:
        return arr
    out = np.full(len(entries), np.nan)
    out[present] = arr
    return out


# ------------------------------------------------------------------ ground truth


def _construct(label: str, factory: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Build a data-model object, naming the file in any error it raises.

    The checks above make this a safety net: the data model's own checks should
    never be the first to refuse a file.
    """
    try:
        return factory(*args, **kwargs)
    except InputError as exc:
        raise InputError(f"{label}: {exc}") from None


def _section(doc: dict, key: str, label: str) -> list:
    if key not in doc:
        raise InputError(f'{label}: missing the "{key}" list')
    value = doc[key]
    if type(value) is not list:
        raise InputError(f'{label}: "{key}" must be a list, got {_kind(value)}')
    return value


def _load_frames(entries: list, label: str) -> Frames:
    try:
        ids = _int64s(_required(entries, "id"))
        names, present = _optional(entries, "file_name")
        if not set(map(type, names)) <= {str}:
            raise _Bad
        file_name = np.empty(len(entries), dtype=object)
        if present is None:
            file_name[:] = names
        else:
            file_name[:] = ""
            file_name[present] = names
        width = _optional_sizes(entries, "width")
        height = _optional_sizes(entries, "height")
        _require_unique(ids)
    except _Bad:
        where = _where_gt("images")
        _raise_first(label, entries, _IMAGE_FIELDS, where, _duplicates("id", "image id", "images"))
    return _construct(label, Frames, ids, file_name, width, height, _image_metadata(entries))


_IMAGE_CORE = frozenset({"id", "file_name", "width", "height"})
_IMAGE_SKIP = frozenset({"coco_url", "flickr_url"})  # long per-image URLs: not worth a column


def _image_metadata(entries: list) -> dict[str, np.ndarray]:
    """Extra scalar image fields (scene, time of day, ...) as frame metadata columns.

    A field becomes a column when every value it takes is a string, a bool or a
    number; a number column is int64 when all values are integers and present,
    float64 otherwise (NaN where absent); a string column has "" where absent.
    Fields holding lists or objects are left out.
    """
    keys: dict[str, None] = {}
    for entry in entries:
        for key in entry:
            if key not in _IMAGE_CORE and key not in _IMAGE_SKIP:
                keys.setdefault(key, None)
    columns: dict[str, np.ndarray] = {}
    n = len(entries)
    for key in keys:
        values = [entry.get(key) for entry in entries]
        kinds = {type(v) for v in values if v is not None}
        if not kinds or not kinds <= {str, int, float, bool}:
            continue
        if kinds <= {str}:
            col = np.array(["" if v is None else v for v in values], dtype=object)
        elif kinds <= {bool} and None not in values:
            col = np.array(values, dtype=bool)
        elif kinds <= {int} and None not in values:
            col = np.array(values, dtype=np.int64)
        elif kinds <= {int, float}:
            col = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            col = np.array(["" if v is None else str(v) for v in values], dtype=object)
        if col.shape == (n,):
            columns[str(key)] = col
    return columns


def _load_classes(entries: list, label: str) -> ClassMap:
    # Category lists are short: the per-entry scan is the validation.
    relate = _duplicates("id", "category id", "categories")
    found = _first_problem(entries, _CATEGORY_FIELDS, relate)
    if found is not None:
        i, problem = found
        raise InputError(f"{label}: {_where_gt('categories')(i, entries[i])}: {problem}")
    ids = np.array([entry["id"] for entry in entries], dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    names = display_names(ids[order].tolist(), [entries[i]["name"] for i in order.tolist()])
    return _construct(label, ClassMap, ids[order], tuple(names))


def display_names(ids: Sequence[int], names: Sequence[str]) -> list[str]:
    """Unique display names for categories, in the order given.

    COCO allows two categories with the same name and a category called
    ``background``; both are classes like any other, kept apart by id. A name shared
    by several categories, or equal to the background's, is shown with its id —
    ``"car (id 3)"``, ``"background (id 0)"`` — so that every row and column of every
    output (and the background's, always last and always ``"background"``) is named
    unambiguously.

    Parameters
    ----------
    ids : sequence of int, length C
        Category ids.
    names : sequence of str, length C
        Category names as the file gives them.

    Returns
    -------
    list of str, length C
    """
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    out = [
        f"{name} (id {ident})" if counts[name] > 1 or name == _RESERVED_CLASS else name
        for ident, name in zip(ids, names)
    ]
    taken = set(out)
    if len(taken) < len(out):  # a given name already looks like "car (id 3)": number the rest
        seen: set[str] = set()
        for k, name in enumerate(out):
            base, n = name, 2
            while name in seen:
                name, n = f"{base} #{n}", n + 1
            seen.add(name)
            out[k] = name
    return out


def _load_labels(entries: list, frames: Frames, classes: ClassMap, label: str) -> Labels:
    n = len(entries)
    try:
        ids = _int64s(_required(entries, "id"))
        frame = frames.index_of_ids(_int64s(_required(entries, "image_id")))
        cls = classes.index_of_ids(_int64s(_required(entries, "category_id")))
        box, box_area = _xyxy(_required(entries, "bbox"))
        areas, has_area = _optional(entries, "area")
        area = _float64s(areas)
        if (area < 0).any():
            raise _Bad
        if has_area is not None:
            area_given = area
            area = box_area.copy()
            area[has_area] = area_given
        flags, has_flag = _optional(entries, "iscrowd")
        if not set(map(type, flags)) <= {int, bool}:
            raise _Bad
        crowd_values = np.fromiter(flags, dtype=np.int64, count=len(flags))
        if ((crowd_values != 0) & (crowd_values != 1)).any():
            raise _Bad
        crowd = np.zeros(n, dtype=bool)
        if has_flag is None:
            crowd[:] = crowd_values.astype(bool)
        else:
            crowd[has_flag] = crowd_values.astype(bool)
        _require_unique(ids)
        if (frame < 0).any() or (cls < 0).any():
            raise _Bad
    except _Bad:
        relate = _all_of(
            _duplicates("id", "annotation id", "annotations"),
            _known("image_id", frames.id, 'not in "images"'),
            _known("category_id", classes.ids, 'not in "categories"'),
        )
        _raise_first(label, entries, _ANNOTATION_FIELDS, _where_gt("annotations"), relate)
    return _construct(label, Labels, ids, frame, cls, box, area, crowd, box_area)


def load_coco_gt(path: StrPath, *, name: str | None = None) -> Dataset:
    """Read and validate a COCO ground-truth file.

    Parameters
    ----------
    path : str or path-like
        A COCO JSON object with ``images`` (``id``; optional ``file_name``,
        ``width``, ``height``; other keys ignored), ``annotations`` (``id``,
        ``image_id``, ``category_id``, ``bbox`` ``[x, y, width, height]`` in pixels;
        optional ``area`` in square pixels, default ``width * height``; optional
        ``iscrowd`` 0/1/bool, default 0) and ``categories`` (``id``, ``name``).
    name : str, optional
        How to call the file in error messages (default: ``path`` as given), e.g.
        the original name of an uploaded file.

    Returns
    -------
    Dataset
        With no inference sets. Frames are the images in file order (frame row ``i``
        is ``images[i]``); classes are the categories in ascending id order; label
        row ``j`` is ``annotations[j]``, its box ``[x1, y1, x2, y2]`` float64 pixels.

    Raises
    ------
    InputError
        On the first problem, with a one-line message naming the file, the entry and
        what was expected and received, e.g. ``gt.json: annotations[17] (id 301):
        bbox must be 4 finite numbers [x, y, width, height], got [1, 2, -3, 4]
        (negative width)``.
    """
    label = os.fspath(path) if name is None else name
    with _gc_paused():
        doc = _read_json(path, label)
        if type(doc) is not dict:
            hint = " (is this a results file?)" if type(doc) is list else ""
            raise InputError(
                f'{label}: expected a JSON object with "images", "annotations" and "categories", '
                f"got {_kind(doc)}{hint}"
            )
        images = _section(doc, "images", label)
        # test-dev style ground truth lists no annotations at all: every inference is an FP
        annotations = _section(doc, "annotations", label) if "annotations" in doc else []
        categories = _section(doc, "categories", label)
        frames = _load_frames(images, label)
        classes = _load_classes(categories, label)
        labels = _load_labels(annotations, frames, classes, label)
        return _construct(label, Dataset, classes, frames, labels)


# ----------------------------------------------------------------------- results


def load_coco_results(path: StrPath, dataset: Dataset, *, name: str = "model") -> Inferences:
    """Read and validate a COCO results file against its ground truth.

    Parameters
    ----------
    path : str or path-like
        A JSON list of ``{image_id, category_id, bbox, score}`` objects (other keys
        ignored); ``bbox`` is ``[x, y, width, height]`` in pixels, ``score`` in
        [0, 1]. An empty list is valid.
    dataset : Dataset
        The ground truth; every ``image_id`` and ``category_id`` must be in it.
    name : str, default "model"
        Name of the inference set.

    Returns
    -------
    Inferences
        Row ``i`` is entry ``i`` of the file (its ``pred_index``): ``frame`` (int64
        frame row), ``cls`` (int64 class index), ``box`` ``[x1, y1, x2, y2]``
        float64 pixels, shape (N, 4), ``score`` float64.

    Raises
    ------
    InputError
        On the first problem, with a one-line message naming the file and the entry,
        e.g. ``pred.json: entry 41: unknown image_id 999 (not in the ground truth)``.
    """
    label = os.fspath(path)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    with _gc_paused():
        for offset, doc in _read_json_pieces(path, label):
            if type(doc) is not list:
                hint = ""
                if type(doc) is dict and "annotations" in doc:
                    hint = ' with an "annotations" key (a ground-truth file, or results wrapped in an object?)'
                raise InputError(
                    f"{label}: expected a JSON list of {{image_id, category_id, bbox, score}} objects, "
                    f"got {_kind(doc)}{hint}"
                )
            parts.append(_result_columns(doc, dataset, label, offset))
            del doc
    frame, cls, box, score, area = (np.concatenate(col) for col in zip(*parts))
    return _construct(label, Inferences, frame, cls, box.reshape(-1, 4), score, name=name, box_area=area)


def _result_columns(
    doc: list, dataset: Dataset, label: str, offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Columns of results entries ``offset ..`` (frame, cls, box, score, w * h area)."""
    try:
        frame = dataset.frames.index_of_ids(_int64s(_required(doc, "image_id")))
        cls = dataset.classes.index_of_ids(_int64s(_required(doc, "category_id")))
        box, area = _xyxy(_required(doc, "bbox"))
        score = _float64s(_required(doc, "score"))
        if not ((score >= 0) & (score <= 1)).all():
            raise _Bad
        if (frame < 0).any() or (cls < 0).any():
            raise _Bad
    except _Bad:
        relate = _all_of(
            _known("image_id", dataset.frames.id, "not in the ground truth"),
            _known("category_id", dataset.classes.ids, "not in the ground truth"),
        )
        _raise_first(label, doc, _RESULT_FIELDS, lambda i, entry: _where_result(i + offset, entry), relate)
    return frame, cls, box, score, area


# ----------------------------------------------------------------------- writing


def _atomic_write(path: StrPath, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, as a StoreError naming the file on failure."""
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StoreError(f"{os.fspath(path)}: cannot write the file ({reason})") from None


def _xywh_lists(box: np.ndarray) -> list:
    xywh = np.concatenate([box[:, :2], box[:, 2:] - box[:, :2]], axis=1)
    return xywh.tolist()


def _size(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def write_coco_gt(dataset: Dataset, path: StrPath) -> None:
    """Write a dataset's frames, classes and labels as a COCO ground-truth file.

    The inverse of :func:`load_coco_gt`: frame row → image id, class index →
    category id, ``[x1, y1, x2, y2]`` → ``[x, y, width, height]``. Unknown (NaN)
    image sizes and non-finite areas are left out; frame metadata becomes image fields.
    The file is written atomically (a temporary file in the same folder, then a
    rename).

    Parameters
    ----------
    dataset : Dataset
        Its inference sets are ignored.
    path : str or path-like
        Destination JSON file.

    Raises
    ------
    StoreError
        The file cannot be written.
    """
    frames, classes, labels = dataset.frames, dataset.classes, dataset.labels
    with _gc_paused():
        images = []
        for ident, file_name, width, height in zip(
            frames.id.tolist(), frames.file_name.tolist(), frames.width.tolist(), frames.height.tolist()
        ):
            image: dict[str, object] = {"id": ident, "file_name": str(file_name)}
            if math.isfinite(width):
                image["width"] = _size(width)
            if math.isfinite(height):
                image["height"] = _size(height)
            images.append(image)
        for key, col in frames.metadata.items():
            for image, value in zip(images, np.asarray(col).tolist()):
                if not (isinstance(value, float) and math.isnan(value)):
                    image[key] = value
        annotations = []
        for ident, image_id, category_id, bbox, area, crowd in zip(
            labels.id.tolist(),
            frames.id[labels.frame].tolist(),
            classes.ids[labels.cls].tolist(),
            _xywh_lists(labels.box),
            labels.area.tolist(),
            labels.crowd.astype(np.int64).tolist(),
        ):
            ann: dict[str, object] = {
                "id": ident,
                "image_id": image_id,
                "category_id": category_id,
                "bbox": bbox,
            }
            if math.isfinite(area):
                ann["area"] = area
            ann["iscrowd"] = crowd
            annotations.append(ann)
        categories = [{"id": i, "name": n} for i, n in zip(classes.ids.tolist(), classes.names)]
        doc = {"images": images, "annotations": annotations, "categories": categories}
        data = orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)
    _atomic_write(path, data)


def write_coco_results(inferences: Inferences, dataset: Dataset, path: StrPath) -> None:
    """Write an inference set as a COCO results file.

    The inverse of :func:`load_coco_results`: entry ``i`` is inference row ``i``,
    with frame row → ``image_id``, class index → ``category_id``,
    ``[x1, y1, x2, y2]`` → ``bbox`` ``[x, y, width, height]`` and ``score``. The
    file is written atomically.

    Parameters
    ----------
    inferences : Inferences
        N inferences whose frame rows and class indices refer to ``dataset``.
    dataset : Dataset
        The ground truth that gives the image and category ids.
    path : str or path-like
        Destination JSON file.

    Raises
    ------
    InputError
        A frame row or class index is outside ``dataset``.
    StoreError
        The file cannot be written.
    """
    dataset.with_inferences(inferences)  # checks the frame rows and class indices
    with _gc_paused():
        entries = [
            {"image_id": image_id, "category_id": category_id, "bbox": bbox, "score": score}
            for image_id, category_id, bbox, score in zip(
                dataset.frames.id[inferences.frame].tolist(),
                dataset.classes.ids[inferences.cls].tolist(),
                _xywh_lists(inferences.box),
                inferences.score.tolist(),
            )
        ]
        data = orjson.dumps(entries, option=orjson.OPT_APPEND_NEWLINE)
    _atomic_write(path, data)
