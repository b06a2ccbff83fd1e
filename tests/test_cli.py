"""``aquaembed evaluate`` end to end: the JSON contract, the report, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aquaembed.cli import main

GT = {
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 100},
        {"id": 2, "file_name": "b.jpg", "width": 100, "height": 100},
        {"id": 7, "file_name": "empty.jpg", "width": 100, "height": 100},
    ],
    "categories": [{"id": 3, "name": "truck"}, {"id": 1, "name": "car"}, {"id": 9, "name": "bus"}],
    "annotations": [
        {"id": 301, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
        {"id": 302, "image_id": 1, "category_id": 3, "bbox": [50, 50, 20, 20], "area": 400, "iscrowd": 0},
        {"id": 303, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
    ],
}
PRED = [
    {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},  # TP car (301)
    {"image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20], "score": 0.8},  # truck label seen as car
    {"image_id": 2, "category_id": 1, "bbox": [80, 80, 10, 10], "score": 0.7},  # FP car
    {"image_id": 2, "category_id": 9, "bbox": [0, 0, 10, 10], "score": 0.4},  # below conf
]


def write(tmp_path: Path, name: str, obj: object) -> Path:
    p = tmp_path / name
    p.write_bytes(obj if isinstance(obj, bytes) else json.dumps(obj).encode())
    return p


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(tmp_path, capsys):
    gt, pred = write(tmp_path, "gt.json", GT), write(tmp_path, "pred.json", PRED)
    out = tmp_path / "out.json"
    code, text, err = run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", str(out)], capsys)
    assert code == 0, err
    r = json.loads(out.read_text())
    assert r["conf_threshold"] == 0.5 and r["iou_threshold"] == 0.5
    assert r["classes"] == ["car", "truck", "bus", "background"]  # category-id order
    assert r["confusion_matrix"] == [
        [1, 0, 0, 1],  # car: TP on image 1; car 303 missed on image 2
        [1, 0, 0, 0],  # truck labelled, car predicted
        [0, 0, 0, 0],
        [1, 0, 0, 0],  # a false car
    ]
    assert r["per_class"]["car"] == {"tp": 1, "fp": 2, "fn": 1, "precision": pytest.approx(1 / 3), "recall": 0.5, "f1": 0.4}
    assert r["per_class"]["truck"] == {"tp": 0, "fp": 0, "fn": 1, "precision": None, "recall": 0.0, "f1": 0.0}
    assert r["per_class"]["bus"] == {"tp": 0, "fp": 0, "fn": 0, "precision": None, "recall": None, "f1": None}
    assert r["overall"]["tp"] == 1 and r["overall"]["fp"] == 2 and r["overall"]["fn"] == 2
    assert set(r["per_frame"]) == {"1", "2", "7"}
    assert r["per_frame"]["7"] == {"tp": 0, "fp": 0, "fn": 0, "precision": None, "recall": None, "f1": None}
    assert r["per_frame"]["1"]["tp"] == 1 and r["per_frame"]["1"]["fp"] == 1 and r["per_frame"]["1"]["fn"] == 1
    rows = {(m["gt_id"], m["pred_index"]): m for m in r["matches"]}
    assert rows[(301, 0)] == {
        "image_id": 1, "gt_id": 301, "pred_index": 0, "gt_class": "car", "pred_class": "car",
        "iou": 1.0, "score": 0.9, "type": "TP",
    }
    assert rows[(302, 1)]["type"] == "confusion" and rows[(302, 1)]["pred_class"] == "car"
    assert rows[(303, None)]["type"] == "FN" and rows[(303, None)]["score"] is None and rows[(303, None)]["iou"] is None
    assert rows[(None, 2)]["type"] == "FP" and rows[(None, 2)]["gt_class"] == "background"
    assert all(m["pred_index"] != 3 for m in r["matches"])  # below the threshold
    assert "coco" not in r
    assert "car" in text and "overall" in text and "truck" in text


def test_map_block_and_report(tmp_path, capsys):
    gt, pred = write(tmp_path, "gt.json", GT), write(tmp_path, "pred.json", PRED)
    out = tmp_path / "out.json"
    code, text, _ = run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--map", "--conf", "0.3", "--json", str(out)], capsys)
    assert code == 0
    r = json.loads(out.read_text())
    assert set(r["coco"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"}
    assert r["coco"]["APl"] is None  # no large objects: undefined, not 0
    assert "AP50" in text
    assert r["conf_threshold"] == 0.3


def test_empty_results_is_valid(tmp_path, capsys):
    gt, pred = write(tmp_path, "gt.json", GT), write(tmp_path, "pred.json", [])
    out = tmp_path / "out.json"
    code, _, _ = run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", str(out)], capsys)
    assert code == 0
    r = json.loads(out.read_text())
    assert r["overall"]["fn"] == 3 and r["overall"]["tp"] == 0 and r["overall"]["precision"] is None


def _gt_with(**changes):
    gt = json.loads(json.dumps(GT))
    for key, value in changes.items():
        section, index, field = key.split("__")
        if value is ...:
            del gt[section][int(index)][field]
        else:
            gt[section][int(index)][field] = value
    return gt


def _pred_with(index, field, value):
    pred = json.loads(json.dumps(PRED))
    if value is ...:
        del pred[index][field]
    else:
        pred[index][field] = value
    return pred


BAD_GT = {
    "truncated": b'{"images": [{"id": 1, "file_name": "a.jpg"',
    "not json": b"hello",
    "top level list": json.dumps([1, 2]).encode(),
    "missing bbox": _gt_with(annotations__1__bbox=...),
    "bbox three numbers": _gt_with(annotations__1__bbox=[1, 2, 3]),
    "bbox strings": _gt_with(annotations__1__bbox=["a", 2, 3, 4]),
    "negative width": _gt_with(annotations__1__bbox=[1, 2, -3, 4]),
    "negative height": _gt_with(annotations__1__bbox=[1, 2, 3, -4]),
    "infinite": b'{"images": [{"id": 1}], "categories": [{"id": 1, "name": "car"}], "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1e999, 3]}]}',
    "nan literal": b'{"images": [{"id": 1}], "categories": [{"id": 1, "name": "car"}], "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, NaN, 3]}]}',
    "unknown image": _gt_with(annotations__1__image_id=99),
    "unknown category": _gt_with(annotations__1__category_id=42),
    "duplicate annotation id": _gt_with(annotations__1__id=301),
}


@pytest.mark.parametrize("case", list(BAD_GT))
def test_bad_ground_truth(case, tmp_path, capsys):
    gt = write(tmp_path, "bad_gt.json", BAD_GT[case])
    pred = write(tmp_path, "pred.json", PRED)
    out = tmp_path / "out.json"
    code, text, err = run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", str(out)], capsys)
    assert code != 0
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "bad_gt.json" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
    if case in ("missing bbox", "bbox three numbers", "bbox strings", "negative width", "negative height", "unknown image", "unknown category"):
        assert "302" in err or "[1]" in err  # names the entry


BAD_PRED = {
    "truncated": b'[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1',
    "top level object": json.dumps({"annotations": PRED}).encode(),
    "missing bbox": _pred_with(2, "bbox", ...),
    "missing score": _pred_with(2, "score", ...),
    "bbox five numbers": _pred_with(2, "bbox", [1, 2, 3, 4, 5]),
    "negative width": _pred_with(2, "bbox", [1, 2, -3, 4]),
    "score above one": _pred_with(2, "score", 1.5),
    "score negative": _pred_with(2, "score", -0.1),
    "score string": _pred_with(2, "score", "high"),
    "score infinite": b'[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1e999}, {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]',
    "unknown image": _pred_with(2, "image_id", 12345),
    "unknown category": _pred_with(2, "category_id", 77),
}


@pytest.mark.parametrize("case", list(BAD_PRED))
def test_bad_results(case, tmp_path, capsys):
    gt = write(tmp_path, "gt.json", GT)
    pred = write(tmp_path, "bad_pred.json", BAD_PRED[case])
    out = tmp_path / "out.json"
    out.write_text("previous")
    code, _, err = run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", str(out)], capsys)
    assert code != 0
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "bad_pred.json" in err
    assert out.read_text() == "previous"  # nothing partial written
    if case == "score infinite":
        assert "line 1" in err  # orjson refuses 1e999 while parsing: the position is named
    elif case not in ("truncated", "top level object"):
        assert "2" in err.split("bad_pred.json", 1)[1]  # names the entry


def test_missing_file_and_bad_thresholds(tmp_path, capsys):
    gt = write(tmp_path, "gt.json", GT)
    code, _, err = run(["evaluate", "--gt", str(tmp_path / "nope.json"), "--pred", str(gt)], capsys)
    assert code != 0 and "nope.json" in err and err.count("\n") == 1
    pred = write(tmp_path, "pred.json", PRED)
    code, _, err = run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--conf", "1.5"], capsys)
    assert code != 0 and "conf" in err and err.count("\n") == 1
    code, _, err = run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--iou", "0"], capsys)
    assert code != 0 and "iou" in err
    code, _, err = run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", str(tmp_path / "no" / "dir.json")], capsys)
    assert code != 0 and err.count("\n") == 1


def test_console_script_runs_as_a_process(tmp_path):
    gt, pred = write(tmp_path, "gt.json", GT), write(tmp_path, "pred.json", PRED)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    ok = subprocess.run([sys.executable, "-m", "aquaembed", "evaluate", "--gt", str(gt), "--pred", str(pred)], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "overall" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "aquaembed", "evaluate", "--gt", str(pred), "--pred", str(pred)], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1
