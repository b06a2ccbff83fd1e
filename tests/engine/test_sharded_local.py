"""Per-shard map and exact reduce on the local engine: every shard count, every option,
the same bytes as the one-process evaluation (no Ray needed)."""

from __future__ import annotations

import itertools
import json
import sys

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aquaembed.engine import LocalEngine, get_engine, shard_bounds, split
from aquaembed.engine.jobs import evaluate_files
from aquaembed.errors import InputError, MissingExtraError, ParameterError
from aquaembed.evaluate import Evaluator
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.matching import MatchOptions, build_candidates
from aquaembed.metrics import coco_inputs, coco_map, coco_reduce


@pytest.fixture(scope="module")
def loaded(coco_pair):
    gt, pred, _ = coco_pair
    ds = load_coco_gt(gt)
    return ds, load_coco_results(pred, ds)


OPTIONS = [
    MatchOptions(),
    MatchOptions(conf=0.3, iou=0.6, mode="greedy"),
    MatchOptions(conf=0.1, class_aware=True, crowd=True),
]


@pytest.mark.parametrize("options", OPTIONS, ids=["optimal", "greedy", "aware-crowd"])
@pytest.mark.parametrize("n_shards", [1, 2, 7, 500])
def test_sharded_report_is_byte_identical(loaded, options, n_shards):
    ds, inf = loaded
    ref = Evaluator(ds, inf).report(options, coco=True, pr=True)
    got = Evaluator(ds, inf, engine="local", shards=n_shards).report(options, coco=True, pr=True)
    assert orjson.dumps(got) == orjson.dumps(ref)


def test_sharded_table_equals_whole_table(loaded):
    ds, inf = loaded
    whole = Evaluator(ds, inf).table(MatchOptions(conf=0.2))
    parts = Evaluator(ds, inf, engine=LocalEngine(threads=2), shards=5).table(MatchOptions(conf=0.2))
    for col in ("frame", "label", "pred", "label_class", "pred_class", "type", "iou", "score"):
        np.testing.assert_array_equal(getattr(parts, col), getattr(whole, col), err_msg=col)
    assert (parts.n_frames, parts.n_labels, parts.n_preds) == (whole.n_frames, whole.n_labels, whole.n_preds)


@given(st.lists(st.integers(0, 30), min_size=0, max_size=60), st.integers(1, 80))
def test_shard_bounds_cover_every_frame_once(boxes, n):
    b = shard_bounds(np.array(boxes, dtype=np.int64), shards=n)
    assert b[0] == 0 and b[-1] == len(boxes)
    assert (np.diff(b) > 0).all() or len(boxes) == 0
    assert len(b) - 1 <= max(1, min(n, len(boxes)))


def test_shards_partition_labels_and_inferences(loaded):
    ds, inf = loaded
    shards = split(ds, inf, shards=6)
    np.testing.assert_array_equal(np.sort(np.concatenate([s.label_rows for s in shards])), np.arange(len(ds.labels)))
    np.testing.assert_array_equal(np.concatenate([s.pred_rows for s in shards]), np.sort(np.concatenate([s.pred_rows for s in shards])))
    assert sum(len(s.inferences) for s in shards) == len(inf)


@given(st.lists(st.integers(0, 4), min_size=1, max_size=123))
def test_coco_inputs_of_any_frame_partition_reduce_bit_identically(loaded_small, groups):
    ds, _inf, cand, ref = loaded_small
    g = np.resize(np.asarray(groups), len(ds.frames))
    whole = coco_inputs(cand, frame_ids=ds.frames.id)
    f = np.searchsorted(np.sort(ds.frames.id), whole.frame_id)
    # split the taking-part detections by the frames' group (not contiguous), in any order
    parts = []
    for k in np.unique(g)[::-1]:
        sel = g[np.argsort(ds.frames.id)][f] == k
        parts.append(type(whole)(whole.cls[sel], whole.score[sel], whole.frame_id[sel], whole.rank[sel],
                                 whole.matched[sel], whole.ignored[sel], whole.gt_counted * 0))
    parts[0] = type(whole)(parts[0].cls, parts[0].score, parts[0].frame_id, parts[0].rank, parts[0].matched,
                           parts[0].ignored, whole.gt_counted)
    assert coco_reduce(parts) == ref


@pytest.fixture(scope="module")
def loaded_small(loaded):
    ds, inf = loaded
    cand = build_candidates(ds, inf)
    return ds, inf, cand, coco_map(cand, frame_ids=ds.frames.id)


def test_several_results_files_and_parquet_equal_one_file(coco_pair, tmp_path):
    gt, pred_path, pred = coco_pair
    ds = load_coco_gt(gt)
    ref = orjson.dumps(Evaluator(ds, load_coco_results(pred_path, ds)).report(coco=True))
    cuts = [0, 100, 101, 900, len(pred)]
    files = []
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        files.append(tmp_path / f"p{i}.json")
        files[-1].write_text(json.dumps(pred[a:b]))
    assert orjson.dumps(evaluate_files(gt, files, shards=4, coco=True)) == ref
    folder = tmp_path / "parquet"
    folder.mkdir()
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        part = pred[a:b]
        pq.write_table(pa.table({k: [p[k] for p in part] for k in ("image_id", "category_id", "bbox", "score")}),
                       folder / f"part-{i}.parquet")
    assert orjson.dumps(evaluate_files(gt, [folder], shards=3, coco=True)) == ref


def test_bad_entry_in_one_of_several_files_names_file_and_entry(coco_pair, tmp_path):
    gt, _, pred = coco_pair
    good, bad = tmp_path / "a.json", tmp_path / "b.json"
    good.write_text(json.dumps(pred[:10]))
    broken = [dict(p) for p in pred[10:20]]
    broken[3]["image_id"] = 987654
    bad.write_text(json.dumps(broken))
    with pytest.raises(InputError, match=r"b\.json: entry 3.*987654"):
        evaluate_files(gt, [good, bad], shards=2)
    pq.write_table(pa.table({"image_id": [p["image_id"] for p in pred[:5]], "category_id": [1] * 5,
                             "bbox": [[0, 0, -1, 2]] * 5, "score": [0.5] * 5}), tmp_path / "c.parquet")
    with pytest.raises(InputError, match=r"c\.parquet: row 0: bbox"):
        evaluate_files(gt, [tmp_path / "c.parquet"], shards=2)


def test_engine_names(monkeypatch):
    assert isinstance(get_engine(None), LocalEngine)
    with pytest.raises(ParameterError, match="engine"):
        get_engine("spark")
    with pytest.raises(ParameterError, match="address"):
        get_engine("local", address="auto")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'aquaembed\[ray\]'"):
        get_engine("ray")


def test_cli_without_ray_is_one_line_hint(coco_pair, monkeypatch, capsys):
    from aquaembed.cli import main

    gt, pred, _ = coco_pair
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["aquaembed: error: the Ray engine needs the ray extra: pip install 'aquaembed[ray]'"]


def test_cli_shards_json_identical(coco_pair, tmp_path):
    from aquaembed.cli import main

    gt, pred, _ = coco_pair
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--map", "--json", str(a)]) == 0
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--map", "--json", str(b), "--shards", "3"]) == 0
    assert a.read_bytes() == b.read_bytes()
