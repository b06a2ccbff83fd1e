"""VectorIndex: parity with brute-force numpy, filtered search, persistence, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aquaembed.embeddings.index import VectorIndex
from aquaembed.errors import InputError, NotFoundError, ParameterError, StoreError


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute(db: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Top-k cosine similarities by numpy (float64), NaN-padded; row order of ``db``."""
    sims = _unit(q) @ _unit(db).T
    if allowed is not None:
        sims[:, ~allowed] = -np.inf
    top = -np.sort(-sims, axis=1)[:, :k]
    top[~np.isfinite(top)] = np.nan
    if top.shape[1] < k:
        top = np.hstack([top, np.full((top.shape[0], k - top.shape[1]), np.nan)])
    return top


def _check_against_brute(index: VectorIndex, db: np.ndarray, q: np.ndarray, sims: np.ndarray, ids: np.ndarray,
                         k: int, allowed: np.ndarray | None = None) -> None:
    """Similarities equal brute force (ties tolerated), and each returned id carries its similarity."""
    expected = _brute(db, q, k, allowed)
    np.testing.assert_allclose(sims, expected, atol=1e-5, equal_nan=True)
    assert ((ids == -1) == np.isnan(sims)).all()
    for i in range(q.shape[0]):
        got = ids[i][ids[i] >= 0]
        assert len(set(got.tolist())) == got.size, "an id is returned twice"
        rows = index.rows_of(got)
        if allowed is not None:
            assert allowed[rows].all(), "a result outside the subset"
        np.testing.assert_allclose(_unit(q[i : i + 1]) @ _unit(db[rows]).T, sims[i : i + 1, : got.size], atol=1e-5)


def _clustered(n: int, d: int, seed: int, n_clusters: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, d)) * 3
    return (centers[rng.integers(0, n_clusters, n)] + rng.standard_normal((n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = rng.permutation(np.arange(1000, 1600, dtype=np.int64) * 7)
    return ids, rng.standard_normal((600, 16)).astype(np.float32)


def test_exact_search_matches_brute_force(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, x = data
    index = VectorIndex.build(ids, x)
    assert index.kind == "exact"
    q = np.random.default_rng(1).standard_normal((25, 16)).astype(np.float32)
    sims, got = index.search(q, 10)
    assert sims.shape == got.shape == (25, 10) and sims.dtype == np.float32 and got.dtype == np.int64
    _check_against_brute(index, x, q, sims, got, 10)


def test_single_vector_query_and_k_larger_than_n() -> None:
    x = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    index = VectorIndex.build(np.arange(5), x)
    sims, ids = index.search(x[0], 8)
    assert sims.shape == (1, 8)
    assert ids[0, 0] == 0 and (ids[0, 5:] == -1).all() and np.isnan(sims[0, 5:]).all()
    _check_against_brute(index, x, x[:1], sims, ids, 8)


@given(st.integers(1, 40), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_search_property_any_shape(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct directions: lots of exact ties.
    x = rng.integers(-2, 3, size=(n, 3)).astype(np.float32)
    x[np.linalg.norm(x, axis=1) == 0] = 1.0
    index = VectorIndex.build(rng.permutation(n) + 10, x)
    sims, ids = index.search(x[:3], k)
    _check_against_brute(index, x, x[:3], sims, ids, k)


def test_search_ids_excludes_self(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, x = data
    index = VectorIndex.build(ids, x)
    query = ids[[3, 50, 599]]
    sims, got = index.search_ids(query, 5)
    assert sims.shape == (3, 5)
    assert not (got == query[:, None]).any()
    rows = index.rows_of(query)
    allowed = np.ones(len(x), bool)
    for i, r in enumerate(rows):
        allowed[:] = True
        allowed[r] = False
        np.testing.assert_allclose(sims[i], _brute(x, x[r : r + 1], 5, allowed)[0], atol=1e-5)
    sims_in, got_in = index.search_ids(query, 5, exclude_self=False)
    assert (got_in[:, 0] == query).all()
    np.testing.assert_allclose(sims_in[:, 0], 1.0, atol=1e-5)


def test_search_ids_keeps_identical_duplicates() -> None:
    x = np.array([[1, 0], [1, 0], [0, 1]], np.float32)
    index = VectorIndex.build([5, 6, 7], x)
    sims, ids = index.search_ids([5], 3)
    assert ids[0].tolist() == [6, 7, -1]
    assert np.isnan(sims[0, 2])


def test_unknown_id_raises(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, x = data
    index = VectorIndex.build(ids, x)
    with pytest.raises(NotFoundError, match="id 1 "):
        index.search_ids([ids[0], 1], 3)
    with pytest.raises(NotFoundError):
        index.search(x[:1], 3, subset=np.array([ids[0], 123456789]))


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_filtered_search_equals_restricted_brute_force(kind: str) -> None:
    x = _clustered(3000, 24, seed=3)
    ids = np.arange(3000, dtype=np.int64) + 100
    group = np.random.default_rng(4).integers(0, 6, 3000)
    index = VectorIndex.build(ids, x, attributes={"group": group}, kind=kind, nlist=30)
    assert index.kind == kind
    q = _clustered(20, 24, seed=5)
    # A small subset (2%): the IVF index probes every list, so the result is exact.
    small = index.where(group=2) & (np.arange(3000) % 8 == 0)
    sims, got = index.search(q, 10, subset=small)
    _check_against_brute(index, x, q, sims, got, 10, allowed=small)
    # The same subset given as ids.
    sims2, got2 = index.search(q, 10, subset=ids[small])
    np.testing.assert_array_equal(got2, got)
    # By stored id, restricted to two groups.
    mask = index.where(group=[0, 5])
    query = ids[:4]
    s3, g3 = index.search_ids(query, 6, subset=mask)
    assert mask[index.rows_of(g3[g3 >= 0])].all()
    assert not (g3 == query[:, None]).any()


def test_filtered_search_pads_when_subset_is_small(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, x = data
    index = VectorIndex.build(ids, x)
    sims, got = index.search(x[:2], 5, subset=ids[:3])
    assert set(got[0, :3].tolist()) == set(ids[:3].tolist())
    assert (got[:, 3:] == -1).all() and np.isnan(sims[:, 3:]).all()
    sims, got = index.search(x[:2], 5, subset=np.zeros(len(ids), bool))
    assert (got == -1).all() and np.isnan(sims).all()


def test_where_unknown_attribute(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, x = data
    index = VectorIndex.build(ids, x, attributes={"kind": np.zeros(len(ids), np.int8)})
    assert index.where(kind=0).all()
    with pytest.raises(NotFoundError, match="class_index"):
        index.where(class_index=1)


def test_ivf_recall_on_clustered_data() -> None:
    x = _clustered(8000, 32, seed=6, n_clusters=40)
    index = VectorIndex.build(np.arange(8000), x, kind="ivf")
    assert index.kind == "ivf" and index.nlist == round(2 * np.sqrt(8000))
    q = _clustered(200, 32, seed=7, n_clusters=40)
    _, got = index.search(q, 10)
    exact = np.argsort(-(_unit(q) @ _unit(x).T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact)])
    assert recall >= 0.95, recall


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_save_load_round_trip(tmp_path, kind: str) -> None:
    x = _clustered(2000, 16, seed=8)
    ids = np.arange(2000, dtype=np.int64) * 3
    attrs = {"kind": (np.arange(2000) % 2).astype(np.int8), "frame_id": np.arange(2000) // 4}
    index = VectorIndex.build(ids, x, attributes=attrs, kind=kind, nlist=20)
    path = tmp_path / "crops.faiss"
    index.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crops.faiss", "crops.faiss.meta.npz"]
    for mmap in (False, True):
        loaded = VectorIndex.load(path, mmap=mmap)
        assert loaded.kind == kind and len(loaded) == 2000 and loaded.nprobe == index.nprobe
        np.testing.assert_array_equal(loaded.ids, ids)
        for key, value in attrs.items():
            np.testing.assert_array_equal(loaded.attributes[key], value)
        for a, b in zip(index.search(x[:30], 7), loaded.search(x[:30], 7)):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(index.search_ids(ids[:30], 7, subset=index.where(kind=1)),
                        loaded.search_ids(ids[:30], 7, subset=loaded.where(kind=1))):
            np.testing.assert_array_equal(a, b)


def test_load_detects_mismatched_files(tmp_path) -> None:
    x = np.random.default_rng(9).standard_normal((50, 8)).astype(np.float32)
    VectorIndex.build(np.arange(50), x).save(tmp_path / "a.faiss")
    VectorIndex.build(np.arange(60), np.vstack([x, x[:10] + 1])).save(tmp_path / "b.faiss")
    (tmp_path / "b.faiss.meta.npz").replace(tmp_path / "a.faiss.meta.npz")
    with pytest.raises(StoreError, match="different saves"):
        VectorIndex.load(tmp_path / "a.faiss")
    with pytest.raises(NotFoundError):
        VectorIndex.load(tmp_path / "missing.faiss")


def test_bad_input_is_refused(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, x = data
    bad = x.copy()
    bad[7, 2] = np.nan
    with pytest.raises(InputError, match="row 7"):
        VectorIndex.build(ids, bad)
    with pytest.raises(InputError, match="zero vector"):
        VectorIndex.build([1, 2], np.array([[1, 0], [0, 0]], np.float32))
    with pytest.raises(InputError, match="0 vectors"):
        VectorIndex.build(np.empty(0, np.int64), np.empty((0, 8), np.float32))
    with pytest.raises(InputError, match="2-d"):
        VectorIndex.build(ids, x[:, 0])
    with pytest.raises(InputError, match="occurs more than once"):
        VectorIndex.build([1, 1], x[:2])
    with pytest.raises(InputError, match="expected 600 ids"):
        VectorIndex.build(ids[:5], x)
    with pytest.raises(InputError, match="integer ids"):
        VectorIndex.build(ids.astype(float), x)
    with pytest.raises(ParameterError, match="kind"):
        VectorIndex.build(ids, x, kind="hnsw")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="nlist"):
        VectorIndex.build(ids, x, kind="ivf", nlist=10_000)
    index = VectorIndex.build(ids, x)
    with pytest.raises(InputError, match="dimension 16, got 15"):
        index.search(x[:2, :15], 3)
    with pytest.raises(InputError, match="NaN"):
        index.search(bad[7:8], 3)
    for k in (0, -1, 2.5, True):
        with pytest.raises(ParameterError, match="k:"):
            index.search(x[:1], k)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="boolean mask"):
        index.search(x[:1], 3, subset=np.ones(5, bool))
    with pytest.raises(ParameterError, match="exact"):
        index.nprobe = 4
    empty_sims, empty_ids = index.search(np.empty((0, 16), np.float32), 3)
    assert empty_sims.shape == empty_ids.shape == (0, 3)


def test_ivf_selector_path_equals_restricted_brute_force() -> None:
    """With the gather shortcut off, a small subset makes the IVF probe every list: exact."""
    x = _clustered(3000, 24, seed=10)
    index = VectorIndex.build(np.arange(3000), x, kind="ivf", nlist=30, nprobe=2)
    index.subset_gather_max = 0
    allowed = np.arange(3000) % 50 == 0
    q = _clustered(10, 24, seed=11)
    sims, got = index.search(q, 8, subset=allowed)
    _check_against_brute(index, x, q, sims, got, 8, allowed=allowed)
