"""Serving a sharded store: the API's metrics, frames and matches routes answer through
the shards (ShardedMatcher on the local engine) exactly as for the same data in one folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from aquaembed.data import Dataset, Frames, Inferences
from aquaembed.explore import Workspace
from aquaembed.explore.sharded import ShardedView
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.matching import MatchOptions
from aquaembed.service import Settings, create_app
from aquaembed.store import Store
from aquaembed.store.shards import ShardedStore, write_sharded
from aquaembed.synthetic import write_coco

NAME = "reef"


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("serve")
    gt, pred = write_coco(root / "src", 90, n_classes=4, labels_per_frame=4, preds_per_frame=9, seed=5)
    base = load_coco_gt(gt)
    n = len(base.frames)
    rng = np.random.default_rng(1)
    depth = rng.uniform(0, 30, n)
    depth[3] = np.nan
    frames = Frames(base.frames.id, base.frames.file_name, base.frames.width, base.frames.height,
                    metadata={"scene": np.array(["reef", "harbour", "wreck"])[np.arange(n) % 3], "depth": depth})
    # both layouts keep the files' own box areas (w * h), so IoUs agree to the last bit
    labels = base.labels
    a = load_coco_results(pred, base, name="a")
    b = Inferences(a.frame, a.cls, a.box, a.score ** 0.5, name="b", box_area=a.box_area)
    ds = Dataset(base.classes, frames, labels, {"a": a, "b": b})
    one, sharded = root / "one", root / "sharded"
    Store(one).create(NAME, ds)
    write_sharded(ds, str(sharded / NAME), name=NAME, shards=6)
    return one, sharded


def _client(data: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=data, max_limit=500, faiss_threads=0), dashboard=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def clients(layouts):
    one, sharded = layouts
    a, b = _client(one), _client(sharded)
    yield next(a), next(b)
    for gen in (a, b):
        gen.close()


OPTIONS = [{"conf": 0.5, "iou": 0.5}, {"conf": 0.15, "iou": 0.35, "mode": "greedy", "class_aware": "true"}]
QUERIES = [
    ("", {}),
    ("/metrics", {"model": "a", "map": "true", "pr": "true"}),
    ("/metrics", {"model": "b", "pr": "false"}),
    ("/frames", {"model": "a", "sort": "f1", "order": "asc", "limit": 25, "offset": 7}),
    ("/frames", {"model": "b", "sort": "depth", "order": "desc", "limit": 40, "meta.scene": "reef", "tp_min": 1}),
    ("/frames", {"model": "a", "sort": "fp", "order": "desc", "limit": 500, "recall_max": 0.8}),
    ("/matches", {"model": "a", "sort": "score", "order": "desc", "limit": 30, "offset": 11}),
    ("/matches", {"model": "b", "type": "FN", "sort": "area", "order": "asc", "limit": 50}),
    ("/matches", {"model": "a", "gt_class": "background", "sort": "iou", "order": "asc", "limit": 20, "offset": 3}),
    ("/matches", {"model": "b", "sort": "aspect", "order": "desc", "limit": 500, "offset": 0}),
    ("/slices", {"model": "a", "field": "scene"}),
    ("/slices", {"model": "b", "field": "depth", "class": "car"}),
]


@pytest.mark.parametrize("opts", OPTIONS, ids=["default", "greedy-aware"])
@pytest.mark.parametrize(("route", "params"), QUERIES, ids=[f"{r or 'summary'}-{i}" for i, (r, _) in enumerate(QUERIES)])
def test_routes_equal_on_both_layouts(clients, route, params, opts):
    one, sharded = clients
    url = f"/api/v1/datasets/{NAME}{route}"
    q = {**params, **(opts if route else {})}
    ra, rb = one.get(url, params=q), sharded.get(url, params=q)
    assert ra.status_code == rb.status_code == 200, (ra.text[:300], rb.text[:300])
    assert ra.json() == rb.json()
    if route == "/slices":
        assert len(ra.json()["rows"]) >= 1
    if route == "/matches":
        assert ra.json()["total"] > len(ra.json()["rows"]) or params["limit"] == 500


def test_confusion_cell_rows_in_every_cell(clients):
    one, sharded = clients
    classes = one.get(f"/api/v1/datasets/{NAME}").json()["classes"] + ["background"]
    for g in classes:
        for p in classes[::2]:
            q = {"model": "a", "gt_class": g, "pred_class": p, "limit": 7, "offset": 2, "conf": 0.3}
            assert one.get(f"/api/v1/datasets/{NAME}/matches", params=q).json() == \
                sharded.get(f"/api/v1/datasets/{NAME}/matches", params=q).json()


@pytest.mark.parametrize("opts", [MatchOptions(), MatchOptions(conf=0.2, iou=0.4, crowd=True)])
def test_streaming_mode_answers_the_same(layouts, opts):
    one, sharded = layouts
    ref = Workspace(one).get(NAME)
    streamed = ShardedView(ShardedStore(str(sharded / NAME)), resident=False)
    assert not streamed.resident
    for model in ("a", "b"):
        assert streamed.metrics(model, opts, coco=True) == ref.metrics(model, opts, coco=True)
        assert not streamed.matcher(model).loaded  # nothing kept between requests
        q = {"options": opts, "sort": "iou", "order": "asc", "limit": 40, "offset": 9}
        assert streamed.matches(model, type="TP", **q) == ref.matches(model, type="TP", **q)
        assert streamed.frames(model, options=opts, sort="recall", limit=30) == \
            ref.frames(model, options=opts, sort="recall", limit=30)
        some = ref.dataset.frames.id[::7]  # a focus: only these frames' rows
        q = {"options": opts, "sort": "score", "limit": 25, "offset": 2, "frames": some}
        assert streamed.matches(model, **q) == ref.matches(model, **q)


def test_sharded_view_opens_lazily_and_refuses_the_rest(layouts):
    _, sharded = layouts
    view = Workspace(sharded).get(NAME)
    assert type(view).__name__ == "ShardedView"
    assert not view.matcher("a").loaded  # opening reads only the manifest
    assert view.summary()["inference_sets"] == {"a": view.store.n_preds("a"), "b": view.store.n_preds("b")}
    assert not view.matcher("a").loaded
    view.metrics("a", pr=False)
    assert view.matcher("a").loaded and not view.matcher("b").loaded
    from aquaembed.errors import NotFoundError

    with pytest.raises(NotFoundError, match="sharded layout"):
        view.projection("frame", "a")
    with pytest.raises(NotFoundError, match="sharded layout"):
        view.metrics("a", scenario="x")


@pytest.mark.parametrize("resident", [True, False])
def test_frame_image_drawn_from_its_shard(layouts, resident):
    from aquaembed.render import frame_image

    one, sharded = layouts
    ref = Workspace(one).get(NAME)
    view = ShardedView(ShardedStore(str(sharded / NAME)), resident=resident)
    for fid in ref.dataset.frames.id[[0, 31, -1]].tolist():
        for opts in (MatchOptions(), MatchOptions(conf=0.2, iou=0.3)):
            assert frame_image(view, fid, models=["b", "a"], options=opts, highlight=("label", 0)) == \
                frame_image(ref, fid, models=["b", "a"], options=opts, highlight=("label", 0))


def test_crop_images_drawn_from_their_shard(layouts):
    from aquaembed.errors import NotFoundError
    from aquaembed.render import crop_image

    one, sharded = layouts
    ref = Workspace(one).get(NAME)
    view = ShardedView(ShardedStore(str(sharded / NAME)), resident=False)
    for lid in ref.dataset.labels.id[[0, 17, -1]].tolist():
        assert crop_image(view, lid, source="label") == crop_image(ref, lid, source="label")
    n = len(ref.dataset.inference_set("b"))
    for p in (0, n // 2, n - 1):
        assert crop_image(view, p, source="pred", model="b") == crop_image(ref, p, source="pred", model="b")
    with pytest.raises(NotFoundError):
        crop_image(view, n, source="pred", model="b")
    with pytest.raises(NotFoundError):
        crop_image(view, -5, source="label")


def test_unavailable_route_is_a_404(clients):
    _, sharded = clients
    r = sharded.get(f"/api/v1/datasets/{NAME}/label-issues", params={"model": "a"})
    assert r.status_code == 404 and "sharded layout" in r.text


@pytest.mark.parametrize("resident", [True, False])
def test_metrics_of_a_frame_subset_equal_the_one_folder_view(layouts, resident):
    from aquaembed.errors import NotFoundError

    one, sharded = layouts
    ref = Workspace(one).get(NAME)
    view = ShardedView(ShardedStore(str(sharded / NAME)), resident=resident)
    ids = ref.dataset.frames.id
    keys = ("conf_threshold", "iou_threshold", "classes", "confusion_matrix", "per_class", "overall")
    for opts in (MatchOptions(), MatchOptions(conf=0.2, iou=0.4, mode="greedy", class_aware=True)):
        for some in (ids[::7], ids[40:75], ids[[3]]):  # across shards, a run, one frame
            want = ref.metrics("a", opts, frames=some, pr=False)
            got = view.metrics("a", opts, frames=some, pr=False)
            assert {k: got[k] for k in keys} == {k: want[k] for k in keys}
            assert "notes" not in got
        whole = view.metrics("a", opts, pr=False)
        assert got["overall"] != whole["overall"]  # restricted, not the whole set
    # partition sum: the matrices of single frames add up to that of the frames together
    part = ids[[2, 17, 50, 88]]
    total = sum(np.asarray(view.metrics("a", frames=[f], pr=False)["confusion_matrix"]) for f in part)
    np.testing.assert_array_equal(total, view.metrics("a", frames=part, pr=False)["confusion_matrix"])
    assert "pr_curves" not in view.metrics("a", frames=ids[::7]) and view.metrics("a", frames=ids[::7])["notes"]
    with pytest.raises(NotFoundError):
        view.metrics("a", frames=[10**12])


def test_metrics_route_of_a_frame_subset_on_both_layouts(clients, layouts):
    one, sharded = clients
    ids = Workspace(layouts[0]).get(NAME).dataset.frames.id[5::9].tolist()
    url = f"/api/v1/datasets/{NAME}/metrics"
    q = {"model": "b", "frames": ids, "pr": "false", "conf": 0.3}
    ra, rb = one.get(url, params=q), sharded.get(url, params=q)
    assert ra.status_code == rb.status_code == 200 and ra.json() == rb.json()
    rb = sharded.get(url, params={**q, "pr": "true"})
    assert rb.status_code == 200 and rb.json()["notes"] and rb.json()["overall"] == ra.json()["overall"]
