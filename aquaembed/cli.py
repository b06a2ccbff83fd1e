"""The ``aquaembed`` command.

Subcommands: ``evaluate`` (COCO files → report / JSON) and ``synth`` (write a seeded
synthetic COCO pair to try ``evaluate`` on). The CLI does the talking: the library never
prints. Every deliberate error becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aquaembed import __version__
from aquaembed._validate import positive_int
from aquaembed.errors import AquaembedError, ParameterError

if TYPE_CHECKING:
    pass

# Heavy modules (numpy, numba, the app) are imported inside the commands, so that
# `aquaembed --help` starts in a few tens of milliseconds.

__all__ = ["main"]


def _probability(name: str):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if math.isnan(v):
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}")
        return v

    return parse


def _positive_int(text: str) -> int:
    try:
        return positive_int(text, "", parse=True)  # argparse names the option
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    """An integer; ``serve`` checks the range (and that the port is free) with one line."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None


def _wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait", action=argparse.BooleanOptionalAction, default=True,
        help="when another command writes the same dataset, wait for it (default) or, with --no-wait, stop at once",
    )


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (temporary file, then rename).

    NaN floats are written as ``null``. Only a missing or regular file is replaced
    (see :func:`aquaembed.store.atomic.write_output`).
    """
    import orjson

    from aquaembed.store.atomic import write_output

    write_output(path, orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), what="--json")


# --------------------------------------------------------------------------- report


def _fmt(x: float | None, width: int = 6) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—".rjust(width)
    return f"{x:.3f}".rjust(width)


def format_report(result: dict[str, Any], *, max_classes: int = 40, top_confusions: int = 10) -> str:
    """A readable terminal report of an ``evaluate`` result.

    Parameters
    ----------
    result : dict
        The ``evaluate`` JSON (as :meth:`aquaembed.evaluate.Evaluator.report` returns it).
    max_classes : int
        With more classes than this, list only the ``max_classes`` with the most
        labels and inferences, and say how many were left out.
    top_confusions : int
        How many of the largest off-diagonal cells to list.
    """
    import numpy as np

    names: list[str] = result["classes"][:-1]
    cm = np.asarray(result["confusion_matrix"], dtype=np.int64)
    n = len(names)
    labels = cm[:n, :].sum(axis=1)
    preds = cm[:, :n].sum(axis=0)
    lines = [
        f"conf >= {result['conf_threshold']:g}, IoU >= {result['iou_threshold']:g}: "
        f"{int(labels.sum())} labels, {int(preds.sum())} kept inferences, {n} classes",
        "",
    ]
    width = max([len("class"), *(len(s) for s in names)]) if names else 5
    width = min(width, 32)
    header = f"{'class':<{width}}  {'labels':>7} {'preds':>7} {'TP':>7} {'FP':>7} {'FN':>7} {'prec':>6} {'recall':>6} {'F1':>6}"
    lines += [header, "-" * len(header)]
    order = np.arange(n)
    hidden = 0
    if n > max_classes:
        order = np.argsort(-(labels + preds), kind="stable")[:max_classes]
        order = np.sort(order)
        hidden = n - max_classes
    for i in order:
        name = names[i]
        row = result["per_class"][name]
        shown = name if len(name) <= width else name[: width - 1] + "…"
        lines.append(
            f"{shown:<{width}}  {labels[i]:>7} {preds[i]:>7} {row['tp']:>7} {row['fp']:>7} {row['fn']:>7} "
            f"{_fmt(row['precision'])} {_fmt(row['recall'])} {_fmt(row['f1'])}"
        )
    if hidden:
        lines.append(f"… {hidden} more classes with fewer boxes (all are in --json)")
    ov = result["overall"]
    lines += [
        "-" * len(header),
        f"{'overall':<{width}}  {int(labels.sum()):>7} {int(preds.sum()):>7} {ov['tp']:>7} {ov['fp']:>7} {ov['fn']:>7} "
        f"{_fmt(ov['precision'])} {_fmt(ov['recall'])} {_fmt(ov['f1'])}",
    ]
    off = cm[:n, :n].copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:top_confusions]
    cells = [(int(k) // n, int(k) % n) for k in flat if off.flat[k] > 0] if n else []
    lines += ["", "largest class confusions (label → inference):" if cells else "no class confusions"]
    for g, p in cells:
        lines.append(f"  {names[g]:>{min(width, 24)}} → {names[p]:<{min(width, 24)}} {off[g, p]:>7}")
    if "coco" in result:
        lines += ["", "COCO bbox mAP (pycocotools definitions):"]
        for key, value in result["coco"].items():
            lines.append(f"  {key:<6} {_fmt(value)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- commands


# ------------------------------------------------------------ input formats


def _add_format_options(parser: argparse.ArgumentParser, *, gt: bool = True, pred: bool = True) -> None:
    """--format/--pred-format, --names, --difficult (and --images for evaluate/convert)."""
    from aquaembed.io.formats import BOX_FORMATS

    if gt:
        parser.add_argument("--format", choices=BOX_FORMATS, default=None,
                            help="ground-truth format (default: detected from the path)")
    if pred:
        parser.add_argument("--pred-format", choices=BOX_FORMATS, default=None,
                            help="inference format (default: detected from the path)")
    parser.add_argument("--names", metavar="FILE", default=None,
                        help="YOLO/VOC class names: data.yaml or one name per line (default: found beside the labels)")
    if gt:
        parser.add_argument("--difficult", choices=("label", "crowd"), default="label",
                            help="VOC difficult objects: plain labels (default) or crowd-like regions ignored by --crowd")


def _read_gt(args: argparse.Namespace, images: str | None):
    from aquaembed.io.formats import load_gt

    dataset = load_gt(args.gt, format=args.format, images=images, names=args.names, difficult=args.difficult)
    if len(dataset.labels) and (dataset.labels.id == 0).any():
        _step(f"note: {args.gt} has an annotation with id 0: pycocotools counts a match to it as unmatched "
              "(its own bug); aquaembed counts it correctly, so its mAP can differ there")
    return dataset


def _read_pred(args: argparse.Namespace, dataset, *, name: str = "model"):
    from aquaembed.io.formats import load_inferences

    pred = args.pred[0] if isinstance(args.pred, list) else args.pred  # evaluate takes several (engine inputs)
    return load_inferences(pred, dataset, format=args.pred_format, name=name, names=args.names)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from aquaembed.matching import MatchOptions

    options = MatchOptions(
        conf=args.conf, iou=args.iou, mode=args.mode, class_aware=args.class_aware, crowd=args.crowd
    )
    want = {"coco": args.map, "matches": args.json is not None, "per_frame": args.json is not None}
    if args.store is None and (args.gt is None or not args.pred):
        raise ParameterError("evaluate needs --gt and --pred (or --store for a sharded dataset)", parameter="--gt")
    evaluator = None
    if args.engine == "local" and args.shards is None and args.address is None and args.store is None \
            and len(args.pred) == 1 and not _is_parquet_input(args.pred[0]):
        from aquaembed.evaluate import Evaluator

        dataset = _read_gt(args, args.images)
        inferences = _read_pred(args, dataset)
        if args.table is not None:
            from aquaembed.io.tables import check_table_path

            check_table_path(args.table)
        evaluator = Evaluator(dataset, inferences)
        result = evaluator.report(options, **want)
    else:
        if args.table is not None:
            raise ParameterError("--table needs the local engine and one inference file", parameter="--table")
        # the engine streams --json from the shards' parts (matches never gather here)
        result = _evaluate_on_engine(args, options, want)
    if args.json is not None and evaluator is not None:
        write_json_atomic(args.json, result)
    if args.table is not None and evaluator is not None:
        from aquaembed.io.tables import write_match_table

        write_match_table(evaluator.dataset, evaluator.inferences, evaluator.table(options), args.table)
    print(format_report(result))
    for path in (args.json, args.table):
        if path is not None:
            print(f"\nwrote {path}")
    return 0


def _is_parquet_input(path: str) -> bool:
    """A Parquet file of inferences, or a folder of Parquet/COCO result files (the engine's inputs)."""
    from pathlib import Path

    p = Path(path)
    if p.suffix == ".parquet":
        return True
    return p.is_dir() and any(p.glob("*.parquet"))


def _cmd_convert(args: argparse.Namespace) -> int:
    from aquaembed.io.formats import write_gt

    dataset = _read_gt(args, args.images)
    inferences = _read_pred(args, dataset) if args.pred is not None else None
    written = write_gt(dataset, args.out, format=args.to, inferences=inferences)
    print(f"wrote {', '.join(str(p) for p in written)} ({len(dataset.frames)} frames, {len(dataset.labels)} labels"
          + (f", {len(inferences)} inferences)" if inferences is not None else ")"))
    return 0


def _evaluate_on_engine(args: argparse.Namespace, options: Any, want: dict[str, bool]) -> dict[str, Any]:
    """``evaluate --engine ...``: per-shard tasks, an exact reduce on this process."""
    from aquaembed.engine import get_engine
    from aquaembed.engine.jobs import evaluate_files, evaluate_store

    engine = get_engine(args.engine, address=args.address)
    _step(f"engine {args.engine}" + (f" ({engine.cpus} CPUs)" if hasattr(engine, "cpus") else ""))

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            _step(f"{stage}: {done}/{total} tasks")

    try:
        if args.store is not None:
            return evaluate_store(args.store, options, model=args.model, engine=engine, progress=progress,
                                  json_out=args.json, **want)
        return evaluate_files(args.gt, args.pred, options, engine=engine, shards=args.shards, progress=progress,
                              json_out=args.json, **want)
    finally:
        shutdown = getattr(engine, "shutdown", None)
        if shutdown is not None:
            shutdown()


def _cmd_synth(args: argparse.Namespace) -> int:
    from aquaembed.synthetic import write_coco

    gt, pred = write_coco(args.out, args.frames, seed=args.seed)
    print(f"wrote {gt} and {pred}")
    return 0


def _step(text: str) -> None:
    print(f"aquaembed: {text}", file=sys.stderr, flush=True)


def _needs_app(what: str) -> None:
    from aquaembed.extras import require

    require("app", what=what)


def _cmd_ingest(args: argparse.Namespace) -> int:
    _needs_app("aquaembed ingest")
    from aquaembed.ingest import ingest

    engine = None
    if args.engine != "local" or args.shards is not None:
        from aquaembed.engine import get_engine

        engine = get_engine(args.engine, address=args.address)
    try:
        sd = ingest(
            args.data, args.name, gt=args.gt, images=args.images, frame_embeddings=args.frame_embeddings,
            label_embeddings=args.label_embeddings, replace=args.replace, progress=_step, show_bars=engine is None,
            format=args.format, names=args.names, difficult=args.difficult, embedder=args.embedder,
            engine=engine, shards=args.shards, wait=args.wait,
        )
    finally:
        shutdown = getattr(engine, "shutdown", None)
        if shutdown is not None:
            shutdown()
    counts = sd.manifest.counts
    print(f"stored dataset {sd.name!r} in {args.data}: {counts.frames} frames, {counts.labels} labels; "
          f"embeddings: {', '.join(sd.embedding_kinds) or 'none'}")
    return 0


def _cmd_add_inferences(args: argparse.Namespace) -> int:
    _needs_app("aquaembed add-inferences")
    from aquaembed.ingest import add_inferences

    sd = add_inferences(
        args.data, args.name, model=args.model, pred=args.pred, pred_embeddings=args.pred_embeddings,
        replace=args.replace, progress=_step, show_bars=True, format=args.pred_format, names=args.names,
        wait=args.wait,
    )
    print(f"dataset {sd.name!r}: inference sets {', '.join(sd.inference_names)}; "
          f"embeddings: {', '.join(sd.embedding_kinds) or 'none'}")
    return 0


def _cmd_similar(args: argparse.Namespace) -> int:
    _needs_app("aquaembed similar")
    import orjson

    from aquaembed.explore import Workspace

    view = Workspace(args.data).get(args.name)
    if args.frame is not None:
        result = view.similar("frame", args.frame, k=args.k, model=args.model)
    else:
        result = view.similar("crop", args.crop, k=args.k, model=args.model, source=args.source)
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
        return 0
    q = result["query"]
    if result["kind"] == "frame":
        print(f"frame {q['id']}: F1 {_fmt(q['f1']).strip()}, precision {_fmt(q['precision']).strip()}, recall {_fmt(q['recall']).strip()}")
        print(f"{'frame':>10} {'similarity':>10} {'TP':>4} {'FP':>4} {'FN':>4} {'F1':>6}  metadata")
        for nb in result["neighbors"]:
            meta = ", ".join(f"{k}={v}" for k, v in nb["metadata"].items())
            print(f"{nb['id']:>10} {nb['similarity']:>10.4f} {nb['tp']:>4} {nb['fp']:>4} {nb['fn']:>4} {_fmt(nb['f1'])}  {meta}")
    else:
        print(f"{q['source']} crop {q['id']} ({q['class']}, {q['type']}) in frame {q['frame_id']}")
        print(f"{'source':>6} {'id':>8} {'similarity':>10} {'class':>14} {'type':>15} {'score':>6} {'frame':>8}")
        for nb in result["neighbors"]:
            print(f"{nb['source']:>6} {nb['id']:>8} {nb['similarity']:>10.4f} {nb['class']:>14} {nb['type']:>15} {_fmt(nb['score'])} {nb['frame_id']:>8}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    _needs_app("aquaembed demo")
    from aquaembed.demo.install import ensure_demo

    ensure_demo(args.data, frames=args.frames, seed=args.seed, rebuild=args.rebuild, progress=_step)
    if args.no_serve:
        return 0
    return _serve(args)


def _cmd_serve(args: argparse.Namespace) -> int:
    _needs_app("aquaembed serve")
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from aquaembed.service import check_listen, serve

    check_listen(args.host, args.port)
    _step(f"serving {args.data} on http://{args.host}:{args.port}/ (Ctrl-C to stop)")
    serve(args.data, host=args.host, port=args.port)
    return 0


def _default_data() -> str:
    return os.environ.get("AQUAEMBED_DATA_DIR", "data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aquaembed",
        description="Find where and why an object-detection model fails.",
    )
    parser.add_argument("--version", action="version", version=f"aquaembed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    ev = sub.add_parser(
        "evaluate",
        help="match a COCO results file to COCO ground truth and report the metrics",
        description="Match inferences to labels (optimal one-to-one assignment across classes) "
        "and report the confusion matrix, per-class and overall precision/recall/F1, "
        "and with --map the COCO mAP figures.",
    )
    ev.add_argument("--gt", metavar="GT", help="ground truth: COCO .json, YOLO labels folder or data.yaml, VOC .xml folder")
    ev.add_argument("--pred", nargs="+", metavar="PRED", help="inferences: COCO results .json, YOLO .txt folder, VOC .xml "
                    "folder; several COCO .json / .parquet files or a folder of them number their rows one after the other")
    ev.add_argument("--conf", type=_probability("--conf"), default=0.5, help="confidence threshold, kept when >= (default 0.5)")
    ev.add_argument("--iou", type=_probability("--iou"), default=0.5, help="IoU threshold, allowed when >= (default 0.5)")
    ev.add_argument("--map", action="store_true", help="also compute COCO mAP (the 12 COCOeval numbers)")
    ev.add_argument("--json", metavar="OUT", default=None, help="write the full result as JSON (atomically)")
    ev.add_argument("--mode", choices=("optimal", "greedy"), default="optimal", help="assignment rule (default optimal)")
    ev.add_argument("--class-aware", action="store_true", help="only match boxes of the same class")
    ev.add_argument("--crowd", action="store_true", help="treat iscrowd labels as COCO crowd regions")
    ev.add_argument("--table", metavar="OUT", default=None, help="write the match table as .parquet or .csv (atomically)")
    ev.add_argument("--images", metavar="DIR", default=None, help="YOLO: the images folder (sizes are read from it)")
    _add_format_options(ev)
    ev.add_argument("--engine", choices=("local", "ray"), default="local",
                    help="where shards run: this machine, or a Ray cluster (pip install 'aquaembed[ray]')")
    ev.add_argument("--address", default=None, help="Ray cluster address (default: start a local one)")
    ev.add_argument("--shards", type=_positive_int, default=None, help="frame shards (default: ~1M labels each, >= CPUs)")
    ev.add_argument("--store", metavar="URI", default=None, help="evaluate a sharded dataset (path or URI) instead of --gt/--pred")
    ev.add_argument("--model", default=None, help="inference set of --store (default: the only one)")
    ev.set_defaults(func=_cmd_evaluate)

    cv = sub.add_parser("convert", help="convert a YOLO or VOC dataset (and inferences) to COCO files",
                        description="Read a ground truth (and optionally inferences) in any supported format and "
                        "write it as COCO (gt.json, pred.json), or with --to as YOLO or VOC.")
    cv.add_argument("--gt", required=True, metavar="GT", help="ground truth in any format")
    cv.add_argument("--pred", metavar="PRED", default=None, help="inferences in any format")
    cv.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    cv.add_argument("--to", choices=("coco", "yolo", "voc"), default="coco", help="output format (default coco)")
    cv.add_argument("--images", metavar="DIR", default=None, help="YOLO: the images folder")
    _add_format_options(cv)
    cv.set_defaults(func=_cmd_convert)

    sy = sub.add_parser("synth", help="write a seeded synthetic COCO ground-truth and results pair")
    sy.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    sy.add_argument("--frames", type=_positive_int, default=500, help="number of frames (default 500)")
    sy.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sy.set_defaults(func=_cmd_synth)

    ing = sub.add_parser("ingest", help="store a COCO dataset (and embeddings) for exploration")
    ing.add_argument("--data", default=_default_data(), metavar="DIR", help="data directory (default ./data or $AQUAEMBED_DATA_DIR)")
    ing.add_argument("--name", required=True, help="dataset name")
    ing.add_argument("--gt", required=True, metavar="GT", help="ground truth: COCO .json, YOLO labels folder, VOC .xml folder")
    ing.add_argument("--images", metavar="IMAGE_DIR", help="folder of the images (file_name is relative to it)")
    ing.add_argument("--frame-embeddings", metavar="FILE", help=".npz (ids, embeddings) or .parquet (id, embedding)")
    ing.add_argument("--label-embeddings", metavar="FILE", help="label crop embeddings, ids = annotation ids")
    ing.add_argument("--replace", action="store_true", help="replace a dataset of that name")
    ing.add_argument("--embedder", default="builtin", metavar="SPEC",
                     help="builtin (default), onnx:MODEL.onnx, timm:NAME or open_clip:NAME (weights from disk only)")
    _add_format_options(ing, pred=False)
    ing.add_argument("--engine", choices=("local", "ray"), default="local",
                     help="run the embedder, index fill and projection placement per shard (ray: a Ray cluster)")
    ing.add_argument("--address", default=None, help="Ray cluster address (default: start a local one)")
    ing.add_argument("--shards", type=_positive_int, default=None, help="tasks per step (default: the cluster's CPUs)")
    _wait_option(ing)
    ing.set_defaults(func=_cmd_ingest)

    add = sub.add_parser("add-inferences", help="store a COCO results file as a named inference set")
    add.add_argument("--data", default=_default_data(), metavar="DIR", help="data directory")
    add.add_argument("--name", required=True, help="dataset name")
    add.add_argument("--model", required=True, help="inference-set name")
    add.add_argument("--pred", required=True, metavar="PRED", help="inferences: COCO results .json, YOLO .txt folder, VOC .xml folder")
    add.add_argument("--pred-embeddings", metavar="FILE", help="inference crop embeddings, ids = positions in PRED.json")
    add.add_argument("--replace", action="store_true", help="replace an inference set of that name")
    _add_format_options(add, gt=False)
    _wait_option(add)
    add.set_defaults(func=_cmd_add_inferences)

    sim = sub.add_parser("similar", help="nearest neighbours of a frame or a crop")
    sim.add_argument("--data", default=_default_data(), metavar="DIR", help="data directory")
    sim.add_argument("--name", required=True, help="dataset name")
    which = sim.add_mutually_exclusive_group(required=True)
    which.add_argument("--frame", type=int, metavar="ID", help="a frame (COCO image id)")
    which.add_argument("--crop", type=int, metavar="ID", help="a crop: a label id, or with --source pred an inference index")
    sim.add_argument("--source", choices=("label", "pred"), default="label", help="what --crop names (default label)")
    sim.add_argument("--model", help="inference set for metrics and inference crops (default: the only one)")
    sim.add_argument("--k", type=_positive_int, default=10, help="number of neighbours (default 10)")
    sim.add_argument("--json", action="store_true", help="print JSON")
    sim.set_defaults(func=_cmd_similar)

    from aquaembed.cli_report import add_report_parser

    add_report_parser(sub, _default_data, _probability)

    for cmd, helptext, func in (
        ("demo", "build the demo dataset if absent, then serve the dashboard", _cmd_demo),
        ("serve", "serve stored datasets: the dashboard at / and the JSON API at /api/v1", _cmd_serve),
    ):
        sp = sub.add_parser(cmd, help=helptext)
        sp.add_argument("--data", default=_default_data(), metavar="DIR", help="data directory (default ./data)")
        sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        sp.add_argument("--port", type=_port, default=8050, help="port, 1-65535 (default 8050)")
        if cmd == "demo":
            sp.add_argument("--frames", type=_positive_int, default=3000, help="demo size in frames (default 3000)")
            sp.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
            sp.add_argument("--rebuild", action="store_true", help="rebuild the demo even if it exists")
            sp.add_argument("--no-serve", action="store_true", help="build only")
        sp.set_defaults(func=func)

    from aquaembed.cli_review import add_commands as add_review_commands

    add_review_commands(sub, default_data=_default_data, probability=_probability, report=False)
    from aquaembed.cli_workflows import add_workflow_parsers

    add_workflow_parsers(sub, _default_data, _probability)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aquaembed`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except AquaembedError as exc:
        print(f"aquaembed: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aquaembed: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("aquaembed: error: out of memory", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"aquaembed: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2


def run() -> None:
    """The ``aquaembed`` console script: :func:`main` in a process of its own.

    A process that only evaluates skips numba's BLAS check (see
    :mod:`aquaembed._startup`); :func:`main` called inside another program never does.
    """
    if sys.argv[1:2] == ["evaluate"]:
        from aquaembed._startup import skip_numba_blas_check

        skip_numba_blas_check()
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
