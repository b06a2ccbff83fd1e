"""Failure-report callbacks: compute the report (library), draw the cards, open a card."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import dash
from dash import ALL, Input, Output, html, no_update
from dash import State as DashState

from aquaembed.dashboard import ids
from aquaembed.dashboard.context import Context, State
from aquaembed.dashboard.focus import describe, focus_record
from aquaembed.errors import AquaembedError

MAX_CLUSTERS = 30
MAX_SLICES = 40


def _cluster_card(ctx: Context, st: State, c: dict[str, Any]) -> html.Div:
    imgs = [html.Img(src=ctx.crop_url(st, t["source"], t["id"], size=96), className="ae-rep-thumb", alt="")
            for t in c["typical"][:6]]
    classes = ", ".join(f"{k} {v}" for k, v in list(c["classes"].items())[:3])
    over = c["over_represented"][0] if c["over_represented"] else None
    why = (f"{over['field']} = {over['value']}: {over['share']:.0%} of the cluster vs {over['share_rest']:.0%} elsewhere"
           if over else "no over-represented metadata")
    pairs = c.get("pairs")
    return html.Div(
        id={"type": ids.REP_CLUSTER_CARD, "index": c["id"]}, n_clicks=0, className=f"ae-rep-card ae-rep-{c['type']}",
        **{"data-testid": "cluster-card", "data-cluster": str(c["id"])},
        children=[
            html.Div([html.B(f"#{c['id']} {c['type']}"), f" · {c['size']} crops · score {c['score']:.3f}"]),
            html.Div(classes + (f" · {', '.join(list(pairs)[:2])}" if pairs else ""), className="ae-cap"),
            html.Div(why, className="ae-cap ae-muted"),
            html.Div(imgs, className="ae-rep-thumbs"),
        ],
    )


def _slice_card(rank: int, s: dict[str, Any]) -> html.Div:
    field = " & ".join(s["field"]) if isinstance(s["field"], list) else s["field"]
    value = " & ".join(map(str, s["value"])) if isinstance(s["value"], list) else str(s["value"])
    lo, hi = s["interval"]
    interval = "" if lo is None else f" [{lo:.3f}, {hi:.3f}]"
    return html.Div(
        id={"type": ids.REP_SLICE_CARD, "index": rank}, n_clicks=0, className=f"ae-rep-card ae-rep-{s['direction']}",
        **{"data-testid": "slice-card", "data-slice": str(rank)},
        children=[
            html.Div([html.B(f"{field} = {value}"), f" · {s['class'] or 'all classes'}"]),
            html.Div(f"{s['direction']}: {s['metric']} {s['in_slice']:.3f}{interval} vs {s['rest']:.3f} elsewhere",
                     className="ae-cap"),
            html.Div(f"q = {s['q_value']:.2g} · {s['frames']} frames", className="ae-cap ae-muted"),
        ],
    )


def register(app: dash.Dash, ctx: Context) -> None:
    @app.callback(
        Output(ids.REP_CLUSTERS, "children"),
        Output(ids.REP_SLICES, "children"),
        Output(ids.REP_STATUS, "children"),
        Input(ids.STATE, "data"),
    )
    def cards(data):
        if not data or data["view"] != "report":
            return no_update, no_update, no_update
        st = State(**data)
        view = ctx.view(st.dataset)
        t = time.perf_counter()
        try:
            clusters = view.failure_clusters(st.model, st.options)
            slices = view.slice_departures(st.model, st.options)
        except AquaembedError as exc:
            return [], [], html.Span(f"Cannot compute the report: {exc}", className="ae-error")
        status = (f"{len(clusters)} failure clusters and {len(slices['slices'])} departing slices "
                  f"(of {slices['tested']} tests) at conf ≥ {st.conf:.2f}, IoU ≥ {st.iou:.2f} · {time.perf_counter() - t:.1f} s")
        return ([_cluster_card(ctx, st, c) for c in clusters[:MAX_CLUSTERS]] or [html.P("No failure clusters.", className="ae-muted")],
                [_slice_card(i, s) for i, s in enumerate(slices["slices"][:MAX_SLICES])] or
                [html.P("No slice departs significantly from the rest.", className="ae-muted")],
                status)

    def _open(data: dict[str, Any], **changes: Any) -> str:
        return replace(State(**data), **changes).to_query()

    @app.callback(
        Output(ids.URL, "search", allow_duplicate=True),
        Input({"type": ids.REP_CLUSTER_CARD, "index": ALL}, "n_clicks"),
        Input({"type": ids.REP_SLICE_CARD, "index": ALL}, "n_clicks"),
        DashState(ids.STATE, "data"),
        prevent_initial_call=True,
    )
    def open_card(_c, _s, data):
        trig = dash.ctx.triggered_id
        if not data or not trig or not any(t.get("value") for t in dash.ctx.triggered):
            return no_update
        if trig["type"] == ids.REP_CLUSTER_CARD:
            return _open(data, view="embedding", kind="crop", colour="type", focus=f"cluster:{trig['index']}")
        return _open(data, view="frames", focus=f"slice:{trig['index']}")

    @app.callback(Output(ids.REP_FOCUS, "children"), Output(ids.REP_FOCUS_BAR, "style"), Input(ids.STATE, "data"))
    def banner(data):
        hidden = {"display": "none"}
        if not data or not data.get("focus"):
            return None, hidden
        hit = focus_record(ctx, State(**data))
        if hit is None:
            return None, hidden
        return f"Isolated: {describe(*hit)}", {}

    @app.callback(
        Output(ids.URL, "search", allow_duplicate=True),
        Input(ids.REP_CLEAR, "n_clicks"),
        DashState(ids.STATE, "data"),
        prevent_initial_call=True,
    )
    def clear(n, data):
        if not n or not data:
            return no_update
        return _open(data, focus="")
