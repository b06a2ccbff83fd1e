"""The API's documentation pages, served with their assets from this process (no CDN).

FastAPI's own ``/docs`` page loads Swagger UI's script, stylesheet and favicon from a CDN,
so on a machine without internet access it rendered blank. Here Swagger UI (at
``/api/v1/docs``) and ReDoc (at ``/api/v1/redoc``) load their files from
``/api/v1/docs/assets``, taken from the ``fastapi-offline`` package (which ships
Swagger UI 5, able to render OpenAPI 3.1, and ReDoc); the validator badge and ReDoc's web
fonts, which would also reach outside hosts, are switched off.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["add_docs", "docs_assets"]


def docs_assets() -> Path:
    """The folder holding ``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js``."""
    return Path(str(files("fastapi_offline") / "static"))


def add_docs(app: FastAPI, prefix: str) -> None:
    """Serve Swagger UI at ``{prefix}/docs`` and ReDoc at ``{prefix}/redoc``, assets included.

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

    @app.get(f"{prefix}/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title} API", redoc_js_url=f"{assets}/redoc.standalone.js",
                              redoc_favicon_url=f"{assets}/favicon.png", with_google_fonts=False)
