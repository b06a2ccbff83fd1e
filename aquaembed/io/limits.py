"""Memory budget checks: refuse an input from its declared size before expanding it.

A zip bomb ``.npz`` declares (in its zip directory and ``.npy`` headers) how large its
arrays are; a JSON file's parsed size is a small multiple of its length; a Parquet
file records its uncompressed size. Readers compare that with the memory this process
may still use (available RAM, the address-space limit, the cgroup limit) and stop with
one line instead of being killed halfway.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from aquaembed.errors import InputError

__all__ = ["JSON_EXPANSION", "check_budget", "memory_budget"]

JSON_EXPANSION = 12
"""Bytes of Python objects per byte of JSON, at worst (``1,`` becomes a 28-byte int and an 8-byte slot)."""


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _meminfo(key: str) -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def memory_budget() -> int | None:
    """Bytes this process may still allocate, or None when nothing says (not Linux).

    The smallest of: ``MemAvailable``, the address-space limit (``RLIMIT_AS``) less
    the current size, and the cgroup v2 ``memory.max`` less ``memory.current``.
    ``AQUAEMBED_MEMORY_LIMIT`` (bytes) lowers it further.
    """
    limits: list[int] = []
    avail = _meminfo("MemAvailable")
    if avail is not None:
        limits.append(avail)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(max(soft - _vm_size(), 0))
    high = _read_int("/sys/fs/cgroup/memory.max")
    if high is not None:
        limits.append(max(high - (_read_int("/sys/fs/cgroup/memory.current") or 0), 0))
    env = os.environ.get("AQUAEMBED_MEMORY_LIMIT", "")
    if env.isdigit():
        limits.append(int(env))
    return min(limits) if limits else None


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def check_budget(label: str, needed: int, what: str) -> None:
    """Refuse (one line) an input that would need more memory than is left.

    Parameters
    ----------
    label : str
        The file, as messages name it.
    needed : int
        Estimated bytes it expands to.
    what : str
        What declared the size (``"its arrays declare"``), for the message.

    Raises
    ------
    InputError
    """
    budget = memory_budget()
    if budget is not None and needed > budget:
        raise InputError(
            f"{label}: {what} {_size(needed)} of memory, more than the {_size(budget)} available; "
            "refused before reading it"
        )
