"""LRUCache: one computation per key however many threads ask at once."""

from __future__ import annotations

import threading

import pytest

from aquaembed.explore import LRUCache


def _in_threads(n: int, target) -> list[object]:
    out: list[object] = [None] * n

    def run(i: int) -> None:
        try:
            out[i] = target()
        except Exception as exc:  # the test inspects it
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return out


def test_concurrent_requests_of_one_key_compute_it_once() -> None:
    cache = LRUCache(4)
    started, release = threading.Event(), threading.Event()
    calls = []

    def compute() -> int:
        calls.append(threading.get_ident())
        started.set()
        release.wait(5)  # hold the computation until every thread has asked
        return 42

    def ask() -> object:
        return cache.get("k", compute)

    first = threading.Thread(target=ask)
    first.start()
    started.wait(5)
    threading.Timer(0.2, release.set).start()
    results = _in_threads(4, ask)
    first.join(5)
    assert results == [42] * 4 and len(calls) == 1
    assert cache.get("k", lambda: pytest.fail("cached: must not recompute")) == 42


def test_a_failed_computation_is_retried_by_a_waiting_thread() -> None:
    cache = LRUCache(4)
    started, release = threading.Event(), threading.Event()
    calls = []

    def compute() -> str:
        calls.append(1)
        if len(calls) == 1:
            started.set()
            release.wait(5)
            raise ValueError("first attempt fails")
        return "second"

    results: list[object] = []
    first = threading.Thread(target=lambda: results.append(_in_threads(1, lambda: cache.get("k", compute))[0]))
    first.start()
    started.wait(5)
    threading.Timer(0.2, release.set).start()
    second = _in_threads(1, lambda: cache.get("k", compute))
    first.join(5)
    assert isinstance(results[0], ValueError) and second == ["second"] and len(calls) == 2


def test_a_computation_may_ask_for_its_own_key_again() -> None:
    cache = LRUCache(2)
    depth = []

    def compute() -> int:
        depth.append(1)
        return 7 if len(depth) > 1 else cache.get("k", compute) + 1

    assert cache.get("k", compute) == 8


def test_least_recently_used_is_evicted() -> None:
    cache = LRUCache(2)
    for k in "abc":
        cache.get(k, lambda k=k: k.upper())
    assert len(cache) == 2
    assert cache.get("a", lambda: "recomputed") == "recomputed"
