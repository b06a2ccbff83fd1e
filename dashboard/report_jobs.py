"""The failure report computed in a background thread, keyed by its parameters, so the page can
show its progress (the library's ``build_report(progress=...)``) while it computes.

The browser holds only the key's inputs (the page state); a poll (``dcc.Interval``) asks
:meth:`ReportJobs.get` for the job's progress and, once done, its result. The computation is
the library's; nothing here analyses anything.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ReportJob", "ReportJobs"]


@dataclass
class ReportJob:
    """One computation: its progress, then its result or its error (a one-line message)."""

    step: str = "starting"
    fraction: float = 0.0
    result: Any = None
    error: str | None = None
    done: bool = False
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    def progress(self, step: str, fraction: float) -> None:
        """The ``progress`` callback handed to :func:`~aquaembed.analysis.report.build_report`."""
        self.step, self.fraction = step, float(fraction)


class ReportJobs:
    """Jobs keyed by their parameters; the newest ``keep`` are kept (a finished job is a cache).

    Parameters
    ----------
    keep : int
        Jobs remembered; older finished ones are forgotten first.
    """

    def __init__(self, keep: int = 16) -> None:
        self._jobs: OrderedDict[Hashable, ReportJob] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep

    def get(self, key: Hashable, compute: Callable[[ReportJob], Any]) -> tuple[ReportJob, bool]:
        """The job of ``key`` and whether it was started by this call.

        ``compute(job)`` runs in a daemon thread the first time a key is asked for; it
        reports through ``job.progress`` and returns the result. An exception becomes
        ``job.error`` (its message): the page shows it instead of the cards.
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                self._jobs.move_to_end(key)
                return job, False
            job = ReportJob()
            self._jobs[key] = job
            while len(self._jobs) > self._keep:
                old = next((k for k, j in self._jobs.items() if j.done), None)
                if old is None:
                    break
                del self._jobs[old]

        def run() -> None:
            try:
                job.result = compute(job)
            except Exception as exc:  # shown on the page as one line
                job.error = str(exc) or type(exc).__name__
            job.seconds = time.perf_counter() - job.started
            job.fraction, job.done = 1.0, True

        threading.Thread(target=run, name="aquaembed-report", daemon=True).start()
        return job, True
