"""The real server process over HTTP, and concurrent clients with mixed thresholds.

One server is started for the module (``serve()`` in a subprocess, on a free port) and
stopped at the end. Answers are compared with the library called directly, in this
process, at the same thresholds.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aquaembed.errors import ParameterError
from aquaembed.explore import DatasetView, Workspace
from aquaembed.matching import MatchOptions
from aquaembed.service import serve
from aquaembed.service.routers.embeddings import decode_array
from factories import DS, build_store, free_port, running_server, same_json

CONFS = (0.0, 0.05, 0.2, 0.35, 0.5, 0.61, 0.8, 0.95)
IOUS = (0.3, 0.5, 0.75)
MODELS = ("yolo", "detr")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("server"))


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``serve(data_dir, host, port)`` in a subprocess; yield its base URL; stop it."""
    log = tmp_path_factory.mktemp("log") / "server.log"
    try:
        with running_server(data_dir, log) as base:
            yield base
    except RuntimeError as exc:  # it did not start: the log says why
        pytest.fail(str(exc))
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def view(data_dir: Path) -> DatasetView:
    return Workspace(data_dir).get(DS)


def test_serve_refuses_a_missing_data_dir(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="not a directory"):
        serve(tmp_path / "absent", host="127.0.0.1", port=free_port())


def test_real_server_over_http(server: str, view: DatasetView) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        assert http.get("/api/v1/health").json()["datasets"] == 2
        assert http.get("/api/v1/openapi.json").json()["info"]["title"] == "aquaembed"
        assert "swagger" in http.get("/api/v1/docs").text.lower()
        assert "_dash-config" in http.get("/").text  # the dashboard, mounted at /
        assert http.get("/_dash-layout").status_code == 200
        r = http.get(f"/api/v1/datasets/{DS}/metrics", params={"model": "yolo", "conf": 0.42, "iou": 0.55})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json() == same_json({**view.metrics("yolo", options=MatchOptions(conf=0.42, iou=0.55)), "coco": None})
        r = http.get(f"/api/v1/datasets/{DS}/metrics", params={"model": "yolo", "conf": "x"})
        assert r.status_code == 422 and r.json()["parameter"] == "conf"
        r = http.get("/api/v1/datasets/nope")
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        # a raw request line with a traversal the client would otherwise normalise
        for target in (b"/api/v1/datasets/../../etc/passwd", b"/api/v1/datasets/%2e%2e%2f%2e%2e%2fetc%2fpasswd/metrics"):
            with socket.create_connection(("127.0.0.1", int(server.rsplit(":", 1)[1])), timeout=10) as s:
                s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                raw = b""
                while chunk := s.recv(65536):
                    raw += chunk
            status = int(raw.split(b" ", 2)[1])
            assert status in (400, 404, 422) and b"root:" not in raw, raw[:200]


def _expected(view: DatasetView, endpoint: str, model: str, conf: float, iou: float) -> Any:
    if endpoint == "projection":
        lib = view.projection("crop", model, options=MatchOptions(conf=conf, iou=iou))  # type: ignore[attr-defined]
        return {"type": lib["type"].tolist(), "class": lib["class"].tolist()}
    if endpoint == "metrics":
        return same_json({**view.metrics(model, options=MatchOptions(conf=conf, iou=iou), pr=False), "coco": None, "pr_curves": None})
    if endpoint == "frames":
        return same_json(view.frames(model, options=MatchOptions(conf=conf, iou=iou), sort="f1", order="desc", limit=20)["rows"])
    return same_json(view.matches(model, options=MatchOptions(conf=conf, iou=iou), type="FP", sort="score", limit=20))


def _params(endpoint: str, model: str, conf: float, iou: float) -> dict[str, Any]:
    p: dict[str, Any] = {"model": model, "conf": conf, "iou": iou}
    if endpoint == "projection":
        p["kind"] = "crop"
    elif endpoint == "metrics":
        p["pr"] = "false"
    elif endpoint == "frames":
        p.update(sort="f1", order="desc", limit=20)
    else:
        p.update(type="FP", sort="score", limit=20)
    return p


def _answer(endpoint: str, body: dict[str, Any]) -> Any:
    if endpoint == "projection":
        return {k: decode_array(body["columns"][k]).tolist() for k in ("type", "class")}
    if endpoint == "metrics":
        return body
    if endpoint == "frames":
        return body["rows"]
    return {"total": body["total"], "rows": body["rows"]}


@pytest.mark.slow
def test_concurrent_clients_mixed_thresholds(server: str, view: DatasetView) -> None:
    """8 clients x 100 requests, endpoint and thresholds drawn at random: every answer equals the library's.

    Endpoints: metrics, a page of frames, a page of FP rows, and the crop projection's
    types and classes (only ``yolo`` has crop embeddings).
    """
    endpoints = ["metrics", "frames", "matches"]
    if hasattr(DatasetView, "projection"):
        endpoints.append("projection")  # crop kind: the match type of every crop at the thresholds
    combos = [
        (e, m, c, i)
        for e in endpoints
        for m in MODELS
        for c in CONFS
        for i in IOUS
        if e != "projection" or m == "yolo"
    ]
    expected = {key: _expected(view, *key) for key in combos}
    failures: list[str] = []
    counts = [0] * 8

    def client(worker: int) -> None:
        rng = random.Random(worker)
        with httpx.Client(base_url=server, timeout=60) as http:
            for _ in range(100):
                endpoint, model, conf, iou = key = rng.choice(combos)
                r = http.get(f"/api/v1/datasets/{DS}/{endpoint}", params=_params(endpoint, model, conf, iou))
                counts[worker] += 1
                if r.status_code != 200:
                    failures.append(f"{key}: HTTP {r.status_code} {r.text[:200]}")
                    continue
                body = r.json()
                if (body["model"], body["conf_threshold"], body["iou_threshold"]) != (model, conf, iou):
                    failures.append(f"{key}: answered for {body['model'], body['conf_threshold'], body['iou_threshold']}")
                elif _answer(endpoint, body) != expected[key]:
                    failures.append(f"{key}: answer differs from the library's")

    threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == [100] * 8
    assert not failures, json.dumps(failures[:10], indent=1)
