"""The ``evaluate --json`` file streamed from per-shard parts, never assembled on the driver.

At a billion boxes the ``matches`` list (one JSON object per row) and the ``per_frame``
mapping do not fit in the driver's memory. Each shard's task writes its own rows as a
JSON *fragment* (the shard's entries without the enclosing brackets) to a part file in
a folder beside the output; the driver reduces only the counts and then writes the
output by copying the fragments in shard order between the head and the tail of the
document. The result is byte-identical to ``orjson.dumps`` of the whole dict (what the
local engine writes): orjson writes compact JSON, so a list or mapping is its entries
joined by ``,``, and entries serialise the same alone as inside their container.

The parts folder must be visible to every task (a local disk for the local engine or a
one-node cluster; a shared filesystem on a multi-node cluster). It is removed after the
output is written, and on failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson

from aquaembed.engine.evaluation import ShardResult, evaluate_shard
from aquaembed.errors import ParameterError

__all__ = ["STREAMED_KEYS", "check_output", "fragment_paths", "iter_fragments", "parts_folder", "shard_output_task", "write_streamed"]

STREAMED_KEYS = ("per_frame", "matches")
"""Keys of the ``evaluate`` JSON whose entries come from per-shard fragments, in order."""

_BRACKETS = {"per_frame": (b"{", b"}"), "matches": (b"[", b"]")}
_COPY_CHUNK = 1 << 20


def check_output(out: str | os.PathLike[str]) -> Path:
    """Refuse an output path that cannot be written (before any work); returns its folder."""
    import stat

    target = Path(out)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ParameterError(f"--json: the folder {str(folder)!r} does not exist", parameter="--json")
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise ParameterError(f"--json: {str(target)!r} exists and is not a regular file", parameter="--json")
    return folder


def parts_folder(out: str | os.PathLike[str]) -> Path:
    """A fresh folder beside ``out`` for the shards' fragments (``.<out>.parts-<token>``)."""
    return check_output(out) / f".{Path(out).name}.parts-{secrets.token_hex(4)}"


def fragment_paths(parts: str | os.PathLike[str], key: str, n_shards: int) -> list[Path]:
    """The fragment file of ``key`` (``"per_frame"`` / ``"matches"``) of every shard, in shard order."""
    return [Path(parts) / f"{key}-{s:05d}.json" for s in range(n_shards)]


def _entries(blob: bytes) -> bytes:
    """A compact JSON list or object without its brackets (its entries joined by ``,``)."""
    return blob[1:-1]


def shard_output_task(item: Any, options: Any, totals: tuple[int, int, int], table: bool, coco: bool,
                      pr_thresholds: np.ndarray | None, *, parts: str, names: tuple[str, ...],
                      keys: tuple[str, ...]) -> ShardResult:
    """Evaluate one shard and write its ``per_frame`` / ``matches`` fragments (a task).

    Returns the shard's result *without* its match table and label ids: the rows stay in
    the part files, so only counts (and per-frame ids) travel to the driver.
    """
    from aquaembed.engine import load_shard
    from aquaembed.evaluate import _match_rows
    from aquaembed.metrics import FrameReport

    shard = load_shard(item)
    res = evaluate_shard(shard, options, totals=totals, table="matches" in keys, coco=coco,
                         pr_thresholds=pr_thresholds)
    if "per_frame" in keys:
        body = orjson.dumps(FrameReport(res.frames, res.frame_ids).to_json())
        _write_part(fragment_paths(parts, "per_frame", shard.index + 1)[-1], _entries(body))
    if "matches" in keys and res.table is not None:
        # frame and label rows back to the shard's own (its ids); inference rows stay global
        local = replace(res.table, frame=res.table.frame - shard.frame_start,
                        label=_local_rows(res.table.label, shard.label_rows))
        rows = _match_rows(names, shard.dataset.frames.id, shard.dataset.labels.id, local)
        _write_part(fragment_paths(parts, "matches", shard.index + 1)[-1], _entries(orjson.dumps(rows)))
    # the label ids were only for the rows: they stay here too (100M labels are 1.6 GB)
    none = np.zeros(0, dtype=np.int64)
    return replace(res, table=None, label_ids=none, label_rows=none)


def _local_rows(global_rows: np.ndarray, shard_rows: np.ndarray) -> np.ndarray:
    """Global label rows (or -1) as the shard's own rows (``shard_rows`` is increasing)."""
    pos = np.searchsorted(shard_rows, np.maximum(global_rows, 0))
    return np.where(global_rows >= 0, pos, -1)


def _write_part(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # a retried task rewrites its part whole


def iter_fragments(paths: Iterable[Path]) -> Iterator[bytes]:
    """Each fragment file's bytes, one file at a time (at most one shard's rows in memory)."""
    for p in paths:
        yield p.read_bytes()


def write_streamed(f: BinaryIO, head: Mapping[str, Any], streams: Mapping[str, Iterable[bytes]],
                   *, after: str = "overall") -> None:
    """Write the ``evaluate`` JSON: ``head``'s keys, with ``streams``' keys after ``after``.

    Parameters
    ----------
    f : binary file
    head : mapping
        Every key except the streamed ones, in the output's order.
    streams : mapping of key to iterable of bytes
        Fragments of each streamed key (entries without brackets), consumed lazily in
        order; empty fragments are skipped. Keys are written in :data:`STREAMED_KEYS` order.
    after : str
        The key of ``head`` the streamed keys follow (``_assemble``'s order).
    """
    if after not in head:
        raise ParameterError(f"write_streamed: {after!r} is not in the head", parameter="after")
    keys = list(head)
    cut = keys.index(after) + 1
    first = orjson.dumps({k: head[k] for k in keys[:cut]}, option=orjson.OPT_SERIALIZE_NUMPY)
    rest = {k: head[k] for k in keys[cut:]}
    f.write(first[:-1])
    for key in STREAMED_KEYS:
        if key not in streams:
            continue
        open_, close = _BRACKETS[key]
        f.write(b',"' + key.encode() + b'":' + open_)
        sep = b""
        for frag in streams[key]:
            if frag:
                f.write(sep)
                f.write(frag)
                sep = b","
        f.write(close)
    if rest:
        f.write(b"," + orjson.dumps(rest, option=orjson.OPT_SERIALIZE_NUMPY)[1:])
    else:
        f.write(b"}")


def streamed_output(out: str | os.PathLike[str], head: Mapping[str, Any], parts: Path, keys: tuple[str, ...],
                    n_shards: int, *, write: Callable[..., Any] | None = None) -> None:
    """Write ``out`` atomically from the head and the parts' fragments, then drop the parts."""
    from aquaembed.store.atomic import write_output

    def fill(tmp: Path) -> None:
        streams = {k: iter_fragments(fragment_paths(parts, k, n_shards)) for k in keys}
        with open(tmp, "wb") as f:
            (write or write_streamed)(f, head, streams)

    try:
        write_output(out, fill, what="--json")
    finally:
        shutil.rmtree(parts, ignore_errors=True)
