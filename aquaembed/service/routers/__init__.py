"""The API's routers, one module per resource.

``API_ROUTERS`` are mounted under ``/api/v1``; ``home.router`` serves ``/`` until the
dashboard takes that place.
"""

from __future__ import annotations

from aquaembed.service.routers import (
    datasets,
    embeddings,
    failures,
    frames,
    health,
    home,
    images,
    label_issues,
    matches,
    selection,
    slices,
    workflows,
)

__all__ = ["API_ROUTERS", "home"]

API_ROUTERS = (
    health.router,
    datasets.router,
    frames.router,
    failures.router,
    slices.router,
    matches.router,
    embeddings.router,
    selection.router,
    images.router,
    label_issues.router,
    workflows.router,
)
"""Routers served under ``/api/v1``, in the order their routes are documented."""
