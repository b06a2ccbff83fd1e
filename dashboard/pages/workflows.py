"""The comparison page: the header's metric and scenario, scenarios saved, two models on one map."""

from __future__ import annotations

from dash import dash_table, dcc, html
from dash.dash_table.Format import Format, Scheme

from aquaembed.dashboard import figures
from aquaembed.dashboard import workflow_ids as w
from aquaembed.dashboard.context import Context
from aquaembed.dashboard.workflow_regression import section as regression_section

STYLE = dict(
    style_table={"overflowX": "auto", "maxHeight": "420px", "overflowY": "auto"},
    style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "3px 8px", "textAlign": "right"},
    style_header={"fontWeight": "600", "backgroundColor": "#f3f5f7"},
)
RATIO = Format(precision=3, scheme=Scheme.fixed).nully("—")


def _table(id_: str, cols: list[tuple[str, str, str]], *, page_size: int = 12) -> dash_table.DataTable:
    return dash_table.DataTable(
        id=id_, columns=[{"id": c, "name": n, "type": "numeric" if t == "ratio" else t, **({"format": RATIO} if t == "ratio" else {})}
                         for c, n, t in cols],
        sort_action="native", page_action="native", page_size=page_size, **STYLE,
    )


COUNTS = [("tp", "TP", "numeric"), ("fp", "FP", "numeric"), ("fn", "FN", "numeric"),
          ("precision", "precision", "ratio"), ("recall", "recall", "ratio"), ("f1", "F1", "ratio")]


def layout(ctx: Context) -> html.Div:
    return html.Div(className="ae-workflows", children=[
        html.Div(className="ae-toolbar", children=[
            html.Label(["compare with", dcc.Dropdown(id=w.MODEL_B, placeholder="another inference set",
                                                     className="ae-dd")], className="ae-ctl"),
        ]),
        html.Section(className="ae-card", children=[
            html.H3("Metrics of the chosen metric and scenario"),
            html.P("The built-in matching or a custom metric (per-frame confusion matrices, aquaembed add-metric), "
                   "restricted to a scenario's frames: both chosen in the header's metric and scenario controls.",
                   className="ae-help"),
            html.Div(id=w.OVERALL, className="ae-kpis"),
            _table(w.REPORT, [("class", "class", "text"), *COUNTS]),
        ]),
        html.Section(className="ae-card", children=[
            html.H3("Frames (lowest F1 first)"),
            _table(w.FRAMES, [("id", "frame", "numeric"), *COUNTS, ("meta", "metadata", "text")], page_size=10),
        ]),
        html.Section(className="ae-card", children=[
            html.H3("Scenarios"),
            html.P('Save the frames of an expression (e.g. scene == "plaza_crossing" and f1 <= 0.5; press Enter) '
                   "or of a lasso on the ΔF1 map below.", className="ae-help"),
            html.Div(className="ae-toolbar", children=[
                dcc.Input(id=w.SC_NAME, placeholder="scenario name", type="text", className="ae-text", debounce=False),
                dcc.Input(id=w.SC_WHERE, placeholder="filter expression", type="text", className="ae-text ae-wide",
                          debounce=False, style={"minWidth": "28em"}),
                html.Button("save expression", id=w.SC_SAVE, className="ae-btn"),
                html.Button("save lasso", id=w.SC_LASSO, className="ae-btn"),
                html.Button("delete the header's scenario", id=w.SC_DELETE, className="ae-btn"),
            ]),
            html.Div(id=w.SC_MSG, className="ae-help"),
            dcc.Store(id=w.SC_VERSION, data=0),
        ]),
        html.Section(id=w.CMP_PANEL, className="ae-card", children=[
            html.H3("Comparison"),
            html.Div(id=w.CMP_COUNTS, className="ae-kpis"),
            html.Div(className="ae-split", children=[
                dcc.Graph(id=w.CMP_FRAME, style={"height": "460px"}, config=figures.GRAPH_CONFIG),
                dcc.Graph(id=w.CMP_CROP, style={"height": "460px"}, config=figures.GRAPH_CONFIG),
            ]),
            dcc.Graph(id=w.CMP_DIFF, style={"height": "420px"}, config=figures.GRAPH_CONFIG),
            html.H4(id=w.CMP_CELL_TITLE),
            _table(w.CMP_CELL, [("gt_id", "label", "numeric"), ("image_id", "frame", "numeric"),
                                ("gt_class", "label class", "text"), ("class_a", "class under A", "text"),
                                ("class_b", "class under B", "text"), ("change", "change", "text"),
                                ("model", "model", "text"), ("pred_index", "inference", "numeric"),
                                ("score", "score", "ratio")]),
            regression_section(),
        ]),
    ])
