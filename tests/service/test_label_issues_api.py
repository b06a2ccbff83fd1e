"""``/datasets/{ds}/label-issues``: the library's ranked issues, filtered and paged; verdicts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aquaembed.explore import Workspace
from aquaembed.service import Settings, create_app
from aquaembed.store import Store
from factories import label_issue_case

API = "/api/v1/datasets/case/label-issues"


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    ds, _ = label_issue_case()
    Store(tmp_path / "data").create("case", ds)
    return tmp_path / "data"


@pytest.fixture()
def client(data_dir: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=data_dir, max_limit=200, faiss_threads=0), dashboard=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def test_list_filter_page(client: TestClient, data_dir: Path):
    lib = Workspace(data_dir).get("case").label_issues("m", limit=100)
    body = client.get(API).json()
    assert body["total"] == lib["total"] and [i["key"] for i in body["issues"]] == [i["key"] for i in lib["issues"]]
    scores = [i["score"] for i in body["issues"]]
    assert scores == sorted(scores, reverse=True)
    only = client.get(API, params={"kind": "wrong_class"}).json()
    assert {i["kind"] for i in only["issues"]} == {"wrong_class"} and only["issues"][0]["suggested_class"] == "truck"
    person = client.get(API, params={"class": "person"}).json()
    assert person["total"] >= 2
    assert all("person" in (i["label_class"], i["suggested_class"]) for i in person["issues"])
    page = client.get(API, params={"limit": 2, "offset": 1}).json()
    assert [i["key"] for i in page["issues"]] == [i["key"] for i in lib["issues"][1:3]]
    assert page["counts"]["issues"] == lib["total"] and page["counts"]["reviewed"] == 0


def test_errors(client: TestClient):
    assert client.get(API, params={"kind": "typo"}).status_code == 422
    assert client.get(API, params={"class": "zebra"}).status_code == 404
    assert client.get("/api/v1/datasets/nope/label-issues").status_code == 404
    r = client.post(API + "/verdicts", json={"key": "m|wrong_class|label|999", "verdict": "accept"})
    assert r.status_code == 404


def test_verdicts_are_stored_and_filter(client: TestClient, data_dir: Path):
    key = client.get(API, params={"kind": "wrong_class"}).json()["issues"][0]["key"]
    r = client.post(API + "/verdicts", json={"key": key, "verdict": "accept", "new_class": "bus"})
    assert r.status_code == 404  # unknown class
    r = client.post(API + "/verdicts", json={"key": key, "verdict": "accept", "new_class": "person"})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["accepted"] == 1
    accepted = client.get(API, params={"status": "accept"}).json()
    assert [i["key"] for i in accepted["issues"]] == [key] and accepted["issues"][0]["new_class"] == "person"
    assert key not in [i["key"] for i in client.get(API, params={"status": "open", "limit": 100}).json()["issues"]]
    # a fresh workspace (a restarted server) reads the same verdict from the dataset
    assert Workspace(data_dir).get("case").reviews().counts("m")["accepted"] == 1
