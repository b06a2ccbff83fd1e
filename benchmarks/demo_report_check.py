"""Score ``aquaembed report`` on the demo against its planted truth (not a test; prints numbers).

    python benchmarks/demo_report_check.py --data /tmp/h10demo

Needs the demo built by ``aquaembed demo --no-serve --data DIR`` (with ``demo-train``).
"""

from __future__ import annotations

import argparse
import json
import time

from aquaembed.analysis.report import build_report
from aquaembed.explore import Workspace


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    args = ap.parse_args()
    ws = Workspace(args.data)
    view = ws.get("demo")
    train = ws.get("demo-train") if "demo-train" in ws.names() else None
    t0 = time.perf_counter()
    rep = build_report(view, train=train)
    print(f"report in {time.perf_counter() - t0:.2f} s (warm process, tables built inside)")
    truth = json.loads(view.stored.read_artifact_bytes("planted"))
    poster = set(truth["recurring_false_positive"]["pred_indices"])
    fps = [c for c in rep["clusters"] if c["type"] == "FP"]
    first = {m["id"] for m in fps[0]["crops"]} if fps else set()
    print(f"poster: first FP cluster (#{fps[0]['id'] if fps else '-'} overall) size {len(first)}, "
          f"purity {len(first & poster) / max(len(first), 1):.3f}, recall {len(first & poster) / max(len(poster), 1):.3f}")
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
