"""Callbacks of the comparison page: thin (inputs -> library -> tables and figures)."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, html, no_update
from dash import State as DashState

from aquaembed.dashboard import figures, workflow_figures
from aquaembed.dashboard import workflow_ids as w
from aquaembed.dashboard.context import Context, State
from aquaembed.dashboard.ids import SCENARIO, STATE
from aquaembed.errors import AquaembedError

HIDDEN = {"display": "none"}


def _kpis(o: dict[str, Any], label: str = "") -> list[Any]:
    return [html.Span(label, className="ae-muted") if label else None,
            html.Span(f"precision {figures.fmt(o['precision'])}", className="ae-kpi"),
            html.Span(f"recall {figures.fmt(o['recall'])}", className="ae-kpi"),
            html.Span(f"F1 {figures.fmt(o['f1'])}", className="ae-kpi"),
            html.Span(f"TP {o['tp']:,} · FP {o['fp']:,} · FN {o['fn']:,}", className="ae-muted")]


def register(app: dash.Dash, ctx: Context) -> None:
    from aquaembed.dashboard import workflow_regression

    workflow_regression.register(app, ctx)

    # the metric and the scenario are the header's controls (State.metric, State.scenario)
    @app.callback(Output(w.MODEL_B, "options"), Input(STATE, "data"))
    def choices(data):
        if not data:
            return no_update
        st = State(**data)
        return [m for m in ctx.view(st.dataset).models() if m != st.model]

    @app.callback(
        Output(w.OVERALL, "children"), Output(w.REPORT, "data"), Output(w.FRAMES, "data"),
        Input(STATE, "data"),
    )
    def report(data):
        if not data or data.get("view") != w.VIEW:
            return no_update, no_update, no_update
        st = State(**data)
        view = ctx.view(st.dataset)
        metric, scenario = st.metric_name, st.scenario_name
        try:
            m = view.metrics(st.model, options=st.options, pr=False, metric=metric, scenario=scenario)
            fr = view.frames(st.model, options=st.options, metric=metric, scenario=scenario, sort="f1", limit=200)
        except AquaembedError as exc:
            return [html.Span(str(exc), className="ae-error")], [], []
        rows = [{"class": r["class"], **{k: r[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")}}
                for r in figures.report_rows(m)]
        frames = [{**{k: r[k] for k in ("id", "tp", "fp", "fn", "precision", "recall", "f1")},
                   "meta": ", ".join(f"{k}={v}" for k, v in r["metadata"].items())} for r in fr["rows"]]
        label = f"{metric or 'built-in matching'}" + (f" · scenario {scenario} ({fr['total']} frames)" if scenario else "")
        return _kpis(m["overall"], label), rows, frames

    @app.callback(
        Output(w.CMP_PANEL, "style"), Output(w.CMP_COUNTS, "children"), Output(w.CMP_FRAME, "figure"),
        Output(w.CMP_CROP, "figure"), Output(w.CMP_DIFF, "figure"),
        Input(STATE, "data"), Input(w.MODEL_B, "value"),
    )
    def compare(data, model_b):
        if not data or data.get("view") != w.VIEW:
            return no_update, no_update, no_update, no_update, no_update
        st = State(**data)
        scenario = st.scenario_name
        view = ctx.view(st.dataset)
        if not model_b or model_b == st.model or model_b not in view.models():
            return HIDDEN, None, no_update, no_update, no_update
        models = (st.model, model_b)
        c = view.compare(st.model, model_b, st.options, scenario=scenario)
        counts = c["labels"]["counts"]
        kpis = [html.Span(f"{m}: F1 {figures.fmt(c['overall'][m]['f1'])}", className="ae-kpi") for m in models] + [
            html.Span(f"fixed {counts['fixed']:,} · broken {counts['broken']:,} · found by both "
                      f"{counts['both_found']:,} · missed by both {counts['both_missed']:,}", className="ae-muted")]
        kinds = ctx.kinds(view)
        empty = workflow_figures.go.Figure()
        frame_fig = workflow_figures.delta_frame_figure(view.compare_projection("frame", *models, st.options), models) \
            if "frame" in kinds else empty
        crop_fig = workflow_figures.transition_crop_figure(view.compare_projection("crop", *models, st.options), models) \
            if "crop" in kinds else empty
        diff_fig = workflow_figures.diff_figure(c["classes"], c["confusion_matrix_diff"], models)
        return {}, kpis, frame_fig, crop_fig, diff_fig

    @app.callback(
        Output(w.CMP_CELL_TITLE, "children"), Output(w.CMP_CELL, "data"),
        Input(w.CMP_DIFF, "clickData"), DashState(STATE, "data"), DashState(w.MODEL_B, "value"),
    )
    def cell(click, data, model_b):
        if not click or not data or not model_b:
            return no_update, no_update
        st = State(**data)
        point = click["points"][0]
        g, p = str(point["y"]), str(point["x"])
        res = ctx.view(st.dataset).compare_cell(st.model, model_b, st.options, gt_class=g, pred_class=p, limit=500)
        rows = []
        for r in res["rows"]:
            rows.append({**r, "class_a": r.get(f"pred_class_{st.model}"), "class_b": r.get(f"pred_class_{model_b}")})
        return f"label {g} → predicted {p}: {res['total']} changed", rows

    @app.callback(
        Output(w.SC_MSG, "children"), Output(w.SC_VERSION, "data"), Output(SCENARIO, "value", allow_duplicate=True),
        Output(SCENARIO, "options", allow_duplicate=True),
        Input(w.SC_SAVE, "n_clicks"), Input(w.SC_WHERE, "n_submit"), Input(w.SC_LASSO, "n_clicks"),
        Input(w.SC_DELETE, "n_clicks"),
        DashState(w.SC_NAME, "value"), DashState(w.SC_WHERE, "value"), DashState(w.CMP_FRAME, "selectedData"),
        DashState(STATE, "data"), DashState(w.SC_VERSION, "data"), prevent_initial_call=True,
    )
    def scenarios(_s, _e, _l, _d, name, where, selected, data, version):
        trig = dash.ctx.triggered_id
        if not data or trig is None:
            return no_update, no_update, no_update, no_update
        st = State(**data)
        view = ctx.view(st.dataset)
        chosen, metric = st.scenario_name, st.metric_name

        def options() -> list[dict[str, str]]:
            return [{"label": f"{k} ({v['frames']} frames)", "value": k} for k, v in view.scenarios().items()]

        try:
            if trig == w.SC_DELETE:
                if not chosen:
                    return "choose a scenario to delete", no_update, no_update, no_update
                view.delete_scenario(chosen)
                return f"deleted scenario {chosen!r}", (version or 0) + 1, None, options()
            if trig == w.SC_LASSO:
                pts = (selected or {}).get("points") or []
                frames = sorted({int(p["customdata"]) for p in pts if p.get("customdata") is not None})
                rec = view.save_scenario(name or "", frames=frames, source="lasso")
            else:
                rec = view.save_scenario(name or "", where=where or "", model=st.model, options=st.options,
                                         metric=metric)
        except AquaembedError as exc:
            return f"not saved: {exc}", no_update, no_update, no_update
        return f"saved scenario {rec['name']!r}: {rec['frames']} frames", (version or 0) + 1, rec["name"], options()
