"""PR curves: the confidence threshold swept at fixed other options, re-matching at each point."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from aquaembed.errors import ParameterError
from aquaembed.matching import Candidates, MatchOptions, MatchTable, assign, match, match_and_sweep, sweep_counts
from aquaembed.metrics.counts import ratios

__all__ = ["DEFAULT_THRESHOLDS", "pr_counts", "pr_curve", "pr_curve_and_table", "pr_from_counts"]

DEFAULT_THRESHOLDS = np.round(np.linspace(0.0, 1.0, 21), 2)
"""The confidences a PR curve sweeps by default: 0.00, 0.05, ..., 1.00."""


def pr_curve(
    candidates: Candidates,
    options: MatchOptions | None = None,
    *,
    thresholds: Sequence[float] | np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Precision and recall per class and overall, sweeping the confidence threshold.

    Every point re-runs the matcher at that confidence threshold and the fixed IoU
    threshold, so it is exactly what :func:`match` and :func:`class_report` report
    there (the counts are taken from the assignment directly, without laying out the
    table, which at low thresholds holds every inference).

    Parameters
    ----------
    candidates : Candidates
    options : MatchOptions, optional
        Everything but ``conf``, which the sweep replaces (default ``MatchOptions()``).
    thresholds : sequence of float, optional
        Confidence thresholds in [0, 1]; default 0.00, 0.05, ..., 1.00.

    Returns
    -------
    dict with ``thresholds`` (K,), ``precision`` and ``recall`` (K, C), and
    ``overall_precision`` and ``overall_recall`` (K,); NaN where undefined
    """
    ts = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, float)
    return pr_from_counts(ts, *pr_counts(candidates, options, thresholds=ts))


def pr_curve_and_table(
    candidates: Candidates,
    options: MatchOptions | None = None,
    *,
    thresholds: Sequence[float] | np.ndarray | None = None,
) -> tuple[MatchTable, dict[str, np.ndarray]]:
    """``match(candidates, options)`` and ``pr_curve(candidates, options)`` together.

    In the optimal mode one sweep over the frames gives both (it passes through
    ``options.conf`` and keeps the assignment there); the results are those of the two
    calls.
    """
    base = MatchOptions() if options is None else options
    ts = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, float)
    if base.mode != "optimal":
        return match(candidates, base), pr_curve(candidates, base, thresholds=ts)
    _check(ts, base)
    uniq, inverse = np.unique(ts, return_inverse=True)
    table, (tp, fp, fn) = match_and_sweep(candidates, base, uniq)
    return table, pr_from_counts(ts, tp[inverse], fp[inverse], fn[inverse])


def _check(ts: np.ndarray, base: MatchOptions) -> list[MatchOptions]:
    if ts.ndim != 1 or ts.size == 0:
        raise ParameterError("thresholds must be a non-empty 1-d sequence of confidences")
    return [base.replace(conf=float(t)) for t in ts]  # validates every threshold


def pr_counts(
    candidates: Candidates,
    options: MatchOptions | None = None,
    *,
    thresholds: Sequence[float] | np.ndarray,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP and FN per confidence threshold and class: the counts behind :func:`pr_curve`.

    Counts of disjoint frames (shards) add up to the counts of the whole.

    Returns
    -------
    tp, fp, fn : int64 arrays, shape (K, C)
    """
    ts = np.asarray(thresholds, float)
    c = candidates
    base = MatchOptions() if options is None else options
    sweep = _check(ts, base)
    if base.mode == "optimal":
        # one pass over the frames for all thresholds (the same solver, re-run per
        # component only where a threshold changed its pairs), on every core
        uniq, inverse = np.unique(np.asarray([o.conf for o in sweep], dtype=np.float64), return_inverse=True)
        tp, fp, fn = sweep_counts(c, base, uniq, threads=threads)
        return tp[inverse], fp[inverse], fn[inverse]
    k, n_c = ts.shape[0], c.n_classes
    tp = np.empty((k, n_c), dtype=np.int64)
    fp = np.empty((k, n_c), dtype=np.int64)
    fn = np.empty((k, n_c), dtype=np.int64)

    def counts(i: int) -> None:
        # the counts class_report would take from the table at this threshold, without
        # building the table: TP = matched same-class pairs, FP = kept (not ignored)
        # inferences - TP, FN = (not crowd) labels - TP, per class
        a = assign(c, sweep[i])
        matched = a.label_match >= 0
        same = np.zeros(c.n_labels, dtype=bool)
        same[matched] = c.pred_cls[a.label_match[matched]] == c.label_cls[matched]
        tp[i] = np.bincount(c.label_cls[same], minlength=n_c)
        fp[i] = np.bincount(c.pred_cls[a.kept & ~a.pred_ignored], minlength=n_c) - tp[i]
        fn[i] = np.bincount(c.label_cls[~a.crowd_labels], minlength=n_c) - tp[i]

    # the matcher's kernels release the GIL, so the thresholds run on every core
    with ThreadPoolExecutor(max_workers=min(k, threads or os.cpu_count() or 1)) as pool:
        list(pool.map(counts, range(k)))
    return tp, fp, fn


def pr_from_counts(thresholds: np.ndarray, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`pr_curve`'s result from (summed) :func:`pr_counts`."""
    per_class = ratios(tp, fp, fn)
    overall = ratios(tp.sum(axis=1), fp.sum(axis=1), fn.sum(axis=1))
    return {
        "thresholds": np.asarray(thresholds, float),
        "precision": per_class["precision"],
        "recall": per_class["recall"],
        "overall_precision": overall["precision"],
        "overall_recall": overall["recall"],
    }
