"""The ``aquaembed report`` command: the failure report as JSON (and a self-contained HTML page)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_report_parser"]


def _write_json(path: str, obj: Any) -> None:
    """Write the report atomically (temporary name, then rename); NaN becomes null."""
    import orjson

    from aquaembed.errors import ParameterError
    from aquaembed.store.atomic import atomic_write_bytes

    target = Path(path)
    if not (target.parent if str(target.parent) else Path(".")).is_dir():
        raise ParameterError(f"--json: the folder {str(target.parent)!r} does not exist", parameter="json")
    atomic_write_bytes(target, orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY))


def _cmd_report(args: argparse.Namespace) -> int:
    from aquaembed.extras import require

    require("app", what="aquaembed report")
    from aquaembed.analysis.report import build_report
    from aquaembed.explore import Workspace
    from aquaembed.matching import MatchOptions

    options = MatchOptions(conf=args.conf, iou=args.iou, mode=args.mode, class_aware=args.class_aware, crowd=args.crowd)
    ws = Workspace(args.data)
    view = ws.get(args.name)
    train = ws.get(args.train) if args.train else None

    report = build_report(
        view, args.model, options, train=train, progress=_progress_bar(sys.stderr), alpha=args.alpha,
        near_duplicate=args.near_duplicate, min_score=args.min_score, metric=args.metric,
        compare=tuple(args.compare) if args.compare else None, scenario=args.scenario,
    )
    if args.html:
        from aquaembed.report_html import write_report_html

        write_report_html(args.html, report, view)
    _write_json(args.json, report)
    clusters, slices = report.get("clusters", []), report.get("slices", [])
    what = f"where {args.compare[1]} regressed against {args.compare[0]}: " if args.compare else ""
    print(f"{what}{len(clusters)} failure clusters, {len(slices)} departing slices -> {args.json}")
    for section, note in report.get("notes", {}).items():
        print(f"  {section}: {note}")
    for c in clusters[:5]:
        top = ", ".join(f"{k} {v}" for k, v in list(c["classes"].items())[:2])
        why = c["over_represented"][0] if c["over_represented"] else None
        note = f"; {why['field']}={why['value']} x{why['lift']:.1f}" if why else ""
        print(f"  cluster {c['id']}: {c['type']} x{c['size']} ({top}){note}")
    for s in slices[:5]:
        print(f"  slice {s['field']}={s['value']} [{s['class'] or 'all'}]: {s['metric']} {s['in_slice']:.3f} vs {s['rest']:.3f} ({s['direction']}, q={s['q_value']:.2g})")
    cov = report.get("coverage")
    if cov:
        print(f"  coverage vs {cov['train']}: {cov['frames_with_near_duplicate']} frames with a near-duplicate in the training set")
    return 0


def _progress_bar(stream: Any, width: int = 30) -> Callable[[str, float], None]:
    """A progress bar on ``stream`` (redrawn in place on a terminal, one line per step otherwise)."""
    tty = bool(getattr(stream, "isatty", lambda: False)())

    def show(step: str, fraction: float) -> None:
        done = int(round(fraction * width))
        bar = f"aquaembed report [{'#' * done}{'.' * (width - done)}] {fraction:4.0%} {step}"
        if tty:
            stream.write("\r" + bar.ljust(width + 40) + ("\n" if step == "done" else ""))
        else:
            stream.write(bar + "\n")
        stream.flush()

    return show


def add_report_parser(sub: Any, default_data: Callable[[], str], probability: Callable[[str], Any]) -> None:
    """Register ``report`` on the CLI's subparsers."""
    rp = sub.add_parser(
        "report",
        help="failure report: clusters of errors, slices that depart from the rest, training-set coverage",
        description="Find failure patterns at the given matching options without being told where to look.",
    )
    rp.add_argument("--data", default=default_data(), metavar="DIR", help="data directory")
    rp.add_argument("--name", required=True, help="dataset name")
    rp.add_argument("--model", help="inference set (default: the only one)")
    rp.add_argument("--conf", type=probability("--conf"), default=0.5, help="confidence threshold (default 0.5)")
    rp.add_argument("--iou", type=probability("--iou"), default=0.5, help="IoU threshold (default 0.5)")
    rp.add_argument("--mode", choices=("optimal", "greedy"), default="optimal", help="assignment rule (default optimal)")
    rp.add_argument("--class-aware", action="store_true", help="only match boxes of the same class")
    rp.add_argument("--crowd", action="store_true", help="treat iscrowd labels as COCO crowd regions")
    rp.add_argument("--metric", metavar="METRIC",
                    help="a custom metric of the inference set (aquaembed add-metric): slices and coverage from its "
                         "per-frame matrices; no failure clusters (the report's notes say why)")
    rp.add_argument("--compare", nargs=2, metavar=("A", "B"),
                    help="where B regressed: clusters and slices of the labels B broke relative to A "
                         "(TP under A, not TP under B)")
    rp.add_argument("--scenario", metavar="S", help="only the frames of this saved scenario (clusters and slices)")
    rp.add_argument("--train", metavar="NAME", help="a stored dataset that is the training set (coverage section)")
    rp.add_argument("--alpha", type=probability("--alpha"), default=0.05, help="false-discovery rate of the slices (default 0.05)")
    rp.add_argument("--near-duplicate", type=probability("--near-duplicate"), default=0.98,
                    help="frame similarity at which a training frame is a near-duplicate (default 0.98)")
    rp.add_argument("--min-score", type=probability("--min-score"), default=0.1,
                    help="leave out label issues scoring below this (default 0.1)")
    rp.add_argument("--json", required=True, metavar="OUT", help="write the report JSON here (atomically)")
    rp.add_argument("--html", metavar="OUT.html", help="also write a self-contained HTML page")
    rp.set_defaults(func=_cmd_report)
