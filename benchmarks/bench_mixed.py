"""Mixed load: do dashboard callbacks starve the JSON API served by the same process?

Not a test. Builds (once, under ``--out``) a synthetic dataset with label and inference
crop embeddings, starts ``aquaembed serve`` on loopback, and times two API requests
from one client, first alone and then while ``--dash-clients`` threads keep the
dashboard's heaviest callback busy (the embedding map, redrawn at a new confidence
threshold each time, as a user dragging the slider does):

* ``summary``: ``GET /api/v1/datasets/ds`` (cheap: the manifest's counts);
* ``metrics``: ``GET /api/v1/datasets/ds/metrics`` at a new confidence, ``pr=false``.

It runs one server per ``--dash-workers`` value (the dashboard's worker threads,
``AQUAEMBED_DASHBOARD_WORKERS``; 10 is a2wsgi's default) and prints them side by side,
times in ms::

    python benchmarks/bench_mixed.py --dash-workers 10 2 1

Projections are random coordinates (their values do not change the timings; UMAP
would only slow the setup down).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def build(out: Path, frames: int) -> Path:
    import aquaembed.ingest as ingest_mod
    from aquaembed.embeddings.projection import Projection
    from aquaembed.synthetic import write_coco
    from factories import write_embeddings

    data = out / f"data-{frames}"
    if (data / "ds" / "manifest.json").is_file():
        return data
    gt, pred = write_coco(out / f"src-{frames}", frames, n_classes=20, labels_per_frame=6, preds_per_frame=20, seed=4)
    doc = json.loads(gt.read_text())
    preds = json.loads(pred.read_text())
    fe = write_embeddings(out / "frames.npz", [im["id"] for im in doc["images"]], 32, 1)
    le = write_embeddings(out / "labels.npz", [a["id"] for a in doc["annotations"]], 32, 2)
    pe = write_embeddings(out / "preds.npz", range(len(preds)), 32, 3)

    def fake(vectors: Any, *, seed: int = 0, **_: Any) -> Projection:
        n = np.asarray(vectors).shape[0]
        return Projection(np.random.default_rng(seed).normal(size=(n, 2)).astype(np.float32), f"random-{n}", False, None)

    ingest_mod.ingest(data, "ds", gt=gt, frame_embeddings=fe, label_embeddings=le, build=False)
    ingest_mod.add_inferences(data, "ds", model="m", pred=pred, pred_embeddings=pe, projector=fake)
    return data


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "_data" / "mixed")
    parser.add_argument("--requests", type=int, default=40, help="API requests per phase and kind")
    parser.add_argument("--dash-clients", type=int, default=3)
    parser.add_argument("--dash-workers", type=int, nargs="+", default=[10, 2, 1],
                        help="AQUAEMBED_DASHBOARD_WORKERS values to compare, one server each (default 10 2 1)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = build(args.out, args.frames)
    print(f"{args.frames} frames; {args.dash_clients} dashboard clients redrawing the crop map at a new conf each time")
    print(f"{'workers':>7} {'request':<8} {'alone p50':>10} {'p95':>7} {'mixed p50':>10} {'p95':>7}   {'redraws/s':>9} {'redraw p50':>10}")
    for workers in args.dash_workers:
        run(args, data, workers)


def run(args: argparse.Namespace, data: Path, workers: int) -> None:
    from factories import running_server

    os.environ["AQUAEMBED_DASHBOARD_WORKERS"] = str(workers)
    with running_server(data, args.out / "server.log") as base:
        deps = httpx.get(f"{base}/_dash-dependencies", timeout=60).json()
        draw = next(d for d in deps if "emb-graph.figure" in d["output"] or ".figure" in d["output"] and
                    any(i["property"] == "href" for i in d["inputs"]))
        rng = np.random.default_rng(0)

        def callback_body(conf: float) -> dict[str, Any]:
            href = f"{base}/?dataset=ds&model=m&view=embedding&kind=crop&conf={conf:.4f}&iou=0.5"
            inputs = [{"id": i["id"], "property": i["property"], "value": href if i["property"] == "href" else None}
                      for i in draw["inputs"]]
            state = [{"id": s["id"], "property": s["property"], "value": None} for s in draw.get("state", [])]
            outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in draw["output"].strip(".").split("...")]
            return {"output": draw["output"], "outputs": outputs, "inputs": inputs, "state": state,
                    "changedPropIds": [f"{draw['inputs'][0]['id']}.{draw['inputs'][0]['property']}"]}

        with httpx.Client(base_url=base, timeout=120) as http:
            r = http.post("/_dash-update-component", json=callback_body(0.5))
            assert r.status_code == 200, r.text[:300]
            http.get("/api/v1/datasets/ds/metrics", params={"model": "m", "conf": 0.5, "pr": "false"})

        def api_phase() -> dict[str, list[float]]:
            times: dict[str, list[float]] = {"summary": [], "metrics": []}
            with httpx.Client(base_url=base, timeout=120) as http:
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    assert http.get("/api/v1/datasets/ds").status_code == 200
                    times["summary"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    conf = float(rng.uniform(0.05, 0.95))
                    assert http.get("/api/v1/datasets/ds/metrics",
                                    params={"model": "m", "conf": conf, "pr": "false"}).status_code == 200
                    times["metrics"].append(time.perf_counter() - t0)
            return times

        alone = api_phase()
        stop = threading.Event()
        dash_times: list[float] = []

        def dash_client(seed: int) -> None:
            local = np.random.default_rng(seed)
            with httpx.Client(base_url=base, timeout=300) as http:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    r = http.post("/_dash-update-component", json=callback_body(float(local.uniform(0.05, 0.95))))
                    assert r.status_code in (200, 204), r.text[:200]
                    dash_times.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=dash_client, args=(k,)) for k in range(args.dash_clients)]
        t_dash = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(1.0)
        mixed = api_phase()
        stop.set()
        for t in threads:
            t.join()
        t_dash = time.perf_counter() - t_dash
    rate = len(dash_times) / t_dash
    for kind in ("summary", "metrics"):
        a, m = alone[kind], mixed[kind]
        print(f"{workers:>7} {kind:<8} {pct(a, 50):>10.1f} {pct(a, 95):>7.1f} {pct(m, 50):>10.1f} {pct(m, 95):>7.1f}   "
              f"{rate:>9.2f} {statistics.median(dash_times) * 1000:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
