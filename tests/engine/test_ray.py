"""The Ray engine on a local 2-CPU cluster (started once per session): the same bytes as
the local engine on synthetic and real data, from memory, from several files, from a
sharded store; a killed worker is retried; a bad shard names itself and writes nothing."""

from __future__ import annotations

import functools
import json
import os
import sys

import orjson
import pytest

from aquaembed.engine import evaluate_shards, shard_task, split
from aquaembed.engine.jobs import evaluate_files, evaluate_store
from aquaembed.errors import InputError, StoreError
from aquaembed.evaluate import Evaluator
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.matching import MatchOptions
from aquaembed.store.shards import write_sharded

pytestmark = pytest.mark.slow

REAL_SETS = {
    "cocoapi-val2014-100": ("cocoapi-val2014-100/instances_val2014_100.json",
                            "cocoapi-val2014-100/instances_val2014_fakebbox100_results.json"),
    "cartucho-map": ("cartucho-map/coco/gt.json", "cartucho-map/coco/dt.json"),
    "padilla-voc100": ("padilla-voc100/coco_aligned/gt.json", "padilla-voc100/coco_aligned/dt.json"),
    "padilla-toyexample": ("padilla-toyexample/gts_coco_format/toy_example_coco.JSON",
                           "padilla-toyexample/dets_coco_format/coco_dets.json"),
}


def _same(a, b) -> bool:
    return orjson.dumps(a) == orjson.dumps(b)


@pytest.mark.parametrize("name", list(REAL_SETS))
def test_real_data_identical_to_local(real_data, ray_engine, name, tmp_path):
    gt, dt = (real_data / p for p in REAL_SETS[name])
    doc = json.loads(dt.read_text())
    if isinstance(doc, dict):  # the toy example wraps its detections in {"annotations": [...]}
        dt = tmp_path / "dt.json"
        dt.write_text(json.dumps(doc["annotations"]))
    ds = load_coco_gt(gt)
    inf = load_coco_results(dt, ds)
    for options in (MatchOptions(), MatchOptions(conf=0.05, iou=0.75, mode="greedy", crowd=True)):
        ref = Evaluator(ds, inf).report(options, coco=True)
        got = Evaluator(ds, inf, engine=ray_engine, shards=3).report(options, coco=True)
        assert _same(got, ref)
    # the results file read in a task, the ground truth on the driver
    assert _same(evaluate_files(gt, [dt], engine=ray_engine, shards=2, coco=True), Evaluator(ds, inf).report(coco=True))


def test_synthetic_all_outputs_identical(coco_pair, ray_engine):
    gt, pred, _ = coco_pair
    ds = load_coco_gt(gt)
    inf = load_coco_results(pred, ds)
    ref = Evaluator(ds, inf).report(MatchOptions(conf=0.3), coco=True, pr=True)
    assert _same(Evaluator(ds, inf, engine=ray_engine, shards=5).report(MatchOptions(conf=0.3), coco=True, pr=True), ref)


def test_several_files_and_store_on_ray(coco_pair, ray_engine, tmp_path):
    gt, pred_path, pred = coco_pair
    ds = load_coco_gt(gt)
    inf = load_coco_results(pred_path, ds)
    ref = Evaluator(ds, inf).report(coco=True)
    files = []
    for i, (a, b) in enumerate([(0, 300), (300, 301), (301, len(pred))]):
        files.append(tmp_path / f"p{i}.json")
        files[-1].write_text(json.dumps(pred[a:b]))
    assert _same(evaluate_files(gt, files, engine=ray_engine, shards=4, coco=True), ref)
    write_sharded(ds.with_inferences(inf), str(tmp_path / "s"), name="x", shards=4, engine=ray_engine)
    assert _same(evaluate_store(str(tmp_path / "s"), engine=ray_engine, coco=True), ref)


def _dies_once(item, *, marker: str, **kwargs):
    """The default task, but the first attempt anywhere kills its worker process."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return shard_task(item, **kwargs)
    os.close(fd)
    os._exit(1)


def test_killed_worker_is_retried_and_result_identical(coco_pair, ray_engine, tmp_path):
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the task ships with this module
    gt, pred, _ = coco_pair
    ds = load_coco_gt(gt)
    inf = load_coco_results(pred, ds)
    options = MatchOptions()
    items = [ray_engine.put(s) for s in split(ds, inf, shards=4)]
    marker = tmp_path / "killed"
    red = evaluate_shards(
        ray_engine, items, options, classes=ds.classes.names_with_background,
        totals=(len(ds.frames), len(ds.labels), len(inf)), coco=True,
        task=functools.partial(_dies_once, marker=str(marker)),
    )
    assert marker.exists()  # a worker did die
    from aquaembed.evaluate import reduced_evaluation

    assert _same(reduced_evaluation(red), Evaluator(ds, inf).report(options, coco=True))


def test_bad_shard_names_itself_and_nothing_is_written(coco_pair, ray_engine, tmp_path, capsys):
    from aquaembed.cli import main

    gt, _, pred = coco_pair
    good, bad = tmp_path / "a.json", tmp_path / "b.json"
    good.write_text(json.dumps(pred[:50]))
    broken = [dict(p) for p in pred[50:60]]
    broken[7]["score"] = 1.5
    bad.write_text(json.dumps(broken))
    with pytest.raises(InputError, match=r"b\.json: entry 7"):
        evaluate_files(gt, [good, bad], engine=ray_engine, shards=2)
    out = tmp_path / "out.json"
    assert main(["evaluate", "--gt", str(gt), "--pred", str(good), str(bad), "--engine", "ray",
                 "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("aquaembed: error: ") and "b.json: entry 7" in err[-1]
    assert not out.exists()
    ds = load_coco_gt(gt)
    st = write_sharded(ds.with_inferences(load_coco_results(good, ds)), str(tmp_path / "s"), name="x", shards=3)
    part = tmp_path / "s" / st.manifest["prefix"] / "inferences" / "model" / "shard=00002" / "part-0.parquet"
    part.write_bytes(b"not parquet")
    with pytest.raises(StoreError, match=r"shard 2 of 'x': cannot read inferences/model"):
        evaluate_store(str(tmp_path / "s"), engine=ray_engine)


def test_cli_ray_json_identical(coco_pair, ray_engine, tmp_path):
    from aquaembed.cli import main

    gt, pred, _ = coco_pair
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--map", "--json", str(a)]) == 0
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--map", "--json", str(b),
                 "--engine", "ray", "--shards", "3"]) == 0
    assert a.read_bytes() == b.read_bytes()
    import ray

    assert ray.is_initialized()  # the CLI left the session's cluster running
