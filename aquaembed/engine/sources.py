"""Inference sets too large for one process: several COCO results files, or a Parquet
dataset of inferences, read in tasks and routed to frame shards.

Each results file (or Parquet file of the dataset) is read and validated by one task,
which cuts its inferences by frame shard; each shard's task then receives only its own
pieces of every file. The driver parses the ground truth and never a results file.
Inference rows (``pred_index``) are positions in the files taken in the order given,
one after the other (a directory's Parquet files in name order).

A Parquet file of inferences has the columns of a COCO results entry: ``image_id``,
``category_id``, ``bbox`` (a list of 4 numbers, ``[x, y, width, height]`` in pixels)
and ``score``; other columns are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aquaembed.data import Dataset, Inferences
from aquaembed.engine.partition import Shard, assemble_shard
from aquaembed.errors import AquaembedError, InputError

__all__ = ["FileShard", "expand_sources", "file_shards", "parse_bucketed", "read_results"]


def expand_sources(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Results sources as files: a directory stands for its ``*.parquet`` files, in name order."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files = sorted(str(f) for f in path.rglob("*.parquet"))
            if not files:
                raise InputError(f"{path}: a directory of inferences must hold .parquet files; found none")
            out += files
        else:
            out.append(os.fspath(p))
    return out


def _read_parquet(path: str, dataset: Dataset, name: str) -> Inferences:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: cannot read as Parquet: {str(exc).splitlines()[0]}") from None
    missing = [c for c in ("image_id", "category_id", "bbox", "score") if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (expected COCO results columns)")
    try:
        image_id = table.column("image_id").to_numpy().astype(np.int64)
        category_id = table.column("category_id").to_numpy().astype(np.int64)
        score = table.column("score").to_numpy().astype(np.float64)
        bbox_col = table.column("bbox").combine_chunks()
        lengths = bbox_col.value_lengths().to_numpy(zero_copy_only=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InputError(f"{path}: a column has the wrong type: {str(exc).splitlines()[0]}") from None
    bad = np.flatnonzero(lengths != 4)
    if bad.size:
        raise InputError(f"{path}: row {int(bad[0])}: bbox must hold 4 numbers [x, y, width, height]")
    xywh = bbox_col.flatten().to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, 4)
    frame = dataset.frames.index_of_ids(image_id)
    cls = dataset.classes.index_of_ids(category_id)
    for what, rows, values in (("image_id", frame, image_id), ("category_id", cls, category_id)):
        bad = np.flatnonzero(rows < 0)
        if bad.size:
            i = int(bad[0])
            raise InputError(f"{path}: row {i}: unknown {what} {int(values[i])} (not in the ground truth)")
    bad = np.flatnonzero(~np.isfinite(xywh).all(axis=1) | (xywh[:, 2] < 0) | (xywh[:, 3] < 0))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{path}: row {i}: bbox {xywh[i].tolist()} has a negative or non-finite size")
    bad = np.flatnonzero(~((score >= 0) & (score <= 1)))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{path}: row {i}: score {score[i]!r} is not a number in [0, 1]")
    box = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    # the areas pycocotools uses: the file's own w * h (see aquaembed.io.coco)
    return Inferences(frame=frame, cls=cls, box=box, score=score, name=name, box_area=xywh[:, 2] * xywh[:, 3])


def read_results(path: str, dataset: Dataset, *, name: str = "model") -> Inferences:
    """One results source (COCO results JSON, or a Parquet file of inferences), validated."""
    if path.endswith(".parquet"):
        return _read_parquet(path, dataset, name)
    from aquaembed.io.coco import load_coco_results

    return load_coco_results(path, dataset, name=name)


def parse_bucketed(path: str, dataset: Dataset, bounds: np.ndarray, name: str) -> tuple[Any, ...]:
    """Read one source and cut it by frame shard (a task: one per file).

    Returns
    -------
    tuple
        ``(count, piece_0, ..., piece_{S-1})``; a piece is ``(frame, cls, box, score,
        position)`` of the inferences on that shard's frames, positions in the file.
    """
    inf = read_results(path, dataset, name=name)
    n_s = bounds.shape[0] - 1
    shard = np.searchsorted(bounds, inf.frame, side="right") - 1
    order = np.argsort(shard, kind="stable")
    cuts = np.searchsorted(shard[order], np.arange(n_s + 1))
    pieces = []
    for s in range(n_s):
        rows = order[cuts[s]:cuts[s + 1]]
        pieces.append((inf.frame[rows], inf.cls[rows], inf.box[rows], inf.score[rows], rows.astype(np.int64),
                       np.asarray(inf.box_area)[rows]))
    return (len(inf), *pieces)


def _resolve(value: Any) -> Any:
    if type(value).__name__ == "ObjectRef":  # a Ray reference inside a task argument
        import ray

        return ray.get(value)
    return value


@dataclass(frozen=True, eq=False)
class FileShard:
    """A shard whose inferences come from several sources' pieces (a shard reference)."""

    index: int
    lo: int
    hi: int
    dataset: Any
    pieces: tuple[Any, ...]
    offsets: tuple[int, ...]
    name: str

    def load(self) -> Shard:
        dataset: Dataset = _resolve(self.dataset)
        parts = [_resolve(p) for p in self.pieces]
        frame, cls, box, score, pos, area = (np.concatenate(c) for c in zip(*parts))
        pos = pos + np.repeat(np.asarray(self.offsets, dtype=np.int64), [p[0].shape[0] for p in parts])
        try:
            inf = Inferences(frame=frame, cls=cls, box=box.reshape(-1, 4), score=score, name=self.name, box_area=area)
        except AquaembedError as exc:
            raise InputError(f"shard {self.index}: {exc}") from None
        return assemble_shard(dataset, inf, pos, self.lo, self.hi, index=self.index)


def file_shards(engine: Any, dataset: Dataset, paths: Sequence[str], bounds: np.ndarray, *, name: str = "model",
                progress: Any = None) -> tuple[list[FileShard], int]:
    """Read every source in a task, then one :class:`FileShard` per shard.

    Returns
    -------
    shards : list of FileShard
    n_preds : int
        Inferences over all sources.
    """
    n_s = bounds.shape[0] - 1
    put = getattr(engine, "put", None)
    ds_ref = put(dataset) if put is not None else dataset
    parsed = engine.map(parse_bucketed, list(paths), num_returns=n_s + 1, dataset=ds_ref, bounds=bounds, name=name,
                        progress=progress)
    counts = [int(c) for c in engine.get([p[0] for p in parsed])]
    offsets = tuple(np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist())
    shards = [
        FileShard(index=s, lo=int(bounds[s]), hi=int(bounds[s + 1]), dataset=ds_ref,
                  pieces=tuple(p[1 + s] for p in parsed), offsets=offsets, name=name)
        for s in range(n_s)
    ]
    return shards, int(sum(counts))
