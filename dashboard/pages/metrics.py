"""Model metrics: classification report, confusion matrix, examples of a cell, PR curves, COCO mAP."""

from __future__ import annotations

from dash import dcc, html

from aquaembed.dashboard import figures, ids
from aquaembed.dashboard.context import Context
from aquaembed.dashboard.tables import Column, grid

BACKGROUND_HELP = (
    "The background row holds inferences that matched no label (false positives; confident ones are often "
    "missing labels). The background column holds labels that no inference matched (false negatives, "
    "missed objects). Off-diagonal class cells are confusions: matched boxes with the wrong class.")

REPORT_COLUMNS = [
    Column("class", "class", "text"), Column("labels", "labels"), Column("predictions", "preds", width=70),
    Column("tp", "TP"), Column("fp", "FP"), Column("fn", "FN"),
    Column("precision", "precision", "ratio"), Column("recall", "recall", "ratio"), Column("f1", "F1", "ratio"),
]
PAIR_COLUMNS = [
    Column("label", "label class", "text"), Column("predicted", "predicted class", "text"), Column("kind", "kind", "text"),
    Column("count", "count"), Column("row_share", "share of label row", "share"),
]


def report_table():
    """The classification report: one row per class, the overall row pinned below."""
    return grid(ids.MET_REPORT, REPORT_COLUMNS, row_id="id", pinned_bottom=True)


def pairs_table():
    """The non-zero confusion cells (many-class mode), largest count first."""
    return grid(ids.MET_CM_TABLE, PAIR_COLUMNS, row_id="id", sort=("count", "desc"))


def layout(ctx: Context) -> html.Div:
    return html.Div(className="ae-metrics", children=[
        html.P(id=ids.MET_SCOPE, className="ae-note", **{"data-testid": "metrics-scope"}),
        html.Div(className="ae-split", children=[
            # left: the report and, under it, COCO mAP (so no empty area sits beside the matrix)
            html.Div(className="ae-col ae-report", children=[
                html.Section(className="ae-card", children=[
                    html.H3("Classification report"),
                    html.P("Click a header to sort; filter with the box or the header's filter button. "
                           "Click a class to filter the confusion table (many-class mode).", className="ae-help"),
                    report_table(),
                ]),
                html.Section(className="ae-card", children=[
                    html.P(id=ids.MET_CURVES_NOTE, className="ae-note"),
                    dcc.Graph(id=ids.MET_COCO_GRAPH, className="ae-coco-graph", config=figures.GRAPH_CONFIG)]),
            ]),
            html.Section(className="ae-card ae-cm", children=[
                html.Div(id=ids.MET_FEW, children=[
                    dcc.Checklist(id=ids.MET_CM_OPTIONS, inline=True, value=[], className="ae-radio", options=[
                        {"label": "row-normalised", "value": "norm"},
                        {"label": "hide diagonal", "value": "nodiag"},
                        {"label": "log colour", "value": "log"}]),
                    dcc.Graph(id=ids.MET_CM_GRAPH, className="ae-cm-graph", config=figures.GRAPH_CONFIG),
                ]),
                html.Div(id=ids.MET_MANY, style={"display": "none"}, children=[
                    html.H3("Confusion matrix (non-zero cells)"),
                    html.P(id=ids.MET_CLASS_FILTER, className="ae-note"),
                    html.P("Click a cell to see its examples.", className="ae-help"),
                    pairs_table(),
                ]),
                html.P(BACKGROUND_HELP, className="ae-help", title=BACKGROUND_HELP),
            ]),
        ]),
        html.Section(id=ids.MET_EX_SECTION, className="ae-card ae-examples", children=[
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
        html.Section(className="ae-card", children=[
            dcc.Graph(id=ids.MET_PR_GRAPH, className="ae-pr-graph", config=figures.GRAPH_CONFIG)]),
    ])
