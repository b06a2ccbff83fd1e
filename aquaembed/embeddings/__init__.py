"""Embeddings: the built-in embedder, the FAISS vector index and the cached projection."""
