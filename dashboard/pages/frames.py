"""Frame grid: frames filtered and sorted by their metrics and metadata, boxes drawn."""

from __future__ import annotations

from dash import dcc, html

from aquaembed.dashboard import ids
from aquaembed.dashboard.context import Context
from aquaembed.dashboard.tables import Column, grid

METRICS = [("f1", "F1"), ("precision", "precision"), ("recall", "recall"), ("tp", "TP"), ("fp", "FP"), ("fn", "FN")]


SLICE_COLUMNS = [
    Column("value", "value", "text"), Column("frames", "frames"), Column("tp", "TP"), Column("fp", "FP"),
    Column("fn", "FN"), Column("precision", "precision", "ratio"), Column("recall", "recall", "ratio"),
    Column("f1", "F1", "ratio"),
]


def slice_table():
    """Metrics per value of a frame field, worst F1 first, every row shown (up to ~50, then it scrolls)."""
    return grid(ids.FR_SLICE_TABLE, SLICE_COLUMNS, row_id="value", sort=("f1", "asc"))


def layout(ctx: Context) -> html.Div:
    return html.Div(className="ae-frames", children=[
        html.Section(className="ae-card", children=[
            html.H3("Metrics by metadata value"),
            html.P("One row per value of a frame field (a scene, a camera, the time of day), for all classes or one. "
                   "A slice far better than the rest is a sign of overfitting; one far worse, a hard condition.",
                   className="ae-help"),
            html.Div(className="ae-toolbar", children=[
                html.Label(["field", dcc.Dropdown(id=ids.FR_SLICE_FIELD, clearable=False, className="ae-dd")],
                           className="ae-ctl"),
                html.Label(["class", dcc.Dropdown(id=ids.FR_SLICE_CLASS, clearable=True, placeholder="all classes",
                                                  className="ae-dd")], className="ae-ctl"),
            ]),
            slice_table(),
        ]),
        html.Div(className="ae-toolbar", children=[
            html.Label(["metric", dcc.Dropdown(id=ids.FR_FILTER_METRIC, clearable=False, value="f1", className="ae-dd",
                                               options=[{"label": n, "value": v} for v, n in METRICS])], className="ae-ctl"),
            html.Label(["from", dcc.Input(id=ids.FR_FILTER_MIN, type="number", debounce=True, placeholder="min", className="ae-num")],
                       className="ae-ctl"),
            html.Label(["to", dcc.Input(id=ids.FR_FILTER_MAX, type="number", debounce=True, placeholder="max", className="ae-num")],
                       className="ae-ctl"),
            html.Label(["where", dcc.Dropdown(id=ids.FR_FILTER_FIELD, placeholder="metadata field", className="ae-dd")],
                       className="ae-ctl"),
            html.Label(["is", dcc.Dropdown(id=ids.FR_FILTER_VALUES, multi=True, placeholder="any value", className="ae-dd ae-dd-wide")],
                       className="ae-ctl"),
            html.Label(["sort by", dcc.Dropdown(id=ids.FR_SORT, clearable=False, value="f1", className="ae-dd",
                                                options=[{"label": n, "value": v} for v, n in METRICS])], className="ae-ctl"),
            dcc.RadioItems(id=ids.FR_ORDER, inline=True, value="asc", className="ae-radio",
                           options=[{"label": "low first", "value": "asc"}, {"label": "high first", "value": "desc"}]),
            html.Button("◀ prev", id=ids.FR_PREV, className="ae-btn"),
            html.Button("next ▶", id=ids.FR_NEXT, className="ae-btn"),
        ]),
        html.P("Labels are drawn solid, inferences dashed; green TP, orange FP, red FN, purple confusion.", className="ae-help"),
        html.H3(id=ids.FR_TITLE),
        html.Div(id=ids.FR_GRID, className="ae-grid ae-grid-frames"),
        dcc.Store(id=ids.FR_PAGE, data=0),
    ])
