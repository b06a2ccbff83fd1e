"""Model-metrics callbacks: report, confusion matrix (heatmap or table), PR, COCO, cell examples."""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, html, no_update
from dash import State as DashState

from aquaembed.dashboard import figures, ids
from aquaembed.dashboard.components import thumb_card
from aquaembed.dashboard.context import MANY_CLASSES, Context, State
from aquaembed.dashboard.tables import grid_height
from aquaembed.errors import AquaembedError

PAGE_SIZE = 24
SORT_NAMES = {"score": "confidence", "iou": "IoU", "area": "box area", "aspect": "aspect ratio"}
HIDDEN = {"display": "none"}
SHOWN: dict[str, Any] = {}


def _state(data: dict[str, Any] | None) -> State | None:
    return State(**data) if data else None


CUSTOM_CURVES = ("PR curves and COCO mAP need the built-in matching (a sweep over inference confidences): "
                 "a custom metric gives per-frame counts only. Choose 'built-in matching' in the header's metric "
                 "control to see them.")
CUSTOM_EXAMPLES = ("Examples: a custom metric gives per-frame counts, not matched boxes, so its cells have no crops to "
                   "show. Choose 'built-in matching' in the header's metric control to browse a cell's examples.")


def _blank() -> go.Figure:
    """An empty plot area (no axes) where a figure does not apply."""
    fig = go.Figure()
    fig.update_layout(template="plotly_white", height=120, margin={"l": 0, "r": 0, "t": 0, "b": 0},
                      xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def focus_frames(ctx: Context, st: State) -> Any:
    """Frame ids of the failure-report slice the state isolates (None without a slice focus)."""
    if not st.focus.startswith("slice:"):
        return None
    from aquaembed.dashboard.focus import focus_frame_ids

    return focus_frame_ids(ctx, st)


def scope_line(ctx: Context, st: State, frames: Any) -> str:
    """What the page's numbers are of: the metric, the scenario, the slice, how many frames."""
    view = ctx.view(st.dataset)
    n = view.frames(st.model, options=st.options, metric=st.metric_name, scenario=st.scenario_name, frames=frames,
                    limit=0)["total"]
    words = [st.scope_label()]
    if frames is not None:
        words.append("the frames of the failure-report slice in the banner (all classes)")
    return f"Numbers of the {' · '.join(words)}: {n:,} of {len(view.dataset.frames):,} frames."


SCROLL_JS = """
function(cell) {
    if (cell) {
        var el = document.getElementById(arguments[1]);
        if (el) { el.scrollIntoView({behavior: 'smooth', block: 'start'}); }
    }
    return window.dash_clientside.no_update;
}
"""
"""Browser side: bring the examples of a clicked confusion cell into view."""


def register(app: dash.Dash, ctx: Context) -> None:
    @app.callback(
        Output(ids.MET_REPORT, "rowData"),
        Output(ids.MET_REPORT, "dashGridOptions"),
        Output(ids.MET_REPORT, "style"),
        Output(ids.MET_CM_GRAPH, "figure"),
        Output(ids.MET_FEW, "style"),
        Output(ids.MET_MANY, "style"),
        Output(ids.MET_SCOPE, "children"),
        Input(ids.STATE, "data"),
        Input(ids.MET_CM_OPTIONS, "value"),
    )
    def draw(data, options):
        """The report and the matrix first: they need no PR sweep and no COCO evaluation."""
        st = _state(data)
        if st is None or st.view != "metrics":
            return (no_update,) * 7
        try:
            frames = focus_frames(ctx, st)
            m = ctx.metrics(st, frames=frames)
            scope = scope_line(ctx, st, frames)
        except AquaembedError as exc:
            return (no_update,) * 6 + (html.Span(f"Cannot compute the metrics: {exc}", className="ae-error"),)
        many = len(m["classes"]) - 1 > MANY_CLASSES
        options = options or []
        cm_fig = no_update if many else figures.confusion_figure(
            m["classes"], m["confusion_matrix"], normalise="norm" in options,
            hide_diagonal="nodiag" in options, log="log" in options)
        rows = figures.report_rows(m)
        grid_options, style = grid_height(len(rows) - 1)
        grid_options["pinnedBottomRowData"] = rows[-1:]
        return rows[:-1], grid_options, style, cm_fig, HIDDEN if many else SHOWN, SHOWN if many else HIDDEN, scope

    @app.callback(
        Output(ids.MET_PR_GRAPH, "figure"),
        Output(ids.MET_COCO_GRAPH, "figure"),
        Output(ids.MET_CURVES_NOTE, "children"),
        Input(ids.STATE, "data"),
    )
    def curves(data):
        """PR curves (a confidence sweep) and COCO mAP, drawn after the report and the matrix;
        of the built-in matching only."""
        st = _state(data)
        if st is None or st.view != "metrics":
            return no_update, no_update, no_update
        if st.metric:
            return _blank(), _blank(), CUSTOM_CURVES
        try:
            frames = focus_frames(ctx, st)
            m = ctx.metrics(st, frames=frames, coco=True, pr=True)
        except AquaembedError as exc:
            return no_update, no_update, f"Cannot compute PR curves and COCO mAP: {exc}"
        note = None
        if (st.scenario or frames is not None) and not m.get("pr_curves"):
            note = "PR curves and COCO mAP of a scenario or a slice are not computed by this version of the library."
        return figures.pr_figure(m.get("pr_curves"), conf=st.conf), figures.coco_figure(m.get("coco")), note

    @app.callback(
        Output(ids.MET_CM_TABLE, "rowData"),
        Output(ids.MET_CM_TABLE, "dashGridOptions"),
        Output(ids.MET_CM_TABLE, "style"),
        Output(ids.MET_CLASS_FILTER, "children"),
        Input(ids.STATE, "data"),
        Input(ids.MET_REPORT, "cellClicked"),
    )
    def pairs(data, clicked):
        st = _state(data)
        if st is None or st.view != "metrics":
            return no_update, no_update, no_update, no_update
        try:
            m = ctx.metrics(st, frames=focus_frames(ctx, st))
        except AquaembedError:
            return no_update, no_update, no_update, no_update
        if len(m["classes"]) - 1 <= MANY_CLASSES:
            return [], no_update, no_update, ""
        chosen = clicked.get("rowId") if clicked else None
        chosen = chosen if chosen in m["per_class"] else None
        rows = figures.confusion_pairs(m["classes"], m["confusion_matrix"], class_filter=chosen)
        note = (f"Cells whose label or prediction is {chosen!r} ({len(rows)})" if chosen else
                f"All {len(rows)} non-zero cells; click a class in the report to filter")
        grid_options, style = grid_height(len(rows))
        return rows, grid_options, style, note

    @app.callback(
        Output(ids.MET_CELL, "data"),
        Input(ids.MET_CM_GRAPH, "clickData"),
        Input(ids.MET_CM_TABLE, "cellClicked"),
        DashState(ids.MET_CM_TABLE, "rowData"),
        prevent_initial_call=True,
    )
    def cell(click, clicked, rows):
        if dash.ctx.triggered_id == ids.MET_CM_GRAPH:
            if not click or not click.get("points"):
                return no_update
            p = click["points"][0]
            return {"gt": str(p["y"]), "pred": str(p["x"])}
        if not clicked or not rows:
            return no_update
        hit = next((r for r in rows if r["id"] == clicked.get("rowId")), None)
        return {"gt": hit["label"], "pred": hit["predicted"]} if hit else no_update

    app.clientside_callback(SCROLL_JS.replace("arguments[1]", repr(ids.MET_EX_SECTION)),
                            Output(ids.MET_EX_SECTION, "title"), Input(ids.MET_CELL, "data"), prevent_initial_call=True)

    @app.callback(
        Output(ids.MET_EX_PAGE, "data"),
        Input(ids.MET_EX_PREV, "n_clicks"),
        Input(ids.MET_EX_NEXT, "n_clicks"),
        Input(ids.MET_CELL, "data"),
        Input(ids.MET_EX_SORT, "value"),
        Input(ids.MET_EX_ORDER, "value"),
        DashState(ids.MET_EX_PAGE, "data"),
        prevent_initial_call=True,
    )
    def page(_prev, _next, _cell, _sort, _order, current):
        trig = dash.ctx.triggered_id
        if trig == ids.MET_EX_PREV:
            return max(0, (current or 0) - 1)
        if trig == ids.MET_EX_NEXT:
            return (current or 0) + 1
        return 0

    @app.callback(
        Output(ids.MET_EX_GRID, "children"),
        Output(ids.MET_EX_TITLE, "children"),
        Input(ids.MET_EX_PAGE, "data"),
        Input(ids.MET_CELL, "data"),
        Input(ids.MET_EX_SORT, "value"),
        Input(ids.MET_EX_ORDER, "value"),
        Input(ids.STATE, "data"),
    )
    def examples(page_no, cell_, sort, order, data):
        st = _state(data)
        if st is None or st.view != "metrics":
            return no_update, no_update
        if st.metric:
            return [], CUSTOM_EXAMPLES
        if not cell_:
            return [], "Examples: click a confusion cell (the background row holds unmatched inferences: look there for missing labels)"
        view = ctx.view(st.dataset)
        where = {"gt_class": cell_["gt"], "pred_class": cell_["pred"], "scenario": st.scenario_name,
                 "frames": focus_frames(ctx, st)}
        total = view.matches(st.model, options=st.options, limit=0, **where)["total"]
        pages = max(1, -(-total // PAGE_SIZE))
        page_no = min(int(page_no or 0), pages - 1)
        res = view.matches(st.model, options=st.options, sort=sort or "score", order=order or "desc", limit=PAGE_SIZE,
                           offset=page_no * PAGE_SIZE, **where)
        cards = [_example_card(ctx, st, r) for r in res["rows"]]
        title = (f"{cell_['gt']} → {cell_['pred']}: {total:,} examples · page {page_no + 1} of {pages} · "
                 f"sorted by {SORT_NAMES.get(sort, sort)} ({'high' if order == 'desc' else 'low'} first)")
        return cards, title


def _example_card(ctx: Context, st: State, r: dict[str, Any]) -> html.Div:
    if r.get("pred_index") is not None:
        source, cid = "pred", int(r["pred_index"])
    else:
        source, cid = "label", int(r["gt_id"])
    code = {name: code for code, name in figures.TYPE_ORDER}.get(r["type"], -1)
    score = "—" if r.get("score") is None else f"{r['score']:.2f}"
    iou = "—" if r.get("iou") is None else f"{r['iou']:.2f}"
    card = thumb_card(
        ctx.crop_url(st, source, cid, size=128),
        [f"{r['gt_class']} → {r['pred_class']}", f"conf {score} · IoU {iou}",
         f"area {r['area']:.0f} px² · frame {r['image_id']}"],
        href=ctx.frame_url(st, int(r["image_id"]), highlight=(source, cid), size=1280),
        badge=r["type"], badge_colour=figures.type_colour(code) if code != -1 else None, width=128, test_id="example",
        data={"score": score, "iou": iou})
    return card
