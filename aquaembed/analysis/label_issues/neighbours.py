"""Label-crop neighbours (FAISS) of the label and inference crops: the kNN evidence of the label-issue scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from aquaembed.data import Dataset, Inferences

__all__ = ["Neighbours", "crop_neighbours"]


@dataclass(frozen=True)
class Neighbours:
    """Label-crop neighbours of the label crops and of (some) inference crops.

    Attributes
    ----------
    label_cls, label_sim : arrays of shape (L, k)
        Class index and cosine similarity of each label's nearest *other* label crops;
        class -1 (and similarity NaN) where a neighbour is missing (or the label has no crop).
    pred_cls, pred_sim : arrays of shape (N, k)
        The same for inference crops (rows never searched are all -1).
    """

    label_cls: np.ndarray
    label_sim: np.ndarray
    pred_cls: np.ndarray
    pred_sim: np.ndarray


def crop_neighbours(
    index: Any,
    crop_table: np.ndarray,
    sources: list[str],
    dataset: Dataset,
    inferences: Inferences,
    model: str,
    *,
    k: int = 10,
    pred_min_score: float = 0.1,
) -> Neighbours:
    """Label-crop neighbours (FAISS) of every label crop and of the confident inference crops.

    Parameters
    ----------
    index : VectorIndex
        The crop index; its ids are crop-table rows.
    crop_table : int64 array, shape (n, 2)
        ``[source code, id]`` per crop-index row; ``sources`` names the codes.
    model : str
        The inference set whose crops (``pred-<model>``) are queried.
    k : int
        Neighbours per crop.
    pred_min_score : float
        Inference crops below this confidence are not searched (they cannot score high).

    Returns
    -------
    Neighbours
    """
    labels = dataset.labels
    n_l, n_p = len(labels), len(inferences)
    out_l = np.full((n_l, k), -1, dtype=np.int64)
    out_ls = np.full((n_l, k), np.nan, dtype=np.float32)
    out_p = np.full((n_p, k), -1, dtype=np.int64)
    out_ps = np.full((n_p, k), np.nan, dtype=np.float32)
    if "label" not in sources:
        return Neighbours(out_l, out_ls, out_p, out_ps)
    is_label = crop_table[:, 0] == sources.index("label")
    label_rows = np.flatnonzero(is_label)
    order = np.argsort(labels.id, kind="stable")
    pos = np.clip(np.searchsorted(labels.id[order], crop_table[label_rows, 1]), 0, max(n_l - 1, 0))
    row_of_crop = np.full(crop_table.shape[0], -1, dtype=np.int64)
    if n_l:
        found = labels.id[order][pos] == crop_table[label_rows, 1]
        row_of_crop[label_rows[found]] = order[pos][found]

    def classes(nb: np.ndarray) -> np.ndarray:
        lab = np.where(nb >= 0, row_of_crop[np.maximum(nb, 0)], -1)
        return np.where(lab >= 0, labels.cls[np.maximum(lab, 0)], -1)

    if label_rows.size:
        # one label-only index (read back from the crop index) answers every query with a
        # plain scan, far faster than a selector over the whole crop index (FAISS is in the
        # app extra: imported here, so the scores themselves need only the core)
        from aquaembed.embeddings.index import VectorIndex

        sub = VectorIndex.build(label_rows, index.vectors(label_rows))
        sims, nb = sub.search_ids(label_rows, k)
        lab = row_of_crop[label_rows]
        ok = lab >= 0
        out_l[lab[ok]] = classes(nb)[ok]
        out_ls[lab[ok]] = sims[ok]
        want = f"pred-{model}"
        if want in sources:
            pred_rows = np.flatnonzero(crop_table[:, 0] == sources.index(want))
            pid = crop_table[pred_rows, 1]
            hot = (pid >= 0) & (pid < n_p)
            hot[hot] = inferences.score[pid[hot]] >= pred_min_score
            if hot.any():
                sims, nb = sub.search(index.vectors(pred_rows[hot]), k)
                out_p[pid[hot]] = classes(nb)
                out_ps[pid[hot]] = sims
    return Neighbours(out_l, out_ls, out_p, out_ps)
