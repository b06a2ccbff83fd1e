"""Slices of frames that depart from the rest: better (overfitting?) or worse (a hard condition).

Slices are every value of every frame-metadata field (numeric fields with many values
are cut into quartile bins), every pair of values of two fields, and frame-embedding
regions (k-means cells of the frame embeddings, for data without metadata). Slices with
the same frames as an earlier one are tested once (a single field before a pair).

For each slice, for all classes and for each class, precision, recall and F1 are
compared between the slice and the rest. Each of the three is a ratio of per-frame sums
(``TP/(TP+FP)``, ``TP/(TP+FN)``, ``2TP/(2TP+FP+FN)``), and errors within a frame are
correlated, so **frames are the unit**:

* the *test* is a two-sided z-test of ``R_slice - R_rest`` with the frame-clustered
  (linearised, "sandwich") variance of a ratio estimator,
  ``Var(R) = n/(n-1) * sum_f (a_f - R b_f)^2 / (sum_f b_f)^2``; the slice and the rest are
  disjoint sets of frames, so their variances add. It is the large-sample equivalent of
  a bootstrap over frames, computed for hundreds of slices x classes x metrics with one
  sparse product. A bootstrap or permutation p-value was rejected for the test because
  Benjamini-Hochberg over ~10^3 tests needs p-values near 1e-5 to be resolved, i.e.
  ~10^5 resamples per test; the z-test is only used where both sides have at least
  ``min_frames`` frames and ``min_count`` counts in the denominator;
* the *interval* of the in-slice value is a percentile bootstrap over the slice's
  frames (``n_boot`` resamples), computed only for the slices reported. It is exact and
  vectorised: a Poisson bootstrap (every frame weighted Poisson(1) per resample), drawn
  as one Poisson(count) per distinct per-frame count pair ``(a_f, b_f)`` of the slice, so
  its cost does not grow with the number of frames;
* ``q_value`` is the Benjamini-Hochberg adjustment (``scipy.stats.false_discovery_control``)
  over everything tested; a slice is reported when ``q < alpha`` and the difference is
  at least ``min_effect``, once per (slice, class) with the metric that departs most. A
  pair of values (or a region lying mostly inside metadata values) is reported only when
  it departs from the rest by more than each of its one-field parents does (by
  ``max(min_effect, 1.96 SE)``). Ranking: the
  conservative effect ``|difference| - 1.96 SE``, largest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.stats import false_discovery_control, norm

from aquaembed.errors import ParameterError
from aquaembed.matching import MatchTable
from aquaembed.metrics import FrameMatrices, json_value

__all__ = ["METRICS", "SliceSet", "build_slices", "frame_counts", "ratio_departures", "slice_departures", "slice_mask"]

METRICS: tuple[str, ...] = ("precision", "recall", "f1")


@dataclass
class SliceSet:
    """Slices of frames.

    Attributes
    ----------
    membership : scipy.sparse.csr_matrix of float64, shape (S, F)
        1 where frame row ``f`` belongs to slice ``s``.
    fields : list
        Per slice: a field name, a pair of names, or ``"region"``.
    values : list
        Per slice: the value (str), a pair of values, or the region number (int).
    parents : list of tuple of int
        Per slice: the single-field slices a pair is the intersection of, or that hold at
        least 80% of a region's frames (empty otherwise).
    """

    membership: sp.csr_matrix
    fields: list[Any] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    parents: list[tuple[int, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.fields)


def frame_counts(table: MatchTable | FrameMatrices) -> np.ndarray:
    """Per-frame TP, FP, FN per class and over all classes.

    Parameters
    ----------
    table : MatchTable or FrameMatrices
        The built-in matching's table, or per-frame confusion matrices (a custom metric):
        TP = diagonal without background, FP = column sum - TP, FN = row sum - TP.

    Returns
    -------
    int64 array, shape (3, F, C + 1)
        ``[tp, fp, fn]``; column ``C`` is all classes (micro, as the overall report counts).
    """
    fm = table if isinstance(table, FrameMatrices) else FrameMatrices.from_table(table)
    f, c = fm.n_frames, fm.n_classes
    is_tp = (fm.row == fm.col) & (fm.row < c)
    out = np.zeros((3, f, c + 1), dtype=np.int64)
    for k, (mask, cls) in enumerate(((is_tp, fm.row), ((fm.col < c) & ~is_tp, fm.col), ((fm.row < c) & ~is_tp, fm.row))):
        flat = fm.frame[mask] * (c + 1) + cls[mask]
        out[k] = np.bincount(flat, weights=fm.count[mask], minlength=f * (c + 1)).astype(np.int64).reshape(f, c + 1)
    out[:, :, c] = out[:, :, :c].sum(axis=2)
    return out


def _codes(col: np.ndarray, max_values: int) -> tuple[np.ndarray, np.ndarray] | None:
    arr = np.asarray(col)
    if arr.dtype.kind in "iuf":
        finite = np.isfinite(arr.astype(np.float64))
        uniq = np.unique(arr[finite])
        if uniq.size > max_values:
            edges = np.unique(np.quantile(arr[finite].astype(np.float64), [0.25, 0.5, 0.75]))
            bins = np.searchsorted(edges, arr.astype(np.float64), side="right")
            lo = np.concatenate([[arr[finite].min()], edges])
            hi = np.concatenate([edges, [arr[finite].max()]])
            names = np.asarray([f"[{json_value(a)}, {json_value(b)}{']' if i == edges.size else ')'}" for i, (a, b) in enumerate(zip(lo, hi))])
            return names, np.where(finite, bins, -1)
    values, codes = np.unique(arr.astype(str), return_inverse=True)
    if values.size > max_values:
        return None
    return values, codes


def build_slices(
    metadata: Mapping[str, np.ndarray],
    n_frames: int,
    *,
    regions: np.ndarray | None = None,
    pairs: bool = True,
    max_values: int = 50,
    max_pair_values: int = 20,
    min_frames: int = 20,
) -> SliceSet:
    """The candidate slices: field values, value pairs, and regions.

    Parameters
    ----------
    metadata : mapping of field to array, shape (F,)
    n_frames : int
    regions : int array, shape (F,), optional
        Region of each frame row (-1 for none).
    pairs : bool
        Include pairs of values of two fields.
    max_values, max_pair_values : int
        Fields with more distinct values are skipped (numeric ones are binned instead).
    min_frames : int
        Slices with fewer frames, or fewer frames left in the rest, are dropped.
    """
    singles: list[tuple[str, np.ndarray, np.ndarray]] = []
    for name, col in metadata.items():
        got = _codes(col, max_values)
        if got is not None and got[0].size >= 2:
            singles.append((name, got[0], got[1]))
    fields: list[Any] = []
    values: list[Any] = []
    groups: list[np.ndarray] = []
    parents: list[tuple[int, ...]] = []
    seen: dict[bytes, int] = {}
    everything = np.arange(n_frames)

    def add(f: Any, v: Any, codes: np.ndarray, n_codes: int, parent: Any = None) -> list[int]:
        """Add the groups of ``codes`` (smallest first, so of two complements the smaller stays)."""
        counts = np.bincount(codes[codes >= 0], minlength=n_codes)
        order = np.argsort(codes, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)])
        offset = int((codes < 0).sum())
        index = [-1] * n_codes
        ok = np.flatnonzero((counts >= min_frames) & (n_frames - counts >= min_frames))
        for g in ok[np.argsort(counts[ok], kind="stable")].tolist():
            frames = np.sort(order[offset + starts[g] : offset + starts[g + 1]])
            key = frames.tobytes()
            if key in seen:
                index[g] = seen[key]
                continue
            if np.setdiff1d(everything, frames, assume_unique=True).tobytes() in seen:
                continue
            seen[key] = len(groups)
            index[g] = len(groups)
            fields.append(f)
            values.append(v(g))
            groups.append(frames)
            parents.append(() if parent is None else parent(g))
        return index

    single_index = []
    for name, vals, codes in singles:
        single_index.append(add(name, lambda g, vals=vals: str(vals[g]), codes, vals.size))
    if pairs:
        small = [(i, s) for i, s in enumerate(singles) if s[1].size <= max_pair_values]
        for (i1, (n1, v1, c1)), (i2, (n2, v2, c2)) in combinations(small, 2):
            combo = np.where((c1 >= 0) & (c2 >= 0), c1 * v2.size + c2, -1)
            w = v2.size
            add(
                [n1, n2], lambda g, v1=v1, v2=v2, w=w: [str(v1[g // w]), str(v2[g % w])], combo, v1.size * w,
                parent=lambda g, i1=i1, i2=i2, w=w: tuple(
                    p for p in (single_index[i1][g // w], single_index[i2][g % w]) if p >= 0
                ),
            )
    n_single = len(groups)
    if regions is not None:
        r = np.asarray(regions, dtype=np.int64)
        first = len(groups)
        add("region", lambda g: g, r, int(r.max()) + 1 if r.size else 0)
        # a region that is (nearly) a metadata value adds nothing: drop it
        if len(groups) > first and n_single:
            sizes = np.array([g.size for g in groups])
            mem = _membership(groups, n_frames)
            inter = (mem[first:] @ mem[:n_single].T).toarray()
            union = sizes[first:, None] + sizes[None, :n_single] - inter
            drop = set((first + np.flatnonzero((inter / union).max(axis=1) >= 0.8)).tolist())
            # a region mostly inside metadata values has those as parents (tested like a pair)
            inside = inter / sizes[first:, None]
            for j in range(inside.shape[0]):
                parents[first + j] = tuple(np.flatnonzero(inside[j] >= 0.8).tolist())
            keep = [i for i in range(len(groups)) if i not in drop]
            fields = [fields[i] for i in keep]
            values = [values[i] for i in keep]
            groups = [groups[i] for i in keep]
            parents = [parents[i] for i in keep]
    mem = _membership(groups, n_frames)
    return SliceSet(mem, fields, values, parents)


def _membership(groups: list[np.ndarray], n_frames: int) -> sp.csr_matrix:
    rows = np.repeat(np.arange(len(groups)), [g.size for g in groups])
    cols = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
    return sp.csr_matrix((np.ones(cols.size), (rows, cols)), shape=(len(groups), n_frames))


def slice_mask(metadata: Mapping[str, np.ndarray], fields: Sequence[str], values: Sequence[str]) -> np.ndarray:
    """Frames of a metadata slice (one or two fields), as :func:`build_slices` names it.

    A value of a binned numeric field (``"[lo, hi)"``, the last bin closed) selects its range.
    """
    n = len(next(iter(metadata.values()))) if metadata else 0
    keep = np.ones(n, dtype=bool)
    for f, v in zip(fields, values):
        col = np.asarray(metadata[f])
        text = str(v)
        if col.dtype.kind in "iuf" and text.startswith("[") and "," in text:
            lo, hi = (float(t) for t in text[1:-1].split(","))
            x = col.astype(np.float64)
            keep &= (x >= lo) & ((x <= hi) if text.endswith("]") else (x < hi))
        else:
            keep &= col.astype(str) == text
    return keep


def _ratio_parts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numerators and denominators per frame: shape (3 metrics, F, C + 1) each."""
    tp, fp, fn = counts.astype(np.float64)
    a = np.stack([tp, tp, 2 * tp])
    b = np.stack([tp + fp, tp + fn, 2 * tp + fp + fn])
    return a, b


def _bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int, rng: np.random.Generator, level: float) -> list[float | None]:
    """Percentile interval of sum(a)/sum(b) over a Poisson bootstrap of frames.

    Every frame gets a Poisson(1) weight per resample; frames with the same ``(a_f, b_f)``
    are interchangeable, so the summed weight of a group of ``c`` such frames is one
    Poisson(c) draw: the cost depends on the number of distinct pairs, not of frames.
    """
    width = float(b.max()) + 1 if b.size else 1.0
    codes, counts = np.unique(a * width + b, return_counts=True)
    draws = rng.poisson(counts.astype(np.float64), size=(n_boot, counts.size)).astype(np.float64)
    num, den = draws @ np.floor(codes / width), draws @ np.mod(codes, width)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    r = r[np.isfinite(r)]
    if r.size == 0:
        return [None, None]
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return [round(float(lo), 4), round(float(hi), 4)]


def slice_departures(
    table: MatchTable | FrameMatrices,
    slices: SliceSet,
    class_names: Sequence[str],
    *,
    frame_ids: np.ndarray,
    alpha: float = 0.05,
    min_effect: float = 0.02,
    min_count: int = 10,
    min_frames: int = 20,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    limit: int | None = None,
    frames: np.ndarray | None = None,
) -> dict[str, Any]:
    """Test every slice x class x metric against the rest; the significant ones, ranked.

    Parameters
    ----------
    table : MatchTable or FrameMatrices
        The built-in matching, or a custom metric's per-frame matrices.
    slices : SliceSet
    class_names : list of str, length C
    frame_ids : int array, shape (F,)
        Frame id of every frame row (listed for regions).
    alpha : float
        Benjamini-Hochberg level for ``q_value``.
    min_effect : float
        Smallest absolute difference reported.
    min_count, min_frames : int
        A test needs this many denominator counts and frames on both sides.
    n_boot, level, seed :
        The bootstrap interval of the in-slice value.
    limit : int, optional
        Report at most this many.
    frames : bool array, shape (F,), optional
        Only these frame rows (a scenario), see :func:`ratio_departures`.

    Returns
    -------
    dict with ``tested`` (number of tests), ``slices`` (records as the report's
    contract: field, value, class, metric, in_slice, rest, interval, direction, q_value,
    frames, plus difference, p_value, tp/fp/fn; regions add frame_ids)
    """
    counts = frame_counts(table)
    a, b = _ratio_parts(counts)  # (3, F, K)
    return ratio_departures(
        a, b, slices, class_names, metrics=METRICS, totals={"tp": counts[0], "fp": counts[1], "fn": counts[2]},
        frame_ids=frame_ids, alpha=alpha, min_effect=min_effect, min_count=min_count, min_frames=min_frames,
        n_boot=n_boot, level=level, seed=seed, limit=limit, frames=frames,
    )


def ratio_departures(
    a: np.ndarray,
    b: np.ndarray,
    slices: SliceSet,
    class_names: Sequence[str],
    *,
    metrics: Sequence[str],
    totals: Mapping[str, np.ndarray],
    frame_ids: np.ndarray,
    alpha: float = 0.05,
    min_effect: float = 0.02,
    min_count: int = 10,
    min_frames: int = 20,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    limit: int | None = None,
    higher: str = "better",
    pooled: bool = False,
    frames: np.ndarray | None = None,
) -> dict[str, Any]:
    """The test of :func:`slice_departures` for any ratio of per-frame sums ``sum(a) / sum(b)``.

    Parameters
    ----------
    a, b : float arrays, shape (M, F, C + 1)
        Per metric, frame row and class (column C: all classes) the numerator and the
        denominator.
    metrics : list of str, length M
        Their names (a record's ``metric``).
    totals : mapping of name to int array, shape (F, C + 1)
        Counts summed over the slice's frames into each record (``tp``, ``fp``, ...).
    higher : {"better", "worse"}
        The ``direction`` of a slice whose ratio is above the rest's.
    pooled : bool
        Centre the test's variances on the pooled ratio ``R0`` of all frames (the null
        hypothesis) instead of each side's own ratio, and never let them fall below the
        binomial ``R0 (1 - R0) / sum(b)``: for a ratio of rare events (near 0), where a
        slice without a single event would otherwise have zero variance and look
        significant, this keeps the z-test calibrated.

    The other parameters and the result are those of :func:`slice_departures`.
    """
    for name, value, lo, hi in (("alpha", alpha, 0.0, 1.0), ("level", level, 0.0, 1.0)):
        if not isinstance(value, (int, float)) or not lo < float(value) < hi:
            raise ParameterError(f"{name} must lie in ({lo:g}, {hi:g}), got {value!r}", parameter=name)
    for name, value in (("min_count", min_count), ("min_frames", min_frames), ("n_boot", n_boot)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ParameterError(f"{name} must be an integer >= 1, got {value!r}", parameter=name)
    lower = "worse" if higher == "better" else "better"
    if frames is not None:  # a scenario: the slices and the rest within its frames only
        keep = np.asarray(frames, dtype=bool)
        a, b, frame_ids = a[:, keep], b[:, keep], np.asarray(frame_ids)[keep]
        totals = {name: v[keep] for name, v in totals.items()}
        slices = SliceSet(slices.membership.tocsc()[:, np.flatnonzero(keep)].tocsr(), slices.fields, slices.values,
                          slices.parents)
    m, f, k = a.shape
    # per frame: the numerators, denominators and their squares / products, (F, m * k) each
    parts = [v.transpose(1, 0, 2).reshape(f, m * k) for v in (a, b, a * a, b * b, a * b)] + [np.ones((f, 1))]
    x = np.hstack(parts)
    sums = np.asarray(slices.membership @ x)  # (S, 5*m*k + 1)
    total = x.sum(axis=0)
    rest = total[None, :] - sums
    width = m * k

    with np.errstate(invalid="ignore", divide="ignore"):
        r_all = total[:width] / total[width : 2 * width]

    def stats(s: np.ndarray) -> tuple[np.ndarray, ...]:
        sa, sb, saa, sbb, sab = (s[:, i * width : (i + 1) * width] for i in range(5))
        n = s[:, -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = sa / sb
            c = r_all[None, :] if pooled else r
            var = (saa - 2 * c * sab + c * c * sbb) / (sb * sb) * n / np.maximum(n - 1, 1)
            if pooled:  # never below the binomial variance of the pooled ratio
                var = np.maximum(var, np.clip(c * (1 - c), 0.0, None) / sb)
        return r, np.maximum(var, 0.0), sb, n

    r_in, v_in, b_in, n_in = stats(sums)
    r_out, v_out, b_out, n_out = stats(rest)
    se = np.sqrt(v_in + v_out)
    diff = r_in - r_out
    ok = (b_in >= min_count) & (b_out >= min_count) & (n_in >= min_frames) & (n_out >= min_frames) & (se > 0)
    ok &= np.isfinite(diff)
    z = np.where(ok, diff / np.where(se > 0, se, 1.0), 0.0)
    p = 2 * norm.sf(np.abs(z))
    q = np.full(p.shape, np.nan)
    if ok.any():
        q[ok] = false_discovery_control(p[ok], method="bh")
    hit = ok & (q < alpha) & (np.abs(diff) >= min_effect)
    # a pair is listed only when it departs more than each of its one-field parents
    for s_i, par in enumerate(slices.parents):
        for p_i in par:
            same = np.sign(diff[p_i]) == np.sign(diff[s_i])
            margin = np.maximum(min_effect, 1.96 * se[s_i])
            hit[s_i] &= ~(ok[p_i] & same & (np.abs(diff[s_i]) < np.abs(diff[p_i]) + margin))
    strength = np.where(hit, np.abs(diff) - 1.96 * se, -np.inf)
    # one entry per (slice, class): the metric that departs most
    st3 = strength.reshape(strength.shape[0], m, k)
    best = st3.argmax(axis=1)
    keep = np.zeros_like(st3, dtype=bool)
    np.put_along_axis(keep, best[:, None, :], True, axis=1)
    hit &= keep.reshape(strength.shape)
    s_idx, col = np.nonzero(hit)
    strength = strength[hit]
    order = np.lexsort((col, s_idx, -strength))
    if limit is not None:
        order = order[:limit]
    rng = np.random.default_rng(seed)
    mem = slices.membership.tocsr()
    names = list(class_names) + [None]
    out = []
    for i in order.tolist():
        s, c = int(s_idx[i]), int(col[i])
        metric, cls = metrics[c // k], c % k
        frames = mem.indices[mem.indptr[s] : mem.indptr[s + 1]]
        rec: dict[str, Any] = {
            "field": slices.fields[s],
            "value": slices.values[s],
            "class": names[cls],
            "metric": metric,
            "in_slice": round(float(r_in[s, c]), 4),
            "rest": round(float(r_out[s, c]), 4),
            "interval": _bootstrap(a[c // k, frames, cls], b[c // k, frames, cls], n_boot, rng, level),
            "direction": higher if diff[s, c] > 0 else lower,
            "q_value": float(f"{q[s, c]:.3g}"),
            "p_value": float(f"{p[s, c]:.3g}"),
            "difference": round(float(diff[s, c]), 4),
            "frames": int(frames.size),
            **{name: int(v[frames, cls].sum()) for name, v in totals.items()},
        }
        if slices.fields[s] == "region":
            rec["frame_ids"] = frame_ids[np.sort(frames)].tolist()
        out.append(rec)
    return {"tested": int(ok.sum()), "slices": out}
