"""Optional extras: which commands need which, and the one-line hint when one is missing.

The core (``pip install aquaembed``) evaluates: numpy, scipy, numba, orjson, pyarrow.
``pip install 'aquaembed[app]'`` adds what ingest, the embedding map, the service and the
dashboard need. :func:`require` checks an extra *before* a command starts, by looking the
modules up (without importing them), so a missing extra never surfaces as a traceback.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

from aquaembed.errors import MissingExtraError

__all__ = ["APP_MODULES", "require"]

APP_MODULES: Mapping[str, str] = {
    "faiss": "faiss-cpu",
    "umap": "umap-learn",
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "a2wsgi": "a2wsgi",
    "pydantic_settings": "pydantic-settings",
    "plotly": "plotly",
    "dash": "dash",
    "dash_ag_grid": "dash-ag-grid",
    "fastapi_offline": "fastapi-offline",
    "PIL": "pillow",
    "tqdm": "tqdm",
    "sklearn": "scikit-learn",
}
"""Module name -> distribution of the ``app`` extra (keep in step with pyproject.toml)."""

_EXTRAS: Mapping[str, Mapping[str, str]] = {"app": APP_MODULES}


def require(
    extra: str, *, what: str, find_spec: Callable[[str], Any] = importlib.util.find_spec
) -> None:
    """Stop with :class:`MissingExtraError` unless every module of ``extra`` is installed.

    Parameters
    ----------
    extra : str
        The extra's name in pyproject.toml (``"app"``).
    what : str
        What needs it, for the message (``"aquaembed serve"``).
    find_spec : callable, optional
        ``importlib.util.find_spec`` (injectable, so tests can simulate a missing module).

    Raises
    ------
    MissingExtraError
        One line naming the extra, the missing distributions and the install command.
    """
    modules = _EXTRAS[extra]
    missing = []
    for module, dist in modules.items():
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(dist)
    if missing:
        raise MissingExtraError(
            f"{what} needs the '{extra}' extra (missing: {', '.join(missing)}): pip install 'aquaembed[{extra}]'",
            parameter=extra,
        )
