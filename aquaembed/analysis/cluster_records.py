"""The records of failure clusters: what a cluster holds, why it stands out, how it ranks.

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
from typing import Any

import numpy as np

__all__ = ["describe_clusters"]


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
