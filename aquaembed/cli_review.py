"""The label-issue commands of ``aquaembed``: ``export-fixes`` and (until the failure report
lands) a minimal ``report`` that writes the ``label_issues`` section.

Registered on the main parser by :func:`add_commands`; the CLI does the talking.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aquaembed.errors import ParameterError

__all__ = ["add_commands", "fixes_csv"]

CSV_COLUMNS = ("action", "kind", "image_id", "label_id", "pred_index", "old_class", "new_class", "x", "y", "width", "height")


def fixes_csv(rows: list[dict[str, Any]]) -> bytes:
    """The fixes as a flat CSV for a labelling tool (one row per fix, box as x, y, width, height)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        x, y, bw, bh = r["bbox"]
        w.writerow([r["action"], r["kind"], r["image_id"], r["label_id"], "" if r["pred_index"] is None else r["pred_index"],
                    r["old_class"] or "", r["new_class"] or "", round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)])
    return buf.getvalue().encode()


def _folder_of(path: str, flag: str) -> Path:
    p = Path(path)
    if not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise ParameterError(f"{flag}: the folder {str(p.parent)!r} does not exist", parameter=flag)
    return p


def _needs_app(what: str) -> None:
    from aquaembed.extras import require

    require("app", what=what)


def _cmd_export_fixes(args: argparse.Namespace) -> int:
    _needs_app("aquaembed export-fixes")
    from aquaembed.explore import Workspace
    from aquaembed.io.coco import write_coco_gt
    from aquaembed.store.atomic import atomic_write_bytes

    out = _folder_of(args.out, "--out")
    csv_path = _folder_of(args.csv, "--csv") if args.csv else None
    view = Workspace(args.data).get(args.name)
    fixed, rows = view.fixed_dataset(args.model)
    data = fixes_csv(rows) if csv_path else b""
    write_coco_gt(fixed, out)
    if csv_path is not None:
        atomic_write_bytes(csv_path, data)
    by: dict[str, int] = {}
    for r in rows:
        by[r["action"]] = by.get(r["action"], 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(by.items())) or "no accepted fixes"
    print(f"wrote {out} ({len(fixed.labels)} labels; {summary})" + (f" and {csv_path}" if csv_path else ""))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    _needs_app("aquaembed report")
    import orjson

    from aquaembed.analysis.label_issues import label_issues_section
    from aquaembed.explore import Workspace
    from aquaembed.matching import MatchOptions
    from aquaembed.store.atomic import atomic_write_bytes

    out = _folder_of(args.json, "--json")
    options = MatchOptions(conf=args.conf, iou=args.iou)
    view = Workspace(args.data).get(args.name)
    issues = label_issues_section(view, args.model, min_score=args.min_score)
    atomic_write_bytes(out, orjson.dumps({"options": options.to_json(), "label_issues": issues}, option=orjson.OPT_SERIALIZE_NUMPY))
    kinds: dict[str, int] = {}
    for r in issues:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print(f"wrote {out}: {len(issues)} label issues ({', '.join(f'{n} {k}' for k, n in kinds.items()) or 'none'})")
    return 0


def add_commands(sub: Any, *, default_data: Callable[[], str], probability: Callable[[str], Any], report: bool = True) -> None:
    """Register ``export-fixes`` (and ``report`` unless another module owns it) on ``sub``."""
    ex = sub.add_parser("export-fixes", help="write the ground truth with every accepted label fix applied",
                        description="Apply the accepted verdicts of the review queue: missing labels added from "
                        "their inference, classes changed, boxes replaced, duplicates dropped; ids stay stable.")
    ex.add_argument("--data", default=default_data(), metavar="DIR", help="data directory")
    ex.add_argument("--name", required=True, help="dataset name")
    ex.add_argument("--model", help="inference set the issues came from (default: the only one)")
    ex.add_argument("--out", required=True, metavar="FIXED_GT.json", help="corrected COCO ground truth")
    ex.add_argument("--csv", metavar="ITEMS.csv", help="also write the fixes as a flat CSV")
    ex.set_defaults(func=_cmd_export_fixes)
    if not report:
        return
    rp = sub.add_parser("report", help="write the label-issue report of a stored dataset as JSON")
    rp.add_argument("--data", default=default_data(), metavar="DIR", help="data directory")
    rp.add_argument("--name", required=True, help="dataset name")
    rp.add_argument("--model", help="inference set (default: the only one)")
    rp.add_argument("--conf", type=probability("--conf"), default=0.5, help="confidence threshold (default 0.5)")
    rp.add_argument("--iou", type=probability("--iou"), default=0.5, help="IoU threshold (default 0.5)")
    rp.add_argument("--json", required=True, metavar="OUT", help="write the report JSON here")
    rp.add_argument("--min-score", type=probability("--min-score"), default=0.1,
                    help="leave out label issues scoring below this (default 0.1)")
    rp.set_defaults(func=_cmd_report)
