"""The failure-discovery routes return what the library returns, and refuse bad input with a 4xx."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from aquaembed.explore import Workspace
from aquaembed.matching import MatchOptions
from aquaembed.service import Settings, create_app
from aquaembed.synthetic_failures import make_failure_dataset
from factories import store_generated

API = "/api/v1"



@pytest.fixture(scope="module")
def data(tmp_path_factory):
    data = tmp_path_factory.mktemp("failures") / "data"
    for name, planted, seed in (("planted", True, 1), ("train", False, 5)):
        gen = make_failure_dataset(300, planted=planted, seed=seed)
        store_generated(data, name, gen)
    return data


@pytest.fixture(scope="module")
def client(data):
    app = create_app(Settings(data_dir=data, faiss_threads=0), dashboard=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def test_clusters_slices_coverage_equal_the_library(client, data):
    view = Workspace(data).get("planted")
    opts = MatchOptions(conf=0.6)
    r = client.get(f"{API}/datasets/planted/clusters", params={"conf": 0.6})
    assert r.status_code == 200
    assert r.json()["clusters"] == view.failure_clusters(None, opts)
    r = client.get(f"{API}/datasets/planted/clusters", params={"conf": 0.6, "type": "FP"})
    assert {c["type"] for c in r.json()["clusters"]} <= {"FP"}
    r = client.get(f"{API}/datasets/planted/slices/departing", params={"conf": 0.6})
    assert r.status_code == 200 and r.json()["slices"] == view.slice_departures(None, opts)["slices"]
    r = client.get(f"{API}/datasets/planted/coverage", params={"train": "train"})
    assert r.status_code == 200 and r.json()["train"] == "train"
    r = client.get(f"{API}/datasets/planted/report", params={"train": "train"})
    assert set(r.json()) >= {"options", "clusters", "slices", "coverage"}
    # the existing /slices response is unchanged
    r = client.get(f"{API}/datasets/planted/slices", params={"field": "site"})
    assert r.status_code == 200 and len(r.json()["rows"]) == 8


@pytest.mark.parametrize(
    "path, params, status",
    [
        ("clusters", {"type": "TP"}, 422),
        ("slices/departing", {"alpha": 2}, 422),
        ("coverage", {}, 422),
        ("coverage", {"train": "nope"}, 404),
        ("clusters", {"conf": -1}, 422),
    ],
)
def test_bad_input_is_a_4xx(client, path, params, status):
    r = client.get(f"{API}/datasets/planted/{path}", params=params)
    assert r.status_code == status
    assert "detail" in r.json() or "error" in r.json()


# ------------------------------------------------------------------ /slices extended, metric=, regression


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """The planted dataset with a custom metric (another matching rule's matrices) and a second
    inference set ``B`` that misses every TP of site s1."""
    from dataclasses import replace

    from aquaembed.analysis.custom_metrics import CustomMetricStore
    from aquaembed.data import Dataset, Inferences
    from aquaembed.evaluate import Evaluator
    from aquaembed.matching import TP
    from aquaembed.metrics import frame_confusion

    gen = make_failure_dataset(300, seed=1)
    a = gen.dataset.inference_set("model")
    t = Evaluator(gen.dataset, a).table(MatchOptions())
    site = np.asarray(gen.dataset.frames.metadata["site"])
    drop = np.zeros(len(a), dtype=bool)
    tp = (t.type == TP) & (site[t.frame] == "s1")
    drop[t.pred[tp]] = True
    b = Inferences(a.frame[~drop], a.cls[~drop], a.box[~drop], a.score[~drop], name="B")
    gen = replace(gen, dataset=Dataset(gen.dataset.classes, gen.dataset.frames, gen.dataset.labels, {"model": a, "B": b}))
    data = tmp_path_factory.mktemp("extended") / "data"
    store_generated(data, "ext", gen)
    view = Workspace(data).get("ext")
    CustomMetricStore(view.stored).save_matrices("model", "strict", frame_confusion(view.table("model", STRICT)))
    app = create_app(Settings(data_dir=data, faiss_threads=0), dashboard=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c, Workspace(data).get("ext")


STRICT = MatchOptions(conf=0.7, iou=0.75, mode="greedy", class_aware=True)


def test_slices_departing_extends_slices(client, data):
    view = Workspace(data).get("planted")
    plain = client.get(f"{API}/datasets/planted/slices", params={"field": "site"}).json()
    assert set(plain) == {"model", "conf_threshold", "iou_threshold", "field", "class", "rows"}
    assert all("departing" not in r for r in plain["rows"])
    r = client.get(f"{API}/datasets/planted/slices", params={"field": "site", "departing": "true"})
    assert r.status_code == 200
    body = r.json()
    dep = view.slice_departures(None, MatchOptions())
    # every existing field is there unchanged; the departure fields are added
    assert {k: body[k] for k in plain} == {**plain, "rows": body["rows"]}
    for old, new in zip(plain["rows"], body["rows"]):
        assert {k: new[k] for k in old} == old
    assert body["tested"] == dep["tested"]
    assert body["slices"] == [s for s in dep["slices"] if s["field"] == "site" or
                              (isinstance(s["field"], list) and "site" in s["field"])]
    s3 = next(r for r in body["rows"] if r["value"] == "s3")
    want = next(s for s in dep["slices"] if s["field"] == "site" and s["value"] == "s3" and s["class"] is None)
    assert s3["departing"] is True and s3["direction"] == "worse"
    assert (s3["rest"], s3["q_value"], s3["interval"], s3["departure_metric"]) == (
        want["rest"], want["q_value"], want["interval"], want["metric"])
    assert any(r["departing"] is False for r in body["rows"])
    # without a field: all departing slices, as the alias returns them
    every = client.get(f"{API}/datasets/planted/slices", params={"departing": "true"}).json()
    alias = client.get(f"{API}/datasets/planted/slices/departing").json()
    assert every["rows"] == [] and every["slices"] == alias["slices"] == dep["slices"]
    r = client.get(f"{API}/datasets/planted/slices")
    assert r.status_code == 422 and r.json()["parameter"] == "field"


def test_metric_on_failure_routes(extended):
    client, view = extended
    q = {"model": "model", "metric": "strict"}
    want = view.slice_departures("model", STRICT)["slices"]
    assert want != view.slice_departures("model")["slices"]
    r = client.get(f"{API}/datasets/ext/slices/departing", params=q)
    assert r.status_code == 200 and r.json()["slices"] == want and r.json()["metric"] == "strict"
    r = client.get(f"{API}/datasets/ext/slices", params={**q, "departing": "true"})
    assert r.json()["slices"] == want
    r = client.get(f"{API}/datasets/ext/clusters", params=q)
    assert r.status_code == 200 and r.json()["clusters"] == [] and "custom metric" in r.json()["note"]
    rep = client.get(f"{API}/datasets/ext/report", params=q).json()
    assert rep["metric"] == "strict" and rep["slices"] == want and rep["clusters"] == [] and rep["notes"]["clusters"]
    r = client.get(f"{API}/datasets/ext/clusters", params={"model": "model", "metric": "nope"})
    assert r.status_code == 404


def test_regression_route_and_report_compare(extended):
    client, view = extended
    r = client.get(f"{API}/datasets/ext/compare/regression", params={"a": "model", "b": "B"})
    assert r.status_code == 200
    body = r.json()
    assert body["labels"]["broken"] == len(view.compare("model", "B")["labels"]["broken"]) > 0
    top = next(s for s in body["slices"] if s["class"] is None)
    assert (top["field"], top["value"], top["direction"]) == ("site", "s1", "worse") and top["in_slice"] == 1.0
    rep = client.get(f"{API}/datasets/ext/report", params=[("compare", "model"), ("compare", "B")]).json()
    assert rep["slices"] == body["slices"] and rep["clusters"] == body["clusters"]
    assert rep["compare"]["models"] == ["model", "B"]
    assert client.get(f"{API}/datasets/ext/report", params=[("compare", "model")]).status_code == 422
    assert client.get(f"{API}/datasets/ext/compare/regression", params={"a": "model", "b": "model"}).status_code == 422


def test_scenario_on_failure_routes(extended):
    client, view = extended
    view.save_scenario("day", where='shift == "day"', replace=True)
    view = Workspace(view.stored.path.parent).get("ext")
    q = {"model": "model", "scenario": "day"}
    want = view.slice_departures("model", scenario="day")
    assert want["slices"] != view.slice_departures("model")["slices"]
    assert client.get(f"{API}/datasets/ext/slices/departing", params=q).json()["slices"] == want["slices"]
    assert client.get(f"{API}/datasets/ext/slices", params={**q, "departing": "true"}).json()["slices"] == want["slices"]
    assert client.get(f"{API}/datasets/ext/clusters", params=q).json()["clusters"] == view.failure_clusters("model", scenario="day")
    rep = client.get(f"{API}/datasets/ext/report", params=q).json()
    assert rep["scenario"] == "day" and rep["slices"] == want["slices"]
    reg = client.get(f"{API}/datasets/ext/compare/regression", params={"a": "model", "b": "B", "scenario": "day"}).json()
    assert reg["scenario"] == "day" and reg["slices"] == view.regression_slices("model", "B", scenario="day")["slices"]
    assert client.get(f"{API}/datasets/ext/slices/departing", params={"scenario": "nope", "model": "model"}).status_code == 404
