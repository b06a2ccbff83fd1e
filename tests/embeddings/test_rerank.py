"""A compressed (IVF-PQ) index re-ranks every search on the full vectors: served similarity,
neighbours, the kNN graph; checked against brute-force kNN on clustered vectors."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest
from fastapi.testclient import TestClient

from aquaembed.artifacts import CROP_INDEX, CROP_KNN
from aquaembed.embeddings.index import VectorIndex
from aquaembed.embeddings.rerank import DEFAULT_REFINE, RowStack, rerank_search
from aquaembed.engine import LocalEngine
from aquaembed.engine.ingest import build_ivfpq
from aquaembed.errors import InputError
from aquaembed.explore import Workspace
from aquaembed.ingest import build_artifacts, ingest
from aquaembed.service import Settings, create_app
from aquaembed.store import Store
from factories import quick_projection

API = "/api/v1"
N, D = 3000, 32


def _clustered(n: int = N, d: int = D, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, d))
    return (centres[rng.integers(0, 40, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute(x: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Rows of each query's k most similar others (cosine), by numpy."""
    u = _unit(x.astype(np.float64))
    sims = u[queries] @ u.T
    sims[np.arange(queries.size), queries] = -np.inf
    if allowed is not None:
        sims[:, ~allowed] = -np.inf
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def _recall(truth: np.ndarray, got: np.ndarray) -> float:
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) for a, b in zip(truth, got)]) / truth.shape[1])


@pytest.fixture(scope="module")
def pq() -> tuple[np.ndarray, VectorIndex]:
    x = _clustered()
    u = _unit(x)
    built = build_ivfpq(LocalEngine(threads=1), u, shards=2, seed=0)
    faiss.extract_index_ivf(built.index).make_direct_map()
    return x, VectorIndex(built.index, np.arange(N, dtype=np.int64), {"g": np.arange(N) % 3}, "ivf")


def test_rowstack_gathers_as_the_concatenation() -> None:
    parts = [np.arange(12, dtype=np.float32).reshape(4, 3), np.arange(6, dtype=np.float32).reshape(2, 3) + 100]
    stack = RowStack(parts)
    rows = np.array([5, 0, 3, 4, 4])
    np.testing.assert_array_equal(stack[rows], np.concatenate(parts)[rows])
    assert stack.shape == (6, 3) and len(stack) == 6


def test_search_ids_reranked_against_brute_force(pq) -> None:
    x, index = pq
    q = np.random.default_rng(1).choice(N, 200, replace=False)
    truth = _brute(x, q, 10)
    assert index.lossy and not index.reranks
    codes = _recall(truth, index.search_ids(q, 10)[1])
    index.attach_vectors(x)  # raw (not normalised) stored embeddings, as served
    try:
        sims, got = index.search_ids(q, 10)
        served = _recall(truth, got)
        assert served >= 0.9 and codes < served - 0.2, (served, codes)
        # similarities are exact cosines, best first; the query vectors are the full ones
        u = _unit(x.astype(np.float64))
        np.testing.assert_allclose(sims, np.einsum("qkd,qd->qk", u[got], u[q]), atol=1e-5)
        assert np.all(np.diff(sims, axis=1) <= 1e-7)
        np.testing.assert_allclose(index.vectors(q[:5]), u[q[:5]], atol=1e-6)
        # refine per search: 1 candidate per neighbour is the codes' own top k, re-scored
        assert _recall(truth, index.search_ids(q, 10, refine=1)[1]) < served
        # a subset: only members come back, re-ranked (both the gathered and the selector path)
        allowed = index.where(g=[0, 1])
        for gather in (index.subset_gather_max, 0):
            index.subset_gather_max = gather
            _, sub = index.search_ids(q[:50], 10, subset=allowed)
            assert allowed[sub].all() and _recall(_brute(x, q[:50], 10, allowed), sub) >= 0.9
        index.subset_gather_max = 32_768
    finally:
        index._full = None


def test_rerank_search_and_refine_persist(pq, tmp_path: Path) -> None:
    x, index = pq
    u = _unit(x)
    scores, rows = rerank_search(index._index, x, u[:3], 4, refine=DEFAULT_REFINE)
    np.testing.assert_allclose(scores, np.einsum("qkd,qd->qk", u[rows], u[:3]), atol=1e-5)
    index.refine = 7
    index.save(tmp_path / "i.faiss")
    index.refine = DEFAULT_REFINE
    loaded = VectorIndex.load(tmp_path / "i.faiss", vectors=x)
    assert loaded.refine == 7 and loaded.reranks
    with pytest.raises(InputError, match="full vectors"):
        loaded.attach_vectors(x[:10])
    exact = VectorIndex.build(np.arange(50), x[:50])
    exact.attach_vectors(x[:50])
    assert not exact.lossy and not exact.reranks  # exact indexes hold the vectors themselves


@pytest.fixture(scope="module")
def pq_store(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A labels-only dataset of N clustered label crops whose crop index is IVF-PQ."""
    root = tmp_path_factory.mktemp("pqstore")
    frames = N // 10
    images = [{"id": 1 + i, "file_name": f"f{i}.jpg", "width": 640, "height": 480} for i in range(frames)]
    anns = [{"id": 10_000 + j, "image_id": 1 + j // 10, "category_id": 1, "bbox": [5.0 * (j % 10), 10.0, 30.0, 20.0],
             "area": 600.0, "iscrowd": 0} for j in range(N)]
    (root / "gt.json").write_text(json.dumps({"images": images, "annotations": anns,
                                              "categories": [{"id": 1, "name": "fish"}]}))
    sd = ingest(root / "data", "pq", gt=root / "gt.json", build=False)
    x = _clustered()
    ids = np.asarray(sd.dataset.labels.id)
    sd.set_embeddings("label", ids, x)
    build_artifacts(sd, engine=LocalEngine(threads=1), shards=2, ivfpq_min=10, projector=quick_projection)
    return root / "data", ids, x


def test_served_similarity_reranks(pq_store) -> None:
    data, ids, x = pq_store
    sd = Store(data).open("pq")
    raw = VectorIndex.load(sd.artifact_path(CROP_INDEX) / "index.faiss")
    assert raw.lossy and raw.refine == DEFAULT_REFINE
    q = np.random.default_rng(2).choice(N, 40, replace=False)
    truth = ids[_brute(x, q, 10)]  # crop-index rows are the label rows (one source)
    codes = _recall(truth, ids[raw.search_ids(q, 10)[1]])
    view = Workspace(data).get("pq")
    index = view.index("crop")
    assert index.reranks
    # gather 0: the subset (all labels but the query) is probed with a selector, as at scale
    # (beyond 32k members); the default scans a small subset's full vectors exactly
    for gather in (0, index.subset_gather_max):
        index.subset_gather_max = gather
        got = np.array([[nb["id"] for nb in view.similar("crop", int(ids[r]), k=10)["neighbors"]] for r in q])
        served = _recall(truth, got)
        assert served >= 0.9 and codes < served - 0.2, (gather, served, codes)
    with TestClient(create_app(Settings(data_dir=data), dashboard=False), base_url="http://127.0.0.1") as c:
        for i, r in enumerate(q[:5]):
            res = c.get(f"{API}/datasets/pq/similar", params={"kind": "crop", "id": int(ids[r]), "k": 10})
            assert res.status_code == 200
            assert [nb["id"] for nb in res.json()["neighbors"]] == got[i].tolist()
    # the kNN graph built at ingest (failure clusters, UMAP) re-ranked the same way
    graph = np.asarray(sd.load_array(CROP_KNN))
    assert _recall(_brute(x, q, 10), graph[q, :10]) >= 0.9


def test_stored_vectors_of_a_kind_without_embeddings_is_none(pq_store) -> None:
    """Crops embedded without keeping their vectors (only the index) cannot be re-ranked:
    the index then searches its codes alone instead of failing (benchmarks/bench_report.py
    builds such a store)."""
    from aquaembed.embeddings.rerank import stored_vectors

    data, ids, x = pq_store
    sd = Store(data).open("pq")
    full = stored_vectors(sd, ["label"])
    assert full is not None and full.shape == x.shape
    assert stored_vectors(sd, ["label", "pred-none"]) is None
