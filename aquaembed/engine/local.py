"""The local engine: shards mapped on this machine's cores, in threads.

The matcher's numba kernels release the GIL, so threads use every core without
copying the data into other processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from threadpoolctl import threadpool_limits

__all__ = ["LocalEngine"]


def _one_openmp_thread() -> None:
    # OpenMP's thread count is per calling thread: set it in each pool thread (FAISS would
    # otherwise start a team per task and oversubscribe the cores)
    threadpool_limits(1, user_api="openmp")


class LocalEngine:
    """Run per-shard work in threads of this process.

    Parameters
    ----------
    threads : int, optional
        Worker threads (default: every core).
    """

    name = "local"

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = max(1, int(threads or os.cpu_count() or 1))

    def __repr__(self) -> str:
        return f"LocalEngine(threads={self.threads})"

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        progress: Callable[[int, int], None] | None = None,
        num_returns: int = 1,
        fetch: bool = True,
        **kwargs: Any,
    ) -> list[Any]:
        """``[fn(item, **kwargs) for item in items]``, on every core, in item order.

        ``progress(done, total)`` is called as items finish; ``num_returns`` and
        ``fetch`` are accepted for the Ray engine's interface (values are always local).
        """
        # one BLAS / OpenMP thread per task, as in a Ray worker (OMP_NUM_THREADS=1):
        # no oversubscription, and the same rounding on every engine
        with threadpool_limits(1):
            return self._map(fn, list(items), progress, kwargs)

    def _map(self, fn: Callable[..., Any], items: list[Any], progress: Callable[[int, int], None] | None,
             kwargs: dict[str, Any]) -> list[Any]:
        if len(items) <= 1 or self.threads == 1:
            out = []
            for i, it in enumerate(items):
                out.append(fn(it, **kwargs))
                if progress is not None:
                    progress(i + 1, len(items))
            return out
        with ThreadPoolExecutor(max_workers=min(self.threads, len(items)), initializer=_one_openmp_thread) as pool:
            futures = [pool.submit(fn, it, **kwargs) for it in items]
            out = []
            for i, fut in enumerate(futures):
                out.append(fut.result())
                if progress is not None:
                    progress(i + 1, len(items))
            return out

    def get(self, values: list[Any]) -> list[Any]:
        """Values are already local (the Ray engine's ``get`` fetches references)."""
        return list(values)
