""""Where B regressed" on the compare tab: the failure report's clusters and slices run on the
labels B broke relative to A (the library's ``DatasetView.regression``), as ranked cards that
open the map / the frame grid like the failure report's cards do (``focus=bcluster:<id>@<k>``,
``bslice:<rank>@<k>``, B being the dataset's k-th inference set)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dash
from dash import ALL, Input, Output, dcc, html, no_update
from dash import State as DashState

from aquaembed.dashboard import ids
from aquaembed.dashboard import workflow_ids as w
from aquaembed.dashboard.callbacks.report import MAX_CLUSTERS, MAX_SLICES, cluster_card, slice_card
from aquaembed.dashboard.context import Context, State
from aquaembed.errors import AquaembedError

__all__ = ["register", "section"]


def section() -> html.Div:
    """The layout: a status line and two grids of cards."""
    return html.Div(className="ae-regression", **{"data-testid": "regression-section"}, children=[
        html.H3("Where B regressed"),
        html.P("The labels B broke (TP under A, not TP under B): the clusters they form in crop-embedding space "
               "(the failure report's method, on the stored crop kNN graph) and the slices of frames where B broke "
               "a larger (worse) or smaller (better) share of A's found labels than elsewhere (Benjamini–Hochberg "
               "q < 0.05, bootstrap intervals over frames). Click a card to open it.", className="ae-help"),
        dcc.Loading(type="default", children=html.Div(id=w.REG_STATUS, className="ae-muted")),
        html.H4("Clusters of broken labels"),
        html.Div(id=w.REG_CLUSTERS, className="ae-grid ae-report-cards"),
        html.H4("Slices where the broken share departs from the rest"),
        html.Div(id=w.REG_SLICES, className="ae-grid ae-report-cards"),
    ])


def register(app: dash.Dash, ctx: Context) -> None:
    @app.callback(
        Output(w.REG_CLUSTERS, "children"), Output(w.REG_SLICES, "children"), Output(w.REG_STATUS, "children"),
        Input(ids.STATE, "data"), Input(w.MODEL_B, "value"),
    )
    def cards(data, model_b):
        if not data or data.get("view") != w.VIEW:
            return no_update, no_update, no_update
        st = State(**data)
        view = ctx.view(st.dataset)
        if not model_b or model_b == st.model or model_b not in view.models():
            return [], [], None
        scenario = st.scenario_name  # the header's scenario (focus reads the same)
        try:
            reg = view.regression(st.model, model_b, st.options, scenario=scenario)
        except AquaembedError as exc:
            return [], [], html.Span(f"Cannot compute where {model_b} regressed: {exc}", className="ae-error")
        counts = reg["labels"]
        status = (f"{model_b} broke {counts['broken']:,} labels {st.model} found (and fixed {counts['fixed']:,}): "
                  f"{len(reg['clusters'])} clusters, {len(reg['slices'])} departing slices (of {reg['tested']} tests)"
                  + (f" within scenario {scenario}" if scenario else ""))
        clusters = [cluster_card(ctx, st, c, w.REG_CLUSTER_CARD, "regression-cluster-card")
                    for c in reg["clusters"][:MAX_CLUSTERS]]
        slices = [slice_card(i, s, w.REG_SLICE_CARD, "regression-slice-card") for i, s in enumerate(reg["slices"][:MAX_SLICES])]
        return (clusters or [html.P("The broken labels form no cluster.", className="ae-muted")],
                slices or [html.P("No slice departs significantly from the rest.", className="ae-muted")], status)

    @app.callback(
        Output(ids.URL, "search", allow_duplicate=True),
        Input({"type": w.REG_CLUSTER_CARD, "index": ALL}, "n_clicks"),
        Input({"type": w.REG_SLICE_CARD, "index": ALL}, "n_clicks"),
        DashState(ids.STATE, "data"), DashState(w.MODEL_B, "value"),
        prevent_initial_call=True,
    )
    def open_card(_c, _s, data, model_b):
        trig = dash.ctx.triggered_id
        if not data or not model_b or not trig or not any(t.get("value") for t in dash.ctx.triggered):
            return no_update
        st = State(**data)
        models = ctx.view(st.dataset).models()
        if model_b not in models:
            return no_update
        k = models.index(model_b)
        changes: dict[str, Any]
        if trig["type"] == w.REG_CLUSTER_CARD:
            changes = {"view": "embedding", "kind": "crop", "colour": "type", "focus": f"bcluster:{trig['index']}@{k}"}
        else:
            changes = {"view": "frames", "focus": f"bslice:{trig['index']}@{k}"}
        return replace(st, **changes).to_query()
