"""Training-set coverage: how close every evaluated frame and label crop is to the training set.

A model that is good only near its training data shows it here: metrics by bins of
similarity to the nearest training frame, near-duplicates (leakage) listed, and per
metadata value the share of frames that have a near-duplicate in the training set.
Similarities are cosine similarities from the training set's FAISS indexes, so the two
datasets must be embedded the same way (same embedder, same dimension).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aquaembed.embeddings.index import VectorIndex
from aquaembed.errors import InputError, ParameterError
from aquaembed.matching import MatchTable
from aquaembed.metrics import FrameMatrices, SliceReport, json_value

__all__ = ["CUSTOM_METRIC_LABEL_CROPS", "DEFAULT_BINS", "coverage_report", "nearest"]

CUSTOM_METRIC_LABEL_CROPS = (
    "no recall by label-crop similarity under a custom metric: its per-frame matrices do not say which label was found"
)
"""Why the coverage of a custom metric has no ``label_crops``."""

DEFAULT_BINS: tuple[float, ...] = (-1.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0)
"""Edges of the similarity bins (the last bin is closed)."""


def nearest(index: VectorIndex, vectors: np.ndarray, *, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Similarity to, and id of, the nearest stored vector of each query.

    Returns
    -------
    similarity : float32 array, shape (m,)
    ids : int64 array, shape (m,)
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or (vectors.shape[0] and vectors.shape[1] != index.dim):
        raise InputError(
            f"the training set's embeddings have dimension {index.dim}, the evaluated ones "
            f"{vectors.shape[1] if vectors.ndim == 2 else '?'}: embed both the same way"
        )
    if vectors.shape[0] == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    sims, ids = index.search(vectors, 1, subset=subset)
    return sims[:, 0], ids[:, 0]


def _bins(sim: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64)
    return np.clip(np.searchsorted(e, sim, side="right") - 1, 0, e.size - 2)


def coverage_report(
    table: MatchTable | FrameMatrices,
    *,
    train: str,
    frame_sim: np.ndarray,
    frame_nearest: np.ndarray,
    frame_ids: np.ndarray,
    metadata: Mapping[str, np.ndarray],
    label_sim: np.ndarray | None = None,
    label_hit: np.ndarray | None = None,
    near_duplicate: float = 0.98,
    bins: Sequence[float] = DEFAULT_BINS,
    max_listed: int = 1000,
) -> dict[str, Any]:
    """The report's ``coverage`` section.

    Parameters
    ----------
    table : MatchTable or FrameMatrices
        The evaluated dataset's match table, or a custom metric's per-frame matrices.
    train : str
        Name of the training dataset.
    frame_sim, frame_nearest : arrays, shape (F,)
        Per frame row: similarity to the nearest training frame and that frame's id.
    frame_ids : int array, shape (F,)
    metadata : mapping of field to array, shape (F,)
    label_sim : float array, shape (L,), optional
        Per label row: similarity to the nearest training label crop.
    label_hit : bool array, shape (L,), optional
        Per label row: matched to a same-class inference (a TP).
    near_duplicate : float
        Frames at least this similar to a training frame are listed as near-duplicates.
    bins : edges of the similarity bins

    Returns
    -------
    dict with ``train``, ``near_duplicate_threshold``, ``near_duplicates`` (most
    similar first), ``by_similarity`` (frames and metrics per bin), ``label_crops``
    (recall by crop-similarity bin) and ``by_slice`` (per metadata value: frames, mean
    similarity, share of near-duplicates)
    """
    if not 0.0 < float(near_duplicate) <= 1.0:
        raise ParameterError(f"near_duplicate must lie in (0, 1], got {near_duplicate!r}", parameter="near_duplicate")
    sim = np.asarray(frame_sim, dtype=np.float64)
    groups = _bins(sim, bins)
    n_bins = len(bins) - 1
    fm = table if isinstance(table, FrameMatrices) else FrameMatrices.from_table(table)
    known = np.isfinite(sim)
    groups = np.where(known, groups, -1)
    rep = SliceReport(fm.grouped(groups, n_bins), tuple(str(i) for i in range(n_bins)),
                      np.bincount(groups[known], minlength=n_bins))
    by_sim = [{"bin": [float(bins[i]), float(bins[i + 1])], **row} for i, row in enumerate(rep.to_json())]
    for row in by_sim:
        row.pop("value", None)
    dup = np.flatnonzero(sim >= near_duplicate)
    dup = dup[np.lexsort((frame_ids[dup], -sim[dup]))]
    near = [
        {"frame": int(frame_ids[i]), "train_frame": int(frame_nearest[i]), "similarity": round(float(sim[i]), 4)}
        for i in dup[:max_listed].tolist()
    ]
    by_slice: list[dict[str, Any]] = []
    for field, col in metadata.items():
        values, codes = np.unique(np.asarray(col).astype(str), return_inverse=True)
        if values.size < 2 or values.size > 50:
            continue
        n = np.bincount(codes, minlength=values.size)
        mean = np.bincount(codes, weights=sim, minlength=values.size) / np.maximum(n, 1)
        share = np.bincount(codes, weights=(sim >= near_duplicate).astype(float), minlength=values.size) / np.maximum(n, 1)
        for v in np.argsort(-share, kind="stable").tolist():
            by_slice.append(
                {
                    "field": field,
                    "value": str(values[v]),
                    "frames": int(n[v]),
                    "mean_similarity": round(float(mean[v]), 4),
                    "near_duplicate_share": round(float(share[v]), 4),
                }
            )
    by_slice.sort(key=lambda r: (-r["near_duplicate_share"], -r["mean_similarity"]))
    out: dict[str, Any] = {
        "train": train,
        "near_duplicate_threshold": near_duplicate,
        "frames_with_near_duplicate": int(dup.size),
        "near_duplicates": near,
        "by_similarity": by_sim,
        "by_slice": by_slice,
    }
    if label_sim is not None and label_hit is not None:
        ls = np.asarray(label_sim, dtype=np.float64)
        known = np.isfinite(ls)
        lg = _bins(ls[known], bins)
        n = np.bincount(lg, minlength=n_bins)
        hits = np.bincount(lg, weights=np.asarray(label_hit, dtype=float)[known], minlength=n_bins)
        out["label_crops"] = [
            {"bin": [float(bins[i]), float(bins[i + 1])], "labels": int(n[i]), "recall": json_value(hits[i] / n[i] if n[i] else np.nan)}
            for i in range(n_bins)
        ]
    return out
