"""PR curves and COCO mAP of a scenario / of a set of frames equal `evaluate --map` (and
pycocotools) on the export of those frames; a custom metric has neither and says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from aquaembed.cli import main
from aquaembed.explore import Workspace
from aquaembed.matching import MatchOptions
from factories import DS, build_store


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("restricted"))


def _export_and_evaluate(data_dir: Path, tmp: Path, scenario: str, model: str, iou: float) -> dict:
    out = tmp / f"export-{scenario}"
    if not out.exists():
        assert main(["export", "--data", str(data_dir), "--name", DS, "--scenario", scenario, "--out", str(out)]) == 0
    ev = tmp / f"{scenario}-{model}-{iou}.json"
    assert main(["evaluate", "--gt", str(out / "gt.json"), "--pred", str(out / f"{model}.json"), "--iou", str(iou),
                 "--map", "--json", str(ev)]) == 0
    return json.loads(ev.read_text())


def _pycocotools_stats(export: Path, model: str) -> list[float]:
    pytest.importorskip("pycocotools")
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(export / "gt.json"))
        dt = gt.loadRes(str(export / f"{model}.json"))
        e = COCOeval(gt, dt, "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return [float(v) for v in e.stats]


def _save(data_dir: Path, name: str, ids: np.ndarray, tmp: Path) -> None:
    path = tmp / f"{name}.txt"
    path.write_text("\n".join(str(int(i)) for i in ids) + "\n")
    assert main(["scenario", "--data", str(data_dir), "--name", DS, "save", name, "--frames", str(path)]) == 0


def test_scenario_pr_curves_and_map_equal_evaluate_on_its_export(data_dir: Path, tmp_path: Path) -> None:
    assert main(["scenario", "--data", str(data_dir), "--name", DS, "--model", "yolo", "save", "reef",
                 "--where", 'scene == "reef"']) == 0
    view = Workspace(data_dir).get(DS)
    whole = view.metrics("yolo", MatchOptions(iou=0.5), coco=True)
    for model, iou in (("yolo", 0.5), ("detr", 0.3)):
        ev = _export_and_evaluate(data_dir, tmp_path, "reef", model, iou)
        m = view.metrics(model, MatchOptions(iou=iou), coco=True, scenario="reef")
        assert m["coco"] == ev["coco"]
        stats = _pycocotools_stats(tmp_path / "export-reef", model)
        for name, want in zip(("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"),
                              stats):
            got = m["coco"][name]
            assert (got is None and want == -1) or got == pytest.approx(want, abs=1e-12), name
        # the curve at each threshold is the evaluation of the export at that confidence
        curves = m["pr_curves"]
        assert curves is not None and len(curves["thresholds"]) == 21
        for i, t in enumerate(curves["thresholds"]):
            if i % 4:
                continue
            at = _export_and_evaluate_at(data_dir, tmp_path, "reef", model, iou, t)
            assert curves["overall"]["precision"][i] == at["overall"]["precision"]
            assert curves["overall"]["recall"][i] == at["overall"]["recall"]
            for name, pc in at["per_class"].items():
                assert curves["per_class"][name]["precision"][i] == pc["precision"], (name, t)
                assert curves["per_class"][name]["recall"][i] == pc["recall"], (name, t)
    # restricted, so not the whole set's numbers
    reef = view.metrics("yolo", MatchOptions(iou=0.5), coco=True, scenario="reef")
    assert reef["coco"] != whole["coco"] and reef["pr_curves"] != whole["pr_curves"]


def _export_and_evaluate_at(data_dir: Path, tmp: Path, scenario: str, model: str, iou: float, conf: float) -> dict:
    out = tmp / f"export-{scenario}"
    ev = tmp / f"{scenario}-{model}-{iou}-{conf}.json"
    assert main(["evaluate", "--gt", str(out / "gt.json"), "--pred", str(out / f"{model}.json"), "--iou", str(iou),
                 "--conf", str(conf), "--json", str(ev)]) == 0
    return json.loads(ev.read_text())


def test_frames_restriction_equals_the_export_of_those_frames(data_dir: Path, tmp_path: Path) -> None:
    view = Workspace(data_dir).get(DS)
    ids = view.dataset.frames.id
    chosen = ids[1::3]
    _save(data_dir, "every-third", chosen, tmp_path)
    ev = _export_and_evaluate(data_dir, tmp_path, "every-third", "yolo", 0.5)
    m = view.metrics("yolo", MatchOptions(conf=0.4), coco=True, frames=chosen)
    assert m["coco"] == ev["coco"]
    assert m["pr_curves"] == view.metrics("yolo", MatchOptions(conf=0.4), scenario="every-third")["pr_curves"]
    at = _export_and_evaluate_at(data_dir, tmp_path, "every-third", "yolo", 0.5, 0.4)
    assert m["overall"] == at["overall"]
    i = m["pr_curves"]["thresholds"].index(0.4)
    assert m["pr_curves"]["overall"]["precision"][i] == at["overall"]["precision"]
    # frames and a scenario together: their intersection
    both = view.metrics("yolo", MatchOptions(), coco=True, scenario="every-third", frames=ids[::2])
    _save(data_dir, "intersection", np.intersect1d(chosen, ids[::2]), tmp_path)
    ev2 = _export_and_evaluate(data_dir, tmp_path, "intersection", "yolo", 0.5)
    assert both["coco"] == ev2["coco"]


def test_the_api_restricts_curves_and_says_when_a_custom_metric_has_none(data_dir: Path, tmp_path: Path) -> None:
    from aquaembed.service.app import Settings, create_app

    view = Workspace(data_dir).get(DS)
    ids = view.dataset.frames.id[:7]
    cm = tmp_path / "m.json"
    n = len(view.dataset.classes.names_with_background)
    cm.write_text(json.dumps({"classes": list(view.dataset.classes.names_with_background),
                              "frames": {str(int(ids[0])): np.eye(n, dtype=int).tolist()}}))
    assert main(["add-metric", "--data", str(data_dir), "--name", DS, "--model", "yolo", "--metric", "eye",
                 "--file", str(cm)]) == 0
    app = create_app(Settings(data_dir=data_dir, faiss_threads=0), dashboard=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        api = f"/api/v1/datasets/{DS}/metrics"
        r = c.get(api, params={"model": "yolo", "map": "true", "frames": [int(i) for i in ids]})
        assert r.status_code == 200, r.text
        body = r.json()
        want = Workspace(data_dir).get(DS).metrics("yolo", MatchOptions(), coco=True, frames=ids)
        assert body["pr_curves"] == want["pr_curves"] and body["coco"] == want["coco"]
        assert body["overall"] == want["overall"] and "notes" not in body
        r = c.get(api, params={"model": "yolo", "metric": "eye", "map": "true"})
        body = r.json()
        assert body["pr_curves"] is None and body["coco"] is None
        assert any("built-in matching" in note for note in body["notes"])
        assert body["overall"]["tp"] == n - 1
        r = c.get(api, params={"model": "yolo", "frames": [int(ids.max()) + 10_000]})
        assert r.status_code == 404 and "frames" in r.text
