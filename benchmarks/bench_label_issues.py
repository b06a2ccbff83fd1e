"""Label-issue finding: aquaembed vs cleanlab's ObjectLab vs a confidence-only baseline.

Two kinds of data with known label errors, all methods fed the same labels and inferences
in the same run:

* ``--demo DIR``: a built demo (``aquaembed demo --no-serve --data DIR``), its planted
  truth read from ``DIR/_demo_build/planted.json`` (missing labels, wrong classes, badly
  placed labels); crop embeddings from the stored crop index.
* the synthetic generator (``aquaembed.synthetic.make_coco``) with label noise injected at
  known rates (all five kinds) and crop embeddings drawn around per-class centres (an
  image crop looks like its *true* class; a spurious box looks like background).

Per kind: average precision and precision@k of the ranking each method gives. An item is
a label (a label-level kind) or an inference (``missing_label``; the inferences of one
missing object collapse to the best-ranked one, so duplicate detections neither help nor
hurt). Methods: ``aquaembed`` (with the embedding kNN evidence), ``aquaembed-noemb`` (the
ablation), ``cleanlab`` (``object_detection.rank``'s per-box subtype scores; lower = worse;
per kind the better of its default and of ``high_probability_threshold=0.5``; duplicate and
spurious get its per-box minimum over subtypes, since it has no such kinds), and
``confidence`` (what a user sees sorting confusion cells by confidence at conf 0.5 /
IoU 0.5). cleanlab's ``find_label_issues`` image mask is scored at image level too.

Run: ``python benchmarks/bench_label_issues.py --demo /tmp/h11demo --synthetic 1500``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from aquaembed.analysis.label_issues import (
    Neighbours,
    crop_neighbours,
    score_label_issues,
)
from aquaembed.data import Dataset, Inferences, Labels
from aquaembed.embeddings.index import VectorIndex
from aquaembed.matching import CONFUSION, FN, FP, MatchOptions, build_candidates, match

KINDS = ("missing_label", "wrong_class", "bad_location", "duplicate_label", "spurious_label")


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """AP of a ranking (ties broken against the positives, so a constant score earns nothing)."""
    order = np.lexsort((y, -s))
    hits = y[order].astype(float)
    if hits.sum() == 0:
        return float("nan")
    prec = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float((prec * hits).sum() / hits.sum())


def precision_at(y: np.ndarray, s: np.ndarray, k: int) -> float:
    order = np.lexsort((y, -s))
    return float(y[order][:k].mean()) if y.size else float("nan")


# --------------------------------------------------------------------------- methods


def aquaembed_scores(ds: Dataset, inf: Inferences, cands, nb: Neighbours | None) -> dict[str, np.ndarray]:
    sc = score_label_issues(ds, inf, cands, neighbours=nb)
    return {"missing_label": sc.missing, **sc.label}


def confidence_scores(ds: Dataset, inf: Inferences, cands) -> dict[str, np.ndarray]:
    """Sorting the match table's cells by confidence (conf 0.5, IoU 0.5)."""
    t = match(cands, MatchOptions())
    n_l, n_p = len(ds.labels), len(inf)
    missing = np.full(n_p, -1.0)
    fp = (t.type == FP) & (t.pred >= 0)
    missing[t.pred[fp]] = t.score[fp]
    wrong = np.full(n_l, -1.0)
    cf = t.type == CONFUSION
    wrong[t.label[cf]] = t.score[cf]
    fn = (t.type == FN) & (t.label >= 0)
    fn_mask = np.zeros(n_l, bool)
    fn_mask[t.label[fn]] = True
    # an FN label ranked by the most confident inference overlapping it (any IoU)
    best_any = np.zeros(n_l)
    np.maximum.at(best_any, cands.pair_label, cands.pred_score[cands.pair_pred])
    same = cands.label_cls[cands.pair_label] == cands.pred_cls[cands.pair_pred]
    best_same = np.zeros(n_l)
    np.maximum.at(best_same, cands.pair_label[same], cands.pred_score[cands.pair_pred[same]])
    return {
        "missing_label": missing,
        "wrong_class": wrong,
        "bad_location": np.where(fn_mask, best_same, -1.0),
        "duplicate_label": np.where(fn_mask, best_any, -1.0),
        "spurious_label": np.where(fn_mask, 1.0 - best_any, -1.0),
    }


def cleanlab_inputs(ds: Dataset, inf: Inferences) -> tuple[list, list, list[np.ndarray], list[np.ndarray]]:
    """cleanlab's per-image labels and predictions, with the row each of its boxes is."""
    n_f, n_c = len(ds.frames), ds.classes.n_classes
    l_order = np.lexsort((np.arange(len(ds.labels)), ds.labels.frame))
    l_cut = np.searchsorted(ds.labels.frame[l_order], np.arange(n_f + 1))
    p_order = np.lexsort((np.arange(len(inf)), inf.cls, inf.frame))  # cleanlab concatenates by class
    p_cut = np.searchsorted(inf.frame[p_order], np.arange(n_f + 1))
    labels, preds, l_rows, p_rows = [], [], [], []
    for f in range(n_f):
        lr = l_order[l_cut[f] : l_cut[f + 1]]
        pr = p_order[p_cut[f] : p_cut[f + 1]]
        labels.append({"bboxes": ds.labels.box[lr].astype(np.float32), "labels": ds.labels.cls[lr]})
        per = np.hstack([inf.box[pr], inf.score[pr, None]]).astype(np.float32)
        cut = np.searchsorted(inf.cls[pr], np.arange(n_c + 1))
        preds.append(np.array([per[cut[c] : cut[c + 1]] for c in range(n_c)], dtype=object))
        l_rows.append(lr)
        p_rows.append(pr)
    return labels, preds, l_rows, p_rows


def cleanlab_scores(ds: Dataset, inf: Inferences, threshold: float | None) -> tuple[dict[str, np.ndarray], float]:
    from cleanlab.object_detection import rank

    labels, preds, l_rows, p_rows = cleanlab_inputs(ds, inf)
    t0 = time.perf_counter()
    kw = {} if threshold is None else {"high_probability_threshold": threshold}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        over = rank.compute_overlooked_box_scores(labels=labels, predictions=preds, **kw)
        swap = rank.compute_swap_box_scores(labels=labels, predictions=preds, **kw)
        bad = rank.compute_badloc_box_scores(labels=labels, predictions=preds, **({} if threshold is None else {"low_probability_threshold": threshold}))
    secs = time.perf_counter() - t0
    n_l, n_p = len(ds.labels), len(inf)

    def scatter(per_image: list, rows: list, n: int) -> np.ndarray:
        out = np.full(n, np.inf)
        for vals, r in zip(per_image, rows):
            v = np.asarray(vals, dtype=float).reshape(-1)
            out[r[: v.size]] = np.where(np.isnan(v), np.inf, v)
        return out

    o, s, b = scatter(over, p_rows, n_p), scatter(swap, l_rows, n_l), scatter(bad, l_rows, n_l)
    worst = np.minimum(s, b)
    big = 2.0  # "no score" ranks last
    return {
        "missing_label": -np.where(np.isinf(o), big, o),
        "wrong_class": -np.where(np.isinf(s), big, s),
        "bad_location": -np.where(np.isinf(b), big, b),
        "duplicate_label": -np.where(np.isinf(worst), big, worst),
        "spurious_label": -np.where(np.isinf(worst), big, worst),
    }, secs


def cleanlab_image_mask(ds: Dataset, inf: Inferences) -> np.ndarray:
    from cleanlab.object_detection.filter import find_label_issues

    labels, preds, _, _ = cleanlab_inputs(ds, inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(find_label_issues(labels, preds), dtype=bool)  # the boolean mask (ranked indices fail on numpy >= 2.4)


# --------------------------------------------------------------------------- evaluation


def evaluate_case(name: str, ds: Dataset, inf: Inferences, truth: dict, nb: Neighbours | None, ks: tuple[int, ...]) -> dict:
    """AP and precision@k per kind and method; ``truth`` maps kind -> positive rows
    (``missing_label``: a list of inference-row groups, one per missing object)."""
    cands = build_candidates(ds, inf)
    t0 = time.perf_counter()
    methods = {"aquaembed": aquaembed_scores(ds, inf, cands, nb)}
    t_aq = time.perf_counter() - t0
    methods["aquaembed-noemb"] = aquaembed_scores(ds, inf, cands, None)
    methods["confidence"] = confidence_scores(ds, inf, cands)
    cl_default, t_cl = cleanlab_scores(ds, inf, None)
    cl_05, _ = cleanlab_scores(ds, inf, 0.5)
    n = {"missing_label": len(inf)}
    out: dict = {"case": name, "seconds": {"aquaembed": t_aq, "cleanlab": t_cl}, "kinds": {}}
    for kind in KINDS:
        if kind not in truth or not len(truth[kind]):
            continue
        rows = {}
        for meth, sc in [*methods.items(), ("cleanlab(default)", cl_default), ("cleanlab(thr=0.5)", cl_05)]:
            s = sc[kind]
            if kind == "missing_label":
                y = np.zeros(n["missing_label"], bool)
                keep = np.ones(n["missing_label"], bool)
                for group in truth[kind]:
                    g = np.asarray(group)
                    best = g[np.argmax(s[g])]
                    keep[g] = False
                    keep[best] = True
                    y[best] = True
                yy, ss = y[keep], s[keep]
            else:
                yy = np.zeros(len(ds.labels), bool)
                yy[np.asarray(truth[kind])] = True
                ss = s
            rows[meth] = {"AP": average_precision(yy, ss), **{f"P@{k}": precision_at(yy, ss, k) for k in ks}, "positives": int(yy.sum())}
        best_cl = max(("cleanlab(default)", "cleanlab(thr=0.5)"), key=lambda m: rows[m]["AP"])
        rows["cleanlab"] = {**rows[best_cl], "setting": best_cl}
        out["kinds"][kind] = rows
    return out


def print_case(res: dict) -> None:
    print(f"\n== {res['case']}  (aquaembed scoring {res['seconds']['aquaembed']:.2f} s, cleanlab subtype scores {res['seconds']['cleanlab']:.1f} s)")
    for kind, rows in res["kinds"].items():
        pos = next(iter(rows.values()))["positives"]
        print(f"-- {kind} ({pos} planted)")
        keys = [k for k in next(iter(rows.values())) if k.startswith(("AP", "P@"))]
        print(f"   {'method':20s}" + "".join(f"{k:>8s}" for k in keys))
        for meth in ("aquaembed", "aquaembed-noemb", "cleanlab", "confidence"):
            r = rows[meth]
            extra = f"   [{r['setting']}]" if meth == "cleanlab" else ""
            print(f"   {meth:20s}" + "".join(f"{r[k]:8.3f}" for k in keys) + extra)
        a, c, b = rows["aquaembed"]["AP"], rows["cleanlab"]["AP"], rows["confidence"]["AP"]
        print(f"   AP vs cleanlab x{a / max(c, 1e-9):.2f}, vs confidence x{a / max(b, 1e-9):.2f}, embedding adds {a - rows['aquaembed-noemb']['AP']:+.3f}")


# --------------------------------------------------------------------------- cases


def demo_case(data: Path, k: int) -> tuple[Dataset, Inferences, dict, Neighbours]:
    from aquaembed.explore import Workspace

    view = Workspace(data).get("demo")
    model = view.model(None)
    ds, inf = view.dataset, view.dataset.inference_set(model)
    planted = json.loads((data / "_demo_build" / "planted.json").read_text())
    row_of = {int(i): r for r, i in enumerate(ds.labels.id.tolist())}
    truth = {
        "missing_label": [r["pred_indices"] for r in planted["missing_labels"] if r["pred_indices"]],
        "wrong_class": [row_of[r["gt_id"]] for r in planted["wrong_class_labels"]],
        "bad_location": [row_of[r["gt_id"]] for r in planted["badly_placed_labels"]],
    }
    table, sources = view.crop_table()
    nb = crop_neighbours(view.index("crop"), table, sources, ds, inf, model, k=k)
    return ds, inf, truth, nb


def synthetic_case(n_frames: int, seed: int, rate: float, k: int, dim: int = 32) -> tuple[Dataset, Inferences, dict, Neighbours]:
    """The synthetic generator's data with label noise injected at known rates.

    ``rate`` of the labels each are deleted (missing), relabelled to another class
    (wrong class) and moved (IoU 0.2-0.55 with the object: bad location); ``rate / 2``
    get a duplicate and ``rate / 2`` spurious boxes are added on background.
    """
    import tempfile

    from aquaembed.io.coco import load_coco_gt, load_coco_results
    from aquaembed.synthetic import write_coco

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        gt_path, pred_path = write_coco(tmp, n_frames, n_classes=20, preds_per_frame=30, seed=seed)
        clean = load_coco_gt(gt_path)
        inf = load_coco_results(pred_path, clean)
    lab = clean.labels
    n_l, n_c = len(lab), clean.classes.n_classes
    # which object each inference is of (best clean label at IoU >= 0.5; -1 background)
    cands = build_candidates(clean, inf)
    obj_of_pred = np.full(len(inf), -1)
    good = cands.pair_iou >= 0.5
    order = np.lexsort((cands.pair_iou[good], cands.pair_pred[good]))
    obj_of_pred[cands.pair_pred[good][order]] = cands.pair_label[good][order]
    fate = rng.random(n_l)
    ok = ~lab.crowd
    missing = ok & (fate < rate)
    wrong = ok & (fate >= rate) & (fate < 2 * rate)
    moved = ok & (fate >= 2 * rate) & (fate < 3 * rate)
    duped = ok & (fate >= 3 * rate) & (fate < 3.5 * rate)
    cls = lab.cls.copy()
    cls[wrong] = (cls[wrong] + rng.integers(1, n_c, wrong.sum())) % n_c
    box = lab.box.copy()
    w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    shift = rng.uniform(0.3, 0.55, (n_l, 2)) * rng.choice([-1, 1], (n_l, 2)) * np.stack([w, h], 1)
    box[moved] += np.hstack([shift, shift])[moved]
    grow = rng.uniform(1.0, 1.3, n_l)
    box[moved, 2] = box[moved, 0] + w[moved] * grow[moved]
    dup_box = lab.box[duped] + rng.normal(0, 0.04, (int(duped.sum()), 4)) * np.repeat(np.stack([w, h], 1)[duped], 2, axis=1)
    n_sp = int(rate / 2 * n_l)
    sp_frame = rng.integers(0, len(clean.frames), n_sp)
    sz = rng.uniform(20, 120, (n_sp, 2))
    xy = rng.uniform(0, 500, (n_sp, 2))
    sp_box = np.hstack([xy, xy + sz])
    keep = ~missing
    new_box = np.vstack([box[keep], dup_box, sp_box])
    new_box[:, 2:] = np.maximum(new_box[:, 2:], new_box[:, :2] + 1)
    new_frame = np.concatenate([lab.frame[keep], lab.frame[duped], sp_frame])
    new_cls = np.concatenate([cls[keep], cls[duped], rng.integers(0, n_c, n_sp)])
    # the object (clean row) each new label shows, -1 for spurious
    new_obj = np.concatenate([np.flatnonzero(keep), np.flatnonzero(duped), np.full(n_sp, -1)])
    n_new = new_box.shape[0]
    labels = Labels(
        id=np.arange(1, n_new + 1), frame=new_frame, cls=new_cls, box=new_box,
        area=(new_box[:, 2] - new_box[:, 0]) * (new_box[:, 3] - new_box[:, 1]), crowd=np.concatenate([lab.crowd[keep], np.zeros(n_new - keep.sum(), bool)]),
    )
    ds = Dataset(clean.classes, clean.frames, labels)
    kept_rows = np.flatnonzero(keep)
    row_in_new = np.full(n_l, -1)
    row_in_new[kept_rows] = np.arange(kept_rows.size)
    truth = {
        "missing_label": [g for g in (np.flatnonzero(obj_of_pred == o) for o in np.flatnonzero(missing)) if g.size],
        "wrong_class": row_in_new[wrong].tolist(),
        "bad_location": row_in_new[moved].tolist(),
        "duplicate_label": list(range(kept_rows.size, kept_rows.size + int(duped.sum()))),
        "spurious_label": list(range(n_new - n_sp, n_new)),
    }
    # crop embeddings: an object looks like its true class; background looks like nothing
    centres = rng.normal(0, 1, (n_c, dim))
    obj_vec = centres[lab.cls] + rng.normal(0, 0.9, (n_l, dim))
    lab_vec = np.where(new_obj[:, None] >= 0, obj_vec[np.maximum(new_obj, 0)], rng.normal(0, 1.3, (n_new, dim)))
    lab_vec = lab_vec + rng.normal(0, 0.3, lab_vec.shape)
    moved_new = np.isin(np.arange(n_new), truth["bad_location"])
    lab_vec[moved_new] += rng.normal(0, 0.6, (int(moved_new.sum()), dim))
    pred_vec = np.where(obj_of_pred[:, None] >= 0, obj_vec[np.maximum(obj_of_pred, 0)], rng.normal(0, 1.3, (len(inf), dim)))
    pred_vec = pred_vec + rng.normal(0, 0.3, pred_vec.shape)
    table = np.vstack([np.stack([np.zeros(n_new, np.int64), labels.id], 1), np.stack([np.ones(len(inf), np.int64), np.arange(len(inf))], 1)])
    index = VectorIndex.build(np.arange(table.shape[0]), np.vstack([lab_vec, pred_vec]))
    nb = crop_neighbours(index, table, ["label", "pred-model"], ds, inf, "model", k=k)
    return ds, inf, truth, nb


def scale_case(n_frames: int, seed: int, k: int) -> dict:
    """Time the scoring at scale: ``n_frames`` synthetic frames (labels + inferences = crops),
    with a kNN result of the right shape (the kNN is computed once, next to the crop index)."""
    import tempfile

    from aquaembed.analysis.label_issues import issue_records
    from aquaembed.io.coco import load_coco_gt, load_coco_results
    from aquaembed.synthetic import write_coco

    with tempfile.TemporaryDirectory() as tmp:
        gt_path, pred_path = write_coco(tmp, n_frames, n_classes=20, preds_per_frame=10, seed=seed)
        ds = load_coco_gt(gt_path)
        inf = load_coco_results(pred_path, ds)
    rng = np.random.default_rng(seed)
    n_l, n_p, n_c = len(ds.labels), len(inf), ds.classes.n_classes
    nb = Neighbours(rng.integers(0, n_c, (n_l, k)), rng.uniform(0.3, 1, (n_l, k)).astype(np.float32),
                    rng.integers(0, n_c, (n_p, k)), rng.uniform(0.3, 1, (n_p, k)).astype(np.float32))
    cands = build_candidates(ds, inf)
    score_label_issues(ds, inf, cands, neighbours=nb)  # warm-up (numba compilation of the overlap kernel)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        sc = score_label_issues(ds, inf, cands, neighbours=nb)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    recs = issue_records(ds, inf, sc, min_score=0.2)
    t_rec = time.perf_counter() - t0
    return {"frames": n_frames, "labels": n_l, "inferences": n_p, "crops": n_l + n_p,
            "score_seconds_best_of_3": min(times), "records_seconds": t_rec, "records": len(recs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, help="a built demo data directory")
    ap.add_argument("--synthetic", type=int, default=1500, help="frames of the synthetic case (0: skip)")
    ap.add_argument("--rate", type=float, default=0.04, help="injected noise rate per kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=10, help="kNN neighbours")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--scale", type=int, default=0, help="also time the scoring on this many synthetic frames")
    args = ap.parse_args()
    import cleanlab

    print(f"cleanlab {cleanlab.__version__}: object_detection.rank subtype scores with its defaults "
          "(alpha 0.9, high_probability_threshold 0.95, low_probability_threshold 0.5) and with thresholds 0.5; "
          "find_label_issues with its defaults (boolean mask)")
    results = []
    if args.demo is not None:
        ds, inf, truth, nb = demo_case(args.demo, args.k)
        res = evaluate_case(f"demo ({len(ds.frames)} frames, {len(ds.labels)} labels, {len(inf)} inferences)", ds, inf, truth, nb, (100, 200))
        mask = cleanlab_image_mask(ds, inf)
        bad_frames = np.zeros(len(ds.frames), bool)
        for kind, rows in truth.items():
            if kind == "missing_label":
                bad_frames[inf.frame[np.concatenate([np.asarray(g) for g in rows])]] = True
            else:
                bad_frames[ds.labels.frame[np.asarray(rows)]] = True
        res["cleanlab_find_label_issues"] = {
            "flagged_frames": int(mask.sum()), "precision": float(bad_frames[mask].mean()) if mask.any() else None,
            "recall": float(mask[bad_frames].mean()),
        }
        print_case(res)
        print("   cleanlab find_label_issues (frames):", res["cleanlab_find_label_issues"])
        results.append(res)
    if args.synthetic:
        ds, inf, truth, nb = synthetic_case(args.synthetic, args.seed, args.rate, args.k)
        res = evaluate_case(f"synthetic ({len(ds.frames)} frames, {len(ds.labels)} labels, {len(inf)} inferences, noise {args.rate:.0%} per kind)", ds, inf, truth, nb, (100, 200))
        print_case(res)
        results.append(res)
    if args.scale:
        sc = scale_case(args.scale, args.seed, args.k)
        print(f"\n== scale: {sc['crops']:,} crops ({sc['labels']:,} labels, {sc['inferences']:,} inferences): "
              f"scored in {sc['score_seconds_best_of_3']:.2f} s (best of 3), {sc['records']:,} issue records in {sc['records_seconds']:.2f} s")
        results.append({"case": "scale", **sc})
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
