"""Shared test fixtures.

The real public evaluation data lives in ``../shared/data/real`` beside the repository
(never inside it). Tests that need it use the ``real_data`` fixture: they skip with a
reason where the folder is absent, except under CI (``CI`` set), where its absence is
a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("AQUAEMBED_REAL_DATA", REPO.parent / "shared" / "data" / "real"))

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Path of ``shared/data/real``; skips (or fails under CI) when it is absent."""
    if not REAL_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the real evaluation data is missing at {REAL_DATA}")
        pytest.skip(f"real evaluation data not found at {REAL_DATA} (it lives in ../shared beside the repo)")
    return REAL_DATA
