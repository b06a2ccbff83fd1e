"""The sharded layout: a dataset's tables as Parquet datasets partitioned by frame shard.

For datasets beyond one process. Frames are cut into contiguous shards of about
``rows_per_shard`` boxes (labels + inferences); every table is a Parquet dataset with
one ``shard=NNNNN`` partition per shard, so a task reads exactly its shard::

    <root>/
      manifest.json                              schema_version 2, "layout": "sharded",
                                                 generation, prefix, classes, counts,
                                                 per-shard rows
      <prefix>/frames/shard=00000/part-0.parquet       id, file_name, width, height, <metadata...>
      <prefix>/labels/shard=00000/part-0.parquet       row, id, frame, cls, x1, y1, x2, y2, area, crowd
      <prefix>/inferences/<model>/shard=00000/part-0.parquet   row, frame, cls, x1, y1, x2, y2, score

``frame`` is the frame row *within the shard*; ``row`` is the global row (a label's
row in the dataset, an inference's 0-based position in its results), so the shards
reassemble the dataset exactly. The root is a local path or any URI pyarrow's
filesystems understand (``file://``, ``s3://``, ``gs://``, ...), or a path on a given
:class:`pyarrow.fs.FileSystem`. An object store has no atomic rename, so the commit
point is the manifest: each write puts its shards under a fresh ``<prefix>``
(``g<generation>-<token>``) and then writes the manifest naming it in one piece (one
PUT; a rename on a local disk). Readers see the previous dataset or the new one; a
failed write leaves the previous one (or nothing). A dataset written before prefixes
(no ``prefix`` in its manifest) keeps its tables at the root and reads unchanged. The one-folder layout of :mod:`aquaembed.store.core` (schema version 1) is
unchanged; the manifest's ``schema_version`` / ``layout`` say which one a folder holds.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
from aquaembed.engine.partition import Shard, shard_bounds, take_shard
from aquaembed.errors import AquaembedError, InputError, StoreError
from aquaembed.store.shards_fs import (
    _MANIFEST,
    LAYOUT,
    SHARDED_SCHEMA_VERSION,
    _commit_manifest,
    _discard,
    _fs,
    _part,
    _previous_manifest,
    _read_json,
    _sweep,
    _write_table,
    data_root,
    folder_is_sharded,
    is_sharded,
)
from aquaembed.store.tables import optional_column

__all__ = ["LAYOUT", "SHARDED_SCHEMA_VERSION", "ShardedStore", "StoredShard", "folder_is_sharded", "is_sharded", "write_sharded"]

def _frames_table(frames: Frames) -> pa.Table:
    cols = {"id": frames.id, "file_name": pa.array(frames.file_name.tolist(), pa.string()),
            "width": frames.width, "height": frames.height}
    for k, v in frames.metadata.items():
        cols[k] = pa.array(v.tolist()) if v.dtype.kind in "OUS" else v
    return pa.table(cols)


def _labels_table(shard: Shard) -> pa.Table:
    lab = shard.dataset.labels
    b = lab.box
    return pa.table({"row": shard.label_rows, "id": lab.id, "frame": lab.frame, "cls": lab.cls, "x1": b[:, 0],
                     "y1": b[:, 1], "x2": b[:, 2], "y2": b[:, 3], "area": lab.area, "crowd": lab.crowd,
                     "box_area": lab.box_area})


def _inferences_table(shard: Shard) -> pa.Table:
    inf = shard.inferences
    b = inf.box
    return pa.table({"row": shard.pred_rows, "frame": inf.frame, "cls": inf.cls, "x1": b[:, 0], "y1": b[:, 1],
                     "x2": b[:, 2], "y2": b[:, 3], "score": inf.score, "box_area": inf.box_area})


def write_shard_task(shard: Any, root: str, filesystem: Any, with_frames: bool) -> dict[str, Any]:
    """Write one shard's tables (a task; ``shard`` is a :class:`Shard` or a shard reference)."""
    from aquaembed.engine import load_shard

    s = load_shard(shard)
    fs, root = _fs(root, filesystem)
    if with_frames:
        _write_table(fs, _part(root, "frames", s.index), _frames_table(s.dataset.frames))
        _write_table(fs, _part(root, "labels", s.index), _labels_table(s))
    _write_table(fs, _part(root, f"inferences/{s.inferences.name}", s.index), _inferences_table(s))
    return {"frames": [s.frame_start, s.frame_start + len(s.dataset.frames)], "labels": int(s.label_rows.size),
            "preds": int(s.pred_rows.size)}


def write_sharded(
    dataset: Dataset,
    root: str,
    *,
    name: str,
    rows_per_shard: int = 1_000_000,
    shards: int | None = None,
    engine: Any = None,
    filesystem: pafs.FileSystem | None = None,
    replace: bool = False,
    source: dict[str, Any] | None = None,
) -> ShardedStore:
    """Write a dataset (and its inference sets) in the sharded layout.

    The shards go under a fresh prefix of ``root`` (``g<generation>-<token>/``) and the
    manifest naming that prefix is written last, in one piece (one PUT on an object
    store, a rename on a local disk): it is the commit point. A reader sees the previous
    dataset or the new one, never a half-written one; a write that fails (or a process
    that dies) before the manifest leaves the previous dataset as it was.

    Parameters
    ----------
    dataset : Dataset
    root : str
        Destination folder: a local path or a URI.
    name : str
    rows_per_shard : int, default 1,000,000
        Target boxes (labels + inferences of every set) per shard.
    shards : int, optional
        Number of shards instead.
    engine : engine, optional
        Where the shard writes run (default this process).
    filesystem : pyarrow.fs.FileSystem, optional
        Filesystem of ``root`` (default: inferred from the URI).
    replace : bool, default False
        Replace a sharded dataset already at ``root`` (else that is refused). The
        previous generation's files are kept until the next write (readers that opened
        it keep reading), older ones are deleted after the commit.
    source : dict, optional
        JSON provenance kept in the manifest, as in the one-folder layout (``"images"``:
        the frames' image folder, for drawing them when served).
    """
    from aquaembed.engine import get_engine

    engine = get_engine(engine)
    fs, path = _fs(root, filesystem)
    previous = _previous_manifest(fs, path, root, replace=replace)
    sets = dict(dataset.inferences) or {"": Inferences(np.zeros(0), np.zeros(0), np.zeros((0, 4)), np.zeros(0), "")}
    n_f = len(dataset.frames)
    boxes = np.bincount(dataset.labels.frame, minlength=n_f)
    for inf in sets.values():
        boxes = boxes + np.bincount(inf.frame, minlength=n_f)
    bounds = shard_bounds(boxes, shards=shards, rows_per_shard=rows_per_shard)
    generation = int(previous.get("generation", 0)) + 1 if previous else 1
    prefix = f"g{generation:06d}-{secrets.token_hex(4)}"
    data = f"{path}/{prefix}"
    created_root = fs.get_file_info(path).type == pafs.FileType.NotFound
    put = getattr(engine, "put", None)
    try:
        per_set: dict[str, list[dict[str, Any]]] = {}
        for i, (model, inf) in enumerate(sets.items()):
            parts = [take_shard(dataset, inf, int(bounds[s]), int(bounds[s + 1]), index=s)
                     for s in range(bounds.shape[0] - 1)]
            items = [put(p) for p in parts] if put is not None else parts
            per_set[model] = engine.map(write_shard_task, items, root=data, filesystem=fs, with_frames=(i == 0))
        first = next(iter(per_set.values()))
        manifest = {
            "schema_version": SHARDED_SCHEMA_VERSION, "layout": LAYOUT, "name": name,
            "generation": generation, "prefix": prefix, "source": dict(source or {}),
            "classes": {"ids": dataset.classes.ids.tolist(), "names": list(dataset.classes.names)},
            "frame_metadata": [{"name": k, "dtype": str(v.dtype)} for k, v in dataset.frames.metadata.items()],
            "counts": {"frames": n_f, "labels": len(dataset.labels), "shards": len(first),
                       "inferences": {m: len(inf) for m, inf in dataset.inferences.items()}},
            "shards": [{"frames": r["frames"], "labels": r["labels"],
                        "inferences": {m: per_set[m][s]["preds"] for m in dataset.inferences}}
                       for s, r in enumerate(first)],
        }
        if not dataset.inferences:
            fs.delete_dir_contents(f"{data}/inferences", missing_dir_ok=True)
        _commit_manifest(fs, path, json.dumps(manifest, indent=1).encode())
    except BaseException:
        _discard(fs, data)
        if created_root:
            _discard(fs, path)
        raise
    _sweep(fs, path, keep={prefix, str(previous.get("prefix", "")) if previous else ""})
    return ShardedStore(path, filesystem=fs)


def _frames_of(ft: pa.Table, manifest: dict[str, Any]) -> Frames:
    return Frames(
        id=ft.column("id").to_numpy(), file_name=np.asarray(ft.column("file_name").to_pylist(), dtype=object),
        width=ft.column("width").to_numpy(), height=ft.column("height").to_numpy(),
        metadata={c["name"]: np.asarray(ft.column(c["name"]).to_numpy(zero_copy_only=False),
                                        dtype=object if c["dtype"][0] in "OU<|" else c["dtype"])
                  for c in manifest["frame_metadata"]},
    )


@dataclass(frozen=True, eq=False)
class StoredShard:
    """A reference to one shard of a sharded dataset; :meth:`load` reads only that shard."""

    root: str
    index: int
    model: str
    manifest: dict[str, Any]
    filesystem: Any = None

    def load(self) -> Shard:
        fs, root = _fs(self.root, self.filesystem)
        m = self.manifest
        root = data_root(root, m)
        rec = m["shards"][self.index]
        where = f"shard {self.index} of {m['name']!r}"

        def read(table: str, rows: int) -> pa.Table:
            p = _part(root, table, self.index)
            try:
                t = pq.read_table(p, filesystem=fs)
            except (OSError, pa.ArrowException) as exc:
                raise StoreError(f"{where}: cannot read {table}: {str(exc).splitlines()[0]}") from None
            if t.num_rows != rows:
                raise StoreError(f"{where}: {table} has {t.num_rows} rows, the manifest says {rows}")
            return t

        lo, hi = rec["frames"]
        try:
            frames = _frames_of(read("frames", hi - lo), m)
            lt = read("labels", rec["labels"])
            box = np.stack([lt.column(k).to_numpy() for k in ("x1", "y1", "x2", "y2")], axis=1)
            labels = Labels(id=lt.column("id").to_numpy(), frame=lt.column("frame").to_numpy(),
                            cls=lt.column("cls").to_numpy(), box=box, area=lt.column("area").to_numpy(),
                            crowd=lt.column("crowd").to_numpy(zero_copy_only=False),
                            box_area=optional_column(lt, "box_area"))
            it = read(f"inferences/{self.model}", rec["inferences"][self.model])
            ibox = np.stack([it.column(k).to_numpy() for k in ("x1", "y1", "x2", "y2")], axis=1).reshape(-1, 4)
            inf = Inferences(frame=it.column("frame").to_numpy(), cls=it.column("cls").to_numpy(), box=ibox,
                             score=it.column("score").to_numpy(), name=self.model, box_area=optional_column(it, "box_area"))
            classes = ClassMap(np.asarray(m["classes"]["ids"], dtype=np.int64), tuple(m["classes"]["names"]))
            ds = Dataset(classes, frames, labels, {self.model: inf})
        except StoreError:
            raise
        except (AquaembedError, KeyError, ValueError, pa.ArrowException) as exc:
            raise StoreError(f"{where}: {str(exc).splitlines()[0]}") from None
        return Shard(index=self.index, dataset=ds, inferences=inf, frame_start=int(lo),
                     label_rows=lt.column("row").to_numpy(), pred_rows=it.column("row").to_numpy())


class ShardedStore:
    """A dataset in the sharded layout, opened without reading its tables.

    Parameters
    ----------
    root : str
        Local path or URI of the dataset folder.
    filesystem : pyarrow.fs.FileSystem, optional
    """

    def __init__(self, root: str, *, filesystem: pafs.FileSystem | None = None) -> None:
        self.root = root
        fs, path = _fs(root, filesystem)
        self.filesystem, self.path = fs, path
        try:
            m = _read_json(fs, f"{path}/{_MANIFEST}")
        except (OSError, pa.ArrowException, ValueError) as exc:
            raise StoreError(f"{root}: no readable sharded manifest: {str(exc).splitlines()[0]}") from None
        if not is_sharded(m) or m.get("schema_version") != SHARDED_SCHEMA_VERSION:
            raise StoreError(f"{root}: not a sharded dataset (schema_version {m.get('schema_version')!r})")
        self.manifest = m

    def __repr__(self) -> str:
        return f"ShardedStore({self.root!r}, shards={self.n_shards})"

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def n_shards(self) -> int:
        return len(self.manifest["shards"])

    @property
    def inference_names(self) -> list[str]:
        return list(self.manifest["counts"]["inferences"])

    @property
    def classes(self) -> ClassMap:
        c = self.manifest["classes"]
        return ClassMap(np.asarray(c["ids"], dtype=np.int64), tuple(c["names"]))

    @property
    def totals(self) -> tuple[int, int, int]:
        """Frames, labels and (per model, see :meth:`n_preds`) inferences."""
        c = self.manifest["counts"]
        return int(c["frames"]), int(c["labels"]), 0

    def n_preds(self, model: str) -> int:
        return int(self.manifest["counts"]["inferences"][self._model(model)])

    def _model(self, model: str | None) -> str:
        names = self.inference_names
        if model is None:
            if len(names) == 1:
                return names[0]
            raise InputError(f"{self.name}: name an inference set (--model); it has {', '.join(names) or 'none'}",
                             parameter="model")
        if model not in names:
            raise InputError(f"{self.name}: unknown inference set {model!r}; known: {', '.join(names) or 'none'}",
                             parameter="model")
        return model

    def shards(self, model: str | None = None) -> list[StoredShard]:
        """One reference per shard (what a task reads), in frame order."""
        model = self._model(model)
        return [StoredShard(self.path, s, model, self.manifest, self.filesystem) for s in range(self.n_shards)]

    def frames(self) -> Frames:
        """Every frame (ids, file names, sizes, metadata), reading only the frames tables."""
        root = data_root(self.path, self.manifest)
        parts = []
        for s, rec in enumerate(self.manifest["shards"]):
            try:
                ft = pq.read_table(_part(root, "frames", s), filesystem=self.filesystem)
                if ft.num_rows != rec["frames"][1] - rec["frames"][0]:
                    raise StoreError(f"shard {s} of {self.name!r}: frames has {ft.num_rows} rows, the manifest says "
                                     f"{rec['frames'][1] - rec['frames'][0]}")
                parts.append(_frames_of(ft, self.manifest))
            except (OSError, pa.ArrowException, KeyError, ValueError, AquaembedError) as exc:
                if isinstance(exc, StoreError):
                    raise
                raise StoreError(f"shard {s} of {self.name!r}: cannot read frames: {str(exc).splitlines()[0]}") from None
        keys = list(parts[0].metadata) if parts else []
        return Frames(id=np.concatenate([f.id for f in parts]), file_name=np.concatenate([f.file_name for f in parts]),
                      width=np.concatenate([f.width for f in parts]), height=np.concatenate([f.height for f in parts]),
                      metadata={k: np.concatenate([f.metadata[k] for f in parts]) for k in keys})

    def column(self, table: str, column: str) -> list[np.ndarray]:
        """One column of a table (``"labels"``, ``"inferences/<model>"``), read shard by shard.

        Returns one array per shard, in shard order (only that column is read).
        """
        root = data_root(self.path, self.manifest)
        out = []
        for s in range(self.n_shards):
            try:
                out.append(pq.read_table(_part(root, table, s), columns=[column], filesystem=self.filesystem)
                           .column(column).to_numpy())
            except (OSError, pa.ArrowException, KeyError) as exc:
                raise StoreError(f"shard {s} of {self.name!r}: cannot read {table}.{column}: "
                                 f"{str(exc).splitlines()[0]}") from None
        return out

    def shard(self, index: int, model: str | None = None) -> Shard:
        """Read one shard."""
        return self.shards(model)[index].load()

    def dataset(self, models: Sequence[str] | None = None) -> Dataset:
        """Every shard read and reassembled (for datasets that fit in memory)."""
        names = self.inference_names if models is None else [self._model(m) for m in models]
        if not names:
            raise InputError(f"{self.name}: has no inference set to reassemble with")
        parts = [self.shard(s, names[0]) for s in range(self.n_shards)]
        frames = [p.dataset.frames for p in parts]
        meta_keys = list(frames[0].metadata) if frames else []
        fr = Frames(id=np.concatenate([f.id for f in frames]), file_name=np.concatenate([f.file_name for f in frames]),
                    width=np.concatenate([f.width for f in frames]), height=np.concatenate([f.height for f in frames]),
                    metadata={k: np.concatenate([f.metadata[k] for f in frames]) for k in meta_keys})
        rows = np.concatenate([p.label_rows for p in parts])
        inv = np.empty_like(rows)
        inv[rows] = np.arange(rows.shape[0])
        labs = [p.dataset.labels for p in parts]

        def cat(attr: str, items: list[Any], offset: list[int] | None = None) -> np.ndarray:
            arrs = [getattr(x, attr) + (offset[i] if offset else 0) for i, x in enumerate(items)]
            return np.concatenate(arrs)[inv] if arrs else np.zeros(0)

        starts = [p.frame_start for p in parts]
        labels = Labels(id=cat("id", labs), frame=cat("frame", labs, starts), cls=cat("cls", labs),
                        box=np.concatenate([x.box for x in labs])[inv], area=cat("area", labs), crowd=cat("crowd", labs),
                        box_area=cat("box_area", labs))
        sets = {}
        for model in names:
            ps = parts if model == names[0] else [self.shard(s, model) for s in range(self.n_shards)]
            prow = np.concatenate([p.pred_rows for p in ps])
            pinv = np.empty_like(prow)
            pinv[prow] = np.arange(prow.shape[0])
            infs = [p.inferences for p in ps]
            sets[model] = Inferences(
                frame=np.concatenate([x.frame + p.frame_start for x, p in zip(infs, ps)])[pinv],
                cls=np.concatenate([x.cls for x in infs])[pinv], box=np.concatenate([x.box for x in infs])[pinv],
                score=np.concatenate([x.score for x in infs])[pinv], name=model,
                box_area=np.concatenate([x.box_area for x in infs])[pinv])
        return Dataset(self.classes, fr, labels, sets)
