"""Analyses derived from match tables and embeddings: selections, slices, clusters, label issues."""
