"""``evaluate --json`` on an engine: streamed from the shards' parts, byte-identical to the
local engine's file, without the rows ever gathering on the driver."""

from __future__ import annotations

import io

import orjson
import pytest

from aquaembed.cli import main
from aquaembed.engine import LocalEngine
from aquaembed.engine.evaluation import ShardResult
from aquaembed.engine.jobs import evaluate_files, evaluate_store
from aquaembed.engine.output import write_streamed
from aquaembed.evaluate import Evaluator
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.matching import MatchOptions
from aquaembed.store.shards import write_sharded


@pytest.mark.parametrize(("shards", "opts"), [("7", []), ("2", ["--conf", "0.1", "--iou", "0.3", "--mode", "greedy"]),
                                             ("4", ["--class-aware", "--crowd"])])
def test_cli_engine_json_byte_identical_to_local(coco_pair, tmp_path, shards, opts):
    gt, pred, _ = coco_pair
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--map", "--json", str(a), *opts]) == 0
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--map", "--json", str(b), *opts,
                 "--engine", "local", "--shards", shards]) == 0
    assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]  # no parts left behind


def test_store_json_streamed_byte_identical(coco_pair, tmp_path):
    gt, pred, _ = coco_pair
    ds = load_coco_gt(gt)
    inf = load_coco_results(pred, ds)
    write_sharded(ds.with_inferences(inf), str(tmp_path / "s"), name="h", shards=5)
    opts = MatchOptions(conf=0.25, iou=0.55)
    ref = orjson.dumps(Evaluator(ds, inf).report(opts, coco=True), option=orjson.OPT_SERIALIZE_NUMPY)
    head = evaluate_store(str(tmp_path / "s"), opts, coco=True, json_out=tmp_path / "out.json")
    assert (tmp_path / "out.json").read_bytes() == ref
    assert "matches" not in head and "per_frame" not in head and head["coco"] is not None


class _SpyEngine(LocalEngine):
    """The local engine, keeping what the shard tasks returned to the driver."""

    def map(self, fn, items, **kwargs):
        out = super().map(fn, items, **kwargs)
        self.returned = getattr(self, "returned", []) + [out]
        return out


def test_rows_stay_in_the_parts(coco_pair, tmp_path, monkeypatch):
    gt, pred, _ = coco_pair
    engine = _SpyEngine(threads=2)
    pulled: list[int] = []
    import aquaembed.engine.output as output

    real = output.iter_fragments

    def spy(paths):
        for frag in real(paths):
            pulled.append(len(frag))
            yield frag

    monkeypatch.setattr(output, "iter_fragments", spy)
    head = evaluate_files(gt, [pred], engine=engine, shards=6, json_out=tmp_path / "o.json")
    shard_results = [r for batch in engine.returned for r in batch if isinstance(r, ShardResult)]
    assert len(shard_results) == 6 and all(r.table is None and r.label_ids.size == 0 for r in shard_results)
    assert len(pulled) == 12  # per_frame and matches fragments of 6 shards, read one by one
    full = orjson.loads((tmp_path / "o.json").read_bytes())
    assert len(full["matches"]) > 0 and full["overall"] == head["overall"]


def test_writer_pulls_a_fragment_only_after_writing_the_previous():
    f = io.BytesIO()
    seen: list[int] = []

    def frags(parts):
        for p in parts:
            seen.append(f.tell())  # bytes already written when this fragment is asked for
            yield p

    head = {"a": 1, "overall": {"tp": 1}, "coco": None}
    write_streamed(f, head, {"per_frame": frags([b'"1":{"tp":1}', b'"2":{"tp":0}']),
                             "matches": frags([b'{"x":1}', b'{"x":2}'])})
    want = {"a": 1, "overall": {"tp": 1}, "per_frame": {"1": {"tp": 1}, "2": {"tp": 0}},
            "matches": [{"x": 1}, {"x": 2}], "coco": None}
    assert f.getvalue() == orjson.dumps(want)
    assert all(a < b for a, b in zip(seen, seen[1:]))  # strictly interleaved with the writes
    g = io.BytesIO()  # an empty shard (no rows) contributes nothing, not a stray comma
    write_streamed(g, head, {"per_frame": iter([b"", b'"1":{"tp":1}', b"", b'"2":{"tp":0}', b""]),
                             "matches": iter([b"", b""])})
    assert g.getvalue() == orjson.dumps({**want, "matches": []})


def test_failed_job_leaves_no_output_and_no_parts(coco_pair, tmp_path):
    gt, pred, _ = coco_pair

    def boom(*args, **kwargs):
        raise RuntimeError("worker lost")

    import aquaembed.engine.output as output

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(output, "write_streamed", boom)
        with pytest.raises(RuntimeError):
            evaluate_files(gt, [pred], engine="local", shards=3, json_out=tmp_path / "o.json")
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_a_folder_is_refused_before_any_work(coco_pair, tmp_path, capsys):
    gt, pred, _ = coco_pair
    (tmp_path / "out").mkdir()
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", str(tmp_path / "out"), "--shards", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "is not a regular file" in err[-1] and not any("tasks" in line for line in err)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
