"""Start-up and whole-process evaluation time at 3,000 frames, against faster-coco-eval.

Not a test: run it by hand and copy the table into ``benchmarks/RESULTS.md``::

    python benchmarks/bench_startup.py [--frames 3000] [--repeat 5]

Measures, each in a fresh process (wall clock and the child's CPU time, user + system):

* ``python -c pass`` (the interpreter alone) and ``aquaembed --help`` (``--repeat`` x 3 runs);
* ``import numpy``, ``import numba`` (what every evaluation pays before reading a byte);
* ``aquaembed evaluate --map --json`` and faster-coco-eval (``COCO``, ``loadRes``,
  ``COCOeval_faster``) on the same seeded synthetic COCO files (80 classes, ~7 labels and
  100 inferences per frame), interleaved ``--repeat`` times so both see the same load;
  the twelve COCO stats are compared.

The ratio the issue asks about is faster-coco-eval / aquaembed, whole process; on a shared
machine the CPU-time ratio is the steadier of the two.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_evaluate import (
    DEFAULT_OUT,
    FASTER_COCO_EVAL,
    _aquaembed_cli,
    _dataset,
    _machine,
    _max_diff,
    _peer,
    _run,
    _versions,
)


def _runs(cmd: list[str], n: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(n):
        wall, cpu, _ = _run(cmd)
        walls.append(wall)
        cpus.append(cpu)
    return walls, cpus


def _row(name: str, walls: list[float], cpus: list[float]) -> str:
    return (f"| {name} | {min(walls):.3f} s | {statistics.median(walls):.3f} s | {min(cpus):.3f} s | "
            f"{statistics.median(cpus):.3f} s | {len(walls)} |")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a folder holding another revision's aquaembed package (e.g. from `git archive`), timed too")
    args = ap.parse_args(argv)
    py = sys.executable
    print(f"machine: {_machine()}; {_versions()}; load avg before: {os.getloadavg()[0]:.1f}")
    print()
    print("| process | wall best | wall median | CPU best | CPU median | runs |")
    print("|---|---:|---:|---:|---:|---:|")
    n = 3 * args.repeat
    for name, cmd in (
        ("`python -c pass`", [py, "-c", "pass"]),
        ("`aquaembed --help`", [py, "-m", "aquaembed.cli", "--help"]),
        ("`python -c 'import numpy'`", [py, "-c", "import numpy"]),
        ("`python -c 'import numba'`", [py, "-c", "import numba"]),
    ):
        print(_row(name, *_runs(cmd, n)), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    gt, pred, _ = _dataset(args.out, args.frames, 0)
    aq: dict[str, list[float]] = {"wall": [], "cpu": []}
    fce: dict[str, list[float]] = {"wall": [], "cpu": []}
    base: dict[str, list[float]] = {"wall": [], "cpu": []}
    # the baseline's folder goes first on sys.path (``-m`` would find this repository's
    # package first: the benchmark runs in the repository)
    boot = "import sys; sys.path.insert(0, sys.argv.pop(1)); from aquaembed.cli import main; sys.exit(main(sys.argv[1:]))"
    eval_cmd = [py, "-c", boot, str(args.baseline), "evaluate", "--gt", str(gt), "--pred", str(pred), "--map",
                "--json", str(args.out / "startup_baseline.json")]
    stats_aq = stats_fce = None
    loads = []
    for _ in range(args.repeat):
        loads.append(os.getloadavg()[0])
        wall, cpu, stats_aq = _aquaembed_cli(gt, pred, args.out / "startup_aquaembed.json")
        aq["wall"].append(wall)
        aq["cpu"].append(cpu)
        wall, cpu, stats_fce = _peer(FASTER_COCO_EVAL, gt, pred, args.out / "startup_faster.json")
        fce["wall"].append(wall)
        fce["cpu"].append(cpu)
        if args.baseline is not None:
            wall, cpu, _ = _run(eval_cmd)
            base["wall"].append(wall)
            base["cpu"].append(cpu)
    print(_row(f"`aquaembed evaluate --map --json`, {args.frames} frames", aq["wall"], aq["cpu"]))
    print(_row(f"faster-coco-eval, {args.frames} frames", fce["wall"], fce["cpu"]))
    if base["wall"]:
        print(_row(f"baseline `aquaembed evaluate --map --json` ({args.baseline.name})", base["wall"], base["cpu"]))
    print()
    for key in ("wall", "cpu"):
        best = min(fce[key]) / min(aq[key])
        med = statistics.median(fce[key]) / statistics.median(aq[key])
        print(f"faster-coco-eval / aquaembed, {key}: best {best:.2f}x, median {med:.2f}x")
        if base[key]:
            print(f"faster-coco-eval / baseline, {key}: best {min(fce[key]) / min(base[key]):.2f}x, "
                  f"median {statistics.median(fce[key]) / statistics.median(base[key]):.2f}x")
    print(f"max |stat difference| aquaembed vs faster-coco-eval: {_max_diff(stats_aq, stats_fce):.7f}")
    print(f"1-min load average before each pair: {', '.join(f'{x:.1f}' for x in loads)}")


if __name__ == "__main__":
    main()
