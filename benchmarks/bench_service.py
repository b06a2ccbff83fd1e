"""Latency of the service's endpoints against a running server, on 20k frames / 2M boxes.

Not a test: run it by hand; it writes ``benchmarks/RESULTS_service.md``::

    python benchmarks/bench_service.py
    python benchmarks/bench_service.py --frames 5000 --repeats 20

``benchmarks/bench_service_peer.py`` compares the ``metrics`` route with PR curves against
another checkout's code, server against server, in one run.

What it does
------------
1. Builds (once, cached under ``--out``) a stored dataset: a seeded synthetic COCO set
   (:func:`aquaembed.synthetic.write_coco`, 80 classes, ~10 labels and 90 inferences
   per frame: 20k frames give ~200k labels + 1.8M inferences = 2M boxes), frame
   metadata, and random embeddings for the frames (dim 64) and for every label crop
   (~200k crops, dim 64), with the ingest's FAISS indexes and UMAP projections
   (:func:`aquaembed.ingest.build_artifacts`). Embeddings are stored only when the
   library has ``DatasetView.projection`` / ``.similar``.
2. Starts ``aquaembed.service.serve`` in a subprocess on a free port.
3. Times each request from one HTTP client (httpx, keep-alive) on the same machine, so
   the figures include HTTP, validation and JSON; reports p50 / p95 / max:

   * ``metrics`` at previously unseen thresholds (target p50 < 150 ms), three ways:
     a new ``conf`` at the same ``iou`` (a confidence slider; the PR curves of that IoU
     are cached), a new ``conf`` and ``iou`` with ``pr=false``, and a new ``iou`` with
     PR curves (which re-sweep the confidence, the worst case);
   * ``matches`` (target < 50 ms): confusion-cell drill-downs, sorted by score / IoU /
     area / aspect, at thresholds whose match table is cached (the click after the
     metrics), and at unseen thresholds;
   * ``frames``: a page of the frame table sorted by F1 with a metadata filter;
   * ``similar`` (target < 20 ms) and ``projection`` (target < 300 ms for 200k points)
     when the library has them; the first projection call (which fits and caches the
     UMAP) is reported separately;
   * ``frame image``: first render and cached.

The first request of each kind (which loads tables and builds the candidate pairs) is
reported apart, never mixed into the percentiles.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _code_root(argv: Sequence[str]) -> Path:
    """``--code DIR`` (a checkout whose ``aquaembed`` to import), else this repository."""
    for i, a in enumerate(argv):
        if a == "--code" and i + 1 < len(argv):
            return Path(argv[i + 1]).resolve()
        if a.startswith("--code="):
            return Path(a.split("=", 1)[1]).resolve()
    return REPO


CODE = _code_root(sys.argv[1:])
sys.path.insert(0, str(CODE))

DEFAULT_OUT = REPO / "benchmarks" / "_data" / "service"
RESULTS = REPO / "benchmarks" / "RESULTS_service.md"
CROP_PROJECTION = "projection-crop"
"""Name of the crop projection artefact (:data:`aquaembed.ingest.CROP_PROJECTION`)."""
DATASET = "bench"
MODEL = "detector"
TARGETS_MS = {"metrics": 150.0, "matches": 50.0, "similar": 20.0, "projection": 300.0}


# --------------------------------------------------------------------------- data


def _has_embedding_api() -> bool:
    from aquaembed.explore import DatasetView

    return hasattr(DatasetView, "projection") and hasattr(DatasetView, "similar")


def build(out: Path, n_frames: int, seed: int, *, embeddings: bool = True) -> Path:
    """Create the stored dataset under ``out/data`` unless it is there; return the data dir."""
    from aquaembed.data import Dataset, Frames
    from aquaembed.io.coco import load_coco_gt, load_coco_results
    from aquaembed.store import Store
    from aquaembed.synthetic import write_coco

    data = out / f"data_{n_frames}_seed{seed}"
    store = Store(data)
    want_embeddings = embeddings and _has_embedding_api()
    if store.exists(DATASET):
        stored = store.open(DATASET)
        if not want_embeddings or CROP_PROJECTION in stored.artifact_names:
            return data
    else:
        t0 = time.perf_counter()
        src = out / f"coco_{n_frames}_seed{seed}"
        gt_path, pred_path = src / "gt.json", src / "pred.json"
        if not (gt_path.is_file() and pred_path.is_file()):
            print(f"generating {n_frames} synthetic frames ...", flush=True)
            write_coco(src, n_frames, n_classes=80, labels_per_frame=10.0, preds_per_frame=90, seed=seed)
        base = load_coco_gt(gt_path)
        inf = load_coco_results(pred_path, base, name=MODEL)
        rng = np.random.default_rng(seed)
        n = len(base.frames)
        frames = Frames(
            base.frames.id,
            base.frames.file_name,
            base.frames.width,
            base.frames.height,
            metadata={
                "scene": np.array(["reef", "harbour", "open water", "night dive"])[rng.integers(0, 4, n)],
                "depth_m": rng.uniform(0.0, 40.0, n),
                "camera": rng.integers(0, 8, n).astype(np.int64),
            },
        )
        stored = store.create(DATASET, Dataset(base.classes, frames, base.labels, {MODEL: inf}), replace=True)
        print(
            f"stored {n} frames, {len(base.labels)} labels, {len(inf)} inferences in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    if want_embeddings and "label" not in stored.embedding_kinds:
        rng = np.random.default_rng(seed + 1)
        ds = stored.dataset
        t0 = time.perf_counter()
        if "frame" not in stored.embedding_kinds:
            stored.set_embeddings("frame", ds.frames.id, rng.normal(size=(len(ds.frames), 64)).astype(np.float32))
        stored.set_embeddings("label", ds.labels.id, rng.normal(size=(len(ds.labels), 64)).astype(np.float32))
        print(f"stored embeddings ({len(ds.labels)} crops) in {time.perf_counter() - t0:.1f} s", flush=True)
    if want_embeddings and CROP_PROJECTION not in stored.artifact_names:
        from aquaembed.ingest import build_artifacts

        t0 = time.perf_counter()
        build_artifacts(stored, progress=lambda text: print(f"  {text}", flush=True))
        print(f"built the FAISS indexes and UMAP projections in {time.perf_counter() - t0:.0f} s", flush=True)
    return data


# --------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``serve(data_dir)`` in a subprocess, stopped with SIGINT."""

    def __init__(self, data_dir: Path, log: Path, code: Path = CODE) -> None:
        import httpx

        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = (
            "from aquaembed.service import serve; "
            f"serve({str(data_dir)!r}, host='127.0.0.1', port={self.port}, log_level='warning')"
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")])}
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", command], cwd=code, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; see {log}")
            try:
                if httpx.get(f"{self.base}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"server did not start; see {log}")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# --------------------------------------------------------------------------- timing


def _time(client: Any, path: str, params: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    r = client.get(path, params=params)
    dt = (time.perf_counter() - t0) * 1000.0
    if r.status_code != 200:
        raise SystemExit(f"GET {path} {params}: HTTP {r.status_code} {r.text[:300]}")
    return dt


def _stats(ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"n": float(a.size), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": float(a.max())}


def _series(client: Any, path: str, params: Sequence[dict[str, Any]]) -> dict[str, float]:
    return _stats([_time(client, path, p) for p in params])


def _unseen(i: int, start: float, step: float) -> float:
    """A threshold no earlier request used (distinct by construction)."""
    return round(start + i * step, 6)


def run(base: str, repeats: int, embeddings: bool) -> tuple[list[tuple[str, dict[str, float], str]], list[str]]:
    import httpx

    rows: list[tuple[str, dict[str, float], str]] = []
    notes: list[str] = []
    api = f"/api/v1/datasets/{DATASET}"
    with httpx.Client(base_url=base, timeout=600) as c:
        first = _time(c, f"{api}/metrics", {"model": MODEL, "conf": 0.5, "iou": 0.5})
        notes.append(f"first `metrics` request (reads the tables, builds the candidate pairs, PR curves at IoU 0.5): {first:.0f} ms")
        summary = c.get(api).json()
        classes = summary["classes"]
        print(f"first request {first:.0f} ms", flush=True)

        rows.append(("metrics, new conf, iou 0.5 (PR curves cached)", _series(
            c, f"{api}/metrics", [{"model": MODEL, "conf": _unseen(i, 0.3001, 0.0071), "iou": 0.5} for i in range(repeats)]
        ), "metrics"))
        rows.append(("metrics, new conf and iou, pr=false", _series(
            c, f"{api}/metrics",
            [{"model": MODEL, "conf": _unseen(i, 0.2003, 0.0067), "iou": _unseen(i, 0.40007, 0.0043), "pr": "false"}
             for i in range(repeats)],
        ), "metrics"))
        rows.append(("metrics, new iou, with PR curves (re-sweeps conf)", _series(
            c, f"{api}/metrics",
            [{"model": MODEL, "conf": 0.5, "iou": _unseen(i, 0.30011, 0.0053)} for i in range(max(5, repeats // 4))],
        ), "metrics"))
        print(rows[-1], flush=True)

        cells = [(g, p) for g in classes[:6] for p in (*classes[:2], "background")] + [("background", classes[0])]
        sorts = ("score", "iou", "area", "aspect")
        seen = [
            {"model": MODEL, "conf": 0.5, "iou": 0.5, "gt_class": g, "pred_class": p, "sort": sorts[i % 4],
             "order": "desc" if i % 2 else "asc", "limit": 50}
            for i, (g, p) in enumerate(cells * max(1, repeats // len(cells) + 1))
        ][:repeats]
        rows.append(("matches, a confusion cell, table cached", _series(c, f"{api}/matches", seen), "matches"))
        rows.append(("matches, type=FP sorted by score, 50 rows, table cached", _series(
            c, f"{api}/matches", [{"model": MODEL, "type": "FP", "sort": "score", "limit": 50, "offset": 50 * i} for i in range(repeats)]
        ), "matches"))
        rows.append(("matches, a confusion cell, unseen thresholds (includes matching)", _series(
            c, f"{api}/matches",
            [{**q, "conf": _unseen(i, 0.1007, 0.0059), "iou": _unseen(i, 0.6001, 0.0031)} for i, q in enumerate(seen)],
        ), "matching"))
        rows.append(("frames, sorted by f1, meta.scene filter, table cached", _series(
            c, f"{api}/frames",
            [{"model": MODEL, "sort": "f1", "order": "asc", "meta.scene": "reef", "limit": 50, "offset": 50 * i} for i in range(repeats)],
        ), "frames"))
        fid = c.get(f"{api}/frames", params={"model": MODEL, "limit": 1}).json()["rows"][0]["id"]
        first_img = _time(c, f"{api}/frames/{fid}/image", {"models": MODEL})
        rows.append(("frame image (no image files: boxes on a canvas), cached", _series(
            c, f"{api}/frames/{fid}/image", [{"models": MODEL}] * repeats
        ), "image"))
        notes.append(f"first frame image render: {first_img:.0f} ms")

        if embeddings:
            for kind in ("frame", "crop"):
                t_first = _time(c, f"{api}/projection", {"kind": kind, "model": MODEL})
                notes.append(f"first `projection` kind={kind} (loads the stored coordinates): {t_first:.0f} ms")
                print(notes[-1], flush=True)
                rows.append((f"projection kind={kind}, new conf", _series(
                    c, f"{api}/projection",
                    [{"kind": kind, "model": MODEL, "conf": _unseen(i, 0.31, 0.0097)} for i in range(max(5, repeats // 2))],
                ), "projection"))
            frame_ids = c.get(f"{api}/frames", params={"model": MODEL, "limit": repeats, "sort": "id"}).json()["rows"]
            t_first = _time(c, f"{api}/similar", {"kind": "frame", "id": frame_ids[0]["id"], "model": MODEL})
            notes.append(f"first frame `similar` (loads the frame index): {t_first:.0f} ms")
            rows.append(("similar kind=frame, k=10", _series(
                c, f"{api}/similar", [{"kind": "frame", "id": r["id"], "k": 10, "model": MODEL} for r in frame_ids]
            ), "similar"))
            label_ids = [
                r["gt_id"]
                for r in c.get(f"{api}/matches", params={"model": MODEL, "type": "TP", "limit": repeats}).json()["rows"]
            ]
            t_first = _time(c, f"{api}/similar", {"kind": "crop", "id": label_ids[0], "source": "label", "model": MODEL})
            notes.append(f"first crop `similar` (loads the crop index and table): {t_first:.0f} ms")
            rows.append(("similar kind=crop (label), k=10", _series(
                c, f"{api}/similar", [{"kind": "crop", "id": i, "k": 10, "source": "label", "model": MODEL} for i in label_ids]
            ), "similar"))
        else:
            notes.append("`projection` and `similar` skipped: DatasetView.projection / .similar are not in the library yet")
    return rows, notes


# --------------------------------------------------------------------------- report


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import fastapi
    import uvicorn

    return (
        f"{cpu}, {os.cpu_count()} logical cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}"
    )


def report(rows: list[tuple[str, dict[str, float], str]], notes: list[str], counts: dict[str, int], elapsed: float) -> str:
    lines = [
        "# Service latency (`benchmarks/bench_service.py`)",
        "",
        f"Machine: {_machine()}.",
        "",
        f"Dataset: {counts['frames']:,} frames, {counts['labels']:,} labels, {counts['inferences']:,} inferences "
        f"({counts['labels'] + counts['inferences']:,} boxes), 80 classes, synthetic (seeded). One HTTP client "
        "(httpx, keep-alive) on the same machine as the server (uvicorn, one process); times are wall clock per "
        "request, including HTTP, validation and JSON.",
        "",
        "| request | n | p50 ms | p95 ms | max ms | target p50 |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, s, group in rows:
        target = TARGETS_MS.get(group)
        mark = "" if target is None else f"< {target:.0f} ms {'✓' if s['p50'] < target else '✗'}"
        lines.append(f"| {name} | {s['n']:.0f} | {s['p50']:.1f} | {s['p95']:.1f} | {s['max']:.1f} | {mark} |")
    notes = [
        *notes,
        "`metrics` with a new IoU recomputes the PR curves (a sweep of 21 confidence thresholds, each a "
        "re-match) in the library; the dashboard can ask `pr=false` while a slider moves and fetch the curves "
        "when it stops",
        "rows marked *library only* time the same calls in-process, without HTTP or JSON",
    ]
    lines += ["", *[f"- {n}" for n in notes], f"- whole run: {elapsed:.0f} s", ""]
    return "\n".join(lines)


def library_baseline(data: Path, repeats: int) -> list[tuple[str, dict[str, float], str]]:
    """The same ``metrics`` calls in-process (no HTTP, no JSON): the library's share of the latency."""
    from aquaembed.explore import Workspace
    from aquaembed.matching import MatchOptions

    view = Workspace(data).get(DATASET)
    view.metrics(MODEL, options=MatchOptions(conf=0.5, iou=0.5))  # load, candidates, PR curves at 0.5

    def timed(fn: Callable[[], Any]) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000.0

    new_conf = [
        timed(lambda i=i: view.metrics(MODEL, options=MatchOptions(conf=_unseen(i, 0.3002, 0.0071), iou=0.5))) for i in range(repeats)
    ]
    table = [
        timed(lambda i=i: view.table(MODEL, options=MatchOptions(conf=_unseen(i, 0.2004, 0.0067), iou=_unseen(i, 0.40008, 0.0043))))
        for i in range(repeats)
    ]
    return [
        ("library only: `DatasetView.metrics`, new conf, iou 0.5", _stats(new_conf), "library"),
        ("library only: match table at new conf and iou", _stats(table), "library"),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=40, help="requests per measured series")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="cache folder for the generated dataset")
    parser.add_argument("--results", type=Path, default=RESULTS, help="markdown file to write")
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose aquaembed to run (default this one)")
    parser.add_argument("--no-embeddings", action="store_true", help="build the dataset without embeddings")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    data = build(args.out, args.frames, args.seed, embeddings=not args.no_embeddings)
    from aquaembed.store import Store

    manifest = Store(data).open(DATASET).manifest
    counts = {
        "frames": int(manifest["counts"]["frames"]),
        "labels": int(manifest["counts"]["labels"]),
        "inferences": int(sum(manifest["counts"]["inferences"].values())),
    }
    server = Server(data, args.out / "server.log")
    try:
        rows, notes = run(server.base, args.repeats, _has_embedding_api() and not args.no_embeddings)
    finally:
        server.stop()
    rows += library_baseline(data, args.repeats)
    text = report(rows, notes, counts, time.perf_counter() - t0)
    args.results.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
