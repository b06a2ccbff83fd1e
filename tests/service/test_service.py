"""Tests of the service: every endpoint and every error case, over a small stored dataset.

The API answers are compared with the library (:class:`aquaembed.explore.Workspace`)
called directly at the same thresholds. The real server process, the concurrency test
and the schema fuzz are in ``test_service_server.py`` and ``test_service_fuzz.py``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from aquaembed.errors import StoreError
from aquaembed.explore import DatasetView, Workspace
from aquaembed.matching import MatchOptions
from aquaembed.service import Settings, create_app
from aquaembed.service.routers.embeddings import decode_array, encode_array
from aquaembed.service.state import ImageCache

API = "/api/v1"

from factories import DS, build_store, same_json  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("service"))


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    # faiss_threads=0: leave FAISS's OpenMP thread count alone (it outlives the app in worker threads)
    app = create_app(
        Settings(data_dir=data_dir, max_limit=200, image_cache_bytes=1 << 20, faiss_threads=0), dashboard=False
    )
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def view(data_dir: Path) -> DatasetView:
    """The library's own view of ``harbour`` (a separate Workspace: no shared caches)."""
    return Workspace(data_dir).get(DS)


def get(client: TestClient, path: str, **params: Any) -> Any:
    r = client.get(API + path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def error(client: TestClient, path: str, status: int, **params: Any) -> dict[str, Any]:
    r = client.get(API + path, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "message", "parameter", "details"}
    assert body["message"] and "Traceback" not in r.text
    return body


# --------------------------------------------------------------------------- service


def test_health(client: TestClient) -> None:
    body = get(client, "/health")
    assert body["status"] == "ok" and body["datasets"] == 2 and body["version"]


def test_datasets_list_and_detail(client: TestClient, view: DatasetView) -> None:
    body = get(client, "/datasets")
    assert [d["name"] for d in body["datasets"]] == [DS, "solo"]
    detail = get(client, f"/datasets/{DS}")
    assert detail == same_json(view.summary())
    assert detail["inference_sets"].keys() == {"yolo", "detr"}
    assert detail["frame_metadata"] == ["scene", "depth", "camera", "night"]
    assert set(detail["embeddings"]) == {"frame", "label", "pred-yolo"}


def test_unknown_dataset_is_404(client: TestClient) -> None:
    for path in ("/datasets/nope", "/datasets/nope/metrics", "/datasets/nope/frames", "/datasets/nope/matches"):
        body = error(client, path, 404, model="yolo")
        assert body["error"] == "not_found" and "nope" in body["message"]


def test_home_page_lists_datasets(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert f"{API}/datasets/{DS}/metrics?model=yolo" in r.text
    assert f"{API}/datasets/solo/metrics?model=only" in r.text
    assert f"{API}/docs" in r.text


def test_openapi_and_docs(client: TestClient) -> None:
    schema = client.get(f"{API}/openapi.json").json()
    assert client.get(f"{API}/docs").status_code == 200
    for path, ops in schema["paths"].items():
        assert path.startswith(API)
        assert set(ops) <= {"get", "post", "delete"}
        op = ops.get("get") or ops["post"]  # POST: the selection summary (ids in the body), label-issue verdicts
        ok = op["responses"]["200"]["content"]
        if path.endswith("/image"):
            assert "image/jpeg" in ok
        else:  # every JSON route declares its response model
            assert "$ref" in ok["application/json"]["schema"], path
        assert op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    frames = schema["paths"][f"{API}/datasets/{{ds}}/frames"]["get"]
    assert "meta.<field>" in frames["description"] and "_min" in frames["description"]
    names = {p["name"] for p in frames["parameters"]}
    assert {"precision_min", "f1_max", "tp_min", "limit", "offset", "sort", "order"} <= names


def test_literal_options_match_the_library() -> None:
    from typing import get_args

    from aquaembed.explore import MATCH_SORT_KEYS
    from aquaembed.matching import TYPE_NAMES
    from aquaembed.service.deps import MatchSortKey
    from aquaembed.service.schemas import MatchRow

    assert get_args(MatchSortKey) == MATCH_SORT_KEYS
    assert get_args(MatchRow.model_fields["type"].annotation) == TYPE_NAMES


def test_unknown_route_and_method(client: TestClient) -> None:
    body = error(client, "/nothing", 404)
    assert body["error"] == "not_found"
    r = client.post(f"{API}/health")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


# --------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("conf,iou", [(0.5, 0.5), (0.0, 0.1), (0.37, 0.75), (1.0, 1.0)])
def test_metrics_equal_library(client: TestClient, view: DatasetView, conf: float, iou: float) -> None:
    body = get(client, f"/datasets/{DS}/metrics", model="yolo", conf=conf, iou=iou)
    assert body == same_json({**view.metrics("yolo", options=MatchOptions(conf=conf, iou=iou)), "coco": None})
    assert body["conf_threshold"] == conf and body["iou_threshold"] == iou
    assert body["classes"][-1] == "background"
    assert body["pr_curves"]["thresholds"][0] == 0.0


def test_metrics_map_and_pr_flags(client: TestClient, view: DatasetView) -> None:
    body = get(client, f"/datasets/{DS}/metrics", model="detr", map="true", pr="false")
    assert body["pr_curves"] is None
    assert body["coco"] == same_json(view.metrics("detr", coco=True)["coco"])
    assert set(body["coco"]) >= {"AP", "AP50", "AP75", "AR100"}


def test_metrics_model_may_be_omitted_with_one_set(client: TestClient) -> None:
    body = get(client, "/datasets/solo/metrics")
    assert body["model"] == "only"


def test_metrics_errors(client: TestClient) -> None:
    path = f"/datasets/{DS}/metrics"
    assert error(client, path, 422)["parameter"] == "model"  # two sets: must choose
    assert error(client, path, 404, model="nope")["error"] == "not_found"
    for bad in ("-0.1", "1.5", "nan", "inf", "abc", ""):
        body = error(client, path, 422, model="yolo", conf=bad)
        assert body["parameter"] == "conf" and body["error"] == "invalid_parameter", bad
    for bad in ("0", "-1", "1.01", "nan"):
        assert error(client, path, 422, model="yolo", iou=bad)["parameter"] == "iou", bad
    assert error(client, path, 422, model="yolo", map="maybe")["parameter"] == "map"


# --------------------------------------------------------------------------- frames


def test_frames_default_page_equals_library(client: TestClient, view: DatasetView) -> None:
    body = get(client, f"/datasets/{DS}/frames", model="yolo")
    lib = view.frames("yolo")
    assert body["total"] == lib["total"] == 40
    assert body["rows"] == same_json(lib["rows"])
    assert (body["limit"], body["offset"], body["model"]) == (50, 0, "yolo")
    row = body["rows"][0]
    assert set(row["metadata"]) == {"scene", "depth", "camera", "night"}
    assert isinstance(row["metadata"]["night"], bool) and isinstance(row["metadata"]["camera"], int)


@pytest.mark.parametrize("sort", ["id", "tp", "fp", "fn", "precision", "recall", "f1", "scene", "depth", "meta.camera"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_frames_sort(client: TestClient, view: DatasetView, sort: str, order: str) -> None:
    body = get(client, f"/datasets/{DS}/frames", model="detr", sort=sort, order=order, limit=15, offset=5, conf=0.3)
    lib = view.frames("detr", sort=sort.removeprefix("meta."), order=order, limit=15, offset=5, options=MatchOptions(conf=0.3))
    assert body["rows"] == same_json(lib["rows"])


def test_frames_filters(client: TestClient, view: DatasetView) -> None:
    url = f"{API}/datasets/{DS}/frames"
    params = [
        ("model", "yolo"),
        ("meta.scene", "reef"),
        ("meta.scene", "open water"),
        ("meta_min.depth", "2.5"),
        ("meta_max.depth", "25"),
        ("recall_min", "0.2"),
        ("fp_max", "5"),
        ("limit", "200"),
    ]
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    lib = view.frames(
        "yolo",
        limit=200,
        equals={"scene": ["reef", "open water"]},
        ranges={"depth": (2.5, 25.0), "recall": (0.2, None), "fp": (None, 5)},
    )
    body = r.json()
    assert body["total"] == lib["total"] > 0
    assert body["rows"] == same_json(lib["rows"])
    for row in body["rows"]:
        assert row["metadata"]["scene"] in ("reef", "open water")
        assert 2.5 <= row["metadata"]["depth"] <= 25 and row["recall"] >= 0.2 and row["fp"] <= 5
    # booleans and ints compare as text
    night = client.get(url, params={"model": "yolo", "meta.night": "True", "limit": 200}).json()
    assert night["total"] == 10 and all(r["metadata"]["night"] for r in night["rows"])


def test_frames_errors(client: TestClient) -> None:
    path = f"/datasets/{DS}/frames"
    cases = [
        ({"limit": -1}, "limit"),
        ({"limit": 201}, "limit"),  # the test app caps at 200
        ({"limit": "ten"}, "limit"),
        ({"offset": -3}, "offset"),
        ({"sort": "nope"}, "sort"),
        ({"order": "sideways"}, "order"),
        ({"precision_min": 1.5}, "precision_min"),
        ({"tp_min": -1}, "tp_min"),
        ({"meta.nope": "x"}, "meta.nope"),
        ({"meta_min.scene": "1"}, "meta_min.scene"),
        ({"meta_max.depth": "deep"}, "meta_max.depth"),
        ({"meta_max.depth": "nan"}, "meta_max.depth"),
        ({"precison_min": 0.5}, "precison_min"),  # a typo is refused, not ignored
        ({"conf": 2}, "conf"),
    ]
    for params, name in cases:
        body = error(client, path, 422, model="yolo", **params)
        assert body["parameter"] == name, (params, body)
        assert name.split(".")[0] in body["message"]
    assert error(client, path, 404, model="nope")["error"] == "not_found"


def test_frames_empty_page_and_limit_zero(client: TestClient) -> None:
    body = get(client, f"/datasets/{DS}/frames", model="yolo", limit=0)
    assert body["rows"] == [] and body["total"] == 40
    body = get(client, f"/datasets/{DS}/frames", model="yolo", offset=10_000)
    assert body["rows"] == [] and body["total"] == 40


# --------------------------------------------------------------------------- matches


def test_matches_cells_add_up_to_confusion_matrix(client: TestClient) -> None:
    metrics = get(client, f"/datasets/{DS}/metrics", model="yolo", conf=0.4, iou=0.6, pr="false")
    names = metrics["classes"]
    for i in (0, 1, len(names) - 1):
        for j in (0, 2, len(names) - 1):
            if i == j == len(names) - 1:
                continue
            body = get(
                client, f"/datasets/{DS}/matches", model="yolo", conf=0.4, iou=0.6,
                gt_class=names[i], pred_class=names[j], limit=0,
            )
            assert body["total"] == metrics["confusion_matrix"][i][j], (names[i], names[j])


@pytest.mark.parametrize("sort", ["score", "iou", "area", "aspect"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_matches_equal_library(client: TestClient, view: DatasetView, sort: str, order: str) -> None:
    body = get(client, f"/datasets/{DS}/matches", model="yolo", sort=sort, order=order, limit=30, offset=2)
    lib = view.matches("yolo", sort=sort, order=order, limit=30, offset=2)
    assert body["total"] == lib["total"]
    assert body["rows"] == same_json(lib["rows"])


def test_matches_by_type_and_background(client: TestClient, view: DatasetView) -> None:
    fp = get(client, f"/datasets/{DS}/matches", model="detr", type="FP", limit=200)
    assert fp["total"] == view.matches("detr", type="FP")["total"]
    assert all(r["type"] == "FP" and r["gt_class"] == "background" and r["gt_id"] is None for r in fp["rows"])
    fn = get(client, f"/datasets/{DS}/matches", model="detr", pred_class="background", limit=5)
    assert all(r["pred_index"] is None and r["pred_box"] is None for r in fn["rows"])


def test_matches_errors(client: TestClient) -> None:
    path = f"/datasets/{DS}/matches"
    assert error(client, path, 404, model="yolo", gt_class="zebra")["error"] == "not_found"
    assert error(client, path, 404, model="yolo", pred_class="zebra")["error"] == "not_found"
    assert error(client, path, 404, model="nope")["error"] == "not_found"
    for params, name in [
        ({"type": "XX"}, "type"),
        ({"sort": "confidence"}, "sort"),
        ({"order": "up"}, "order"),
        ({"limit": -5}, "limit"),
        ({"offset": "x"}, "offset"),
        ({"iou": 0}, "iou"),
    ]:
        assert error(client, path, 422, model="yolo", **params)["parameter"] == name, params


# --------------------------------------------------------------------------- projection / similar


def test_encode_array_round_trip() -> None:
    for arr in (
        np.arange(5, dtype=np.int64),
        np.array([0.5, np.nan, -1.0], dtype=np.float32),
        np.array([1, -1, 3], dtype=np.int8),
        np.array([True, False]),
        np.zeros((0,), dtype=np.float32),
        np.arange(6, dtype=">i4").reshape(2, 3),
    ):
        enc = encode_array(arr)
        assert enc["dtype"][0] in "<|"
        back = decode_array(enc)
        np.testing.assert_array_equal(back, arr.astype(back.dtype))
    f64 = encode_array(np.array([0.25, np.nan]))
    assert f64["dtype"] == "<f4" and np.isnan(decode_array(f64)[1])
    text = encode_array(np.array(["b", None, "a", "b"], dtype=object))
    assert text["categories"] == ["a", "b"] and decode_array(text).tolist() == [1, -1, 0, 1]
    nums = encode_array(np.array([1.5, None], dtype=object))
    assert nums["dtype"] == "<f4" and np.isnan(decode_array(nums)[1])
    assert base64.b64decode(encode_array(np.array([1, 256], dtype=np.int64))["data"]) == b"\x01\x00\x00\x01"
    assert [encode_array(np.array(v))["dtype"] for v in ([-128, 127], [300], [-(2**31)], [2**40])] == ["|i1", "<i2", "<i4", "<i8"]
    with pytest.raises(TypeError):
        encode_array(np.array([2**63 + 5], dtype=np.uint64))


def _fake_projection(self: DatasetView, kind: str, model: str | None = None, options: MatchOptions | None = None) -> dict[str, Any]:
    conf = (options or MatchOptions()).conf
    n = 4
    out: dict[str, Any] = {
        "ids": np.arange(10, 10 + n, dtype=np.int64),
        "x": np.linspace(0, 1, n, dtype=np.float32),
        "y": np.full(n, conf, dtype=np.float32),
    }
    if kind == "frame":
        out["f1"] = np.array([np.nan, 0.5, 1.0, 0.0])
        out["scene"] = np.array(["reef", "reef", "open", None], dtype=object)
    else:
        out["type"] = np.array([0, 1, -1, 3], dtype=np.int8)
        out["class"] = np.array([0, 1, 2, 0], dtype=np.int64)
        out["source"] = np.array([0, 0, 1, 1], dtype=np.int8)
    return out


def _fake_similar(self: DatasetView, kind: str, id: int, *, k: int = 10, model: str | None = None,
                  options: MatchOptions | None = None, source: str = "label") -> dict[str, Any]:
    if id == 404:
        from aquaembed.errors import NotFoundError

        raise NotFoundError(f"no {kind} {id}")
    if kind == "frame":
        recs = [{"id": np.int64(id + i), "tp": np.int64(i), "fp": 0, "fn": 1, "precision": float("nan"),
                 "recall": np.float64(0.5), "f1": None, "metadata": {"scene": "reef", "depth": np.nan}} for i in range(k + 1)]
    else:
        recs = [{"id": id + i, "source": source, "class": "car", "type": "FP", "score": np.float64(0.75),
                 "frame_id": np.int64(7)} for i in range(k + 1)]
    for i, rec in enumerate(recs):
        rec["similarity"] = np.float32(1 - i / 10)
    return {"kind": kind, "query": recs[0], "neighbors": recs[1:]}


@pytest.fixture
def fake_embeddings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DatasetView, "projection", _fake_projection, raising=False)
    monkeypatch.setattr(DatasetView, "similar", _fake_similar, raising=False)


def test_projection_encoding(client: TestClient, fake_embeddings: None) -> None:
    body = get(client, f"/datasets/{DS}/projection", kind="frame", model="yolo", conf=0.25)
    assert body["n"] == 4 and body["kind"] == "frame" and body["model"] == "yolo"
    cols = body["columns"]
    assert decode_array(cols["ids"]).tolist() == [10, 11, 12, 13]
    assert decode_array(cols["y"]).tolist() == [0.25] * 4
    f1 = decode_array(cols["f1"])
    assert cols["f1"]["dtype"] == "<f4" and np.isnan(f1[0]) and f1[1] == 0.5
    assert cols["scene"]["categories"] == ["open", "reef"] and decode_array(cols["scene"]).tolist() == [1, 1, 0, -1]
    crop = get(client, f"/datasets/{DS}/projection", kind="crop", model="yolo")
    assert crop["codes"]["type"] == ["TP", "FP", "FN", "confusion", "ignored"]
    assert crop["codes"]["class"] == get(client, f"/datasets/{DS}")["classes"]
    assert decode_array(crop["columns"]["type"]).dtype == np.int8


def test_similar_response(client: TestClient, fake_embeddings: None) -> None:
    body = get(client, f"/datasets/{DS}/similar", kind="frame", id=7, k=3, model="yolo")
    assert body["query"]["id"] == 7 and [n["id"] for n in body["neighbors"]] == [8, 9, 10]
    first = body["neighbors"][0]
    assert first["similarity"] == pytest.approx(0.9) and first["precision"] is None and first["recall"] == 0.5
    assert first["metadata"] == {"scene": "reef", "depth": None} and "class" not in first
    crop = get(client, f"/datasets/{DS}/similar", kind="crop", id=3, k=1, source="pred", model="yolo")
    assert crop["source"] == "pred" and crop["neighbors"][0]["class"] == "car" and "tp" not in crop["neighbors"][0]
    path = f"/datasets/{DS}/similar"
    assert error(client, path, 404, id=404, model="yolo")["error"] == "not_found"
    for params, name in [
        ({"k": 0}, "k"),
        ({"k": 201}, "k"),
        ({"kind": "scene"}, "kind"),
        ({"id": "x"}, "id"),
        ({"id": 2**63}, "id"),
        ({"source": "pred"}, "source"),  # only for kind=crop
        ({"kind": "crop", "source": "box"}, "source"),
    ]:
        body = error(client, path, 422, **{"id": 1, "model": "yolo", **params})
        assert body["parameter"] == name, (params, body)
    assert error(client, path, 422, model="yolo")["parameter"] == "id"
    assert error(client, f"/datasets/{DS}/projection", 422, kind="x")["parameter"] == "kind"
    assert error(client, f"/datasets/{DS}/projection", 404, model="nope")["error"] == "not_found"


def _same_floats(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_array_equal(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32))


@pytest.mark.parametrize("conf,iou", [(0.5, 0.5), (0.2, 0.7)])
def test_projection_equals_library(client: TestClient, view: DatasetView, conf: float, iou: float) -> None:
    body = get(client, f"/datasets/{DS}/projection", kind="frame", model="yolo", conf=conf, iou=iou)
    lib = view.projection("frame", "yolo", options=MatchOptions(conf=conf, iou=iou))  # type: ignore[attr-defined]
    cols = body["columns"]
    assert body["n"] == len(lib["ids"]) == 40 and body["model"] == "yolo"
    np.testing.assert_array_equal(decode_array(cols["ids"]), lib["ids"])
    for key in ("x", "y", "precision", "recall", "f1"):
        _same_floats(decode_array(cols[key]), lib[key])
    for key in ("tp", "fp", "fn"):
        np.testing.assert_array_equal(decode_array(cols[key]), lib[key])
    assert set(body["metadata"]) == {"scene", "depth", "camera", "night"}
    scene = body["metadata"]["scene"]
    assert [scene["categories"][c] for c in decode_array(scene)] == list(lib["metadata"]["scene"])
    _same_floats(decode_array(body["metadata"]["depth"]), lib["metadata"]["depth"])

    body = get(client, f"/datasets/{DS}/projection", kind="crop", model="yolo", conf=conf, iou=iou)
    lib = view.projection("crop", "yolo", options=MatchOptions(conf=conf, iou=iou))  # type: ignore[attr-defined]
    cols = body["columns"]
    assert body["n"] == len(lib["ids"]) > 40
    for key in ("ids", "source", "class", "type", "frame_id"):
        np.testing.assert_array_equal(decode_array(cols[key]), lib[key], err_msg=key)
    for key in ("x", "y", "score"):
        _same_floats(decode_array(cols[key]), lib[key])
    assert body["codes"]["source"] == ["label", "pred"] and body["codes"]["type"][1] == "FP"
    assert set(decode_array(cols["type"]).tolist()) <= {-1, 0, 1, 2, 3, 4}


def test_similar_equals_library(client: TestClient, view: DatasetView) -> None:
    fid = int(view.dataset.frames.id[3])
    body = get(client, f"/datasets/{DS}/similar", kind="frame", id=fid, k=5, model="detr", conf=0.3)
    lib = view.similar("frame", fid, k=5, model="detr", options=MatchOptions(conf=0.3))  # type: ignore[attr-defined]
    assert body["query"]["id"] == fid and len(body["neighbors"]) == 5
    assert body["neighbors"] == same_json(lib["neighbors"])
    assert body["query"] == same_json({"similarity": None, **lib["query"]})
    assert fid not in [n["id"] for n in body["neighbors"]]

    lid = int(view.dataset.labels.id[7])
    url = f"{API}/datasets/{DS}/similar"
    params: list[tuple[str, Any]] = [("kind", "crop"), ("id", lid), ("k", 8), ("model", "yolo"), ("types", "TP"), ("types", "FN")]
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    lib = view.similar("crop", lid, k=8, model="yolo", types=["TP", "FN"])  # type: ignore[attr-defined]
    body = r.json()
    assert body["neighbors"] == same_json(lib["neighbors"]) and body["source"] == "label"
    assert all(n["type"] in ("TP", "FN") for n in body["neighbors"])
    same = get(client, "/datasets/" + DS + "/similar", kind="crop", id=3, source="pred", model="yolo", same_class="true")
    assert {n["class"] for n in same["neighbors"]} == {same["query"]["class"]}

    path = f"/datasets/{DS}/similar"
    assert error(client, path, 404, kind="frame", id=-12345, model="yolo")["error"] == "not_found"
    assert error(client, path, 404, kind="crop", id=-12345, model="yolo")["error"] == "not_found"
    assert error(client, path, 404, kind="crop", id=0, source="pred", model="detr")["error"] == "not_found"  # no detr crops
    assert error(client, path, 422, kind="frame", id=fid)["parameter"] == "model"
    assert error(client, path, 422, kind="crop", id=lid, model="yolo", types="XX")["parameter"] == "types"
    assert error(client, path, 422, kind="frame", id=fid, model="yolo", same_class="true")["parameter"] == "same_class"


def test_embedding_endpoints_without_embeddings_are_404(client: TestClient) -> None:
    for kind in ("frame", "crop"):
        assert error(client, "/datasets/solo/projection", 404, kind=kind)["error"] == "not_found"
        assert error(client, "/datasets/solo/similar", 404, kind=kind, id=1)["error"] == "not_found"


# --------------------------------------------------------------------------- images


class CountingRenderer:
    """Stands in for :mod:`aquaembed.render` (given to ``create_app(renderer=...)``) and records its calls."""

    def __init__(self) -> None:
        self.calls: dict[str, list[Any]] = {"frame": [], "crop": []}

    def frame_image(self, view: DatasetView, frame_id: int, **kw: Any) -> bytes:
        self.calls["frame"].append((frame_id, kw))
        return b"\xff\xd8frame-%d-%r\xff\xd9" % (frame_id, sorted(kw.items()))

    def crop_image(self, view: DatasetView, crop_id: int, **kw: Any) -> bytes:
        self.calls["crop"].append((crop_id, kw))
        return b"\xff\xd8crop-%d\xff\xd9" % crop_id


@pytest.fixture
def renderer_client(data_dir: Path) -> Iterator[tuple[TestClient, dict[str, list[Any]]]]:
    """A client of an app whose images come from a :class:`CountingRenderer` (a fresh image cache)."""
    fake = CountingRenderer()
    app = create_app(
        Settings(data_dir=data_dir, max_limit=200, image_cache_bytes=1 << 20, faiss_threads=0),
        dashboard=False, renderer=fake,
    )
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c, fake.calls


def test_frame_image_cached_with_headers(renderer_client: tuple[TestClient, dict[str, list[Any]]], view: DatasetView) -> None:
    client, counting_renderer = renderer_client
    fid = int(view.dataset.frames.id[5])
    url = f"{API}/datasets/{DS}/frames/{fid}/image"
    params = {"models": ["yolo", "detr"], "conf": 0.123, "iou": 0.5}
    r1 = client.get(url, params=params)
    r2 = client.get(url, params=params)
    assert r1.status_code == r2.status_code == 200
    assert r1.headers["content-type"] == "image/jpeg" and r1.content == r2.content
    assert "max-age" in r1.headers["cache-control"] and r1.headers["etag"] == r2.headers["etag"]
    assert counting_renderer["frame"] == [(fid, {"models": ["yolo", "detr"], "options": MatchOptions(conf=0.123, iou=0.5), "highlight": None})]
    r3 = client.get(url, params={**params, "conf": 0.124})  # another threshold, another image
    assert r3.content != r1.content and len(counting_renderer["frame"]) == 2
    r4 = client.get(url, params=params, headers={"If-None-Match": r1.headers["etag"]})
    assert r4.status_code == 304 and not r4.content
    client.get(url, params={"highlight": "label:12"})
    assert counting_renderer["frame"][-1][1]["highlight"] == ("label", 12) and counting_renderer["frame"][-1][1]["models"] is None


def test_crop_image(renderer_client: tuple[TestClient, dict[str, list[Any]]], view: DatasetView) -> None:
    client, counting_renderer = renderer_client
    lid = int(view.dataset.labels.id[2])
    r = client.get(f"{API}/datasets/{DS}/crops/{lid}/image")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    r = client.get(f"{API}/datasets/{DS}/crops/4/image", params={"source": "pred", "model": "detr"})
    assert r.status_code == 200
    assert counting_renderer["crop"] == [(lid, {"source": "label", "model": None}), (4, {"source": "pred", "model": "detr"})]


def test_image_errors(renderer_client: tuple[TestClient, dict[str, list[Any]]], view: DatasetView) -> None:
    client, counting_renderer = renderer_client
    fid = int(view.dataset.frames.id[0])
    assert error(client, f"/datasets/{DS}/frames/987654/image", 404)["error"] == "not_found"
    assert error(client, f"/datasets/{DS}/frames/{fid}/image", 404, models="nope")["error"] == "not_found"
    assert error(client, f"/datasets/{DS}/frames/{fid}/image", 422, conf=3)["parameter"] == "conf"
    assert error(client, f"/datasets/{DS}/frames/{fid}/image", 422, highlight="x:1")["parameter"] == "highlight"
    assert error(client, f"/datasets/{DS}/frames/1.5/image", 422)["parameter"] == "frame_id"
    assert error(client, f"/datasets/{DS}/frames/{2**64}/image", 422)["parameter"] == "frame_id"
    assert error(client, f"/datasets/{DS}/crops/-7/image", 404)["error"] == "not_found"
    assert error(client, f"/datasets/{DS}/crops/999999/image", 404, source="pred", model="yolo")["error"] == "not_found"
    assert error(client, f"/datasets/{DS}/crops/1/image", 422, source="pred")["parameter"] == "model"
    assert error(client, f"/datasets/{DS}/crops/1/image", 422, source="file")["parameter"] == "source"
    assert counting_renderer["frame"] == counting_renderer["crop"] == []


def _mean_colour(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as im:
        assert im.format == "JPEG"
        return np.asarray(im.convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)


def test_real_renderer_reads_only_inside_the_image_root(client: TestClient, view: DatasetView) -> None:
    pytest.importorskip("aquaembed.render")
    if not hasattr(DatasetView, "image_root"):
        pytest.skip("DatasetView.image_root not in the library yet")
    ids = view.dataset.frames.id
    r = client.get(f"{API}/datasets/{DS}/frames/{int(ids[1])}/image", params={"models": "yolo", "conf": 0.2})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    r_, g_, b_ = _mean_colour(r.content)
    assert b_ > 120 and r_ < 100  # the frame's own (blue) image
    for row in (4, 5, 6):  # ../outside.jpg, an absolute path, a symlink leaving the root
        r = client.get(f"{API}/datasets/{DS}/frames/{int(ids[row])}/image")
        assert r.status_code == 200
        r_, g_, b_ = _mean_colour(r.content)
        assert r_ < 120, f"frame row {row}: the red file outside the image root was read"
    lid = int(view.dataset.labels.id[view.dataset.labels.frame < 4][0])  # a frame with a blue image
    r = client.get(f"{API}/datasets/{DS}/crops/{lid}/image")
    assert r.status_code == 200 and _mean_colour(r.content)[2] > 100
    r = client.get(f"{API}/datasets/{DS}/crops/0/image", params={"source": "pred", "model": "yolo"})
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"


def test_image_cache_is_bounded() -> None:
    cache = ImageCache(max_bytes=10)
    for i in range(5):
        cache.get(i, lambda i=i: bytes([i]) * 4)
    assert len(cache) == 2 and cache.nbytes == 8
    assert cache.get(4, lambda: b"other").data == b"\x04" * 4  # a hit does not re-render
    assert cache.get("big", lambda: b"x" * 11).data == b"x" * 11 and "big" not in cache._data


# --------------------------------------------------------------------------- safety


TRAVERSALS = [
    "/datasets/..%2F..%2Fetc%2Fpasswd",
    "/datasets/%2Fetc%2Fpasswd",
    "/datasets/..",
    "/datasets/.../metrics",
    "/datasets/%2e%2e/metrics",
    f"/datasets/{DS}/frames/..%2F..%2Fmanifest.json/image",
    f"/datasets/{DS}/frames/%2Fetc%2Fpasswd/image",
    f"/datasets/{DS}/frames/1%2F..%2F2/image",
    f"/datasets/{DS}/crops/..%5C..%5Cwin.ini/image",
    f"/datasets/{DS}/crops/%00/image",
    f"/datasets/{DS}%2F..%2F{DS}/metrics",
    f"/datasets/{DS}/frames/%2e%2e/image",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_refused(renderer_client: tuple[TestClient, dict[str, list[Any]]], path: str) -> None:
    client, counting_renderer = renderer_client
    r = client.get(API + path, params={"model": "yolo"})
    assert r.status_code in (404, 422), (path, r.status_code)
    assert r.headers["content-type"].startswith("application/json")
    assert "root:" not in r.text and "schema_version" not in r.text
    assert counting_renderer["frame"] == counting_renderer["crop"] == []


def test_unexpected_error_is_a_generic_500(data_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def boom(self: DatasetView, *a: Any, **k: Any) -> Any:
        raise RuntimeError("secret detail /etc/shadow")

    def store_broken(self: DatasetView, *a: Any, **k: Any) -> Any:
        raise StoreError("manifest of /srv/data/x is corrupt")

    app = create_app(Settings(data_dir=data_dir, faiss_threads=0))
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as c:
        monkeypatch.setattr(DatasetView, "metrics", boom)
        r = c.get(f"{API}/datasets/{DS}/metrics", params={"model": "yolo"})
        assert r.status_code == 500 and r.json()["error"] == "internal_error"
        assert "secret" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
        assert "secret detail" in caplog.text  # logged server-side
        monkeypatch.setattr(DatasetView, "matches", store_broken)
        r = c.get(f"{API}/datasets/{DS}/matches", params={"model": "yolo"})
        assert r.status_code == 500 and r.json()["error"] == "store_error" and "/srv" not in r.text


def test_settings_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQUAEMBED_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AQUAEMBED_MAX_LIMIT", "7")
    monkeypatch.setenv("AQUAEMBED_PORT", "9001")
    monkeypatch.setenv("AQUAEMBED_FAISS_THREADS", "0")
    s = Settings()
    assert (s.data_dir, s.max_limit, s.port, s.host, s.faiss_threads) == (tmp_path, 7, 9001, "127.0.0.1", 0)
    with TestClient(create_app(dashboard=False), base_url="http://127.0.0.1") as c:  # reads the environment when built, not at import
        assert c.get(f"{API}/health").json()["datasets"] == 0
        assert c.get(f"{API}/datasets").json() == {"datasets": []}
        assert "No datasets" in c.get("/").text


def test_dashboard_is_mounted_at_root_beside_the_api(data_dir: Path) -> None:
    """One process: the Dash app at ``/`` and the API under ``/api/v1`` share a workspace."""
    app = create_app(Settings(data_dir=data_dir, faiss_threads=0))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        page = c.get("/")
        assert page.status_code == 200 and "_dash-config" in page.text
        assert c.get("/_dash-layout").status_code == 200
        thumb = c.get("/_thumb/frame/0/" + str(int(Workspace(data_dir).get(DS).dataset.frames.id[0])) + ".jpg")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert c.get(f"{API}/health").json()["status"] == "ok"
        assert c.get(f"{API}/datasets/nope").status_code == 404  # the API keeps priority over the mount


def test_slices_match_the_library(client: TestClient, view: DatasetView) -> None:
    cls = view.dataset.classes.names[0]
    for params in ({"field": "scene"}, {"field": "camera", "class": cls, "conf": 0.3, "iou": 0.6}):
        r = client.get(f"{API}/datasets/{DS}/slices", params={"model": "yolo", **params})
        assert r.status_code == 200, r.text
        body = r.json()
        lib = view.slices(
            "yolo", options=MatchOptions(conf=params.get("conf", 0.5), iou=params.get("iou", 0.5)),
            field=params["field"], cls=params.get("class"),
        )
        assert body["rows"] == same_json(lib["rows"]) and body["class"] == params.get("class")
        assert sum(row["frames"] for row in body["rows"]) == len(view.dataset.frames)
    assert error(client, f"/datasets/{DS}/slices", 422, model="yolo", field="nope")["parameter"] == "field"
    assert error(client, f"/datasets/{DS}/slices", 404, model="yolo", field="scene", **{"class": "unicorn"})["error"] == "not_found"
    assert error(client, f"/datasets/{DS}/slices", 422, model="yolo")["parameter"] == "field"
