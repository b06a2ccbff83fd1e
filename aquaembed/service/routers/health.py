"""``GET /health``: is the process up, and how many datasets does it see."""

from __future__ import annotations

from fastapi import APIRouter

from aquaembed import __version__
from aquaembed.service.deps import WorkspaceDep
from aquaembed.service.schemas import Health

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, summary="Liveness check")
def health(workspace: WorkspaceDep) -> Health:
    """The service is up; reports its version and the number of stored datasets."""
    return Health(version=__version__, datasets=len(workspace.names()))
