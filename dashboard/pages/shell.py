"""The page shell: URL, header controls shared by every view, the view tabs."""

from __future__ import annotations

from dash import dcc, html

from dashboard import ids
from dashboard.context import CONF_DEFAULT, IOU_DEFAULT, Context
from dashboard.pages import embedding, frames, metrics

VIEW_LABELS = {"embedding": "Embedding map", "metrics": "Model metrics", "frames": "Frame grid"}


def _slider(id_: str, value: float, low: float) -> dcc.Slider:
    return dcc.Slider(
        id=id_, min=low, max=1.0, step=0.01, value=value,
        marks={v: f"{v:.1f}" for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if v >= low},
        tooltip={"placement": "bottom", "always_visible": False}, updatemode="mouseup",
    )


def layout(ctx: Context) -> html.Div:
    """The whole page: built per request, so new datasets appear on reload."""
    header = html.Header(className="ae-header", children=[
        html.Div(className="ae-brand", children=[html.Span("aquaembed", className="ae-logo"),
                                                 html.Span(id=ids.HEADLINE, className="ae-headline")]),
        html.Div(className="ae-controls", children=[
            html.Label(["dataset", dcc.Dropdown(id=ids.DATASET, clearable=False, className="ae-dd")], className="ae-ctl"),
            html.Label(["inference set", dcc.Dropdown(id=ids.MODEL, clearable=False, className="ae-dd")], className="ae-ctl"),
            html.Label([html.Span("confidence ≥", title="inferences below this confidence are discarded before matching"),
                        _slider(ids.CONF, CONF_DEFAULT, 0.0)], className="ae-ctl ae-slider"),
            html.Label([html.Span("IoU ≥", title="a label and an inference can match when their IoU is at least this"),
                        _slider(ids.IOU, IOU_DEFAULT, 0.05)], className="ae-ctl ae-slider"),
        ]),
        dcc.Tabs(id=ids.VIEW, value=ids.VIEWS[0], className="ae-tabs",
                 children=[dcc.Tab(label=VIEW_LABELS[v], value=v) for v in ids.VIEWS]),
    ])
    pages = {"embedding": embedding.layout(ctx), "metrics": metrics.layout(ctx), "frames": frames.layout(ctx)}
    return html.Div(className="ae-root", children=[
        dcc.Location(id=ids.URL, refresh=False),
        dcc.Store(id=ids.STATE),
        header,
        html.Div(id=ids.ERROR, className="ae-error"),
        html.Main(children=[html.Div(pages[v], id=ids.PAGE_PREFIX + v, className="ae-page") for v in ids.VIEWS]),
    ])
