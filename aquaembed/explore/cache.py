"""A small thread-safe LRU cache of computed values (match tables and what derives from them)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["LRUCache"]

T = TypeVar("T")


class _Flight:
    """A computation of one key under way: other threads asking for the key wait for it."""

    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self.done = threading.Event()
        self.ok = False
        self.value: Any = None


class LRUCache:
    """A small thread-safe LRU cache of computed values.

    A key is computed once even when several threads ask for it at the same time (the
    dashboard's preload and its first request, or two callbacks at a new threshold):
    the first computes, the others wait for its value. When that computation raises,
    each waiting thread computes the key itself (and sees the error itself).
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Flight] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        while True:
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    return self._data[key]
                flight = self._flights.get(key)
                if flight is None or flight.owner == threading.get_ident():  # (re-entrant: compute it here)
                    mine = _Flight()
                    self._flights.setdefault(key, mine)
                    break
            flight.done.wait()
            if flight.ok:
                return flight.value
            # it failed there: try again (this thread computes it, or waits for a newer attempt)
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
        try:
            value = compute()
        except BaseException:
            self._land(key, mine)
            raise
        mine.value, mine.ok = value, True
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)
        self._land(key, mine)
        return value

    def _land(self, key: Hashable, flight: _Flight) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.done.set()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._data
