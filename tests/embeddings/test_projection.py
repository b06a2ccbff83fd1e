"""project(): determinism, cache, kNN sources, sampling, refusals. Small inputs: numba compile dominates."""

from __future__ import annotations

import numpy as np
import pytest

from aquaembed.embeddings import projection
from aquaembed.embeddings.index import VectorIndex
from aquaembed.embeddings.projection import cache_key, load_cached, project, project_with_info
from aquaembed.errors import InputError, ParameterError


def _blobs(n: int = 300, d: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((4, d)) * 4
    return (centers[rng.integers(0, 4, n)] + rng.standard_normal((n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return _blobs()


@pytest.fixture(scope="module")
def coords(x: np.ndarray) -> np.ndarray:
    return project(x, seed=3)


def test_shape_dtype_and_determinism(x: np.ndarray, coords: np.ndarray) -> None:
    assert coords.shape == (300, 2) and coords.dtype == np.float32
    assert np.isfinite(coords).all()
    np.testing.assert_array_equal(project(x, seed=3), coords)
    assert not np.array_equal(project(x, seed=4), coords)


def test_clusters_stay_apart(x: np.ndarray, coords: np.ndarray) -> None:
    from sklearn.manifold import trustworthiness

    assert trustworthiness(x, coords, n_neighbors=10) > 0.9


def test_cache_hit_on_second_call(tmp_path, x: np.ndarray, coords: np.ndarray, monkeypatch) -> None:
    first = project_with_info(x, seed=3, cache_dir=tmp_path)
    assert not first.cache_hit and first.path is not None and first.path.is_file()
    np.testing.assert_array_equal(first.coords, coords)
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]  # no temporary left over

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("UMAP ran although the projection was cached")

    monkeypatch.setattr(projection, "_umap_layout", fail)
    second = project_with_info(x.copy(), seed=3, cache_dir=tmp_path)
    assert second.cache_hit and second.key == first.key
    np.testing.assert_array_equal(second.coords, coords)
    np.testing.assert_array_equal(load_cached(tmp_path, first.key), coords)
    with pytest.raises(AssertionError, match="UMAP ran"):
        project(x, seed=4, cache_dir=tmp_path)  # another parameter: a miss


def test_cache_key_covers_content_and_parameters(x: np.ndarray) -> None:
    base = cache_key(x)
    assert cache_key(x.copy()) == base
    changed = x.copy()
    changed[0, 0] += 1e-3
    assert cache_key(changed) != base
    assert cache_key(x[:, :-1]) != base
    assert cache_key(x, seed=1) != base
    assert cache_key(x, n_neighbors=10) != base
    assert cache_key(x, min_dist=0.2) != base
    assert load_cached("/nonexistent/aquaembed", base) is None


def test_knn_sources_agree(x: np.ndarray, coords: np.ndarray) -> None:
    index = VectorIndex.build(np.arange(300) + 50, x, kind="exact")
    np.testing.assert_array_equal(project(x, seed=3, knn=index), coords)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = xn @ xn.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :15]
    order[:, 0] = np.arange(300)
    dists = np.clip(1 - np.take_along_axis(sims, order, 1), 0, 2).astype(np.float32)
    dists[:, 0] = 0
    got = project(x, seed=3, knn=(order, dists))
    assert got.shape == (300, 2) and np.isfinite(got).all()


def test_sampled_fit_places_every_point() -> None:
    x = _blobs(500, seed=1)
    coords = project(x, seed=0, sample_size=200)
    assert coords.shape == (500, 2) and np.isfinite(coords).all()
    np.testing.assert_array_equal(project(x, seed=0, sample_size=200), coords)
    from sklearn.manifold import trustworthiness

    assert trustworthiness(x, coords, n_neighbors=10) > 0.85


def test_bad_input_is_refused(x: np.ndarray) -> None:
    bad = x.copy()
    bad[5, 1] = np.nan
    with pytest.raises(InputError, match="row 5"):
        project(bad)
    with pytest.raises(InputError, match="2-d"):
        project(x[:, 0])
    with pytest.raises(InputError, match="at least 4"):
        project(np.empty((0, 8), np.float32))
    zero = x.copy()
    zero[2] = 0
    with pytest.raises(InputError, match="zero vector"):
        project(zero)
    with pytest.raises(ParameterError, match="n_neighbors"):
        project(x, n_neighbors=1)
    with pytest.raises(ParameterError, match="min_dist"):
        project(x, min_dist=-0.1)
    with pytest.raises(ParameterError, match="seed"):
        project(x, seed=-1)
    with pytest.raises(InputError, match="knn"):
        project(x, knn=(np.zeros((300, 3), np.int64), np.zeros((300, 3), np.float32)))
    with pytest.raises(InputError, match="index holds"):
        project(x, knn=VectorIndex.build(np.arange(10), x[:10]))
