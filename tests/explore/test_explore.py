"""The explore facade: what DatasetView answers equals the engine's own results.

Every answer is checked against :class:`~aquaembed.evaluate.Evaluator` and the metrics
functions called directly on the same dataset, or against a by-hand sort of the frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.evaluate import Evaluator
from aquaembed.explore import DatasetView, Workspace
from aquaembed.matching import MatchOptions
from aquaembed.metrics import FrameReport, class_report, frame_report, slice_report
from factories import DS, build_store, same_json

OPTIONS = [
    MatchOptions(),
    MatchOptions(conf=0.3, iou=0.4),
    MatchOptions(conf=0.3, mode="greedy", class_aware=True),
    MatchOptions(conf=0.2, iou=0.6, crowd=True),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("explore"))


@pytest.fixture(scope="module")
def view(data_dir: Path) -> DatasetView:
    return Workspace(data_dir).get(DS)


@pytest.fixture(scope="module")
def evaluator(view: DatasetView) -> Evaluator:
    """An evaluator built outside the view (no shared caches)."""
    return Evaluator(view.dataset, view.dataset.inference_set("detr"))


def test_workspace_lists_and_opens_datasets(data_dir: Path) -> None:
    ws = Workspace(data_dir)
    assert sorted(ws.names()) == ["harbour", "solo"]
    assert ws.get("solo").model(None) == "only"
    with pytest.raises(NotFoundError):
        ws.get("nowhere")
    with pytest.raises(ParameterError):
        ws.get(DS).model(None)  # two inference sets: one must be named
    with pytest.raises(NotFoundError):
        ws.get(DS).model("nope")


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_metrics_equal_the_evaluator(view: DatasetView, evaluator: Evaluator, options: MatchOptions) -> None:
    got = view.metrics("detr", options, pr=False)
    want = evaluator.report(options, matches=False, per_frame=False)
    assert got.pop("model") == "detr"
    assert got.pop("metric") is None and got.pop("scenario") is None  # the built-in matching, all frames
    assert same_json(got) == same_json(want)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_frame_metrics_are_the_frame_report(view: DatasetView, evaluator: Evaluator, options: MatchOptions) -> None:
    fm = view.frame_metrics("detr", options)
    assert isinstance(fm, FrameReport)
    want = frame_report(evaluator.table(options), ids=view.dataset.frames.id)
    assert fm.counts == want.counts and np.array_equal(fm.ids, want.ids)
    assert fm.to_json() == evaluator.report(options)["per_frame"]


def test_tables_are_cached_per_options(view: DatasetView) -> None:
    a = view.table("yolo", MatchOptions(conf=0.3))
    assert view.table("yolo", MatchOptions(conf=0.3)) is a
    assert view.table("yolo", MatchOptions(conf=0.3, mode="greedy")) is not a
    assert view.table("yolo", MatchOptions(conf=0.3, mode="greedy")).options.mode == "greedy"
    assert view.table("yolo") is view.table("yolo", MatchOptions())


def test_frames_sorted_filtered_and_paged_as_by_hand(view: DatasetView, evaluator: Evaluator) -> None:
    options = MatchOptions(conf=0.3)
    rep = frame_report(evaluator.table(options), ids=view.dataset.frames.id)
    ids = view.dataset.frames.id
    f1 = rep.f1
    scene = view.dataset.frames.metadata["scene"]
    keep = scene != "reef"
    # by hand: F1 descending, undefined last, ties by frame id
    rows = [i for i in range(len(ids)) if keep[i]]
    rows.sort(key=lambda i: (np.isnan(f1[i]), -(0.0 if np.isnan(f1[i]) else f1[i]), ids[i]))
    out = view.frames("detr", options=options, sort="f1", order="desc", limit=7, offset=3,
                      equals={"scene": ["harbour", "open water"]})
    assert out["total"] == len(rows)
    assert [r["id"] for r in out["rows"]] == [int(ids[i]) for i in rows[3:10]]
    first = out["rows"][0]
    i = rows[3]
    assert {k: first[k] for k in ("tp", "fp", "fn")} == {"tp": int(rep.tp[i]), "fp": int(rep.fp[i]), "fn": int(rep.fn[i])}
    assert first["metadata"]["scene"] == scene[i]


def test_frames_range_filter_drops_undefined_values(view: DatasetView) -> None:
    out = view.frames("detr", options=MatchOptions(conf=0.3), ranges={"f1": (0.5, None)}, limit=1000)
    assert out["rows"] and all(r["f1"] is not None and r["f1"] >= 0.5 for r in out["rows"])
    with pytest.raises(ParameterError):
        view.frames("detr", ranges={"scene": (0, 1)})  # a text field has no range
    with pytest.raises(ParameterError):
        view.frames("detr", sort="nope")
    with pytest.raises(ParameterError):
        view.frames("detr", limit=-1)


def test_slices_equal_the_slice_report(view: DatasetView, evaluator: Evaluator) -> None:
    options = MatchOptions(conf=0.3, class_aware=True)
    table = evaluator.table(options)
    scene = view.dataset.frames.metadata["scene"].astype(str)
    values, groups = np.unique(scene, return_inverse=True)
    cls = view.dataset.classes.names[1]
    got = view.slices("detr", options=options, field="scene", cls=cls)
    want = slice_report(table, groups, values.size, values=values.tolist(), cls=1)
    assert got == {"field": "scene", "class": cls, "rows": want.to_json()}
    # summed over the slices: the class report's counts
    rep = class_report(table)
    assert want.counts.sum() == rep.counts[1]
    with pytest.raises(ParameterError):
        view.slices("detr", field="nope")
    with pytest.raises(ParameterError):
        view.slices("detr", field="scene", cls="background")


def test_matches_of_a_confusion_cell(view: DatasetView, evaluator: Evaluator) -> None:
    options = MatchOptions(conf=0.3)
    table = evaluator.table(options)
    names = view.dataset.classes.names_with_background
    out = view.matches("detr", options=options, pred_class="background", sort="score", limit=1000)
    # unmatched labels (FN) of any class: the background column of the confusion matrix
    cm = evaluator.report(options, matches=False, per_frame=False)["confusion_matrix"]
    assert out["total"] == sum(row[-1] for row in cm[:-1])
    assert all(r["pred_class"] == "background" and r["type"] == "FN" for r in out["rows"])
    fp = view.matches("detr", options=options, type="FP", sort="score", order="desc", limit=5)
    scores = [r["score"] for r in fp["rows"]]
    assert scores == sorted(scores, reverse=True)
    assert fp["total"] == int((table.type == 1).sum())
    assert names[-1] == "background"
