"""Verdicts stored in the dataset, and export-fixes: accepted fixes move the metrics as predicted."""

from __future__ import annotations

import csv
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest

from aquaembed.cli import main
from aquaembed.errors import ParameterError
from aquaembed.evaluate import Evaluator
from aquaembed.explore import Workspace
from aquaembed.io.coco import load_coco_gt
from aquaembed.matching import MatchOptions
from aquaembed.review import ReviewLog, Verdict
from aquaembed.store import Store
from factories import label_issue_case


@pytest.fixture()
def case_store(tmp_path: Path) -> Path:
    ds, _ = label_issue_case()
    Store(tmp_path / "data").create("case", ds)
    return tmp_path / "data"


def _issue(i: int) -> dict:
    return {"kind": "missing_label", "label_id": None, "pred_index": i, "frame": 7, "suggested_class": "car", "suggested_box": [0, 0, 1, 1]}


def _record_many(data: str, start: int, n: int) -> None:
    log = ReviewLog(Store(data).open("case"))
    for i in range(start, start + n):
        log.record(Verdict("m", _issue(i), "accept"))


def test_verdicts_survive_reopen_and_concurrent_writers(case_store: Path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_record_many, args=(str(case_store), 100 * j, 15)) for j in range(2)]
    for p in procs:
        p.start()
    _record_many(str(case_store), 1000, 5)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    log = ReviewLog(Store(case_store).open("case"))  # a fresh open: what a restarted server sees
    keys = {r["key"] for r in log.records()}
    assert len(keys) == 35
    assert log.counts("m") == {"reviewed": 35, "accepted": 35, "rejected": 0, "skipped": 0}
    # the latest verdict wins
    log.record(Verdict("m", _issue(0), "reject"))
    assert log.counts("m")["accepted"] == 34
    assert log.latest("m")["m|missing_label|pred|0"]["verdict"] == "reject"


def test_verdict_validation():
    with pytest.raises(ParameterError, match="verdict must be one of"):
        Verdict("m", _issue(0), "maybe")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="needs a label_id"):
        Verdict("m", {"kind": "wrong_class", "label_id": None, "pred_index": 3}, "accept")


def _counts(ds, inf, conf=0.5):
    o = Evaluator(ds, inf).report(MatchOptions(conf=conf))["overall"]
    return o["tp"], o["fp"], o["fn"]


def test_export_fixes_moves_the_metrics_as_predicted(case_store: Path, tmp_path: Path, capsys):
    view = Workspace(case_store).get("case")
    issues = view.label_issues("m", limit=100)["issues"]
    by = {(r["kind"], r["label_id"], r["pred_index"]): r for r in issues}
    accept = [("wrong_class", 12, 1), ("missing_label", None, 2), ("bad_location", 13, 3), ("duplicate_label", 15, None)]
    for key in accept:
        view.record_verdict("m", by[key]["key"], "accept")
    view.record_verdict("m", by[("spurious_label", 16, None)]["key"], "reject")
    assert view.label_issues("m", status="accept")["total"] == 4
    assert view.label_issues("m")["counts"]["reviewed"] == 5

    out, items = tmp_path / "fixed.json", tmp_path / "items.csv"
    assert main(["export-fixes", "--data", str(case_store), "--name", "case", "--out", str(out), "--csv", str(items)]) == 0
    assert "1 add, 1 drop, 1 move, 1 relabel" in capsys.readouterr().out
    fixed = load_coco_gt(out)  # re-imports as valid COCO
    before, inf = label_issue_case()
    # ids stable: the duplicate 15 dropped, one new label above the largest id
    assert fixed.labels.id.tolist() == [11, 12, 13, 14, 16, 17]
    names = fixed.classes.names
    assert names[fixed.labels.cls[1]] == "truck"
    np.testing.assert_allclose(fixed.labels.box[2], inf.box[3])
    np.testing.assert_allclose(fixed.labels.box[5], inf.box[2])
    # every accepted fix whose inference is kept at conf 0.5 becomes a TP: +3 TP (relabel,
    # move, add), -3 FP; the relabel, the move and the dropped duplicate are 3 FN fewer
    tp0, fp0, fn0 = _counts(before, inf)
    tp1, fp1, fn1 = _counts(fixed, inf)
    assert (tp0, fp0, fn0) == (2, 4, 4)
    assert (tp1 - tp0, fp1 - fp0, fn1 - fn0) == (3, -3, -3)
    rows = list(csv.DictReader(items.open()))
    assert sorted(r["action"] for r in rows) == ["add", "drop", "move", "relabel"]
    add = next(r for r in rows if r["action"] == "add")
    assert (add["label_id"], add["pred_index"], add["new_class"], add["image_id"]) == ("17", "2", "car", "7")


def test_accept_with_an_edited_class(case_store: Path, tmp_path: Path):
    view = Workspace(case_store).get("case")
    key = next(r["key"] for r in view.label_issues("m", kind="wrong_class")["issues"] if r["label_id"] == 12)
    view.record_verdict("m", key, "accept", new_class="person")
    fixed, rows = view.fixed_dataset("m")
    assert fixed.classes.names[fixed.labels.cls[1]] == "person"
    assert rows[0]["old_class"] == "car" and rows[0]["new_class"] == "person"


def test_report_and_export_errors(case_store: Path, tmp_path: Path, capsys):
    out = tmp_path / "r.json"
    assert main(["report", "--data", str(case_store), "--name", "case", "--json", str(out)]) == 0
    import json

    doc = json.loads(out.read_text())
    assert doc["options"]["conf"] == 0.5
    kinds = {r["kind"] for r in doc["label_issues"]}
    assert kinds == {"missing_label", "wrong_class", "bad_location", "duplicate_label", "spurious_label"}
    assert main(["export-fixes", "--data", str(case_store), "--name", "case", "--out", str(tmp_path / "no" / "x.json")]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["export-fixes", "--data", str(case_store), "--name", "nope", "--out", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()
