"""The failure report's background jobs and the focus grammar of the report / regression cards."""

from __future__ import annotations

import threading

from aquaembed.dashboard.focus import valid_focus
from aquaembed.dashboard.report_jobs import ReportJobs


def test_a_job_reports_progress_then_its_result_and_is_computed_once():
    jobs = ReportJobs(keep=2)
    gate = threading.Event()
    calls = []

    def compute(job):
        calls.append(1)
        job.progress("clusters", 0.5)
        gate.wait(5)
        return {"clusters": [1]}

    job, started = jobs.get(("a",), compute)
    assert started
    for _ in range(500):
        if job.step == "clusters":
            break
        threading.Event().wait(0.01)
    assert (job.step, job.fraction, job.done) == ("clusters", 0.5, False)
    again, started = jobs.get(("a",), compute)
    assert again is job and not started
    gate.set()
    for _ in range(500):
        if job.done:
            break
        threading.Event().wait(0.01)
    assert job.done and job.result == {"clusters": [1]} and job.fraction == 1.0 and job.error is None
    assert calls == [1]


def test_an_error_is_one_line_and_old_finished_jobs_are_forgotten():
    jobs = ReportJobs(keep=1)

    def boom(job):
        raise ValueError("no inference set")

    job, _ = jobs.get("x", boom)
    for _ in range(500):
        if job.done:
            break
        threading.Event().wait(0.01)
    assert job.error == "no inference set" and job.result is None
    jobs.get("y", lambda job: 1)
    assert jobs.get("x", lambda job: 2)[1]  # forgotten: computed again


def test_focus_grammar():
    for ok in ("cluster:3", "slice:0", "bcluster:2@1", "bslice:10@0"):
        assert valid_focus(ok) == ok
    for bad in ("bcluster:2", "cluster:3@1", "slice:-1", "bslice:x@1", "cluster:1;drop"):
        assert valid_focus(bad) == ""
