"""The page shell: URL, header controls shared by every view, the view tabs."""

from __future__ import annotations

from dash import dcc, html

from aquaembed.dashboard import ids
from aquaembed.dashboard.context import BUILTIN, CONF_DEFAULT, IOU_DEFAULT, Context
from aquaembed.dashboard.pages import embedding, frames, metrics, report, review, workflows
from aquaembed.matching import DEFAULT_MODE

VIEW_LABELS = {
    "embedding": "Embedding map", "metrics": "Model metrics", "frames": "Frame grid",
    "report": "Failure report", "review": "Label review", "compare": "Compare & scenarios",
}
"""Tab label of each view (a new page adds its entry here, in ``ids.VIEWS`` and in ``PAGES``)."""

MODE_OPTIONS = [
    {"label": "optimal", "value": "optimal", "title": "one-to-one pairs with the largest total IoU (the default)"},
    {"label": "greedy", "value": "greedy", "title": "inferences by descending confidence take their best label (as COCO)"},
]
FLAG_OPTIONS = [
    {"label": "class-aware", "value": "class_aware", "title": "only same-class pairs may match"},
    {"label": "crowd", "value": "crowd", "title": "COCO iscrowd labels are regions: inferences inside them are neither TP nor FP"},
]


def _slider(id_: str, value: float, low: float) -> dcc.Slider:
    return dcc.Slider(
        id=id_, min=low, max=1.0, step=0.01, value=value,
        marks={v: f"{v:.1f}" for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if v >= low},
        tooltip={"placement": "bottom", "always_visible": False}, updatemode="mouseup",
    )


PAGES = {
    "embedding": embedding.layout, "metrics": metrics.layout, "frames": frames.layout,
    "report": report.layout, "review": review.layout, "compare": workflows.layout,
}
"""The layout function of each view."""


def page(ctx: Context, view: str) -> html.Div:
    """The content of one view's page."""
    return PAGES[view](ctx)


def layout(ctx: Context, *, mount_all: bool = False) -> html.Div:
    """The whole page: built per request, so new datasets appear on reload.

    The pages of :data:`ids.LAZY_VIEWS` start empty and are mounted the first time they
    are shown (``callbacks.state``): on the embedding view the browser then neither
    loads the table bundle nor draws the hidden metrics plots, which made up about a
    quarter of a cold render of 100k points. ``mount_all`` builds every page, for Dash's
    ``validation_layout``."""
    header = html.Header(className="ae-header", children=[
        html.Div(className="ae-brand", children=[html.Span("aquaembed", className="ae-logo"),
                                                 html.Span(id=ids.HEADLINE, className="ae-headline"),
                                                 html.Span(id=ids.METRIC_PROGRESS, className="ae-note", role="status",
                                                           **{"data-testid": "metric-progress"}),
                                                 dcc.Interval(id=ids.METRIC_TICK, interval=400, disabled=True)]),
        html.Div(className="ae-controls", children=[
            html.Label(["dataset", dcc.Dropdown(id=ids.DATASET, clearable=False, className="ae-dd")], className="ae-ctl"),
            html.Label(["inference set", dcc.Dropdown(id=ids.MODEL, clearable=False, className="ae-dd")], className="ae-ctl"),
            html.Label([html.Span("confidence ≥", title="inferences below this confidence are discarded before matching"),
                        _slider(ids.CONF, CONF_DEFAULT, 0.0)], className="ae-ctl ae-slider"),
            html.Label([html.Span("IoU ≥", title="a label and an inference can match when their IoU is at least this"),
                        _slider(ids.IOU, IOU_DEFAULT, 0.05)], className="ae-ctl ae-slider"),
            html.Label([html.Span("matching", title="how labels and inferences are paired (DESIGN: the default is optimal, "
                                                    "class-agnostic)"),
                        html.Div(className="ae-matching", children=[
                            dcc.Dropdown(id=ids.MATCH_MODE, options=MODE_OPTIONS, value=DEFAULT_MODE, clearable=False,
                                         searchable=False, className="ae-dd ae-dd-narrow"),
                            dcc.Checklist(id=ids.MATCH_FLAGS, options=FLAG_OPTIONS, value=[], inline=True,
                                          className="ae-radio"),
                        ])], className="ae-ctl"),
        ]),
        html.Div(className="ae-tabrow", children=[
            dcc.Tabs(id=ids.VIEW, value=ids.VIEWS[0], className="ae-tabs", parent_className="ae-tabs-parent",
                     children=[dcc.Tab(label=VIEW_LABELS[v], value=v) for v in ids.VIEWS]),
            # what every page's numbers are of: the metric and the scenario
            html.Div(className="ae-scope", children=[
                html.Label([html.Span("metric", title="the built-in matching or a custom metric of the inference set "
                                                      "(per-frame confusion matrices, aquaembed add-metric)"),
                            dcc.Dropdown(id=ids.METRIC, clearable=False, value=BUILTIN, searchable=False,
                                         options=[{"label": "built-in matching", "value": BUILTIN}],
                                         className="ae-dd ae-dd-scope")], className="ae-ctl"),
                html.Label([html.Span("scenario", title="restrict every page to a saved scenario's frames"),
                            dcc.Dropdown(id=ids.SCENARIO, clearable=True, placeholder="all frames",
                                         className="ae-dd ae-dd-scope")], className="ae-ctl"),
            ]),
        ]),
    ])
    pages = {v: page(ctx, v) if mount_all or v not in ids.LAZY_VIEWS else [] for v in ids.VIEWS}
    return html.Div(className="ae-root", children=[
        # "callback-nav": when ``sync`` writes the query, the URL changes without a reload and
        # the Location then reports the new ``href``, which the embedding map listens to
        dcc.Location(id=ids.URL, refresh="callback-nav"),
        dcc.Store(id=ids.STATE),
        dcc.Store(id=ids.MOUNTED, data=list(ids.LAZY_VIEWS) if mount_all else []),
        header,
        html.Div(id=ids.ERROR, className="ae-error"),
        html.Div(id=ids.NOTICE, className="ae-notice", role="status"),
        report.focus_bar(),
        html.Main(children=[html.Div(pages[v], id=ids.PAGE_PREFIX + v, className="ae-page") for v in ids.VIEWS]),
    ])
