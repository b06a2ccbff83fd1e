"""Per-frame counts through FrameMatrices (the one path custom metrics share) vs frame_report.

Run: python benchmarks/bench_frame_matrices.py [--frames 20000]
Prints the time of each path and their ratio on a seeded synthetic COCO pair, and checks
they agree. Never run as a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from aquaembed.evaluate import Evaluator
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.metrics import FrameMatrices, frame_report
from aquaembed.synthetic import write_coco


def best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gt, pred = write_coco(Path(tmp), args.frames, n_classes=10, seed=0)
        ds = load_coco_gt(gt)
        table = Evaluator(ds, load_coco_results(pred, ds)).table()
    ref = frame_report(table)
    got = FrameMatrices.from_table(table).per_frame()
    assert all(np.array_equal(getattr(ref, k), getattr(got, k)) for k in ("tp", "fp", "fn"))
    t_ref = best(lambda: frame_report(table))
    t_fm = best(lambda: FrameMatrices.from_table(table).per_frame())
    stack = FrameMatrices.from_table(table).dense()
    t_stack = best(lambda: FrameMatrices.from_stack(stack).per_frame())
    print(f"{args.frames} frames, {len(table)} match rows, 10 classes")
    print(f"frame_report(table)                     {t_ref * 1e3:8.2f} ms")
    print(f"FrameMatrices.from_table(...).per_frame {t_fm * 1e3:8.2f} ms  ({t_fm / t_ref:.2f}x)")
    print(f"FrameMatrices.from_stack(dense) (custom) {t_stack * 1e3:8.2f} ms  ({t_stack / t_ref:.2f}x)")


if __name__ == "__main__":
    main()
