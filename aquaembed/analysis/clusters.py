"""Failure clusters: error crops of one type that gather in crop-embedding space.

Method
------
The crops' kNN graph (``k`` nearest crops of every crop, over label and inference crops
of every inference set alike) is computed once at ingest. At the current
:class:`~aquaembed.matching.MatchOptions` the error crops of one type of the analysed
model -- FP inference crops, FN label crops, or the label crops of confusion pairs -- are
taken. Only the model's *population* can hold its errors: the label crops and that
model's inference crops. The crops of other inference sets are neither candidates nor
part of the chance level: the base rate ``p`` is errors of the type / crops of the
population (of the scenario's frames, with a scenario).

Density test (which error crops are *core* points). Every error crop ``i`` gets a
neighbourhood of population crops: its stored neighbours that lie in the population,
plus, for each stored neighbour from another inference set, that neighbour's own stored
neighbours in the population (a second model's crop, typically the near-identical twin
of one of this model's crops, stands in for its neighbourhood), deduplicated, ``i``
itself left out. With a single inference set this is exactly ``i``'s ``k`` stored
neighbours; with others it is about as many population crops as they took slots, so a
second model does not halve the evidence. Let ``k_i`` be the size of that neighbourhood
and ``e_i`` the errors of the type in it. If errors fell at random over the population,
``e_i`` would be Binomial(``k_i``, ``p``) (the neighbourhood is chosen without looking
at which crops are errors); ``i`` is core when ``e_i`` reaches the smallest count whose
upper tail is below ``alpha`` (1e-3 by default; at least 3), so a core point is an
error in a neighbourhood *significantly* richer in errors than chance. The threshold
depends on ``k_i``: it is tabulated once per call for every possible ``k_i``
(:func:`core_thresholds`) and looked up, all vectorised.

Clustering (scikit-learn's DBSCAN, ``metric="precomputed"``). The graph is *restricted*
to the error crops: an edge survives when both ends are errors of the type, and an error
also links to the errors among the neighbours of its other-set neighbours, at the length
of the two-step path (the same stand-in as above); symmetric; edges longer than ``eps``,
a high quantile of all graph distances, are dropped so far-apart outliers never link. DBSCAN takes one ``min_samples`` for all points, so the
per-point test is handed to it exactly: ``sample_weight`` is 1 on core points and 0
elsewhere, ``min_samples = 1``, and the row of a non-core point keeps only its diagonal
(its weighted count is 0, so it is never core; a core point counts at least itself).
DBSCAN then does what it always does with those core points: core points joined by an
edge share a cluster, a non-core error next to a core point joins it as a border point,
the rest is noise and belongs to no cluster. Clusters smaller than ``min_cluster_size``
are noise too. Nothing is re-searched when a slider moves: a re-cluster costs a few
array operations plus DBSCAN on the errors.

Each cluster is then described and scored by
:func:`aquaembed.analysis.cluster_records.describe_clusters` (re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.stats import binom

from aquaembed.analysis.cluster_records import describe_clusters
from aquaembed.errors import ParameterError

__all__ = ["CUSTOM_METRIC_CLUSTERS", "ERROR_KINDS", "CropGraph", "cluster_rows", "core_points", "core_threshold", "core_thresholds", "describe_clusters", "restrict_graph"]

CUSTOM_METRIC_CLUSTERS = (
    "no failure clusters under a custom metric: clusters group error crops, and a custom metric's per-frame "
    "confusion matrices do not say which crop is an error; where its errors gather by frame, the slices show it "
    "(frame-embedding regions included)"
)
"""Why the report of a custom metric has no clusters (its ``notes.clusters``)."""

ERROR_KINDS: tuple[str, ...] = ("FP", "FN", "confusion")
"""Error types clustered separately, in ranking-tie order."""


@dataclass(frozen=True)
class CropGraph:
    """The stored kNN graph of the crops.

    Attributes
    ----------
    neighbors : int32 array, shape (n, k)
        Neighbour rows (crop-index order), most similar first; -1 padding.
    similarity : float32 array, shape (n, k)
        Cosine similarities; NaN padding.
    """

    neighbors: np.ndarray
    similarity: np.ndarray

    @property
    def k(self) -> int:
        """Neighbours per row."""
        return int(self.neighbors.shape[1])

    def distance_scale(self, quantile: float = 0.9) -> float:
        """The ``quantile`` of all cosine distances in the graph (the ``eps`` of clustering)."""
        sims = np.asarray(self.similarity, dtype=np.float32)
        sims = sims[np.isfinite(sims)]
        if sims.size == 0:
            return 1.0
        return float(1.0 - np.quantile(sims, 1.0 - quantile))


def _reach(graph: CropGraph, rows: np.ndarray, pop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The crops each of ``rows`` reaches: its stored neighbours, and for a neighbour outside
    the population ``pop`` (bool, shape (n + 1,), index n = padding) that neighbour's own
    neighbours (a crop of another inference set stands in for its neighbourhood).

    Returns row position (into ``rows``), crop and distance (``1 - similarity``; summed
    over the two steps) of every reached crop, duplicates and padding included.
    """
    n, k = graph.neighbors.shape
    nbrs = np.asarray(graph.neighbors)
    first = nbrs[rows].astype(np.int64)
    first[first < 0] = n
    d1 = 1.0 - np.asarray(graph.similarity[rows], dtype=np.float64)
    r1, c1 = np.nonzero((first != n) & ~pop[first])
    second = nbrs[first[r1, c1]].astype(np.int64)
    second[second < 0] = n
    d2 = d1[r1, c1][:, None] + (1.0 - np.asarray(graph.similarity[first[r1, c1]], dtype=np.float64))
    row = np.concatenate([np.repeat(np.arange(rows.size), k), np.repeat(r1, k)])
    return row, np.concatenate([first.ravel(), second.ravel()]), np.concatenate([d1.ravel(), d2.ravel()])


def restrict_graph(
    graph: CropGraph, rows: np.ndarray, *, eps: float | None = None, population: np.ndarray | None = None,
) -> sp.csr_matrix:
    """The sub-graph among ``rows``: a symmetric sparse matrix of cosine distances.

    Parameters
    ----------
    graph : CropGraph
    rows : int array, shape (m,)
        Distinct crop-index rows (the members).
    eps : float, optional
        Drop edges whose distance exceeds it.
    population : bool array, shape (n,), optional
        The analysed model's crops (see :func:`cluster_rows`): a stored neighbour outside it
        links a row to that neighbour's own neighbours among ``rows``, at the length of the
        two-step path. Default every crop (direct edges only).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (m, m)
        Entry ``[i, j]`` is the distance (``1 - similarity``, at least 1e-9 so that it is
        stored) when ``rows[j]`` is among the neighbours of ``rows[i]`` or the converse
        (the shortest such link, the longer of the two directions);
        the diagonal is stored as explicit zeros, and each row's entries are stored by
        increasing distance.
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = graph.neighbors.shape[0]
    pos = np.full(n + 1, -1, dtype=np.int64)  # index n stands for the -1 padding
    pos[rows] = np.arange(rows.size)
    pop = np.ones(n + 1, dtype=bool) if population is None else np.append(np.asarray(population, dtype=bool), False)
    r, crop, dist = _reach(graph, rows, pop)
    col = pos[crop]
    keep = (col >= 0) & (col != r)
    if eps is not None:
        keep &= dist <= eps
    r, col, dist = r[keep], col[keep], dist[keep]
    order = np.lexsort((dist, col, r))  # the shortest link of each (row, col) pair first
    r, col, dist = r[order], col[order], dist[order]
    first_of = np.concatenate([[True], (r[1:] != r[:-1]) | (col[1:] != col[:-1])])
    r, col, d = r[first_of], col[first_of], np.maximum(dist[first_of], 1e-9)
    m = sp.csr_matrix((d, (r, col)), shape=(rows.size, rows.size))
    m = m.maximum(m.T).tocsr()
    # each row starts with an explicit zero on the diagonal (a point is its own neighbour,
    # as DBSCAN counts it) followed by its entries by increasing distance: scikit-learn's
    # neighbour search wants that order and would otherwise sort row by row in Python
    n_rows = rows.size
    row_of = np.repeat(np.arange(n_rows), np.diff(m.indptr))
    order = np.lexsort((m.data, row_of))
    indptr = m.indptr + np.arange(n_rows + 1)
    data = np.zeros(m.nnz + n_rows)
    indices = np.empty(m.nnz + n_rows, dtype=np.int64)
    diag = indptr[:-1]
    indices[diag] = np.arange(n_rows)
    rest = np.ones(data.size, dtype=bool)
    rest[diag] = False
    data[rest], indices[rest] = m.data[order], m.indices[order]
    return sp.csr_matrix((data, indices, indptr), shape=m.shape)


def core_threshold(k: int, base_rate: float, *, alpha: float = 1e-3, floor: int = 3) -> int:
    """Error neighbours (out of ``k``) a crop needs to be a core point.

    The smallest ``m`` with ``P(Binomial(k, base_rate) >= m) <= alpha``, at least ``floor``.
    """
    return int(core_thresholds(k, base_rate, alpha=alpha, floor=floor)[k])


def core_thresholds(k_max: int, base_rate: float, *, alpha: float = 1e-3, floor: int = 3) -> np.ndarray:
    """:func:`core_threshold` for every neighbour count ``0..k_max`` at once.

    Returns
    -------
    int64 array, shape (k_max + 1,)
        Entry ``k`` is the smallest ``m >= floor`` with ``P(Binomial(k, base_rate) >= m) <= alpha``,
        ``k + 1`` (never reached) when even ``m = k`` is not significant.
    """
    if not 0.0 <= base_rate <= 1.0:
        raise ParameterError(f"base_rate must lie in [0, 1], got {base_rate!r}", parameter="base_rate")
    k = np.arange(k_max + 1)[:, None]
    m = np.arange(k_max + 2)[None, :]
    ok = (binom.sf(m - 1, k, base_rate) <= alpha) & (m <= k)  # P(X >= m) for X ~ Binomial(k, p)
    need = np.where(ok.any(axis=1), ok.argmax(axis=1), k[:, 0] + 1)
    return np.maximum(need, floor).astype(np.int64)


def core_points(
    graph: CropGraph, rows: np.ndarray, *, population: np.ndarray | None = None, base_rate: float | None = None,
    alpha: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The density test of every error crop (see the module docstring).

    Parameters
    ----------
    graph : CropGraph
    rows : int array, shape (m,)
        The error crops (crop-index rows) of one type, all inside ``population``.
    population : bool array, shape (n,), optional
        The crops that could be errors of this type (the label crops and the analysed
        model's inference crops); default every crop of the graph.
    base_rate : float, optional
        Chance level; default ``m / population.sum()``.
    alpha : float

    Returns
    -------
    core : bool array, shape (m,)
    k_eff : int64 array, shape (m,)
        Stored neighbours of each row that lie in the population.
    hits : int64 array, shape (m,)
        Those of them that are errors (in ``rows``).
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = graph.neighbors.shape[0]
    pop = np.ones(n + 1, dtype=bool) if population is None else np.append(np.asarray(population, dtype=bool), False)
    pop[n] = False  # index n stands for the -1 padding
    err = np.zeros(n + 1, dtype=bool)
    err[rows] = True
    err &= pop
    if base_rate is None:
        base_rate = min(1.0, rows.size / max(int(pop.sum()), 1))
    row, col, _ = _reach(graph, rows, pop)
    ok = pop[col] & (col != rows[row])
    keys = row[ok] * (n + 1) + col[ok]
    keys.sort()  # distinct (row, crop) pairs (np.unique is many times slower here)
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    row, col = keys // (n + 1), keys % (n + 1)
    k_eff = np.bincount(row, minlength=rows.size)
    hits = np.bincount(row, weights=err[col], minlength=rows.size).astype(np.int64)
    k_max = graph.k * (graph.k + 1)
    need = core_thresholds(k_max, float(base_rate), alpha=alpha)
    return hits >= need[k_eff], k_eff, hits


def cluster_rows(
    graph: CropGraph,
    rows: np.ndarray,
    *,
    population: np.ndarray | None = None,
    base_rate: float | None = None,
    min_cluster_size: int = 8,
    alpha: float = 1e-3,
    eps: float | None = None,
) -> np.ndarray:
    """Cluster the error crops ``rows`` on the restricted kNN graph (DBSCAN).

    Parameters
    ----------
    graph : CropGraph
    rows : int array, shape (m,)
        The error crops (crop-index rows) of one type.
    population : bool array, shape (n,), optional
        The crops that could be errors of this type: the label crops and the analysed
        model's inference crops (the crops of other inference sets are neither candidates
        nor part of the chance level). Default every crop of the graph.
    base_rate : float, optional
        The chance level; default ``m / population.sum()`` (errors of the type over the
        population).
    min_cluster_size : int
        Smaller clusters become noise.
    alpha : float
        Chance-level tail probability of the density test (see the module docstring).
    eps : float, optional
        Longest edge kept; default :meth:`CropGraph.distance_scale`.

    Returns
    -------
    int64 array, shape (m,)
        Cluster label of each row, ``-1`` for noise; labels are 0.. in order of
        decreasing size.
    """
    from sklearn.cluster import DBSCAN

    if isinstance(min_cluster_size, bool) or not isinstance(min_cluster_size, (int, np.integer)) or min_cluster_size < 2:
        raise ParameterError(f"min_cluster_size must be an integer >= 2, got {min_cluster_size!r}", parameter="min_cluster_size")
    if not 0.0 < float(alpha) < 1.0:
        raise ParameterError(f"alpha must lie in (0, 1), got {alpha!r}", parameter="alpha")
    rows = np.asarray(rows, dtype=np.int64)
    labels = np.full(rows.size, -1, dtype=np.int64)
    if rows.size < min_cluster_size:
        return labels
    core, _, _ = core_points(graph, rows, population=population, base_rate=base_rate, alpha=alpha)
    if int(core.sum()) == 0:
        return labels
    eps = graph.distance_scale() if eps is None else float(eps)
    dist = _core_rows_only(restrict_graph(graph, rows, eps=eps, population=population), core)
    # weight 1 marks the core points; a non-core row holds only itself (weight 0), so it
    # never reaches min_samples = 1 and DBSCAN's own core test is exactly ours
    raw = DBSCAN(eps=eps, min_samples=1, metric="precomputed").fit_predict(dist, sample_weight=core.astype(np.float64))
    ids, sizes = np.unique(raw[raw >= 0], return_counts=True)
    big = ids[sizes >= min_cluster_size]
    order = big[np.argsort(-sizes[sizes >= min_cluster_size], kind="stable")]
    remap = np.full(int(raw.max()) + 2 if raw.size else 1, -1, dtype=np.int64)
    remap[order] = np.arange(order.size)
    labels = np.where(raw >= 0, remap[np.maximum(raw, 0)], -1)
    return labels


def _core_rows_only(dist: sp.csr_matrix, core: np.ndarray) -> sp.csr_matrix:
    """``dist`` with the rows of non-core points reduced to their diagonal (order kept)."""
    row_of = np.repeat(np.arange(dist.shape[0]), np.diff(dist.indptr))
    keep = core[row_of] | (dist.indices == row_of)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row_of[keep], minlength=dist.shape[0]))])
    return sp.csr_matrix((dist.data[keep], dist.indices[keep], indptr), shape=dist.shape)
