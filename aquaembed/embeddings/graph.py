"""The k-nearest-neighbour graph of the vectors of an index, computed once at ingest.

Failure clustering (:mod:`aquaembed.analysis.clusters`) needs, for every crop, its nearest
crops; searching FAISS again at every slider move would cost seconds at 200k crops, so
ingest stores the graph as two arrays (row ``i`` lists the ``k`` nearest *other* rows of
row ``i`` in index-row order, most similar first, with their cosine similarities) and a
re-cluster only restricts it to the error crops of the moment.
"""

from __future__ import annotations

import numpy as np

from aquaembed.embeddings.index import VectorIndex
from aquaembed.errors import ParameterError

__all__ = ["DEFAULT_GRAPH_K", "knn_graph"]

DEFAULT_GRAPH_K = 20
"""Neighbours per vector kept in the stored graph."""

_CHUNK = 8192


def knn_graph(index: VectorIndex, k: int = DEFAULT_GRAPH_K) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other vectors of every stored vector.

    Parameters
    ----------
    index : VectorIndex
        Its ids are taken to be the row positions ``0..n-1`` (as the crop index stores them).
    k : int
        Neighbours per row, >= 1 (fewer exist when ``n <= k``: padded with -1 / NaN).

    Returns
    -------
    neighbors : int32 array, shape (n, k)
        Row positions of the neighbours, most similar first; -1 where none.
    similarity : float32 array, shape (n, k)
        Their cosine similarities; NaN where none.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ParameterError(f"k must be an integer >= 1, got {k!r}", parameter="k")
    n = len(index)
    ids = np.asarray(index.ids)
    if not np.array_equal(ids, np.arange(n)):
        raise ParameterError("index: the kNN graph needs an index whose ids are its row positions", parameter="index")
    neighbors = np.full((n, k), -1, dtype=np.int32)
    similarity = np.full((n, k), np.nan, dtype=np.float32)
    for start in range(0, n, _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, n))
        sims, nb = index.search_ids(rows, k)
        neighbors[rows] = nb
        similarity[rows] = sims
    return neighbors, similarity
