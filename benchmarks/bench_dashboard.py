"""Benchmark the dashboard's embedding map in headless Chromium: 100k crop points.

Run:  python benchmarks/bench_dashboard.py [--crops 100000] [--repeat 3] [--bundles partial full]
      [--baseline CHECKOUT] [--data DIR] [--out TABLE.md]

The peers, measured in the same run: the same dashboard serving plotly's full plotly.js
(4.8 MB, ``AQUAEMBED_DASHBOARD_PLOTLY=full``) instead of the partial bundle (1.5 MB), and
with ``--baseline CHECKOUT`` another checkout (e.g. of ``main``; served by its ``.venv``
when it has one) with the partial bundle; the rounds of all of them alternate, so all see
the same machine load.

Builds (once, cached in ``benchmarks/_data``) a synthetic dataset whose labels plus
inferences give about ``--crops`` crops, with clustered random crop embeddings. Each
round then starts the real service process (``python -m aquaembed serve --data DIR
--port P``: the dashboard at ``/`` behind uvicorn and a2wsgi, with ``preload=True``),
waits for ``/api/v1/health``, opens a fresh headless Chromium (empty profile, so the
JavaScript bundles are fetched too) and measures, from the browser's side:

* render, cold: from ``driver.get`` of the first page of the fresh process until Plotly
  holds every point and they are on the canvas (two animation frames, then a 1-pixel
  WebGL read-back that waits for every queued draw); the page is opened as soon as the
  health check answers, so the preload may still be running;
* render, warm: the same after a reload;
* recolour: from pressing Enter in the confidence slider's box (typed a new threshold)
  until the traces hold the new confusion types and are on the canvas (each threshold
  is new to the process, so the matcher runs each time).

For each render and each recolour it also reads the browser's resource timings of the
Dash requests (the layout, ``_dash-layout``, and the callbacks, ``_dash-update-component``):
how many callbacks there were, how long the browser waited on the server for them (time
to first byte, queueing in the server's two dashboard threads included), how many bytes
they carried and when the figure arrived. These counts and bytes do not depend on the
machine's load; the times do. The server-side share (projection + grouping + figure
JSON) is measured separately in this process. Not a test: never collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from aquaembed.explore import Workspace  # noqa: E402  (after the sys.path line: runs from a checkout)

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-unsafe-swiftshader", "--window-size=1500,1100")
CONFS = (0.3, 0.6, 0.4, 0.7, 0.35)
"""Confidence thresholds of the recolour moves (each new to the server process)."""


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


def checkout_python(checkout: Path) -> str:
    """The Python that serves a checkout: this one for this checkout; another checkout's ``.venv``
    when it has one (its package is installed there), else this one."""
    venv = checkout / ".venv" / "bin" / "python"
    return str(venv) if checkout.resolve() != REPO and venv.exists() else sys.executable


class Server:
    """``python -m aquaembed serve --data DIR --port P`` (of ``checkout``) until :meth:`close`."""

    def __init__(self, data: Path, bundle: str = "partial", checkout: Path = REPO) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._log = tempfile.TemporaryFile()
        env = {**os.environ, "AQUAEMBED_DASHBOARD_PLOTLY": bundle}
        cmd = [checkout_python(checkout), "-m", "aquaembed", "serve", "--data", str(data), "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, cwd=checkout, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"aquaembed serve exited: {self._log.read().decode(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "api/v1/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("aquaembed serve did not answer /api/v1/health within 120 s")
            time.sleep(0.05)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._log.close()


POINTS_JS = """
var g = document.querySelector('#emb-graph .js-plotly-plot');
if (!g || !g._fullData || !g.data) { return null; }
var n = 0; for (var i = 0; i < g._fullData.length; i++) { n += g._fullData[i]._length || 0; }
return {n: n, names: g.data.map(function(t) { return t.name; }).join('|')};
"""

SETTLE_JS = """
var done = arguments[arguments.length - 1];
requestAnimationFrame(function() { requestAnimationFrame(function() {
    var c = document.querySelector('#emb-graph canvas.gl-canvas-context');
    var gl = c && c.getContext('webgl');
    if (gl) { gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4)); }
    done(true);
}); });
"""
"""Wait until the drawn points are on the canvas: two animation frames, then a 1-pixel
readPixels, which returns only once every queued WebGL command has run."""

CALLBACKS_JS = """
var e = performance.getEntriesByType('resource').filter(function(r) { return /_dash-(update-component|layout)/.test(r.name); });
return e.map(function(r) { return [r.startTime, r.responseEnd, r.responseStart - r.requestStart, r.decodedBodySize,
                                   r.name.indexOf('_dash-layout') >= 0 ? 1 : 0]; });
"""
"""Per Dash request (the layout and every callback): start and end (ms since navigation), time to first
byte (the server's time, queueing included), bytes, and whether it is the layout."""

CLEAR_JS = "performance.clearResourceTimings();"


PLOTLY_JS = """
return performance.getEntriesByType('resource').filter(function(r) { return /plotly[^/]*\\.js/.test(r.name); })
    .map(function(r) { return [r.decodedBodySize, r.responseEnd]; });
"""
"""Size of the plotly.js the page fetched and when it arrived (ms since navigation)."""


def wait(cond: Callable[[], Any], timeout: float = 120.0) -> Any:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise TimeoutError("the page did not update in time")


def chrome() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for f in FLAGS:
        options.add_argument(f)
    profile = tempfile.mkdtemp(prefix="aquaembed-bench-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.aquaembed_profile = profile
    return driver


def render(driver: Any, url: str, n_total: int) -> dict[str, float]:
    """Open ``url``; seconds until every point is drawn, and the callback requests it took."""
    t = time.perf_counter()
    driver.get(url)
    wait(lambda: (driver.execute_script(POINTS_JS) or {}).get("n") == n_total)
    driver.execute_async_script(SETTLE_JS)
    sec = time.perf_counter() - t
    # the same moment on the browser's clock: since its navigation started (performance.now()
    # counts from there; the WebDriver call, and a fresh browser's start of its first
    # navigation, come before it)
    in_page = float(driver.execute_script("return performance.now();")) / 1000
    time.sleep(0.5)  # let the callbacks that do not hold up the map (headline, ...) land, to count them
    plotly = driver.execute_script(PLOTLY_JS) or [[0, 0]]
    return {"sec": sec, "in_page": in_page, **requests(driver), "plotly_bytes": plotly[0][0], "plotly_end": plotly[0][1] / 1000}


def requests(driver: Any) -> dict[str, float]:
    """The Dash requests since the last clear: callbacks, bytes, server time, when the figure arrived."""
    reqs = driver.execute_script(CALLBACKS_JS) or []
    calls = [c for c in reqs if not c[4]]
    biggest = max(reqs, key=lambda c: c[3], default=[0, 0, 0, 0, 0])  # the response that carried the figure
    return {"calls": len(calls), "server": sum(c[2] for c in calls) / 1000, "bytes": sum(c[3] for c in reqs),
            "figure_at": biggest[1] / 1000, "figure_in_layout": float(biggest[4])}


def recolour(driver: Any, conf: float) -> dict[str, float]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    before = driver.execute_script(POINTS_JS)["names"]
    box = driver.find_element(By.CSS_SELECTOR, "#ctl-conf input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(conf))
    driver.execute_script(CLEAR_JS)
    t = time.perf_counter()
    box.send_keys(Keys.ENTER)  # Enter applies the typed threshold
    wait(lambda: (driver.execute_script(POINTS_JS) or {}).get("names", before) != before)
    driver.execute_async_script(SETTLE_JS)
    sec = time.perf_counter() - t
    time.sleep(0.3)  # let the callbacks that do not hold up the map (headline, ...) land, to count them
    return {"sec": sec, **requests(driver)}


METRICS_READY_JS = """
var cm = document.querySelector('#met-cm-graph .js-plotly-plot');
var rows = document.querySelectorAll('#met-report .ag-center-cols-container .ag-row').length;
return !!(cm && cm._fullData && cm._fullData.length && rows > 0);
"""


def metrics_tab(driver: Any) -> float:
    """Seconds from a click on the Model metrics tab (first time) until the report and matrix are drawn."""
    from selenium.webdriver.common.by import By

    tab = driver.find_element(By.XPATH, "//*[contains(@class, 'tab') and normalize-space()='Model metrics']")
    t = time.perf_counter()
    tab.click()
    wait(lambda: driver.execute_script(METRICS_READY_JS))
    driver.execute_async_script(SETTLE_JS.replace("#emb-graph canvas.gl-canvas-context", "canvas"))
    return time.perf_counter() - t


def one_round(data: Path, url_query: str, n_total: int, bundle: str, checkout: Path = REPO) -> dict[str, Any]:
    """A fresh server process and a fresh browser: cold render, first metrics view, warm render, recolours."""
    server = Server(data, bundle, checkout)
    driver = chrome()
    try:
        url = server.url + url_query
        cold = render(driver, url, n_total)
        cold["metrics_tab"] = metrics_tab(driver)
        warm = render(driver, url, n_total)
        moves = [recolour(driver, c) for c in CONFS]
    finally:
        driver.quit()
        shutil.rmtree(driver.aquaembed_profile, ignore_errors=True)
        server.close()
    return {"cold": cold, "warm": warm, "recolour": moves}


LOAD_SCRIPT_JS = """
var done = arguments[arguments.length - 1];
var t = performance.now();
var s = document.createElement('script');
s.src = arguments[0];
s.onload = function() { done(performance.now() - t); };
s.onerror = function() { done(-1); };
document.head.appendChild(s);
"""


def bundle_cost(data: Path, bundles: list[str], repeat: int) -> dict[str, list[float]]:
    """Seconds a fresh browser takes to fetch, compile and run each plotly.js bundle.

    The page is the server's tiny health route (same origin, no Dash), so only the
    bundle differs; bundles alternate, so they see the same machine load. Each bundle is
    served by a server started with it (a server serves only its own plotly.js).
    """
    from aquaembed.dashboard import plotly_js_url

    servers = {b: Server(data, b) for b in bundles}
    out: dict[str, list[float]] = {b: [] for b in bundles}
    for server in servers.values():  # Dash registers the bundle's path when it first renders the index
        with urllib.request.urlopen(server.url, timeout=60) as r:
            r.read()
    try:
        for _ in range(repeat):
            for b in bundles:
                driver = chrome()
                try:
                    url = servers[b].url
                    driver.get(url + "api/v1/health")
                    ms = driver.execute_async_script(LOAD_SCRIPT_JS, url.rstrip("/") + plotly_js_url("/", b))
                finally:
                    driver.quit()
                    shutil.rmtree(driver.aquaembed_profile, ignore_errors=True)
                if ms < 0:
                    raise RuntimeError(f"the {b} plotly.js did not load")
                out[b].append(ms / 1000)
    finally:
        for server in servers.values():
            server.close()
    return out


def server_share(data: Path) -> list[tuple[str, float]]:
    """Projection + crop types at a new threshold + grouping, and the figure's JSON, in this process."""
    import plotly.io as pio

    from aquaembed.dashboard import figures
    from aquaembed.dashboard.context import Context, State

    ctx = Context(Workspace(data))
    st = State("bench", "model", 0.45, 0.5, "embedding", "crop", "type")
    t = time.perf_counter()
    proj, groups, _ = ctx.groups(st)
    t_groups = time.perf_counter() - t
    t = time.perf_counter()
    payload = pio.to_json(figures.embedding_figure(proj, groups))
    t_json = time.perf_counter() - t
    return [("server: projection + crop types at a new threshold + grouping", t_groups),
            (f"server: figure to JSON ({len(payload) / 1e6:.2f} MB, base64 arrays)", t_json)]


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.machine()) if Path("/proc/cpuinfo").exists() else platform.machine()
    try:
        chromium = subprocess.run(["chromium", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        chromium = "chromium (version unknown)"
    return f"{cpu}, nproc {os.cpu_count()}, Python {platform.python_version()}, {chromium}"


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def secs(moves: list[dict[str, float]]) -> str:
    return " ".join(f"{mv['sec']:.2f}" for mv in moves)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="rounds per variant, each with a fresh server process and browser")
    ap.add_argument("--bundles", nargs="+", default=["partial", "full"], choices=["partial", "full"],
                    help="plotly.js bundles to measure (the first is ours, the others its peers)")
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout (e.g. of main; its .venv is used when it "
                    "has one) measured as a peer with the partial bundle, its rounds alternating with ours")
    ap.add_argument("--data", type=Path, default=HERE / "_data" / "dashboard")
    ap.add_argument("--out", type=Path, default=None, help="also write the table to this file (RESULTS_dashboard.md "
                    "holds the narrative, so it is not overwritten by default)")
    args = ap.parse_args()
    data = args.data / str(args.crops)
    build(data, args.crops)
    n_total = len(Workspace(data).get("bench").projection("crop", "model")["x"])
    query = "?dataset=bench&model=model&view=embedding&kind=crop&colour=type&conf=0.5&iou=0.5"
    variants: dict[str, tuple[str, Path]] = {f"plotly.js {b}": (b, REPO) for b in args.bundles}
    if args.baseline is not None:
        rev = subprocess.run(["git", "-C", str(args.baseline), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip() or args.baseline.name
        variants[f"baseline {rev} (partial)"] = ("partial", args.baseline.resolve())

    load_before = load()
    costs = bundle_cost(data, args.bundles, max(5, args.repeat))
    print("plotly.js fetch + compile + run in a fresh browser: " + ", ".join(
        f"{b} {' '.join(f'{v:.2f}' for v in vs)} s" for b, vs in costs.items()), flush=True)
    rounds: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for i in range(args.repeat):
        for name, (bundle, checkout) in variants.items():  # alternate, so every variant sees the same load
            r = one_round(data, query, n_total, bundle, checkout)
            rounds[name].append(r)
            c = r["cold"]
            print(f"round {i + 1} {name}: cold {c['sec']:.2f} s ({c['in_page']:.2f} s since navigation; {c['calls']} callbacks, {c['bytes'] / 1e6:.2f} MB, figure in at "
                  f"{c['figure_at']:.2f} s{' with the layout' if c['figure_in_layout'] else ''}, plotly.js in at "
                  f"{c['plotly_end']:.2f} s), metrics tab {c['metrics_tab']:.2f} s, warm {r['warm']['sec']:.2f} s, recolour "
                  f"{secs(r['recolour'])} s ({r['recolour'][-1]['calls']} callbacks, "
                  f"{r['recolour'][-1]['bytes'] / 1e6:.2f} MB); load {load()}", flush=True)
    load_after = load()

    def med(values: list[float]) -> float:
        return statistics.median(values)

    def stat(values: list[float], unit: str = "s") -> str:
        if unit == "MB":
            return f"{med(values) / 1e6:.2f} MB"
        if unit == "":
            return f"{med(values):.0f}" + (f" (max {max(values):.0f})" if max(values) != med(values) else "")
        return f"{med(values):.2f} s (worst {max(values):.2f} s)"

    def measures(rs: list[dict[str, Any]]) -> dict[str, list[float]]:
        moves = [m for r in rs for m in r["recolour"]]
        return {"cold": [r["cold"]["sec"] for r in rs], "warm": [r["warm"]["sec"] for r in rs],
                "cold_page": [r["cold"]["in_page"] for r in rs],
                "recolour": [m["sec"] for m in moves], "first": [r["recolour"][0]["sec"] for r in rs],
                "plotly_end": [r["cold"]["plotly_end"] for r in rs], "figure_at": [r["cold"]["figure_at"] for r in rs],
                "server": [r["cold"]["server"] for r in rs], "calls": [r["cold"]["calls"] for r in rs],
                "bytes": [r["cold"]["bytes"] for r in rs], "metrics_tab": [r["cold"]["metrics_tab"] for r in rs],
                "r_calls": [m["calls"] for m in moves], "r_bytes": [m["bytes"] for m in moves],
                "r_server": [m["server"] for m in moves]}

    m = {v: measures(rs) for v, rs in rounds.items()}
    names = list(variants)
    ours, peers = names[0], names[1:]
    head = "| step | " + " | ".join(names) + "".join(f" | {p} / ours" for p in peers) + " |"
    rows = [f"| plotly.js fetch + compile + run, fresh browser (median of {len(costs[args.bundles[0]])}) | "
            + " | ".join([stat(costs[variants[v][0]]) if variants[v][1] == REPO else "" for v in names]
                         + [f"{med(costs[variants[p][0]]) / med(costs[args.bundles[0]]):.2f}x" if variants[p][1] == REPO else ""
                            for p in peers]) + " |"]
    for key, name, unit in (
            ("cold", f"render, cold (fresh process and browser; median of {args.repeat})", "s"),
            ("cold_page", "  the same, from the browser's navigation start (performance.now())", "s"),
            ("plotly_end", "  plotly.js fetched by (since navigation)", "s"),
            ("figure_at", "  figure received by (since navigation)", "s"),
            ("calls", "  Dash callback requests of the first load", ""),
            ("server", "  browser wait on the server's callbacks (sum of their times to first byte)", "s"),
            ("bytes", "  bytes of the layout and the callbacks", "MB"),
            ("metrics_tab", "first open of the Model metrics tab (report and matrix drawn)", "s"),
            ("warm", f"render, warm (reload; median of {args.repeat})", "s"),
            ("recolour", f"recolour after a typed confidence + Enter (median of {len(m[ours]['recolour'])})", "s"),
            ("first", "  recolour, first move of a round", "s"),
            ("r_calls", "  callback requests per recolour", ""),
            ("r_server", "  browser wait on the server per recolour (sum of times to first byte)", "s"),
            ("r_bytes", "  bytes per recolour", "MB")):
        cells = [stat(m[v][key], unit) for v in names]
        ratios = [f"{med(m[p][key]) / med(m[ours][key]):.2f}x" if med(m[ours][key]) else "—" for p in peers]
        rows.append(f"| {name} | " + " | ".join(cells + ratios) + " |")
    lines = [
        head,
        "|---|" + "---|" * (len(names) + len(peers)),
        *rows,
        *[f"| {name} | {sec:.2f} s |" + " |" * (len(names) - 1 + len(peers)) for name, sec in server_share(data)],
        "",
        f"{n_total:,} crop points; {args.repeat} rounds per variant, alternating, each a fresh `aquaembed serve` process and "
        f"a fresh headless Chromium (software WebGL). Machine: {machine()}. Load average (1, 5, 15 min) before: "
        f"{load_before}, after: {load_after}.",
        *[f"Per round, {v}: " + "; ".join(
            f"cold {r['cold']['sec']:.2f}, warm {r['warm']['sec']:.2f}, recolour {secs(r['recolour'])}"
            for r in rounds[v]) for v in names],
        "",
    ]
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
