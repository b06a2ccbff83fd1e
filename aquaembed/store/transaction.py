"""One transaction: stage every file of an operation, then publish them with one manifest switch.

A :class:`Transaction` writes each new file under its final, generation-named path
(``<stem>.g<N+1><suffix>``: a name no committed manifest lists, so no reader ever opens
it), sealed by :mod:`aquaembed.store.atomic`. Only :meth:`Transaction.finish` makes
them the dataset, by renaming the new ``manifest.json`` into place: before that rename
the previous generation is the dataset in full, after it the new one is. A failure
(or a kill) before the rename leaves files that no manifest lists; :func:`sweep`
removes them on the next commit.

The previous manifest is kept as ``.manifests/g<N>.json`` until no process pins
generation ``N`` (see :mod:`aquaembed.store.lock`), so a running server keeps reading
the generation it serves while a writer commits the next one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from aquaembed.errors import StoreError
from aquaembed.store import atomic
from aquaembed.store.lock import LOCK, PINS, pin_is_free
from aquaembed.store.manifest import MANIFEST, Manifest, read_manifest
from aquaembed.store.tables import save_npy

__all__ = ["HISTORY", "Transaction", "now", "sweep"]

HISTORY = ".manifests"


def now() -> str:
    """The current UTC time, ISO 8601, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Transaction:
    """The staged state of one operation on a dataset folder (the writer lock is held).

    Made by :meth:`StoredDataset.transaction` and :meth:`Store.creating`; use it
    through them.

    Attributes
    ----------
    manifest : Manifest
        The working copy: record staged files in it; it becomes the manifest at commit.
    previous : Manifest or None
        The manifest this transaction started from (None when creating).
    generation : int
        The generation being written.
    """

    def __init__(self, folder: Path, name: str, manifest: Manifest, previous: Manifest | None) -> None:
        self.folder = folder
        self.name = name
        self.manifest = manifest
        self.previous = previous
        self.generation = manifest.generation + 1
        self.written: list[Path] = []
        self.committed = False

    def _target(self, stem: str, suffix: str) -> tuple[str, Path]:
        rel = f"{stem}.g{self.generation}{suffix}"
        path = self.folder / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._failure(exc, rel) from None
        return rel, path

    def _failure(self, exc: BaseException, rel: str) -> BaseException:
        err = atomic.resource_error(exc, self.folder, f"{rel} of dataset {self.name!r}")
        return err if err is not None else exc

    @contextlib.contextmanager
    def _staged(self, tmp: Path, rel: str) -> Iterator[None]:
        """Remove the staged ``tmp`` (a file or a directory) when its block fails; an OS or
        runtime error comes out as the store's one-line error naming ``rel``."""
        try:
            yield
        except (OSError, RuntimeError) as exc:
            atomic.discard(tmp)
            raise self._failure(exc, rel) from None
        except BaseException:
            atomic.discard(tmp)
            raise

    @contextlib.contextmanager
    def file(self, stem: str, suffix: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Yield a temporary path to write and a record that gets ``file``, ``sha256``, ``bytes``.

        Parameters
        ----------
        stem : str
            Relative path without generation and suffix (``"reviews/verdicts"``).
        suffix : str
            File name ending (``".parquet"``).
        """
        rel, final = self._target(stem, suffix)
        tmp = atomic.tmp_name(final)
        record: dict[str, Any] = {"file": rel}
        with self._staged(tmp, rel):
            yield tmp, record
            if not tmp.is_file():
                raise StoreError(f"dataset folder {self.folder}: nothing was written for {rel}")
            self.written.append(final)
            record["sha256"], record["bytes"] = atomic.seal(tmp, final)

    @contextlib.contextmanager
    def directory(self, stem: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Like :meth:`file`, for an artefact made of several files: yields an empty directory."""
        rel, final = self._target(stem, "")
        tmp = atomic.tmp_name(final)
        record: dict[str, Any] = {"file": rel}
        with self._staged(tmp, rel):
            tmp.mkdir()
            yield tmp, record
            self.written.append(final)
            record["sha256"], record["bytes"], record["files"] = atomic.seal_dir(tmp, final)

    def parquet(self, stem: str, table: pa.Table) -> dict[str, Any]:
        """Stage a table as Parquet; returns its record (with ``rows``)."""
        with self.file(stem, ".parquet") as (tmp, record):
            pq.write_table(table, tmp)
        record["rows"] = table.num_rows
        return record

    def npy(self, stem: str, array: np.ndarray) -> dict[str, Any]:
        """Stage an array as ``.npy``; returns its record."""
        with self.file(stem, ".npy") as (tmp, record):
            save_npy(tmp, array)
        return record

    def finish(self) -> Manifest:
        """Publish: fsync, keep the previous manifest for its readers, switch, sweep."""
        try:
            for parent in {p.parent for p in self.written} | {self.folder}:
                atomic.fsync_dir(parent)
            if self.previous is not None:
                history = self.folder / HISTORY
                history.mkdir(exist_ok=True)
                atomic.write_json_atomic(history / f"g{self.previous.generation}.json", self.previous.to_json())
            self.manifest.generation = self.generation
            self.manifest.updated = now()
            atomic.write_json_atomic(self.folder / MANIFEST, self.manifest.to_json())
        except OSError as exc:
            raise self._failure(exc, MANIFEST) from None
        self.committed = True  # from here on the new files are the dataset
        with contextlib.suppress(OSError, StoreError):  # best effort: the next commit sweeps again
            sweep(self.folder, self.manifest)
        return self.manifest

    def abandon(self) -> None:
        """Remove what was staged (nothing when already committed)."""
        if self.committed:
            return
        for path in self.written:
            atomic.discard(path)


def _in_use(folder: Path, current: Manifest) -> set[str]:
    """Files of older generations that some process still pins; drops unpinned history."""
    keep: set[str] = set()
    history = folder / HISTORY
    if not history.is_dir():
        return keep
    for entry in sorted(history.iterdir()):
        stem = entry.name.removesuffix(".json")
        if not (stem.startswith("g") and stem[1:].isdigit()) or int(stem[1:]) >= current.generation:
            continue
        if pin_is_free(folder, int(stem[1:])):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
            continue
        with contextlib.suppress(StoreError):
            keep |= read_manifest(folder, current.name, entry).referenced()
    return keep


def sweep(folder: Path, manifest: Manifest) -> None:
    """Remove files no manifest in use lists (superseded, or left by a crash); the lock is held."""
    keep = manifest.referenced() | _in_use(folder, manifest) | {MANIFEST, LOCK}
    parents = {rel.rsplit("/", 1)[0] for rel in keep if "/" in rel}
    for dirpath, dirnames, files in os.walk(folder):  # does not follow symbolic links
        here = Path(dirpath)
        for sub in list(dirnames):
            rel = (here / sub).relative_to(folder).as_posix()
            if rel in keep or rel in (HISTORY, PINS):  # a directory artefact: keep it whole
                dirnames.remove(sub)
            elif rel not in parents and not (here / sub).is_symlink():
                shutil.rmtree(here / sub, ignore_errors=True)
                dirnames.remove(sub)
        for file in files:
            path = here / file
            if path.relative_to(folder).as_posix() not in keep:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
