"""The Ray engine: per-shard work as Ray tasks on a cluster (the ``[ray]`` extra).

Each item becomes one task (one CPU); a worker that dies mid-task is replaced and the
task re-run (``max_retries``), which is safe because every task is a pure function of
its shard. An error aquaembed raised on purpose in a task (bad input in a shard) is
re-raised on the driver as itself, one line, naming the shard.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aquaembed.errors import AquaembedError, MissingExtraError

__all__ = ["RayEngine", "import_ray"]

_HINT = "the Ray engine needs the ray extra: pip install 'aquaembed[ray]'"


def import_ray() -> Any:
    """The ``ray`` module, or :class:`MissingExtraError` with the install hint."""
    try:
        import ray
    except ImportError:
        raise MissingExtraError(_HINT, parameter="engine") from None
    return ray


class RayEngine:
    """Run per-shard work as Ray tasks.

    Parameters
    ----------
    address : str, optional
        A running cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``); default:
        the cluster this process is already connected to, else a new local one.
    max_retries : int, default 3
        Re-runs of a task whose worker died.
    num_cpus : int, optional
        CPUs of a new local cluster (default: every core).
    max_calls : int, optional
        Replace a worker process after this many tasks (``1``: every task in a fresh
        process, e.g. to measure one task's peak memory); default: Ray's (reuse).
    """

    name = "ray"

    def __init__(
        self, address: str | None = None, *, max_retries: int = 3, num_cpus: int | None = None,
        max_calls: int | None = None,
    ) -> None:
        ray = import_ray()
        self._ray = ray
        self.max_retries = int(max_retries)
        self.max_calls = max_calls
        self.started = False
        if not ray.is_initialized():
            ray.init(
                address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                logging_level=logging.WARNING, log_to_driver=False,
            )
            self.started = True

    def __repr__(self) -> str:
        return f"RayEngine(cpus={self.cpus})"

    @property
    def cpus(self) -> int:
        """CPUs of the cluster."""
        return int(self._ray.cluster_resources().get("CPU", 1))

    def shutdown(self) -> None:
        """Disconnect (and stop the local cluster) if this engine started it."""
        if self.started:
            self._ray.shutdown()
            self.started = False

    def put(self, value: Any) -> Any:
        """Place a value in the object store once (its reference passes to tasks)."""
        return self._ray.put(value)

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
        """``[fn(item, **kwargs) for item in items]`` as Ray tasks, results in item order.

        Items (and keyword values) may be object references; Ray resolves them in the
        task. ``progress(done, total)`` is called on the driver as tasks finish. With
        ``num_returns > 1`` (``fn`` returns a tuple of that length) each entry is the
        tuple of *references* to the parts, left in the object store for later tasks;
        ``fetch=False`` likewise returns the references (once every task succeeded).
        """
        ray = self._ray
        if not inspect.isfunction(fn):  # a functools.partial or another callable
            inner = fn

            def fn(item: Any, **kw: Any) -> Any:
                return inner(item, **kw)

        extra = {} if self.max_calls is None else {"max_calls": int(self.max_calls)}
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries, num_returns=num_returns, **extra)(fn)
        shared = {k: (v if isinstance(v, ray.ObjectRef) else ray.put(v)) for k, v in kwargs.items()}
        outs = [remote.remote(it, **shared) for it in items]
        refs = [o[0] for o in outs] if num_returns > 1 else outs
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                ray.get(done)  # raise a failed task's error now, not after the others
                if progress is not None:
                    progress(len(refs) - len(pending), len(refs))
            if num_returns > 1:
                return [tuple(o) for o in outs]
            return ray.get(refs) if fetch else refs
        except ray.exceptions.RayTaskError as exc:
            for ref in pending:
                ray.cancel(ref)
            cause = getattr(exc, "cause", None)
            if isinstance(cause, AquaembedError):
                raise type(cause)(str(cause), parameter=cause.parameter) from None
            raise

    def get(self, values: list[Any]) -> list[Any]:
        """Fetch references returned by :meth:`map` with ``num_returns > 1``."""
        return self._ray.get(list(values))
