"""Re-ranking a compressed index's candidates on the full vectors (the one re-rank).

An IVF-PQ index (the crop index beyond :data:`aquaembed.engine.ingest.IVFPQ_MIN` vectors)
stores 8-bit product-quantisation codes, whose inner products are rough: recall@10 from
the codes alone is ~0.33 on clustered crops. :func:`rerank_search` asks the codes for
``refine * k`` candidates and re-scores them exactly on the full vectors, which stay on disk
(the stored embeddings, memory-mapped): only the candidates' rows are read. With the default
``refine = 20`` recall@10 is 0.92 at 500k x 64 (``benchmarks/RESULTS_scale.md``).

:class:`VectorIndex <aquaembed.embeddings.index.VectorIndex>` calls it for every search of
a compressed index that has its full vectors attached (served similarity search, the kNN
graph, UMAP's neighbours); distributed ingest calls it to report the re-ranked recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from aquaembed.store import StoredDataset

__all__ = ["DEFAULT_REFINE", "RowStack", "rerank_search", "stored_vectors"]

DEFAULT_REFINE = 20
"""Candidates per neighbour re-scored on the full vectors (``refine * k`` per query)."""

_GATHER_BYTES = 64 << 20  # candidates' vectors gathered at once (bounds memory per chunk)


class RowStack:
    """Several (n_i, d) arrays (memory maps) seen as one (sum n_i, d) array, without copying.

    Only ``len``, ``shape`` and gathering rows by an integer array (``stack[rows]``) are
    offered: what :func:`rerank_search` needs.
    """

    def __init__(self, parts: Sequence[Any]) -> None:
        if not parts:
            raise ValueError("RowStack needs at least one array")
        dims = {int(p.shape[1]) for p in parts}
        if len(dims) != 1:
            raise ValueError(f"RowStack: arrays of different dimensions {sorted(dims)}")
        self._parts = list(parts)
        self._starts = np.cumsum([0] + [int(p.shape[0]) for p in parts])
        self.shape = (int(self._starts[-1]), dims.pop())

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((rows.size, self.shape[1]), dtype=np.float32)
        part = np.searchsorted(self._starts, rows, side="right") - 1
        for p in np.unique(part):
            at = part == p
            out[at] = self._parts[int(p)][rows[at] - self._starts[p]]
        return out


def stored_vectors(sd: StoredDataset, kinds: Sequence[str]) -> RowStack | None:
    """The stored embeddings of ``kinds`` (memory-mapped, read-only) stacked in that order:
    the row order of the index built over them (the crop index stacks its sources so).

    None when one of the kinds has no stored embeddings (crops embedded from images by an
    older version kept only the index): its searches then use the codes alone.
    """
    known = set(sd.embedding_kinds)
    if any(kind not in known for kind in kinds):
        return None
    return RowStack([sd.embeddings(kind)[1] for kind in kinds])


def _gather(vectors: Any, rows: np.ndarray) -> np.ndarray:
    """L2-normalised float32 rows of ``vectors`` (sorted unique ``rows``)."""
    full = np.array(vectors[rows], dtype=np.float32, copy=True)
    norms = np.linalg.norm(full, axis=1, keepdims=True)
    return full / np.where(norms > 0, norms, 1)


def rerank_search(index: Any, vectors: Any, queries: np.ndarray, k: int, *, refine: int = DEFAULT_REFINE,
                  params: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Search the codes for ``refine * k`` candidates, re-score them on the full vectors.

    Parameters
    ----------
    index : faiss index
        Labels its vectors by row position ``0..n-1`` of ``vectors``.
    vectors : array (or memory map, or :class:`RowStack`) of float, shape (n, d)
        The full vectors in the index's row order; normalised here after reading, so the
        raw stored embeddings serve. Only the candidates' rows are read.
    queries : float32 array, shape (q, d)
        L2-normalised queries.
    k : int
        Neighbours per query.
    refine : int
        Candidates per neighbour (``refine * k`` per query), >= 1.
    params : faiss.SearchParameters, optional
        Passed to the codes' search (a subset selector, nprobe).

    Returns
    -------
    scores : float32 (q, k)
        Exact cosine similarities, best first (``-inf`` where fewer than k were found).
    rows : int64 (q, k)
        Row positions (``-1`` where fewer than k were found).
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    k = int(k)
    c = k * max(1, int(refine))
    scores = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
    rows_out = np.full((q.shape[0], k), -1, dtype=np.int64)
    if q.shape[0] == 0:
        return scores, rows_out
    _, cand = index.search(q, c, params=params)
    step = max(1, _GATHER_BYTES // (4 * c * q.shape[1]))
    for start in range(0, q.shape[0], step):
        cq, qq = cand[start : start + step], q[start : start + step]
        ok = cq >= 0
        flat, pos = np.unique(np.where(ok, cq, 0), return_inverse=True)
        full = _gather(vectors, flat)  # one read of the chunk's candidate rows
        s = np.einsum("qcd,qd->qc", full[pos.reshape(cq.shape)], qq)
        s = np.where(ok, s, -np.inf)
        order = np.lexsort((cq, -s), axis=1)[:, :k]  # best first, ties by row
        top = np.take_along_axis(s, order, axis=1)
        scores[start : start + step, : top.shape[1]] = top
        rows_out[start : start + step, : top.shape[1]] = np.where(np.isfinite(top), np.take_along_axis(cq, order, axis=1), -1)
    return scores, rows_out
