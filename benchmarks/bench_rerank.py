"""Benchmark the served search of an IVF-PQ crop index: re-ranked vs the codes alone.

Not a test: run it by hand and copy the table into ``benchmarks/RESULTS_scale.md``::

    python benchmarks/bench_rerank.py --vectors 200000

Seeded clustered vectors (d=64, 200 clusters) as the ingest benchmark draws them; the
IVF-PQ index is built by ``build_ivfpq`` (local engine) exactly as distributed ingest
builds the crop index, wrapped in ``VectorIndex`` like the served one, with the raw
vectors written as a ``.npy`` and memory-mapped (as the stored embeddings are). The
queries are the neighbours-of-a-stored-crop search the API and the dashboard run
(``search_ids``, query excluded), unrestricted and restricted to half the crops (the
selector path that a model's crops take); recall@10 against brute-force kNN (numpy),
codes alone (the peer, same index, no vectors attached) vs re-ranked at refine 20.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()

    import faiss

    from aquaembed.embeddings.index import VectorIndex
    from aquaembed.engine import LocalEngine
    from aquaembed.engine.ingest import build_ivfpq

    n, d = args.vectors, 64
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, d))
    x = (centres[rng.integers(0, 200, n)] + 0.35 * rng.normal(size=(n, d))).astype(np.float32)
    u = x.copy()
    faiss.normalize_L2(u)
    t = time.perf_counter()
    built = build_ivfpq(LocalEngine(threads=2), u, shards=4, seed=0)
    print(f"{platform.node()} ({platform.machine()}), {n} x {d}: IVF-PQ nlist {built.nlist}, {built.m} x {built.nbits} bits, "
          f"built in {time.perf_counter() - t:.1f} s")
    faiss.extract_index_ivf(built.index).make_direct_map()
    index = VectorIndex(built.index, np.arange(n, dtype=np.int64), {"half": np.arange(n) % 2}, "ivf")
    q = np.sort(rng.choice(n, args.queries, replace=False))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.npy"
        np.save(path, x)
        full = np.load(path, mmap_mode="r")
        print(f"{'search':<28}{'subset':>8}{'recall@10':>11}{'ms/query':>10}")
        for subset_name, subset in (("all", None), ("half", index.where(half=0))):
            sims = u[q] @ u.T
            sims[np.arange(q.size), q] = -np.inf
            if subset is not None:
                sims[:, ~subset] = -np.inf
            truth = np.argsort(-sims, axis=1)[:, :10]
            for name in ("codes alone (peer)", "re-ranked x20 (served)"):
                index._full = None
                if name.startswith("re-ranked"):
                    index.attach_vectors(full)
                t = time.perf_counter()
                got = np.vstack([index.search_ids(np.array([r]), 10, subset=subset)[1] for r in q])
                ms = (time.perf_counter() - t) / q.size * 1e3
                rec = np.mean([len(set(a) & set(b)) for a, b in zip(truth.tolist(), got.tolist())]) / 10
                print(f"{name:<28}{subset_name:>8}{rec:>11.3f}{ms:>10.2f}")
        index._full = None
        del full


if __name__ == "__main__":
    main()
