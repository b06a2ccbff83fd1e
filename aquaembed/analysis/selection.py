"""What a selection of frames or crops has in common, against the rest of the dataset.

A person lassoes a cluster of the embedding map; these functions say how the selected
frames or crops score (summed :class:`~aquaembed.metrics.Counts` and their ratios,
against the rest), their mix of confusion types and classes, and the frame metadata
values over-represented in them (a scene, a time of day, a camera). Everything is
derived from the per-frame counts or the per-crop match types the library computed
from the match table; nothing here matches boxes.

Shares are always taken over the whole selection (and over the whole rest): a class
that is 18% of the rest is 18% in every view of it, whichever classes the selection
holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.matching import CONFUSION, FN, FP, IGNORED, TP
from aquaembed.metrics import BELOW_THRESHOLD, Counts, json_value

__all__ = [
    "CROP_TYPES",
    "MIN_LIFT",
    "MIN_SHARE",
    "Mix",
    "OverRepresented",
    "SelectionSummary",
    "crop_metadata",
    "crop_selection",
    "frame_selection",
    "mix",
    "over_represented",
    "projection_mask",
    "projection_selection",
    "selection_mask",
]

SelectionKind = Literal["frame", "crop"]

CROP_TYPES: tuple[tuple[int, str], ...] = (
    (TP, "TP"),
    (FP, "FP"),
    (FN, "FN"),
    (CONFUSION, "confusion"),
    (IGNORED, "ignored"),
    (BELOW_THRESHOLD, "below threshold"),
)
"""Crop confusion types in display order: (type code, name)."""

MIN_SHARE = 0.15
"""Smallest share of the selection an over-represented value must hold."""
MIN_LIFT = 1.3
"""Smallest lift (share in the selection / share in the whole dataset) of an over-represented value."""
MAX_VALUES = 50
"""Fields with more distinct values than this (ids, counters) are not searched for over-representation."""


def _share(num: np.ndarray, den: int) -> np.ndarray:
    return np.asarray(num, dtype=np.float64) / den if den else np.full(np.shape(num), np.nan)


@dataclass(frozen=True, eq=False)
class Mix:
    """How a categorical column splits between the selection and the rest.

    Attributes
    ----------
    field : str
        What the categories are (``"type"``, ``"class"`` or a metadata field).
    categories : tuple of str, length K
    selected, rest : int64 arrays, shape (K,)
        Items of each category in the selection and in the rest.
    n_selected, n_rest : int
        Sizes of the selection and of the rest (the share denominators: every item,
        whether or not its category is listed).
    """

    field: str
    categories: tuple[str, ...]
    selected: np.ndarray
    rest: np.ndarray
    n_selected: int
    n_rest: int

    @property
    def share(self) -> np.ndarray:
        """Share of the selection in each category, float64 (K,); NaN for an empty selection."""
        return _share(self.selected, self.n_selected)

    @property
    def share_rest(self) -> np.ndarray:
        """Share of the rest in each category, float64 (K,); NaN when the rest is empty."""
        return _share(self.rest, self.n_rest)

    def to_json(self) -> list[dict[str, Any]]:
        """One object per category: ``value``, ``selected``, ``rest``, ``share``, ``share_rest``."""
        share, share_rest = self.share, self.share_rest
        return [
            {"value": c, "selected": int(self.selected[i]), "rest": int(self.rest[i]),
             "share": json_value(float(share[i])), "share_rest": json_value(float(share_rest[i]))}
            for i, c in enumerate(self.categories)
        ]


@dataclass(frozen=True)
class OverRepresented:
    """A metadata value much more common in the selection than in the dataset.

    Attributes
    ----------
    field, value : str
    count : int
        Selected items with this value.
    share : float
        ``count / selection size``.
    share_rest : float or None
        Its share of the rest (None when the rest is empty).
    lift : float
        ``share / (share of the whole dataset)``: 1 means as common as anywhere.
    """

    field: str
    value: str
    count: int
    share: float
    share_rest: float | None
    lift: float

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "count": self.count, "share": self.share,
                "share_rest": json_value(self.share_rest), "lift": self.lift}


@dataclass(frozen=True, eq=False)
class SelectionSummary:
    """A selection against the rest.

    Attributes
    ----------
    kind : {"frame", "crop"}
    n_selected, n_total : int
    selection, rest : Counts
        Scalar TP/FP/FN of the selection and of the rest. Frames: the frames' counts
        summed. Crops: TP and FP counted on inference crops, FN on label crops (a
        confusion is an FP on its inference crop and an FN on its label crop).
    mixes : tuple of Mix
        Crops: confusion types and classes; frames: none (see ``over``).
    over : tuple of OverRepresented
        Largest difference of shares first.
    """

    kind: SelectionKind
    n_selected: int
    n_total: int
    selection: Counts
    rest: Counts
    mixes: tuple[Mix, ...]
    over: tuple[OverRepresented, ...]

    @property
    def share(self) -> float:
        """Selected share of all items (NaN when there are none)."""
        return self.n_selected / self.n_total if self.n_total else float("nan")

    def mix(self, field: str) -> Mix | None:
        """The mix of ``field`` (``"type"`` or ``"class"``), if computed."""
        return next((m for m in self.mixes if m.field == field), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "selected": self.n_selected,
            "total": self.n_total,
            "share": json_value(float(self.share)),
            "selection": self.selection.to_json(),
            "rest": self.rest.to_json(),
            "mixes": {m.field: m.to_json() for m in self.mixes},
            "over_represented": [o.to_json() for o in self.over],
        }


def selection_mask(n: int, rows: Sequence[int] | np.ndarray) -> np.ndarray:
    """A boolean mask of length ``n`` from selected row positions (duplicates allowed).

    Raises
    ------
    ParameterError
        A position outside ``[0, n)``.
    """
    r = np.asarray(rows, dtype=np.int64).reshape(-1)
    if r.size and (r.min() < 0 or r.max() >= n):
        bad = int(r[(r < 0) | (r >= n)][0])
        raise ParameterError(f"ids: position {bad} is outside [0, {n})", parameter="ids")
    mask = np.zeros(n, dtype=bool)
    mask[r] = True
    return mask


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct display strings of a column and each item's index among them."""
    v = np.asarray(values)
    if v.dtype.kind == "f":
        strs = np.where(np.isnan(v), "—", v.astype(str))
    else:
        strs = v.astype(str)
    return np.unique(strs, return_inverse=True)


def mix(values: np.ndarray, mask: np.ndarray, *, field: str, categories: Sequence[Any] | None = None,
        names: Sequence[str] | None = None) -> Mix:
    """Counts of each category of ``values`` inside and outside the selection.

    Parameters
    ----------
    values : array (n,)
    mask : bool array (n,)
    field : str
        Name of the column.
    categories : sequence, optional
        The categories to list, in order (values outside them count only in the sizes);
        default the distinct values, sorted as strings.
    names : sequence of str, optional
        Display names of ``categories`` (default their string form).
    """
    mask = np.asarray(mask, dtype=bool)
    values = np.asarray(values)
    if values.shape != mask.shape:
        raise ParameterError(f"{field}: expected {mask.shape[0]} values, got {values.shape}", parameter=field)
    if categories is None:
        uniq, inv = _codes(values)
        cats: list[str] = uniq.tolist()
    else:
        cats_arr = np.asarray(list(categories))
        if cats_arr.size == 0:
            inv = np.full(values.shape, -1, dtype=np.int64)
        else:
            order = np.argsort(cats_arr, kind="stable")
            ordered = cats_arr[order]
            pos = np.clip(np.searchsorted(ordered, values), 0, ordered.size - 1)
            inv = np.where(ordered[pos] == values, order[pos], -1)
        cats = [str(c) for c in categories]
    k = len(cats)
    ok = inv >= 0
    sel = np.bincount(inv[ok & mask], minlength=k)[:k].astype(np.int64)
    rest = np.bincount(inv[ok & ~mask], minlength=k)[:k].astype(np.int64)
    labels = tuple(str(n) for n in names) if names is not None else tuple(cats)
    return Mix(field, labels, sel, rest, int(mask.sum()), int((~mask).sum()))


def over_represented(
    columns: Mapping[str, np.ndarray],
    mask: np.ndarray,
    *,
    min_share: float = MIN_SHARE,
    min_lift: float = MIN_LIFT,
    top: int = 8,
    max_values: int = MAX_VALUES,
) -> tuple[OverRepresented, ...]:
    """Metadata values much more common in the selection than in the dataset.

    Parameters
    ----------
    columns : mapping of field name to array (n,)
    mask : bool array (n,)
    min_share : float
        A value must hold at least this share of the selection ...
    min_lift : float
        ... and be at least this many times as common in it as in the whole dataset.
    top : int
        Most values returned.
    max_values : int
        Fields with more distinct values (or fewer than two) are skipped.

    Returns
    -------
    tuple of OverRepresented, largest ``share - share_rest`` first (ties: field, value)
    """
    mask = np.asarray(mask, dtype=bool)
    n, n_sel = mask.size, int(mask.sum())
    n_rest = n - n_sel
    if n_sel == 0:
        return ()
    found: list[OverRepresented] = []
    for field, col in columns.items():
        uniq, inv = _codes(np.asarray(col))
        if uniq.size > max_values or uniq.size < 2:
            continue
        sel = np.bincount(inv[mask], minlength=uniq.size)
        every = np.bincount(inv, minlength=uniq.size)
        share = sel / n_sel
        lift = share / (every / n)
        share_rest = (every - sel) / n_rest if n_rest else np.full(uniq.size, np.nan)
        for j in np.flatnonzero((share >= min_share) & (lift >= min_lift)).tolist():
            found.append(OverRepresented(field, str(uniq[j]), int(sel[j]), float(share[j]),
                                         json_value(float(share_rest[j])), float(lift[j])))
    found.sort(key=lambda o: (-(o.share - (o.share_rest or 0.0)), o.field, o.value))
    return tuple(found[:top])


def _scalar(c: Counts, mask: np.ndarray) -> Counts:
    return Counts(c.tp[mask].sum(), c.fp[mask].sum(), c.fn[mask].sum())


def frame_selection(counts: Counts, metadata: Mapping[str, np.ndarray], mask: np.ndarray, **over_options: Any) -> SelectionSummary:
    """Summary of a selection of frames.

    Parameters
    ----------
    counts : Counts, shape (F,)
        Per-frame TP/FP/FN (:func:`aquaembed.metrics.frame_report`), in the order of ``mask``.
    metadata : mapping of field to array (F,)
    mask : bool array (F,)
        The selected frames.
    **over_options
        Passed to :func:`over_represented`.
    """
    mask = np.asarray(mask, dtype=bool)
    if counts.shape != mask.shape:
        raise ParameterError(f"counts: expected shape {mask.shape}, got {counts.shape}", parameter="counts")
    return SelectionSummary("frame", int(mask.sum()), int(mask.size), _scalar(counts, mask), _scalar(counts, ~mask),
                            (), over_represented(metadata, mask, **over_options))


def crop_selection(
    source: np.ndarray,
    types: np.ndarray,
    classes: np.ndarray,
    class_names: Sequence[str],
    metadata: Mapping[str, np.ndarray],
    mask: np.ndarray,
    **over_options: Any,
) -> SelectionSummary:
    """Summary of a selection of crops (labels and inferences of one inference set).

    Parameters
    ----------
    source : uint8 array (n,)
        0 for a label crop, 1 for an inference crop.
    types : int8 array (n,)
        Match type of each crop (``TP``, ``FP``, ``FN``, ``CONFUSION``, ``IGNORED`` or
        ``BELOW_THRESHOLD``), as :meth:`DatasetView.projection` gives them.
    classes : int array (n,)
        Class index of each crop; ``class_names`` names them.
    metadata : mapping of field to array (n,)
        Frame metadata of each crop's frame; the crop's class and source are searched too.
    mask : bool array (n,)
    **over_options
        Passed to :func:`over_represented`.
    """
    mask = np.asarray(mask, dtype=bool)
    source, types, classes = (np.asarray(a) for a in (source, types, classes))
    for name, a in (("source", source), ("types", types), ("classes", classes)):
        if a.shape != mask.shape:
            raise ParameterError(f"{name}: expected shape {mask.shape}, got {a.shape}", parameter=name)
    pred, lab = source == 1, source == 0
    per_crop = Counts((pred & (types == TP)).astype(np.int64),
                      (pred & ((types == FP) | (types == CONFUSION))).astype(np.int64),
                      (lab & ((types == FN) | (types == CONFUSION))).astype(np.int64))
    names = [str(c) for c in class_names]
    type_mix = mix(types, mask, field="type", categories=[c for c, _ in CROP_TYPES], names=[n for _, n in CROP_TYPES])
    class_mix = mix(classes, mask, field="class", categories=list(range(len(names))), names=names)
    columns = dict(metadata)
    columns["class"] = np.asarray(names, dtype=object)[classes] if names else classes.astype(str)
    columns["source"] = np.where(lab, "label", "inference")
    return SelectionSummary("crop", int(mask.sum()), int(mask.size), _scalar(per_crop, mask), _scalar(per_crop, ~mask),
                            (type_mix, class_mix), over_represented(columns, mask, **over_options))


def projection_mask(proj: Mapping[str, Any], ids: Sequence[int] | np.ndarray,
                    pred_ids: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """The points of a projection named by their ids.

    Parameters
    ----------
    proj : mapping
        :meth:`aquaembed.explore.DatasetView.projection` output.
    ids : sequence of int
        Frames: frame ids. Crops: label (annotation) ids.
    pred_ids : sequence of int, optional
        Crops only: inference indices (0-based positions in the results file).

    Returns
    -------
    bool array (n,)

    Raises
    ------
    NotFoundError
        An id that is not a point of the projection (named in the message).
    """
    point_ids = np.asarray(proj["ids"], dtype=np.int64)
    if proj["kind"] == "frame":
        if pred_ids is not None and len(pred_ids):
            raise ParameterError("pred_ids: only crops have inference ids", parameter="pred_ids")
        parts = [(np.ones(point_ids.size, dtype=bool), np.asarray(ids, dtype=np.int64).reshape(-1), "ids", "frame")]
    else:
        source = np.asarray(proj["source"])
        parts = [(source == 0, np.asarray(ids, dtype=np.int64).reshape(-1), "ids", "label"),
                 (source == 1, np.asarray(pred_ids if pred_ids is not None else [], dtype=np.int64).reshape(-1),
                  "pred_ids", "inference")]
    mask = np.zeros(point_ids.size, dtype=bool)
    for members, wanted, param, noun in parts:
        hit = members & np.isin(point_ids, wanted)
        known = np.isin(wanted, point_ids[members])
        if not known.all():
            raise NotFoundError(f"{param}: no {noun} {int(wanted[~known][0])} in the {proj['kind']} map",
                                parameter=param)
        mask |= hit
    return mask


def projection_selection(proj: Mapping[str, Any], mask: np.ndarray, *, class_names: Sequence[str],
                         within: np.ndarray | None = None, **over_options: Any) -> SelectionSummary:
    """:func:`frame_selection` or :func:`crop_selection` of projection points.

    Parameters
    ----------
    proj : mapping
        :meth:`aquaembed.explore.DatasetView.projection` output; crops also need
        ``metadata``: frame metadata aligned with the crops (see :func:`crop_metadata`).
    mask : bool array (n,)
        The selected points.
    class_names : sequence of str
        Class names in class-index order.
    within : int array (m,), optional
        Only these points count (e.g. those of a scenario's frames): the selection is
        ``mask[within]`` and the rest is the other points of ``within``, not of all ``n``.
    """
    def col(key: str) -> np.ndarray:
        arr = np.asarray(proj[key])
        return arr if within is None else arr[within]

    meta = dict(proj.get("metadata") or {})
    if within is not None:
        within = np.asarray(within, dtype=np.int64)
        meta = {k: np.asarray(v)[within] for k, v in meta.items()}
    sel = np.asarray(mask) if within is None else np.asarray(mask)[within]
    if proj["kind"] == "frame":
        counts = Counts(col("tp"), col("fp"), col("fn"))
        return frame_selection(counts, meta, sel, **over_options)
    return crop_selection(col("source"), col("type"), col("class"), class_names, meta, sel, **over_options)


def crop_metadata(frame_ids: np.ndarray, metadata: Mapping[str, np.ndarray],
                  rows_of: Callable[[np.ndarray], np.ndarray]) -> dict[str, np.ndarray]:
    """Frame metadata aligned with crops: each crop gets its frame's values.

    Parameters
    ----------
    frame_ids : int array (n,)
        Frame id of each crop.
    metadata : mapping of field to array (F,)
    rows_of : callable
        Maps frame ids to table rows (``Frames.index_of_ids``).
    """
    rows = np.asarray(rows_of(np.asarray(frame_ids)))
    return {k: np.asarray(v)[rows] for k, v in metadata.items()}
