"""Embedding map callbacks: draw, hover, click (frame + neighbours), select (summary), zoom."""

from __future__ import annotations

import json
import math
import threading
from typing import Any
from urllib.parse import urlsplit

import dash
import numpy as np
from dash import Input, Output, dcc, html, no_update
from dash import State as DashState

from aquaembed.analysis.selection import (
    SelectionSummary,
    mix,
    projection_selection,
    selection_mask,
)
from aquaembed.dashboard import figures, ids
from aquaembed.dashboard.components import counts_table, over_table, thumb_card
from aquaembed.dashboard.context import Context, State
from aquaembed.dashboard.pages.embedding import SUMMARY_HELP
from aquaembed.errors import AquaembedError
from aquaembed.explore import LRUCache

SELECT_JS = """
function(sel, previous) {
    if (!sel || !sel.points || sel.points.length === 0) {
        return previous ? null : window.dash_clientside.no_update;  // (nothing to clear: no round trip)
    }
    var curves = {};
    for (var i = 0; i < sel.points.length; i++) {
        var p = sel.points[i];
        var idx = (p.pointIndex !== undefined) ? p.pointIndex : p.pointNumber;
        (curves[p.curveNumber] = curves[p.curveNumber] || []).push(idx);
    }
    return {curves: curves, n: sel.points.length};
}
"""
"""Browser side: reduce Plotly's selection (an object per point) to point indices per trace."""

LEGEND_NOTE = ("The legend counts crops: a TP or a confusion is a matched pair, one label crop and one inference "
               "crop; an FP is an inference crop, an FN a label crop. The header's TP equals the TP inference count.")
GRID_MAX = 24


def _key(st: State, viewport: dict[str, Any] | None) -> dict[str, Any]:
    base = [st.dataset, st.model, st.kind]
    vp = viewport.get("ranges") if viewport and viewport.get("base") == base else None
    return {"state": st.as_dict(), "base": base, "viewport": vp}


def _resolve(ctx: Context, key: dict[str, Any]) -> tuple[State, dict[str, Any], list[figures.Group]]:
    st = State(**key["state"])
    proj, groups, _ = ctx.groups(st, key.get("viewport"))
    return st, proj, groups


def _point_row(ctx: Context, key: dict[str, Any] | None, event: dict[str, Any] | None) -> tuple[State, dict[str, Any], int] | None:
    if not key or not event or not event.get("points"):
        return None
    p = event["points"][0]
    st, proj, groups = _resolve(ctx, key)
    row = figures.row_of_point(groups, int(p.get("curveNumber", -1)), int(p.get("pointIndex", p.get("pointNumber", -1))))
    return None if row is None else (st, proj, row)


def _type_name(code: int) -> str:
    return dict(figures.TYPE_ORDER).get(int(code), "?")


def _crop_lines(view_classes: list[str], proj: dict[str, Any], row: int) -> list[str]:
    src = "label" if int(proj["source"][row]) == 0 else "inference"
    score = proj["score"][row]
    return [f"{view_classes[int(proj['class'][row])]} · {src}",
            f"{_type_name(proj['type'][row])}" + ("" if math.isnan(score) else f" · conf {score:.2f}"),
            f"frame {int(proj['frame_id'][row])}"]


def _frame_lines(proj: dict[str, Any], row: int) -> list[str]:
    meta = proj.get("metadata") or {}
    tags = [str(meta[k][row]) for k in list(meta)[:2]]
    return [f"frame {int(proj['ids'][row])}" + (f" · {' · '.join(tags)}" if tags else ""),
            f"P {figures.fmt(proj['precision'][row], 2)} R {figures.fmt(proj['recall'][row], 2)} F1 {figures.fmt(proj['f1'][row], 2)}",
            f"TP {int(proj['tp'][row])} FP {int(proj['fp'][row])} FN {int(proj['fn'][row])}"]


class Maps:
    """The embedding map of a page state: figure, key, notes; built once per state and viewport.

    The page's layout (:meth:`prefill`), the warm-up started by the page request
    (:meth:`warm`) and the ``draw`` callback share these, so the first view of a URL is
    computed once, as soon as the page is asked for, and arrives with the layout: no
    callback round trip before the points can be drawn.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._built = LRUCache(4)
        self._warming = threading.Semaphore(2)

    def content(self, st: State, viewport: dict[str, Any] | None) -> tuple[Any, dict[str, Any], str, str]:
        """``(figure, map key, note, legend note)`` of the map of ``st`` (cached)."""
        key = _key(st, viewport)
        generation = self.ctx.view(st.dataset).stored.generation  # a writer may have replaced the dataset
        return self._built.get((json.dumps(key, sort_keys=True), generation), lambda: self._build(st, key))

    def _build(self, st: State, key: dict[str, Any]) -> tuple[Any, dict[str, Any], str, str]:
        proj, groups, sampled = self.ctx.groups(st, key["viewport"])
        n = int(np.asarray(proj["x"]).shape[0])
        shown = sum(int(g.rows.size) for g in groups)
        noun = "crops (labels and inferences)" if st.kind == "crop" else "frames"
        title = f"{n:,} {noun} of {st.dataset} · {st.model}"
        inside = self.ctx.scenario_rows(st, proj)
        if inside is not None:
            title = f"{inside.size:,} of {n:,} {noun} of {st.dataset} · {st.model} · scenario {st.scenario}"
        if st.metric and st.kind == "frame":
            title += f" · per-frame counts of metric {st.metric}"
        fig = figures.embedding_figure(proj, groups, title=title,
                                       uirevision=f"{st.dataset}|{st.model}|{st.kind}|{st.colour}|{st.focus}|{st.scenario}")
        note = ""
        if inside is not None:
            note = (f"only the frames of scenario {st.scenario} are drawn" +
                    (" (and their crops); " if st.kind == "crop" else "; "))
        if st.metric and st.kind == "crop":
            note += (f"crop types come from the built-in matching (metric {st.metric} gives per-frame counts, not boxes; "
                     "the frame map is coloured by it); ")
        if sampled:
            note += f"showing a sample of {shown:,} of {n:,} points; zoom in to see every point of a region"
        elif key["viewport"]:
            note += f"zoomed: all {shown:,} points of this region"
        note = note.strip().rstrip(";")
        legend_note = LEGEND_NOTE if st.kind == "crop" and st.colour == "type" else ""
        return fig, {**key, "sampled": sampled, "n": n, "zoomable": n > self.ctx.max_points}, note, legend_note

    def page_state(self, search: str | None) -> State | None:
        """The normalised state of a page query when it shows the embedding map, else None."""
        if search is None or not self.ctx.names():
            return None
        st = self.ctx.normalise(State.from_query(search))
        return st if st.view == "embedding" else None

    def warm(self, search: str | None) -> None:
        """Start building the map of a page's query in the background (the page request
        arrives ~0.5 s before Dash asks for the layout: its scripts load in between)."""
        st = self.page_state(search)
        if st is None or not self._warming.acquire(blocking=False):
            return

        def run() -> None:
            try:
                self.content(st, None)
            except Exception:  # the layout or the callback computes it again and says what failed
                pass
            finally:
                self._warming.release()

        threading.Thread(target=run, name="aquaembed-map-warm", daemon=True).start()

    def prefill(self, layout: Any, search: str | None) -> Any:
        """The page's layout with the map of its query filled in (as ``draw`` would fill it)."""
        try:
            st = self.page_state(search)
            if st is None:
                return layout
            fig, key, note, legend_note = self.content(st, None)
        except AquaembedError:
            return layout  # ``draw`` answers with the same error state as before
        layout[ids.EMB_GRAPH].figure = fig
        layout[ids.EMB_STATE].data = key
        layout[ids.EMB_NOTE].children = note
        layout[ids.EMB_LEGEND_NOTE].children = legend_note
        return layout


ZOOM_JS = """
function(relayout, key) {
    var nu = window.dash_clientside.no_update;
    if (!relayout || !key || !key.zoomable) { return nu; }
    if (relayout['xaxis.autorange'] || relayout['autosize']) { return key.viewport ? null : nu; }
    var r = ['xaxis.range[0]', 'xaxis.range[1]', 'yaxis.range[0]', 'yaxis.range[1]'].map(function(k) { return relayout[k]; });
    if (r.some(function(v) { return v === undefined; })) { return nu; }
    return {base: key.base, ranges: {x: [r[0], r[1]], y: [r[2], r[3]]}};
}
"""
"""Browser side: a zoom or pan of a sampled map asks for every point of the zoomed region
(only maps above ``max_points`` are sampled; other relayouts send nothing to the server)."""


def register(app: dash.Dash, ctx: Context) -> Maps:
    maps = Maps(ctx)
    # The map reads the page state from the URL (``sync`` keeps its query equal to
    # ``State.to_query()`` of the STATE store), not from the store: no callback writes
    # ``href``, so when the URL changes the figure is requested beside ``sync``. A fresh
    # page gets its map with the layout (``Maps.prefill``): then this first call finds
    # the key unchanged and answers nothing.
    @app.callback(
        Output(ids.EMB_GRAPH, "figure"),
        Output(ids.EMB_STATE, "data"),
        Output(ids.EMB_NOTE, "children"),
        Output(ids.EMB_LEGEND_NOTE, "children"),
        Output(ids.EMB_SUMMARY, "children"),
        Input(ids.URL, "href"),
        Input(ids.EMB_VIEWPORT, "data"),
        DashState(ids.EMB_STATE, "data"),
    )
    def draw(href, viewport, previous):
        if not href:
            return (no_update,) * 5
        st = maps.page_state(urlsplit(href).query)
        if st is None:
            return (no_update,) * 5
        key = _key(st, viewport)
        if previous and {k: previous.get(k) for k in key} == key:
            return (no_update,) * 5
        fig, emb_state, note, legend_note = maps.content(st, viewport)
        return fig, emb_state, note, legend_note, SUMMARY_HELP  # a new map: the old selection is gone

    app.clientside_callback(ZOOM_JS, Output(ids.EMB_VIEWPORT, "data"), Input(ids.EMB_GRAPH, "relayoutData"),
                            DashState(ids.EMB_STATE, "data"), prevent_initial_call=True)

    @app.callback(
        Output(ids.EMB_TOOLTIP, "show"),
        Output(ids.EMB_TOOLTIP, "bbox"),
        Output(ids.EMB_TOOLTIP, "children"),
        Input(ids.EMB_GRAPH, "hoverData"),
        DashState(ids.EMB_STATE, "data"),
        prevent_initial_call=True,
    )
    def hover(event, key):
        hit = _point_row(ctx, key, event)
        if hit is None:
            return False, no_update, no_update
        st, proj, row = hit
        if st.kind == "crop":
            src = "label" if int(proj["source"][row]) == 0 else "pred"
            names = ctx.class_names(ctx.view(st.dataset))
            body = thumb_card(ctx.crop_url(st, src, int(proj["ids"][row])), _crop_lines(names, proj, row), width=128)
        else:
            body = thumb_card(ctx.frame_url(st, int(proj["ids"][row]), size=240), _frame_lines(proj, row), width=220)
        return True, event["points"][0].get("bbox"), body

    @app.callback(
        Output(ids.EMB_DETAIL, "children"),
        Input(ids.EMB_GRAPH, "clickData"),
        DashState(ids.EMB_STATE, "data"),
        prevent_initial_call=True,
    )
    def click(event, key):
        hit = _point_row(ctx, key, event)
        if hit is None:
            return no_update
        st, proj, row = hit
        view = ctx.view(st.dataset)
        try:
            if st.kind == "crop":
                return _crop_detail(ctx, st, view, proj, row)
            return _frame_detail(ctx, st, view, proj, row)
        except AquaembedError as exc:
            return html.P(f"Cannot show this point: {exc}", className="ae-error")

    app.clientside_callback(SELECT_JS, Output(ids.EMB_SELECTION, "data"), Input(ids.EMB_GRAPH, "selectedData"),
                            DashState(ids.EMB_SELECTION, "data"), prevent_initial_call=True)

    @app.callback(
        Output(ids.EMB_SUMMARY, "children", allow_duplicate=True),
        Input(ids.EMB_SELECTION, "data"),
        DashState(ids.EMB_STATE, "data"),
        prevent_initial_call=True,
    )
    def summary(selection, key):
        if not selection or not key:
            return SUMMARY_HELP
        st, proj, groups = _resolve(ctx, key)
        n = int(np.asarray(proj["x"]).shape[0])
        picked = [groups[int(c)].rows[np.asarray(idx, dtype=np.int64)] for c, idx in selection["curves"].items()
                  if 0 <= int(c) < len(groups)]
        rows = np.concatenate(picked) if picked else np.zeros(0, np.int64)
        mask = selection_mask(n, rows[(rows >= 0) & (rows < n)])
        if not mask.any():
            return SUMMARY_HELP
        return _summary(ctx, st, proj, mask)

    return maps


# ------------------------------------------------------------------ panels


def _crop_detail(ctx: Context, st: State, view: Any, proj: dict[str, Any], row: int) -> list[Any]:
    names = ctx.class_names(view)
    src = "label" if int(proj["source"][row]) == 0 else "pred"
    cid, fid = int(proj["ids"][row]), int(proj["frame_id"][row])
    sim = view.similar("crop", cid, k=8, model=st.model, options=st.options, source=src)
    cards = []
    for nb in sim["neighbors"]:
        code = {name: code for code, name in figures.TYPE_ORDER}.get(nb["type"], -1)
        cards.append(thumb_card(
            ctx.crop_url(st, nb["source"], nb["id"]),
            [f"{nb['class']} · {nb['source']}", f"{nb['type']}" + (f" · conf {nb['score']:.2f}" if nb["score"] is not None else ""),
             f"sim {nb['similarity']:.2f} · frame {nb['frame_id']}"],
            href=ctx.frame_url(st, nb["frame_id"], highlight=(nb["source"], nb["id"]), size=960),
            badge=nb["type"], badge_colour=figures.type_colour(code), width=96, test_id="neighbour"))
    return [
        html.H3(f"{names[int(proj['class'][row])]} {'label' if src == 'label' else 'inference'} · {_type_name(proj['type'][row])}"),
        html.P(" · ".join(_crop_lines(names, proj, row)[1:]), className="ae-muted"),
        html.A(html.Img(src=ctx.frame_url(st, fid, highlight=(src, cid), size=640), className="ae-frame-img"),
               href=ctx.frame_url(st, fid, highlight=(src, cid), size=1280), target="_blank"),
        html.P("Labels solid, inferences dashed; the clicked box in white.", className="ae-help"),
        html.H4("Most similar crops"),
        html.Div(cards, className="ae-grid ae-neighbours"),
    ]


def _frame_detail(ctx: Context, st: State, view: Any, proj: dict[str, Any], row: int) -> list[Any]:
    fid = int(proj["ids"][row])
    sim = view.similar("frame", fid, k=8, model=st.model, options=st.options)
    cards = []
    for nb in sim["neighbors"]:
        meta = nb.get("metadata") or {}
        tag = " · ".join(str(v) for v in list(meta.values())[:2])
        cards.append(thumb_card(
            ctx.frame_url(st, nb["id"], size=240),
            [f"frame {nb['id']} · sim {nb['similarity']:.2f}", tag,
             f"P {figures.fmt(nb['precision'], 2)} R {figures.fmt(nb['recall'], 2)} F1 {figures.fmt(nb['f1'], 2)}"],
            href=ctx.frame_url(st, nb["id"], size=1280), width=150, test_id="neighbour"))
    meta = proj.get("metadata") or {}
    return [
        html.H3(f"Frame {fid}"),
        html.P(" · ".join(_frame_lines(proj, row)[1:]), className="ae-muted"),
        html.P(" · ".join(f"{k}: {meta[k][row]}" for k in meta), className="ae-muted"),
        html.A(html.Img(src=ctx.frame_url(st, fid, size=640), className="ae-frame-img"),
               href=ctx.frame_url(st, fid, size=1280), target="_blank"),
        html.P("Labels solid, inferences dashed.", className="ae-help"),
        html.H4("Similar scenes"),
        html.Div(cards, className="ae-grid ae-neighbours"),
    ]


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _summary(ctx: Context, st: State, proj: dict[str, Any], mask: np.ndarray) -> list[Any]:
    """The selection panel: everything it shows comes from :func:`projection_selection`."""
    view = ctx.view(st.dataset)
    names = ctx.class_names(view)
    # under a scenario only its points are drawn: the rest is the scenario's other points
    summary: SelectionSummary = projection_selection(proj, mask, class_names=names, within=ctx.scenario_rows(st, proj))
    k, n = summary.n_selected, summary.n_total
    noun = "crop" if st.kind == "crop" else "frame"
    parts = {"selection": (k, summary.selection), "rest": (n - k, summary.rest)}
    out: list[Any] = [html.H3(f"Selection: {_plural(k, noun)} ({figures.pct(summary.share)} of {n:,})")]
    sel = np.flatnonzero(mask)
    if st.kind == "crop":
        typ, src = np.asarray(proj["type"]), np.asarray(proj["source"])
        score = np.asarray(proj["score"])
        sel = sel[np.argsort(-np.nan_to_num(score[sel], nan=-1.0), kind="stable")][:GRID_MAX]
        thumbs = [thumb_card(ctx.crop_url(st, "label" if src[r] == 0 else "pred", int(proj["ids"][r])), _crop_lines(names, proj, r),
                             href=ctx.frame_url(st, int(proj["frame_id"][r]), highlight=("label" if src[r] == 0 else "pred", int(proj["ids"][r])), size=1280),
                             badge=_type_name(typ[r]), badge_colour=figures.type_colour(typ[r]), width=110) for r in sel.tolist()]
        types, classes = summary.mix("type"), summary.mix("class")
        shown_types = [i for i in range(len(types.categories)) if types.selected[i] or types.rest[i]]
        # the classes the selection holds most of (up to 12), each with its share of the rest beside it
        top = [int(i) for i in np.argsort(-classes.selected, kind="stable")[:12] if classes.selected[i]]
        mixes = [dcc.Graph(figure=figures.mix_figure(types, title="confusion types", order=shown_types),
                           config={**figures.GRAPH_CONFIG, "displayModeBar": False}, className="ae-mix"),
                 dcc.Graph(figure=figures.mix_figure(classes, title="classes", order=top),
                           config={**figures.GRAPH_CONFIG, "displayModeBar": False}, className="ae-mix")]
        note = "TP and FP counted on the inference crops, FN on the label crops; a confusion counts on both sides."
    else:
        f1 = np.asarray(proj["f1"])
        sel = sel[np.argsort(np.nan_to_num(f1[sel], nan=2.0), kind="stable")][:GRID_MAX]
        thumbs = [thumb_card(ctx.frame_url(st, int(proj["ids"][r]), size=240), _frame_lines(proj, r),
                             href=ctx.frame_url(st, int(proj["ids"][r]), size=1280), width=170) for r in sel.tolist()]
        mixes = []
        note = "Counts are the per-frame TP/FP/FN summed over the frames."
    over = summary.over
    if not mixes and over:
        field = over[0].field
        m = mix(np.asarray((proj.get("metadata") or {})[field]), mask, field=field)
        order = [int(i) for i in np.argsort(-m.selected, kind="stable")[:12]]
        mixes = [dcc.Graph(figure=figures.mix_figure(m, title=field, order=order),
                           config={**figures.GRAPH_CONFIG, "displayModeBar": False}, className="ae-mix")]
    out += [
        html.Div(className="ae-split", children=[
            html.Div(className="ae-card ae-half", children=[
                html.H4("Selection vs the rest"), counts_table(parts, noun + "s"), html.P(note, className="ae-help"),
                html.H4("What the selection has in common"), over_table(over)]),
            html.Div(className="ae-card ae-half", children=mixes or [html.P("Over-represented values are those at least "
                                                                               "15% of the selection and 1.3× more common than overall.",
                                                                               className="ae-help")]),
        ]),
        html.H4(f"Selected {'crops, most confident first' if st.kind == 'crop' else 'frames, lowest F1 first'} "
                f"(first {min(k, GRID_MAX)} of {k:,})"),
        html.Div(thumbs, className="ae-grid"),
    ]
    return out
