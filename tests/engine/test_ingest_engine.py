"""Ingest on an engine: the embedder per shard, IVF-PQ filled in tasks, placement in tasks;
the Ray engine gives exactly what the local engine gives."""

from __future__ import annotations

import functools
import json

import faiss
import numpy as np
import pytest
from PIL import Image

from aquaembed.artifacts import CROP_INDEX
from aquaembed.embeddings.index import VectorIndex
from aquaembed.embeddings.projection import _place
from aquaembed.engine import LocalEngine
from aquaembed.engine.ingest import build_ivfpq, engine_placer
from aquaembed.ingest import build_artifacts, ingest
from aquaembed.store import Store

ENGINES = ["local", "ray"]


@pytest.fixture
def engine(request, ray_engine):
    return ray_engine if request.param == "ray" else LocalEngine(threads=2)


@pytest.fixture(scope="module")
def images_gt(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(5)
    images, anns = [], []
    for i in range(24):
        arr = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(root / f"f{i}.png")
        images.append({"id": 100 + i, "file_name": f"f{i}.png", "width": 64, "height": 48})
        for j in range(i % 4):
            anns.append({"id": 1000 + 10 * i + j, "image_id": 100 + i, "category_id": 1 + j % 2,
                         "bbox": [2.0 + 5 * j, 3.0, 20.0, 15.0], "area": 300.0, "iscrowd": 0})
    gt = {"images": images, "annotations": anns[::-1],  # labels not in frame order
          "categories": [{"id": 1, "name": "fish"}, {"id": 2, "name": "diver"}]}
    (root / "gt.json").write_text(json.dumps(gt))
    return root


@pytest.mark.slow
def test_embedder_per_shard_ray_equals_local_and_one_process(images_gt, ray_engine, tmp_path):
    got = {}
    for name, eng in (("plain", None), ("local", LocalEngine(threads=2)), ("ray", ray_engine)):
        sd = ingest(tmp_path / name, "fish", gt=images_gt / "gt.json", images=images_gt, build=False,
                    engine=eng, shards=3 if eng is not None else None)
        got[name] = {k: sd.embeddings(k) for k in ("frame", "label")}
    for k in ("frame", "label"):
        ids_l, vec_l = got["local"][k]
        ids_r, vec_r = got["ray"][k]
        np.testing.assert_array_equal(ids_r, ids_l)
        np.testing.assert_array_equal(np.asarray(vec_r), np.asarray(vec_l))
        ids_p, vec_p = got["plain"][k]
        np.testing.assert_array_equal(ids_p, ids_l)
        np.testing.assert_allclose(np.asarray(vec_p), np.asarray(vec_l), rtol=0, atol=1e-5)


def _clustered(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, d))
    x = (centres[rng.integers(0, 40, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    faiss.normalize_L2(x)
    return x


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_ivfpq_filled_in_tasks_equals_one_fill(engine):
    x = _clustered(5_000, 32, 1)
    built = build_ivfpq(engine, x, shards=3, seed=0, train_size=3_000)
    one = build_ivfpq(LocalEngine(threads=1), x, shards=1, seed=0, train_size=3_000)
    q = x[:50]
    d1, i1 = built.index.search(q, 10)
    d2, i2 = one.index.search(q, 10)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(d1, d2)
    assert built.index.ntotal == x.shape[0]
    assert built.recall_at_10 == one.recall_at_10
    # an independent recall: brute force over the same queries
    flat = faiss.IndexFlatIP(32)
    flat.add(x)
    queries = x[np.random.default_rng(9).choice(len(x), 300, replace=False)]
    _, truth = flat.search(queries, 10)
    _, approx = built.index.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) for a, b in zip(truth, approx)]) / 10
    assert recall > 0.3 and abs(built.recall_at_10_codes - recall) < 0.1


def test_reranked_recall_against_brute_force():
    from aquaembed.embeddings.rerank import rerank_search

    x = _clustered(6_000, 32, 4)
    built = build_ivfpq(LocalEngine(threads=2), x, shards=2, seed=0, train_size=4_000, m=4, refine=10)
    flat = faiss.IndexFlatIP(32)
    flat.add(x)
    queries = x[np.random.default_rng(3).choice(len(x), 300, replace=False)]
    d_true, truth = flat.search(queries, 10)
    d_got, got = rerank_search(built.index, np.asarray(x), queries, 10, refine=10)
    _, codes = built.index.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) for a, b in zip(truth, got)]) / 10
    recall_codes = np.mean([len(set(a) & set(b)) for a, b in zip(truth, codes)]) / 10
    assert recall >= 0.9 and recall > recall_codes  # 4-byte codes alone miss most neighbours
    assert built.recall_at_10 >= 0.9 and abs(built.recall_at_10 - recall) < 0.05
    # re-ranked scores are exact inner products, best first
    np.testing.assert_allclose(d_got, np.einsum("qkd,qd->qk", x[got], queries), rtol=1e-5)
    assert np.all(np.diff(d_got, axis=1) <= 0)


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_placement_in_tasks_is_bit_identical(engine, monkeypatch):
    import aquaembed.embeddings.projection as proj

    monkeypatch.setattr(proj, "PLACE_CHUNK", 700)  # several chunks, as at scale
    x = _clustered(3_000, 16, 2)
    sample = VectorIndex.build(np.arange(400), x[:400], kind="exact")
    coords = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32)
    want = _place(x[400:], sample, coords, 15)
    got = engine_placer(engine)(x[400:], sample, coords, 15)
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_crop_index_becomes_ivfpq_above_threshold(images_gt, ray_engine, tmp_path):
    from factories import quick_projection

    ingest(tmp_path, "fish", gt=images_gt / "gt.json", build=False)
    sd = Store(tmp_path).open("fish")
    rng = np.random.default_rng(0)
    n = len(sd.dataset.labels)
    sd.set_embeddings("label", sd.dataset.labels.id, rng.normal(size=(n, 16)))
    lines: list[str] = []
    build_artifacts(sd, engine=ray_engine, shards=2, ivfpq_min=10, progress=lines.append, projector=quick_projection)
    assert any("IVF-PQ" in line and "recall@10" in line for line in lines)
    index = VectorIndex.load(Store(tmp_path).open("fish").artifact_path(CROP_INDEX) / "index.faiss")
    assert len(index) == n and "IVFPQ" in type(faiss.downcast_index(index._index)).__name__


@pytest.mark.slow
def test_cli_ingest_on_ray_equals_local(images_gt, ray_engine, tmp_path, monkeypatch):
    import aquaembed.ingest as ingest_mod
    from aquaembed.cli import main
    from factories import quick_projection

    monkeypatch.setattr(ingest_mod, "build_artifacts", functools.partial(ingest_mod.build_artifacts, projector=quick_projection))
    for name, extra in (("a", ["--shards", "2"]), ("b", ["--engine", "ray", "--shards", "2"])):
        assert main(["ingest", "--data", str(tmp_path / name), "--name", "fish", "--gt", str(images_gt / "gt.json"),
                     "--images", str(images_gt), *extra]) == 0
    a, b = Store(tmp_path / "a").open("fish"), Store(tmp_path / "b").open("fish")
    for kind in ("frame", "label"):
        np.testing.assert_array_equal(np.asarray(a.embeddings(kind)[1]), np.asarray(b.embeddings(kind)[1]))
    assert a.manifest.embeddings["label"]["vectors"]["sha256"] == b.manifest.embeddings["label"]["vectors"]["sha256"]
