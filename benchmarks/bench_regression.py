"""Benchmark "where B regressed" slices: calibration on null regressions and recovery of a planted one,
against the obvious peer (a two-proportion z-test with *labels* as the unit, + BH).

Run:  python benchmarks/bench_regression.py [--frames 600] [--seeds 6]

Data: :func:`aquaembed.synthetic_failures.make_failure_dataset` gives A; B is A without
some of its TP inferences:

* ``null-labels``: B misses 10% of A's TPs, each label independently;
* ``null-frames``: B misses *every* TP of 10% of the frames (a frame-level glitch, e.g. a
  dropped frame), chosen at random: no slice is special, but the broken labels are
  correlated within a frame;
* ``planted``: as ``null-labels`` plus 60% of the TPs of site ``s1``.

For each, the slices of :func:`aquaembed.analysis.regression.regression_departures`
(frames as the unit, pooled binomial-floored variance, BH at 0.05) and of the peer (each
label an independent Bernoulli trial, pooled two-proportion z-test, BH at 0.05) over the
same candidate slices x classes: the number of significant slices (null: false
discoveries) and, for ``planted``, the rank of ``site = s1`` (all classes).

Not a test: never collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))


def _pair(frames: int, seed: int, kind: str):
    from aquaembed.analysis.compare import label_transitions
    from aquaembed.data import Dataset, Inferences
    from aquaembed.evaluate import Evaluator
    from aquaembed.matching import TP, MatchOptions
    from aquaembed.synthetic_failures import make_failure_dataset

    gen = make_failure_dataset(frames, seed=seed)
    ds = gen.dataset
    a = ds.inference_set("model")
    ta = Evaluator(ds, a).table(MatchOptions())
    rng = np.random.default_rng(seed + 1000)
    tp = np.flatnonzero(ta.type == TP)
    frame = ta.frame[tp]
    if kind == "null-frames":
        lost = rng.random(len(ds.frames)) < 0.10
        drop_rows = tp[lost[frame]]
    else:
        miss = rng.random(tp.size) < 0.10
        if kind == "planted":
            site = np.asarray(ds.frames.metadata["site"])[frame]
            miss |= (site == "s1") & (rng.random(tp.size) < 0.6)
        drop_rows = tp[miss]
    keep = np.ones(len(a), dtype=bool)
    keep[ta.pred[drop_rows]] = False
    b = Inferences(a.frame[keep], a.cls[keep], a.box[keep], a.score[keep], name="B")
    ds2 = Dataset(ds.classes, ds.frames, ds.labels, {"model": a, "B": b})
    tb = Evaluator(ds2, b).table(MatchOptions())
    return ds2, label_transitions(ta, tb)


def _peer(trans, ds, slices, alpha: float = 0.05, min_count: int = 10, min_effect: float = 0.02):
    """Labels as independent trials: pooled two-proportion z-test per slice x class, BH."""
    from scipy.stats import false_discovery_control, norm

    from aquaembed.analysis.regression import broken_parts

    broken, found = broken_parts(trans, ds.labels.frame, ds.labels.cls, len(ds.frames), len(ds.classes.names))
    bi, fi = np.asarray(slices.membership @ broken), np.asarray(slices.membership @ found)
    bo, fo = broken.sum(axis=0) - bi, found.sum(axis=0) - fi
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (bi + bo) / (fi + fo)
        se = np.sqrt(p * (1 - p) * (1 / fi + 1 / fo))
        diff = bi / fi - bo / fo
        ok = (fi >= min_count) & (fo >= min_count) & (se > 0) & np.isfinite(diff)
        pv = 2 * norm.sf(np.abs(np.where(ok, diff / np.where(se > 0, se, 1), 0)))
    q = np.full(pv.shape, np.nan)
    q[ok] = false_discovery_control(pv[ok], method="bh")
    hit = ok & (q < alpha) & (np.abs(diff) >= min_effect)
    order = np.argsort(-np.where(hit, np.abs(diff) - 1.96 * se, -np.inf), axis=None)
    s_idx, col = np.unravel_index(order[: int(hit.sum())], hit.shape)
    return int(ok.sum()), list(zip(s_idx.tolist(), col.tolist()))


def _ranks(r: list[int]) -> str:
    return ", ".join(map(str, r)) if r else "—"


def main() -> None:
    from aquaembed.analysis.regression import regression_departures
    from aquaembed.analysis.slices import build_slices

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--seeds", type=int, default=6)
    args = ap.parse_args()
    print(f"# where B regressed: slices (machine: {platform.machine()}, {os.cpu_count()} cpus; "
          f"{args.frames} frames x {args.seeds} seeds)")
    print("| data | tests | aquaembed (frames as unit) slices | peer (labels as unit) slices | aquaembed rank of s1 | peer rank of s1 | aquaembed s |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("null-labels", "null-frames", "planted"):
        tested = ours = peer = 0
        ranks_ours, ranks_peer, secs = [], [], 0.0
        for seed in range(args.seeds):
            ds, trans = _pair(args.frames, 300 + seed, kind)
            slices = build_slices(ds.frames.metadata, len(ds.frames))
            t = time.perf_counter()
            res = regression_departures(trans, ds.labels.frame, ds.labels.cls, slices, list(ds.classes.names),
                                        frame_ids=ds.frames.id)
            secs += time.perf_counter() - t
            worse = [r for r in res["slices"] if r["class"] is None and r["direction"] == "worse"]
            tested += res["tested"]
            ours += len(res["slices"])
            n_peer, hits = _peer(trans, ds, slices)
            peer += len(hits)
            if kind == "planted":
                ranks_ours.append(next((i for i, r in enumerate(worse) if r["value"] == "s1"), -1))
                all_col = len(ds.classes.names)
                s1 = next(i for i in range(len(slices)) if slices.fields[i] == "site" and slices.values[i] == "s1")
                overall = [h for h in hits if h[1] == all_col]
                ranks_peer.append(next((i for i, h in enumerate(overall) if h[0] == s1), -1))
        print(f"| {kind} | {tested} | {ours} | {peer} | {_ranks(ranks_ours)} | {_ranks(ranks_peer)} | {secs:.2f} |")
    print("\nRanks are 0-based among the significant all-class slices (-1: not found).")


if __name__ == "__main__":
    main()
