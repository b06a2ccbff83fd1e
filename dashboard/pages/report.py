"""Failure report: ranked cards of failure clusters and of slices that depart from the rest.

The report computes in a background thread; while it does, a progress bar with the
fraction of its steps done stands where the cards will be (polled by a ``dcc.Interval``).

A cluster card opens the embedding map with exactly that cluster isolated (and its frames
in the frame grid); a slice card opens the frame grid filtered to the slice, with the
slice's metrics against the rest in the banner.
"""

from __future__ import annotations

from dash import dcc, html

from aquaembed.dashboard import ids
from aquaembed.dashboard.context import Context


def focus_bar() -> html.Div:
    """The banner over every view naming what a card isolated, with a button to show everything."""
    return html.Div(id=ids.REP_FOCUS_BAR, className="ae-focus-bar", style={"display": "none"},
                    **{"data-testid": "focus-banner"}, children=[
                        html.Span(id=ids.REP_FOCUS),
                        html.Button("show everything", id=ids.REP_CLEAR, className="ae-btn"),
                    ])


def layout(ctx: Context) -> html.Div:
    return html.Div(className="ae-report", children=[
        html.P("Found without being told where to look, at the current thresholds: clusters of error crops that gather "
               "in embedding space, and slices of frames whose precision, recall or F1 departs from the rest "
               "(Benjamini–Hochberg q < 0.05, bootstrap intervals over frames). Click a card to open it.",
               className="ae-help"),
        html.Div(id=ids.REP_PROGRESS, className="ae-computing", style={"display": "none"},
                 **{"data-testid": "report-progress"}),
        dcc.Interval(id=ids.REP_POLL, interval=300, disabled=True),
        html.Div(id=ids.REP_STATUS, className="ae-muted"),
        html.Section(className="ae-card", children=[html.H3("Failure clusters"),
                                                     html.Div(id=ids.REP_CLUSTERS, className="ae-grid ae-report-cards")]),
        html.Section(className="ae-card", children=[html.H3("Slices that depart from the rest"),
                                                     html.Div(id=ids.REP_SLICES, className="ae-grid ae-report-cards")]),
    ])
