"""The one atomic-write layer: temporary name, fsync, rename; and safe output files.

A reader sees either the previous file or the complete new one, never a torn write:
the data goes to a uniquely named temporary file in the target's folder, is flushed and
fsynced, then renamed over the target; on any failure the temporary file is removed and
the target is untouched. The store's transactions (:mod:`aquaembed.store.transaction`)
seal their generation-named files with :func:`seal` / :func:`seal_dir` from here, and
every command that writes a user-named file (``--json``, ``--html``, exports) goes
through :func:`write_output`, which refuses to replace anything but a regular file.

``fsync`` is looked up on this module at every call, so a test may count (or skip) the
calls by replacing :data:`fsync`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aquaembed.errors import ParameterError, StoreError

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "digest",
    "discard",
    "fsync_dir",
    "one_line",
    "resource_error",
    "seal",
    "seal_dir",
    "tmp_name",
    "write_json_atomic",
    "write_output",
]

TMP_MARK = ".tmp-"

fsync = os.fsync
"""Flushes a file descriptor to disk (one name, so tests can count the calls)."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split())


def resource_error(exc: BaseException, where: Path, what: str) -> StoreError | None:
    """One-line :class:`StoreError` for a full disk, a read-only or forbidden folder, or None.

    Parameters
    ----------
    exc : exception
        What the write raised (an ``OSError``, or a ``RuntimeError`` of a C library that
        reports short writes, such as FAISS).
    where : Path
        The folder written to (named in the message).
    what : str
        The file being written, for the message.
    """
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT) or (code is None and _disk_full(where)):
        return StoreError(f"cannot write {what}: no space left on {where}")
    if code == errno.EROFS:
        return StoreError(f"cannot write {what}: {where} is on a read-only file system")
    if code in (errno.EACCES, errno.EPERM):
        return StoreError(f"cannot write {what}: permission denied in {where}")
    if code == errno.EFBIG:
        return StoreError(f"cannot write {what}: file too large for {where}")
    return None


def _disk_full(where: Path) -> bool:
    try:
        st = os.statvfs(where)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def fsync_dir(path: Path) -> None:
    """fsync a directory, so a rename in it is durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def discard(path: Path) -> None:
    """Remove a file or directory left by a failed write (a killed process never gets here)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def tmp_name(final: Path) -> Path:
    """A fresh hidden temporary name beside ``final``."""
    return final.with_name(f".{final.name}{TMP_MARK}{secrets.token_hex(4)}")


def seal(tmp: Path, final: Path) -> tuple[str, int]:
    """Hash and fsync ``tmp``, then rename it to ``final``; returns (sha256, size in bytes)."""
    with open(tmp, "r+b") as f:
        sha = hashlib.file_digest(f, "sha256").hexdigest()
        size = f.tell()
        f.flush()
        fsync(f.fileno())
    os.replace(tmp, final)
    return sha, size


def dir_files(folder: Path) -> list[str]:
    """Every file under ``folder``, as sorted relative POSIX paths."""
    return sorted(Path(d, f).relative_to(folder).as_posix() for d, _, files in os.walk(folder) for f in files)


def digest(path: Path) -> str:
    """sha256 of a file; of a directory, sha256 of its ``sha256sum``-style listing."""
    if path.is_dir():
        lines = [f"{digest(path / rel)}  {rel}\n" for rel in dir_files(path)]
        return hashlib.sha256("".join(lines).encode()).hexdigest()
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def seal_dir(tmp: Path, final: Path) -> tuple[str, int, list[str]]:
    """fsync every file of ``tmp`` and the directory, rename it to ``final``; returns (sha256, size, files)."""
    files = dir_files(tmp)
    size = 0
    for rel in files:
        with open(tmp / rel, "r+b") as f:
            size += os.fstat(f.fileno()).st_size
            fsync(f.fileno())
    for d in {(tmp / rel).parent for rel in files} | {tmp}:
        fsync_dir(d)
    sha = digest(tmp)
    if final.exists():  # left by an interrupted write of the same generation; never listed
        shutil.rmtree(final)
    os.replace(tmp, final)
    return sha, size, files


def write_json_atomic(path: Path, obj: Mapping[str, Any]) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically, then fsync the folder."""
    tmp = tmp_name(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, ensure_ascii=False, allow_nan=False)
            f.write("\n")
            f.flush()
            fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        discard(tmp)
        raise
    fsync_dir(path.parent)


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
    tmp = tmp_name(target)
    try:
        tmp.touch(mode=0o600, exist_ok=False)
        write(tmp)
        with open(tmp, "rb+") as fh:
            fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        discard(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    def fill(tmp: Path) -> None:
        tmp.write_bytes(data)

    atomic_write(path, fill)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_output(
    path: str | os.PathLike[str],
    data: bytes | str | Callable[[Path], None],
    *,
    what: str = "output",
) -> Path:
    """Write a user-named output file (``--json``, ``--html``, an export) safely.

    The target must be missing or a regular file: a symbolic link, FIFO, device, socket
    or folder is refused, and nothing is ever written *through* the target (the new
    content goes to a temporary file beside it that is renamed over it, so a hard link
    or a symlink swapped in meanwhile is replaced, not followed). The new file gets the
    mode a newly created file gets under the process's umask.

    Parameters
    ----------
    path : path
        The target file.
    data : bytes, str or callable
        The content (``str`` is written as UTF-8), or ``write(tmp)`` filling the
        temporary file (for writers that want a path).
    what : str, keyword-only
        How the command names the option (``"--json"``), for the error message.

    Returns
    -------
    Path
        The target.

    Raises
    ------
    ParameterError
        The target is not a regular file, or its folder does not exist or cannot be
        written (one line naming the path and the cause); nothing is written.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ParameterError(f"{what}: the folder {str(folder)!r} does not exist", parameter=what)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ParameterError(f"{what}: cannot inspect {str(target)!r}: {exc.strerror}", parameter=what) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = (
            "a symbolic link" if stat.S_ISLNK(st.st_mode) else "a folder" if stat.S_ISDIR(st.st_mode)
            else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
        )
        raise ParameterError(f"{what}: {str(target)!r} is {kind}; refusing to replace it (give a regular file)", parameter=what)
    tmp = tmp_name(target)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o666 & ~_umask())
            if not callable(data):
                payload = data.encode() if isinstance(data, str) else bytes(data)
                with os.fdopen(fd, "wb", closefd=False) as fh:
                    fh.write(payload)
        finally:
            os.close(fd)
        if callable(data):
            data(tmp)
        with open(tmp, "rb+") as fh:
            fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        discard(tmp)
        err = resource_error(exc, folder, str(target))
        raise ParameterError(str(err) if err else f"{what}: cannot write {str(target)!r}: {exc.strerror or one_line(exc)}",
                             parameter=what) from None
    except BaseException:
        discard(tmp)
        raise
    return target
