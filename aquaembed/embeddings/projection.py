"""2-D projection (UMAP) of frame or crop embeddings, with an on-disk cache.

Strategy
--------
``project`` runs umap-learn with a k-nearest-neighbour graph that comes from our own
FAISS index (:class:`aquaembed.embeddings.index.VectorIndex`, cosine similarity) through
``umap.UMAP(precomputed_knn=(indices, distances))``, instead of letting umap-learn build
it with pynndescent. Distances are cosine distances ``1 - similarity`` and the UMAP
metric is ``"cosine"``, the same geometry as similarity search.

Layout is deterministic: ``random_state=seed`` makes umap-learn optimise on one thread.

Initialisation is PCA, not umap-learn's default spectral layout: on clustered data the
kNN graph falls apart into components and the per-component ARPACK solves took 79 of 93 s
for 12 000 points here, while PCA takes well under a second. Deterministic optimisation
runs on one thread at ~0.7 us per point and epoch (12 000 points x 200 epochs: 8 s).

For large inputs (``n > sample_size``, 16 384 by default) UMAP is therefore fitted on a seeded
uniform sample of ``sample_size`` points, and every other point is placed at the
similarity-weighted mean of the 2-D positions of its ``n_neighbors`` nearest sampled
points (found with FAISS). This trades a little local quality for a run time that grows
with the sample, not with ``n``; see the measured figures (time, peak memory,
trustworthiness and kNN preservation against plain umap-learn) in
``benchmarks/RESULTS_index_projection.md``.

Cache
-----
With ``cache_dir`` set, the result is stored as ``<cache_dir>/umap-<key>.npy`` (float32,
written under a temporary name then moved into place), where ``key`` (:func:`cache_key`)
hashes the embedding bytes, shape and dtype together with every parameter that changes
the result. A second call with the same inputs loads the file and does not run UMAP.

Numba
-----
umap-learn's kernels are compiled by numba in every new process (tens of seconds). Most
of them are not marked ``cache=True``; :func:`enable_numba_cache` switches numba's
on-disk cache on for them (it honours ``NUMBA_CACHE_DIR``), so later processes load the
compiled code instead. ``project(..., numba_cache=True)`` (the default) calls it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from aquaembed._validate import integer
from aquaembed.embeddings.index import VectorIndex
from aquaembed.errors import InputError, ParameterError, StoreError
from aquaembed.store.atomic import atomic_write

__all__ = [
    "Projection",
    "project",
    "project_with_info",
    "cache_key",
    "load_cached",
    "enable_numba_cache",
    "DEFAULT_SAMPLE_SIZE",
]

DEFAULT_SAMPLE_SIZE = 16_384
"""Above this many points, UMAP is fitted on a sample and the rest is placed."""

_ALGORITHM = "aquaembed-umap-1"
_EXACT_KNN_MAX = 5_000  # all-pairs exact kNN is cheap up to here; IVF beyond
_KNN_NPROBE = 8
PLACE_CHUNK = 65_536
"""Points placed per batch (and per task of a distributed placement)."""


@dataclass(frozen=True)
class Projection:
    """A projection and where it came from.

    Attributes
    ----------
    coords : ndarray of float32, shape (n, 2)
    key : str
        The cache key (:func:`cache_key`).
    cache_hit : bool
        True when ``coords`` were loaded from ``path`` rather than computed.
    path : Path or None
        The cache file (None without ``cache_dir``).
    """

    coords: np.ndarray
    key: str
    cache_hit: bool
    path: Path | None


def _check_int(value: object, name: str, low: int) -> int:
    return integer(value, name, low=low)


def _check_params(n_neighbors: object, min_dist: object, seed: object, sample_size: object, n_epochs: object) -> None:
    _check_int(n_neighbors, "n_neighbors", 2)
    if isinstance(min_dist, bool) or not isinstance(min_dist, (int, float, np.floating)) or not 0 <= min_dist <= 1:
        raise ParameterError(f"min_dist: expected a number in [0, 1], got {min_dist!r}")
    _check_int(seed, "seed", 0)
    if sample_size is not None:
        _check_int(sample_size, "sample_size", 100)
    if n_epochs is not None:
        _check_int(n_epochs, "n_epochs", 1)


def _as_embeddings(vectors: object) -> np.ndarray:
    try:
        arr = np.ascontiguousarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"vectors: expected a float array of shape (n, d), could not convert: {exc}") from None
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InputError(f"vectors: expected a 2-d array of shape (n, d) with d >= 1, got shape {arr.shape}")
    if arr.shape[0] < 4:
        raise InputError(f"vectors: a projection needs at least 4 points, got {arr.shape[0]}")
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        raise InputError(f"vectors: row {int(np.flatnonzero(~finite)[0])} contains NaN or infinity")
    return arr


def _knn_tag(knn: Any) -> str:
    if knn is None:
        return "internal"
    if isinstance(knn, VectorIndex):
        return f"index:{knn.kind}:{knn.nlist}:{knn.nprobe}"
    h = hashlib.blake2b(digest_size=16)
    for part in knn:
        a = np.ascontiguousarray(part)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.data.cast("B"))
    return "arrays:" + h.hexdigest()


def cache_key(
    vectors: object,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    sample_size: int | None = DEFAULT_SAMPLE_SIZE,
    n_epochs: int | None = None,
    knn: object = None,
) -> str:
    """Hex key of a projection: a hash of the embeddings (bytes, shape, dtype) and parameters.

    The embeddings are hashed as float32 C-contiguous, the form :func:`project` uses.
    Parameters are those of :func:`project`.
    """
    arr = _as_embeddings(vectors)
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{arr.shape}|{arr.dtype.str}|".encode())
    h.update(arr.data.cast("B"))
    params = {
        "algorithm": _ALGORITHM,
        "n_neighbors": int(n_neighbors),
        "min_dist": float(min_dist),
        "seed": int(seed),
        "sample_size": None if sample_size is None or arr.shape[0] <= sample_size else int(sample_size),
        "n_epochs": None if n_epochs is None else int(n_epochs),
        "knn": _knn_tag(knn),
    }
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()


def _cache_path(cache_dir: str | os.PathLike[str], key: str) -> Path:
    return Path(cache_dir) / f"umap-{key}.npy"


def load_cached(cache_dir: str | os.PathLike[str], key: str) -> np.ndarray | None:
    """The cached projection for ``key`` (float32, shape (n, 2)), or None if absent."""
    path = _cache_path(cache_dir, key)
    if not path.is_file():
        return None
    try:
        coords = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: unreadable cached projection ({exc})") from None
    if coords.ndim != 2 or coords.shape[1] != 2 or coords.dtype != np.float32:
        raise StoreError(f"{path}: expected a float32 array of shape (n, 2), got {coords.dtype} {coords.shape}")
    return coords


def _save_cached(path: Path, coords: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a file object: np.save would append ".npy" to a name
                np.save(fh, coords, allow_pickle=False)

        atomic_write(path, write)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write the cached projection ({exc})") from None


_NUMBA_CACHE_ENABLED = False


def enable_numba_cache() -> int:
    """Turn on numba's on-disk cache for umap-learn's jitted functions not yet compiled.

    Compiled machine code is then written to ``NUMBA_CACHE_DIR`` (or ``__pycache__``
    beside umap-learn when that is writable) and reused by later processes. Returns
    the number of functions switched on (0 on later calls).
    """
    global _NUMBA_CACHE_ENABLED
    if _NUMBA_CACHE_ENABLED:
        return 0
    import importlib

    from numba.core.caching import FunctionCache
    from numba.core.registry import CPUDispatcher

    count = 0
    for name in ("umap.umap_", "umap.layouts", "umap.spectral", "umap.utils", "umap.distances", "umap.sparse"):
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if (
                isinstance(obj, CPUDispatcher)
                and obj.__module__ == name
                and not isinstance(obj._cache, FunctionCache)
                and not obj.signatures
            ):
                obj.enable_caching()
                count += 1
    _NUMBA_CACHE_ENABLED = True
    return count


def _knn_graph(
    x: np.ndarray, k: int, knn: object, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """kNN graph in umap-learn's format: (indices int64, cosine distances float32), self first."""
    n = x.shape[0]
    if knn is not None and not isinstance(knn, VectorIndex):
        try:
            idx_in, dist_in = cast(Any, knn)
        except (TypeError, ValueError):
            raise InputError("knn: expected a VectorIndex or a pair (indices, distances)") from None
        idx = np.ascontiguousarray(idx_in, dtype=np.int64)
        dist = np.ascontiguousarray(dist_in, dtype=np.float32)
        if idx.ndim != 2 or idx.shape != dist.shape or idx.shape[0] != n or idx.shape[1] < k:
            raise InputError(
                f"knn: expected indices and distances of shape ({n}, >= {k}), got {idx.shape} and {dist.shape}"
            )
        if (idx[:, 0] != np.arange(n)).any():
            raise InputError("knn: the first neighbour of each point must be the point itself")
        return idx[:, :k].copy(), dist[:, :k].copy()
    if isinstance(knn, VectorIndex):
        index = knn
        if len(index) != n or index.dim != x.shape[1]:
            raise InputError(
                f"knn: the index holds {len(index)} x {index.dim} vectors, the embeddings are {n} x {x.shape[1]}"
            )
    else:
        index = VectorIndex.build(
            np.arange(n, dtype=np.int64), x, kind="exact" if n <= _EXACT_KNN_MAX else "ivf",
            nprobe=_KNN_NPROBE, seed=seed,
        )
    sims, nb = index.search_ids(index.ids, k - 1, exclude_self=True)
    rows = np.full(nb.shape, -1, np.int64)
    ok = nb >= 0
    rows[ok] = index.rows_of(nb[ok])
    self_rows = index.rows_of(index.ids)
    indices = np.empty((n, k), np.int64)
    dists = np.empty((n, k), np.float32)
    indices[self_rows, 0] = self_rows
    dists[self_rows, 0] = 0.0
    indices[self_rows, 1:] = rows
    dists[self_rows, 1:] = np.where(ok, np.clip(1.0 - sims, 0.0, 2.0), np.inf)
    return indices, dists


def _umap_layout(
    x: np.ndarray, indices: np.ndarray, dists: np.ndarray, *, n_neighbors: int, min_dist: float,
    seed: int, n_epochs: int | None,
) -> np.ndarray:
    import umap

    model = umap.UMAP(
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric="cosine",
        random_state=seed,
        n_epochs=n_epochs,
        precomputed_knn=(indices, dists),
        init="pca",
        force_approximation_algorithm=True,
        low_memory=True,
        verbose=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*overridden to 1 by setting random_state.*")
        warnings.filterwarnings("ignore", message=".*is not an NNDescent object.*")
        coords = model.fit_transform(x)
    return np.ascontiguousarray(coords, dtype=np.float32)


def _place(
    rest: np.ndarray, sample_index: VectorIndex, sample_coords: np.ndarray, k: int
) -> np.ndarray:
    """2-D positions of ``rest``: similarity-weighted mean of their k nearest sampled points."""
    out = np.empty((rest.shape[0], 2), np.float32)
    for start in range(0, rest.shape[0], PLACE_CHUNK):
        sims, nb = sample_index.search(rest[start : start + PLACE_CHUNK], k)
        valid = nb >= 0
        rows = sample_index.rows_of(np.where(valid, nb, sample_index.ids[0]).ravel()).reshape(nb.shape)
        dist = np.where(valid, 1.0 - sims, np.inf)
        # UMAP-like membership: 1 for the nearest, decaying with the extra distance.
        gap = dist - dist[:, :1]
        scale = np.maximum(np.nanmean(np.where(valid, gap, np.nan), axis=1, keepdims=True), 1e-6)
        w = np.where(valid, np.exp(-gap / scale), 0.0)
        w /= w.sum(axis=1, keepdims=True)
        out[start : start + PLACE_CHUNK] = np.einsum("ij,ijc->ic", w, sample_coords[rows])
    return out


def project_with_info(
    vectors: object,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    knn: object = None,
    sample_size: int | None = DEFAULT_SAMPLE_SIZE,
    n_epochs: int | None = None,
    numba_cache: bool = True,
    progress: bool = False,
    placer: Callable[[np.ndarray, VectorIndex, np.ndarray, int], np.ndarray] | None = None,
) -> Projection:
    """As :func:`project`, but also returns the cache key and whether the cache was hit.

    ``placer(rest, sample_index, sample_coords, k)`` replaces the placement of the
    points outside the sample (e.g. :func:`aquaembed.engine.ingest.engine_placer`, in
    tasks); it must return what the built-in placement returns.
    """
    _check_params(n_neighbors, min_dist, seed, sample_size, n_epochs)
    x = _as_embeddings(vectors)
    n = x.shape[0]
    key = cache_key(
        x, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed, sample_size=sample_size,
        n_epochs=n_epochs, knn=knn,
    )
    path = None if cache_dir is None else _cache_path(cache_dir, key)
    if cache_dir is not None:
        cached = load_cached(cache_dir, key)
        if cached is not None:
            if cached.shape[0] != n:
                raise StoreError(f"{path}: cached projection has {cached.shape[0]} rows, expected {n}")
            return Projection(cached, key, True, path)

    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        raise InputError(f"vectors: row {int(np.flatnonzero(norms == 0)[0])} is the zero vector (no direction)")
    xn = x / norms[:, None]
    sampled = sample_size is not None and n > sample_size
    if sampled and knn is not None:
        raise ParameterError(f"knn: cannot be used when n={n} > sample_size={sample_size} (the graph is built on the sample)")
    k = min(int(n_neighbors), n - 1)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=3 if sampled else 2, desc="projection", unit="step")
    if numba_cache:
        enable_numba_cache()

    if sampled:
        rng = np.random.default_rng(seed)
        chosen = np.zeros(n, dtype=bool)
        chosen[rng.choice(n, int(sample_size), replace=False)] = True  # type: ignore[arg-type]
        fit = xn[chosen]
        sample_index = VectorIndex.build(
            np.arange(fit.shape[0], dtype=np.int64), x[chosen],
            kind="exact" if fit.shape[0] <= _EXACT_KNN_MAX else "ivf", nprobe=_KNN_NPROBE, seed=seed,
        )
        indices, dists = _knn_graph(x[chosen], k, sample_index, seed)
    else:
        fit = xn
        # The index normalises x itself, exactly as a caller's VectorIndex over x does.
        indices, dists = _knn_graph(x, k, knn, seed)
    if bar is not None:
        bar.set_postfix_str("kNN graph done")
        bar.update()
    layout = _umap_layout(fit, indices, dists, n_neighbors=k, min_dist=float(min_dist), seed=int(seed), n_epochs=n_epochs)
    if bar is not None:
        bar.set_postfix_str("layout done")
        bar.update()
    if sampled:
        coords = np.empty((n, 2), np.float32)
        coords[chosen] = layout
        coords[~chosen] = (placer or _place)(x[~chosen], sample_index, layout, k)
        if bar is not None:
            bar.set_postfix_str("placement done")
            bar.update()
    else:
        coords = layout
    if bar is not None:
        bar.close()
    if path is not None:
        _save_cached(path, coords)
    return Projection(coords, key, False, path)


def project(
    vectors: object,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    knn: object = None,
    sample_size: int | None = DEFAULT_SAMPLE_SIZE,
    n_epochs: int | None = None,
    numba_cache: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Project embeddings to 2-D with UMAP (cosine), deterministic for a given seed.

    Parameters
    ----------
    vectors : array of float, shape (n, d)
        Embeddings, n >= 4; NaN, infinity and zero rows are refused.
    n_neighbors, min_dist : int, float
        UMAP's parameters (``n_neighbors`` is capped at ``n - 1``).
    seed : int
        Random seed; the same inputs and seed give the same coordinates.
    cache_dir : path-like, optional
        Folder of cached projections (see the module docstring).
    knn : VectorIndex or (indices, distances), optional
        A ready kNN source for the same rows: an index built over exactly these
        vectors in this order, or arrays of shape (n, >= n_neighbors) with each point
        its own first neighbour and cosine distances. Built internally when omitted.
    sample_size : int or None
        Fit on a sample of this size when ``n`` is larger; None always fits all points.
    n_epochs : int, optional
        UMAP epochs (umap-learn's default when None: 200 above 10 000 points, else 500).
    numba_cache : bool
        Call :func:`enable_numba_cache` first.
    progress : bool
        Show a tqdm bar over the steps.

    Returns
    -------
    ndarray of float32, shape (n, 2)
    """
    return project_with_info(
        vectors, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed, cache_dir=cache_dir, knn=knn,
        sample_size=sample_size, n_epochs=n_epochs, numba_cache=numba_cache, progress=progress,
    ).coords
