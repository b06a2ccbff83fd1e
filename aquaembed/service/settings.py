"""Settings of the service, read from the environment (prefix ``AQUAEMBED_``).

Nothing is read at import time: :func:`aquaembed.service.app.create_app` builds a
:class:`Settings` when it is not given one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Configuration of one service process.

    Every field can be set from the environment, e.g. ``AQUAEMBED_DATA_DIR=/data``.

    Attributes
    ----------
    data_dir : Path
        The data directory: one folder per stored dataset.
    host : str
        Interface to bind.
    port : int
        TCP port to listen on.
    table_cache_size : int
        Match tables (one per inference set and threshold pair) kept per dataset.
    image_cache_bytes : int
        Total size of rendered images kept in memory, in bytes.
    max_limit : int
        Largest page (``limit``) and neighbour count (``k``) a request may ask for.
    image_max_age : int
        ``Cache-Control: max-age`` of image responses, in seconds.
    allowed_hosts : list of str or None
        ``Host`` header names accepted (DNS-rebinding protection); None: the bound
        host and the loopback names; ``["*"]``: any.
    dashboard_workers : int
        Threads that answer dashboard (Dash) requests; API requests run in their own
        pool, so a burst of dashboard callbacks holds at most this many threads. Dash
        callbacks are mostly GIL-bound Python: more threads do not draw faster but make
        API requests wait (``benchmarks/bench_mixed.py``: with a2wsgi's default of 10,
        API p95 latency under dashboard load was about 4x that with 2). Two keep one
        thread free for thumbnails while a heavy callback runs.
    max_url_bytes : int
        Longest path plus query string accepted; longer URLs get 414.
    preload : bool
        Warm the dashboard's first view in a background thread at startup.
    dashboard_plotly : {"partial", "full"}
        The plotly.js the dashboard serves: the partial bundle (the default) or plotly's
        full one (the peer of ``benchmarks/bench_dashboard.py``).
    faiss_threads : int
        OpenMP threads a FAISS search may use, set in the request's worker thread
        before each similarity search (0: leave FAISS's default). Requests already run
        in parallel in the thread pool; on a 2-core machine a single-query flat search
        over 20k vectors takes ~24 ms with FAISS's default threads and ~0.8 ms with one.
    """

    model_config = SettingsConfigDict(env_prefix="AQUAEMBED_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="data directory holding the stored datasets")
    host: str = Field(default="127.0.0.1", description="interface to bind")
    port: int = Field(default=8050, ge=0, le=65535, description="TCP port")
    table_cache_size: int = Field(default=32, ge=1, description="match tables kept per dataset")
    image_cache_bytes: int = Field(default=64 * 2**20, ge=0, description="bytes of rendered images kept in memory")
    max_limit: int = Field(default=1000, ge=1, description="largest page size and neighbour count")
    image_max_age: int = Field(default=3600, ge=0, description="Cache-Control max-age of images, seconds")
    faiss_threads: int = Field(default=1, ge=0, description="OpenMP threads per FAISS search (0: FAISS default)")
    allowed_hosts: list[str] | None = Field(
        default=None,
        description="Host header values accepted (JSON list, e.g. '[\"data.example\"]'; '*' for any); "
        "default: the bound host, localhost, 127.0.0.1 and ::1",
    )
    dashboard_workers: int = Field(
        default=2, ge=1, le=64, description="threads answering dashboard requests (the API has its own pool)"
    )
    max_url_bytes: int = Field(default=8192, ge=256, description="longest URL (path and query) accepted; longer get 414")
    preload: bool = Field(
        default=False,
        description="compute the dashboard's first page (first dataset, default thresholds) in the background "
        "at startup; `serve` turns it on",
    )
    dashboard_plotly: Literal["partial", "full"] = Field(
        default="partial", description="plotly.js bundle of the dashboard: the partial one or plotly's full one")
