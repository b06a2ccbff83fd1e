"""Failure clusters: error crops of one type that gather in crop-embedding space.

Method
------
The crops' kNN graph (``k`` nearest crops of every crop, over label and inference crops
alike) is computed once at ingest. At the current :class:`~aquaembed.matching.MatchOptions`
the error crops of one type -- FP inference crops, FN label crops, or the label crops of
confusion pairs -- are taken, and the graph is *restricted* to them: an edge survives
when both ends are errors of that type. The restricted graph, as a sparse matrix of
cosine distances, is clustered by scikit-learn's DBSCAN (``metric="precomputed"``; a
sparse matrix means absent entries are not neighbours), so nothing is re-searched when a
slider moves and a re-cluster costs a few array operations plus DBSCAN on the errors.

Why this finds patterns and not noise: a crop is a *core* point when at least
``min_samples`` of its ``k`` nearest crops (among *all* crops) are errors of the same
type. If errors fell at random with base rate ``p`` (errors of the type / all crops), the
number of error neighbours would be Binomial(k, p); ``min_samples`` is set to the
smallest count whose upper tail probability is below ``alpha`` (1e-3 by default), so a
core point is an error in a neighbourhood *significantly* richer in errors than
chance. Points that are not within reach of a core point are noise and belong to no
cluster; clusters smaller than ``min_cluster_size`` are noise too. Edges longer than
``eps`` (a high quantile of all graph distances, a scale independent of the thresholds)
are dropped so far-apart outliers never link.

Each cluster is described by its class mix (and label -> inference class pairs for
confusions), the frame-metadata values over-represented against all crops of its
classes and source (share in / share out / lift), its most typical members (nearest the
normalised mean vector) and the frames involved, and ranked by a score that grows with
how much it explains (share of the type's errors), mean confidence, tightness (mean
cosine similarity to the centre) and concentration (share of its most over-represented
value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.stats import binom

from aquaembed.errors import ParameterError

__all__ = ["CUSTOM_METRIC_CLUSTERS", "ERROR_KINDS", "CropGraph", "cluster_rows", "core_threshold", "describe_clusters", "restrict_graph"]

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


def restrict_graph(graph: CropGraph, rows: np.ndarray, *, eps: float | None = None) -> sp.csr_matrix:
    """The sub-graph among ``rows``: a symmetric sparse matrix of cosine distances.

    Parameters
    ----------
    graph : CropGraph
    rows : int array, shape (m,)
        Distinct crop-index rows (the members).
    eps : float, optional
        Drop edges whose distance exceeds it.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (m, m)
        Entry ``[i, j]`` is the distance (``1 - similarity``, at least 1e-9 so that it is
        stored) when ``rows[j]`` is among the neighbours of ``rows[i]`` or the converse;
        the diagonal is stored as explicit zeros, and each row's entries are stored by
        increasing distance.
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = graph.neighbors.shape[0]
    pos = np.full(n + 1, -1, dtype=np.int64)  # index n stands for the -1 padding
    pos[rows] = np.arange(rows.size)
    nb = np.asarray(graph.neighbors[rows], dtype=np.int64)
    nb = np.where(nb < 0, n, nb)
    col = pos[nb]
    dist = 1.0 - np.asarray(graph.similarity[rows], dtype=np.float64)
    keep = col >= 0
    if eps is not None:
        keep &= dist <= eps
    r = np.broadcast_to(np.arange(rows.size)[:, None], col.shape)[keep]
    d = np.maximum(dist[keep], 1e-9)
    m = sp.csr_matrix((d, (r, col[keep])), shape=(rows.size, rows.size))
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
    if not 0.0 <= base_rate <= 1.0:
        raise ParameterError(f"base_rate must lie in [0, 1], got {base_rate!r}", parameter="base_rate")
    m = np.arange(k + 2)
    tail = binom.sf(m - 1, k, base_rate)  # P(X >= m)
    ok = np.flatnonzero(tail <= alpha)
    need = int(ok[0]) if ok.size else k + 1
    return max(floor, need)


def cluster_rows(
    graph: CropGraph,
    rows: np.ndarray,
    *,
    base_rate: float,
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
    base_rate : float
        Share of all graph crops that are errors of this type (the chance level).
    min_cluster_size : int
        Smaller clusters become noise.
    alpha : float
        Chance-level tail probability that sets ``min_samples`` (see the module docstring).
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
    eps = graph.distance_scale() if eps is None else float(eps)
    dist = restrict_graph(graph, rows, eps=eps)
    need = core_threshold(graph.k, base_rate, alpha=alpha)
    # DBSCAN counts the point itself among its min_samples neighbours
    raw = DBSCAN(eps=eps, min_samples=need + 1, metric="precomputed").fit_predict(dist)
    ids, sizes = np.unique(raw[raw >= 0], return_counts=True)
    big = ids[sizes >= min_cluster_size]
    order = big[np.argsort(-sizes[sizes >= min_cluster_size], kind="stable")]
    remap = np.full(int(raw.max()) + 2 if raw.size else 1, -1, dtype=np.int64)
    remap[order] = np.arange(order.size)
    labels = np.where(raw >= 0, remap[np.maximum(raw, 0)], -1)
    return labels


def _over_represented(
    member_frames: np.ndarray,
    ref_frames: np.ndarray,
    metadata: Mapping[str, np.ndarray],
    *,
    min_share: float = 0.25,
    min_lift: float = 1.5,
    top: int = 5,
) -> list[dict[str, Any]]:
    """Metadata values whose share among the members beats their share among the rest."""
    out: list[dict[str, Any]] = []
    for field, col in metadata.items():
        values, codes = np.unique(np.asarray(col).astype(str), return_inverse=True)
        if values.size < 2 or values.size > 200:
            continue
        inside = np.bincount(codes[member_frames], minlength=values.size)
        ref = np.bincount(codes[ref_frames], minlength=values.size) - inside
        n_in, n_ref = int(member_frames.size), int(ref.sum())
        if n_in == 0 or n_ref <= 0:
            continue
        share, share_rest = inside / n_in, ref / n_ref
        with np.errstate(divide="ignore", invalid="ignore"):
            lift = np.where(share_rest > 0, share / np.maximum(share_rest, 1e-12), np.inf)
        for v in np.flatnonzero((share >= min_share) & (lift >= min_lift)):
            out.append(
                {
                    "field": field,
                    "value": str(values[v]),
                    "share": round(float(share[v]), 4),
                    "share_rest": round(float(share_rest[v]), 4),
                    "lift": round(float(min(lift[v], 1e6)), 3),
                }
            )
    out.sort(key=lambda r: (-r["share"] * np.log1p(r["lift"]), r["field"], r["value"]))
    return out[:top]


def describe_clusters(
    kind: str,
    labels: np.ndarray,
    rows: np.ndarray,
    *,
    vectors: np.ndarray,
    source: str,
    ids: np.ndarray,
    cls: np.ndarray,
    frame_rows: np.ndarray,
    score: np.ndarray | None,
    ref_frame_rows: np.ndarray,
    ref_cls: np.ndarray,
    class_names: Sequence[str],
    frame_ids: np.ndarray,
    metadata: Mapping[str, np.ndarray],
    n_errors: int,
    other_cls: np.ndarray | None = None,
    typical: int = 8,
) -> list[dict[str, Any]]:
    """Describe and score the clusters of one error type (the report's cluster records).

    Parameters
    ----------
    kind : {"FP", "FN", "confusion"}
    labels : int array, shape (m,)
        From :func:`cluster_rows`.
    rows : int array, shape (m,)
        Crop-index rows of the members.
    vectors : float32 array, shape (m, d)
        Their L2-normalised embeddings.
    source : {"pred", "label"}
    ids, cls, frame_rows : int arrays, shape (m,)
        Crop id (inference index or label id), class index and frame row of each.
    score : float array, shape (m,), optional
        Inference confidence (None for label crops).
    ref_frame_rows, ref_cls : int arrays
        Frame rows and classes of *all* crops of this source (the reference for lifts).
    class_names : list of str
    frame_ids : int array, shape (F,)
        Frame id of each frame row.
    metadata : mapping of field to array, shape (F,)
    n_errors : int
        Errors of this type (the denominator of a cluster's share).
    other_cls : int array, shape (m,), optional
        Confusions: the class of the matched inference.
    typical : int
        Members listed as typical.
    """
    out: list[dict[str, Any]] = []
    tag = "pred" if source == "pred" else "label"
    for c in range(int(labels.max()) + 1 if labels.size else 0):
        members = np.flatnonzero(labels == c)
        v = vectors[members].astype(np.float64)
        centre = v.mean(axis=0)
        norm = np.linalg.norm(centre)
        centre = centre / norm if norm > 0 else centre
        sim = v @ centre
        order = np.argsort(-sim, kind="stable")
        present = np.unique(cls[members])
        ref = np.isin(ref_cls, present)
        over = _over_represented(frame_rows[members], ref_frame_rows[ref], metadata)
        names, counts = np.unique(cls[members], return_counts=True)
        classes = {class_names[int(n)]: int(k) for n, k in sorted(zip(names, counts), key=lambda t: -t[1])}
        tightness = float(np.clip(sim.mean(), 0.0, 1.0))
        conf = float(np.nanmean(score[members])) if score is not None else 1.0
        concentration = max((r["share"] for r in over), default=0.0)
        share = members.size / max(n_errors, 1)
        value = float(np.sqrt(share) * tightness * conf * (0.5 + 0.5 * concentration))
        rec: dict[str, Any] = {
            "type": kind,
            "size": int(members.size),
            "score": round(value, 4),
            "share_of_errors": round(share, 4),
            "mean_confidence": None if score is None else round(conf, 4),
            "tightness": round(tightness, 4),
            "classes": classes,
            "crops": [{"source": tag, "id": int(i)} for i in ids[members].tolist()],
            "over_represented": over,
            "typical": [{"source": tag, "id": int(i)} for i in ids[members[order[:typical]]].tolist()],
            "frames": sorted(set(frame_ids[frame_rows[members]].tolist())),
        }
        if other_cls is not None:
            pairs, pc = np.unique(cls[members] * (len(class_names) + 1) + other_cls[members], return_counts=True)
            k = len(class_names) + 1
            rec["pairs"] = {
                f"{class_names[int(p) // k]}->{class_names[int(p) % k]}": int(n)
                for p, n in sorted(zip(pairs, pc), key=lambda t: -t[1])
            }
        out.append(rec)
    return out
