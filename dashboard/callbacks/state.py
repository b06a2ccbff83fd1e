"""The shared state: URL <-> header controls -> one ``State`` store every page listens to.

``sync`` keeps the URL's query equal to ``State.to_query()`` of the store; the embedding map
reads the same state from the URL's ``href`` (see ``callbacks.embedding``). ``mount`` fills a
lazy page the first time it is shown."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, html, no_update
from dash import State as DashState

from aquaembed.dashboard import figures, ids
from aquaembed.dashboard.context import BUILTIN, Context, State, parse_query
from aquaembed.dashboard.pages import shell
from aquaembed.errors import AquaembedError

HIDDEN = {"display": "none"}
SHOWN: dict[str, Any] = {}


def metric_options(view: Any, model: str) -> list[dict[str, str]]:
    """The metric control's choices: the built-in matching, then the inference set's custom metrics."""
    custom = view.custom_metrics(model) if model else {}
    return [{"label": "built-in matching", "value": BUILTIN}] + [
        {"label": f"{name} ({'plugin, re-run at each threshold' if rec.get('kind') == 'plugin' else 'per-frame matrices'})",
         "value": name} for name, rec in custom.items()]


def scenario_options(view: Any) -> list[dict[str, str]]:
    """The scenario control's choices: every saved scenario with its number of frames."""
    return [{"label": f"{name} ({rec['frames']} frames)", "value": name} for name, rec in view.scenarios().items()]


def register(app: dash.Dash, ctx: Context) -> None:
    @app.callback(
        Output(ids.STATE, "data"),
        Output(ids.URL, "search"),
        Output(ids.DATASET, "options"),
        Output(ids.DATASET, "value"),
        Output(ids.MODEL, "options"),
        Output(ids.MODEL, "value"),
        Output(ids.CONF, "value"),
        Output(ids.IOU, "value"),
        Output(ids.VIEW, "value"),
        Output(ids.EMB_KIND, "options"),
        Output(ids.EMB_KIND, "value"),
        Output(ids.EMB_COLOUR, "options"),
        Output(ids.EMB_COLOUR, "value"),
        Output(ids.MATCH_MODE, "value"),
        Output(ids.MATCH_FLAGS, "value"),
        Output(ids.METRIC, "options"),
        Output(ids.METRIC, "value"),
        Output(ids.SCENARIO, "options"),
        Output(ids.SCENARIO, "value"),
        Output(ids.ERROR, "children"),
        Output(ids.NOTICE, "children"),
        *[Output(ids.PAGE_PREFIX + v, "style") for v in ids.VIEWS],
        Input(ids.URL, "search"),
        Input(ids.DATASET, "value"),
        Input(ids.MODEL, "value"),
        Input(ids.CONF, "value"),
        Input(ids.IOU, "value"),
        Input(ids.VIEW, "value"),
        Input(ids.EMB_KIND, "value"),
        Input(ids.EMB_COLOUR, "value"),
        Input(ids.MATCH_MODE, "value"),
        Input(ids.MATCH_FLAGS, "value"),
        Input(ids.METRIC, "value"),
        Input(ids.SCENARIO, "value"),
        DashState(ids.STATE, "data"),
    )
    def sync(search, ds, model, conf, iou, view, kind, colour, mode, flags, metric, scenario, previous):
        trig = dash.ctx.triggered_id
        from_url = trig in (None, ids.URL)
        notes: list[str] = []
        if from_url:
            raw, notes = parse_query(search)
        else:
            flags = list(flags or [])
            raw = State(ds or "", model or "", conf if conf is not None else 0.5, iou if iou is not None else 0.5,
                        view or ids.VIEWS[0], kind or "crop", colour or "", mode or "optimal",
                        "class_aware" in flags, "crowd" in flags,
                        (previous or {}).get("focus", "") if trig == ids.VIEW else "",
                        "" if metric in (None, BUILTIN) else metric, scenario or "")
        names = ctx.names()
        if not names:
            err = html.Div(f"No datasets in {ctx.workspace.root}: run `aquaembed demo` or `aquaembed ingest` first.")
            return (no_update,) * 19 + (err, no_update) + (no_update,) * len(ids.VIEWS)
        st = ctx.normalise(raw, notes if from_url else None)
        view_obj = ctx.view(st.dataset)
        kinds = ctx.kinds(view_obj)
        st_flags = [f for f in ("class_aware", "crowd") if getattr(st, f)]
        current = (ds, model, conf, iou, view, kind, colour, mode, list(flags or []), metric, scenario)
        wanted = (st.dataset, st.model, st.conf, st.iou, st.view, st.kind, st.colour, st.mode, st_flags,
                  st.metric or BUILTIN, st.scenario or None)
        keep = [no_update if c == w else w for c, w in zip(current, wanted)]
        data = st.as_dict()
        query = st.to_query()
        # a notice of what the URL asked for and could not get; cleared by the next change of a control
        notice = (html.Span(["The link asked for what this data does not have: " + "; ".join(notes) + "."])
                  if notes else (no_update if from_url else None))
        return (
            no_update if previous == data else data,
            no_update if search == query else query,
            names,
            keep[0],
            view_obj.models(),
            keep[1],
            keep[2],
            keep[3],
            keep[4],
            [{"label": "crops (boxes)", "value": "crop", "disabled": "crop" not in kinds},
             {"label": "frames", "value": "frame", "disabled": "frame" not in kinds}],
            keep[5],
            figures.colour_options(st.kind, ctx.metadata_fields(view_obj)),
            keep[6],
            keep[7],
            keep[8],
            metric_options(view_obj, st.model),
            keep[9],
            scenario_options(view_obj),
            keep[10],
            None,
            notice,
            *[SHOWN if v == st.view else HIDDEN for v in ids.VIEWS],
        )

    @app.callback(
        *[Output(ids.PAGE_PREFIX + v, "children") for v in ids.LAZY_VIEWS],
        Output(ids.MOUNTED, "data"),
        Input(ids.STATE, "data"),
        DashState(ids.MOUNTED, "data"),
    )
    def mount(data, mounted):
        """Mount a lazy page the first time it is shown; it then stays (hidden by style)."""
        mounted = list(mounted or [])
        view = data["view"] if data else None
        if view not in ids.LAZY_VIEWS or view in mounted:
            return (no_update,) * (len(ids.LAZY_VIEWS) + 1)
        return (*[shell.page(ctx, v) if v == view else no_update for v in ids.LAZY_VIEWS], [*mounted, view])

    @app.callback(Output(ids.HEADLINE, "children"), Input(ids.STATE, "data"))
    def headline(data):
        if not data:
            return no_update
        st = State(**data)
        try:
            o = ctx.metrics(st)["overall"]
        except AquaembedError as exc:
            return [html.Span(f"{st.dataset} · {st.model} · {st.scope_label()}: {exc}", className="ae-error")]
        return [
            html.Span(f"{st.dataset} · {st.model} · conf ≥ {st.conf:.2f} · IoU ≥ {st.iou:.2f} · {st.matching_label()}"
                      + (f" · {st.scope_label()}" if st.metric or st.scenario else ""), className="ae-muted"),
            html.Span(f"precision {figures.fmt(o['precision'])}", className="ae-kpi"),
            html.Span(f"recall {figures.fmt(o['recall'])}", className="ae-kpi"),
            html.Span(f"F1 {figures.fmt(o['f1'])}", className="ae-kpi"),
            html.Span(f"TP {o['tp']:,} · FP {o['fp']:,} · FN {o['fn']:,}", className="ae-muted"),
        ]

    @app.callback(
        Output(ids.METRIC_PROGRESS, "children"),
        Output(ids.METRIC_TICK, "disabled"),
        Input(ids.STATE, "data"),
        Input(ids.METRIC_TICK, "n_intervals"),
    )
    def progress(data, _tick):
        """While a plugin metric runs at the state's options: how many frames it has done."""
        if not data or not data.get("metric"):
            return None, True
        st = State(**data)
        view = ctx.view(st.dataset)
        if (view.custom_metrics(st.model).get(st.metric) or {}).get("kind") != "plugin":
            return None, True
        failed = view.metric_error(st.model, st.metric, st.options)
        if failed is not None:  # the headline shows the error; stop polling
            return f"metric {st.metric} failed: {failed}", True
        done = view.metric_progress(st.model, st.metric, st.options)
        if done is not None and done[0] >= done[1]:
            return None, True
        if done is None:
            return f"metric {st.metric}: starting…", False
        return html.Span([f"metric {st.metric}: {done[0]:,} of {done[1]:,} frames ",
                          html.Progress(value=str(done[0]), max=str(max(done[1], 1)))]), False
