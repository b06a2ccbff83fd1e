"""Model metrics: classification report, confusion matrix, examples of a cell, PR curves, COCO mAP."""

from __future__ import annotations

from dash import dash_table, dcc, html
from dash.dash_table.Format import Format, Scheme

from aquaembed.dashboard import ids
from aquaembed.dashboard.context import Context

BACKGROUND_HELP = (
    "The background row holds inferences that matched no label (false positives; confident ones are often "
    "missing labels). The background column holds labels that no inference matched (false negatives, "
    "missed objects). Off-diagonal class cells are confusions: matched boxes with the wrong class.")

RATIO = Format(precision=3, scheme=Scheme.fixed).nully("—")
SHARE = Format(precision=1, scheme=Scheme.percentage).nully("—")

TABLE_STYLE = dict(
    style_table={"overflowX": "auto", "maxHeight": "460px", "overflowY": "auto"},
    style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "3px 8px", "textAlign": "right"},
    style_header={"fontWeight": "600", "backgroundColor": "#f3f5f7"},
    style_cell_conditional=[{"if": {"column_id": c}, "textAlign": "left"} for c in ("class", "label", "predicted", "kind")],
)


def report_table() -> dash_table.DataTable:
    cols = [("class", "class", "text", None), ("labels", "labels", "numeric", None),
            ("predictions", "predictions", "numeric", None), ("tp", "TP", "numeric", None), ("fp", "FP", "numeric", None),
            ("fn", "FN", "numeric", None), ("precision", "precision", "numeric", RATIO),
            ("recall", "recall", "numeric", RATIO), ("f1", "F1", "numeric", RATIO)]
    return dash_table.DataTable(
        id=ids.MET_REPORT,
        columns=[{"id": c, "name": n, "type": t, **({"format": f} if f else {})} for c, n, t, f in cols],
        sort_action="native", filter_action="native", page_action="none",
        style_data_conditional=[{"if": {"filter_query": '{class} = "overall"'}, "fontWeight": "700", "backgroundColor": "#eef3f8"}],
        **TABLE_STYLE,
    )


def pairs_table() -> dash_table.DataTable:
    cols = [("label", "label class", "text", None), ("predicted", "predicted class", "text", None),
            ("kind", "kind", "text", None), ("count", "count", "numeric", None), ("row_share", "share of label row", "numeric", SHARE)]
    return dash_table.DataTable(
        id=ids.MET_CM_TABLE,
        columns=[{"id": c, "name": n, "type": t, **({"format": f} if f else {})} for c, n, t, f in cols],
        sort_action="native", filter_action="native", page_action="native", page_size=15,
        **TABLE_STYLE,
    )


def layout(ctx: Context) -> html.Div:
    return html.Div(className="ae-metrics", children=[
        html.Div(className="ae-split", children=[
            html.Section(className="ae-card ae-report", children=[
                html.H3("Classification report"),
                html.P("Sort by a column, filter with the row under the header (e.g. < 0.5). "
                       "Click a class to filter the confusion table (many-class mode).", className="ae-help"),
                report_table(),
            ]),
            html.Section(className="ae-card ae-cm", children=[
                html.Div(id=ids.MET_FEW, children=[
                    dcc.Checklist(id=ids.MET_CM_OPTIONS, inline=True, value=[], className="ae-radio", options=[
                        {"label": "row-normalised", "value": "norm"},
                        {"label": "hide diagonal", "value": "nodiag"},
                        {"label": "log colour", "value": "log"}]),
                    dcc.Graph(id=ids.MET_CM_GRAPH, className="ae-cm-graph", config={"displaylogo": False}),
                ]),
                html.Div(id=ids.MET_MANY, style={"display": "none"}, children=[
                    html.H3("Confusion matrix (non-zero cells)"),
                    html.P(id=ids.MET_CLASS_FILTER, className="ae-note"),
                    html.P("Click a row to see its examples.", className="ae-help"),
                    pairs_table(),
                ]),
                html.P(BACKGROUND_HELP, className="ae-help", title=BACKGROUND_HELP),
            ]),
        ]),
        html.Section(className="ae-card", children=[
            html.H3(id=ids.MET_EX_TITLE, children="Examples: click a confusion cell"),
            html.Div(className="ae-toolbar", children=[
                html.Label(["sort by", dcc.Dropdown(id=ids.MET_EX_SORT, clearable=False, value="score", className="ae-dd",
                                                    options=[{"label": "confidence", "value": "score"},
                                                             {"label": "IoU", "value": "iou"},
                                                             {"label": "box area", "value": "area"},
                                                             {"label": "aspect ratio", "value": "aspect"}])], className="ae-ctl"),
                dcc.RadioItems(id=ids.MET_EX_ORDER, inline=True, value="desc", className="ae-radio",
                               options=[{"label": "high first", "value": "desc"}, {"label": "low first", "value": "asc"}]),
                html.Button("◀ prev", id=ids.MET_EX_PREV, className="ae-btn"),
                html.Button("next ▶", id=ids.MET_EX_NEXT, className="ae-btn"),
            ]),
            html.Div(id=ids.MET_EX_GRID, className="ae-grid"),
            dcc.Store(id=ids.MET_CELL),
            dcc.Store(id=ids.MET_EX_PAGE, data=0),
        ]),
        html.Div(className="ae-split", children=[
            html.Section(className="ae-card ae-half", children=[dcc.Graph(id=ids.MET_PR_GRAPH, config={"displaylogo": False})]),
            html.Section(className="ae-card ae-half", children=[dcc.Graph(id=ids.MET_COCO_GRAPH, config={"displaylogo": False})]),
        ]),
    ])
