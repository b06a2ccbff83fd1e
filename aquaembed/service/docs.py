"""The API's documentation page, served with its assets from this process (no CDN).

FastAPI's own ``/docs`` page loads Swagger UI's script, stylesheet and favicon from a CDN,
so on a machine without internet access it rendered blank. Here Swagger UI (at
``/api/v1/docs``) loads its files from ``/api/v1/docs/assets``, taken from the
``fastapi-offline`` package (which ships Swagger UI 5, able to render OpenAPI 3.1); the
validator badge, which would fetch from an outside host, is off. ReDoc is not served:
it fetches its own logo from a CDN whatever its options say.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["add_docs", "docs_assets"]


def docs_assets() -> Path:
    """The folder holding ``swagger-ui-bundle.js``, ``swagger-ui.css`` and ``favicon.png``."""
    return Path(str(files("fastapi_offline") / "static"))


def add_docs(app: FastAPI, prefix: str) -> None:
    """Serve Swagger UI at ``{prefix}/docs``, assets included.

    Build ``app`` with ``docs_url=None`` and ``redoc_url=None`` (FastAPI's CDN pages).
    """
    assets = f"{prefix}/docs/assets"
    openapi_url = str(app.openapi_url)
    oauth_url = f"{prefix}/docs/oauth2-redirect"
    app.mount(assets, StaticFiles(directory=docs_assets()), name="docs-assets")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} API", oauth2_redirect_url=oauth_url,
            swagger_js_url=f"{assets}/swagger-ui-bundle.js", swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png", swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(oauth_url, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
