"""Ingest from the command line: stored tables, embeddings, indexes, projections, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aquaembed.artifacts import CROP_INDEX, CROP_PROJECTION, FRAME_INDEX, FRAME_PROJECTION
from aquaembed.cli import main
from aquaembed.explore import Workspace
from aquaembed.io.embeddings import read_embeddings
from aquaembed.matching import MatchOptions
from aquaembed.store import Store
from aquaembed.synthetic import make_coco

N_FRAMES = 60


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ingest-src")
    gt, pred = make_coco(N_FRAMES, n_classes=5, labels_per_frame=3.0, preds_per_frame=8, seed=3)
    for img, scene in zip(gt["images"], range(len(gt["images"]))):
        img["scene"] = f"s{scene % 3}"
    (root / "gt.json").write_text(json.dumps(gt))
    (root / "pred.json").write_text(json.dumps(pred))
    rng = np.random.default_rng(0)
    frame_ids = np.array([im["id"] for im in gt["images"]])
    label_ids = np.array([a["id"] for a in gt["annotations"]])
    # frames of one scene share a direction, so their neighbours are of the same scene
    scenes = np.array([int(im["scene"][1:]) for im in gt["images"]])
    centres = rng.normal(size=(3, 16))
    frame_vec = centres[scenes] + 0.05 * rng.normal(size=(frame_ids.size, 16))
    np.savez(root / "frames.npz", ids=frame_ids, embeddings=frame_vec.astype(np.float32))
    np.savez(root / "labels.npz", ids=label_ids, embeddings=rng.normal(size=(label_ids.size, 8)).astype(np.float32))
    np.savez(root / "preds.npz", ids=np.arange(len(pred)), embeddings=rng.normal(size=(len(pred), 8)).astype(np.float32))
    pq.write_table(
        pa.table({"id": label_ids, "embedding": [list(map(float, v)) for v in rng.normal(size=(label_ids.size, 8))]}),
        root / "labels.parquet",
    )
    return {"root": root, "gt": root / "gt.json", "pred": root / "pred.json", "frames": root / "frames.npz",
            "labels": root / "labels.npz", "preds": root / "preds.npz", "labels_pq": root / "labels.parquet",
            "frame_ids": frame_ids, "scenes": scenes}


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def stored(files, tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("data")
    assert main(["ingest", "--data", str(data), "--name", "ds", "--gt", str(files["gt"]),
                 "--frame-embeddings", str(files["frames"]), "--label-embeddings", str(files["labels"])]) == 0
    assert main(["add-inferences", "--data", str(data), "--name", "ds", "--model", "m1", "--pred", str(files["pred"]),
                 "--pred-embeddings", str(files["preds"])]) == 0
    return data


def test_everything_is_stored(stored, files):
    sd = Store(stored).open("ds")
    assert set(sd.embedding_kinds) == {"frame", "label", "pred-m1"}
    assert {FRAME_INDEX, FRAME_PROJECTION, CROP_INDEX, CROP_PROJECTION} <= set(sd.artifact_names)
    ds = sd.dataset
    assert len(ds.frames) == N_FRAMES and ds.frames.metadata["scene"][0] == "s0"
    coords = sd.load_array(CROP_PROJECTION)
    n_crops = len(ds.labels) + len(ds.inference_set("m1"))
    assert coords.shape == (n_crops, 2) and np.isfinite(coords).all()
    ids, vec = sd.embeddings("frame")
    ref_ids, ref_vec = read_embeddings(files["frames"])
    assert (np.asarray(ids) == ref_ids).all() and np.allclose(vec, ref_vec)


def test_similar_frames_match_brute_force(stored, files, capsys):
    view = Workspace(stored).get("ds")
    ids, vec = read_embeddings(files["frames"])
    unit = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    q = 7
    sims = unit @ unit[q]
    sims[q] = -np.inf
    expected = np.sort(sims)[::-1][:5]
    got = view.similar("frame", int(ids[q]), k=5)
    assert np.allclose([n["similarity"] for n in got["neighbors"]], expected, atol=1e-5)
    code, out, _ = run(capsys, "similar", "--data", str(stored), "--name", "ds", "--frame", str(ids[q]), "--k", "5", "--json")
    assert code == 0
    data = json.loads(out)
    assert [n["id"] for n in data["neighbors"]] == [n["id"] for n in got["neighbors"]]
    scenes = dict(zip(files["frame_ids"].tolist(), files["scenes"].tolist()))
    assert all(scenes[n["id"]] == scenes[int(ids[q])] for n in data["neighbors"])


def test_similar_crops_filtered(stored):
    view = Workspace(stored).get("ds")
    label_id = int(view.dataset.labels.id[0])
    res = view.similar("crop", label_id, k=5, options=MatchOptions(conf=0.3), types=["FP"])
    assert res["neighbors"] and all(n["type"] == "FP" and n["source"] == "pred" for n in res["neighbors"])
    res = view.similar("crop", label_id, k=4, same_class=True)
    assert all(n["class"] == res["query"]["class"] for n in res["neighbors"])


def test_projection_cache_hit_on_second_ingest(files, tmp_path, capsys):
    data = tmp_path / "data"
    args = ["ingest", "--data", str(data), "--name", "a", "--gt", str(files["gt"]), "--frame-embeddings", str(files["frames"])]
    code, _, err = run(capsys, *args)
    assert code == 0 and "frames projection computed" in err
    code, _, err = run(capsys, *args[:4], "b", *args[5:])
    assert code == 0 and "frames projection reused from the cache" in err
    a = Store(data).open("a").load_array(FRAME_PROJECTION)
    b = Store(data).open("b").load_array(FRAME_PROJECTION)
    assert np.array_equal(a, b)


def test_parquet_embeddings(files, tmp_path, capsys):
    code, _, err = run(capsys, "ingest", "--data", str(tmp_path), "--name", "p", "--gt", str(files["gt"]),
                       "--label-embeddings", str(files["labels_pq"]))
    assert code == 0, err
    assert Store(tmp_path).open("p").embeddings("label")[1].shape[1] == 8


def _npz(path: Path, ids, vectors) -> Path:
    np.savez(path, ids=np.asarray(ids), embeddings=np.asarray(vectors))
    return path


@pytest.mark.parametrize(
    "case",
    ["unknown id", "duplicate id", "missing ids", "nan", "mixed dims", "not 2-d", "name exists", "wrong arrays"],
)
def test_ingest_refusals_change_nothing(case, files, stored, tmp_path, capsys):
    ids, vec = read_embeddings(files["frames"])
    bad = tmp_path / "bad.npz"
    name = "fresh"
    if case == "unknown id":
        ids = ids.copy()
        ids[3] = 10**9
        _npz(bad, ids, vec)
    elif case == "duplicate id":
        ids = ids.copy()
        ids[3] = ids[4]
        _npz(bad, ids, vec)
    elif case == "missing ids":
        _npz(bad, ids[:-2], vec[:-2])
    elif case == "nan":
        vec = vec.copy()
        vec[5, 1] = np.nan
        _npz(bad, ids, vec)
    elif case == "mixed dims":
        pq.write_table(pa.table({"id": ids[:2], "embedding": [[1.0, 2.0], [1.0]]}), tmp_path / "bad.parquet")
        bad = tmp_path / "bad.parquet"
    elif case == "not 2-d":
        _npz(bad, ids, vec[:, 0])
    elif case == "name exists":
        name = "ds"
        _npz(bad, ids, vec)
    elif case == "wrong arrays":
        np.savez(bad, id=ids, vectors=vec)
    data = stored
    before = sorted(p.relative_to(data).as_posix() for p in data.rglob("*"))
    code, _, err = run(capsys, "ingest", "--data", str(data), "--name", name, "--gt", str(files["gt"]),
                       "--frame-embeddings", str(bad))
    assert code == 2
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0] and "Traceback" not in err
    after = sorted(p.relative_to(data).as_posix() for p in data.rglob("*"))
    assert before == after


def test_add_inferences_refusals(files, stored, tmp_path, capsys):
    ids, vec = read_embeddings(files["preds"])
    wrong_dim = _npz(tmp_path / "dim.npz", ids, np.ones((ids.size, 5), np.float32))
    before = sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*"))
    for extra, needle in (
        (["--model", "m2", "--pred-embeddings", str(wrong_dim)], "dimension"),
        (["--model", "m1"], "already has"),
        (["--model", "m3", "--pred-embeddings", str(_npz(tmp_path / "few.npz", ids[:-1], vec[:-1]))], "no embedding"),
    ):
        code, _, err = run(capsys, "add-inferences", "--data", str(stored), "--name", "ds", "--pred", str(files["pred"]), *extra)
        assert code == 2 and needle in err, err
    after = sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*"))
    assert before == after
    code, _, err = run(capsys, "add-inferences", "--data", str(stored), "--name", "nope", "--model", "x", "--pred", str(files["pred"]))
    assert code == 2 and "nope" in err


def test_images_are_embedded_when_no_embeddings_given(tmp_path, capsys):
    from PIL import Image

    gt, pred = make_coco(12, n_classes=3, labels_per_frame=2.0, preds_per_frame=4, seed=1, width=96, height=64)
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for im in gt["images"]:
        Image.fromarray(rng.integers(0, 255, size=(64, 96, 3), dtype=np.uint8)).save(images / im["file_name"])
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    data = tmp_path / "data"
    assert main(["ingest", "--data", str(data), "--name", "img", "--gt", str(tmp_path / "gt.json"), "--images", str(images)]) == 0
    assert main(["add-inferences", "--data", str(data), "--name", "img", "--model", "m", "--pred", str(tmp_path / "pred.json")]) == 0
    sd = Store(data).open("img")
    assert set(sd.embedding_kinds) == {"frame", "label", "pred-m"}
    view = Workspace(data).get("img")
    assert view.image_root is not None and view.image_root.is_dir()
    assert view.projection("crop")["x"].shape[0] == len(sd.dataset.labels) + len(pred)
