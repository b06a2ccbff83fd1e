"""Ingest work per shard on an engine: the embedder, the crop index, the projection.

* :func:`embed_shards` runs the built-in embedder on each frame shard in a task (one
  process per task; the shards' vectors concatenate in dataset order).
* :func:`build_ivfpq` builds the crop index beyond a few million vectors as FAISS
  IVF-PQ: trained on a seeded sample on the driver, filled shard by shard in tasks
  (each adds its vectors under their global rows), merged on the driver in shard order;
  its recall@10 against exact search on sampled queries is measured and returned.
* :func:`engine_placer` places the points outside UMAP's sample in tasks (UMAP is fit
  on the sample on the driver; placement is a pure function of each point, chunked at
  the same boundaries as in one process, so the coordinates are identical).

Every engine runs the same tasks in the same order of results, so ``local`` and
``ray`` give identical vectors, indexes and coordinates.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from aquaembed.data import Dataset
from aquaembed.embeddings.rerank import DEFAULT_REFINE, rerank_search
from aquaembed.engine.partition import shard_bounds

__all__ = ["IVFPQ_MIN", "IvfpqBuild", "build_ivfpq", "embed_shards", "engine_placer"]

IVFPQ_MIN = 2_000_000
"""From this many crop vectors on, an engine ingest builds the crop index as IVF-PQ."""

Progress = Callable[[str], None] | None


def _counter(progress: Progress, what: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None

    def tick(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            progress(f"{what}: {done}/{total} tasks")

    return tick


def _embed_task(bounds: tuple[int, int], dataset: Dataset, image_dir: str) -> tuple[np.ndarray, np.ndarray]:
    from aquaembed.embeddings.builtin import embed_coco
    from aquaembed.geometry import xyxy_to_xywh

    lo, hi = bounds
    fr = dataset.frames
    lab = dataset.labels
    rows = np.flatnonzero((lab.frame >= lo) & (lab.frame < hi))
    gt = {
        "images": [{"id": i, "file_name": f} for i, f in zip(fr.id[lo:hi].tolist(), fr.file_name[lo:hi].tolist())],
        "annotations": [{"id": i, "image_id": fid, "bbox": b} for i, fid, b in zip(
            lab.id[rows].tolist(), fr.id[lab.frame[rows]].tolist(), xyxy_to_xywh(lab.box[rows]).tolist())],
    }
    emb = embed_coco(Path(image_dir), gt, workers=1)
    return emb.frames, emb.labels


def embed_shards(
    engine: Any, image_dir: str | Path, dataset: Dataset, *, shards: int, progress: Progress = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Built-in embeddings of every frame and label crop, one task per frame shard.

    Returns
    -------
    frame_ids (F,), frame vectors (F, d_f), label_ids (L,), label vectors (L, d_c)
        In the dataset's frame and label order.
    """
    n_f = len(dataset.frames)
    bounds = shard_bounds(np.bincount(dataset.labels.frame, minlength=n_f), shards=shards)
    put = getattr(engine, "put", None)
    ds = put(dataset) if put is not None else dataset
    items = [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    parts = engine.map(_embed_task, items, dataset=ds, image_dir=str(image_dir),
                       progress=_counter(progress, "embedding"))
    frames = np.concatenate([p[0] for p in parts])
    # labels come out grouped by shard; put them back in dataset order
    lab_frame = dataset.labels.frame
    order = np.concatenate([np.flatnonzero((lab_frame >= a) & (lab_frame < b)) for a, b in items])
    labels = np.empty((len(dataset.labels), parts[0][1].shape[1]), dtype=np.float32)
    labels[order] = np.concatenate([p[1] for p in parts])
    return dataset.frames.id, frames, dataset.labels.id, labels


@dataclass(frozen=True)
class IvfpqBuild:
    """An IVF-PQ build: the FAISS index and how well it finds the true neighbours.

    Attributes
    ----------
    index : faiss.IndexIVFPQ
        Vector ``i`` (L2-normalised) is stored under id ``i``.
    recall_at_10 : float
        Mean share of the exact 10 nearest neighbours (by cosine) that the index
        returns, over ``queries`` sampled vectors, re-ranked as served
        (:func:`aquaembed.embeddings.rerank.rerank_search`:
        ``refine`` x 10 candidates from the codes, re-scored on the full vectors).
    recall_at_10_codes : float
        The same from the PQ codes alone (no re-rank).
    queries : int
    refine : int
        Candidates per wanted neighbour taken from the codes for the re-rank.
    nlist, m, nbits, train_size : int
    """

    index: Any
    recall_at_10: float
    recall_at_10_codes: float
    queries: int
    refine: int
    nlist: int
    m: int
    nbits: int
    train_size: int


def _pq_m(d: int) -> int:
    for m in (64, 48, 32, 16, 8, 4, 2, 1):
        if m <= max(1, d // 4) and d % m == 0:
            return m
    return 1


def _fill_task(span: tuple[int, int], vectors: np.ndarray, trained: np.ndarray) -> np.ndarray:
    lo, hi = span
    index = faiss.deserialize_index(trained)
    index.add_with_ids(np.ascontiguousarray(vectors[lo:hi]), np.arange(lo, hi, dtype=np.int64))
    return faiss.serialize_index(index)


def build_ivfpq(
    engine: Any,
    vectors: np.ndarray,
    *,
    shards: int,
    nlist: int | None = None,
    m: int | None = None,
    nbits: int = 8,
    train_size: int | None = None,
    queries: int = 200,
    refine: int = DEFAULT_REFINE,
    seed: int = 0,
    progress: Progress = None,
) -> IvfpqBuild:
    """Train IVF-PQ on a sample, fill it shard by shard in tasks, merge, measure recall.

    Parameters
    ----------
    engine : engine
    vectors : float32 array, shape (n, d)
        L2-normalised (cosine similarity = inner product).
    shards : int
        Fill tasks.
    nlist : int, optional
        Inverted lists (default ``round(4 * sqrt(n))``).
    m, nbits : int
        PQ sub-quantizers (default: a divisor of d near d/4) and bits per code.
    train_size : int, optional
        Training sample (default ``max(40 * nlist, 256 * 40)``, at most n).
    queries : int
        Sampled queries for the recall measurement.
    refine : int
        Re-rank factor of the reported recall (see :func:`aquaembed.embeddings.rerank.rerank_search`);
        the served index re-ranks with the same factor.
    seed : int
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = x.shape
    nlist = int(nlist or max(1, min(n // 39 or 1, round(4 * math.sqrt(n)))))
    m = int(m or _pq_m(d))
    train_size = int(min(n, train_size or max(40 * nlist, 256 * 40)))
    nbits = int(max(1, min(nbits, math.floor(math.log2(max(2, train_size))))))  # PQ needs 2**nbits points
    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(n, train_size, replace=False))]
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = int(seed)
    index.cp.niter = 10
    index.pq.cp.seed = int(seed)
    if progress is not None:
        progress(f"training IVF-PQ (nlist {nlist}, {m} x {nbits} bits) on {train_size} of {n} vectors")
    index.train(sample)
    trained = faiss.serialize_index(index)
    put = getattr(engine, "put", None)
    ref = put(x) if put is not None else x
    cuts = np.linspace(0, n, max(1, int(shards)) + 1).astype(np.int64)
    spans = [(int(a), int(b)) for a, b in itertools.pairwise(cuts) if b > a]
    parts = engine.map(_fill_task, spans, vectors=ref, trained=trained, progress=_counter(progress, "filling the index"))
    merged: Any = faiss.deserialize_index(parts[0])
    for blob in parts[1:]:
        merged.merge_from(faiss.deserialize_index(blob), 0)
    merged.nprobe = int(min(nlist, max(16, math.ceil(8000 * nlist / n))))
    q_rows = np.sort(rng.choice(n, min(queries, n), replace=False))
    k = min(10, n)
    exact = faiss.IndexFlatIP(d)
    exact.add(x)
    _, truth = exact.search(x[q_rows], k)
    _, got = merged.search(x[q_rows], k)
    _, reranked = rerank_search(merged, x, x[q_rows], k, refine=refine)
    return IvfpqBuild(merged, _recall(truth, reranked), _recall(truth, got), int(q_rows.size), int(refine), nlist, m,
                      nbits, train_size)


def _recall(truth: np.ndarray, got: np.ndarray) -> float:
    """Mean share of each row of ``truth`` found in the same row of ``got``."""
    hits = [len(set(a.tolist()) & set(b.tolist()) - {-1}) for a, b in zip(truth, got)]
    return float(np.mean(hits) / truth.shape[1]) if truth.size else float("nan")


def _place_task(span: tuple[int, int], rest: np.ndarray, index_blob: np.ndarray, ids: np.ndarray,
                kind: str, coords: np.ndarray, k: int) -> np.ndarray:
    from aquaembed.embeddings.index import VectorIndex
    from aquaembed.embeddings.projection import _place

    index = VectorIndex(faiss.deserialize_index(index_blob), ids, {}, kind)  # type: ignore[arg-type]
    return _place(rest[span[0]:span[1]], index, coords, k)


def engine_placer(engine: Any, *, progress: Progress = None) -> Callable[..., np.ndarray]:
    """A ``placer`` for :func:`aquaembed.embeddings.projection.project_with_info` that
    places the points outside UMAP's sample in tasks, chunked as in one process."""
    from aquaembed.embeddings.projection import PLACE_CHUNK

    def place(rest: np.ndarray, sample_index: Any, coords: np.ndarray, k: int) -> np.ndarray:
        n = rest.shape[0]
        spans = [(a, min(n, a + PLACE_CHUNK)) for a in range(0, n, PLACE_CHUNK)]
        put = getattr(engine, "put", None)
        shared = {"rest": rest, "index_blob": faiss.serialize_index(sample_index._index), "ids": sample_index.ids,
                  "kind": sample_index.kind, "coords": coords}
        if put is not None:
            shared = {key: put(v) for key, v in shared.items()}
        parts = engine.map(_place_task, spans, k=k, progress=_counter(progress, "placing points"), **shared)
        return np.concatenate(parts) if parts else np.zeros((0, 2), np.float32)

    return place
