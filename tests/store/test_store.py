"""Tests of the on-disk store: round trips, atomicity under a crash, every refusal."""

from __future__ import annotations

import builtins
import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aquaembed.store.atomic as atomic_mod
import aquaembed.store.transaction as txn_mod
from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
from aquaembed.errors import InputError, NotFoundError, ParameterError, StoreError
from aquaembed.store import MANIFEST, SCHEMA_VERSION, Store, StoredDataset

# --------------------------------------------------------------------------- builders


def small_dataset(n_pred: int = 3) -> Dataset:
    """Four frames with metadata of every supported type, five labels, two inference sets."""
    classes = ClassMap(np.array([1, 3, 7]), ("fish", "diver", "rov"))
    frames = Frames(
        id=np.array([10, 20, 30, 40]),
        file_name=np.array(["a.jpg", "b.jpg", "c.jpg", "d.jpg"], dtype=object),
        width=np.array([640.0, 640.0, np.nan, 1920.0]),
        height=np.array([480.0, 480.0, np.nan, 1080.0]),
        metadata={
            "scene": np.array(["reef", "harbour", "reef", "open water"]),  # <U10
            "site": np.array(["s1", None, "s2", "s1"], dtype=object),
            "depth_m": np.array([1.5, np.nan, 3.0, -0.0]),
            "camera": np.array([1, 2, 2, 3], dtype=np.int32),
            "seq": np.array([2**40, -1, 0, 7], dtype=np.int64),
            "night": np.array([True, False, False, True]),
        },
    )
    labels = Labels(
        id=np.array([101, 102, 201, 401, 402]),
        frame=np.array([0, 0, 1, 3, 3]),
        cls=np.array([0, 1, 0, 2, 0]),
        box=np.array([[0, 0, 10, 10], [5, 5, 20, 30], [1, 2, 3, 4], [100, 100, 300, 200], [0, 0, 0, 0]], float),
        area=np.array([100.0, 300.0, 4.0, 20000.0, 0.0]),
        crowd=np.array([False, False, True, False, False]),
    )
    a = Inferences(
        frame=np.array([3, 0, 0])[:n_pred],
        cls=np.array([2, 0, 0])[:n_pred],
        box=np.array([[100, 100, 290, 210], [0, 0, 11, 10], [0.5, 0.5, 9, 9]], float)[:n_pred],
        score=np.array([0.9, 0.5, 0.25])[:n_pred],
        name="yolo",
    )
    b = Inferences(np.array([1]), np.array([1]), np.array([[1.0, 2.0, 3.0, 5.0]]), np.array([1.0]), name="detr")
    return Dataset(classes, frames, labels, {"yolo": a, "detr": b})


def assert_same_array(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    if a.dtype.kind == "O":
        assert a.tolist() == b.tolist(), what
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def assert_same_dataset(a: Dataset, b: Dataset) -> None:
    assert_same_array(a.classes.ids, b.classes.ids, "class ids")
    assert a.classes.names == b.classes.names
    for f in ("id", "file_name", "width", "height"):
        assert_same_array(getattr(a.frames, f), getattr(b.frames, f), f"frames.{f}")
    assert list(a.frames.metadata) == list(b.frames.metadata)
    for key in a.frames.metadata:
        assert_same_array(np.asarray(a.frames.metadata[key]), np.asarray(b.frames.metadata[key]), f"metadata {key}")
    for f in ("id", "frame", "cls", "box", "area", "crowd", "box_area"):
        assert_same_array(getattr(a.labels, f), getattr(b.labels, f), f"labels.{f}")
    assert list(a.inferences) == list(b.inferences)
    for name in a.inferences:
        x, y = a.inferences[name], b.inferences[name]
        assert y.name == name
        for f in ("frame", "cls", "box", "score", "box_area"):
            assert_same_array(getattr(x, f), getattr(y, f), f"inferences {name}.{f}")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in a dataset folder with its content (the lock file excepted)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock" and p.relative_to(folder).parts[0] not in (".pins", ".manifests")
    }


def listed_files(sd: StoredDataset) -> set[str]:
    """Files the manifest lists, with directory artefacts expanded to their files."""
    m = sd.manifest
    files = m.referenced() | {MANIFEST}
    for rec in m.artifacts.values():
        if rec["kind"] == "dir":
            files.remove(rec["file"])
            files.update(f"{rec['file']}/{f}" for f in rec["files"])
    return files


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "data")


@pytest.fixture
def stored(store: Store) -> StoredDataset:
    return store.create("reef", small_dataset())


# --------------------------------------------------------------------------- round trips


def test_round_trip_tables_and_manifest(store: Store) -> None:
    ds = small_dataset()
    sd = store.create("reef", ds, source={"gt": "gt.json"})
    reopened = store.open("reef")
    assert_same_dataset(ds, reopened.dataset)
    m = reopened.manifest.to_json()
    assert m["schema_version"] == SCHEMA_VERSION == 1
    assert m["name"] == "reef" and m["source"] == {"gt": "gt.json"}
    assert m["counts"] == {"frames": 4, "labels": 5, "classes": 3, "inferences": {"yolo": 3, "detr": 1}}
    assert m["classes"] == {"ids": [1, 3, 7], "names": ["fish", "diver", "rov"]}
    assert list(m["inferences"]) == ["yolo", "detr"] == reopened.inference_names
    assert m["created"] and m["updated"]
    for rec in [*m["tables"].values(), *m["inferences"].values()]:
        assert len(rec["sha256"]) == 64 and rec["bytes"] > 0
    assert m["inferences"]["yolo"]["file"].startswith("inferences/yolo.")
    reopened.verify()
    assert repr(sd).startswith("<StoredDataset 'reef'")
    loaded = reopened.dataset
    for arr in (loaded.frames.id, loaded.frames.metadata["scene"], loaded.labels.box, loaded.inferences["yolo"].score):
        assert not arr.flags.writeable  # a loaded dataset is immutable


_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
_FLOAT = st.floats(-1e6, 1e6, allow_nan=False)


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    nf = draw(st.integers(0, 5))
    frame_ids = draw(st.lists(st.integers(-(2**40), 2**40), min_size=nf, max_size=nf, unique=True))
    meta = {}
    for key in draw(st.lists(_NAME.filter(lambda k: k not in ("id", "width", "height")), max_size=3, unique=True)):
        kind = draw(st.sampled_from(["i8", "i4", "u2", "f8", "f4", "b", "U", "O"]))
        if kind in ("i8", "i4", "u2"):
            info = np.iinfo(kind)
            vals = np.array(draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=nf, max_size=nf)), kind)
        elif kind in ("f8", "f4"):
            vals = np.array(draw(st.lists(st.floats(width=int(kind[1]) * 8), min_size=nf, max_size=nf)), kind)
        elif kind == "b":
            vals = np.array(draw(st.lists(st.booleans(), min_size=nf, max_size=nf)), bool)
        elif kind == "U":
            vals = np.array(draw(st.lists(st.text(max_size=4), min_size=nf, max_size=nf)), dtype=str)
        else:
            vals = np.empty(nf, dtype=object)
            vals[:] = draw(st.lists(st.none() | st.text(max_size=4), min_size=nf, max_size=nf))
        meta[key] = vals
    frames = Frames(
        np.array(frame_ids, np.int64),
        np.array(draw(st.lists(st.text(max_size=6), min_size=nf, max_size=nf)), dtype=object),
        np.array(draw(st.lists(_FLOAT | st.just(float("nan")), min_size=nf, max_size=nf)), float),
        np.array(draw(st.lists(_FLOAT | st.just(float("nan")), min_size=nf, max_size=nf)), float),
        meta,
    )
    nc = draw(st.integers(1, 3))
    classes = ClassMap(
        np.array(sorted(draw(st.lists(st.integers(0, 99), min_size=nc, max_size=nc, unique=True)))),
        tuple(draw(st.lists(_NAME, min_size=nc, max_size=nc, unique=True))),
    )

    def boxes(n: int) -> np.ndarray:
        xy = np.array(draw(st.lists(st.tuples(_FLOAT, _FLOAT), min_size=n, max_size=n)), float).reshape(n, 2)
        wh = np.array(draw(st.lists(st.tuples(_FLOAT, _FLOAT), min_size=n, max_size=n)), float).reshape(n, 2)
        return np.hstack([xy, xy + np.abs(wh)])

    nl = draw(st.integers(0, 6)) if nf else 0
    labels = Labels(
        np.array(draw(st.lists(st.integers(0, 2**50), min_size=nl, max_size=nl, unique=True)), np.int64),
        np.array(draw(st.lists(st.integers(0, max(nf - 1, 0)), min_size=nl, max_size=nl)), np.int64),
        np.array(draw(st.lists(st.integers(0, nc - 1), min_size=nl, max_size=nl)), np.int64),
        boxes(nl),
        np.array(draw(st.lists(_FLOAT, min_size=nl, max_size=nl)), float),
        np.array(draw(st.lists(st.booleans(), min_size=nl, max_size=nl)), bool),
    )
    sets = {}
    for name in draw(st.lists(_NAME, max_size=2, unique=True)):
        n = draw(st.integers(0, 5)) if nf else 0
        sets[name] = Inferences(
            np.array(draw(st.lists(st.integers(0, max(nf - 1, 0)), min_size=n, max_size=n)), np.int64),
            np.array(draw(st.lists(st.integers(0, nc - 1), min_size=n, max_size=n)), np.int64),
            boxes(n),
            np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)), float),
            name=name,
        )
    return Dataset(classes, frames, labels, sets)


_counter = itertools.count()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ds=datasets())
def test_round_trip_tables_property(tmp_path: Path, ds: Dataset) -> None:
    store = Store(tmp_path / f"data{next(_counter)}")
    store.create("d", ds)
    assert_same_dataset(ds, store.open("d").dataset)


def test_add_inferences_round_trip_keeps_results_order(stored: StoredDataset, store: Store) -> None:
    inf = Inferences(
        frame=np.array([3, 0, 3, 1]),
        cls=np.array([0, 2, 0, 1]),
        box=np.array([[1, 1, 2, 2], [0, 0, 5, 5], [9, 9, 9, 9], [1, 2, 3, 4]], float),
        score=np.array([0.1, 0.99, 0.5, 0.0]),
        name="rtdetr",
    )
    _ = stored.dataset  # loaded before the change: the cached dataset must follow it
    stored.add_inferences(inf, source={"pred": "p.json"})
    assert stored.inference_names == ["yolo", "detr", "rtdetr"]
    assert "rtdetr" in stored.dataset.inferences
    reopened = store.open("reef")
    assert_same_dataset(small_dataset().with_inferences(inf), reopened.dataset)
    assert reopened.manifest.inferences["rtdetr"]["source"] == {"pred": "p.json"}
    assert reopened.manifest.counts.inferences["rtdetr"] == 4


def test_embeddings_round_trip_memory_mapped_read_only(stored: StoredDataset, store: Store) -> None:
    rng = np.random.default_rng(0)
    frame_ids = np.array([30, 10, 40, 20])  # any order; kept as given
    fv = rng.standard_normal((4, 5))  # float64 in, float32 stored
    stored.set_embeddings("frame", frame_ids, fv, source={"model": "dino"})
    lv = rng.standard_normal((5, 3)).astype(np.float32)
    stored.set_embeddings("label", np.array([402, 401, 201, 102, 101]), lv)
    pv = rng.standard_normal((3, 3)).astype(np.float32)
    stored.set_embeddings("pred-yolo", np.array([2, 0, 1]), pv)

    sd = store.open("reef")
    assert sd.embedding_kinds == ["frame", "label", "pred-yolo"]
    ids, vec = sd.embeddings("frame")
    for arr in (ids, vec):
        assert isinstance(arr, np.memmap)
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0] = 0
    assert ids.dtype == np.int64 and vec.dtype == np.float32
    np.testing.assert_array_equal(ids, frame_ids)
    np.testing.assert_array_equal(vec, fv.astype(np.float32))
    np.testing.assert_array_equal(sd.embeddings("label")[1], lv)
    np.testing.assert_array_equal(sd.embeddings("pred-yolo")[0], [2, 0, 1])
    rec = sd.manifest.embeddings["frame"]
    assert (rec["n"], rec["dim"], rec["source"]) == (4, 5, {"model": "dino"})
    assert len(rec["vectors"]["sha256"]) == 64
    sd.verify()
    with pytest.raises(NotFoundError, match="no 'pred-detr' embeddings"):
        sd.embeddings("pred-detr")


def test_open_does_not_read_embeddings(stored: StoredDataset, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    stored.set_embeddings("frame", np.array([10, 20, 30, 40]), np.ones((4, 2)))
    stored.save_array("proj", np.ones((4, 2)))
    opened: list[str] = []
    real_open = builtins.open

    def spy_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def no_load(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("np.load called while opening")

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(np, "load", no_load)
    sd = store.open("reef")
    assert len(sd.dataset.frames) == 4
    assert not [p for p in opened if p.endswith(".npy")]


def test_embeddings_survive_replacement_while_mapped(stored: StoredDataset) -> None:
    stored.set_embeddings("frame", np.array([10, 20, 30, 40]), np.ones((4, 2)))
    _, old = stored.embeddings("frame")
    stored.set_embeddings("frame", np.array([10, 20, 30, 40]), np.full((4, 6), 2.0), replace=True)
    assert float(old.sum()) == 8.0  # the old mapping stays valid after its file is unlinked
    assert stored.embeddings("frame")[1].shape == (4, 6)  # a frame embedding may change dimension


def test_artifacts_round_trip(stored: StoredDataset, store: Store) -> None:
    stored.write_artifact_bytes("faiss-crop", b"\x00index\xff", suffix=".faiss", inputs={"emb": "abc", "k": (1, 2)})
    with stored.write_artifact("notes", suffix=".txt") as tmp:
        assert tmp.parent.parent == stored.path and not tmp.exists()
        tmp.write_text("hello")
    proj = np.arange(8, dtype=np.float32).reshape(4, 2)
    stored.save_array("umap-frame", proj, inputs={"seed": 0})
    stored.save_array("empty", np.zeros((0, 2)))

    sd = store.open("reef")
    stored.release()  # a handle pins its generation's files; only ``sd`` reads from here on
    assert sd.artifact_names == ["faiss-crop", "notes", "umap-frame", "empty"]
    assert sd.read_artifact_bytes("faiss-crop") == b"\x00index\xff"
    assert sd.artifact_path("faiss-crop").suffix == ".faiss"
    assert sd.artifact_path("notes").read_text() == "hello"
    info = sd.artifact_info("faiss-crop")
    assert info is not None and info["inputs"] == {"emb": "abc", "k": [1, 2]} and info["bytes"] == 7
    assert sd.has_artifact("faiss-crop", inputs={"emb": "abc", "k": (1, 2)})
    assert not sd.has_artifact("faiss-crop", inputs={"emb": "abd", "k": (1, 2)})
    assert not sd.has_artifact("nope") and sd.artifact_info("nope") is None
    arr = sd.load_array("umap-frame")
    assert isinstance(arr, np.memmap) and not arr.flags.writeable
    assert_same_array(np.asarray(arr), proj, "array")
    assert_same_array(sd.load_array("umap-frame", mmap=False), proj, "array")
    assert sd.load_array("empty").shape == (0, 2)
    sd.verify()

    sd.save_array("umap-frame", proj * 2, replace=True)
    np.testing.assert_array_equal(store.open("reef").load_array("umap-frame"), proj * 2)
    sd.delete_artifact("notes")
    assert "notes" not in store.open("reef").artifact_names
    assert set(snapshot(sd.path)) == listed_files(sd)
    with pytest.raises(NotFoundError):
        sd.delete_artifact("notes")
    with pytest.raises(NotFoundError):
        sd.artifact_path("notes")
    with pytest.raises(NotFoundError, match="not an array"):
        sd.load_array("faiss-crop")


def test_directory_artifacts(stored: StoredDataset, store: Store) -> None:
    with stored.write_artifact_dir("faiss-crop", inputs={"emb": "abc"}) as tmp:
        assert tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "index.faiss").write_bytes(b"idx")
        (tmp / "index.faiss.meta.npz").write_bytes(b"meta")
        (tmp / "shards").mkdir()
        (tmp / "shards" / "0.bin").write_bytes(b"s0")
    sd = store.open("reef")
    path = sd.artifact_path("faiss-crop")
    assert path.is_dir() and (path / "index.faiss").read_bytes() == b"idx"
    info = sd.artifact_info("faiss-crop")
    assert info is not None and info["kind"] == "dir" and info["bytes"] == 9
    assert info["files"] == ["index.faiss", "index.faiss.meta.npz", "shards/0.bin"]
    sd.verify()
    sd.save_array("other", np.zeros(1))  # a later write (and its sweep) keeps the directory whole
    assert snapshot(sd.artifact_path("faiss-crop")) == {
        "index.faiss": b"idx",
        "index.faiss.meta.npz": b"meta",
        "shards/0.bin": b"s0",
    }
    with pytest.raises(NotFoundError, match="is a directory"):
        sd.read_artifact_bytes("faiss-crop")
    (path / "shards" / "0.bin").write_bytes(b"s1")
    with pytest.raises(StoreError, match="does not match the sha256"):
        sd.verify()
    before = snapshot(sd.path)
    with pytest.raises(RuntimeError):
        with sd.write_artifact_dir("faiss-crop", replace=True) as tmp:
            (tmp / "half").write_bytes(b"x")
            raise RuntimeError("writer failed")
    assert snapshot(sd.path) == before
    with pytest.raises(StoreError, match="already has an artefact 'faiss-crop'"):
        with sd.write_artifact_dir("faiss-crop"):
            pass


def test_failed_artifact_writer_keeps_previous(stored: StoredDataset) -> None:
    stored.write_artifact_bytes("idx", b"old")
    before = snapshot(stored.path)
    with pytest.raises(RuntimeError):
        with stored.write_artifact("idx", replace=True) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert snapshot(stored.path) == before
    with pytest.raises(StoreError, match="nothing was written"):
        with stored.write_artifact("idx2"):
            pass
    assert snapshot(stored.path) == before


def test_store_list_exists_delete(store: Store) -> None:
    assert store.list() == [] and not store.exists("reef")
    store.create("reef", small_dataset())
    store.create("harbour", small_dataset())
    (store.root / "stray").mkdir()  # a folder without a manifest is not a dataset
    assert store.list() == ["harbour", "reef"]
    assert store.exists("reef")
    store.delete("reef")
    assert store.list() == ["harbour"] and not (store.root / "reef").exists()
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")]
    with pytest.raises(NotFoundError, match="no dataset 'reef'"):
        store.open("reef")
    with pytest.raises(NotFoundError):
        store.delete("reef")


def test_replace_dataset(stored: StoredDataset, store: Store) -> None:
    stored.set_embeddings("frame", np.array([10, 20, 30, 40]), np.ones((4, 2)))
    stored.save_array("proj", np.zeros(3))
    with pytest.raises(StoreError, match="already exists.*replace=True"):
        store.create("reef", small_dataset())
    new = small_dataset(n_pred=1)
    stored.release()  # an open handle keeps its generation's files until released
    sd = store.create("reef", new, replace=True)
    reopened = store.open("reef")
    assert_same_dataset(new, reopened.dataset)
    assert reopened.embedding_kinds == [] and reopened.artifact_names == []
    assert reopened.manifest.generation > stored.manifest.generation
    assert set(snapshot(sd.path)) == listed_files(reopened)  # superseded files are gone


def test_replace_inferences_drops_their_crop_embeddings(stored: StoredDataset) -> None:
    stored.set_embeddings("label", np.array([101, 102, 201, 401, 402]), np.ones((5, 3)))
    stored.set_embeddings("pred-yolo", np.arange(3), np.ones((3, 3)))
    smaller = Inferences(np.array([0]), np.array([0]), np.array([[0.0, 0, 1, 1]]), np.array([0.7]), name="yolo")
    with pytest.raises(StoreError, match="already has an inference set 'yolo'"):
        stored.add_inferences(smaller)
    stored.add_inferences(smaller, replace=True)
    assert len(stored.dataset.inferences["yolo"]) == 1
    assert stored.embedding_kinds == ["label"]


# --------------------------------------------------------------------------- refusals


def test_dataset_refusals(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="dataset name"):
        store.create("../evil", small_dataset())
    with pytest.raises(ParameterError, match="dataset name"):
        store.open(".hidden")
    ds = small_dataset()
    bad_set = Inferences(np.array([0]), np.array([0]), np.zeros((1, 4)), np.array([0.5]), name="a/b")
    with pytest.raises(ParameterError, match="inference set name"):
        store.create("x", ds.with_inferences(bad_set))
    with pytest.raises(ParameterError, match="source"):
        store.create("x", ds, source={"bad": object()})

    def with_meta(**meta: np.ndarray) -> Dataset:
        f = ds.frames
        return Dataset(ds.classes, Frames(f.id, f.file_name, f.width, f.height, meta), ds.labels)

    with pytest.raises(InputError, match="'id'.*reserved"):
        store.create("x", with_meta(id=np.arange(4)))
    with pytest.raises(InputError, match="'when'.*not supported"):
        store.create("x", with_meta(when=np.array(["2024-01-01"] * 4, dtype="datetime64[D]")))
    with pytest.raises(InputError, match="'mixed'"):
        store.create("x", with_meta(mixed=np.array(["a", 1, 2.5, None], dtype=object)))
    with pytest.raises(InputError, match="'nested'"):
        nested = np.empty(4, dtype=object)
        nested[:] = [[1], [2], [3], [4]]
        store.create("x", with_meta(nested=nested))
    assert store.list() == [] and not (store.root / "x").exists()  # refused before anything is written


def test_add_inferences_refusals(stored: StoredDataset) -> None:
    before = snapshot(stored.path)
    out_of_range = Inferences(np.array([4]), np.array([0]), np.zeros((1, 4)), np.array([0.5]), name="m")
    with pytest.raises(InputError, match="'m' frames"):
        stored.add_inferences(out_of_range)
    bad_cls = Inferences(np.array([0]), np.array([3]), np.zeros((1, 4)), np.array([0.5]), name="m")
    with pytest.raises(InputError, match="'m' classes"):
        stored.add_inferences(bad_cls)
    assert snapshot(stored.path) == before


FRAME_IDS = np.array([10, 20, 30, 40])
LABEL_IDS = np.array([101, 102, 201, 401, 402])


@pytest.mark.parametrize(
    ("kind", "ids", "vectors", "error", "match"),
    [
        ("frame", [10, 20, 30, 99], np.ones((4, 2)), InputError, "id 99, which is not a frame id"),
        ("frame", [10, 20, 30, 30], np.ones((4, 2)), InputError, "id 30 appears 2 times"),
        ("frame", [10, 20, 30], np.ones((3, 2)), InputError, "3 of 4 ids given; give all or none.*id 40"),
        ("label", [101, 102], np.ones((2, 3)), InputError, "2 of 5 ids"),
        ("label", [101, 102, 201, 401, 10], np.ones((5, 3)), InputError, "not a label id"),
        ("pred-yolo", [0, 1, 3], np.ones((3, 3)), InputError, "id 3, which is not a position"),
        ("pred-yolo", [0, 1], np.ones((2, 3)), InputError, "2 of 3 ids"),
        ("frame", FRAME_IDS, [[1, 2], [3, 4], [5], [6, 7]], InputError, "mixed dimensions"),
        ("frame", FRAME_IDS, np.ones(4), InputError, "2-d"),
        ("frame", FRAME_IDS, np.ones((4, 2, 2)), InputError, "2-d"),
        ("frame", FRAME_IDS, np.ones((4, 0)), InputError, "d >= 1"),
        ("frame", FRAME_IDS, np.ones((3, 2)), InputError, "4 ids but 3 vectors"),
        ("frame", FRAME_IDS, [[0, 1], [0, np.nan], [0, 0], [0, 0]], InputError, "id 20 .*NaN or infinite"),
        ("frame", FRAME_IDS, [[0, 1], [0, 0], [np.inf, 0], [0, 0]], InputError, "id 30 .*NaN or infinite"),
        ("frame", FRAME_IDS, [[0, 1], [0, 0], [1e39, 0], [0, 0]], InputError, "NaN or infinite"),
        ("frame", FRAME_IDS, np.array([["a", "b"]] * 4), InputError, "expected numbers"),
        ("frame", FRAME_IDS.astype(float), np.ones((4, 2)), InputError, "integer"),
        ("frame", FRAME_IDS.reshape(2, 2), np.ones((4, 2)), InputError, "1-d integer"),
        ("frame", [], np.ones((0, 2)), InputError, "no embeddings"),
        ("pred-rtdetr", [0], np.ones((1, 3)), NotFoundError, "no inference set 'rtdetr'"),
        ("crops", [0], np.ones((1, 3)), ParameterError, "expected 'frame', 'label'"),
        ("pred-", [0], np.ones((1, 3)), ParameterError, "expected 'frame', 'label'"),
        ("pred-yolo", [0, 1, 2], np.ones((3, 4)), InputError, "dimension 4, but the stored label crop"),
    ],
)
def test_embedding_refusals_change_nothing(
    stored: StoredDataset, kind: str, ids: object, vectors: object, error: type, match: str
) -> None:
    stored.set_embeddings("frame", FRAME_IDS, np.ones((4, 2)))
    stored.set_embeddings("label", LABEL_IDS, np.ones((5, 3)))
    before = snapshot(stored.path)
    with pytest.raises(error, match=match):
        stored.set_embeddings(kind, ids, vectors, replace=True)  # type: ignore[arg-type]
    assert snapshot(stored.path) == before


def test_existing_embeddings_refused_without_replace(stored: StoredDataset, store: Store) -> None:
    stored.set_embeddings("frame", FRAME_IDS, np.ones((4, 2)))
    other = store.open("reef")
    before = snapshot(stored.path)
    with pytest.raises(StoreError, match="already has frame embeddings; pass replace=True"):
        stored.set_embeddings("frame", FRAME_IDS, np.ones((4, 2)))
    assert snapshot(stored.path) == before
    other.set_embeddings("frame", FRAME_IDS, np.ones((4, 2)), replace=True)
    np.testing.assert_array_equal(store.open("reef").embeddings("frame")[1], np.ones((4, 2)))


def test_crop_dimension_is_shared(stored: StoredDataset) -> None:
    stored.set_embeddings("pred-yolo", np.arange(3), np.ones((3, 8)))
    stored.set_embeddings("pred-detr", np.arange(1), np.ones((1, 8)))
    with pytest.raises(InputError, match="dimension 4"):
        stored.set_embeddings("label", LABEL_IDS, np.ones((5, 4)))
    with pytest.raises(InputError, match="dimension 4"):  # replace may not break the shared dimension
        stored.set_embeddings("pred-yolo", np.arange(3), np.ones((3, 4)), replace=True)
    stored.set_embeddings("frame", FRAME_IDS, np.ones((4, 4)))  # frames have their own dimension
    stored.set_embeddings("label", LABEL_IDS, np.ones((5, 8)))
    assert stored.embedding_kinds == ["pred-yolo", "pred-detr", "frame", "label"]


def test_artifact_refusals(stored: StoredDataset) -> None:
    stored.save_array("proj", np.zeros(2))
    before = snapshot(stored.path)
    with pytest.raises(StoreError, match="already has an artefact 'proj'"):
        stored.save_array("proj", np.ones(2))
    with pytest.raises(StoreError, match="already has an artefact 'proj'"):
        stored.write_artifact_bytes("proj", b"x")
    with pytest.raises(InputError, match="cannot be stored"):
        stored.save_array("objs", np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match="cannot be stored"):
        stored.save_array("strs", np.array(["a"]))
    with pytest.raises(ParameterError, match="artefact name"):
        stored.save_array("../x", np.zeros(1))
    with pytest.raises(ParameterError, match="suffix"):
        stored.write_artifact_bytes("x", b"", suffix="/../y")
    with pytest.raises(ParameterError, match="inputs"):
        stored.save_array("x", np.zeros(1), inputs={"nan": float("nan")})
    assert snapshot(stored.path) == before


def _write_manifest(folder: Path, change: dict[str, object]) -> None:
    m = json.loads((folder / MANIFEST).read_text())
    m.update(change)
    (folder / MANIFEST).write_text(json.dumps(m))


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (lambda f: (f / MANIFEST).unlink(), "manifest.json is missing"),
        (lambda f: (f / MANIFEST).write_text('{"schema_version": 1,'), "not valid JSON"),
        (lambda f: (f / MANIFEST).write_text("[1, 2]"), "JSON object"),
        (lambda f: (f / MANIFEST).write_bytes(b"\xff\xfe"), "cannot read"),
        (lambda f: _write_manifest(f, {"schema_version": SCHEMA_VERSION + 1}), "newer than this aquaembed reads"),
        (lambda f: _write_manifest(f, {"schema_version": "1"}), "no valid schema_version"),
        (lambda f: _write_manifest(f, {"schema_version": 0}), "no valid schema_version"),
        (lambda f: _write_manifest(f, {"embeddings": []}), "'embeddings'"),
        (lambda f: _write_manifest(f, {"tables": {"frames": {"file": "x"}}}), "labels table"),
        (lambda f: _write_manifest(f, {"artifacts": {"a": {"nofile": 1}}}), "malformed file entry"),
        (lambda f: _write_manifest(f, {"artifacts": {"a": {"file": "../../x"}}}), "outside the dataset folder"),
        (lambda f: _write_manifest(f, {"artifacts": {"a": {"file": "/etc/passwd"}}}), "outside the dataset folder"),
        (lambda f: _write_manifest(f, {"artifacts": {"a": {"file": 3}}}), "outside the dataset folder"),
    ],
)
def test_bad_manifest_refused(stored: StoredDataset, store: Store, corrupt, match: str) -> None:  # type: ignore[no-untyped-def]
    corrupt(stored.path)
    with pytest.raises(StoreError, match=match):
        store.open("reef")
    with pytest.raises(StoreError, match=match):  # a writer re-reads the manifest and refuses too
        stored.save_array("x", np.zeros(1))


def test_missing_or_altered_files_are_reported(stored: StoredDataset, store: Store) -> None:
    stored.set_embeddings("frame", FRAME_IDS, np.ones((4, 2)))
    m = stored.manifest.to_json()
    labels = stored.path / m["tables"]["labels"]["file"]
    original = labels.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF
    labels.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="does not match the sha256"):
        store.open("reef").verify()
    with pytest.raises(StoreError, match=r"cannot read the labels table [^\n]*$"):
        _ = store.open("reef").dataset
    labels.write_bytes(original)
    (stored.path / m["inferences"]["detr"]["file"]).unlink()
    with pytest.raises(StoreError, match="is missing"):
        _ = store.open("reef").dataset
    (stored.path / m["embeddings"]["frame"]["ids"]["file"]).unlink()
    with pytest.raises(StoreError, match="is missing"):
        store.open("reef").embeddings("frame")


def test_stale_handles_do_not_lose_changes(stored: StoredDataset, store: Store) -> None:
    other = store.open("reef")
    stored.set_embeddings("frame", FRAME_IDS, np.ones((4, 2)))
    other.save_array("proj", np.zeros(2))  # re-reads the manifest under the lock
    with pytest.raises(StoreError, match="already has frame embeddings"):
        other.set_embeddings("frame", FRAME_IDS, np.ones((4, 2)))
    m = store.open("reef").manifest
    assert "frame" in m.embeddings and "proj" in m.artifacts
    store.create("reef", small_dataset(n_pred=1), replace=True)
    before = snapshot(stored.path)
    with pytest.raises(StoreError, match="changed by another process"):  # ids were checked against old tables
        other.set_embeddings("label", LABEL_IDS, np.ones((5, 3)))
    with pytest.raises(StoreError, match="changed by another process"):
        other.add_inferences(Inferences(np.array([0]), np.array([0]), np.zeros((1, 4)), np.array([0.5]), name="m"))
    assert snapshot(stored.path) == before


# --------------------------------------------------------------------------- crashes


def test_crash_after_the_manifest_commits_the_change(stored: StoredDataset, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    stored.save_array("proj", np.zeros(3))
    old_file = stored.path / stored.manifest.artifacts["proj"]["file"]

    def killed(*args: object) -> None:
        raise Crash()

    monkeypatch.setattr(txn_mod, "sweep", killed)
    with pytest.raises(Crash):
        stored.save_array("proj", np.ones(3), replace=True)
    monkeypatch.undo()
    np.testing.assert_array_equal(store.open("reef").load_array("proj"), np.ones(3))
    assert old_file.exists()  # superseded, left behind by the crash ...
    store.open("reef").write_artifact_bytes("other", b"x")
    assert not old_file.exists()  # ... and removed by the next write


class Crash(BaseException):
    """Stands for the process being killed: no ``except Exception`` handler sees it."""


def _state(store: Store, name: str) -> tuple[Dataset, dict[str, object], dict[str, object]]:
    sd = store.open(name)
    sd.verify()
    emb = {k: (np.array(sd.embeddings(k)[0]), np.array(sd.embeddings(k)[1])) for k in sd.embedding_kinds}
    arrays: dict[str, object] = {}
    for a in sd.artifact_names:
        path = sd.artifact_path(a)
        arrays[a] = snapshot(path) if path.is_dir() else path.read_bytes()
    return sd.dataset, emb, arrays


def _assert_state(store: Store, name: str, expected: tuple[Dataset, dict[str, object], dict[str, object]]) -> None:
    ds, emb, arrays = _state(store, name)
    assert_same_dataset(expected[0], ds)
    assert emb.keys() == expected[1].keys()
    for k, (ids, vec) in emb.items():
        np.testing.assert_array_equal(ids, expected[1][k][0])  # type: ignore[index]
        np.testing.assert_array_equal(vec, expected[1][k][1])  # type: ignore[index]
    assert arrays == expected[2]


def _write_index_dir(sd: StoredDataset, content: bytes) -> None:
    with sd.write_artifact_dir("faiss-crop", inputs={"v": content.decode()}, replace=True) as tmp:
        (tmp / "index.faiss").write_bytes(content)
        (tmp / "index.faiss.meta.npz").write_bytes(content * 2)


OPERATIONS = {
    "create-replace": lambda st_, sd: st_.create("reef", small_dataset(n_pred=1), replace=True),
    "add-inferences": lambda st_, sd: sd.add_inferences(
        Inferences(np.array([2]), np.array([1]), np.array([[0.0, 0, 2, 2]]), np.array([0.3]), name="yolo"),
        replace=True,
    ),
    "set-embeddings": lambda st_, sd: sd.set_embeddings("label", LABEL_IDS, np.full((5, 3), 7.0), replace=True),
    "save-array": lambda st_, sd: sd.save_array("proj", np.arange(6.0), replace=True),
    "write-artifact": lambda st_, sd: sd.write_artifact_bytes("idx", b"new", replace=True),
    "write-artifact-dir": lambda st_, sd: _write_index_dir(sd, b"new"),
    "delete": lambda st_, sd: st_.delete("reef"),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_crash_at_every_rename_leaves_previous_state(
    store: Store, operation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sd = store.create("reef", small_dataset())
    sd.set_embeddings("label", LABEL_IDS, np.ones((5, 3)))
    sd.set_embeddings("pred-yolo", np.arange(3), np.ones((3, 3)))
    sd.save_array("proj", np.zeros(3))
    sd.write_artifact_bytes("idx", b"old")
    _write_index_dir(sd, b"old")
    previous = _state(store, "reef")
    sd.release()  # an open handle keeps its generation's files; the leftovers check below needs none
    real_replace = os.replace
    crashes = 0
    for k in itertools.count(1):
        calls = itertools.count(1)

        def flaky_replace(src: object, dst: object) -> None:
            if next(calls) == k:
                raise Crash()
            real_replace(src, dst)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "replace", flaky_replace)
        monkeypatch.setattr(atomic_mod, "discard", lambda path: None)  # a killed process cleans nothing up
        try:
            OPERATIONS[operation](store, store.open("reef"))
        except Crash:
            crashes += 1
            monkeypatch.undo()
            _assert_state(store, "reef", previous)
            continue
        monkeypatch.undo()
        break
    assert crashes >= (1 if operation == "delete" else 2)
    if operation == "delete":
        assert not store.exists("reef")
        return
    after = store.open("reef")
    after.verify()
    with after.transaction():  # the operation's own argument pinned the old generation; commit again
        pass
    assert set(snapshot(after.path)) == listed_files(after)  # leftovers of the crashes are swept
    assert after.manifest != previous


@pytest.fixture(autouse=True)
def fsync_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record fsync calls instead of waiting for the disk (durability is the kernel's part)."""
    calls: list[int] = []
    monkeypatch.setattr(atomic_mod, "fsync", calls.append)
    return calls


def test_every_file_and_directory_is_synced_before_the_manifest(
    store: Store, fsync_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(atomic_mod, "fsync", lambda fd: events.append("fsync"))

    def spy_replace(src: object, dst: object) -> None:
        events.append(f"replace {Path(str(dst)).name}")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", spy_replace)
    store.create("reef", small_dataset())
    replaced = [e for e in events if e.startswith("replace")]
    assert replaced[-1] == f"replace {MANIFEST}" and len(replaced) == 5  # frames, labels, 2 sets, manifest
    for i, e in enumerate(events):
        if e.startswith("replace"):
            assert events[i - 1] == "fsync"  # each file is flushed before it is renamed into place
    assert events[-1] == "fsync"  # and the folder after the manifest rename


def test_unrelated_concurrent_changes_are_fine(stored: StoredDataset, store: Store) -> None:
    other = store.open("reef")
    stored.add_inferences(Inferences(np.array([0]), np.array([0]), np.zeros((1, 4)), np.array([0.5]), name="m"))
    stored.set_embeddings("frame", FRAME_IDS, np.ones((4, 2)))
    other.set_embeddings("pred-yolo", np.arange(3), np.ones((3, 2)))  # validated against an unchanged set
    other.set_embeddings("label", LABEL_IDS, np.ones((5, 2)))
    assert store.open("reef").embedding_kinds == ["frame", "pred-yolo", "label"]


def test_box_areas_of_the_source_survive_the_store(tmp_path: Path) -> None:
    """A file's own w * h areas differ in the last bit from the corners' (x2 - x1) * (y2 - y1);
    the store keeps them, so a stored dataset's IoUs equal those of the files."""
    ds = small_dataset()
    lab, inf = ds.labels, ds.inference_set(next(iter(ds.inferences)))
    own = lab.box_area + np.spacing(lab.box_area)  # not what the corners give
    labels = Labels(lab.id, lab.frame, lab.cls, lab.box, lab.area, lab.crowd, box_area=own)
    preds = Inferences(inf.frame, inf.cls, inf.box, inf.score, name=inf.name, box_area=inf.box_area * (1 + 1e-15))
    store = Store(tmp_path / "data")
    store.create("d", Dataset(ds.classes, ds.frames, labels, {inf.name: preds}))
    back = store.open("d").dataset
    np.testing.assert_array_equal(back.labels.box_area, own)
    np.testing.assert_array_equal(back.inference_set(inf.name).box_area, preds.box_area)
