"""The one process-pool helper: map a picklable function over tasks on every core.

Pools use the ``spawn`` start method (safe with numba, FAISS and OpenMP threads in the
parent) and are shut down however the loop ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from typing import TypeVar

__all__ = ["process_map"]

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def process_map(fn: Callable[[T], R], tasks: Iterable[T], *, workers: int, serial: bool = False) -> Iterator[Iterator[R]]:
    """``with process_map(fn, tasks, workers=n) as results:`` results in task order.

    Parameters
    ----------
    fn : callable
        A module-level (picklable) function of one task.
    tasks : iterable
    workers : int
        Processes; 1 runs in this process.
    serial : bool, default False
        Run in this process anyway (small jobs, where starting processes costs more).
    """
    if serial or workers <= 1:
        yield map(fn, tasks)
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        yield pool.map(fn, tasks)
    finally:
        pool.shutdown(cancel_futures=True)
