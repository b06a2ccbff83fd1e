"""Datasets on disk: Parquet tables, memory-mapped embeddings, artefacts and a manifest."""

from __future__ import annotations

from aquaembed.store.core import MANIFEST, SCHEMA_VERSION, Store, StoredDataset

__all__ = ["MANIFEST", "SCHEMA_VERSION", "Store", "StoredDataset"]
