"""Pure figure- and table-building functions of the dashboard.

Everything here takes plain data (numpy arrays, the dicts that
:class:`aquaembed.explore.DatasetView` returns) and gives back a Plotly figure or
rows for a table. Nothing reads the store, nothing computes a metric or an analysis:
counts, ratios and selection summaries come from the library (:mod:`aquaembed.metrics`,
:mod:`aquaembed.analysis.selection`). Tests call these functions without a browser.

The embedding scatter is split into *groups*: one trace per confusion type, class or
metadata value, or one coloured trace plus one grey trace for undefined values. The
same grouping maps a ``(curveNumber, pointIndex)`` from a browser event back to a row
of the projection, so no per-point data has to travel to the browser and back.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from aquaembed.analysis.selection import CROP_TYPES, Mix
from aquaembed.matching import IGNORED
from aquaembed.metrics import BELOW_THRESHOLD
from aquaembed.render import TYPE_COLOURS

__all__ = [
    "CROP_COLOURS",
    "FRAME_METRICS",
    "GRAPH_CONFIG",
    "TYPE_ORDER",
    "UNDEFINED_GREY",
    "Group",
    "coco_figure",
    "colour_options",
    "confusion_figure",
    "confusion_pairs",
    "default_colour",
    "embedding_figure",
    "embedding_groups",
    "fmt",
    "mix_figure",
    "normalise_rows",
    "pct",
    "pr_figure",
    "report_rows",
    "row_of_point",
    "trace_uid",
    "type_colour",
    "visible_rows",
]

UNDEFINED_GREY = "rgb(170, 170, 170)"
"""Colour of a point whose value is undefined (a ratio with a zero denominator)."""

TYPE_ORDER: tuple[tuple[int, str], ...] = CROP_TYPES
"""Crop confusion types in legend order: (type code, legend name); ``ignored`` is drawn only
when some crop is ignored (crowd matching)."""

SELECTION_COLOUR = "#2b5d8a"
"""The selection's bars: one neutral colour, never a confusion type's."""
REST_COLOUR = "rgba(150, 150, 150, 0.65)"

GRAPH_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "showSendToCloud": False,
    "showEditInChartStudio": False,
    "showLink": False,
    "plotlyServerURL": "",
    "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio"],
}
"""The ``config`` of every graph: nothing on the page may send data to, or link to, an outside host
(Plotly's cloud "share" button and its logo link are removed, and the cloud's address, which
plotly.js fills in by default, ``https://cloud.plotly.com/newchart``, is emptied)."""

FRAME_METRICS = ("f1", "precision", "recall")
CROP_COLOURS = ("type", "class", "score")
META_PREFIX = "meta:"
CATEGORICAL_MAX = 24
"""A numeric metadata field with more distinct values than this is coloured continuously."""

METRIC_SCALE = "RdYlGn"
VALUE_SCALE = "Viridis"
PALETTE: tuple[str, ...] = tuple(qualitative.Plotly) + tuple(qualitative.D3) + tuple(qualitative.Alphabet)


def type_colour(code: int) -> str:
    """CSS colour of a confusion type code (the colours of :data:`aquaembed.render.TYPE_COLOURS`)."""
    r, g, b = TYPE_COLOURS[int(code)]
    return f"rgb({r}, {g}, {b})"


def trace_uid(key: str) -> str:
    """A stable trace ``uid`` that is safe in a CSS selector.

    Plotly builds selectors such as ``.cb<uid>`` (the colour bar) from the uid, so a uid made
    of a display name with spaces, brackets or "—" broke every redraw after it.
    """
    return "t" + hashlib.blake2s(key.encode(), digest_size=6).hexdigest()


def pct(share: float | None) -> str:
    """A share for display: one decimal below 10%, never "0%" for a non-zero share."""
    if share is None or math.isnan(share):
        return "—"
    v = 100.0 * float(share)
    if v == 0.0:
        return "0%"
    if v < 0.1:
        return "<0.1%"
    if v < 10:
        return f"{v:.1f}%"
    if v > 99.5 and v < 100:
        return ">99%"
    return f"{v:.0f}%"


def fmt(value: Any, digits: int = 3) -> str:
    """A ratio for display: ``"—"`` when undefined (None or NaN)."""
    if value is None:
        return "—"
    v = float(value)
    return "—" if math.isnan(v) else f"{v:.{digits}f}"


# ---------------------------------------------------------------- embedding


def colour_options(kind: str, metadata_fields: Sequence[str]) -> list[dict[str, str]]:
    """The colour-by choices of a projection kind (``"frame"`` or ``"crop"``)."""
    if kind == "crop":
        return [
            {"label": "confusion type", "value": "type"},
            {"label": "class", "value": "class"},
            {"label": "confidence", "value": "score"},
        ] + [{"label": f"frame {f}", "value": META_PREFIX + f} for f in metadata_fields]
    return [
        {"label": "F1", "value": "f1"},
        {"label": "precision", "value": "precision"},
        {"label": "recall", "value": "recall"},
    ] + [{"label": f, "value": META_PREFIX + f} for f in metadata_fields]


def default_colour(kind: str) -> str:
    """The colour-by a projection kind opens with."""
    return "type" if kind == "crop" else "f1"


@dataclass(frozen=True)
class Group:
    """One trace of the embedding scatter.

    Attributes
    ----------
    name : str
        Legend entry.
    rows : int64 array
        Rows of the projection drawn by this trace, in trace order.
    colour : str, optional
        A fixed colour; None when ``values`` are mapped through a colour scale.
    values : float array, optional
        Per-point values (same length as ``rows``) for a continuous colour scale.
    scale, cmin, cmax, title
        The colour scale, its range and the colour bar's title (continuous groups).
    opacity : float
        Marker opacity (below-threshold inferences are drawn faint).
    legend : str
        The legend entry when it says more than name and count (crop types say which crops).
    """

    name: str
    rows: np.ndarray
    colour: str | None = None
    values: np.ndarray | None = None
    scale: str = VALUE_SCALE
    cmin: float | None = None
    cmax: float | None = None
    title: str = ""
    opacity: float = 0.85
    legend: str = ""

    @property
    def label(self) -> str:
        """The legend entry: ``legend`` when set, else the name and the number of points."""
        return self.legend or f"{self.name} ({self.rows.size:,})"


def visible_rows(
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_points: int = 300_000,
    viewport: Mapping[str, Sequence[float]] | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, bool]:
    """Rows to draw: those inside the viewport, sampled down to ``max_points``.

    Parameters
    ----------
    x, y : float arrays, shape (n,)
    max_points : int
        Most points sent to the browser.
    viewport : {"x": [lo, hi], "y": [lo, hi]}, optional
        The zoomed ranges; None for the whole map.
    seed : int
        Seed of the (deterministic) sample.

    Returns
    -------
    rows : int64 array, sorted
    sampled : bool
        True when some rows inside the viewport were left out.
    """
    n = int(np.asarray(x).shape[0])
    rows = np.arange(n, dtype=np.int64)
    if viewport:
        keep = np.ones(n, dtype=bool)
        for key, col in (("x", x), ("y", y)):
            lo, hi = sorted(float(v) for v in viewport[key])
            keep &= (col >= lo) & (col <= hi)
        rows = rows[keep]
    if rows.size <= max_points:
        return rows, False
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=max_points, replace=False)), True


def _meta_groups(col: np.ndarray, rows: np.ndarray, field: str) -> list[Group]:
    vals = np.asarray(col)[rows]
    if vals.dtype.kind in "iuf":
        uniq = np.unique(vals[~np.isnan(vals.astype(np.float64))])
        if uniq.size > CATEGORICAL_MAX:
            return _continuous(vals.astype(np.float64), rows, field, VALUE_SCALE, None, None)
    strs = np.asarray([("—" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)) for v in vals.tolist()], dtype=object)
    uniq = sorted(set(strs.tolist()), key=lambda s: (s == "—", s))
    return [
        Group(name=str(u), rows=rows[strs == u], colour=UNDEFINED_GREY if u == "—" else PALETTE[i % len(PALETTE)])
        for i, u in enumerate(uniq)
    ]


def _continuous(values: np.ndarray, rows: np.ndarray, title: str, scale: str, cmin: float | None, cmax: float | None,
                undefined: str = "undefined (—)") -> list[Group]:
    values = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(values)
    return [
        Group(name=title, rows=rows[ok], values=values[ok], scale=scale, cmin=cmin, cmax=cmax, title=title),
        Group(name=f"{title} {undefined}", rows=rows[~ok], colour=UNDEFINED_GREY),
    ]


def embedding_groups(
    proj: Mapping[str, Any],
    colour: str,
    *,
    class_names: Sequence[str],
    rows: np.ndarray | None = None,
) -> list[Group]:
    """Split the projection's rows into traces for a colour-by choice.

    Parameters
    ----------
    proj : mapping
        :meth:`DatasetView.projection` output (``kind`` "frame" or "crop").
    colour : str
        Frames: ``f1``, ``precision``, ``recall`` or ``meta:<field>``; crops: ``type``,
        ``class``, ``score`` or ``meta:<field>`` (then ``proj`` needs ``metadata``
        columns aligned with the crops, see :func:`crop_metadata`).
    class_names : list of str
        Class names in class-index order (background excluded).
    rows : int array, optional
        The rows to draw (default all).

    Returns
    -------
    list of Group
        The grouping is stable for a given colour-by: every type or class keeps its
        trace even when empty, so legend clicks survive a threshold change.
    """
    n = int(np.asarray(proj["x"]).shape[0])
    rows = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    if colour.startswith(META_PREFIX):
        field = colour[len(META_PREFIX):]
        meta = proj.get("metadata") or {}
        if field not in meta:
            raise KeyError(f"unknown metadata field {field!r}; known: {', '.join(meta)}")
        return _meta_groups(meta[field], rows, field)
    if proj["kind"] == "frame":
        if colour not in FRAME_METRICS:
            raise KeyError(f"frames are coloured by {', '.join(FRAME_METRICS)} or a metadata field, got {colour!r}")
        title = {"f1": "F1"}.get(colour, colour)
        return _continuous(np.asarray(proj[colour])[rows], rows, title, METRIC_SCALE, 0.0, 1.0)
    if colour == "type":
        types = np.asarray(proj["type"])[rows]
        is_label = np.asarray(proj["source"])[rows] == 0
        out = []
        for code, name in TYPE_ORDER:
            hit = types == code
            if code == IGNORED and not hit.any():
                continue
            out.append(Group(name=name, rows=rows[hit], colour=type_colour(code),
                             opacity=0.35 if code == BELOW_THRESHOLD else 0.85,
                             legend=_crop_legend(name, int(np.count_nonzero(hit & is_label)),
                                                 int(np.count_nonzero(hit & ~is_label)))))
        return out
    if colour == "class":
        cls = np.asarray(proj["class"])[rows]
        return [Group(name=str(nm), rows=rows[cls == i], colour=PALETTE[i % len(PALETTE)]) for i, nm in enumerate(class_names)]
    if colour == "score":
        return _continuous(np.asarray(proj["score"])[rows], rows, "confidence", VALUE_SCALE, 0.0, 1.0,
                           undefined="(labels: none)")
    raise KeyError(f"crops are coloured by {', '.join(CROP_COLOURS)} or a metadata field, got {colour!r}")


def _crop_legend(name: str, labels: int, inferences: int) -> str:
    """Say which crops a type counts: a TP or a confusion is a label crop and an inference crop."""
    parts = []
    if labels or name in ("TP", "FN", "confusion"):
        parts.append(f"{labels:,} label{'s' if labels != 1 else ''}")
    if inferences or name not in ("FN",):
        parts.append(f"{inferences:,} inference{'s' if inferences != 1 else ''}")
    return f"{name} ({' + '.join(parts)})"


def _marker_size(n: int) -> float:
    return 7.0 if n < 3_000 else 5.0 if n < 30_000 else 3.5 if n < 150_000 else 2.5


def embedding_figure(
    proj: Mapping[str, Any],
    groups: Sequence[Group],
    *,
    title: str = "",
    uirevision: str = "",
    legend_title: str = "click: hide · double-click: isolate",
) -> go.Figure:
    """The WebGL scatter of a projection, one trace per group.

    Coordinates go in as float32 numpy arrays, so Plotly sends them base64-encoded.
    Hover labels are off: the dashboard shows a tooltip with a thumbnail instead.
    """
    x = np.asarray(proj["x"], dtype=np.float32)
    y = np.asarray(proj["y"], dtype=np.float32)
    total = sum(int(g.rows.size) for g in groups)
    size = _marker_size(total)
    fig = go.Figure()
    for g in groups:
        marker: dict[str, Any] = {"size": size, "opacity": g.opacity, "line": {"width": 0}}
        if g.values is not None:
            marker.update(
                color=np.asarray(g.values, dtype=np.float32),
                colorscale=g.scale,
                cmin=g.cmin,
                cmax=g.cmax,
                showscale=True,
                colorbar={"title": {"text": g.title}, "thickness": 12, "len": 0.6, "y": 0.35},
            )
        else:
            marker["color"] = g.colour
        fig.add_trace(
            go.Scattergl(
                x=x[g.rows],
                y=y[g.rows],
                mode="markers",
                name=g.label,
                uid=trace_uid(f"{proj['kind']}|{g.title or ''}|{g.name}"),
                marker=marker,
                hoverinfo="none",
                showlegend=True,
            )
        )
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.01, "font": {"size": 14}},
        dragmode="lasso",
        uirevision=uirevision,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"itemsizing": "constant", "title": {"text": legend_title}, "y": 1, "x": 1.02},
        xaxis={"showticklabels": False, "title": None, "zeroline": False, "showgrid": False},
        yaxis={"showticklabels": False, "title": None, "zeroline": False, "showgrid": False},
        hovermode="closest",
        # a click shows the point's frame and neighbours; only a lasso or a box selects
        clickmode="event",
    )
    return fig


def row_of_point(groups: Sequence[Group], curve: int, index: int) -> int | None:
    """The projection row of point ``index`` of trace ``curve`` (None when out of range)."""
    if not 0 <= curve < len(groups):
        return None
    rows = groups[curve].rows
    return int(rows[index]) if 0 <= index < rows.size else None


# ---------------------------------------------------------------- confusion matrix


def normalise_rows(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the share of a label class's outcomes); NaN for an empty row."""
    cm = np.asarray(cm, dtype=np.float64)
    sums = cm.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sums > 0, cm / np.where(sums > 0, sums, 1.0), np.nan)


def _cell_meaning(g: int, p: int, bg: int) -> str:
    if g == bg and p == bg:
        return "not used (nothing is background on both sides)"
    if g == bg:
        return "FP: an inference that matched no label (a missing label if confident?)"
    if p == bg:
        return "FN: a label that no inference matched (missed)"
    return "TP: right class" if g == p else "confusion: matched, wrong class (FN of the label, FP of the prediction)"


def confusion_figure(
    classes: Sequence[str],
    cm: Sequence[Sequence[int]] | np.ndarray,
    *,
    normalise: bool = False,
    hide_diagonal: bool = False,
    log: bool = False,
) -> go.Figure:
    """Heatmap of the confusion matrix, background row and column included.

    Parameters
    ----------
    classes : list of str
        Class names with ``"background"`` last (the ``evaluate`` JSON order).
    cm : (C+1, C+1) counts
        Rows are label classes, columns inference classes.
    normalise : bool
        Colour by the share of each label row (cells show the percentage and the count).
    hide_diagonal : bool
        Blank the TP cells so confusions stand out.
    log : bool
        Logarithmic colour (log10 of 1 + value); cells still show the counts.
    """
    counts = np.asarray(cm, dtype=np.int64)
    n = counts.shape[0]
    bg = n - 1
    z = normalise_rows(counts) if normalise else counts.astype(np.float64)
    if hide_diagonal:
        z = z.copy()
        idx = np.arange(bg)
        z[idx, idx] = np.nan
    text = np.empty((n, n), dtype=object)
    for g in range(n):
        for p in range(n):
            if hide_diagonal and g == p and g != bg:
                text[g, p] = ""
            elif normalise:
                share = z[g, p]
                text[g, p] = f"{counts[g, p]}<br>{share:.0%}" if not math.isnan(share) and counts[g, p] else (str(counts[g, p]) if counts[g, p] else "")
            else:
                text[g, p] = str(counts[g, p]) if counts[g, p] else ""
    meaning = np.array([[_cell_meaning(g, p, bg) for p in range(n)] for g in range(n)], dtype=object)
    custom = np.dstack([counts.astype(object), meaning])
    colour_z = np.log10(1.0 + z) if log else z
    names = [str(c) for c in classes]
    colorbar: dict[str, Any] = {"title": {"text": "share of row" if normalise else "count"}, "thickness": 12}
    if log:
        top = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
        ticks = [v for v in ([0, 0.01, 0.1, 0.5, 1] if normalise else [0, 1, 10, 100, 1000, 10_000, 100_000]) if v <= max(top, 1e-9) * 1.0001]
        colorbar.update(tickvals=[float(np.log10(1 + t)) for t in ticks], ticktext=[str(t) for t in ticks])
        colorbar["title"]["text"] += " (log)"
    fig = go.Figure(
        go.Heatmap(
            z=colour_z,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            customdata=custom,
            hovertemplate="label: %{y}<br>predicted: %{x}<br>count: %{customdata[0]}<br>%{customdata[1]}<extra></extra>",
            colorscale="Blues",
            colorbar=colorbar,
            xgap=1,
            ygap=1,
            hoverongaps=False,
        )
    )
    fig.update_layout(
        template="plotly_white",
        title={"text": "Confusion matrix (click a cell for its examples)", "x": 0.01, "font": {"size": 14}},
        xaxis={"title": "predicted class (inference)", "side": "bottom", "tickangle": -30, "type": "category"},
        yaxis={"title": "label class (ground truth)", "autorange": "reversed", "type": "category"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def confusion_pairs(
    classes: Sequence[str],
    cm: Sequence[Sequence[int]] | np.ndarray,
    *,
    class_filter: str | None = None,
) -> list[dict[str, Any]]:
    """The non-zero cells of the confusion matrix as table rows (the many-class matrix).

    Each row: ``id`` ("label|predicted"), ``label``, ``predicted``, ``count``,
    ``row_share`` (share of the label row, None for an empty row), ``kind``.
    ``class_filter`` keeps the cells whose label or prediction is that class.
    """
    counts = np.asarray(cm, dtype=np.int64)
    shares = normalise_rows(counts)
    bg = counts.shape[0] - 1
    out = []
    for g, p in zip(*np.nonzero(counts)):
        gl, pl = str(classes[g]), str(classes[p])
        if class_filter is not None and class_filter not in (gl, pl):
            continue
        if g == bg:
            kind = "FP (no label)"
        elif p == bg:
            kind = "FN (missed)"
        else:
            kind = "TP" if g == p else "confusion"
        share = float(shares[g, p])
        out.append({"id": f"{gl}|{pl}", "label": gl, "predicted": pl, "count": int(counts[g, p]),
                    "row_share": None if math.isnan(share) else share, "kind": kind})
    out.sort(key=lambda r: (r["kind"] == "TP", -r["count"]))
    return out


def report_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of the classification report from :meth:`DatasetView.metrics` output.

    One row per class (``id`` = class name) with ``labels`` (TP + FN), ``predictions``
    (TP + FP), the counts and the ratios (None when undefined), then the ``overall`` row.
    """
    rows = []
    items = list(metrics["per_class"].items()) + [("overall", metrics["overall"])]
    for name, rec in items:
        rows.append({
            "id": name, "class": name,
            "labels": int(rec["tp"]) + int(rec["fn"]), "predictions": int(rec["tp"]) + int(rec["fp"]),
            "tp": int(rec["tp"]), "fp": int(rec["fp"]), "fn": int(rec["fn"]),
            "precision": rec["precision"], "recall": rec["recall"], "f1": rec["f1"],
        })
    return rows


# ---------------------------------------------------------------- PR curves and COCO


def pr_figure(curves: Mapping[str, Any] | None, *, conf: float, max_shown: int = 10) -> go.Figure:
    """Precision-recall curves (confidence sweep), one per class plus overall.

    The current confidence threshold is marked on each curve. Beyond ``max_shown``
    classes, the extra curves start hidden (click their legend entry to show them).
    """
    fig = go.Figure()
    if not curves:
        fig.add_annotation(text="no PR curves", showarrow=False)
        return fig
    thr = np.asarray(curves["thresholds"], dtype=np.float64)
    at = int(np.argmin(np.abs(thr - conf))) if thr.size else 0
    series = [("overall", curves["overall"])] + list(curves["per_class"].items())
    for i, (name, c) in enumerate(series):
        p = np.asarray([np.nan if v is None else v for v in c["precision"]], dtype=np.float64)
        r = np.asarray([np.nan if v is None else v for v in c["recall"]], dtype=np.float64)
        colour = "black" if name == "overall" else PALETTE[(i - 1) % len(PALETTE)]
        visible: bool | str = True if i <= max_shown else "legendonly"
        fig.add_trace(go.Scatter(
            x=r, y=p, mode="lines", name=name, legendgroup=name, visible=visible,
            line={"color": colour, "width": 3 if name == "overall" else 1.5},
            customdata=thr, hovertemplate=f"{name}<br>conf ≥ %{{customdata:.2f}}<br>recall %{{x:.3f}}<br>precision %{{y:.3f}}<extra></extra>",
        ))
        if thr.size:
            fig.add_trace(go.Scatter(
                x=[r[at]], y=[p[at]], mode="markers", legendgroup=name, showlegend=False, visible=visible,
                marker={"color": colour, "size": 9, "symbol": "circle-open", "line": {"width": 2}},
                hovertemplate=f"{name} at conf {thr[at]:.2f}<br>recall %{{x:.3f}}<br>precision %{{y:.3f}}<extra></extra>",
            ))
    fig.update_layout(
        template="plotly_white",
        title={"text": f"Precision-recall (circles: confidence {conf:.2f})", "x": 0.01, "font": {"size": 14}},
        xaxis={"title": "recall", "range": [0, 1.02]},
        yaxis={"title": "precision", "range": [0, 1.02]},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"font": {"size": 11}},
    )
    return fig


def coco_figure(coco: Mapping[str, Any] | None) -> go.Figure:
    """Bar chart of the twelve COCO numbers (AP@[.50:.95] ... ARl); undefined ones shown as "—"."""
    fig = go.Figure()
    if not coco:
        fig.add_annotation(text="COCO mAP not available", showarrow=False)
        return fig
    names = list(coco)
    vals = [np.nan if coco[k] is None or coco[k] < 0 else float(coco[k]) for k in names]
    colours = ["#1f77b4" if k.startswith("AP") else "#7f7f7f" for k in names]
    fig.add_trace(go.Bar(x=names, y=vals, marker_color=colours, text=[fmt(v) for v in vals], textposition="outside",
                         hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(
        template="plotly_white",
        title={"text": "COCO mAP (independent of the sliders; blue AP, grey AR)", "x": 0.01, "font": {"size": 14}},
        yaxis={"range": [0, 1.1], "title": "value"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


# ---------------------------------------------------------------- selection summaries


def mix_figure(m: Mix, *, title: str, order: Sequence[int] | None = None) -> go.Figure:
    """Grouped horizontal bars: each category's share of the selection and of the rest.

    Both shares come from the library's :class:`~aquaembed.analysis.selection.Mix` (over the
    whole selection and the whole rest), so the bars say what the tables say.

    Parameters
    ----------
    m : Mix
    title : str
    order : sequence of int, optional
        The categories to draw, in this order (default all, in the mix's order).
    """
    idx = list(range(len(m.categories))) if order is None else [int(i) for i in order]
    names = [m.categories[i] for i in idx]
    share = np.nan_to_num(m.share[idx]) if idx else np.zeros(0)
    rest = np.nan_to_num(m.share_rest[idx]) if idx else np.zeros(0)
    top = float(max(share.max(initial=0.0), rest.max(initial=0.0), 0.01))
    fig = go.Figure([
        go.Bar(y=names, x=share, orientation="h", name="selection", marker_color=SELECTION_COLOUR,
               text=[f"{pct(v)} ({int(c):,})" for v, c in zip(share, m.selected[idx])], textposition="outside",
               cliponaxis=False, hovertemplate="%{y}: %{text} of the selection<extra></extra>"),
        go.Bar(y=names, x=rest, orientation="h", name="rest", marker_color=REST_COLOUR,
               text=[f"{pct(v)} ({int(c):,})" for v, c in zip(rest, m.rest[idx])], textposition="outside",
               cliponaxis=False, hovertemplate="%{y}: %{text} of the rest<extra></extra>"),
    ])
    fig.update_layout(
        template="plotly_white", barmode="group", height=90 + 34 * len(names),
        title={"text": title, "x": 0.01, "y": 0.98, "yanchor": "top", "font": {"size": 13}},
        # room on the right for the labels of the longest bars; the legend above the plot, clear of the ticks
        xaxis={"tickformat": ".0%", "title": None, "range": [0, min(1.0, top) * 1.3]},
        yaxis={"autorange": "reversed", "automargin": True},
        margin={"l": 10, "r": 20, "t": 50, "b": 24},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0, "yanchor": "bottom"},
        showlegend=True, uniformtext={"minsize": 9, "mode": "show"},
    )
    return fig
