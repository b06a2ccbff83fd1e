"""The contract between ingest (which writes artefacts) and explore (which reads them).

Names of the stored artefacts, the crop sources of the crop index and the projection
kinds live here, so neither side imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aquaembed.store import StoredDataset

__all__ = [
    "BUILTIN_EMBEDDER", "FRAME_INDEX", "CROP_INDEX", "FRAME_PROJECTION", "CROP_PROJECTION", "CROP_TABLE",
    "PROJECTION_KINDS", "crop_sources", "CROP_KNN", "CROP_KNN_SIM",
]

FRAME_INDEX = "index-frame"
CROP_INDEX = "index-crop"
FRAME_PROJECTION = "projection-frame"
CROP_PROJECTION = "projection-crop"
CROP_TABLE = "crops"
"""Artefact names: the crop table is (n, 2) int64 ``[source, id]`` in index row order."""
CROP_KNN = "knn-crop"
CROP_KNN_SIM = "knn-crop-sim"
"""The crops' kNN graph (built from the crop index at ingest): (n, k) int32 neighbour rows
in crop-index order, most similar first (-1 padding), and their (n, k) float32 cosine
similarities (NaN padding); see :mod:`aquaembed.embeddings.graph`."""

BUILTIN_EMBEDDER = "aquaembed.embed"
"""How a manifest records embeddings made by the built-in embedder (kept as first written,
so stores made before the package moves still say what made their vectors)."""

PROJECTION_KINDS: tuple[str, ...] = ("frame", "crop")
"""What a projection or an index is built over: frames or crops (label and inference)."""


def crop_sources(sd: StoredDataset) -> list[str]:
    """Embedding kinds that make up the crop index, in source-code order.

    ``"label"`` first (code 0) when present, then ``"pred-<model>"`` in inference-set
    name order.
    """
    kinds = sd.embedding_kinds
    out = ["label"] if "label" in kinds else []
    out += sorted(k for k in kinds if k.startswith("pred-"))
    return out


