"""The sharded store on object stores: ``s3://`` against a local S3 server (moto) and
``gs://`` against a local GCS emulator, both on 127.0.0.1: written, evaluated (local
engine and Ray) with results identical to the one-process evaluation; the manifest,
written last in one object, is the commit point."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from aquaembed.engine import LocalEngine, evaluate_shards
from aquaembed.engine.jobs import evaluate_store
from aquaembed.evaluate import Evaluator
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.matching import MatchOptions
from aquaembed.store.shards import ShardedStore, write_sharded
from factories import free_port

pafs = pytest.importorskip("pyarrow.fs")


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _s3(mp: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    server_mod = pytest.importorskip("moto.server", reason="the S3 tests need moto: pip install 'aquaembed[test]'")
    port = free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_EC2_METADATA_DISABLED": "true"}.items():
        mp.setenv(k, v)
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", access_key="testing",
                           secret_key="testing", region="us-east-1", allow_bucket_creation=True)
    fs.create_dir("fleet")
    try:
        yield fs, f"s3://{{path}}?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    finally:
        server.stop()


def _gs(mp: pytest.MonkeyPatch) -> Iterator[tuple[Any, str | None]]:
    emulator = pytest.importorskip("gcp_storage_emulator.server",
                                   reason="the GCS tests need gcp-storage-emulator: pip install 'aquaembed[test]'")
    port = free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True, default_bucket="fleet")
    server.start()
    fs = pafs.GcsFileSystem(anonymous=True, scheme="http", endpoint_override=f"127.0.0.1:{port}",
                            retry_time_limit=datetime.timedelta(seconds=10))
    try:
        yield fs, None  # a gs:// URI cannot say "anonymous": the filesystem object is given instead
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["s3", "gs"])
def bucket(request, monkeypatch_module):
    """A local object store (moto's S3, or the GCS emulator) with a bucket ``fleet``."""
    yield from {"s3": _s3, "gs": _gs}[request.param](monkeypatch_module)


@pytest.fixture(scope="module")
def data(coco_pair):
    gt, pred, _ = coco_pair
    ds = load_coco_gt(gt)
    a = load_coco_results(pred, ds, name="a")
    b = type(a)(a.frame, a.cls, a.box, a.score ** 2, name="a", box_area=a.box_area)
    return ds.with_inferences(a), ds.with_inferences(b)


def _ref(ds, options=None) -> bytes:
    return orjson.dumps(Evaluator(ds, ds.inferences["a"]).report(options, coco=True, pr=True))


def test_write_and_evaluate_on_the_object_store(bucket, data):
    fs, uri = bucket
    ds, _ = data
    write_sharded(ds, "fleet/v1", name="fleet", shards=4, filesystem=fs)
    keys = [i.path for i in fs.get_file_info(pafs.FileSelector("fleet/v1", recursive=True)) if i.type == pafs.FileType.File]
    assert "fleet/v1/manifest.json" in keys and sum(k.endswith(".parquet") for k in keys) == 4 * 3
    opts = MatchOptions(conf=0.3, iou=0.45)
    got = evaluate_store("fleet/v1", opts, coco=True, pr=True, filesystem=fs)
    assert orjson.dumps(got) == _ref(ds, opts)
    if uri is not None:  # the same through a URI (credentials from the environment)
        assert orjson.dumps(evaluate_store(uri.format(path="fleet/v1"), coco=True, pr=True)) == _ref(ds)


def test_ray_tasks_read_their_shards_from_the_object_store(bucket, data, ray_engine):
    fs, _ = bucket
    ds, _ = data
    write_sharded(ds, "fleet/ray", name="fleet", shards=3, filesystem=fs)
    assert orjson.dumps(evaluate_store("fleet/ray", coco=True, pr=True, filesystem=fs, engine=ray_engine)) == _ref(ds)


def test_crash_before_the_manifest_leaves_the_previous_store(bucket, data, monkeypatch):
    fs, _ = bucket
    old, new = data
    write_sharded(old, "fleet/live", name="fleet", shards=3, filesystem=fs)
    reader = ShardedStore("fleet/live", filesystem=fs)
    import aquaembed.store.shards as shards_mod

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the writer dies with every shard uploaded, before the manifest

    with monkeypatch.context() as mp:
        mp.setattr(shards_mod, "_commit_manifest", crash)
        with pytest.raises(KeyboardInterrupt):
            write_sharded(new, "fleet/live", name="fleet", shards=5, filesystem=fs, replace=True)
    again = ShardedStore("fleet/live", filesystem=fs)
    assert again.manifest == reader.manifest and again.n_shards == 3
    assert orjson.dumps(evaluate_store("fleet/live", coco=True, pr=True, filesystem=fs)) == _ref(old)
    # a committed replace: new readers see the new data; one opened before still reads the old
    write_sharded(new, "fleet/live", name="fleet", shards=5, filesystem=fs, replace=True)
    assert ShardedStore("fleet/live", filesystem=fs).manifest["generation"] == 2
    assert orjson.dumps(evaluate_store("fleet/live", coco=True, pr=True, filesystem=fs)) == _ref(new)
    red = evaluate_shards(LocalEngine(), reader.shards("a"),
                          MatchOptions(), classes=reader.classes.names_with_background,
                          totals=(*reader.totals[:2], reader.n_preds("a")), table=False)
    assert red.cm.to_json() == orjson.loads(_ref(old))["confusion_matrix"]
    # a third generation sweeps the first; the second (a reader may hold it) stays
    write_sharded(old, "fleet/live", name="fleet", shards=2, filesystem=fs, replace=True)
    objects = fs.get_file_info(pafs.FileSelector("fleet/live", recursive=True))
    prefixes = sorted({i.path.split("/")[2] for i in objects if i.type == pafs.FileType.File} - {"manifest.json"})
    assert [p[:7] for p in prefixes] == ["g000002", "g000003"]


def test_existing_store_refused_without_replace(bucket, data):
    fs, _ = bucket
    ds, _ = data
    write_sharded(ds, "fleet/once", name="fleet", shards=2, filesystem=fs)
    from aquaembed.errors import StoreError

    with pytest.raises(StoreError, match="already exists"):
        write_sharded(ds, "fleet/once", name="fleet", shards=2, filesystem=fs)
