"""The API's metric=, scenario=, compare and scenarios routes equal the library."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from aquaembed.analysis.custom_metrics import CustomMetricStore
from aquaembed.explore import Workspace
from aquaembed.matching import MatchOptions
from aquaembed.metrics import frame_confusion
from aquaembed.service import Settings, create_app
from factories import DS, build_store, same_json

API = "/api/v1"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = build_store(tmp_path_factory.mktemp("wf"))
    view = Workspace(data).get(DS)
    stack = frame_confusion(view.table("yolo", MatchOptions(mode="greedy", class_aware=True)))
    CustomMetricStore(view.stored).save_matrices("yolo", "greedy", stack)
    return data


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=data_dir, max_limit=200, faiss_threads=0), dashboard=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def test_metric_parameter_on_metrics_frames_slices(client: TestClient, data_dir: Path) -> None:
    view = Workspace(data_dir).get(DS)
    r = client.get(f"{API}/datasets/{DS}/metrics", params={"model": "yolo", "metric": "greedy"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["metric"] == "greedy"
    assert body["confusion_matrix"] == view.metrics("yolo", metric="greedy")["confusion_matrix"]
    assert body["confusion_matrix"] == view.metrics("yolo", MatchOptions(mode="greedy", class_aware=True),
                                                    pr=False)["confusion_matrix"]
    fr = client.get(f"{API}/datasets/{DS}/frames", params={"model": "yolo", "metric": "greedy", "sort": "fp",
                                                            "order": "desc", "limit": 200}).json()
    assert fr["rows"] == same_json(view.frames("yolo", metric="greedy", sort="fp", order="desc", limit=200)["rows"])
    sl = client.get(f"{API}/datasets/{DS}/slices", params={"model": "yolo", "metric": "greedy", "field": "scene"}).json()
    assert sl["rows"] == same_json(view.slices("yolo", field="scene", metric="greedy")["rows"])
    bad = client.get(f"{API}/datasets/{DS}/metrics", params={"model": "yolo", "metric": "nope"})
    assert bad.status_code == 404 and "nope" in bad.text


def test_scenarios_routes_and_scenario_parameter(client: TestClient, data_dir: Path) -> None:
    url = f"{API}/datasets/{DS}/scenarios"
    r = client.post(url, json={"name": "reef", "where": 'scene == "reef"'})
    assert r.status_code == 201, r.text
    view = Workspace(data_dir).get(DS)
    n_reef = int((view.dataset.frames.metadata["scene"] == "reef").sum())
    assert r.json()["frames"] == n_reef
    ids = view.dataset.frames.id[:3].tolist()
    assert client.post(url, json={"name": "three", "frames": ids, "source": "lasso"}).status_code == 201
    listed = client.get(url).json()["scenarios"]
    assert listed["reef"]["frames"] == n_reef and listed["three"] == {"name": "three", "frames": 3, "source": "lasso", "where": None}
    assert client.get(f"{url}/three").json()["frames"] == sorted(ids)
    bad = client.post(url, json={"name": "x", "where": "scene ==="})
    assert bad.status_code == 422 and "'='" in bad.text
    assert client.post(url, json={"name": "y", "frames": [-12345]}).status_code == 422
    m = client.get(f"{API}/datasets/{DS}/metrics", params={"model": "yolo", "scenario": "reef"}).json()
    assert m["scenario"] == "reef" and m["overall"] == same_json(view.metrics("yolo", scenario="reef")["overall"])
    fr = client.get(f"{API}/datasets/{DS}/frames", params={"model": "yolo", "scenario": "three", "sort": "id"}).json()
    assert [r["id"] for r in fr["rows"]] == sorted(ids)
    assert client.delete(f"{url}/three").status_code == 204
    assert client.delete(f"{url}/three").status_code == 404
    assert "three" not in client.get(url).json()["scenarios"]


def test_compare_route(client: TestClient, data_dir: Path) -> None:
    view = Workspace(data_dir).get(DS)
    r = client.get(f"{API}/datasets/{DS}/compare", params={"a": "yolo", "b": "detr", "conf": 0.4})
    assert r.status_code == 200, r.text
    assert r.json() == json.loads(json.dumps(same_json(view.compare("yolo", "detr", MatchOptions(conf=0.4)))))
    cell = client.get(f"{API}/datasets/{DS}/compare/cell",
                      params={"a": "yolo", "b": "detr", "gt_class": view.dataset.classes.names[0],
                              "pred_class": "background"}).json()
    assert cell["total"] == len(cell["rows"]) or cell["total"] > 200
    assert client.get(f"{API}/datasets/{DS}/compare", params={"a": "yolo", "b": "yolo"}).status_code == 422
    assert np.asarray(r.json()["confusion_matrix_diff"]).shape == (5, 5)


def test_matches_and_frames_routes_keep_to_a_scenario_and_to_frames(client: TestClient, data_dir: Path) -> None:
    view = Workspace(data_dir).get(DS)
    ids = view.dataset.frames.id
    chosen = [int(i) for i in ids[::4]]
    r = client.post(f"{API}/datasets/{DS}/scenarios", json={"name": "quarter", "frames": chosen})
    assert r.status_code == 201, r.text
    everything = client.get(f"{API}/datasets/{DS}/matches", params={"model": "yolo", "limit": 200}).json()
    for params in ({"scenario": "quarter"}, {"frames": chosen}):
        m = client.get(f"{API}/datasets/{DS}/matches", params={"model": "yolo", "limit": 200, **params})
        assert m.status_code == 200, m.text
        rows = m.json()["rows"]
        assert rows and {row["image_id"] for row in rows} <= set(chosen)
        assert m.json()["total"] < everything["total"]
        want = view.matches("yolo", limit=200, frames=chosen)
        assert m.json()["total"] == want["total"]
        f = client.get(f"{API}/datasets/{DS}/frames", params={"model": "yolo", "limit": 200, "sort": "id", **params})
        assert f.status_code == 200, f.text
        assert [row["id"] for row in f.json()["rows"]] == sorted(chosen)
    both = client.get(f"{API}/datasets/{DS}/frames", params={"model": "yolo", "scenario": "quarter",
                                                              "frames": chosen[:3] + [int(ids[1])], "sort": "id"})
    assert [row["id"] for row in both.json()["rows"]] == sorted(chosen[:3])
    bad = client.get(f"{API}/datasets/{DS}/matches", params={"model": "yolo", "frames": [int(ids.max()) + 7]})
    assert bad.status_code == 404 and "frames" in bad.text
    assert client.delete(f"{API}/datasets/{DS}/scenarios/quarter").status_code in (200, 204)


def test_an_unknown_scenario_is_a_404_naming_the_parameter(client: TestClient) -> None:
    for route in ("matches", "frames", "metrics"):
        r = client.get(f"{API}/datasets/{DS}/{route}", params={"model": "yolo", "scenario": "nope"})
        assert r.status_code == 404 and r.json()["parameter"] == "scenario", (route, r.text)
