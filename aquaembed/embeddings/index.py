"""Cosine-similarity vector index over frame or crop embeddings (FAISS).

Vectors are L2-normalised on the way in, so the inner product FAISS computes *is* the
cosine similarity, in ``[-1, 1]``, larger meaning more similar.

Two index types, chosen by :meth:`VectorIndex.build` from the number of vectors ``n``:

``"exact"`` -- ``faiss.IndexFlatIP``
    Brute force, exact. Used while ``n <= exact_max`` (50 000 by default): a single
    query then scans at most ~50 MB (d=256) and stays in the low milliseconds.
``"ivf"`` -- ``faiss.IndexIVFFlat`` with an inner-product coarse quantizer
    ``nlist = 2 * sqrt(n)`` lists (2000 at 1M), k-means trained for 10 iterations on a
    seeded sample of ``40 * nlist`` vectors; by default a query scans enough lists to
    visit about 8 000 vectors (``nprobe = 16`` at 1M, 51 at 100k; never fewer than 16),
    which keeps latency flat and recall high at every size.
    Measured on this 2-core machine at 1M x 256 (``benchmarks/RESULTS_index_projection.md``):
    build ~26 s, single-query p50 ~0.45 ms, recall@10 ~0.98 against exact search. HNSW
    was rejected: it takes longer to build (126 s for HNSW32 at 1M x 512) and its graph
    walk loses recall under restrictive filters, whereas an IVF scan with a selector
    stays correct (see *Filtered search* below). ``nprobe`` can be raised on a loaded
    index (``index.nprobe = 32``) to trade latency for recall.

Filtered search
---------------
``subset=`` restricts results to a boolean mask over the stored vectors or to an array of
allowed ids. The restriction is applied *inside* FAISS through an ``IDSelectorBitmap``
(``faiss.SearchParameters(sel=...)``), never by over-fetching and filtering in Python.
For the IVF index, the number of probed lists grows as the subset shrinks
(``nprobe * n / len(subset)``, capped at ``nlist``), so a selective filter scans more
lists but computes distances only for its members. A subset of at most 32 768 members
queried by a few vectors is instead searched exactly: its vectors are read back from
the index (``reconstruct_batch``) and only they are scanned, which at 1M vectors is
faster than walking every list with a selector.

Compressed indexes: re-rank on the full vectors
-----------------------------------------------
An index whose FAISS structure stores lossy codes (IVF-PQ, the crop index built by
distributed ingest beyond 2M crops) re-ranks every search once its full vectors are
attached (:meth:`VectorIndex.attach_vectors`, or ``load(..., vectors=)``; the stored
embeddings, memory-mapped): the codes give ``refine * k`` candidates (:attr:`VectorIndex.refine`,
default 20, saved with the index, or ``refine=`` per search) and
:func:`aquaembed.embeddings.rerank.rerank_search` re-scores them exactly, so similarities
are exact cosines and recall@10 rises from ~0.33 to ~0.92. :meth:`VectorIndex.vectors`,
the queries of :meth:`VectorIndex.search_ids` and the small-subset scan read the full
vectors too. Without them a compressed index searches its codes alone. Exact and
IVF-flat indexes hold the vectors themselves and never re-rank.

Persistence
-----------
:meth:`VectorIndex.save` writes the FAISS index (``faiss.write_index``) to ``path`` and a
sidecar ``path + ".meta.npz"`` (ids, attributes, a JSON header) without pickle; each file
is written under a temporary name and moved into place with ``os.replace``. The sidecar
records the index file's size, so a torn pair is detected on :meth:`VectorIndex.load`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from aquaembed._validate import integer, positive_int
from aquaembed.embeddings.rerank import DEFAULT_REFINE, rerank_search
from aquaembed.errors import InputError, NotFoundError, ParameterError, StoreError
from aquaembed.store.atomic import atomic_write

__all__ = ["IndexKind", "VectorIndex", "DEFAULT_EXACT_MAX", "DEFAULT_NPROBE", "DEFAULT_REFINE", "rerank_search"]

IndexKind = Literal["auto", "exact", "ivf"]
"""Which FAISS index to build: ``"auto"`` picks ``"exact"`` up to ``exact_max`` vectors."""

DEFAULT_EXACT_MAX = 50_000
"""Largest number of vectors for which ``kind="auto"`` builds an exact index."""

DEFAULT_NPROBE = 16
"""Fewest inverted lists the IVF index scans per query by default."""

_FORMAT = "aquaembed.vector_index"
_FORMAT_VERSION = 1
_ADD_CHUNK = 65_536
_TRAIN_PER_LIST = 40
_FEW_QUERIES = 20
_SUBSET_GATHER_MAX = 32_768  # IVF: below this many members, scan just the members (exact)
_SCAN_TARGET = 8_000  # vectors a default IVF query scans (16 lists of ~500 at 1M)


def _check_vectors(vectors: object, name: str, dim: int | None = None) -> np.ndarray:
    """Validate and return a C-contiguous float32 copy (the caller normalises it in place)."""
    try:
        arr = np.array(vectors, dtype=np.float32, copy=True, order="C")
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: expected a float array of shape (n, d), could not convert: {exc}") from None
    if arr.ndim == 1 and dim is not None:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise InputError(f"{name}: expected a 2-d array of shape (n, d), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise InputError(f"{name}: vectors have dimension 0")
    if dim is not None and arr.shape[1] != dim:
        raise InputError(f"{name}: expected vectors of dimension {dim}, got {arr.shape[1]}")
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise InputError(f"{name}: row {bad} contains NaN or infinity")
    norms = np.linalg.norm(arr, axis=1)
    if (norms == 0).any():
        bad = int(np.flatnonzero(norms == 0)[0])
        raise InputError(f"{name}: row {bad} is the zero vector, which has no direction for cosine similarity")
    faiss.normalize_L2(arr)
    return arr


def _check_k(k: object) -> int:
    return positive_int(k, "k")


def _check_ids(ids: object, name: str) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-d array of integer ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{name}: expected integer ids, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


class VectorIndex:
    """k-nearest-neighbour search by cosine similarity over ``n`` stored vectors.

    Build with :meth:`build` or :meth:`load`; the constructor is internal.

    Attributes
    ----------
    ids : ndarray of int64, shape (n,)
        External ids of the stored vectors, in storage ("row") order.
    attributes : dict of str to ndarray, each shape (n,)
        Per-vector columns (e.g. ``kind``, ``class_index``, ``frame_id``) that
        :meth:`where` turns into subset masks.
    kind : {"exact", "ivf"}
        The index type that was built.
    refine : int
        Compressed (IVF-PQ) index: candidates per neighbour re-ranked on the full vectors.
    """

    def __init__(
        self,
        index: faiss.Index,
        ids: np.ndarray,
        attributes: Mapping[str, np.ndarray],
        kind: Literal["exact", "ivf"],
        *,
        refine: int = DEFAULT_REFINE,
    ) -> None:
        # Any: faiss's SWIG stubs omit the IVF attributes and the SearchParameters keywords
        self._index: Any = index
        self.ids = ids
        self.attributes = dict(attributes)
        self.kind = kind
        self.subset_gather_max = _SUBSET_GATHER_MAX
        """IVF with a ``subset`` of at most this many members scans just the members
        (exact); larger subsets probe the lists with a selector. 0 always probes."""
        self._order = np.argsort(ids, kind="stable")
        self._sorted_ids = ids[self._order]
        self.refine = positive_int(refine, "refine")
        self.lossy = kind == "ivf" and not isinstance(faiss.extract_index_ivf(index), faiss.IndexIVFFlat)
        """True when FAISS stores lossy codes (IVF-PQ): searches re-rank on attached vectors."""
        self._full: Any = None

    def attach_vectors(self, vectors: Any) -> None:
        """Attach the full vectors (array or memory map of shape (n, d), in row order, not
        necessarily normalised) that a compressed index re-ranks on; exact indexes ignore them."""
        shape = tuple(getattr(vectors, "shape", ()))
        if shape != (len(self), self.dim):
            raise InputError(f"vectors: the index holds {len(self)} x {self.dim}, the full vectors are {shape}")
        if self.lossy:
            self._full = vectors

    @property
    def reranks(self) -> bool:
        """Whether searches re-rank on the full vectors (a compressed index with them attached)."""
        return self._full is not None

    def _rows_vectors(self, rows: np.ndarray) -> np.ndarray:
        """Normalised float32 vectors of row positions: the full ones when attached."""
        if rows.size == 0:
            return np.empty((0, self.dim), np.float32)
        if self._full is None:
            return self._index.reconstruct_batch(rows)
        order = np.argsort(rows, kind="stable")
        out = np.empty((rows.size, self.dim), np.float32)
        out[order] = np.asarray(self._full[rows[order]], dtype=np.float32)
        faiss.normalize_L2(out)
        return out

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        ids: object,
        vectors: object,
        *,
        attributes: Mapping[str, object] | None = None,
        kind: IndexKind = "auto",
        exact_max: int = DEFAULT_EXACT_MAX,
        nlist: int | None = None,
        nprobe: int | None = None,
        train_size: int | None = None,
        seed: int = 0,
        progress: bool = False,
    ) -> VectorIndex:
        """Build an index over ``vectors``.

        Parameters
        ----------
        ids : array of int, shape (n,)
            Unique external id of each vector.
        vectors : array of float, shape (n, d)
            Embeddings; NaN, infinity and zero rows are refused. Normalised internally.
        attributes : mapping of str to array of shape (n,), optional
            Numeric per-vector columns used to build subsets with :meth:`where`.
        kind : {"auto", "exact", "ivf"}
            ``"auto"`` builds ``"exact"`` when ``n <= exact_max``, else ``"ivf"``.
        exact_max : int
            Threshold of ``kind="auto"``.
        nlist : int, optional
            Number of IVF lists; default ``round(2 * sqrt(n))``, at most ``n``.
        nprobe : int, optional
            IVF lists scanned per query (changeable later via :attr:`nprobe`); default
            enough lists to scan about 8 000 vectors, at least 16.
        train_size : int, optional
            Vectors sampled to train the IVF quantizer; default ``40 * nlist``.
        seed : int
            Seed of the training sample and of k-means (the build is deterministic).
        progress : bool
            Show a tqdm bar while vectors are added.

        Returns
        -------
        VectorIndex
        """
        ids_arr = _check_ids(ids, "ids")
        x = _check_vectors(vectors, "vectors")
        n, d = x.shape
        if ids_arr.shape[0] != n:
            raise InputError(f"ids: expected {n} ids (one per vector), got {ids_arr.shape[0]}")
        if n == 0:
            raise InputError("vectors: cannot build an index over 0 vectors")
        uniq, counts = np.unique(ids_arr, return_counts=True)
        if uniq.shape[0] != n:
            raise InputError(f"ids: id {int(uniq[counts > 1][0])} occurs more than once")
        attrs: dict[str, np.ndarray] = {}
        for key, value in (attributes or {}).items():
            col = np.asarray(value)
            if col.shape != (n,):
                raise InputError(f"attributes[{key!r}]: expected shape ({n},), got {col.shape}")
            if not (np.issubdtype(col.dtype, np.number) or col.dtype == np.bool_):
                raise InputError(f"attributes[{key!r}]: expected a numeric or boolean column, got dtype {col.dtype}")
            attrs[str(key)] = np.ascontiguousarray(col)
        if kind not in ("auto", "exact", "ivf"):
            raise ParameterError(f"kind: expected 'auto', 'exact' or 'ivf', got {kind!r}")
        exact_max = integer(exact_max, "exact_max", low=0)
        if nprobe is not None:
            nprobe = positive_int(nprobe, "nprobe")
        chosen: Literal["exact", "ivf"]
        if kind == "auto":
            chosen = "exact" if n <= exact_max else "ivf"
        else:
            chosen = kind

        if chosen == "exact":
            index: faiss.Index = faiss.IndexFlatIP(d)
        else:
            if nlist is None:
                nlist = max(1, min(n, round(2 * math.sqrt(n))))
            nlist = integer(nlist, "nlist", low=1, high=n)
            if train_size is None:
                train_size = _TRAIN_PER_LIST * int(nlist)
            train_size = integer(train_size, "train_size (at least nlist)", low=nlist)
            quantizer = faiss.IndexFlatIP(d)
            ivf = faiss.IndexIVFFlat(quantizer, d, int(nlist), faiss.METRIC_INNER_PRODUCT)
            ivf.cp.niter = 10
            ivf.cp.seed = int(seed)
            ivf.cp.min_points_per_centroid = 1  # we size the sample ourselves; silences faiss' stderr warning
            ivf.cp.max_points_per_centroid = max(256, -(-int(train_size) // int(nlist)))
            rng = np.random.default_rng(seed)
            m = min(n, int(train_size))
            sample = x if m == n else x[np.sort(rng.choice(n, m, replace=False))]
            ivf.train(sample)
            if nprobe is None:
                nprobe = max(DEFAULT_NPROBE, math.ceil(_SCAN_TARGET * nlist / n))
            ivf.nprobe = int(min(nprobe, nlist))
            index = ivf
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=f"indexing ({chosen})", unit="vec")
        for start in range(0, n, _ADD_CHUNK):
            index.add(x[start : start + _ADD_CHUNK])
            if bar is not None:
                bar.update(min(_ADD_CHUNK, n - start))
        if bar is not None:
            bar.close()
        if chosen == "ivf":
            faiss.extract_index_ivf(index).make_direct_map()
        return cls(index, ids_arr.copy(), attrs, chosen)

    # ------------------------------------------------------------- properties
    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        """Dimension ``d`` of the stored vectors."""
        return int(self._index.d)

    @property
    def nlist(self) -> int | None:
        """Number of IVF lists (``None`` for the exact index)."""
        return int(self._index.nlist) if self.kind == "ivf" else None

    @property
    def nprobe(self) -> int | None:
        """IVF lists scanned per unrestricted query (``None`` for the exact index)."""
        return int(self._index.nprobe) if self.kind == "ivf" else None

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.kind != "ivf":
            raise ParameterError("nprobe: only an 'ivf' index has lists to probe; this index is exact")
        self._index.nprobe = min(positive_int(value, "nprobe"), int(self._index.nlist))

    # ----------------------------------------------------------------- lookup
    def rows_of(self, ids: object) -> np.ndarray:
        """Row positions (int64) of external ``ids``; raises NotFoundError for an unknown id."""
        arr = _check_ids(ids, "ids")
        pos = np.searchsorted(self._sorted_ids, arr)
        pos_c = np.minimum(pos, len(self._sorted_ids) - 1)
        found = self._sorted_ids[pos_c] == arr
        if not found.all():
            bad = int(arr[np.flatnonzero(~found)[0]])
            raise NotFoundError(f"id {bad} is not in the index ({len(self)} vectors)")
        return self._order[pos_c].astype(np.int64)

    def vectors(self, ids: object) -> np.ndarray:
        """The stored (L2-normalised) vectors of ``ids``, float32 of shape (m, d)."""
        return self._rows_vectors(self.rows_of(ids))

    def where(self, **conditions: object) -> np.ndarray:
        """Boolean mask (shape (n,)) of the vectors whose attributes match every condition.

        A condition is a scalar (equality) or a sequence of allowed values, e.g.
        ``index.where(kind=1, class_index=[2, 5])``.
        """
        mask = np.ones(len(self), dtype=bool)
        for key, value in conditions.items():
            if key not in self.attributes:
                known = ", ".join(sorted(self.attributes)) or "none"
                raise NotFoundError(f"attribute {key!r} is not stored in this index (stored: {known})")
            mask &= np.isin(self.attributes[key], np.asarray(value).reshape(-1))
        return mask

    # ----------------------------------------------------------------- search
    def _subset_mask(self, subset: object) -> np.ndarray:
        arr = np.asarray(subset)
        if arr.dtype == np.bool_:
            if arr.shape != (len(self),):
                raise InputError(f"subset: a boolean mask must have shape ({len(self)},), got {arr.shape}")
            return arr
        mask = np.zeros(len(self), dtype=bool)
        mask[self.rows_of(arr)] = True
        return mask

    def _search_rows(self, x: np.ndarray, k: int, subset: object | None, refine: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Search normalised queries; returns (similarities, row labels) with -1 padding."""
        n = len(self)
        m = x.shape[0]
        k_eff = min(k, n)
        params: Any = None
        if subset is not None:
            mask = self._subset_mask(subset)
            members = int(mask.sum())
            if members == 0:
                return np.full((m, k), np.nan, np.float32), np.full((m, k), -1, np.int64)
            k_eff = min(k, members)
            if self.kind == "ivf" and members <= self.subset_gather_max and m <= _FEW_QUERIES:
                return self._search_gathered(x, k, k_eff, mask)
            bitmap = np.packbits(mask, bitorder="little")
            sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
            if self.kind == "ivf":
                nlist = int(self._index.nlist)
                probe = min(nlist, math.ceil(self._index.nprobe * n / members))
                params = faiss.SearchParametersIVF(sel=sel, nprobe=probe)  # type: ignore[call-arg]  # SWIG keywords
            else:
                params = faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]  # SWIG keywords
        if params is None and self.kind == "exact" and m < _FEW_QUERIES:
            # Measured: with 2 cores, IndexFlat's default path for one query is 5-20x
            # slower than the selector-capable scan that any SearchParameters selects.
            params = faiss.SearchParameters()
        if m == 0:
            sims = np.empty((0, k_eff), np.float32)
            rows = np.empty((0, k_eff), np.int64)
        elif self._full is not None:
            refine = self.refine if refine is None else positive_int(refine, "refine")
            sims, rows = rerank_search(self._index, self._full, x, k_eff, refine=refine, params=params)
        else:
            sims, rows = self._index.search(x, k_eff, params=params)
        if subset is not None:
            del sel, bitmap  # kept alive until the search returned
        sims = sims.astype(np.float32, copy=False)
        sims[rows < 0] = np.nan
        if k_eff < k:
            sims = np.hstack([sims, np.full((m, k - k_eff), np.nan, np.float32)])
            rows = np.hstack([rows, np.full((m, k - k_eff), -1, np.int64)])
        return sims, rows

    def _search_gathered(self, x: np.ndarray, k: int, k_eff: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over a small subset: read its vectors from the index, scan only them."""
        members = np.flatnonzero(mask)
        sub = self._rows_vectors(members)
        sims_all = x @ sub.T
        part = np.argpartition(-sims_all, k_eff - 1, axis=1)[:, :k_eff]
        top = np.take_along_axis(sims_all, part, axis=1)
        order = np.lexsort((members[part], -top), axis=1)
        rows = np.take_along_axis(members[part], order, axis=1).astype(np.int64)
        sims = np.take_along_axis(top, order, axis=1).astype(np.float32)
        m = x.shape[0]
        if k_eff < k:
            sims = np.hstack([sims, np.full((m, k - k_eff), np.nan, np.float32)])
            rows = np.hstack([rows, np.full((m, k - k_eff), -1, np.int64)])
        return sims, rows

    def _to_ids(self, rows: np.ndarray) -> np.ndarray:
        out = np.full(rows.shape, -1, np.int64)
        ok = rows >= 0
        out[ok] = self.ids[rows[ok]]
        return out

    def search(self, vectors: object, k: int, *, subset: object | None = None, refine: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` stored vectors most similar to each query vector.

        Parameters
        ----------
        vectors : array of float, shape (m, d) or (d,)
            Query vectors (normalised internally).
        k : int
            Neighbours per query, >= 1.
        subset : boolean array of shape (n,) or array of int ids, optional
            Only these stored vectors may be returned (see :meth:`where`).
        refine : int, optional
            Compressed index with full vectors: candidates per neighbour re-ranked
            (default :attr:`refine`).

        Returns
        -------
        similarities : ndarray of float32, shape (m, k)
            Cosine similarities, descending; NaN where fewer than ``k`` exist.
        ids : ndarray of int64, shape (m, k)
            External ids; -1 where fewer than ``k`` exist.
        """
        k = _check_k(k)
        x = _check_vectors(vectors, "query vectors", dim=self.dim)
        sims, rows = self._search_rows(x, k, subset, refine)
        return sims, self._to_ids(rows)

    def search_ids(
        self, ids: object, k: int, *, exclude_self: bool = True, subset: object | None = None,
        refine: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest neighbours of stored vectors given by their ids.

        Parameters
        ----------
        ids : int or array of int, shape (m,)
            Ids of stored vectors; an unknown id raises :class:`NotFoundError`.
        k : int
            Neighbours per query, >= 1.
        exclude_self : bool
            Leave each query's own entry out of its results (other vectors identical
            to it are kept).
        subset : boolean array of shape (n,) or array of int ids, optional
            Only these stored vectors may be returned.
        refine : int, optional
            As :meth:`search`.

        Returns
        -------
        similarities, ids : ndarrays of shape (m, k)
            As :meth:`search`.
        """
        k = _check_k(k)
        rows_q = self.rows_of(ids)
        x = self._rows_vectors(rows_q)
        if not exclude_self:
            sims, rows = self._search_rows(x, k, subset, refine)
            return sims, self._to_ids(rows)
        sims, rows = self._search_rows(x, k + 1, subset, refine)
        is_self = rows == rows_q[:, None]
        # Move each query's own row (if found) to the end and drop it; otherwise the
        # (k+1)-th result is the one cut off.
        order = np.argsort(is_self, axis=1, kind="stable")
        rows = np.take_along_axis(rows, order, axis=1)[:, :k]
        sims = np.take_along_axis(sims, order, axis=1)[:, :k]
        dropped = np.take_along_axis(is_self, order, axis=1)[:, :k]
        rows[dropped] = -1
        sims[dropped] = np.nan
        return sims, self._to_ids(rows)

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` and its sidecar to ``path + ".meta.npz"`` atomically."""
        path = Path(path)
        meta_path = path.with_name(path.name + ".meta.npz")
        if not path.parent.is_dir():
            raise StoreError(f"{path}: directory {path.parent} does not exist")
        arrays = {f"attr_{key}": value for key, value in self.attributes.items()}

        def write_index(tmp: Path) -> None:
            faiss.write_index(self._index, str(tmp))
            header = {
                "format": _FORMAT,
                "version": _FORMAT_VERSION,
                "kind": self.kind,
                "n": len(self),
                "dim": self.dim,
                "index_bytes": os.path.getsize(tmp),
                "attributes": sorted(self.attributes),
                "refine": self.refine,
            }
            # the sidecar first: it records the size of the index file it belongs to
            def write_meta(meta: Path) -> None:
                with open(meta, "wb") as fh:  # a file object: np.savez would append ".npz" to a name
                    np.savez(fh, ids=self.ids, header=np.array(json.dumps(header)), **arrays)  # type: ignore[arg-type]

            atomic_write(meta_path, write_meta)

        atomic_write(path, write_index)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = False, vectors: Any = None) -> VectorIndex:
        """Read an index written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            The index file (its sidecar is ``path + ".meta.npz"``).
        mmap : bool
            Memory-map the index file instead of reading it (faster to open, pages
            are read on first use).
        vectors : array or memory map of shape (n, d), optional
            The full vectors a compressed index re-ranks on (:meth:`attach_vectors`).
        """
        path = Path(path)
        meta_path = path.with_name(path.name + ".meta.npz")
        for p in (path, meta_path):
            if not p.is_file():
                raise NotFoundError(f"{p}: no such index file")
        try:
            with np.load(meta_path, allow_pickle=False) as meta:
                header = json.loads(str(meta["header"]))
                ids = meta["ids"].astype(np.int64, copy=False)
                attrs = {key: meta[f"attr_{key}"] for key in header.get("attributes", [])}
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"{meta_path}: unreadable index sidecar ({exc})") from None
        if (
            header.get("format") != _FORMAT
            or header.get("version") != _FORMAT_VERSION
            or header.get("kind") not in ("exact", "ivf")
        ):
            raise StoreError(
                f"{meta_path}: expected format {_FORMAT} version {_FORMAT_VERSION}, "
                f"got {header.get('format')} version {header.get('version')}"
            )
        size = os.path.getsize(path)
        if size != header["index_bytes"]:
            raise StoreError(
                f"{path}: index file has {size} bytes but its sidecar expects {header['index_bytes']} "
                "(the two files come from different saves)"
            )
        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP if mmap else 0)
        except RuntimeError as exc:
            raise StoreError(f"{path}: unreadable FAISS index ({exc})") from None
        if index.ntotal != ids.shape[0] or index.d != header["dim"]:
            raise StoreError(f"{path}: index holds {index.ntotal} x {index.d}, sidecar says {ids.shape[0]} x {header['dim']}")
        out = cls(index, ids, attrs, header["kind"], refine=int(header.get("refine", DEFAULT_REFINE)))
        if vectors is not None:
            out.attach_vectors(vectors)
        return out

    def __repr__(self) -> str:
        extra = f", nlist={self.nlist}, nprobe={self.nprobe}" if self.kind == "ivf" else ""
        extra += f", lossy codes, re-rank x{self.refine}" + ("" if self.reranks else " (no full vectors)") if self.lossy else ""
        return f"VectorIndex(n={len(self)}, dim={self.dim}, kind={self.kind!r}{extra})"
