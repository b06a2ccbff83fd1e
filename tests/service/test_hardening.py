"""Server hardening, stale-artefact conflicts, labels-only exploration and live reload under load."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

import aquaembed.ingest as ingest_mod
from aquaembed.cli import main
from aquaembed.embeddings.builtin import embed_coco
from aquaembed.errors import InputError
from aquaembed.explore import Workspace
from aquaembed.io.coco import load_coco_gt
from aquaembed.service import create_app
from aquaembed.service.settings import Settings
from aquaembed.store import Store
from factories import DS, build_store, quick_projection, running_server, two_states

API = "/api/v1"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("hardening"), n_frames=16)


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Any:
    app = create_app(Settings(data_dir=data_dir))
    with TestClient(app, base_url="http://127.0.0.1:8050", raise_server_exceptions=False) as c:
        yield c


def test_host_allow_list_stops_dns_rebinding(client: TestClient) -> None:
    r = client.get(f"{API}/datasets", headers={"Host": "evil.example:8050"})
    assert r.status_code == 400 and r.json()["error"] == "bad_host"
    assert client.get("/", headers={"Host": "attacker.test"}).status_code == 400  # the dashboard too
    for host in ("127.0.0.1:8050", "localhost", "[::1]:8050"):
        assert client.get(f"{API}/datasets", headers={"Host": host}).status_code == 200, host


def test_security_headers_on_every_response(client: TestClient) -> None:
    for path in (f"{API}/datasets", "/", f"{API}/nope", "/_dash-layout"):
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_under_the_api_answers_json(client: TestClient, method: str) -> None:
    r = client.request(method, f"{API}/no/such/route")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json" and r.json()["error"] == "not_found"
    r = client.request(method, f"{API}/datasets/{DS}/metrics")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_very_long_urls_get_414(client: TestClient) -> None:
    r = client.get(f"{API}/datasets/{DS}/frames", params={"model": "yolo", "x": "a" * 9000})
    assert r.status_code == 414 and r.json()["error"] == "uri_too_long"


def test_forged_dash_callbacks_get_4xx_without_traceback(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    deps = client.get("/_dash-dependencies").json()
    output = deps[0]["output"]
    caplog.set_level(logging.INFO)
    bodies: list[Any] = [
        b"not json",
        b"[1, 2]",
        {"output": 7, "inputs": []},
        {"output": "nope.children", "inputs": []},
        {"output": output, "inputs": ["x"]},
        {"output": output, "outputs": {"id": "x", "property": "y"}, "inputs": [{"id": "a", "property": "value",
                                                                                 "value": {"$forged": [1, 2]}}]},
    ]
    for body in bodies:
        kw = {"content": body} if isinstance(body, bytes) else {"json": body}
        r = client.post("/_dash-update-component", headers={"Content-Type": "application/json"}, **kw)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text[:200])
        assert "Traceback" not in r.text
    assert not any(rec.exc_info for rec in caplog.records)
    assert "Traceback" not in caplog.text


def test_serve_port_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--data", str(tmp_path), "--port", "70000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--port" in err[0] and "65535" in err[0], err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--data", str(tmp_path), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("aquaembed: error: --port: cannot listen on 127.0.0.1:") and "in use" in err[-1], err
    assert not any("Traceback" in line for line in err)


def test_builtin_embedder_reads_only_inside_the_image_folder(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"x")
    for name in ("../secret.jpg", str(tmp_path / "secret.jpg")):
        gt = {"images": [{"id": 1, "file_name": name}], "annotations": []}
        with pytest.raises(InputError, match="outside the image folder"):
            embed_coco(root, gt, workers=1)


def test_stale_artefacts_answer_409(tmp_path: Path) -> None:
    data = build_store(tmp_path, n_frames=10)
    sd = Store(data).open(DS)
    ids = sd.embeddings("label")[0]
    sd.set_embeddings("label", ids, np.random.default_rng(1).normal(size=(len(ids), 6)) + 1, replace=True)
    with TestClient(create_app(Settings(data_dir=data), dashboard=False), base_url="http://127.0.0.1") as c:
        r = c.get(f"{API}/datasets/{DS}/similar", params={"kind": "crop", "id": int(ids[0]), "model": "yolo"})
        assert r.status_code == 409 and r.json()["error"] == "conflict" and "rebuild" in r.json()["message"]
        assert c.get(f"{API}/datasets/{DS}/similar", params={"kind": "frame", "id": int(sd.dataset.frames.id[0]),
                                                          "model": "yolo"}).status_code == 200


def test_a_dataset_without_inferences_is_explorable(tmp_path: Path) -> None:
    p = two_states(tmp_path / "src", frames=(12, 13))
    ingest_mod.ingest(tmp_path / "data", "bare", gt=p["gt_a"], frame_embeddings=p["frames_a"],
                      label_embeddings=p["labels_a"], projector=quick_projection)
    view = Workspace(tmp_path / "data").get("bare")
    assert view.models() == []
    frames = view.projection("frame")
    labels = load_coco_gt(p["gt_a"]).labels
    assert len(frames["x"]) == 12 and frames["tp"].sum() == 0 and frames["fn"].sum() == len(labels)
    crops = view.projection("crop")
    assert len(crops["x"]) == len(labels) and (crops["source"] == 0).all()
    near = view.similar("crop", int(labels.id[0]), k=3)
    assert len(near["neighbors"]) == 3 and all(nb["source"] == "label" for nb in near["neighbors"])
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"), dashboard=False), base_url="http://127.0.0.1") as c:
        for params in ({"kind": "frame"}, {"kind": "crop"}):
            r = c.get(f"{API}/datasets/bare/projection", params=params)
            assert r.status_code == 200 and r.json()["model"] is None and r.json()["n"] > 0
        r = c.get(f"{API}/datasets/bare/similar", params={"kind": "frame", "id": int(frames["ids"][0]), "k": 2})
        assert r.status_code == 200 and len(r.json()["neighbors"]) == 2
    from aquaembed.dashboard.context import Context, State

    ctx = Context(Workspace(tmp_path / "data"))
    for kind, n in (("crop", len(labels)), ("frame", 12)):  # the dashboard's maps
        st = ctx.normalise(State(dataset="bare", view="embedding", kind=kind))
        proj, groups, _ = ctx.groups(st)
        assert st.model == "" and len(proj["x"]) == n and sum(g.rows.size for g in groups) == n


@pytest.mark.slow
def test_live_reload_under_load(tmp_path: Path) -> None:
    """Replace a served dataset while a client loads it: no 5xx, every answer all-old or all-new."""
    p = two_states(tmp_path / "src", frames=(12, 17))
    data = tmp_path / "data"

    def ingest(tag: str) -> None:
        ingest_mod.ingest(data, "ds", gt=p[f"gt_{tag}"], frame_embeddings=p[f"frames_{tag}"],
                          label_embeddings=p[f"labels_{tag}"], replace=True, projector=quick_projection)

    ingest("a")
    states = {}
    for tag in ("a", "b"):
        gt = load_coco_gt(p[f"gt_{tag}"])
        states[tag] = (sorted(gt.frames.id.tolist()), len(gt.labels))
    seen: Counter[str] = Counter()
    problems: list[str] = []
    stop = threading.Event()

    def load(base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                r = http.get(f"{API}/datasets/ds/projection", params={"kind": "frame", "columns": "ids"})
                s = http.get(f"{API}/datasets/ds")
                if r.status_code != 200 or s.status_code != 200:
                    problems.append(f"{r.status_code} {s.status_code}: {r.text[:200]}")
                    continue
                n = r.json()["n"]
                summary = s.json()
                kinds = [t for t, (ids, n_labels) in states.items() if n == len(ids)]
                both = [t for t, (ids, n_labels) in states.items()
                        if summary["frames"] == len(ids) and summary["labels"] == n_labels]
                if len(kinds) != 1 or len(both) != 1:
                    problems.append(f"mixed answer: n={n} summary={summary}")
                seen[kinds[0] if kinds else "?"] += 1

    with running_server(data, tmp_path / "server.log") as base:
        threads = [threading.Thread(target=load, args=(base,)) for _ in range(2)]
        for t in threads:
            t.start()
        for tag in ("b", "a", "b"):  # three replacements while the client runs
            time.sleep(1.0)
            ingest(tag)
        deadline = time.monotonic() + 30
        before = seen["b"]
        while seen["b"] == before and time.monotonic() < deadline:
            time.sleep(0.1)  # the server notices the last generation
        stop.set()
        for t in threads:
            t.join(30)
    log = (tmp_path / "server.log").read_text()
    assert not problems, problems[:5]
    assert seen["a"] > 0 and seen["b"] > before, seen
    assert "Traceback" not in log, log[-2000:]
