"""The app factory, its lifespan, and :func:`serve` (behind ``aquaembed serve``).

One process serves the JSON API under ``/api/v1`` (OpenAPI schema at
``/api/v1/openapi.json``, docs at ``/api/v1/docs``, its assets served locally) and, at ``/``, the Dash dashboard
(mounted through a2wsgi, sharing the API's workspace, so both use one engine and one
set of caches). ``create_app(dashboard=False)`` serves a plain page listing the
datasets at ``/`` instead. Nothing happens at import time:
:func:`create_app` builds the application, and its lifespan opens the data directory
(reading the manifests only) when the server starts.

Run with uvicorn directly::

    AQUAEMBED_DATA_DIR=data uvicorn aquaembed.service.app:create_app --factory --port 8050
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from aquaembed import __version__
from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.explore import Workspace
from aquaembed.service.docs import add_docs
from aquaembed.service.errors import install_error_handlers
from aquaembed.service.hardening import HardeningMiddleware, default_hosts
from aquaembed.service.routers import API_ROUTERS, home
from aquaembed.service.routers.home import API_PREFIX
from aquaembed.service.schemas import ErrorBody
from aquaembed.service.settings import Settings
from aquaembed.service.state import AppState

__all__ = ["API_PREFIX", "check_listen", "create_app", "serve"]

logger = logging.getLogger("aquaembed.service")

_DESCRIPTION = """\
Where and why an object-detection model fails: metrics at any confidence / IoU
threshold pair, the rows behind every confusion cell, per-frame metrics with metadata,
the embedding map and similarity search, and rendered frames and crops.

* `model` names an inference set of the dataset (it may be omitted when there is one).
* `conf` (confidence threshold, in [0, 1]) and `iou` (IoU threshold, in (0, 1])
  default to 0.5; inferences with a confidence below `conf` are dropped, a label and
  an inference match when their IoU is at least `iou` (optimal one-to-one assignment,
  classes ignored for matching).
* Undefined ratios (zero denominator) are `null`.
* Errors are JSON `{error, message, parameter, details}`: 404 for an unknown dataset,
  inference set, class or id; 422 for a bad parameter (named in `parameter`).
"""

_COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "a request body that is not valid JSON, or a Host not allowed"},
    404: {"model": ErrorBody, "description": "unknown dataset, inference set, class or id"},
    422: {"model": ErrorBody, "description": "invalid parameter (named in `parameter`)"},
    500: {"model": ErrorBody, "description": "internal error (no details in the response; see the server log)"},
}


def _lifespan(settings: Settings, renderer: Any) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workspace = app.state.workspace
        if not Path(settings.data_dir).is_dir():
            logger.warning("data directory %s does not exist; serving no datasets", settings.data_dir)
        names = workspace.names()
        for name in names:  # reads manifests only; tables load on first use
            workspace.get(name)
        app.state.aquaembed = AppState(settings=settings, workspace=workspace, renderer=renderer)
        logger.info("aquaembed %s serving %d dataset(s) from %s", __version__, len(names), settings.data_dir)
        try:
            yield
        finally:
            del app.state.aquaembed

    return lifespan


def create_app(settings: Settings | None = None, *, dashboard: bool = True, renderer: Any = None) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to :class:`Settings` read from the environment (``AQUAEMBED_*``).
    dashboard : bool, keyword-only
        Mount the Dash dashboard at ``/`` (sharing this app's workspace, so both use
        one engine and one set of caches); without it ``/`` lists the datasets.
    renderer : optional, keyword-only
        What draws frame and crop images (``frame_image`` / ``crop_image`` as in
        :mod:`aquaembed.render`, the default).

    Returns
    -------
    FastAPI
        The API under ``/api/v1`` and the home page at ``/``. The data directory is
        opened by the lifespan, when the server (or a ``TestClient`` context) starts.
    """
    settings = settings if settings is not None else Settings()
    app = FastAPI(
        title="aquaembed",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=_lifespan(settings, renderer),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # FastAPI's pages load their assets from a CDN: add_docs serves them locally
        redoc_url=None,
    )
    app.state.settings = settings
    # creating a Workspace reads nothing; the lifespan opens the manifests
    app.state.workspace = Workspace(settings.data_dir, cache_size=settings.table_cache_size)
    install_error_handlers(app)
    add_docs(app, API_PREFIX)
    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=_COMMON_RESPONSES)
    @app.get(f"{API_PREFIX}/{{path:path}}", include_in_schema=False)
    def unknown_api_path(path: str) -> None:
        # without this, an unknown API path would fall through to the dashboard's pages
        raise NotFoundError(f"no API route {API_PREFIX}/{path}; see {API_PREFIX}/docs")

    @app.api_route(f"{API_PREFIX}/{{path:path}}", methods=_OTHER_METHODS, include_in_schema=False)
    def other_method(path: str, request: Request) -> None:
        # JSON for every method under the API (not the dashboard's HTML): 405 where GET would answer
        probe = {**request.scope, "method": "GET"}
        for route in app.router.routes:
            if (not isinstance(route, Mount) and getattr(route, "name", None) not in ("unknown_api_path", "other_method")
                    and route.matches(probe)[0] == Match.FULL):
                raise StarletteHTTPException(405, "method not allowed", headers={"Allow": "GET, HEAD"})
        raise NotFoundError(f"no API route {API_PREFIX}/{path}; see {API_PREFIX}/docs")

    if dashboard:
        from a2wsgi import WSGIMiddleware

        from aquaembed.dashboard import create_dash, warm_up

        dash_app = create_dash(app.state.workspace, preload=settings.preload, plotly_js=settings.dashboard_plotly)
        _quiet_callback_errors(dash_app.server)
        if settings.preload:
            warm_up(dash_app)  # Dash's first-request setup now, not in the first visitor's page load
        app.mount("/", WSGIMiddleware(dash_app.server, workers=settings.dashboard_workers))  # last: the API routes match first
        outputs = dash_app.callback_map.keys
    else:
        app.include_router(home.router)
        outputs = None
    hosts = settings.allowed_hosts if settings.allowed_hosts is not None else default_hosts(settings.host)
    app.add_middleware(HardeningMiddleware, allowed_hosts=hosts, max_url=settings.max_url_bytes, callback_outputs=outputs)
    return app


_OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _quiet_callback_errors(server: Any) -> None:
    """A failing dashboard callback (a forged request's values, say) answers 400 JSON, logged in one line."""
    from werkzeug.exceptions import HTTPException

    def handler(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return exc
        logger.warning("dashboard request refused: %s: %s", type(exc).__name__, " ".join(str(exc).split())[:200])
        body = {"error": "bad_request", "message": "the dashboard could not answer this request", "parameter": None,
                "details": None}
        return server.response_class(orjson.dumps(body), status=400, mimetype="application/json")

    server.register_error_handler(Exception, handler)


def serve(
    data_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8050,
    log_level: str = "info",
) -> None:
    """Serve the datasets of ``data_dir`` until interrupted (``aquaembed serve``).

    Parameters
    ----------
    data_dir : path
        The data directory (one folder per stored dataset); it must exist.
    host : str, keyword-only
        Interface to bind (``0.0.0.0`` for every interface).
    port : int, keyword-only
        TCP port.
    log_level : str, keyword-only
        uvicorn's log level.

    Raises
    ------
    ParameterError
        ``data_dir`` is not a directory.
    """
    import uvicorn

    path = Path(data_dir)
    if not path.is_dir():
        raise ParameterError(f"--data: {str(path)!r} is not a directory")
    check_listen(host, port)
    settings = Settings(data_dir=path, host=host, port=port, preload=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)


def check_listen(host: str, port: int) -> None:
    """Refuse, in one line, a port out of range, an unknown host or an address in use."""
    if isinstance(port, bool) or not 1 <= int(port) <= 65535:
        raise ParameterError(f"--port: expected 1-65535, got {port}", parameter="--port")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ParameterError(f"--host: cannot resolve {host!r} ({exc})", parameter="--host") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(addr)
        except OSError as exc:
            raise ParameterError(f"--port: cannot listen on {host}:{port}: {exc.strerror}", parameter="--port") from None
