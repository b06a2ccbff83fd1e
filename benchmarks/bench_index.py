"""Benchmark VectorIndex against brute-force numpy on synthetic clustered embeddings.

Run:  python benchmarks/bench_index.py [--sizes 100000,1000000] [--dim 256] [--queries 200]

For every size it reports, in the same run: build time, single-query latency (p50 / p95)
and recall@10 of our index (by vector and by stored id), the latency of brute-force numpy
(``vectors @ q`` + ``argpartition``, the exact reference), filtered-search latency, and
save/load times. Not a test: never collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np


def clustered_embeddings(
    n: int, d: int, *, n_clusters: int = 1000, latent: int = 32, scale: float = 3.0, noise: float = 0.3, seed: int = 0
) -> np.ndarray:
    """Seeded synthetic embeddings: ``n_clusters`` Gaussian clusters in a ``latent``-dim
    space, mapped linearly to ``d`` dims, plus isotropic noise. float32, shape (n, d)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, latent)).astype(np.float32) * scale
    w = rng.standard_normal((latent, d)).astype(np.float32) / np.sqrt(latent)
    out = np.empty((n, d), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        h = centers[rng.integers(0, n_clusters, m)] + rng.standard_normal((m, latent), dtype=np.float32)
        out[s : s + m] = h @ w + noise * rng.standard_normal((m, d), dtype=np.float32)
    return out


def machine() -> str:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def _brute_topk(xn: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    s = xn @ q
    top = np.argpartition(-s, k)[:k]
    return top[np.argsort(-s[top])]


def run(n: int, d: int, n_queries: int, k: int = 10) -> None:
    import faiss

    from aquaembed.embeddings.index import VectorIndex

    print(f"\n== n={n:,} d={d} ==", flush=True)
    x = clustered_embeddings(n, d)
    ids = np.arange(n, dtype=np.int64) * 10 + 7
    rng = np.random.default_rng(1)
    queries = clustered_embeddings(n_queries, d, seed=99)  # same clusters, fresh points
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)

    # exact reference (batched through BLAS) for recall
    truth = np.empty((n_queries, k), np.int64)
    for s in range(0, n_queries, 50):
        sims = qn[s : s + 50] @ xn.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        truth[s : s + 50] = np.take_along_axis(part, np.argsort(-np.take_along_axis(sims, part, 1), 1), 1)

    # brute-force numpy, single query
    lat = []
    for i in range(min(n_queries, 30)):
        t = time.perf_counter()
        _brute_topk(xn, qn[i], k)
        lat.append(time.perf_counter() - t)
    brute_p50 = float(np.median(lat)) * 1e3
    print(f"brute-force numpy   single query p50 {brute_p50:8.2f} ms  p95 {np.percentile(lat, 95) * 1e3:8.2f} ms", flush=True)

    t = time.perf_counter()
    index = VectorIndex.build(ids, x, attributes={"group": (np.arange(n) % 100).astype(np.int16)})
    build = time.perf_counter() - t
    print(f"VectorIndex         {index!r} build {build:.1f} s", flush=True)

    lat = []
    got = np.empty((n_queries, k), np.int64)
    for i in range(n_queries):
        t = time.perf_counter()
        _, res = index.search(queries[i], k)
        lat.append(time.perf_counter() - t)
        got[i] = res[0]
    rows = (got - 7) // 10
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(rows, truth)])
    p50 = float(np.median(lat)) * 1e3
    print(
        f"search(vector)      single query p50 {p50:8.3f} ms  p95 {np.percentile(lat, 95) * 1e3:8.3f} ms  "
        f"recall@{k} {recall:.3f}  speed-up vs numpy x{brute_p50 / p50:.0f}",
        flush=True,
    )

    sample = rng.choice(n, min(n_queries, 200), replace=False)
    lat = []
    hits = []
    for r in sample:
        t = time.perf_counter()
        _, res = index.search_ids(ids[r], k)
        lat.append(time.perf_counter() - t)
        ex = _brute_topk(xn, xn[r], k + 1)
        ex = ex[ex != r][:k]
        hits.append(len(set(((res[0] - 7) // 10).tolist()) & set(ex.tolist())) / k)
    print(
        f"search_ids          single query p50 {np.median(lat) * 1e3:8.3f} ms  p95 {np.percentile(lat, 95) * 1e3:8.3f} ms  "
        f"recall@{k} {np.mean(hits):.3f}",
        flush=True,
    )

    for frac_groups, label in ((50, "50% subset"), (1, "1% subset")):
        mask = index.where(group=list(range(frac_groups)))
        lat = []
        hits = []
        allowed = np.flatnonzero(mask)
        for i in range(min(n_queries, 50)):
            t = time.perf_counter()
            _, res = index.search(queries[i], k, subset=mask)
            lat.append(time.perf_counter() - t)
            ex = allowed[_brute_topk(xn[allowed], qn[i], k)]
            hits.append(len(set(((res[0] - 7) // 10).tolist()) & set(ex.tolist())) / k)
        print(
            f"filtered {label:10s} single query p50 {np.median(lat) * 1e3:8.3f} ms  p95 {np.percentile(lat, 95) * 1e3:8.3f} ms  "
            f"recall@{k} {np.mean(hits):.3f}",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "i.faiss")
        t = time.perf_counter()
        index.save(path)
        t_save = time.perf_counter() - t
        t = time.perf_counter()
        VectorIndex.load(path)
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        VectorIndex.load(path, mmap=True)
        t_mmap = time.perf_counter() - t
    print(f"save {t_save:.2f} s  load {t_load:.2f} s  load(mmap) {t_mmap:.2f} s", flush=True)

    if getattr(run, "hnsw", False) and n >= 100_000:
        t = time.perf_counter()
        h = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        h.hnsw.efConstruction = 40
        h.add(xn.astype(np.float32))
        hb = time.perf_counter() - t
        h.hnsw.efSearch = 64
        lat = []
        got = np.empty((n_queries, k), np.int64)
        for i in range(n_queries):
            t = time.perf_counter()
            _, res = h.search(qn[i : i + 1].astype(np.float32), k)
            lat.append(time.perf_counter() - t)
            got[i] = res[0]
        rec = np.mean([len(set(a) & set(b)) / k for a, b in zip(got, truth)])
        print(f"(peer) HNSW32 efC40 build {hb:.1f} s  efSearch64 p50 {np.median(lat) * 1e3:.3f} ms recall@{k} {rec:.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated numbers of vectors")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--hnsw", action="store_true", help="also build a faiss HNSW32 index as a peer")
    args = parser.parse_args(argv)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    print(machine(), f"| faiss {faiss.__version__}, {args.threads} threads", flush=True)
    run.hnsw = args.hnsw  # type: ignore[attr-defined]
    for n in (int(s) for s in args.sizes.split(",")):
        run(n, args.dim, args.queries)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    sys.exit(main())
