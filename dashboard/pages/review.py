"""Label review: the ranked label issues, one at a time, with accept / reject / skip."""

from __future__ import annotations

from dash import dcc, html

from aquaembed.analysis.label_issues import ISSUE_KINDS
from aquaembed.dashboard import ids
from aquaembed.dashboard.context import Context

KIND_LABELS = {
    "missing_label": "missing label", "wrong_class": "wrong class", "bad_location": "bad location",
    "duplicate_label": "duplicate label", "spurious_label": "spurious label",
}
STATUS_OPTIONS = [{"label": "to review", "value": "open"}, {"label": "accepted", "value": "accept"},
                  {"label": "rejected", "value": "reject"}, {"label": "all", "value": "any"}]


def layout(ctx: Context) -> html.Div:
    return html.Div(className="ae-review", children=[
        html.Div(className="ae-toolbar", children=[
            html.Label(["kind", dcc.Dropdown(id=ids.REV_KIND, placeholder="all kinds", className="ae-dd",
                                             options=[{"label": KIND_LABELS[k], "value": k} for k in ISSUE_KINDS])],
                       className="ae-ctl"),
            html.Label(["class", dcc.Dropdown(id=ids.REV_CLASS, placeholder="all classes", className="ae-dd")],
                       className="ae-ctl"),
            dcc.RadioItems(id=ids.REV_STATUS, inline=True, value="open", className="ae-radio", options=STATUS_OPTIONS),
            html.Span(id=ids.REV_COUNTS, className="ae-kpi", **{"data-testid": "review-counts"}),
        ]),
        html.P("Probable label errors, most likely first. Scores use every inference weighted by its confidence, so "
               "the queue does not move with the sliders. The label is drawn solid (red), the inference dashed "
               "(orange), a suggested box dashed (green). Keys: a accept, r reject, s skip, ← / → previous / next.",
               className="ae-help"),
        html.Section(className="ae-card", children=[
            html.Div(id=ids.REV_ITEM),
            html.Div(className="ae-toolbar", children=[
                html.Label(["accept as", dcc.Dropdown(id=ids.REV_EDIT_CLASS, clearable=True, placeholder="suggested class",
                                                      className="ae-dd")], className="ae-ctl"),
                html.Button("✓ accept (a)", id=ids.REV_ACCEPT, className="ae-btn", accessKey="a"),
                html.Button("✗ reject (r)", id=ids.REV_REJECT, className="ae-btn", accessKey="r"),
                html.Button("skip (s)", id=ids.REV_SKIP, className="ae-btn", accessKey="s"),
                html.Button("◀ prev", id=ids.REV_PREV, className="ae-btn"),
                html.Button("next ▶", id=ids.REV_NEXT, className="ae-btn"),
            ]),
            html.H4("Nearest crops (embedding neighbours)"),
            html.Div(id=ids.REV_NEIGHBOURS, className="ae-grid"),
        ]),
        html.Section(className="ae-card", children=[html.H4("Queue"), html.Div(id=ids.REV_QUEUE)]),
        dcc.Store(id=ids.REV_POS, data=0),
        dcc.Store(id=ids.REV_KEY),
        dcc.Store(id=ids.REV_TICK, data=0),
    ])
