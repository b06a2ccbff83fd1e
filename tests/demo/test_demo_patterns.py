"""The demo, built through the CLI at a reduced size, shows its planted failures to the engine.

These checks use the real matching engine and the exploration layer, the same calls the
dashboard makes, so they also prove that a user can find each pattern.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aquaembed.analysis.report import build_report
from aquaembed.cli import main
from aquaembed.demo.config import CATEGORIES
from aquaembed.demo.install import BUILD_DIR, DEMO_MODEL, DEMO_NAME
from aquaembed.explore import Workspace
from aquaembed.matching import CONFUSION, FN, FP, TP, MatchOptions
from aquaembed.metrics import inference_types, label_types, ratios


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    data = tmp_path_factory.mktemp("demo-data")
    assert main(["demo", "--data", str(data), "--frames", "300", "--no-serve"]) == 0
    planted = json.loads((data / BUILD_DIR / "planted.json").read_text())
    return data, planted


def test_demo_command_is_idempotent(demo, capsys):
    data, _ = demo
    before = (data / DEMO_NAME / "manifest.json").read_bytes()
    assert main(["demo", "--data", str(data), "--frames", "300", "--no-serve"]) == 0
    assert "ready" in capsys.readouterr().err
    assert (data / DEMO_NAME / "manifest.json").read_bytes() == before  # not rebuilt


def _class_counts(view, rows_mask: np.ndarray, cls: int, table) -> tuple[int, int, int]:
    frame_ok = rows_mask[table.frame]
    t = table.type
    tp = int(((t == TP) & (table.label_class == cls) & frame_ok).sum())
    fn = int((((t == FN) | (t == CONFUSION)) & (table.label_class == cls) & frame_ok).sum())
    fp = int((((t == FP) | (t == CONFUSION)) & (table.pred_class == cls) & frame_ok).sum())
    return tp, fp, fn


def test_overfitted_scene_and_night(demo):
    data, planted = demo
    view = Workspace(data).get(DEMO_NAME)
    ds = view.dataset
    table = view.table(DEMO_MODEL, options=MatchOptions(conf=0.5, iou=0.5))
    scene = ds.frames.metadata["scene"].astype(str)
    ped = ds.classes.index_of_name("pedestrian")
    special = scene == planted["overfitted_scene"]["scene"]
    night = ds.frames.metadata["time_of_day"].astype(str) == "night"
    in_scene = ratios(*_class_counts(view, special, ped, table))["f1"]
    elsewhere = ratios(*_class_counts(view, ~special & ~night, ped, table))["f1"]
    assert in_scene > 0.9 and in_scene - elsewhere > 0.2, (in_scene, elsewhere)
    fm = view.frame_metrics(DEMO_MODEL, options=MatchOptions(conf=0.5, iou=0.5))
    recall = lambda m: fm.tp[m].sum() / (fm.tp[m].sum() + fm.fn[m].sum())  # noqa: E731
    assert recall(night) < recall(~night) - 0.2, (recall(night), recall(~night))


def test_missing_labels_top_the_confident_false_positives(demo):
    data, planted = demo
    view = Workspace(data).get(DEMO_NAME)
    missing = {i for m in planted["missing_labels"] for i in m["pred_indices"]}
    # the drill-down a user opens: background row, sorted by confidence
    rows = view.matches(DEMO_MODEL, gt_class="background", sort="score", order="desc", limit=20)["rows"]
    hits = sum(r["pred_index"] in missing for r in rows)
    assert hits >= 10, hits


def test_recurring_false_positive_and_wrong_labels(demo):
    data, planted = demo
    view = Workspace(data).get(DEMO_NAME)
    table = view.table(DEMO_MODEL, options=MatchOptions(conf=0.5, iou=0.5))
    p_types, _ = inference_types(table)
    poster = np.array(planted["recurring_false_positive"]["pred_indices"])
    assert (p_types[poster] == FP).mean() > 0.8
    l_types, other = label_types(table)
    rows = view.dataset.labels.id
    wrong = np.isin(rows, [w["gt_id"] for w in planted["wrong_class_labels"]])
    assert (l_types[wrong] == CONFUSION).mean() > 0.5


def test_poster_crops_are_each_others_neighbours(demo):
    data, planted = demo
    view = Workspace(data).get(DEMO_NAME)
    poster = planted["recurring_false_positive"]["pred_indices"]
    res = view.similar("crop", poster[0], source="pred", k=5, model=DEMO_MODEL)
    near = [n["id"] for n in res["neighbors"] if n["source"] == "pred"]
    assert len(set(near) & set(poster)) >= 3


def test_metrics_by_scene_expose_the_overfitted_scene(demo):
    """The slice table a user opens in the frame grid ranks the memorised scene first."""
    data, planted = demo
    view = Workspace(data).get(DEMO_NAME)
    rows = view.slices(DEMO_MODEL, field="scene", cls="pedestrian")["rows"]
    enough = [r for r in rows if r["tp"] + r["fn"] >= 25]  # scenes with enough pedestrians to judge
    best = max(enough, key=lambda r: r["f1"])
    assert best["value"] == planted["overfitted_scene"]["scene"]
    rest = [r for r in rows if r is not best]
    pooled = ratios(*(sum(r[k] for r in rest) for k in ("tp", "fp", "fn")))["f1"]
    assert best["f1"] > 0.9 and best["f1"] - pooled > 0.2, (best["f1"], pooled)
    night = {r["value"]: r for r in view.slices(DEMO_MODEL, field="time_of_day")["rows"]}
    assert night["night"]["recall"] < night["day"]["recall"] - 0.2


@pytest.fixture(scope="module")
def dense_batches(tmp_path_factory) -> tuple[Path, dict]:
    """The demo at 300 frames with its two label-error batches planted at rate 0.9.

    A batch holds ~20 of the 300 frames: at the shipped rates (0.45) that is about 8
    planted errors, the minimum cluster size, so this build plants them densely; the
    full demo's batch clusters at the shipped rates are measured by
    ``benchmarks/demo_report_check.py`` (README, Failure report)."""
    from aquaembed.demo.config import DEFAULT_CONFIG

    data = tmp_path_factory.mktemp("demo-batches")
    with pytest.MonkeyPatch.context() as mp:
        for batch in DEFAULT_CONFIG["batch_label_errors"]:
            mp.setitem(batch, "rate", 0.9)
        assert main(["demo", "--data", str(data), "--frames", "300", "--no-serve"]) == 0
    planted = json.loads((data / BUILD_DIR / "planted.json").read_text())
    assert [b["rate"] for b in planted["batch_label_errors"]] == [0.9, 0.9]
    return data, planted


def test_the_report_finds_each_label_error_batch_as_a_cluster(dense_batches):
    """Without being told where: the batch's skipped class is an FP cluster and its confused
    class pair a confusion cluster, each nearly pure and naming the batch."""
    data, planted = dense_batches
    view = Workspace(data).get(DEMO_NAME)
    clusters = build_report(view, DEMO_MODEL, sections=("clusters",))["clusters"]
    assert next(c for c in clusters if c["type"] == "FP")["crops"][0]["id"] in planted["recurring_false_positive"]["pred_indices"]
    for batch in planted["batch_label_errors"]:
        kind, ids = ("FP", batch["pred_indices"]) if batch["kind"] == "missing_label" else ("confusion", batch["gt_ids"])
        ids = set(ids)
        best = max((c for c in clusters if c["type"] == kind), key=lambda c: len({m["id"] for m in c["crops"]} & ids))
        members = {m["id"] for m in best["crops"]}
        assert len(members & ids) / len(members) >= 0.8, (batch["kind"], best)
        assert len(members & ids) / len(ids) >= 0.4, (batch["kind"], best)
        named = {(r["field"], r["value"]) for r in best["over_represented"] if r["share"] >= 0.8}
        assert (batch["field"], batch["value"]) in named, (batch["kind"], best["over_represented"])
        if kind == "confusion":  # label class -> inference class, most frequent first
            names = dict(CATEGORIES)
            assert next(iter(best["pairs"])) == f"{names[batch['labeled_category_id']]}->{names[batch['category_id']]}"
