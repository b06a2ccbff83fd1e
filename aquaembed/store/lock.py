"""OS file locks of a dataset folder: the writer lock and the readers' generation pins.

* ``.lock`` serialises writers: a transaction holds ``flock(LOCK_EX)`` on it from its
  first read of the manifest to the manifest switch. The kernel releases it when the
  holder dies (even by SIGKILL). A second writer waits (saying so once through a
  callback) or fails fast with one line, by option.
* ``.pins/g<N>`` marks generation ``N`` as in use: every open
  :class:`~aquaembed.store.StoredDataset` holds ``flock(LOCK_SH)`` on its generation's
  pin. After a commit the writer sweeps the files of older generations only when it
  can take ``LOCK_EX`` on their pin without waiting, i.e. when no process reads them.
  Readers never block on writers (a pin is only ever held exclusively for an instant).

Without ``fcntl`` (Windows) neither lock exists: writers are not serialised and old
generations are swept at once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from aquaembed.errors import StoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - exercised only on Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK", "PINS", "Pin", "pin_is_free", "writer_lock"]

LOCK = ".lock"
PINS = ".pins"


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""


@contextlib.contextmanager
def writer_lock(
    folder: Path,
    name: str,
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the writer lock of a dataset folder.

    Parameters
    ----------
    folder : Path
        The dataset folder (must exist).
    name : str
        The dataset's name, for messages.
    wait : bool, keyword-only
        Wait for another writer to finish (``on_wait`` is told once); otherwise raise.
    on_wait : callable, keyword-only
        Receives one line when the lock is held by another process and this one waits.

    Raises
    ------
    StoreError
        ``wait`` is false and another process writes the dataset; or the folder is gone,
        read-only or not accessible (one line).
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise StoreError(f"dataset folder {folder} no longer exists") from None
    except OSError as exc:
        raise StoreError(f"cannot lock dataset {name!r} for writing: {exc.strerror} ({folder})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder(fd)
            if not wait:
                raise StoreError(
                    f"dataset {name!r} is being written by another process{who}; try again when it finishes "
                    "(or pass --wait)"
                ) from None
            if on_wait is not None:
                on_wait(f"dataset {name!r} is being written by another process{who}; waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class Pin:
    """A shared lock on ``.pins/g<generation>``: this process reads that generation.

    Released by :meth:`release` or when the object is garbage-collected (so a view
    dropped by the last request that used it releases its generation). A folder that
    cannot be written (read-only) gets no pin: no writer can sweep it either.
    """

    def __init__(self, folder: Path, generation: int) -> None:
        self.generation = generation
        self._fd: int | None = None
        if fcntl is None:  # pragma: no cover
            return
        try:
            pins = folder / PINS
            pins.mkdir(exist_ok=True)
            fd = os.open(pins / f"g{generation}", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError:  # pragma: no cover
            os.close(fd)
            return
        self._fd = fd

    def release(self) -> None:
        """Drop the pin (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        self.release()


def pin_is_free(folder: Path, generation: int) -> bool:
    """Whether no process pins ``generation``; if so its pin file is removed.

    Called by a writer holding the writer lock, after the manifest switch.
    """
    if fcntl is None:  # pragma: no cover
        return True
    path = folder / PINS / f"g{generation}"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return True
    except OSError:  # pragma: no cover
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        with contextlib.suppress(OSError):
            path.unlink()
        return True
    finally:
        os.close(fd)
