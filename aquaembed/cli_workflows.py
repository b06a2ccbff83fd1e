"""The ``aquaembed`` subcommands for custom metrics, comparison and scenarios.

``add-metric`` (per-frame confusion matrices from a file or a plugin; per-frame scalar
metrics), ``compare`` (two inference sets), ``scenario`` (save / list / delete named
frame sets) and ``export`` (a scenario as COCO files). Registered by
:func:`add_workflow_parsers`; each command is its own function.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_workflow_parsers"]


def _say(text: str) -> None:
    print(f"aquaembed: {text}", file=sys.stderr, flush=True)


def _options(args: argparse.Namespace) -> Any:
    from aquaembed.matching import MatchOptions

    return MatchOptions(conf=args.conf, iou=args.iou, mode=args.mode, class_aware=args.class_aware, crowd=args.crowd)


def _view(args: argparse.Namespace) -> Any:
    from aquaembed.extras import require

    require("app", what=f"aquaembed {args.command}")  # the stored datasets are read through explore
    from aquaembed.explore import Workspace

    return Workspace(args.data).get(args.name)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def _cmd_add_metric(args: argparse.Namespace) -> int:
    from aquaembed.analysis.custom_metrics import (
        CustomMetricStore,
        check_metric_name,
        load_plugin,
        read_metric_file,
        read_scalar_file,
        run_plugin,
    )
    from aquaembed.errors import ParameterError

    view = _view(args)
    store = CustomMetricStore(view.stored)
    check_metric_name(args.metric)
    if args.file is not None and Path(args.file).suffix.lower() in (".csv", ".parquet", ".pq"):
        cols, values = read_scalar_file(args.file, view.dataset)
        store.save_scalars(args.metric, cols, values, replace=args.replace)
        print(f"dataset {view.name!r}: per-frame scalar metrics {args.metric!r}: {', '.join(cols)}")
        return 0
    if args.model is None:
        raise ParameterError("--model: name the inference set the metric is about", parameter="model")
    model = view.model(args.model)
    if args.file is not None:
        stack = read_metric_file(args.file, view.dataset)
        store.save_matrices(model, args.metric, stack, replace=args.replace)
        total = int(stack.sum())
        print(f"dataset {view.name!r}: custom metric {args.metric!r} of {model!r}: {stack.shape[0]} frames, {total} counts")
        return 0
    if store.has(model, args.metric) and not args.replace:
        raise ParameterError(f"metric {args.metric!r} of {model!r} exists; pass --replace", parameter="metric")
    func = load_plugin(args.plugin)
    from tqdm import tqdm

    with tqdm(total=len(view.dataset.frames), desc=f"{args.metric}", unit="frame", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        run_plugin(func, view.dataset, view.dataset.inference_set(model), _options(args), spec=args.plugin,
                   progress=progress)
    store.save_plugin(model, args.metric, args.plugin, replace=args.replace)
    print(f"dataset {view.name!r}: custom metric {args.metric!r} of {model!r}: plugin {args.plugin} "
          "(run again at each request's options)")
    return 0


def _write_json(path: str, obj: Any) -> None:
    """``obj`` as JSON, atomically (NaN as null)."""
    import orjson

    from aquaembed.errors import ParameterError
    from aquaembed.store.atomic import atomic_write_bytes

    folder = Path(path).parent
    if not folder.is_dir():
        raise ParameterError(f"--json: the folder {str(folder)!r} does not exist", parameter="json")
    atomic_write_bytes(path, orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY))


def _cmd_compare(args: argparse.Namespace) -> int:
    view = _view(args)
    a, b = args.models
    result = view.compare(a, b, _options(args), scenario=args.scenario)
    if args.json is not None:
        _write_json(args.json, result)
    for m in result["models"]:
        o = result["overall"][m]
        print(f"{m:>20}: TP {o['tp']:>7} FP {o['fp']:>7} FN {o['fn']:>7}  precision {_pct(o['precision'])} "
              f"recall {_pct(o['recall'])} F1 {_pct(o['f1'])}")
    c = result["labels"]["counts"]
    print(f"labels: {c['fixed']} fixed, {c['broken']} broken, {c['both_found']} found by both, "
          f"{c['both_missed']} missed by both")
    if args.json is not None:
        print(f"wrote {args.json}")
    return 0


def _cmd_scenario(args: argparse.Namespace) -> int:
    from aquaembed.analysis.scenarios import read_frame_ids

    view = _view(args)
    if args.action == "list":
        items = view.scenarios()
        if not items:
            print(f"dataset {view.name!r} has no scenarios")
        for name, rec in items.items():
            how = f"where {rec['where']}" if rec.get("where") else rec.get("source")
            print(f"{name}: {rec['frames']} frames ({how})")
        return 0
    if args.action == "delete":
        view.delete_scenario(args.scenario)
        print(f"deleted scenario {args.scenario!r}")
        return 0
    if args.where is not None:
        rec = view.save_scenario(args.scenario, where=args.where, model=args.model, options=_options(args),
                                 metric=args.metric, replace=args.replace)
    else:
        rec = view.save_scenario(args.scenario, frames=read_frame_ids(args.frames).tolist(), source="frames",
                                 replace=args.replace)
    print(f"saved scenario {rec['name']!r}: {rec['frames']} frames")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from aquaembed.analysis.scenarios import export_scenario

    view = _view(args)
    files = export_scenario(view.dataset, view.scenario_mask(args.scenario), args.out)
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def _matching_flags(p: argparse.ArgumentParser, probability: Callable[[str], Callable[[str], float]]) -> None:
    p.add_argument("--conf", type=probability("--conf"), default=0.5, help="confidence threshold (default 0.5)")
    p.add_argument("--iou", type=probability("--iou"), default=0.5, help="IoU threshold (default 0.5)")
    p.add_argument("--mode", choices=("optimal", "greedy"), default="optimal", help="assignment rule")
    p.add_argument("--class-aware", action="store_true", help="only match boxes of the same class")
    p.add_argument("--crowd", action="store_true", help="treat iscrowd labels as crowd regions")


def add_workflow_parsers(
    sub: Any, default_data: Callable[[], str], probability: Callable[[str], Callable[[str], float]]
) -> None:
    """Register ``add-metric``, ``compare``, ``scenario`` and ``export`` on the subparsers."""

    def dataset_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", default=default_data(), metavar="DIR", help="data directory (default ./data)")
        p.add_argument("--name", required=True, help="dataset name")

    am = sub.add_parser("add-metric", help="store a custom metric: per-frame confusion matrices or per-frame scalars",
                        description="A .json file holds per-frame confusion matrices {classes, frames}; a .csv or "
                        ".parquet file per-frame scalar columns (image_id + numbers); --plugin names a callable "
                        "package.module:function that returns per-frame matrices for batches of frames.")
    dataset_flags(am)
    am.add_argument("--model", help="inference set the metric is about (matrices and plugins)")
    am.add_argument("--metric", required=True, help="metric name (letters, digits, _ and -)")
    src = am.add_mutually_exclusive_group(required=True)
    src.add_argument("--file", metavar="F", help="F.json (matrices) or F.csv / F.parquet (scalars)")
    src.add_argument("--plugin", metavar="package.module:function", help="a callable returning per-frame matrices")
    am.add_argument("--replace", action="store_true", help="replace a metric of that name")
    _matching_flags(am, probability)
    am.set_defaults(func=_cmd_add_metric)

    cp = sub.add_parser("compare", help="compare two inference sets of a dataset")
    dataset_flags(cp)
    cp.add_argument("--models", nargs=2, required=True, metavar=("A", "B"), help="the two inference sets")
    cp.add_argument("--scenario", help="only the frames of this scenario")
    cp.add_argument("--json", metavar="OUT", help="write the comparison as JSON (atomically)")
    _matching_flags(cp, probability)
    cp.set_defaults(func=_cmd_compare)

    sc = sub.add_parser("scenario", help="save, list or delete named sets of frames")
    dataset_flags(sc)
    sc.add_argument("--model", help="inference set for the per-frame metrics of --where")
    sc.add_argument("--metric", help="custom metric for the per-frame metrics of --where (default built-in)")
    _matching_flags(sc, probability)
    acts = sc.add_subparsers(dest="action", metavar="ACTION")
    acts.required = True
    save = acts.add_parser("save", help="save scenario S from an expression or a list of frame ids")
    save.add_argument("scenario", metavar="S")
    how = save.add_mutually_exclusive_group(required=True)
    how.add_argument("--where", metavar="EXPR", help='e.g. \'scene == "plaza_crossing" and f1 <= 0.5\'')
    how.add_argument("--frames", metavar="IDS.txt", help="one frame id per line")
    save.add_argument("--replace", action="store_true", help="replace a scenario of that name")
    acts.add_parser("list", help="list the scenarios")
    de = acts.add_parser("delete", help="delete scenario S")
    de.add_argument("scenario", metavar="S")
    sc.set_defaults(func=_cmd_scenario)

    ex = sub.add_parser("export", help="write a scenario as gt.json + <model>.json (COCO), for aquaembed evaluate")
    dataset_flags(ex)
    ex.add_argument("--scenario", required=True, metavar="S")
    ex.add_argument("--out", required=True, metavar="DIR2", help="output folder (created; must be new or empty)")
    ex.set_defaults(func=_cmd_export)
