"""Embedding map: the projection of frames or crops, coloured by what went wrong."""

from __future__ import annotations

from dash import dcc, html

from aquaembed.dashboard import figures, ids
from aquaembed.dashboard.context import Context

SUMMARY_HELP = html.P("Lasso or box-select a cluster to see what it has in common.", className="ae-muted")
"""What the selection panel shows without a selection (and after the map is redrawn)."""

HELP = ("Lasso or box-select points to compare them with the rest; click a point for its frame and its nearest "
        "neighbours. In the legend, click a type to hide it, double-click to show only it.")


GRAPH_CONFIG = {**figures.GRAPH_CONFIG, "scrollZoom": True, "plotGlPixelRatio": 1}
"""``plotGlPixelRatio`` 1: Plotly draws WebGL at twice the CSS resolution by default, four times the
pixels to fill; at 1 a 100k-point draw takes about half the time (measured in headless Chromium,
``benchmarks/bench_dashboard.py``). The points stay a few pixels wide, so little is lost."""


def layout(ctx: Context) -> html.Div:
    return html.Div(className="ae-emb", children=[
        html.Div(className="ae-toolbar", children=[
            dcc.RadioItems(id=ids.EMB_KIND, options=[{"label": "crops (boxes)", "value": "crop"},
                                                     {"label": "frames", "value": "frame"}],
                           value="crop", inline=True, className="ae-radio"),
            html.Label(["colour by", dcc.Dropdown(id=ids.EMB_COLOUR, clearable=False, className="ae-dd ae-dd-wide")],
                       className="ae-ctl"),
            html.Span(id=ids.EMB_NOTE, className="ae-note"),
        ]),
        html.P(HELP, className="ae-help"),
        html.P(id=ids.EMB_LEGEND_NOTE, className="ae-help"),
        html.Div(className="ae-split", children=[
            html.Div(className="ae-main", children=[
                dcc.Graph(id=ids.EMB_GRAPH, className="ae-emb-graph", clear_on_unhover=True, config=GRAPH_CONFIG),
                dcc.Tooltip(id=ids.EMB_TOOLTIP, direction="right"),
            ]),
            html.Aside(id=ids.EMB_DETAIL, className="ae-side",
                       children=html.P("Click a point to see its frame and similar ones.", className="ae-muted")),
        ]),
        html.Section(SUMMARY_HELP, id=ids.EMB_SUMMARY, className="ae-summary"),
        dcc.Store(id=ids.EMB_STATE),
        dcc.Store(id=ids.EMB_SELECTION),
        dcc.Store(id=ids.EMB_VIEWPORT),
    ])
