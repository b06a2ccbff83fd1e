"""Benchmark the dashboard's embedding map in headless Chromium: 100k crop points.

Run:  python benchmarks/bench_dashboard.py [--crops 100000] [--out benchmarks/RESULTS_dashboard.md]

Builds (once, cached in ``benchmarks/_data``) a synthetic dataset whose labels plus
inferences give about ``--crops`` crops, with clustered random crop embeddings, then
serves ``create_dash`` on a free port and measures, from the browser's side:

* render: from ``driver.get`` until Plotly holds every point (cold: first request of the
  process, so the match table, crop types and projection are computed; warm: reload);
* recolour: from typing a new confidence threshold until the traces hold the new
  confusion types (each threshold is new to the process, so the matcher runs each time).

The server-side share (projection + grouping + figure JSON) is measured separately in
the same process. Not a test: never collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from aquaembed.explore import Workspace  # noqa: E402

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-unsafe-swiftshader", "--window-size=1500,1100")


def build(data: Path, crops: int) -> None:
    """A synthetic dataset ``bench`` with about ``crops`` label + inference crops."""
    from aquaembed.ingest import add_inferences, ingest
    from aquaembed.synthetic import write_coco

    if (data / "bench" / "manifest.json").exists():
        return
    src = data / "_src"
    frames = max(10, crops // 20)
    gt, pred = write_coco(src, frames, n_classes=8, labels_per_frame=8.0, preds_per_frame=12, seed=1)
    g = json.loads(gt.read_text())
    n_pred = len(json.loads(pred.read_text()))
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(64, 32)).astype(np.float32) * 3

    def vectors(n: int) -> np.ndarray:
        return (centres[rng.integers(0, 64, n)] + rng.normal(size=(n, 32)).astype(np.float32)).astype(np.float32)

    frame_ids = np.array([im["id"] for im in g["images"]])
    label_ids = np.array([a["id"] for a in g["annotations"]])
    np.savez(src / "frames.npz", ids=frame_ids, embeddings=vectors(frame_ids.size))
    np.savez(src / "labels.npz", ids=label_ids, embeddings=vectors(label_ids.size))
    np.savez(src / "preds.npz", ids=np.arange(n_pred), embeddings=vectors(n_pred))
    t = time.perf_counter()
    ingest(data, "bench", gt=gt, frame_embeddings=src / "frames.npz", label_embeddings=src / "labels.npz", build=False)
    add_inferences(data, "bench", model="model", pred=pred, pred_embeddings=src / "preds.npz")
    print(f"built {label_ids.size + n_pred:,} crops in {time.perf_counter() - t:.0f} s", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


POINTS_JS = """
var g = document.querySelector('#emb-graph .js-plotly-plot');
if (!g || !g._fullData || !g.data) { return null; }
var n = 0; for (var i = 0; i < g._fullData.length; i++) { n += g._fullData[i]._length || 0; }
return {n: n, names: g.data.map(function(t) { return t.name; }).join('|')};
"""


def wait(driver, cond, timeout: float = 120.0):  # noqa: ANN001, ANN201
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise TimeoutError("the page did not update in time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", type=int, default=100_000)
    ap.add_argument("--data", type=Path, default=HERE / "_data" / "dashboard")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS_dashboard.md")
    args = ap.parse_args()
    data = args.data / str(args.crops)
    build(data, args.crops)

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from werkzeug.serving import make_server

    from dashboard import create_dash
    from dashboard.context import State

    app = create_dash(Workspace(data))
    port = free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{port}/?dataset=bench&model=model&view=embedding&kind=crop&colour=type&conf=0.5&iou=0.5"

    options = webdriver.ChromeOptions()
    for f in FLAGS:
        options.add_argument(f)
    profile = tempfile.mkdtemp(prefix="aquaembed-bench-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    rows: list[tuple[str, float]] = []
    try:
        n_total = len(Workspace(data).get("bench").projection("crop", "model")["x"])
        for label in ("render, cold (first request: matching + projection + draw)", "render, warm (reload)"):
            t = time.perf_counter()
            driver.get(url)
            wait(driver, lambda: (driver.execute_script(POINTS_JS) or {}).get("n") == n_total)
            rows.append((label, time.perf_counter() - t))
            print(f"{label}: {rows[-1][1]:.2f} s", flush=True)
        recolour = []
        for conf in (0.3, 0.6, 0.4, 0.7, 0.35):
            before = driver.execute_script(POINTS_JS)["names"]
            box = driver.find_element(By.CSS_SELECTOR, "#ctl-conf input[type=number]")
            t = time.perf_counter()
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(str(conf), Keys.ENTER)
            box.send_keys(Keys.TAB)  # the slider's box commits on blur
            wait(driver, lambda: (driver.execute_script(POINTS_JS) or {}).get("names", before) != before)
            recolour.append(time.perf_counter() - t)
            print(f"recolour to conf {conf}: {recolour[-1]:.2f} s", flush=True)
        rows.append(("recolour after a confidence move (median of 5 new thresholds)", statistics.median(recolour)))
        rows.append(("recolour, worst of 5", max(recolour)))
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)

    # server-side share, in this process (fresh thresholds, so nothing is cached)
    import plotly.io as pio

    from dashboard import figures
    from dashboard.context import Context

    ctx = Context(Workspace(data))
    st = State("bench", "model", 0.45, 0.5, "embedding", "crop", "type")
    t = time.perf_counter()
    proj, groups, _ = ctx.groups(st)
    t_groups = time.perf_counter() - t
    t = time.perf_counter()
    payload = pio.to_json(figures.embedding_figure(proj, groups))
    t_json = time.perf_counter() - t
    rows.append(("server: projection + crop types at a new threshold + grouping", t_groups))
    rows.append((f"server: figure to JSON ({len(payload) / 1e6:.1f} MB, base64 arrays)", t_json))

    lines = [
        "# Dashboard benchmark (`benchmarks/bench_dashboard.py`)",
        "",
        f"{n_total:,} crop points (labels + inferences), embedding map coloured by confusion type (5 WebGL traces),",
        f"headless Chromium (software WebGL: SwiftShader), app served by werkzeug in the same process. "
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "Targets: render < 3 s, recolour after a slider move < 1 s.",
        "",
        "| step | time |",
        "|---|---|",
        *[f"| {name} | {sec:.2f} s |" for name, sec in rows],
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
