"""The sharded store layout: written, reopened shard by shard, evaluated, refused."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from aquaembed.engine.jobs import evaluate_store
from aquaembed.errors import StoreError
from aquaembed.evaluate import Evaluator
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.matching import MatchOptions
from aquaembed.store.shards import ShardedStore, write_sharded


@pytest.fixture(scope="module")
def two_sets(coco_pair):
    gt, pred, _preds = coco_pair
    ds = load_coco_gt(gt)
    a = load_coco_results(pred, ds, name="a")
    rng = np.random.default_rng(0)
    b = load_coco_results(pred, ds, name="b")
    keep = np.sort(rng.choice(len(b), size=len(b) // 2, replace=False))
    b = type(b)(b.frame[keep], b.cls[keep], b.box[keep], b.score[keep] ** 2, name="b")
    return ds.with_inferences(a).with_inferences(b)


def test_round_trip_and_shard_by_shard(two_sets, tmp_path):
    ds = two_sets
    st = write_sharded(ds, str(tmp_path / "s"), name="harbour", rows_per_shard=800)
    assert st.n_shards > 3 and set(st.inference_names) == {"a", "b"}
    back = ShardedStore(str(tmp_path / "s")).dataset()
    for attr in ("id", "frame", "cls", "box", "area", "crowd"):
        np.testing.assert_array_equal(getattr(back.labels, attr), getattr(ds.labels, attr), err_msg=attr)
    np.testing.assert_array_equal(back.frames.id, ds.frames.id)
    for m in ("a", "b"):
        for attr in ("frame", "cls", "box", "score"):
            np.testing.assert_array_equal(getattr(back.inferences[m], attr), getattr(ds.inferences[m], attr))
    one = st.shard(2, "b")  # reads that shard's files only
    assert one.index == 2 and len(one.dataset.frames) < len(ds.frames)
    parts = list((tmp_path / "s" / st.manifest["prefix"] / "labels").iterdir())
    assert sorted(p.name for p in parts) == [f"shard={i:05d}" for i in range(st.n_shards)]


@pytest.mark.parametrize("uri", [False, True])
def test_store_evaluation_equals_local(two_sets, tmp_path, uri):
    ds = two_sets
    write_sharded(ds, str(tmp_path / "s"), name="harbour", shards=4)
    root = f"file://{tmp_path / 's'}" if uri else str(tmp_path / "s")
    for model in ("a", "b"):
        ref = Evaluator(ds, ds.inferences[model]).report(coco=True, pr=True)
        assert orjson.dumps(evaluate_store(root, model=model, coco=True, pr=True)) == orjson.dumps(ref)


def test_subtree_filesystem(two_sets, tmp_path):
    (tmp_path / "bucket").mkdir()
    fs = pafs.SubTreeFileSystem(str(tmp_path / "bucket"), pafs.LocalFileSystem())
    write_sharded(two_sets, "data/harbour", name="harbour", shards=3, filesystem=fs)
    assert (tmp_path / "bucket" / "data" / "harbour" / "manifest.json").is_file()
    ref = Evaluator(two_sets, two_sets.inferences["a"]).report()
    assert orjson.dumps(evaluate_store("data/harbour", model="a", filesystem=fs)) == orjson.dumps(ref)


def test_existing_folder_refused_and_failed_write_leaves_nothing(two_sets, tmp_path, monkeypatch):
    write_sharded(two_sets, str(tmp_path / "s"), name="x", shards=2)
    with pytest.raises(StoreError, match="already exists"):
        write_sharded(two_sets, str(tmp_path / "s"), name="x", shards=2)
    import aquaembed.store.shards as shards_mod

    calls = {"n": 0}
    real = shards_mod._write_table

    def flaky(fs, path, table):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full")
        real(fs, path, table)

    monkeypatch.setattr(shards_mod, "_write_table", flaky)
    with pytest.raises(OSError, match="disk full"):
        write_sharded(two_sets, str(tmp_path / "t"), name="x", shards=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_corrupt_shard_is_named(two_sets, tmp_path):
    st = write_sharded(two_sets, str(tmp_path / "s"), name="x", shards=3)
    part = tmp_path / "s" / st.manifest["prefix"] / "labels" / "shard=00001" / "part-0.parquet"
    pq.write_table(pq.read_table(part).slice(0, 2), part)
    with pytest.raises(StoreError, match=r"shard 1 of 'x': labels has 2 rows, the manifest says \d+"):
        evaluate_store(str(tmp_path / "s"), model="a")
    with pytest.raises(StoreError, match="not a sharded dataset"):
        (tmp_path / "v1").mkdir()
        (tmp_path / "v1" / "manifest.json").write_text(json.dumps({"schema_version": 1}))
        ShardedStore(str(tmp_path / "v1"))


def test_served_store_rematches_identically(two_sets, tmp_path):
    from aquaembed.engine.serving import ShardedMatcher

    write_sharded(two_sets, str(tmp_path / "s"), name="x", shards=5)
    matcher = ShardedMatcher(ShardedStore(str(tmp_path / "s")), "a")
    assert not matcher.loaded  # opening reads the manifest only
    ev = Evaluator(two_sets, two_sets.inferences["a"])
    for conf in (0.5, 0.2, 0.8):  # slider moves
        opts = MatchOptions(conf=conf)
        assert orjson.dumps(matcher.report(opts, coco=True)) == orjson.dumps(ev.report(opts, coco=True, matches=False))
    assert matcher.loaded


def test_store_routes_by_layout(two_sets, tmp_path):
    from aquaembed.store import Store

    store = Store(tmp_path)
    store.create("plain", two_sets)
    write_sharded(two_sets, str(tmp_path / "big"), name="big", shards=2)
    assert store.list() == ["big", "plain"]
    assert len(store.open("plain").dataset.labels) == len(two_sets.labels)  # schema version 1 unchanged
    with pytest.raises(StoreError, match=r"sharded layout: open it with Store\.open_sharded\('big'\)"):
        store.open("big")
    assert store.open_sharded("big").n_shards == 2
