"""``POST /datasets/{ds}/selection`` against answers computed from other routes and by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from aquaembed.explore import DatasetView, Workspace
from aquaembed.matching import MatchOptions
from aquaembed.service import Settings, create_app
from factories import DS, SCENES, build_store

API = "/api/v1"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("selection"))


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=data_dir, faiss_threads=0), dashboard=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def view(data_dir: Path) -> DatasetView:
    return Workspace(data_dir).get(DS)


def _post(client: TestClient, body: dict, status: int = 200, **params: object) -> dict:
    r = client.post(f"{API}/datasets/{DS}/selection", json=body, params={"model": "yolo", **params})
    assert r.status_code == status, r.text
    return r.json()


@pytest.mark.parametrize("params", [{}, {"conf": 0.3, "iou": 0.4, "mode": "greedy"}])
def test_frames_of_one_scene(client: TestClient, view: DatasetView, params: dict) -> None:
    frames = view.dataset.frames
    scene = np.asarray(frames.metadata["scene"]).astype(str)
    picked = frames.id[scene == SCENES[0]]
    body = _post(client, {"kind": "frame", "ids": picked.tolist()}, **params)
    # the frames' own counts, summed by hand
    fm = view.frame_metrics("yolo", MatchOptions(**params))
    sel = scene == SCENES[0]
    want = {k: int(np.asarray(getattr(fm, k))[sel].sum()) for k in ("tp", "fp", "fn")}
    assert {k: body["selection"][k] for k in want} == want
    assert body["selected"] == int(sel.sum()) and body["total"] == len(frames.id)
    assert body["conf_threshold"] == params.get("conf", 0.5)
    over = {(o["field"], o["value"]): o for o in body["over_represented"]}
    reef = over[("scene", SCENES[0])]
    # every selected frame is a reef frame; the rest holds none; lift = 1 / (share of reef frames)
    assert reef["share"] == 1.0 and reef["share_rest"] == 0.0 and reef["count"] == int(sel.sum())
    assert reef["lift"] == pytest.approx(len(scene) / sel.sum())
    assert body["mixes"] == {}


def test_inference_crops_of_one_class_match_the_per_class_report(client: TestClient, view: DatasetView) -> None:
    inf = view.dataset.inference_set("yolo")
    cls0 = view.dataset.classes.names[0]
    picked = np.flatnonzero(inf.cls == 0)
    body = _post(client, {"kind": "crop", "pred_ids": picked.tolist()})
    per_class = client.get(f"{API}/datasets/{DS}/metrics", params={"model": "yolo", "pr": False}).json()["per_class"][cls0]
    # kept inferences of class 0 that are TP, and those that are FP or confusions, are exactly the class's TP and FP
    assert body["selection"]["tp"] == per_class["tp"] and body["selection"]["fp"] == per_class["fp"]
    assert body["selection"]["fn"] == 0
    classes = {r["value"]: r for r in body["mixes"]["class"]}
    assert classes[cls0]["selected"] == picked.size and classes[cls0]["share"] == 1.0
    types = [r["value"] for r in body["mixes"]["type"]]
    assert types == ["TP", "FP", "FN", "confusion", "ignored", "below threshold"]
    assert sum(r["selected"] for r in body["mixes"]["type"]) == picked.size


def test_bad_requests(client: TestClient) -> None:
    body = _post(client, {"kind": "frame", "ids": [10**9]}, status=404)
    assert body["parameter"] == "ids" and "10000000" in body["message"]
    assert _post(client, {"kind": "frame", "ids": [], "pred_ids": [1]}, status=422)["parameter"] == "pred_ids"
    assert _post(client, {"kind": "volume", "ids": []}, status=422)["error"]
    assert _post(client, {"kind": "frame"}, status=422, mode="fast")["parameter"] == "mode"


def test_limit_above_the_maximum_carries_details(client: TestClient) -> None:
    r = client.get(f"{API}/datasets/{DS}/frames", params={"model": "yolo", "limit": 10**6})
    body = r.json()
    assert r.status_code == 422 and body["parameter"] == "limit"
    assert body["details"] == [{"loc": ["query", "limit"], "msg": body["message"], "type": "value_error"}]
