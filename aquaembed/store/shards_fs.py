"""Storage helpers of the sharded layout (:mod:`aquaembed.store.shards`): paths on any
pyarrow filesystem, the manifest as the commit point, best-effort cleanup of prefixes."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from aquaembed.errors import StoreError

__all__ = ["LAYOUT", "SHARDED_SCHEMA_VERSION", "data_root", "folder_is_sharded", "is_sharded"]

LAYOUT = "sharded"
SHARDED_SCHEMA_VERSION = 2
_MANIFEST = "manifest.json"


def _fs(root: str, filesystem: pafs.FileSystem | None) -> tuple[pafs.FileSystem, str]:
    if filesystem is not None:
        return filesystem, root.rstrip("/")
    if "://" in root:
        fs, path = pafs.FileSystem.from_uri(root)
        return fs, path.rstrip("/")
    import os

    return pafs.LocalFileSystem(), os.path.abspath(root)


def _part(root: str, table: str, shard: int) -> str:
    return f"{root}/{table}/shard={shard:05d}/part-0.parquet"


def _read_json(fs: pafs.FileSystem, path: str) -> dict[str, Any]:
    with fs.open_input_stream(path) as f:
        return json.loads(f.read())


def folder_is_sharded(folder: Any) -> bool:
    """Whether a local dataset folder's manifest says the sharded layout (False if unreadable)."""
    import os

    try:
        with open(os.path.join(folder, _MANIFEST), "rb") as f:
            return is_sharded(json.loads(f.read()))
    except (OSError, ValueError):
        return False


def data_root(root: str, manifest: dict[str, Any]) -> str:
    """Where a manifest's shards are: its generation's prefix (or the root itself, for a
    dataset written before prefixes)."""
    prefix = manifest.get("prefix")
    return f"{root}/{prefix}" if prefix else root


def is_sharded(manifest: dict[str, Any]) -> bool:
    """Whether a manifest describes the sharded layout (the store's hook to route ``open``)."""
    return manifest.get("layout") == LAYOUT


def _write_table(fs: pafs.FileSystem, path: str, table: pa.Table) -> None:
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    pq.write_table(table, path, filesystem=fs)


def _previous_manifest(fs: pafs.FileSystem, path: str, root: str, *, replace: bool) -> dict[str, Any] | None:
    info = fs.get_file_info(f"{path}/{_MANIFEST}")
    if info.type == pafs.FileType.NotFound:
        return None
    if not replace:
        raise StoreError(f"{root}: already exists; choose a new folder for the sharded dataset (or replace it)",
                         parameter="root")
    try:
        m = _read_json(fs, f"{path}/{_MANIFEST}")
    except (OSError, pa.ArrowException, ValueError):
        raise StoreError(f"{root}: holds an unreadable manifest; refusing to replace it", parameter="root") from None
    if not is_sharded(m):
        raise StoreError(f"{root}: holds a dataset of another layout; refusing to replace it", parameter="root")
    return m


def _commit_manifest(fs: pafs.FileSystem, path: str, blob: bytes) -> None:
    """Write the manifest in one piece: the commit point of a write."""
    target = f"{path}/{_MANIFEST}"
    if isinstance(fs, pafs.LocalFileSystem):
        # a local rename is atomic; an object store's PUT of one object is too (below)
        tmp = f"{path}/.{_MANIFEST}.tmp-{secrets.token_hex(4)}"
        with fs.open_output_stream(tmp) as f:
            f.write(blob)
        fs.move(tmp, target)
        return
    with fs.open_output_stream(target) as f:
        f.write(blob)


def _discard(fs: pafs.FileSystem, path: str) -> None:
    """Delete a folder (a prefix on an object store), best effort."""
    for delete in (fs.delete_dir_contents, fs.delete_dir):
        try:
            delete(path)
        except (OSError, pa.ArrowException):
            pass  # an object store may have no marker object for the prefix itself


def _sweep(fs: pafs.FileSystem, path: str, *, keep: set[str]) -> None:
    """Delete data prefixes of generations before the previous one (best effort).

    Prefixes are found from the objects' paths (a recursive listing): object stores and
    their emulators differ in whether they list bare prefixes as folders.
    """
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except (OSError, pa.ArrowException):
        return
    tops = {i.path[len(path) + 1:].split("/", 1)[0] for i in infos if i.path.startswith(path + "/")}
    for base in sorted(tops):
        if base.startswith("g") and "-" in base and base not in keep and base != _MANIFEST:
            _discard(fs, f"{path}/{base}")
