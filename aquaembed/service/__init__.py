"""The service: the JSON API under ``/api/v1`` and the page at ``/``, in one process.

``create_app(settings)`` builds the FastAPI application; ``serve(data_dir, host=,
port=)`` runs it with uvicorn (``aquaembed serve``).
"""

from __future__ import annotations

from aquaembed.service.app import API_PREFIX, check_listen, create_app, serve
from aquaembed.service.settings import Settings

__all__ = ["API_PREFIX", "Settings", "check_listen", "create_app", "serve"]
