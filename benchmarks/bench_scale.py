"""Benchmark the engines at scale: local vs Ray with 1 and 2 workers, on the same cores.

Not a test: run it by hand and copy the tables into ``benchmarks/RESULTS_scale.md``::

    python benchmarks/bench_scale.py                       # 2M and 10M boxes, then ingest
    python benchmarks/bench_scale.py --sizes 2 --skip-ingest

Evaluation. For each size (millions of boxes; 10 labels and ~90 inferences per frame, so
2M boxes = 20k frames and 10M = 100k frames, 80 classes) a seeded synthetic set is
generated in columns and written once as a sharded store (``--shard-boxes`` per shard)
under ``--out``. Each configuration then runs in a fresh process and evaluates the store
(confusion matrix, per-class, per-frame and COCO mAP; no match list):

* ``one-process``: the dataset read whole, ``Evaluator(...).report`` (the peer);
* ``local-engine``: ``evaluate_store`` on the local engine (2 threads), one task per shard;
* ``ray-1`` / ``ray-2``: ``evaluate_store`` on a fresh local Ray cluster of 1 / 2 CPUs.
  Cluster start (``ray.init`` plus warm-up tasks on every worker that import aquaembed
  and load the numba kernels) is timed apart from the evaluation; the driver of every
  configuration is warmed the same way first.

Reported: wall time of the evaluation, per-shard task time (median, max), peak memory of
the processes that ran the shards (max ru_maxrss over the shards, Ray workers included),
the driver's reduce time and the driver's peak memory; the results of every
configuration are checked equal to the one-process result. Workers are reused across
tasks, so their ru_maxrss also counts the shared object-store pages of earlier results;
``--memory-only`` measures each shard task alone in a fresh worker (Ray ``max_calls=1``).

Ingest. IVF-PQ over ``--vectors`` crop vectors (d=64), trained on a sample and filled in
tasks, and the projection's placement of the same vectors around a 16k sample, local
engine vs Ray 1 / 2 workers; recall@10 of the index is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "_data"
CONFIGS = ("one-process", "local-engine", "ray-1", "ray-2")


def synthetic(n_frames: int, *, labels_per_frame: int = 10, preds_per_frame: int = 90, seed: int = 0) -> Any:
    """A columnar synthetic dataset: labels, jittered detections of most of them, background FPs."""
    from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels

    rng = np.random.default_rng(seed)
    n_c = 80
    W, H = 1280.0, 720.0
    n_l = n_frames * labels_per_frame
    l_frame = np.repeat(np.arange(n_frames), labels_per_frame)
    wh = np.exp(rng.uniform(np.log(8), np.log(300), (n_l, 2)))
    xy = rng.uniform(0, 1, (n_l, 2)) * ([W, H] - wh)
    l_box = np.concatenate([xy, xy + wh], axis=1)
    l_cls = rng.integers(0, n_c, n_l)
    # detections: every label gets 0-3 jittered boxes (often of its class), the rest FPs
    n_det = rng.integers(0, 4, n_l)
    src = np.repeat(np.arange(n_l), n_det)
    jitter = rng.normal(0, 0.08, (src.size, 4)) * np.repeat(wh, 2, axis=1)[src]
    d_box = l_box[src] + jitter
    d_cls = np.where(rng.random(src.size) < 0.85, l_cls[src], rng.integers(0, n_c, src.size))
    d_frame = l_frame[src]
    d_score = np.clip(rng.beta(5, 2, src.size), 0, 1)
    per_frame = np.bincount(d_frame, minlength=n_frames)
    n_fp = np.maximum(preds_per_frame - per_frame, 0)
    fp_frame = np.repeat(np.arange(n_frames), n_fp)
    fwh = np.exp(rng.uniform(np.log(8), np.log(200), (fp_frame.size, 2)))
    fxy = rng.uniform(0, 1, (fp_frame.size, 2)) * ([W, H] - fwh)
    frame = np.concatenate([d_frame, fp_frame])
    box = np.concatenate([d_box, np.concatenate([fxy, fxy + fwh], axis=1)])
    box[:, 2:] = np.maximum(box[:, 2:], box[:, :2] + 1)
    score = np.round(np.concatenate([d_score, rng.beta(1, 8, fp_frame.size)]), 3)
    cls = np.concatenate([d_cls, rng.integers(0, n_c, fp_frame.size)])
    order = np.argsort(frame, kind="stable")
    classes = ClassMap(np.arange(1, n_c + 1), tuple(f"c{i:02d}" for i in range(n_c)))
    frames = Frames(np.arange(n_frames) * 3 + 1, np.array([f"{i}.jpg" for i in range(n_frames)], dtype=object),
                    np.full(n_frames, W), np.full(n_frames, H))
    area = (l_box[:, 2] - l_box[:, 0]) * (l_box[:, 3] - l_box[:, 1])
    labels = Labels(np.arange(n_l) + 1, l_frame, l_cls, l_box, area, rng.random(n_l) < 0.01)
    inf = Inferences(frame[order], cls[order], box[order], score[order], name="model")
    return Dataset(classes, frames, labels, {"model": inf})


def store_path(out: Path, millions: int) -> Path:
    return out / f"scale-{millions}M"


def ensure_store(out: Path, millions: int, shard_boxes: int) -> Path:
    from aquaembed.store.shards import write_sharded

    path = store_path(out, millions)
    if not (path / "manifest.json").is_file():
        t = time.perf_counter()
        ds = synthetic(millions * 10_000)
        n = len(ds.labels) + len(ds.inferences["model"])
        write_sharded(ds, str(path), name=f"scale-{millions}M", rows_per_shard=shard_boxes)
        print(f"  wrote {path.name}: {len(ds.frames)} frames, {n / 1e6:.2f}M boxes in {time.perf_counter() - t:.0f} s",
              flush=True)
    return path


def _rss() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _warm(_: int) -> int:
    """Import aquaembed and load every numba kernel (a tiny evaluation), as a warm worker has."""
    from aquaembed.evaluate import Evaluator

    ds = synthetic(20, seed=1)
    Evaluator(ds, ds.inferences["model"]).report(coco=True, matches=False)
    return os.getpid()


def _start_engine(config: str, *, warm_per_cpu: int) -> tuple[Any, float, list[int] | None]:
    """The engine of a configuration (``local-engine`` or ``ray-<cpus>``), the seconds its
    cluster took to start and warm up (0 locally; reported apart), and the pids that ran the
    warm-up tasks (None locally)."""
    from aquaembed.engine import LocalEngine

    if config == "local-engine":
        return LocalEngine(threads=2), 0.0, None
    import logging

    import ray

    from aquaembed.engine.ray import RayEngine

    cpus = int(config.split("-")[1])
    t = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    engine = RayEngine()
    pids = engine.map(_warm, list(range(warm_per_cpu * cpus)))
    return engine, time.perf_counter() - t, pids


def child_eval(config: str, path: str) -> dict[str, Any]:
    """One configuration in this (fresh) process."""
    from aquaembed.engine import evaluate_shards
    from aquaembed.evaluate import Evaluator, reduced_evaluation
    from aquaembed.matching import MatchOptions
    from aquaembed.store.shards import ShardedStore

    store = ShardedStore(path)
    out: dict[str, Any] = {"config": config, "shards": store.n_shards}
    options = MatchOptions()
    _warm(0)  # every configuration starts warm (kernels loaded), like a long-running worker
    if config == "one-process":
        t = time.perf_counter()
        ds = store.dataset()
        out["load_s"] = time.perf_counter() - t
        base_rss = _rss()
        t = time.perf_counter()
        result = Evaluator(ds, ds.inferences["model"]).report(options, coco=True, matches=False)
        out["eval_s"] = time.perf_counter() - t
        out["driver_peak_rss"] = _rss()
        out["eval_rss_increase"] = _rss() - base_rss
    else:
        engine, out["start_s"], pids = _start_engine(config, warm_per_cpu=4)
        if pids is not None:
            out["workers"] = len(set(pids))
        refs = store.shards("model")
        t = time.perf_counter()
        red = evaluate_shards(engine, refs, options, classes=store.classes.names_with_background,
                              totals=(*store.totals[:2], store.n_preds("model")), table=False, coco=True)
        result = reduced_evaluation(red, matches=False)
        out["eval_s"] = time.perf_counter() - t
        out["shard_s_median"] = float(np.median(red.shard_seconds))
        out["shard_s_max"] = float(red.shard_seconds.max())
        out["shard_peak_rss_max"] = int(red.shard_peak_rss.max())
        out["reduce_s"] = red.reduce_seconds
        out["driver_peak_rss"] = _rss()
    out["digest"] = __import__("hashlib").sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()[:16]
    out["AP"] = result["coco"]["AP"]
    return out


def _baseline(_: int) -> int:
    _warm(0)
    return _rss()


def child_memory(path: str) -> dict[str, Any]:
    """Peak memory of each shard task alone: every task in a fresh Ray worker process."""
    import logging

    import ray

    from aquaembed.engine import evaluate_shards
    from aquaembed.engine.ray import RayEngine
    from aquaembed.matching import MatchOptions
    from aquaembed.store.shards import ShardedStore

    store = ShardedStore(path)
    ray.init(num_cpus=1, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    engine = RayEngine(max_calls=1)
    base = engine.map(_baseline, [0])[0]
    red = evaluate_shards(engine, store.shards("model"), MatchOptions(), classes=store.classes.names_with_background,
                          totals=(*store.totals[:2], store.n_preds("model")), table=False, coco=True)
    return {"baseline_rss": base, "shard_peak_rss_max": int(red.shard_peak_rss.max()),
            "shard_peak_rss_median": float(np.median(red.shard_peak_rss)), "shards": store.n_shards}


def child_ingest(config: str, n: int) -> dict[str, Any]:
    import faiss

    from aquaembed.embeddings.index import VectorIndex
    from aquaembed.engine.ingest import build_ivfpq, engine_placer

    out: dict[str, Any] = {"config": config, "vectors": n}
    engine, out["start_s"], _ = _start_engine(config, warm_per_cpu=2)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, 64))
    x = (centres[rng.integers(0, 200, n)] + 0.4 * rng.normal(size=(n, 64))).astype(np.float32)
    faiss.normalize_L2(x)
    t = time.perf_counter()
    built = build_ivfpq(engine, x, shards=8, nlist=1024, train_size=40_000, seed=0)
    out["ivfpq_s"] = time.perf_counter() - t
    out["recall_at_10"] = built.recall_at_10
    out["recall_at_10_codes"] = built.recall_at_10_codes
    sample = VectorIndex.build(np.arange(16_384), x[:16_384], kind="ivf", nprobe=8, seed=0)
    coords = rng.normal(size=(16_384, 2)).astype(np.float32)
    t = time.perf_counter()
    placed = engine_placer(engine)(x[16_384:], sample, coords, 15)
    out["place_s"] = time.perf_counter() - t
    out["place_digest"] = __import__("hashlib").sha256(placed.tobytes()).hexdigest()[:16]
    out["driver_peak_rss"] = _rss()
    return out


def child_serve(config: str, path: str) -> dict[str, Any]:
    """Memory and re-match time of the serving process on one layout of the same data."""
    from aquaembed.explore import Workspace
    from aquaembed.matching import MatchOptions

    root = Path(path)
    data = root.parent if config.startswith("sharded") else root.parent / f"{root.name}-one"
    name = root.name
    if config == "one-folder" and not (data / name / "manifest.json").is_file():
        from aquaembed.store import Store
        from aquaembed.store.shards import ShardedStore

        Store(data).create(name, ShardedStore(str(root)).dataset())
        return {"config": config, "written": True}
    _warm(0)
    base = _current_rss()
    # the peak by sampling: ru_maxrss survives exec, so a child would report its parent's peak
    peak = [base]

    def watch() -> None:
        while True:
            peak[0] = max(peak[0], _current_rss())
            time.sleep(0.01)

    import threading

    threading.Thread(target=watch, daemon=True).start()
    if config.startswith("sharded"):
        from aquaembed.explore.sharded import ShardedView
        from aquaembed.store.shards import ShardedStore

        view: Any = ShardedView(ShardedStore(str(root)), resident=config == "sharded")
    else:
        view = Workspace(data).get(name)
    t = time.perf_counter()
    view.metrics("model", MatchOptions(), pr=False)
    first = time.perf_counter() - t
    t = time.perf_counter()
    view.metrics("model", MatchOptions(conf=0.3, iou=0.6), pr=False)
    rematch = time.perf_counter() - t
    t = time.perf_counter()
    view.frames("model", options=MatchOptions(conf=0.3, iou=0.6), limit=50)
    view.matches("model", options=MatchOptions(conf=0.3, iou=0.6), type="FP", limit=50, offset=100)
    pages = time.perf_counter() - t
    s = view.summary()
    boxes = s["labels"] + sum(s["inference_sets"].values())
    return {"config": config, "boxes": boxes, "base_rss": base, "rss": _current_rss(), "peak_rss": peak[0],
            "open_first_s": first, "rematch_s": rematch, "pages_s": pages}


def _current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_child(kind: str, config: str, arg: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, __file__, "--child", kind, config, arg], capture_output=True, text=True,
                          env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} {config} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2, 10], help="millions of boxes (default 2 10)")
    ap.add_argument("--shard-boxes", type=int, default=500_000, help="boxes per shard (default 500k)")
    ap.add_argument("--vectors", type=int, default=500_000, help="crop vectors for the ingest part (default 500k)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--memory-only", action="store_true", help="only the per-shard peak memory (fresh workers)")
    ap.add_argument("--serve-only", action="store_true",
                    help="only the serving process: sharded layout against the same data in one folder")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, config, arg = args.child
        if kind == "memory":
            res = child_memory(arg)
        elif kind == "serve":
            res = child_serve(config, arg)
        else:
            res = child_eval(config, arg) if kind == "eval" else child_ingest(config, int(arg))
        print(json.dumps(res))
        return
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python {platform.python_version()}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.serve_only:
        print("\nserving: the process after opening, matching at 0.5/0.5, re-matching at 0.3/0.6, a frame and a match page")
        print(f"{'boxes':<8}{'layout':<16}{'RSS MB':>8}{'- base':>8}{'per M boxes':>13}{'peak MB':>9}{'first s':>9}"
              f"{'re-match s':>12}{'pages s':>9}")
        for m in args.sizes:
            path = str(ensure_store(args.out, m, args.shard_boxes))
            run_child("serve", "one-folder", path)  # writes the one-folder copy once
            for config in ("sharded", "sharded-stream", "one-folder"):
                r = run_child("serve", config, path)
                used = (r["rss"] - r["base_rss"]) / 2**20
                print(f"{m}M{'':<6}{config:<16}{r['rss'] / 2**20:>8.0f}{used:>8.0f}{used / (r['boxes'] / 1e6):>13.0f}"
                      f"{r['peak_rss'] / 2**20:>9.0f}{r['open_first_s']:>9.2f}{r['rematch_s']:>12.2f}{r['pages_s']:>9.2f}",
                      flush=True)
        return
    if args.memory_only:
        print(f"\nper-shard peak memory, each shard task alone in a fresh Ray worker (~{args.shard_boxes // 1000}k boxes/shard)")
        print(f"{'boxes':<8}{'shards':>7}{'worker baseline MB':>20}{'shard peak MB median':>22}{'max':>8}")
        for m in args.sizes:
            r = run_child("memory", "ray-1", str(ensure_store(args.out, m, args.shard_boxes)))
            print(f"{m}M{'':<6}{r['shards']:>7}{r['baseline_rss'] / 2**20:>20.0f}{r['shard_peak_rss_median'] / 2**20:>22.0f}"
                  f"{r['shard_peak_rss_max'] / 2**20:>8.0f}", flush=True)
        return
    for m in args.sizes:
        path = ensure_store(args.out, m, args.shard_boxes)
        rows = [run_child("eval", c, str(path)) for c in CONFIGS]
        ref = rows[0]
        print(f"\n{m}M boxes ({ref['shards']} shards of ~{args.shard_boxes // 1000}k boxes), AP {ref['AP']:.4f}")
        print(f"{'config':<14}{'start s':>9}{'eval s':>9}{'vs 1-proc':>10}{'vs local':>10}{'shard s med/max':>17}"
              f"{'shard peak MB':>15}{'reduce s':>10}{'driver MB':>11}  same")
        local = next(r for r in rows if r["config"] == "local-engine")
        for r in rows:
            shard = f"{r['shard_s_median']:.2f}/{r['shard_s_max']:.2f}" if "shard_s_median" in r else "—"
            peak = f"{r['shard_peak_rss_max'] / 2**20:.0f}" if "shard_peak_rss_max" in r else "—"
            red = f"{r['reduce_s']:.2f}" if "reduce_s" in r else "—"
            print(f"{r['config']:<14}{r.get('start_s', 0):>9.1f}{r['eval_s']:>9.2f}{r['eval_s'] / ref['eval_s']:>10.2f}"
                  f"{r['eval_s'] / local['eval_s']:>10.2f}{shard:>17}{peak:>15}{red:>10}"
                  f"{r['driver_peak_rss'] / 2**20:>11.0f}  {r['digest'] == ref['digest']}", flush=True)
    if not args.skip_ingest:
        rows = [run_child("ingest", c, str(args.vectors)) for c in ("local-engine", "ray-1", "ray-2")]
        print(f"\ningest: IVF-PQ (nlist 1024, 8 fill tasks) and placement of {args.vectors} x 64 vectors")
        print(f"{'config':<14}{'start s':>9}{'IVF-PQ s':>10}{'recall@10 codes':>16}{'re-ranked x20':>14}{'place s':>9}"
              f"{'driver MB':>11}  same")
        for r in rows:
            print(f"{r['config']:<14}{r['start_s']:>9.1f}{r['ivfpq_s']:>10.2f}{r['recall_at_10_codes']:>16.3f}"
                  f"{r['recall_at_10']:>14.3f}"
                  f"{r['place_s']:>9.2f}{r['driver_peak_rss'] / 2**20:>11.0f}  {r['place_digest'] == rows[0]['place_digest']}",
                  flush=True)


if __name__ == "__main__":
    main()
