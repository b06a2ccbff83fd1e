"""Failure-report callbacks: compute the report (library, in a background job with progress),
draw the cards, open a card."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dash
from dash import ALL, Input, Output, html, no_update
from dash import State as DashState

from aquaembed.analysis.report import build_report
from aquaembed.dashboard import ids
from aquaembed.dashboard.context import Context, State
from aquaembed.dashboard.focus import describe, focus_record
from aquaembed.dashboard.report_jobs import ReportJob, ReportJobs

MAX_CLUSTERS = 30
MAX_SLICES = 40


HIDDEN = {"display": "none"}
STEPS = {"matching": "matching", "clusters": "clustering the error crops", "slices": "testing the slices", "done": "done"}


def state_metric(st: State) -> str | None:
    """The custom metric the page state names (None: the built-in matching)."""
    metric = st.metric_name
    return None if metric == "builtin" else metric


def state_scenario(st: State) -> str | None:
    """The saved scenario the page state names (None: all frames)."""
    return st.scenario_name


def progress_bar(job: ReportJob) -> list[Any]:
    """The progress element: a bar and the fraction of the report's steps done."""
    return [html.Progress(value=f"{job.fraction:.2f}", max="1", className="ae-progress"),
            html.Span(f" Computing the failure report… {job.fraction:.0%} ({STEPS.get(job.step, job.step)})")]


def cluster_card(ctx: Context, st: State, c: dict[str, Any], card_type: str = ids.REP_CLUSTER_CARD,
                 test_id: str = "cluster-card") -> html.Div:
    """A ranked failure-cluster card (``card_type``: the pattern-matching id type it clicks as)."""
    imgs = [html.Img(src=ctx.crop_url(st, t["source"], t["id"], size=96), className="ae-rep-thumb", alt="")
            for t in c["typical"][:6]]
    classes = ", ".join(f"{k} {v}" for k, v in list(c["classes"].items())[:3])
    over = c["over_represented"][0] if c["over_represented"] else None
    why = (f"{over['field']} = {over['value']}: {over['share']:.0%} of the cluster vs {over['share_rest']:.0%} elsewhere"
           if over else "no over-represented metadata")
    pairs = c.get("pairs")
    return html.Div(
        id={"type": card_type, "index": c["id"]}, n_clicks=0, className=f"ae-rep-card ae-rep-{c['type']}",
        **{"data-testid": test_id, "data-cluster": str(c["id"])},
        children=[
            html.Div([html.B(f"#{c['id']} {c['type']}"), f" · {c['size']} crops · score {c['score']:.3f}"]),
            html.Div(classes + (f" · {', '.join(list(pairs)[:2])}" if pairs else ""), className="ae-cap"),
            html.Div(why, className="ae-cap ae-muted"),
            html.Div(imgs, className="ae-rep-thumbs"),
        ],
    )


def slice_card(rank: int, s: dict[str, Any], card_type: str = ids.REP_SLICE_CARD, test_id: str = "slice-card") -> html.Div:
    """A ranked departing-slice card."""
    field = " & ".join(s["field"]) if isinstance(s["field"], list) else s["field"]
    value = " & ".join(map(str, s["value"])) if isinstance(s["value"], list) else str(s["value"])
    lo, hi = s["interval"]
    interval = "" if lo is None else f" [{lo:.3f}, {hi:.3f}]"
    return html.Div(
        id={"type": card_type, "index": rank}, n_clicks=0, className=f"ae-rep-card ae-rep-{s['direction']}",
        **{"data-testid": test_id, "data-slice": str(rank)},
        children=[
            html.Div([html.B(f"{field} = {value}"), f" · {s['class'] or 'all classes'}"]),
            html.Div(f"{s['direction']}: {s['metric']} {s['in_slice']:.3f}{interval} vs {s['rest']:.3f} elsewhere",
                     className="ae-cap"),
            html.Div(f"q = {s['q_value']:.2g} · {s['frames']} frames", className="ae-cap ae-muted"),
        ],
    )


def register(app: dash.Dash, ctx: Context) -> None:
    jobs = ReportJobs()

    def job_of(st: State) -> ReportJob:
        view = ctx.view(st.dataset)
        metric, scenario = state_metric(st), state_scenario(st)
        key = (st.dataset, view.stored.generation, st.model, st.options, metric, scenario)

        def compute(job: ReportJob) -> dict[str, Any]:
            return build_report(view, st.model or None, st.options, sections=("clusters", "slices"),
                                progress=job.progress, metric=metric, scenario=scenario)

        return jobs.get(key, compute)[0]

    @app.callback(
        Output(ids.REP_CLUSTERS, "children"),
        Output(ids.REP_SLICES, "children"),
        Output(ids.REP_STATUS, "children"),
        Output(ids.REP_PROGRESS, "children"),
        Output(ids.REP_PROGRESS, "style"),
        Output(ids.REP_POLL, "disabled"),
        Input(ids.STATE, "data"),
        Input(ids.REP_POLL, "n_intervals"),
    )
    def cards(data, _tick):
        if not data or data["view"] != "report":
            return no_update, no_update, no_update, no_update, no_update, True
        st = State(**data)
        job = job_of(st)
        if not job.done:
            # a new state clears the old cards; a poll only moves the bar
            fresh = dash.ctx.triggered_id != ids.REP_POLL
            return ([] if fresh else no_update, [] if fresh else no_update, None if fresh else no_update,
                    progress_bar(job), {}, False)
        if job.error is not None:
            return [], [], html.Span(f"Cannot compute the report: {job.error}", className="ae-error"), None, HIDDEN, True
        rep = job.result
        clusters, slices = rep.get("clusters", []), rep.get("slices", [])
        notes = rep.get("notes", {})
        metric = rep.get("metric")
        status = (f"{len(clusters)} failure clusters and {len(slices)} departing slices"
                  + (f" of custom metric {metric}" if metric else "")
                  + (f" within scenario {rep['scenario']}" if rep.get("scenario") else "")
                  + f" at conf ≥ {st.conf:.2f}, IoU ≥ {st.iou:.2f} · {job.seconds:.1f} s")
        no_clusters = notes.get("clusters") or "No failure clusters."
        return ([cluster_card(ctx, st, c) for c in clusters[:MAX_CLUSTERS]] or
                [html.P(no_clusters, className="ae-muted", **{"data-testid": "clusters-note"})],
                [slice_card(i, s) for i, s in enumerate(slices[:MAX_SLICES])] or
                [html.P("No slice departs significantly from the rest.", className="ae-muted")],
                status, None, HIDDEN, True)

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
