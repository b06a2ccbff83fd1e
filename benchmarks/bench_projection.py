"""Benchmark aquaembed.embeddings.projection.project against plain umap.UMAP() on clustered embeddings.

Run:  python benchmarks/bench_projection.py [--n 100000] [--with-1m] [--skip-plain]

Each method runs in its own fresh process (so peak memory, from resource.getrusage, is
its own), after a small warm-up call in that process that pays numba's compilation; the
warm-up time is reported separately. Quality, computed here on the same sample for both:
trustworthiness (sklearn, 15 neighbours, 4 000 points) and kNN preservation (share of the
15 exact cosine neighbours in 256-d, over all points, that are among the 15 nearest in
2-D, for 1 000 query points). Not a test: never collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from bench_index import clustered_embeddings, machine  # noqa: E402

DATA = dict(n_clusters=100, latent=8, scale=4.0, noise=0.1)  # low intrinsic dimension, like image features


def _child(method: str, n: int, d: int, out: str, extra: dict) -> None:
    import resource

    t = time.perf_counter()
    import umap

    from aquaembed.embeddings.projection import project

    rng = np.random.default_rng(5)
    warm = rng.standard_normal((600, d)).astype(np.float32)
    if method == "plain":
        umap.UMAP().fit_transform(warm)
    else:
        project(warm, sample_size=extra.get("sample_size"))
    warmup = time.perf_counter() - t
    x = clustered_embeddings(n, d, **DATA)
    t = time.perf_counter()
    if method == "plain":
        y = umap.UMAP().fit_transform(x)
    else:
        kwargs = {k: v for k, v in extra.items() if v is not None}
        y = project(x, **kwargs)
    elapsed = time.perf_counter() - t
    np.save(out, np.asarray(y, dtype=np.float32))
    print(json.dumps({"warmup_s": warmup, "time_s": elapsed,
                      "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                      "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR")}))


def quality(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float]:
    import faiss
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(seed)
    s = np.sort(rng.choice(len(x), min(len(x), 4000), replace=False))
    xn = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    tw = float(trustworthiness(xn[s], y[s], n_neighbors=15, metric="cosine"))
    q = s[:1000]
    hi = faiss.IndexFlatIP(xn.shape[1])
    hi.add(xn)
    _, a = hi.search(xn[q], 16)
    lo = faiss.IndexFlatL2(2)
    lo.add(np.ascontiguousarray(y, np.float32))
    _, b = lo.search(np.ascontiguousarray(y[q], np.float32), 16)
    pres = float(np.mean([len(set(u[1:]) & set(v[1:])) / 15 for u, v in zip(a, b)]))
    return tw, pres


def run_method(method: str, n: int, d: int, extra: dict, env: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "y.npy")
        cmd = [sys.executable, __file__, "--child", method, "--n", str(n), "--dim", str(d), "--out", out,
               "--extra", json.dumps(extra)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{method} failed:\n{proc.stderr[-3000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["coords"] = np.load(out)
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--with-1m", action="store_true", help="also project 1M points (ours only)")
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument("--sample-size", type=int, default=None, help="override project()'s sample_size")
    parser.add_argument("--epochs", type=int, default=None, help="override project()'s n_epochs")
    parser.add_argument("--numba-cache-test", action="store_true", help="measure numba's on-disk cache")
    parser.add_argument("--child", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--extra", default="{}")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.n, args.dim, args.out, json.loads(args.extra))
        return 0

    print(machine(), flush=True)
    extra = {"sample_size": args.sample_size, "n_epochs": args.epochs}
    if args.sample_size is None:
        extra.pop("sample_size")
    if args.numba_cache_test:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            for label in ("cold numba cache", "warm numba cache"):
                r = run_method("ours", 2000, args.dim, extra, env)
                print(f"{label:18s}: warm-up (import + compile + 600-point projection) {r['warmup_s']:.1f} s", flush=True)
        env = dict(os.environ)
        env.pop("NUMBA_CACHE_DIR", None)
    sizes = [args.n] + ([1_000_000] if args.with_1m else [])
    for n in sizes:
        x = clustered_embeddings(n, args.dim, **DATA)
        rows = {}
        methods = ["ours"] + ([] if args.skip_plain or n > 200_000 else ["plain"])
        for method in methods:
            r = run_method(method, n, args.dim, extra)
            tw, pres = quality(x, r["coords"])
            rows[method] = r
            print(f"n={n:>9,} {method:5s} time {r['time_s']:7.1f} s  warm-up {r['warmup_s']:5.1f} s  "
                  f"peak RSS {r['peak_rss_gb']:5.2f} GB  trustworthiness {tw:.4f}  kNN preservation {pres:.3f}", flush=True)
        if "plain" in rows:
            print(f"n={n:>9,} speed-up ours vs plain x{rows['plain']['time_s'] / rows['ours']['time_s']:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
