"""The aquaembed dashboard: a Dash app over a :class:`~aquaembed.explore.Workspace`.

``create_dash(workspace)`` builds the app; the service mounts ``app.server`` (a Flask
WSGI app) at ``/`` of the FastAPI process. The dashboard reads the library in-process and
computes no metric itself.

Layout: ``pages/`` (one module per view, each with its layout), ``callbacks/`` (one
module per view, thin), ``figures.py`` (pure figure builders), ``tables.py`` (AG Grid
tables), ``ids.py`` (component ids), ``thumbs.py`` (picture routes), ``context.py``
(state and server-side caches), ``vendor/`` (the partial plotly.js, built by
``assets_src/``).

A new view: its name in ``ids.VIEWS`` (and ``ids.LAZY_VIEWS`` to mount it on first
view), its layout in ``pages/<view>.py`` listed in ``pages.shell.PAGES`` and
``VIEW_LABELS``, its callbacks in ``callbacks/<view>.py`` (a ``register(app, ctx)``)
added to the loop in :func:`create_dash`. Library calls take ``State.options``.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any, Literal

import dash

# plotly imports pandas lazily, inside the first figure it serialises; two request threads
# doing that at once see a half-initialised module ("partially initialized module 'pandas'
# has no attribute 'NaT'"). Import it once here, on the main thread, when it is installed.
if importlib.util.find_spec("pandas") is not None:
    import pandas  # noqa: F401

from aquaembed import __version__
from aquaembed.explore import Workspace

__all__ = ["PLOTLY_JS", "__version__", "create_dash", "plotly_js_url", "warm_up"]  # Dash reads __version__ to serve PLOTLY_JS

PLOTLY_JS = "vendor/plotly-aquaembed.min.js"
"""The partial plotly.js bundle the dashboard serves (inside this package): plotly.js's core
with only the trace types drawn here (scatter, scattergl, heatmap, bar), 1.5 MB instead of
the 4.8 MB of the full ``plotly.min.js``; built by ``dashboard/assets_src/build.mjs``."""


def plotly_js_url(url_base_pathname: str = "/", bundle: str = "partial") -> str:
    """Where the page loads plotly.js from (Dash serves it with the Graph component).

    The index preloads it: Dash only asks for it once its renderer has started, and the
    download then held up the first figure of a cold page by 0.15-0.3 s; fetched with
    the other bundles, it is ready when it is asked for. A browser test checks the page
    loads it from here exactly once, and nothing from any other host.
    """
    if bundle == "full":
        return f"{url_base_pathname}_dash-component-suites/plotly/package_data/plotly.min.js"
    return f"{url_base_pathname}_dash-component-suites/{__name__}/{PLOTLY_JS}"


def _use_plotly_bundle(bundle: str) -> None:
    """Make dcc.Graph load :data:`PLOTLY_JS` instead of plotly's full bundle.

    Dash registers plotly.js as a resource of ``dcc`` (namespace ``plotly``, with a CDN
    URL as its external fallback) each time an app is built; pointing those entries at
    this package serves the partial bundle locally and drops the CDN URL.
    """
    from dash import dcc

    for res in dcc._js_dist:
        if str(res.get("relative_package_path", "")).endswith(("plotly.min.js", PLOTLY_JS)):
            partial = bundle == "partial"
            res["namespace"] = __name__ if partial else "plotly"
            res["relative_package_path"] = PLOTLY_JS if partial else "package_data/plotly.min.js"
            res.pop("external_url", None)


def _layout_query() -> str | None:
    """The page's query when Dash's layout request carries it (``_dash-layout?page=<query>``,
    see :func:`_serve_first_map`); None for any other request."""
    import flask

    if not flask.has_request_context() or not flask.request.path.endswith("/_dash-layout"):
        return None
    return flask.request.args.get("page")


def _serve_first_map(app: dash.Dash, maps: Any, base: str) -> None:
    """Send a fresh page's embedding map with its layout instead of after two callbacks.

    Dash asks for the layout (``_dash-layout``) once its scripts run, then fires the
    first callbacks: the URL's state, then the map's figure, each a round trip through
    the server's two dashboard threads, beside five others. Instead the page request
    (the index, with the URL's query) starts building the map of that query in the
    background (the page's scripts take ~0.5 s to load meanwhile), ``assets/aquaembed.js``
    adds the page's query to the layout request (``?page=<query>``), and the layout comes
    with the figure, as ``draw`` would have drawn it; ``draw``'s first call then finds its
    key unchanged. A layout request without ``page`` gets no map, and the callbacks draw
    it as before.
    """
    import flask

    @app.server.before_request
    def warm_map() -> None:
        req = flask.request
        if req.method == "GET" and req.path == base:
            query = req.query_string.decode("utf-8", errors="replace")

            # start once the page has gone out: building the map holds the GIL for much of its
            # ~0.2 s and, started before, delayed the page (and so its scripts) by as much
            @flask.after_this_request
            def later(response: flask.Response) -> flask.Response:
                response.call_on_close(lambda: maps.warm(query))
                return response


def warm_up(app: dash.Dash, url_base_pathname: str = "/") -> None:
    """Render the index once, now: Dash sets itself up on its first request (layout
    validation, script tags; ~0.1 s, more beside the preload), and the render starts
    building the default page's embedding map (``_serve_first_map``). Call it when
    ``app.server`` is complete: Flask accepts no setup after its first request."""
    app.server.test_client().get(url_base_pathname).close()  # closing it starts the map (call_on_close)


def create_dash(
    workspace: Workspace, *, url_base_pathname: str = "/", max_points: int = 300_000, preload: bool = False,
    plotly_js: Literal["partial", "full"] = "partial",
) -> dash.Dash:
    """Build the dashboard app.

    Parameters
    ----------
    workspace : Workspace
        The datasets to explore.
    url_base_pathname : str
        Prefix of every dashboard URL (must start and end with ``/``).
    max_points : int
        Most points the embedding map sends at once; larger projections are sampled
        for the overview and shown in full when zoomed in.
    plotly_js : {"partial", "full"}
        Serve the partial plotly.js bundle (:data:`PLOTLY_JS`) or plotly's full one
        (only the benchmark's peer wants that). The choice is process-wide: Dash lists
        plotly.js once for every app.
    preload : bool
        Start a background thread that computes what the first page shows (match
        table, crop types, projection and metrics of the first dataset at the default
        thresholds), so the first visitor does not wait for the matcher (see also
        :func:`warm_up`).

    Returns
    -------
    dash.Dash
        Serve it with ``app.run(...)`` or mount ``app.server`` as a WSGI app.
    """
    from aquaembed.dashboard import thumbs
    from aquaembed.dashboard.callbacks import embedding, frames, metrics, report, review, state, workflows
    from aquaembed.dashboard.context import Context
    from aquaembed.dashboard.pages import shell

    if not (url_base_pathname.startswith("/") and url_base_pathname.endswith("/")):
        raise ValueError(f"url_base_pathname must start and end with '/', got {url_base_pathname!r}")
    app = dash.Dash(
        __name__,
        url_base_pathname=url_base_pathname,
        assets_folder=str(Path(__file__).with_name("assets")),
        title="aquaembed",
        update_title=None,
        serve_locally=True,
    )
    if plotly_js not in ("partial", "full"):
        raise ValueError(f"plotly_js must be 'partial' or 'full', got {plotly_js!r}")
    _use_plotly_bundle(plotly_js)
    ctx = Context(workspace, base=url_base_pathname, max_points=max_points)
    # the served layout mounts some pages on first view; Dash checks callback ids against all of them
    app.validation_layout = shell.layout(ctx, mount_all=True)
    url = plotly_js_url(url_base_pathname, plotly_js)
    # dcc.Graph loads plotly.js on first use from ``window._dashPlotlyJSURL``, which the
    # renderer points at the full bundle; this accessor keeps it on the partial one
    pin = ('<script>Object.defineProperty(window, "_dashPlotlyJSURL", '
           f'{{configurable: true, get: function () {{ return "{url}"; }}, set: function () {{}}}});</script>')
    app.index_string = app.index_string.replace(
        "{%css%}", f'{{%css%}}\n        <link rel="preload" href="{url}" as="script">', 1).replace(
        "{%scripts%}", pin + "\n        {%scripts%}", 1)
    thumbs.register(app.server, ctx)
    for module in (state, metrics, frames, report, review, workflows):
        module.register(app, ctx)
    maps = embedding.register(app, ctx)
    _serve_first_map(app, maps, url_base_pathname)
    app.layout = lambda: maps.prefill(shell.layout(ctx), _layout_query())
    if preload:
        threading.Thread(target=ctx.preload, name="aquaembed-dashboard-preload", daemon=True).start()
    return app
