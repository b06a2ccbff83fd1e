"""Score ``aquaembed report`` on the demo against its planted truth (not a test; prints numbers).

    python benchmarks/demo_report_check.py --data /tmp/h10demo

Needs the demo built by ``aquaembed demo --no-serve --data DIR`` (with ``demo-train``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from aquaembed.analysis.report import build_report
from aquaembed.explore import Workspace
from aquaembed.matching import CONFUSION, FP, MatchOptions
from aquaembed.metrics import inference_types, label_types


def _best(clusters: list[dict], kind: str, planted: set[int]) -> tuple[int, dict | None]:
    """Rank among the clusters of ``kind`` and the cluster holding most of ``planted``."""
    of_kind = [c for c in clusters if c["type"] == kind]
    hits = [len({m["id"] for m in c["crops"]} & planted) for c in of_kind]
    if not hits or max(hits) == 0:
        return -1, None
    i = int(np.argmax(hits))
    return i, of_kind[i]


def batch_clusters(view, rep: dict, truth: dict, model: str) -> None:
    """Purity and recall of the cluster that best holds each planted label-error batch."""
    o = rep["options"]
    table = view.table(model, options=MatchOptions(conf=o["conf"], iou=o["iou"], mode=o["mode"],
                                                   class_aware=o["class_aware"], crowd=o["crowd"]))
    p_types, _ = inference_types(table)
    l_types, _ = label_types(table)
    label_row = {int(i): r for r, i in enumerate(view.dataset.labels.id.tolist())}
    for b in truth.get("batch_label_errors", []):
        if b["kind"] == "missing_label":
            kind, planted = "FP", set(b["pred_indices"])
            errors = {i for i in planted if p_types[i] == FP}
        else:
            kind, planted = "confusion", set(b["gt_ids"])
            errors = {i for i in planted if l_types[label_row[i]] == CONFUSION}
        rank, c = _best(rep["clusters"], kind, errors)
        print(f"batch {b['kind']} {b['field']}={b['value']}: {len(planted)} planted ids, {len(errors)} of them {kind} "
              f"at conf {o['conf']}")
        if c is None:
            print("  no cluster holds them")
            continue
        ids = {m["id"] for m in c["crops"]}
        top = c["over_represented"][0] if c["over_represented"] else {}
        print(f"  {kind} cluster #{rank + 1} of its type (id {c['id']}), size {c['size']}: "
              f"purity {len(ids & planted) / len(ids):.3f}, recall {len(ids & errors) / max(len(errors), 1):.3f} "
              f"of the {kind}s ({len(ids & planted) / len(planted):.3f} of all planted); {c['classes']} "
              f"{c.get('pairs', '')}; top over-represented {top.get('field')}={top.get('value')} "
              f"share {top.get('share')} vs {top.get('share_rest')}")


def readme_numbers(view, truth: dict, model: str) -> None:
    """The counts the README's "Things to try" quotes, recounted from the planted truth."""
    poster = set(truth["recurring_false_positive"]["pred_indices"])
    missing = {p for m in truth["missing_labels"] for p in m["pred_indices"]}
    batch_missing = {p for m in truth["missing_labels"] if m.get("batch") is not None for p in m["pred_indices"]}
    bad = {p for m in truth["badly_placed_labels"] for p in m["pred_indices"]}
    cell = view.matches(model, gt_class="background", pred_class="pedestrian", sort="score", order="desc", limit=100_000)
    rows = cell["rows"]

    def kind(i: int) -> str:
        return "poster" if i in poster else "missing" if i in missing else "bad" if i in bad else "plain"

    kinds = [kind(r["pred_index"]) for r in rows]
    plain_low = sum(k == "plain" and r["score"] < 0.8 for k, r in zip(kinds, rows))
    print(f"background -> pedestrian: {len(rows)} = {kinds.count('poster')} poster + {kinds.count('missing')} missing "
          f"({sum(r['pred_index'] in batch_missing for r in rows)} of a batch) + {kinds.count('bad')} badly placed + "
          f"{kinds.count('plain')} plain ({plain_low} of them below 0.8)")
    page = kinds[:24]
    print(f"  first page of 24: {page.count('poster')} posters, {page.count('missing')} missing, "
          f"{page.count('bad')} badly placed, {page.count('plain')} plain")
    det = truth["recurring_false_positive"]
    print(f"poster detected in {len(det['detected_image_ids'])} of {len(det['image_ids'])} frames, {len(poster)} detections")
    wrong = {m["gt_id"] for m in truth["wrong_class_labels"]}
    bad_ids = {m["gt_id"] for m in truth["badly_placed_labels"]}
    issues = view.label_issues(model, limit=1000)["issues"]

    def planted(rec: dict) -> bool:
        return (rec["pred_index"] in missing) or (rec["label_id"] in wrong) or (rec["label_id"] in bad_ids)

    flags = [planted(r) for r in issues]
    first_miss = flags.index(False) if False in flags else len(flags)
    print(f"label review: {sum(flags[:100])} of the first 100 are planted errors (first unplanted at rank {first_miss + 1})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    args = ap.parse_args()
    ws = Workspace(args.data)
    view = ws.get("demo")
    train = ws.get("demo-train") if "demo-train" in ws.names() else None
    t0 = time.perf_counter()
    model = "detector"
    rep = build_report(view, model, train=train)
    print(f"report in {time.perf_counter() - t0:.2f} s (warm process, tables built inside)")
    truth = json.loads(view.stored.read_artifact_bytes("planted"))
    poster = set(truth["recurring_false_positive"]["pred_indices"])
    fps = [c for c in rep["clusters"] if c["type"] == "FP"]
    first = {m["id"] for m in fps[0]["crops"]} if fps else set()
    print(f"poster: first FP cluster (#{fps[0]['id'] if fps else '-'} overall) size {len(first)}, "
          f"purity {len(first & poster) / max(len(first), 1):.3f}, recall {len(first & poster) / max(len(poster), 1):.3f}")
    batch_clusters(view, rep, truth, model)
    readme_numbers(view, truth, model)
    missing = {p for m in truth["missing_labels"] for p in m["pred_indices"]}
    wrong = {m["gt_id"] for m in truth["wrong_class_labels"]}
    for c in rep["clusters"]:
        ids = {m["id"] for m in c["crops"]}
        hit_m = len(ids & missing) if c["type"] == "FP" else 0
        hit_w = len(ids & wrong) if c["type"] in ("confusion", "FN") else 0
        if hit_m or hit_w:
            print(f"  cluster {c['id']} {c['type']} size {c['size']}: planted missing-label preds {hit_m}, "
                  f"wrong-class labels {hit_w}; {c['classes']}; {c.get('pairs', '')}")
    print(f"planted missing-label inferences {len(missing)}, wrong-class labels {len(wrong)}")
    ped = [s for s in rep["slices"] if s["class"] == "pedestrian" and s["direction"] == "better"]
    if ped:
        s = ped[0]
        print(f"top better pedestrian slice: {s['field']}={s['value']} {s['metric']} {s['in_slice']} vs {s['rest']} "
              f"{s['interval']} q={s['q_value']} (planted: {truth['overfitted_scene']['scene']})")
    night = set(truth["hard_condition"]["scenes"])
    worse = [s for s in rep["slices"] if s["direction"] == "worse"][:10]
    print("top worse slices:")
    for s in worse:
        v = s["value"]
        vals = set(v) if isinstance(v, list) else {v}
        tag = "night" if vals & (night | {"night"}) else ""
        if s["field"] == "region":
            share = len(set(s["frame_ids"]) & set(truth["hard_condition"]["image_ids"])) / max(len(s["frame_ids"]), 1)
            tag = f"{share:.0%} night frames"
        print(f"  {s['field']}={v} [{s['class'] or 'all'}] {s['metric']} {s['in_slice']} vs {s['rest']} {tag}")
    cov = rep.get("coverage")
    if cov:
        scene = truth["overfitted_scene"]["scene"]
        ov = set(truth["overfitted_scene"]["image_ids"])
        dup = {d["frame"] for d in cov["near_duplicates"]}
        print(f"coverage: {len(dup)} frames with a near-duplicate, {len(dup & ov)} of them in {scene} ({len(ov)} frames); "
              f"top slice by near-duplicate share: {cov['by_slice'][0]['field']}={cov['by_slice'][0]['value']}")
        for b in cov["by_similarity"]:
            print(f"  bin {b['bin']}: {b['frames']} frames, F1 {b['f1']}")


if __name__ == "__main__":
    main()
