"""Atomic file writes: the one place that writes a file under a temporary name and renames it.

A reader sees either the previous file or the complete new one, never a torn write:
the data goes to a uniquely named temporary file in the target's folder, is flushed and
fsynced, then renamed over the target; on any failure the temporary file is removed and
the target is untouched. (The store's generation-named files follow the same rule with
their own naming; see :mod:`aquaembed.store`.)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_bytes"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` to fill a temporary file, then move it onto ``path``.

    Parameters
    ----------
    path : path
        The target; its folder must exist.
    write : callable
        Receives the temporary file's path (an empty file) and writes the content.

    Raises
    ------
    OSError
        The folder is missing or not writable (the target is unchanged).
    """
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
