"""compare agrees with two evaluate runs; a scenario's metrics equal evaluate on its export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aquaembed.cli import main
from aquaembed.explore import Workspace
from aquaembed.io.coco import write_coco_gt, write_coco_results
from aquaembed.matching import MatchOptions
from factories import DS, build_store


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("cmp"))


def _evaluate(tmp: Path, gt: Path, pred: Path, *extra: str) -> dict:
    out = tmp / f"{pred.stem}-eval.json"
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("conf, iou", [(0.5, 0.5), (0.3, 0.7)])
def test_compare_agrees_with_two_evaluate_runs(data_dir: Path, tmp_path: Path, conf: float, iou: float) -> None:
    view = Workspace(data_dir).get(DS)
    ds = view.dataset
    gt = tmp_path / "gt.json"
    write_coco_gt(ds, gt)
    for m in ("yolo", "detr"):
        write_coco_results(ds.inference_set(m), ds, tmp_path / f"{m}.json")
    flags = ["--conf", str(conf), "--iou", str(iou)]
    ea = _evaluate(tmp_path, gt, tmp_path / "yolo.json", *flags)
    eb = _evaluate(tmp_path, gt, tmp_path / "detr.json", *flags)
    out = tmp_path / "cmp.json"
    assert main(["compare", "--data", str(data_dir), "--name", DS, "--models", "yolo", "detr", *flags,
                 "--json", str(out)]) == 0
    c = json.loads(out.read_text())
    assert c["models"] == ["yolo", "detr"]
    assert c["options"]["conf"] == conf and c["options"]["iou"] == iou
    assert c["overall"]["yolo"] == ea["overall"] and c["overall"]["detr"] == eb["overall"]
    diff = np.asarray(eb["confusion_matrix"]) - np.asarray(ea["confusion_matrix"])
    assert c["confusion_matrix_diff"] == diff.tolist()
    tp_a = {m["gt_id"] for m in ea["matches"] if m["type"] == "TP"}
    tp_b = {m["gt_id"] for m in eb["matches"] if m["type"] == "TP"}
    all_ids = {m["gt_id"] for m in ea["matches"] if m["gt_id"] is not None}
    assert set(c["labels"]["fixed"]) == tp_b - tp_a
    assert set(c["labels"]["broken"]) == tp_a - tp_b
    assert c["labels"]["counts"] == {
        "fixed": len(tp_b - tp_a), "broken": len(tp_a - tp_b), "both_found": len(tp_a & tp_b),
        "both_missed": len(all_ids - tp_a - tp_b),
    }
    assert set(c["frames"]) == set(ea["per_frame"])
    for fid, rec in c["frames"].items():
        fa, fb = ea["per_frame"][fid]["f1"], eb["per_frame"][fid]["f1"]
        assert rec["f1_a"] == fa and rec["f1_b"] == fb
        assert rec["delta_f1"] == (None if fa is None or fb is None else pytest.approx(fb - fa))
    # the map's transition colours agree with the lists
    proj = view.compare_projection("crop", "yolo", "detr", MatchOptions(conf=conf, iou=iou))
    lab = proj["source"] == 0
    codes = dict(zip(proj["ids"][lab].tolist(), proj["transition"][lab].tolist()))
    assert {i for i, t in codes.items() if t == 0} == set(c["labels"]["fixed"]) & set(codes)
    assert {i for i, t in codes.items() if t == 1} == set(c["labels"]["broken"]) & set(codes)
    assert set(proj["model"][~lab].tolist()) <= {"yolo", "detr"}


def test_compare_cell_drill_down(data_dir: Path) -> None:
    view = Workspace(data_dir).get(DS)
    c = view.compare("yolo", "detr")
    names = c["classes"]
    diff = np.asarray(c["confusion_matrix_diff"])
    for g in range(len(names) - 1):
        for p in range(len(names)):
            cell = view.compare_cell("yolo", "detr", gt_class=names[g], pred_class=names[p], limit=10_000)
            entered = sum(r["change"] == "entered" for r in cell["rows"])
            left = sum(r["change"] == "left" for r in cell["rows"])
            assert entered - left == diff[g, p]


def test_scenario_save_list_delete_and_export_round_trip(data_dir: Path, tmp_path: Path, capsys) -> None:
    base = ["--data", str(data_dir), "--name", DS]
    assert main(["scenario", *base, "--model", "yolo", "save", "reef-bad", "--where",
                 'scene == "reef" and f1 <= 0.6']) == 0
    view = Workspace(data_dir).get(DS)
    fm = view.frame_metrics("yolo")
    want = (view.dataset.frames.metadata["scene"] == "reef") & (fm.f1 <= 0.6)
    assert want.any()
    np.testing.assert_array_equal(view.scenario_mask("reef-bad"), want)
    ids = tmp_path / "ids.txt"
    ids.write_text("# lasso\n" + "\n".join(str(i) for i in view.dataset.frames.id[:5].tolist()) + "\n")
    assert main(["scenario", *base, "save", "first5", "--frames", str(ids)]) == 0
    capsys.readouterr()
    assert main(["scenario", *base, "list"]) == 0
    listed = capsys.readouterr().out
    assert "reef-bad:" in listed and "first5: 5 frames" in listed
    # a bad expression is one line naming the token; nothing is written
    before = Workspace(data_dir).get(DS).scenarios()
    for expr, token in (('scene === "reef"', "'='"), ("f1 <= ", "end of expression"), ("colour == 1", "'colour'"),
                        ('scene < "a"', "'<'")):
        assert main(["scenario", *base, "--model", "yolo", "save", "x", "--where", expr]) == 2
        err = capsys.readouterr().err
        assert token in err and len(err.strip().splitlines()) == 1, err
    assert Workspace(data_dir).get(DS).scenarios() == before
    # export, then evaluate reads it back with identical numbers
    out = tmp_path / "export"
    assert main(["export", *base, "--scenario", "reef-bad", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["detr.json", "gt.json", "yolo.json"]
    gt = json.loads((out / "gt.json").read_text())
    assert {im["id"] for im in gt["images"]} == set(view.dataset.frames.id[want].tolist())
    for model in ("yolo", "detr"):
        for conf in (0.5, 0.25):
            ev = _evaluate(tmp_path, out / "gt.json", out / f"{model}.json", "--conf", str(conf))
            m = view.metrics(model, MatchOptions(conf=conf), scenario="reef-bad")
            for k in ("confusion_matrix", "per_class", "overall", "classes"):
                assert m[k] == ev[k], k
            page = view.frames(model, options=MatchOptions(conf=conf), scenario="reef-bad", sort="id", limit=1000)
            assert page["total"] == int(want.sum())
            for r in page["rows"]:
                pf = ev["per_frame"][str(r["id"])]
                assert all(r[k] == pf[k] for k in pf)
    sl = view.slices("yolo", field="camera", scenario="reef-bad")
    assert sum(r["frames"] for r in sl["rows"]) == int(want.sum())
    assert main(["export", *base, "--scenario", "reef-bad", "--out", str(out)]) == 2  # not empty
    assert main(["scenario", *base, "delete", "first5"]) == 0
    assert "first5" not in Workspace(data_dir).get(DS).scenarios()
    assert main(["scenario", *base, "delete", "first5"]) == 2


def test_frames_restriction_equals_the_frames_summed_and_combines_with_a_scenario(data_dir: Path) -> None:
    from aquaembed.errors import NotFoundError

    view = Workspace(data_dir).get(DS)
    ids = view.dataset.frames.id
    chosen = ids[::3]
    opts = MatchOptions(conf=0.4)
    m = view.metrics("yolo", opts, frames=chosen)
    rows = {r["id"]: r for r in view.frames("yolo", options=opts, sort="id", limit=1000)["rows"]}
    for k in ("tp", "fp", "fn"):
        assert m["overall"][k] == sum(rows[int(i)][k] for i in chosen), k
    page = view.frames("yolo", options=opts, frames=chosen, sort="id", limit=1000)
    assert [r["id"] for r in page["rows"]] == sorted(chosen.tolist())
    # with a scenario: the intersection
    assert main(["scenario", "--data", str(data_dir), "--name", DS, "save", "firsthalf", "--frames",
                 str(_ids_file(data_dir, ids[: ids.size // 2]))]) == 0
    both = view.frames("yolo", options=opts, scenario="firsthalf", frames=chosen, sort="id", limit=1000)
    assert [r["id"] for r in both["rows"]] == sorted(set(chosen.tolist()) & set(ids[: ids.size // 2].tolist()))
    with pytest.raises(NotFoundError) as err:
        view.metrics("yolo", opts, frames=[int(ids.max()) + 1])
    assert err.value.parameter == "frames"
    assert main(["scenario", "--data", str(data_dir), "--name", DS, "delete", "firsthalf"]) == 0


def _ids_file(root: Path, ids: np.ndarray) -> Path:
    path = root.parent / "firsthalf-ids.txt"
    path.write_text("\n".join(str(int(i)) for i in ids) + "\n")
    return path
