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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from aquaembed import __version__
from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.explore import Workspace
from aquaembed.service.docs import add_docs
from aquaembed.service.errors import install_error_handlers
from aquaembed.service.routers import API_ROUTERS, home
from aquaembed.service.routers.home import API_PREFIX
from aquaembed.service.schemas import ErrorBody
from aquaembed.service.settings import Settings
from aquaembed.service.state import AppState

__all__ = ["API_PREFIX", "create_app", "serve"]

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

    if dashboard:
        from a2wsgi import WSGIMiddleware

        from aquaembed.dashboard import create_dash

        dash_app = create_dash(app.state.workspace, preload=settings.preload, plotly_js=settings.dashboard_plotly)
        app.mount("/", WSGIMiddleware(dash_app.server))  # last: the API routes match first
    else:
        app.include_router(home.router)
    return app


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
    settings = Settings(data_dir=path, host=host, port=port, preload=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
