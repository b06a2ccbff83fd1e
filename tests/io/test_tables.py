"""The match table as Parquet / CSV: the same rows as the evaluate JSON's matches."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from aquaembed.cli import main
from aquaembed.synthetic import write_coco


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_table_rows_are_the_json_matches(tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = write_coco(tmp_path, 30, seed=4)
    out, table = tmp_path / "r.json", tmp_path / f"m{suffix}"
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--conf", "0.3", "--json", str(out),
                 "--table", str(table)]) == 0
    capsys.readouterr()
    matches = json.loads(out.read_text())["matches"]
    t = pq.read_table(table) if suffix == ".parquet" else pacsv.read_csv(table)
    rows = t.to_pylist()
    assert len(rows) == len(matches) > 0
    keys = ("image_id", "gt_id", "pred_index", "gt_class", "pred_class", "type")
    for row, m in zip(rows, matches):
        assert all(row[k] == m[k] for k in keys)
        assert (row["iou"] is None) == (m["iou"] is None)
        if m["iou"] is not None:
            assert row["iou"] == pytest.approx(m["iou"], abs=0 if suffix == ".parquet" else 1e-12)
    # the counts behind the report come back from the file
    types = [r["type"] for r in rows]
    report = json.loads(out.read_text())["overall"]
    assert types.count("TP") == report["tp"]
    assert types.count("FN") + types.count("confusion") == report["fn"]
    if suffix == ".parquet":
        assert json.loads(pq.read_schema(table).metadata[b"aquaembed.options"])["conf"] == 0.3
        tp = [r for r in rows if r["type"] == "TP"]
        assert all(r["gt_x2"] > r["gt_x1"] and r["pred_area"] > 0 for r in tp)


def test_table_suffix_checked_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = write_coco(tmp_path, 5, seed=1)
    out = tmp_path / "r.json"
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", str(out), "--table", str(tmp_path / "m.xlsx")]) == 2
    err = capsys.readouterr().err
    assert "--table: expected a .parquet or .csv file name" in err and not out.exists()


def test_annotation_id_zero_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 0, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}]))
    assert main(["evaluate", "--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "dt.json"), "--map"]) == 0
    captured = capsys.readouterr()
    notes = [line for line in captured.err.splitlines() if "id 0" in line]
    assert len(notes) == 1 and "pycocotools" in notes[0]
    assert "  AP      1.000" in captured.out  # counted correctly: pycocotools would say 0
