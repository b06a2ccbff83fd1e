"""Custom metrics: a file of per-frame matrices (from another matching rule) drives every view."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from aquaembed.cli import main
from aquaembed.errors import InputError
from aquaembed.explore import Workspace
from aquaembed.matching import MatchOptions
from aquaembed.metrics import FrameMatrices, confusion_matrix, frame_confusion, frame_report
from factories import DS, build_store

GREEDY = MatchOptions(mode="greedy", class_aware=True)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("custom"))


def _write_metric(view, path: Path, options: MatchOptions, *, drop: int = 3) -> np.ndarray:
    """The per-frame matrices of another rule, written as a metric file; ``drop`` frames left out."""
    stack = frame_confusion(view.table("yolo", options))
    ids = view.dataset.frames.id
    frames = {str(i): stack[k].tolist() for k, i in enumerate(ids.tolist()) if k >= drop}
    path.write_text(json.dumps({"classes": view.dataset.classes.names_with_background, "frames": frames}))
    stack[:drop] = 0
    return stack


def _by_hand(stack: np.ndarray) -> dict[str, np.ndarray]:
    """TP/FP/FN written out with loops over frames and classes."""
    f, n, _ = stack.shape
    c = n - 1
    tp = np.zeros(f, int)
    fp = np.zeros(f, int)
    fn = np.zeros(f, int)
    for k in range(f):
        for i in range(c):
            tp[k] += stack[k, i, i]
            fp[k] += stack[k, :, i].sum() - stack[k, i, i]
            fn[k] += stack[k, i, :].sum() - stack[k, i, i]
    return {"tp": tp, "fp": fp, "fn": fn}


def test_frame_confusion_sums_to_the_confusion_matrix(data_dir: Path) -> None:
    view = Workspace(data_dir).get(DS)
    for opts in (MatchOptions(), GREEDY, MatchOptions(conf=0.3, iou=0.7, crowd=True)):
        table = view.table("yolo", opts)
        stack = frame_confusion(table)
        assert stack.shape == (len(view.dataset.frames), 5, 5)
        np.testing.assert_array_equal(stack.sum(axis=0), confusion_matrix(table))
        ref = frame_report(table)
        got = FrameMatrices.from_stack(stack).per_frame()
        for k in ("tp", "fp", "fn"):
            np.testing.assert_array_equal(getattr(got, k), getattr(ref, k))


def test_file_metric_reproduces_hand_numbers_in_every_view(data_dir: Path, tmp_path: Path, capsys) -> None:
    view = Workspace(data_dir).get(DS)
    stack = _write_metric(view, tmp_path / "greedy.json", GREEDY)
    assert main(["add-metric", "--data", str(data_dir), "--name", DS, "--model", "yolo", "--metric", "greedy",
                 "--file", str(tmp_path / "greedy.json")]) == 0
    view = Workspace(data_dir).get(DS)  # a fresh view reads the stored metric
    hand = _by_hand(stack)
    m = view.metrics("yolo", MatchOptions(), metric="greedy")
    assert m["confusion_matrix"] == stack.sum(axis=0).tolist()
    assert m["overall"]["tp"] == hand["tp"].sum() and m["overall"]["fp"] == hand["fp"].sum()
    assert m["overall"]["fn"] == hand["fn"].sum()
    tp = hand["tp"].sum()
    assert m["overall"]["f1"] == pytest.approx(2 * tp / (2 * tp + hand["fp"].sum() + hand["fn"].sum()))
    for i, name in enumerate(view.dataset.classes.names):
        cm = stack.sum(axis=0)
        assert m["per_class"][name]["tp"] == cm[i, i]
        assert m["per_class"][name]["fp"] == cm[:, i].sum() - cm[i, i]
        assert m["per_class"][name]["fn"] == cm[i, :].sum() - cm[i, i]
    # per-frame numbers and the frame grid (sorted by FP, filtered)
    fm = view.frame_metrics("yolo", MatchOptions(), metric="greedy")
    for k in ("tp", "fp", "fn"):
        np.testing.assert_array_equal(getattr(fm, k), hand[k])
    page = view.frames("yolo", metric="greedy", sort="fp", order="desc", limit=1000)
    got = [r["fp"] for r in page["rows"]]
    assert got == sorted(hand["fp"].tolist(), reverse=True)
    rows = view.frames("yolo", metric="greedy", ranges={"fn": (2, None)}, limit=1000)
    assert rows["total"] == int((hand["fn"] >= 2).sum())
    # the dropped frames count as zeros
    first = view.frames("yolo", metric="greedy", sort="id", order="asc", limit=1)["rows"][0]
    assert (first["tp"], first["fp"], first["fn"]) == (0, 0, 0) and first["f1"] is None
    # slices
    sl = view.slices("yolo", field="scene", metric="greedy")
    scene = view.dataset.frames.metadata["scene"].astype(str)
    for row in sl["rows"]:
        sel = scene == row["value"]
        assert (row["tp"], row["fp"], row["fn"]) == tuple(int(hand[k][sel].sum()) for k in ("tp", "fp", "fn"))
    # the built-in default is untouched
    assert view.metrics("yolo", MatchOptions(), pr=False)["confusion_matrix"] == confusion_matrix(view.table("yolo")).tolist()


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"classes": ["a"], "frames": {}}, "classes"),
        ({"frames": {}}, "exactly"),
        ("CLASSES", None),
    ],
)
def test_bad_metric_files_are_one_line_and_write_nothing(data_dir: Path, tmp_path: Path, capsys, doc, message) -> None:
    view = Workspace(data_dir).get(DS)
    names = view.dataset.classes.names_with_background
    n = len(names)
    fid = str(int(view.dataset.frames.id[0]))
    bad_docs = {
        "CLASSES": None,
    }
    if doc == "CLASSES":
        for frames, needle in (
            ({"99999": np.zeros((n, n), int).tolist()}, "unknown image id"),
            ({fid: np.zeros((n - 1, n - 1), int).tolist()}, f"{n} x {n}"),
            ({fid: (-np.ones((n, n), int)).tolist()}, "non-negative"),
            ({fid: [[0.5] * n] * n}, "non-negative integers"),
            ({"x": np.zeros((n, n), int).tolist()}, "integer image id"),
        ):
            bad_docs[needle] = {"classes": names, "frames": frames}
        bad_docs.pop("CLASSES")
    else:
        bad_docs = {message: doc}
    before = sorted(view.stored.artifact_names)
    for needle, d in bad_docs.items():
        path = tmp_path / "m.json"
        path.write_text(json.dumps(d))
        code = main(["add-metric", "--data", str(data_dir), "--name", DS, "--model", "yolo", "--metric", "bad",
                     "--file", str(path)])
        err = capsys.readouterr().err
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert sorted(Workspace(data_dir).get(DS).stored.artifact_names) == before


def test_plugin_metric_reruns_with_options_and_names_the_failing_frame(data_dir: Path, capsys, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    assert main(["add-metric", "--data", str(data_dir), "--name", DS, "--model", "yolo", "--metric", "naive",
                 "--plugin", "metric_plugins:label_counts"]) == 0
    view = Workspace(data_dir).get(DS)
    ds = view.dataset
    yolo = ds.inference_set("yolo")
    for conf in (0.2, 0.8):
        m = view.metrics("yolo", MatchOptions(conf=conf), metric="naive")
        assert m["overall"] == {"tp": 0, "fp": int((yolo.score >= conf).sum()), "fn": len(ds.labels),
                                "precision": 0.0 if (yolo.score >= conf).any() else None, "recall": 0.0, "f1": 0.0}
    assert view.metric_progress("yolo", "naive") == (len(ds.frames), len(ds.frames))
    code = main(["add-metric", "--data", str(data_dir), "--name", DS, "--model", "yolo", "--metric", "boom",
                 "--plugin", "metric_plugins:fails_on_frame_13"])
    err = capsys.readouterr().err
    assert code == 2 and "failed on frame 13" in err and "cannot score this one" in err
    code = main(["add-metric", "--data", str(data_dir), "--name", DS, "--model", "yolo", "--metric", "shape",
                 "--plugin", "metric_plugins:wrong_shape"])
    assert code == 2 and "expected (" in capsys.readouterr().err
    code = main(["add-metric", "--data", str(data_dir), "--name", DS, "--model", "yolo", "--metric", "nope",
                 "--plugin", "no_such_module_xyz:f"])
    assert code == 2 and "cannot import" in capsys.readouterr().err
    assert set(Workspace(data_dir).get(DS).custom_metrics("yolo")) >= {"naive"}
    assert "boom" not in Workspace(data_dir).get(DS).custom_metrics("yolo")


def test_scalar_metrics_sort_filter_and_slice(data_dir: Path, tmp_path: Path) -> None:
    view = Workspace(data_dir).get(DS)
    ids = view.dataset.frames.id
    sev = (ids * 7 % 11).astype(float)
    csv = tmp_path / "sev.csv"
    csv.write_text("image_id,severity\n" + "".join(f"{i},{s}\n" for i, s in zip(ids[1:].tolist(), sev[1:].tolist())))
    assert main(["add-metric", "--data", str(data_dir), "--name", DS, "--metric", "sev", "--file", str(csv)]) == 0
    view = Workspace(data_dir).get(DS)
    page = view.frames("yolo", sort="severity", order="desc", limit=1000)
    got = [r["scalars"]["severity"] for r in page["rows"]]
    assert got[:-1] == sorted(sev[1:].tolist(), reverse=True) and got[-1] is None  # undefined last
    assert view.frames("yolo", ranges={"severity": (5, 8)}, limit=0)["total"] == int(((sev[1:] >= 5) & (sev[1:] <= 8)).sum())
    sl = view.slices("yolo", field="severity", bins=2)
    assert sum(r["frames"] for r in sl["rows"]) == len(ids) - 1
    fr = frame_report(view.table("yolo"))
    assert sum(r["tp"] for r in sl["rows"]) == int(fr.tp[1:].sum())
    bad = tmp_path / "bad.csv"
    bad.write_text(f"image_id,scene\n{int(ids[0])},2\n")
    with pytest.raises(InputError, match="scene"):
        from aquaembed.analysis.custom_metrics import read_scalar_file

        read_scalar_file(bad, view.dataset)
    sys.modules.pop("metric_plugins", None)
