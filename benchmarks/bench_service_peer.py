"""The ``metrics`` route with PR curves at new IoUs: this code against another checkout's,
server against server, alternating request by request, in one run.

Not a test: run it by hand and paste the markdown it prints into RESULTS_service.md::

    git archive main | tar -x -C /tmp/main-checkout
    python benchmarks/bench_service_peer.py --peer /tmp/main-checkout --repeats 30 --out /tmp/bench
    python benchmarks/bench_service_peer.py --code /tmp/main-checkout --out /tmp/bench  # its stages only

It uses ``bench_service.py``'s dataset (20k frames / 2M boxes, built once under
``--out``, without embeddings) and its server wrapper. Both servers get the same
requests (each IoU unseen by both) and their responses are compared byte for byte.
Reported per server: wall time per request (one httpx client on the same machine) and
the server process's CPU time per request (user + system, all threads, from
``/proc/<pid>/stat``; the mean over the series, as the clock ticks are 10 ms), with the
load average, which on a shared machine says how far wall times are inflated. Then the
in-process stages of the same request with this code (``--code`` as in bench_service).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_service import CODE, DATASET, DEFAULT_OUT, MODEL, Server, _stats, _unseen, build


def pr_stages(data: Path, repeats: int) -> list[tuple[str, dict[str, float], dict[str, float]]]:
    """Where a ``metrics`` request with PR curves at a new IoU spends its time, in-process.

    Returns rows ``(stage, wall ms stats, CPU ms stats)``; CPU is the whole process's
    (the PR sweep runs on worker threads).
    """
    import json

    from aquaembed.evaluate import evaluation
    from aquaembed.explore import Workspace
    from aquaembed.matching import MatchOptions
    from aquaembed.metrics import pr_curve

    view = Workspace(data).get(DATASET)
    view.metrics(MODEL, options=MatchOptions(conf=0.5, iou=0.5))  # load, candidates, compile
    cands = view.evaluator(MODEL).candidates
    from aquaembed import metrics as metrics_module

    combined = getattr(metrics_module, "pr_curve_and_table", None)
    names = ("match table at (conf 0.5, new iou) alone", "PR curves alone: 21 confidences at the new iou",
             "both in one sweep (what the route runs at a new iou)",
             "arranging the metrics dict (confusion matrix, reports, curves)", "JSON of the response")
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall[name].append((time.perf_counter() - t0) * 1000.0)
        cpu[name].append((time.process_time() - c0) * 1000.0)
        return out

    for i in range(repeats):
        options = MatchOptions(conf=0.5, iou=_unseen(i, 0.35013, 0.0047))
        table = stage(names[0], lambda o=options: view.evaluator(MODEL).table(o))
        curves = stage(names[1], lambda o=options: pr_curve(cands, o))
        if combined is not None:
            stage(names[2], lambda o=options: combined(cands, o))
        out = stage(names[3], lambda t=table, c=curves: evaluation(
            view.dataset, t, coco=None, matches=False, per_frame=False, pr=c))
        stage(names[4], lambda o=out: json.dumps(o))
    names = tuple(n for n in names if wall[n])
    return [(n, _stats(wall[n]), _stats(cpu[n])) for n in names]


def compare_pr(data: Path, peer: Path, repeats: int, log_dir: Path) -> tuple[list[str], bool]:
    """``metrics`` with PR curves at a new IoU on a server of ``peer``'s code and one of this
    code, alternating request by request (same parameters, each unseen by its server).

    Returns the markdown rows and whether every response pair was identical.
    """
    import httpx

    api = f"/api/v1/datasets/{DATASET}/metrics"
    servers = {"peer": Server(data, log_dir / "server-peer.log", code=peer),
               "this": Server(data, log_dir / "server-this.log", code=CODE)}
    wall: dict[str, list[float]] = {k: [] for k in servers}
    cpu: dict[str, float] = dict.fromkeys(servers, 0.0)
    identical = True
    load0 = os.getloadavg()
    try:
        clients = {k: httpx.Client(base_url=srv.base, timeout=600) for k, srv in servers.items()}
        for cl in clients.values():
            cl.get(api, params={"model": MODEL, "conf": 0.5, "iou": 0.5}).raise_for_status()
            cl.get(api, params={"model": MODEL, "conf": 0.5, "iou": 0.29}).raise_for_status()  # warm: compile
        for i in range(repeats):
            params = {"model": MODEL, "conf": 0.5, "iou": _unseen(i, 0.30011, 0.0053)}
            bodies = {}
            for k in (("peer", "this") if i % 2 == 0 else ("this", "peer")):
                c0 = servers[k].cpu_seconds()
                t0 = time.perf_counter()
                r = clients[k].get(api, params=params)
                wall[k].append((time.perf_counter() - t0) * 1000.0)
                cpu[k] += servers[k].cpu_seconds() - c0
                r.raise_for_status()
                bodies[k] = r.content
            identical = identical and bodies["peer"] == bodies["this"]
        for cl in clients.values():
            cl.close()
    finally:
        for srv in servers.values():
            srv.stop()
    load1 = os.getloadavg()
    rows = []
    for k, label in (("peer", f"peer ({peer})"), ("this", "this code")):
        st = _stats(wall[k])
        rows.append(f"| {label} | {st['n']:.0f} | {st['p50']:.1f} | {st['p95']:.1f} | {st['max']:.1f} | "
                    f"{1000.0 * cpu[k] / max(1, repeats):.1f} |")
    rows.append(f"\nLoad average (1 min) {load0[0]:.1f} before, {load1[0]:.1f} after; responses byte-identical: "
                f"{'yes' if identical else 'NO'}.")
    return rows, identical


def compare_report(data: Path, peer: Path, repeats: int, log_dir: Path) -> str:
    rows, _ = compare_pr(data, peer, repeats, log_dir)
    stages = pr_stages(data, max(5, repeats // 2))
    lines = [
        "| `GET .../metrics?iou=<new>` (PR curves) | n | wall p50 ms | wall p95 ms | wall max ms | server CPU ms / request (mean) |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"In-process stages of the same request with the code in {CODE} (wall and whole-process CPU):",
        "",
        "| stage | n | wall p50 ms | CPU p50 ms |",
        "|---|---:|---:|---:|",
        *[f"| {n} | {w['n']:.0f} | {w['p50']:.1f} | {c['p50']:.1f} |" for n, w, c in stages],
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", type=Path, default=None, help="a checkout of the other code (e.g. main)")
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=30, help="requests per server")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="cache folder for the generated dataset")
    parser.add_argument("--code", type=Path, default=CODE, help="checkout whose aquaembed to run (default this one)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    data = build(args.out, args.frames, args.seed, embeddings=False)
    if args.peer is None:  # only the in-process stages of --code
        for name, wall, cpu in pr_stages(data, max(5, args.repeats // 2)):
            print(f"| {name} | {wall['n']:.0f} | {wall['p50']:.1f} | {cpu['p50']:.1f} |")
        return 0
    print(compare_report(data, args.peer.resolve(), args.repeats, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
