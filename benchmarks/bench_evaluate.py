"""Benchmark aquaembed's evaluation against its peers, measured in the same run.

Not a test: run it by hand and copy the tables into ``benchmarks/RESULTS.md``::

    python benchmarks/bench_evaluate.py                      # 5k and 20k frames
    python benchmarks/bench_evaluate.py --frames 5000 --skip-slow

For each frame count it generates (once, cached under ``--out``) a seeded synthetic
COCO set with :func:`aquaembed.synthetic.write_coco` (80 classes, ~7 labels and 100
inferences per frame) and measures:

a) **COCO mAP, whole process from the same JSON files**, each tool in a fresh Python
   process timed by wall clock: ``aquaembed evaluate --map --json`` (the CLI, which
   also computes the confusion matrix, every report and the match list), pycocotools
   (``COCO``, ``loadRes``, ``COCOeval`` evaluate/accumulate/summarize) and
   faster-coco-eval (``COCO``, ``loadRes``, ``COCOeval_faster``); the twelve stats are
   compared. The in-process API (load, candidates, match + metrics, ``coco_map``) is
   timed stage by stage as well.
b) **Confusion-matrix evaluation at one threshold pair**, data in memory, on one core
   (``NUMBA_NUM_THREADS=1``, ``OMP_NUM_THREADS=1``, CPU affinity pinned to one core):
   aquaembed re-evaluation (candidates prepared once; then ``match`` and every metric)
   vs supervision's ``ConfusionMatrix.from_detections`` vs a plain per-frame loop with
   scipy's ``linear_sum_assignment``. The plain loop implements DESIGN.md's rule
   independently and its confusion matrix is compared cell by cell with aquaembed's.
c) **Peak memory** (``ru_maxrss``) of a process running the whole in-process API.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "_data"
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
ONE_CORE_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

PYCOCOTOOLS = """
import json, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
gt = COCO(sys.argv[1])
dt = gt.loadRes(sys.argv[2])
ev = COCOeval(gt, dt, "bbox")
ev.evaluate(); ev.accumulate(); ev.summarize()
json.dump([float(s) for s in ev.stats], open(sys.argv[3], "w"))
"""

FASTER_COCO_EVAL = """
import json, sys
from faster_coco_eval import COCO, COCOeval_faster
gt = COCO(sys.argv[1])
dt = gt.loadRes(sys.argv[2])
ev = COCOeval_faster(gt, dt, "bbox")
ev.evaluate(); ev.accumulate(); ev.summarize()
json.dump([float(s) for s in ev.stats], open(sys.argv[3], "w"))
"""


# --------------------------------------------------------------------------- helpers


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def _run(cmd: Sequence[str], *, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run a command; return (wall seconds, CPU seconds of the child, stdout).

    The CPU time (user + system, from ``wait4``) is reported beside the wall clock: on a
    shared machine it is far less sensitive to other load. Raises with the child's
    stderr on failure.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=_env(env), stdout=out, stderr=err, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{stderr[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, stdout


def _worker(kind: str, gt: Path, pred: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    script = str(Path(__file__).resolve())
    cmd = [sys.executable, script, "--worker", kind, "--gt", str(gt), "--pred", str(pred), *extra]
    _, _, out = _run(cmd, env=env)
    return json.loads(out.strip().splitlines()[-1])


def _stats_list(coco: dict[str, Any]) -> list[float]:
    return [float("nan") if coco[k] is None else float(coco[k]) for k in STAT_NAMES]


def _max_diff(a: list[float] | None, b: list[float] | None) -> float | None:
    if a is None or b is None:
        return None
    # pycocotools writes -1 where aquaembed says None (undefined)
    x = np.where(np.isnan(a), -1.0, a)
    y = np.where(np.isnan(b), -1.0, b)
    return float(np.max(np.abs(x - y)))


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{os.cpu_count()} CPUs ({model}){mem}, Python {platform.python_version()}, {platform.system()}"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for pkg in ("numpy", "numba", "scipy", "orjson", "pycocotools", "faster-coco-eval", "supervision"):
        try:
            parts.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            parts.append(f"{pkg} (absent)")
    return ", ".join(parts)


def _fmt(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _ratio(x: float | None, base: float | None) -> str:
    return "—" if x is None or not base else f"{x / base:.1f}×"


# --------------------------------------------------------------------------- workers


def _load(gt: str, pred: str) -> tuple[Any, Any, dict[str, float]]:
    from aquaembed.io.coco import load_coco_gt, load_coco_results

    t0 = time.perf_counter()
    ds = load_coco_gt(gt)
    t1 = time.perf_counter()
    inf = load_coco_results(pred, ds, name="model")
    t2 = time.perf_counter()
    return ds, inf, {"load_gt": t1 - t0, "load_pred": t2 - t1}


def _all_metrics(table: Any) -> np.ndarray:
    """Every metric of a match table; returns its confusion matrix."""
    from aquaembed import metrics

    if hasattr(metrics, "evaluate_table"):
        report = metrics.evaluate_table(table)
        return np.asarray(report["confusion_matrix"], dtype=np.int64)
    cm = metrics.confusion_matrix(table)
    metrics.class_report(table, cm=cm)
    metrics.overall_report(table, cm=cm)
    metrics.frame_report(table)
    metrics.label_types(table)
    metrics.inference_types(table)
    return cm


def worker_api(gt: str, pred: str) -> dict[str, Any]:
    """The whole in-process API once, stage by stage, and the peak memory."""
    from aquaembed.matching import MatchOptions, build_candidates, match
    from aquaembed.metrics import coco_map

    t_start = time.perf_counter()
    ds, inf, times = _load(gt, pred)
    t0 = time.perf_counter()
    cand = build_candidates(ds, inf)
    t1 = time.perf_counter()
    _all_metrics(match(cand, MatchOptions(conf=0.5, iou=0.5)))
    t2 = time.perf_counter()
    coco = coco_map(cand, frame_ids=ds.frames.id)
    t3 = time.perf_counter()
    times.update(candidates=t1 - t0, match_metrics=t2 - t1, coco_map=t3 - t2, total=t3 - t_start)
    return {
        "times": times,
        "stats": _stats_list(coco),
        "n_labels": int(len(ds.labels)),
        "n_preds": int(len(inf)),
        "n_pairs": int(cand.n_pairs),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def _frames_split(frame: np.ndarray, n_frames: int, *cols: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    order = np.argsort(frame, kind="stable")
    bounds = np.cumsum(np.bincount(frame, minlength=n_frames))[:-1]
    parts = [np.split(c[order], bounds) for c in cols]
    return list(zip(*parts))


def plain_confusion(
    labels: list[tuple[np.ndarray, ...]],
    preds: list[tuple[np.ndarray, ...]],
    n_classes: int,
    conf: float,
    iou: float,
    *,
    tie_break: bool = True,
) -> np.ndarray:
    """DESIGN.md's rule written plainly: per frame, an IoU matrix and scipy's LSA.

    ``labels[f] = (box xyxy (n, 4), class (n,))``, ``preds[f] = (box, class, score)``.
    Returns the ``(C + 1) x (C + 1)`` int64 confusion matrix, background last.

    Several assignments can share the largest total IoU (two identical label boxes,
    e.g. both clipped to the whole image). With ``tie_break`` such ties go to pairs
    whose classes agree, then to higher confidence, by adding ``1e-9`` per same-class
    pair and ``1e-12 * score`` per pair to the IoU, as aquaembed documents it; without
    it, scipy picks one of the optimal assignments arbitrarily.
    """
    from scipy.optimize import linear_sum_assignment

    bg, n = n_classes, n_classes + 1
    cells: list[np.ndarray] = []
    for (lb, lc), (pb, pc, ps) in zip(labels, preds):
        keep = ps >= conf
        pb, pc, ps = pb[keep], pc[keep], ps[keep]
        if lb.shape[0] == 0 or pb.shape[0] == 0:
            cells.append(lc * n + bg)
            cells.append(bg * n + pc)
            continue
        lt = np.maximum(lb[:, None, :2], pb[None, :, :2])
        rb = np.minimum(lb[:, None, 2:], pb[None, :, 2:])
        wh = np.clip(rb - lt, 0.0, None)
        inter = wh[..., 0] * wh[..., 1]
        area_l = (lb[:, 2] - lb[:, 0]) * (lb[:, 3] - lb[:, 1])
        area_p = (pb[:, 2] - pb[:, 0]) * (pb[:, 3] - pb[:, 1])
        ious = inter / (area_l[:, None] + area_p[None, :] - inter)
        allowed = ious >= iou
        l_used = np.zeros(lb.shape[0], dtype=bool)
        p_used = np.zeros(pb.shape[0], dtype=bool)
        if allowed.any():
            gain = ious
            if tie_break:
                gain = ious + 1e-9 * (lc[:, None] == pc[None, :]) + 1e-12 * ps[None, :]
            rows, cols = linear_sum_assignment(np.where(allowed, -gain, 0.0))
            ok = allowed[rows, cols]
            rows, cols = rows[ok], cols[ok]
            l_used[rows] = True
            p_used[cols] = True
            cells.append(lc[rows] * n + pc[cols])
        cells.append(lc[~l_used] * n + bg)
        cells.append(bg * n + pc[~p_used])
    flat = np.concatenate(cells) if cells else np.zeros(0, dtype=np.int64)
    return np.bincount(flat, minlength=n * n).astype(np.int64).reshape(n, n)


def _best_of(repeat: int, fn: Any) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def worker_cm(gt: str, pred: str, confs: list[float], iou: float, repeat: int, skip_sv: bool) -> dict[str, Any]:
    """Confusion-matrix evaluation at fixed thresholds on one core, three ways."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from aquaembed.matching import MatchOptions, build_candidates, match

    ds, inf, _ = _load(gt, pred)
    t0 = time.perf_counter()
    cand = build_candidates(ds, inf)
    t_cand = time.perf_counter() - t0
    _all_metrics(match(cand, MatchOptions(conf=0.95, iou=0.9)))  # JIT / cache warm-up, other thresholds

    n_frames, n_classes = len(ds.frames), ds.classes.n_classes
    labels = _frames_split(ds.labels.frame, n_frames, ds.labels.box, ds.labels.cls)
    preds = _frames_split(inf.frame, n_frames, inf.box, inf.cls, inf.score)
    sv_inputs = None
    if not skip_sv:
        import supervision as sv

        sv_targets = [sv.Detections(xyxy=b, class_id=c) for b, c in labels]
        sv_preds = [sv.Detections(xyxy=b, class_id=c, confidence=s) for b, c, s in preds]
        sv_inputs = (sv_preds, sv_targets, list(ds.classes.names))

    rows = []
    for conf in confs:
        t_aq, cm_aq = _best_of(repeat, lambda conf=conf: _all_metrics(match(cand, MatchOptions(conf=conf, iou=iou))))
        # timed as the issue states it (LSA on -IoU); checked with the documented tie-break
        t_plain, cm_untied = _best_of(
            repeat, lambda conf=conf: plain_confusion(labels, preds, n_classes, conf, iou, tie_break=False)
        )
        cm_plain = plain_confusion(labels, preds, n_classes, conf, iou)
        row: dict[str, Any] = {
            "conf": conf,
            "iou": iou,
            "aquaembed": t_aq,
            "plain": t_plain,
            "identical": bool(np.array_equal(cm_aq, cm_plain)),
            "cells_differing": int((cm_aq != cm_plain).sum()),
            "untied_cells_differing": int((cm_aq != cm_untied).sum()),
            "untied_count_moved": int(np.abs(cm_aq - cm_untied).sum()) // 2,
            "tp": int(np.trace(cm_aq[:n_classes, :n_classes])),
            "kept": int(cm_aq[:, :n_classes].sum()),
        }
        if sv_inputs is not None:
            import supervision as sv

            p, t, names = sv_inputs
            t_sv, cm_sv = _best_of(
                1,
                lambda p=p, t=t, names=names, conf=conf: sv.ConfusionMatrix.from_detections(
                    predictions=p, targets=t, classes=names, conf_threshold=conf, iou_threshold=iou
                ).matrix,
            )
            row["supervision"] = t_sv
            row["sv_cells_differing"] = int((np.asarray(cm_sv) != cm_plain).sum())
            row["sv_tp"] = int(np.trace(np.asarray(cm_sv)[:n_classes, :n_classes]))
        rows.append(row)
    return {"candidates": t_cand, "rows": rows, "n_boxes": int(len(inf))}


# --------------------------------------------------------------------------- driver


def _dataset(out: Path, n_frames: int, seed: int) -> tuple[Path, Path, float | None]:
    from aquaembed.synthetic import write_coco

    folder = out / f"coco_{n_frames}_seed{seed}"
    gt, pred = folder / "gt.json", folder / "pred.json"
    if gt.exists() and pred.exists():
        return gt, pred, None
    t0 = time.perf_counter()
    write_coco(folder, n_frames, seed=seed, n_classes=80, labels_per_frame=7.0, preds_per_frame=100)
    return gt, pred, time.perf_counter() - t0


Timing = dict[str, Any]  # {"wall": [s, ...], "cpu": [s, ...], "load": [1-min load avg, ...], "stats": [12]}


def _aquaembed_cli(gt: Path, pred: Path, out_json: Path) -> tuple[float, float, list[float]]:
    cmd = [sys.executable, "-m", "aquaembed.cli", "evaluate", "--gt", str(gt), "--pred", str(pred)]
    cmd += ["--map", "--json", str(out_json)]
    wall, cpu, _ = _run(cmd)
    return wall, cpu, _stats_list(json.loads(out_json.read_bytes())["coco"])


def _peer(code: str, gt: Path, pred: Path, out_json: Path) -> tuple[float, float, list[float]]:
    wall, cpu, _ = _run([sys.executable, "-c", code, str(gt), str(pred), str(out_json)])
    return wall, cpu, json.loads(out_json.read_text())


def _map_timings(gt: Path, pred: Path, out: Path, n: int, tools: list[str], repeat: int) -> dict[str, Timing]:
    """Whole-process mAP runs, the tools interleaved ``repeat`` times (fair under load)."""
    runners = {
        "aquaembed": lambda: _aquaembed_cli(gt, pred, out / f"aquaembed_{n}.json"),
        "faster-coco-eval": lambda: _peer(FASTER_COCO_EVAL, gt, pred, out / f"faster_{n}.json"),
        "pycocotools": lambda: _peer(PYCOCOTOOLS, gt, pred, out / f"pycocotools_{n}.json"),
    }
    res: dict[str, Timing] = {t: {"wall": [], "cpu": [], "load": []} for t in tools}
    for k in range(repeat):
        for tool in tools:
            if tool == "pycocotools" and k > 0:
                continue  # minutes per run: once is enough
            load = os.getloadavg()[0]
            wall, cpu, stats = runners[tool]()
            r = res[tool]
            r["wall"].append(wall)
            r["cpu"].append(cpu)
            r["load"].append(load)
            r["stats"] = stats
            print(f"  {tool:<18} wall {wall:8.2f} s   cpu {cpu:8.2f} s   (load avg before: {load:.1f})", flush=True)
    return res


def bench(args: argparse.Namespace) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {_machine()}")
    print(f"versions: {_versions()}")

    # Fill numba's on-disk cache so no measured process pays for compilation.
    gt0, pred0, _ = _dataset(out, 50, args.seed)
    _aquaembed_cli(gt0, pred0, out / "warmup.json")
    _worker("cm", gt0, pred0, "--repeat", "1", "--skip-supervision", env=ONE_CORE_ENV)

    results: dict[int, dict[str, Any]] = {}
    for n in args.frames:
        gt, pred, t_gen = _dataset(out, n, args.seed)
        origin = f"generated in {t_gen:.1f} s" if t_gen else "cached"
        print(f"\n## {n} frames ({origin}: {gt.parent})", flush=True)
        r: dict[str, Any] = {"gen": t_gen}
        tools = ["aquaembed", "faster-coco-eval"]
        if not (args.skip_slow and n > 5000):
            tools.append("pycocotools")
        r["map"] = _map_timings(gt, pred, out, n, tools, args.repeat_map)
        r["api"] = _worker("api", gt, pred)
        api = r["api"]
        print(f"  aquaembed API      total {api['times']['total']:7.2f} s   peak RSS {api['maxrss_mb']:.0f} MB", flush=True)
        extra = ["--conf", *map(str, args.conf), "--iou", str(args.iou), "--repeat", str(args.repeat)]
        r["cm"] = _worker("cm", gt, pred, *extra, env=ONE_CORE_ENV)
        results[n] = r
        (out / f"results_{n}.json").write_text(json.dumps(r, indent=1))

    _report(results)


def _best(t: Timing | None, key: str) -> float | None:
    return min(t[key]) if t else None


def _report(results: dict[int, dict[str, Any]]) -> None:
    print("\n### a) COCO mAP, whole process from the same JSON files (fresh process each; best of the runs)\n")
    print(
        "| frames | labels / inferences | tool | wall clock | CPU time (user+sys) "
        "| wall vs aquaembed | CPU vs aquaembed | runs | load avg before |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for n, r in results.items():
        m, api = r["map"], r["api"]
        base_w, base_c = _best(m["aquaembed"], "wall"), _best(m["aquaembed"], "cpu")
        for tool in ("aquaembed", "faster-coco-eval", "pycocotools"):
            t = m.get(tool)
            if t is None:
                print(f"| {n:,} | | {tool} | skipped (--skip-slow) | | | | | |")
                continue
            w, c = _best(t, "wall"), _best(t, "cpu")
            loads = ", ".join(f"{x:.1f}" for x in t["load"])
            name = "aquaembed CLI (`evaluate --map --json`)" if tool == "aquaembed" else tool
            print(
                f"| {n:,} | {api['n_labels']:,} / {api['n_preds']:,} | {name} | {w:.2f} s | {c:.2f} s "
                f"| {_ratio(w, base_w)} | {_ratio(c, base_c)} | {len(t['wall'])} | {loads} |"
            )
        print(
            f"| {n:,} | | aquaembed API in-process (load + candidates + match/metrics + coco_map) "
            f"| {api['times']['total']:.2f} s | | | | 1 | |"
        )
    print("\nAgreement of the 12 COCOeval stats (max abs difference):\n")
    for n, r in results.items():
        m = r["map"]
        stats = {k: v["stats"] for k, v in m.items()}
        stats["aquaembed API"] = r["api"]["stats"]
        ref = "pycocotools" if "pycocotools" in stats else "faster-coco-eval"
        parts = [f"{k} vs {ref}: {_fmt(_max_diff(v, stats[ref]), 7)}" for k, v in stats.items() if k != ref]
        print(f"- {n:,} frames: " + "; ".join(parts))
        print(f"  {ref}: " + ", ".join(f"{k}={v:.4f}" for k, v in zip(STAT_NAMES, stats[ref])))
    print("\nIn-process API stages (seconds, default threads):\n")
    print(
        "| frames | load gt | load results | candidates (IoU pairs) | pairs "
        "| match + metrics @0.5/0.5 | coco_map | total |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in results.items():
        t = r["api"]["times"]
        print(
            f"| {n:,} | {t['load_gt']:.2f} | {t['load_pred']:.2f} | {t['candidates']:.2f} | {r['api']['n_pairs']:,} "
            f"| {t['match_metrics']:.3f} | {t['coco_map']:.2f} | {t['total']:.2f} |"
        )
    print("\n### b) Confusion-matrix evaluation at one threshold pair, data in memory, one core (best of the runs)\n")
    print(
        "| frames | inferences | conf | IoU | aquaembed match + all metrics | plain LSA loop | supervision "
        "| plain / aquaembed | supervision / aquaembed | aquaembed CM == plain CM "
        "| supervision CM cells ≠ plain (its TP vs ours) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for n, r in results.items():
        cm = r["cm"]
        for row in cm["rows"]:
            sv_t = row.get("supervision")
            same = "yes" if row["identical"] else f"NO ({row['cells_differing']} cells differ)"
            if row["untied_cells_differing"]:
                same += f" (without the tie-break: {row['untied_count_moved']} pair(s) differ)"
            sv_diff = f"{row['sv_cells_differing']} ({row['sv_tp']:,} vs {row['tp']:,})" if sv_t else "—"
            print(
                f"| {n:,} | {cm['n_boxes']:,} | {row['conf']} | {row['iou']} | {row['aquaembed'] * 1000:.0f} ms "
                f"| {row['plain'] * 1000:.0f} ms | {_fmt(sv_t and sv_t * 1000, 0)}{' ms' if sv_t else ''} "
                f"| {_ratio(row['plain'], row['aquaembed'])} | {_ratio(sv_t, row['aquaembed'])} | {same} | {sv_diff} |"
            )
    print("\n(aquaembed's candidates are prepared once per inference set: " + ", ".join(
        f"{n:,} frames {r['cm']['candidates']:.2f} s" for n, r in results.items()) + ", one core.)")
    print("\n### c) Peak memory of the whole in-process evaluation (ru_maxrss of the process)\n")
    print("| frames | inferences | peak RSS |")
    print("|---:|---:|---:|")
    for n, r in results.items():
        print(f"| {n:,} | {r['api']['n_preds']:,} | {r['api']['maxrss_mb']:.0f} MB |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--frames", type=int, nargs="+", default=[5000, 20000], help="frame counts (default: 5000 20000)"
    )
    parser.add_argument("--skip-slow", action="store_true", help="skip pycocotools above 5000 frames (~3 min at 20k)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="folder for generated files (default: benchmarks/_data)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--conf", type=float, nargs="+", default=[0.3, 0.5], help="confidence thresholds for b)")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU threshold for b)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats in b); the best time is kept")
    parser.add_argument(
        "--repeat-map", type=int, default=2, help="interleaved repeats in a), best kept (pycocotools runs once)"
    )
    parser.add_argument("--worker", choices=["api", "cm"], help=argparse.SUPPRESS)
    parser.add_argument("--gt", help=argparse.SUPPRESS)
    parser.add_argument("--pred", help=argparse.SUPPRESS)
    parser.add_argument("--skip-supervision", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # benchmark this checkout, installed or not
    if args.worker == "api":
        print(json.dumps(worker_api(args.gt, args.pred)))
    elif args.worker == "cm":
        print(json.dumps(worker_cm(args.gt, args.pred, args.conf, args.iou, args.repeat, args.skip_supervision)))
    else:
        bench(args)


if __name__ == "__main__":
    main()
