"""The failure-discovery routes return what the library returns, and refuse bad input with a 4xx."""

from __future__ import annotations

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
