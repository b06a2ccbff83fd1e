"""Tests of aquaembed.io.coco: COCO reading, validation and writing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
from aquaembed.errors import InputError, StoreError
from aquaembed.io.coco import load_coco_gt, load_coco_results, read_json, write_coco_gt, write_coco_results

# ----------------------------------------------------------------------------- helpers

GT = {
    "images": [
        {"id": 7, "file_name": "a.jpg", "width": 640, "height": 480},
        {"id": 3, "file_name": "b.jpg", "width": 320, "height": 240, "scene": "harbour"},
        {"id": 12, "file_name": "c.jpg", "width": 640, "height": 480},
    ],
    "annotations": [
        {"id": 101, "image_id": 7, "category_id": 4, "bbox": [10, 20, 30, 40], "area": 1000.5, "iscrowd": 0},
        {"id": 102, "image_id": 3, "category_id": 1, "bbox": [0.5, 1.5, 2.25, 3.0]},
        {"id": 103, "image_id": 7, "category_id": 1, "bbox": [5, 5, 0, 10], "iscrowd": True},
        {"id": 104, "image_id": 12, "category_id": 4, "bbox": [1, 2, 3, 4], "iscrowd": 1, "area": 0},
    ],
    "categories": [{"id": 4, "name": "boat"}, {"id": 1, "name": "buoy"}],
}

RESULTS = [
    {"image_id": 3, "category_id": 1, "bbox": [0.5, 1.5, 2.0, 3.0], "score": 0.9},
    {"image_id": 7, "category_id": 4, "bbox": [10, 20, 30, 41], "score": 1},
    {"image_id": 12, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.0, "extra": "ignored"},
]


def _write(path: Path, doc: object) -> Path:
    try:
        path.write_bytes(orjson.dumps(doc))
    except TypeError:  # an integer orjson cannot write (2**64): the stdlib can
        path.write_text(json.dumps(doc))
    return path


def _assert_one_line(exc: InputError, *parts: str) -> str:
    message = str(exc)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


@pytest.fixture()
def gt_dataset(tmp_path: Path) -> Dataset:
    return load_coco_gt(_write(tmp_path / "gt.json", GT))


# ------------------------------------------------------------------------- happy path


def test_load_gt_columns(gt_dataset: Dataset) -> None:
    ds = gt_dataset
    assert ds.classes.ids.tolist() == [1, 4]
    assert ds.classes.names == ("buoy", "boat")
    assert ds.frames.id.tolist() == [7, 3, 12]
    assert ds.frames.file_name.tolist() == ["a.jpg", "b.jpg", "c.jpg"]
    assert ds.frames.width.tolist() == [640, 320, 640]
    assert ds.labels.id.tolist() == [101, 102, 103, 104]
    assert ds.labels.frame.tolist() == [0, 1, 0, 2]
    assert ds.labels.cls.tolist() == [1, 0, 0, 1]
    np.testing.assert_array_equal(
        ds.labels.box, [[10, 20, 40, 60], [0.5, 1.5, 2.75, 4.5], [5, 5, 5, 15], [1, 2, 4, 6]]
    )
    assert ds.labels.box.dtype == np.float64
    # area defaults to width * height; iscrowd to 0
    assert ds.labels.area.tolist() == [1000.5, 2.25 * 3.0, 0.0, 0.0]
    assert ds.labels.crowd.tolist() == [False, False, True, True]
    assert ds.inferences == {}


def test_load_gt_optional_image_fields(tmp_path: Path) -> None:
    doc = copy.deepcopy(GT)
    del doc["images"][1]["file_name"], doc["images"][1]["width"]
    for image in doc["images"]:
        del image["height"]
    ds = load_coco_gt(_write(tmp_path / "gt.json", doc))
    assert ds.frames.file_name.tolist() == ["a.jpg", "", "c.jpg"]
    assert np.isnan(ds.frames.width[1]) and ds.frames.width[0] == 640
    assert np.isnan(ds.frames.height).all()


def test_load_results_columns(tmp_path: Path, gt_dataset: Dataset) -> None:
    inf = load_coco_results(_write(tmp_path / "pred.json", RESULTS), gt_dataset, name="yolo")
    assert inf.name == "yolo"
    assert len(inf) == 3
    assert inf.frame.tolist() == [1, 0, 2]
    assert inf.cls.tolist() == [0, 1, 0]
    np.testing.assert_array_equal(inf.box, [[0.5, 1.5, 2.5, 4.5], [10, 20, 40, 61], [1, 2, 4, 6]])
    assert inf.score.tolist() == [0.9, 1.0, 0.0]


def test_empty_results(tmp_path: Path, gt_dataset: Dataset) -> None:
    inf = load_coco_results(_write(tmp_path / "pred.json", []), gt_dataset)
    assert len(inf) == 0
    assert inf.box.shape == (0, 4)
    assert inf.name == "model"


def test_empty_ground_truth(tmp_path: Path) -> None:
    ds = load_coco_gt(_write(tmp_path / "gt.json", {"images": [], "annotations": [], "categories": []}))
    assert len(ds.frames) == 0 and len(ds.labels) == 0 and ds.classes.n_classes == 0
    assert ds.labels.box.shape == (0, 4)


def test_read_json(tmp_path: Path) -> None:
    assert read_json(_write(tmp_path / "x.json", {"a": [1, 2.5]})) == {"a": [1, 2.5]}


# -------------------------------------------------------------------------- round trip


def _small_dataset() -> tuple[Dataset, Inferences]:
    classes = ClassMap(np.array([2, 5, 9]), ("car", "truck", "person"))
    frames = Frames(
        id=np.array([40, 10, 30]),
        file_name=np.array(["x.png", "y.png", "z.png"], dtype=object),
        width=np.array([100.0, np.nan, 64.5]),
        height=np.array([80.0, np.nan, 32.0]),
    )
    labels = Labels(
        id=np.array([1, 2, 3, 7]),
        frame=np.array([0, 0, 2, 1]),
        cls=np.array([2, 0, 1, 1]),
        box=np.array(
            [[0, 0, 10, 10], [1.5, 2.5, 3.5, 8.0], [0.25, 0.75, 0.25, 10.0], [5, 6, 7, 8]], dtype=float
        ),
        area=np.array([100.0, 12.0, 0.0, 3.5]),
        crowd=np.array([False, True, False, False]),
    )
    inferences = Inferences(
        frame=np.array([2, 0, 0, 1]),
        cls=np.array([1, 2, 0, 0]),
        box=np.array([[0, 0, 1, 1], [2.5, 3.5, 4.75, 5.0], [0, 0, 10, 10], [1, 1, 1, 1]], dtype=float),
        score=np.array([0.5, 1.0, 0.0, 0.125]),
        name="model",
    )
    return Dataset(classes, frames, labels), inferences


def test_round_trip(tmp_path: Path) -> None:
    ds, inf = _small_dataset()
    write_coco_gt(ds, tmp_path / "gt.json")
    write_coco_results(inf, ds, tmp_path / "pred.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt.json", "pred.json"]  # no temporaries left

    back = load_coco_gt(tmp_path / "gt.json")
    assert back.classes.ids.tolist() == ds.classes.ids.tolist()
    assert back.classes.names == ds.classes.names
    np.testing.assert_array_equal(back.frames.id, ds.frames.id)
    assert back.frames.file_name.tolist() == ds.frames.file_name.tolist()
    np.testing.assert_array_equal(back.frames.width, ds.frames.width)  # NaN == NaN here
    np.testing.assert_array_equal(back.frames.height, ds.frames.height)
    for column in ("id", "frame", "cls", "box", "area", "crowd"):
        np.testing.assert_array_equal(
            getattr(back.labels, column), getattr(ds.labels, column), err_msg=column
        )

    inf_back = load_coco_results(tmp_path / "pred.json", back)
    for column in ("frame", "cls", "box", "score"):
        np.testing.assert_array_equal(getattr(inf_back, column), getattr(inf, column), err_msg=column)

    # What was written is plain COCO: ids, xywh, integral sizes as integers.
    doc = read_json(tmp_path / "gt.json")
    assert doc["images"][0] == {"id": 40, "file_name": "x.png", "width": 100, "height": 80}
    assert doc["images"][1] == {"id": 10, "file_name": "y.png"}
    assert doc["annotations"][1] == {
        "id": 2,
        "image_id": 40,
        "category_id": 2,
        "bbox": [1.5, 2.5, 2.0, 5.5],
        "area": 12.0,
        "iscrowd": 1,
    }
    assert read_json(tmp_path / "pred.json")[0] == {
        "image_id": 30,
        "category_id": 5,
        "bbox": [0.0, 0.0, 1.0, 1.0],
        "score": 0.5,
    }


def test_write_replaces_existing_file(tmp_path: Path) -> None:
    ds, inf = _small_dataset()
    target = tmp_path / "pred.json"
    target.write_text("old")
    write_coco_results(inf, ds, target)
    assert len(read_json(target)) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["pred.json"]


def test_write_failure_is_a_store_error(tmp_path: Path) -> None:
    ds, _ = _small_dataset()
    with pytest.raises(StoreError, match="missing"):
        write_coco_gt(ds, tmp_path / "missing" / "gt.json")


def test_write_results_checks_indices(tmp_path: Path) -> None:
    ds, _ = _small_dataset()
    stray = Inferences(np.array([5]), np.array([0]), np.array([[0.0, 0, 1, 1]]), np.array([0.5]))
    with pytest.raises(InputError):
        write_coco_results(stray, ds, tmp_path / "pred.json")
    assert not (tmp_path / "pred.json").exists()


_coord = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
_size = st.floats(0, 1e4, allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(_coord, _coord, _size, _size, st.floats(0, 1)), min_size=0, max_size=20))
def test_round_trip_any_boxes(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[float, ...]]
) -> None:
    ds, _ = _small_dataset()
    x, y, w, h, score = np.array(rows, dtype=float).reshape(-1, 5).T
    box = np.stack([x, y, x + w, y + h], axis=1)
    inf = Inferences(np.zeros(len(rows), dtype=int), np.zeros(len(rows), dtype=int), box, score)
    path = tmp_path_factory.mktemp("rt") / "pred.json"
    write_coco_results(inf, ds, path)
    back = load_coco_results(path, ds)
    np.testing.assert_allclose(back.box, inf.box, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(back.score, inf.score)


# ------------------------------------------------------------------------- bad input

Mutation = Callable[[dict], object]


def _set(section: str, index: int, key: str, value: object) -> Mutation:
    def mutate(doc: dict) -> None:
        doc[section][index][key] = value

    return mutate


def _drop(section: str, index: int, key: str) -> Mutation:
    def mutate(doc: dict) -> None:
        del doc[section][index][key]

    return mutate


def _replace(section: str, index: int, value: object) -> Mutation:
    def mutate(doc: dict) -> None:
        doc[section][index] = value

    return mutate


BAD_GT: list[tuple[str, Mutation, list[str]]] = [
    ("not an object", lambda d: [d], ["expected a JSON object", "got a list", "results file"]),
    (
        "images missing",
        lambda d: {k: v for k, v in d.items() if k != "images"},
        ['missing the "images" list'],
    ),
    ("categories missing", lambda d: {k: v for k, v in d.items() if k != "categories"}, ['"categories"']),
    ("images not a list", lambda d: {**d, "images": {"id": 1}}, ['"images" must be a list, got an object']),
    (
        "annotations not a list",
        lambda d: {**d, "annotations": None},
        ['"annotations" must be a list, got null'],
    ),
    ("categories not a list", lambda d: {**d, "categories": "boat"}, ['"categories" must be a list']),
    ("image not an object", _replace("images", 1, [3]), ["images[1]:", "expected an object, got a list"]),
    ("image id missing", _drop("images", 2, "id"), ["images[2]:", 'missing the key "id"']),
    ("image id a string", _set("images", 2, "id", "12"), ["images[2]:", "id must be an integer", '"12"']),
    ("image id a float", _set("images", 1, "id", 3.0), ["images[1]:", "id must be an integer, got 3.0"]),
    ("image id a bool", _set("images", 1, "id", True), ["images[1]:", "got true"]),
    ("image id too large", _set("images", 1, "id", 2**64 - 1), ["images[1]", "does not fit in a signed 64-bit"]),
    ("image id 2**64", _set("images", 1, "id", 2**64), ["images[1]", "does not fit in a signed 64-bit", str(2**64)]),
    (
        "duplicate image id",
        _set("images", 2, "id", 7),
        ["images[2] (id 7)", "duplicate image id 7", "images[0]"],
    ),
    (
        "file_name not a string",
        _set("images", 0, "file_name", 5),
        ["images[0] (id 7)", "file_name must be a string"],
    ),
    (
        "negative width",
        _set("images", 0, "width", -640),
        ["images[0] (id 7)", "width must be a finite number >= 0 or null"],
    ),
    (
        "category not an object",
        _replace("categories", 0, 4),
        ["categories[0]:", "expected an object, got an integer"],
    ),
    ("category id missing", _drop("categories", 1, "id"), ["categories[1]:", 'missing the key "id"']),
    (
        "category id a float",
        _set("categories", 1, "id", 1.5),
        ["categories[1]:", "id must be an integer, got 1.5"],
    ),
    (
        "category name missing",
        _drop("categories", 1, "name"),
        ["categories[1] (id 1)", 'missing the key "name"'],
    ),
    ("category name empty", _set("categories", 1, "name", ""), ["categories[1] (id 1)", "non-empty string"]),
    (
        "duplicate category id",
        _set("categories", 1, "id", 4),
        ["categories[1] (id 4)", "duplicate category id 4"],
    ),
    ("annotation not an object", _replace("annotations", 2, "x"), ["annotations[2]:", "got a string"]),
    ("annotation id missing", _drop("annotations", 3, "id"), ["annotations[3]:", 'missing the key "id"']),
    ("annotation id a bool", _set("annotations", 3, "id", False), ["annotations[3]:", "got false"]),
    (
        "duplicate annotation id",
        _set("annotations", 3, "id", 101),
        ["annotations[3] (id 101)", "annotations[0]"],
    ),
    ("image_id missing", _drop("annotations", 1, "image_id"), ["annotations[1] (id 102)", '"image_id"']),
    ("image_id a float", _set("annotations", 1, "image_id", 3.5), ["annotations[1] (id 102)", "got 3.5"]),
    (
        "unknown image_id",
        _set("annotations", 2, "image_id", 999),
        ["annotations[2] (id 103)", "unknown image_id 999"],
    ),
    (
        "category_id missing",
        _drop("annotations", 0, "category_id"),
        ["annotations[0] (id 101)", '"category_id"'],
    ),
    ("category_id a string", _set("annotations", 0, "category_id", "4"), ["annotations[0] (id 101)", '"4"']),
    (
        "unknown category_id",
        _set("annotations", 3, "category_id", 2),
        ["annotations[3] (id 104)", "unknown category_id 2"],
    ),
    ("bbox missing", _drop("annotations", 2, "bbox"), ["annotations[2] (id 103)", 'missing the key "bbox"']),
    ("bbox a string", _set("annotations", 2, "bbox", "1 2 3 4"), ["annotations[2] (id 103)", "not a list"]),
    (
        "bbox an object",
        _set("annotations", 2, "bbox", {"a": 1, "b": 2, "c": 3, "d": 4}),
        ["(id 103)", "not a list"],
    ),
    ("bbox 3 values", _set("annotations", 2, "bbox", [1, 2, 3]), ["annotations[2] (id 103)", "(3 values)"]),
    (
        "bbox 5 values",
        _set("annotations", 2, "bbox", [1, 2, 3, 4, 5]),
        ["annotations[2] (id 103)", "(5 values)"],
    ),
    (
        "bbox nested",
        _set("annotations", 1, "bbox", [[1], 2, 3, 4]),
        ["annotations[1] (id 102)", "value 0 is a list"],
    ),
    (
        "bbox string value",
        _set("annotations", 1, "bbox", [1, "2", 3, 4]),
        ["(id 102)", "value 1 is a string"],
    ),
    (
        "bbox bool value",
        _set("annotations", 1, "bbox", [1, 2, True, 4]),
        ["(id 102)", "value 2 is a boolean"],
    ),
    ("bbox null value", _set("annotations", 1, "bbox", [1, 2, 3, None]), ["(id 102)", "value 3 is null"]),
    (
        "negative width",
        _set("annotations", 3, "bbox", [1, 2, -3, 4]),
        [
            "annotations[3] (id 104): bbox must be 4 finite numbers [x, y, width, height], "
            "got [1, 2, -3, 4] (negative width)"
        ],
    ),
    ("negative height", _set("annotations", 3, "bbox", [1, 2, 3, -0.5]), ["(id 104)", "negative height"]),
    (
        "bbox overflows",
        _set("annotations", 3, "bbox", [1e308, 0, 1e308, 1]),
        ["(id 104)", "x + width overflows"],
    ),
    (
        "area negative",
        _set("annotations", 0, "area", -1.0),
        ["annotations[0] (id 101)", "area must be a finite number >= 0"],
    ),
    ("area a string", _set("annotations", 0, "area", "big"), ["annotations[0] (id 101)", '"big"']),
    (
        "iscrowd 2",
        _set("annotations", 0, "iscrowd", 2),
        ["annotations[0] (id 101)", "iscrowd must be 0, 1, true or false"],
    ),
    ("iscrowd a string", _set("annotations", 2, "iscrowd", "1"), ["annotations[2] (id 103)", "iscrowd"]),
]


@pytest.mark.parametrize(("case", "mutate", "parts"), BAD_GT, ids=[c[0] for c in BAD_GT])
def test_bad_ground_truth(tmp_path: Path, case: str, mutate: Mutation, parts: list[str]) -> None:
    doc = copy.deepcopy(GT)
    changed = mutate(doc)
    path = _write(tmp_path / "bad_gt.json", doc if changed is None else changed)
    with pytest.raises(InputError) as info:
        load_coco_gt(path)
    _assert_one_line(info.value, f"{path}: ", *parts)


def test_first_problem_in_file_order(tmp_path: Path) -> None:
    doc = copy.deepcopy(GT)
    doc["annotations"][3]["bbox"] = [1, 2, -3, 4]
    doc["annotations"][1]["category_id"] = 77
    with pytest.raises(InputError) as info:
        load_coco_gt(_write(tmp_path / "gt.json", doc))
    _assert_one_line(info.value, "annotations[1] (id 102)", "unknown category_id 77")


def test_name_labels_the_file(tmp_path: Path) -> None:
    doc = copy.deepcopy(GT)
    doc["images"][0]["id"] = "x"
    with pytest.raises(InputError, match=r"^upload\.json: images\[0\]: "):
        load_coco_gt(_write(tmp_path / "tmp123", doc), name="upload.json")


BAD_RESULTS: list[tuple[str, Callable[[list], object], list[str]]] = [
    ("an object", lambda r: {"results": r}, ["expected a JSON list", "got an object"]),
    ("a ground-truth file", lambda r: GT, ['"annotations" key']),
    ("null", lambda r: None, ["expected a JSON list", "got null"]),
    (
        "entry not an object",
        lambda r: [*r[:2], [3, 1, [0, 0, 1, 1], 0.5]],
        ["entry 2: expected an object, got a list"],
    ),
    (
        "image_id missing",
        lambda r: [r[0], {k: v for k, v in r[1].items() if k != "image_id"}],
        ["entry 1:", '"image_id"'],
    ),
    (
        "score missing",
        lambda r: [{k: v for k, v in r[0].items() if k != "score"}],
        ["entry 0:", 'missing the key "score"'],
    ),
    ("bbox missing", lambda r: [*r, {"image_id": 3, "category_id": 1, "score": 0.5}], ["entry 3:", '"bbox"']),
    (
        "image_id a string",
        lambda r: [*r, {**r[0], "image_id": "3"}],
        ["entry 3: image_id must be an integer"],
    ),
    (
        "category_id a float",
        lambda r: [{**r[0], "category_id": 1.0}, *r],
        ["entry 0: category_id must be an integer"],
    ),
    (
        "bbox 3 values",
        lambda r: [r[0], {**r[1], "bbox": [1, 2, 3]}],
        ["entry 1: bbox must be 4 finite numbers", "(3 values)"],
    ),
    ("bbox not a list", lambda r: [r[0], {**r[1], "bbox": 4}], ["entry 1: bbox", "(an integer, not a list)"]),
    (
        "negative width",
        lambda r: [*r, {**r[0], "bbox": [1, 2, -3, 4]}],
        ["entry 3: bbox", "(negative width)"],
    ),
    (
        "negative height",
        lambda r: [*r, {**r[0], "bbox": [1, 2, 3, -4]}],
        ["entry 3: bbox", "(negative height)"],
    ),
    (
        "bbox overflows",
        lambda r: [*r, {**r[0], "bbox": [0, 0, 1e200, 1e200]}],
        ["entry 3:", "width * height overflows"],
    ),
    (
        "score above 1",
        lambda r: [*r, {**r[0], "score": 1.5}],
        ["entry 3: score must be a number in [0, 1], got 1.5"],
    ),
    ("score negative", lambda r: [*r, {**r[0], "score": -0.1}], ["entry 3: score", "got -0.1"]),
    ("score a string", lambda r: [*r, {**r[0], "score": "0.5"}], ["entry 3: score", '"0.5"']),
    ("score null", lambda r: [*r, {**r[0], "score": None}], ["entry 3: score", "got null"]),
    ("score a bool", lambda r: [*r, {**r[0], "score": True}], ["entry 3: score", "got true"]),
    (
        "unknown image_id",
        lambda r: [*r, {**r[0], "image_id": 999}],
        ["entry 3: unknown image_id 999 (not in the ground truth)"],
    ),
    ("unknown category_id", lambda r: [{**r[0], "category_id": 2}, *r], ["entry 0: unknown category_id 2"]),
]


@pytest.mark.parametrize(("case", "mutate", "parts"), BAD_RESULTS, ids=[c[0] for c in BAD_RESULTS])
def test_bad_results(
    tmp_path: Path, gt_dataset: Dataset, case: str, mutate: Callable[[list], object], parts: list[str]
) -> None:
    path = _write(tmp_path / "bad_pred.json", mutate(copy.deepcopy(RESULTS)))
    with pytest.raises(InputError) as info:
        load_coco_results(path, gt_dataset)
    _assert_one_line(info.value, f"{path}: ", *parts)


BAD_JSON = [
    ("empty", b"", "not valid JSON"),
    ("truncated", b'{"images": [{"id": 1', "not valid JSON (unexpected end of data at line 1 column 21)"),
    ("NaN literal", b'[{"image_id": 1, "score": NaN}]', "not valid JSON"),
    ("infinite number", b'[{"image_id": 1, "score": 1e400}]', "infinity"),
    ("invalid UTF-8", b'["\xff"]', "not valid JSON"),
]


@pytest.mark.parametrize(("case", "raw", "part"), BAD_JSON, ids=[c[0] for c in BAD_JSON])
def test_bad_json(tmp_path: Path, gt_dataset: Dataset, case: str, raw: bytes, part: str) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(raw)
    for load in (read_json, load_coco_gt, lambda p: load_coco_results(p, gt_dataset)):
        with pytest.raises(InputError) as info:
            load(path)
        _assert_one_line(info.value, f"{path}: ", part)


@pytest.mark.parametrize("which", ["missing", "directory"])
def test_unreadable_file(tmp_path: Path, gt_dataset: Dataset, which: str) -> None:
    path = tmp_path / "nothing.json"
    if which == "directory":
        path.mkdir()
    for load in (read_json, load_coco_gt, lambda p: load_coco_results(p, gt_dataset)):
        with pytest.raises(InputError) as info:
            load(path)
        _assert_one_line(info.value, f"{path}: cannot read the file (")


_BAD_VALUES = {
    "image_id": [3.0, "3", None, True, [3], 999, -1, 2**63],
    "category_id": [1.0, "1", None, False, {}, 3, 2**64 - 1],
    "bbox": [
        None,
        [],
        [1, 2, 3],
        [1, 2, 3, 4, 5],
        [1, 2, -1, 1],
        [1, 2, 1, -1],
        [True, 0, 1, 1],
        ["1", 0, 1, 1],
        [None, 0, 1, 1],
        [[1], 0, 1, 1],
        "1234",
        {"x": 1, "y": 2, "w": 3, "h": 4},
        4,
        [0, 0, 1e300, 1e300],
    ],
    "score": [None, "0.5", True, False, -1e-9, 1.0000001, [0.5], 2],
}


@given(
    n=st.integers(1, 40),
    data=st.data(),
)
def test_any_single_bad_value_is_found(
    tmp_path_factory: pytest.TempPathFactory, n: int, data: st.DataObject
) -> None:
    """Whatever one entry gets wrong, the vectorised checks notice and the scan names it."""
    gt_dir = tmp_path_factory.mktemp("gt")
    dataset = load_coco_gt(_write(gt_dir / "gt.json", GT))
    results = [copy.deepcopy(RESULTS[i % len(RESULTS)]) for i in range(n)]
    bad = data.draw(st.integers(0, n - 1), label="entry")
    key = data.draw(st.sampled_from(sorted(_BAD_VALUES)), label="key")
    value = data.draw(st.sampled_from(_BAD_VALUES[key]), label="value")
    results[bad][key] = value
    path = _write(gt_dir / "pred.json", results)
    with pytest.raises(InputError) as info:
        load_coco_results(path, dataset)
    _assert_one_line(info.value, f"entry {bad}: ")


def test_valid_edge_values(tmp_path: Path, gt_dataset: Dataset) -> None:
    results = [
        {"image_id": 3, "category_id": 1, "bbox": [0, 0, 0, 0], "score": 0},  # zero-size box, integer score
        {"image_id": 3, "category_id": 1, "bbox": [-5, -5.5, 1, 1], "score": 1},  # negative corner is fine
        {"image_id": 3, "category_id": 1, "bbox": [2**63, 0, 1, 1], "score": 0.5},  # huge integer coordinate
    ]
    inf = load_coco_results(_write(tmp_path / "pred.json", results), gt_dataset)
    assert inf.box[2, 0] == float(2**63)
    assert inf.score.tolist() == [0.0, 1.0, 0.5]


# ---------------------------------------------------------------- real data vs pycocotools

REAL_PAIRS = [
    (
        "cocoapi-val2014-100/instances_val2014_100.json",
        "cocoapi-val2014-100/instances_val2014_fakebbox100_results.json",
    ),
    ("cartucho-map/coco/gt.json", "cartucho-map/coco/dt.json"),
    ("padilla-voc100/coco_aligned/gt.json", "padilla-voc100/coco_aligned/dt.json"),
]


def _xyxy(bboxes: list[list[float]]) -> np.ndarray:
    out = np.array(bboxes, dtype=np.float64).reshape(-1, 4)
    out[:, 2:] += out[:, :2]
    return out


@pytest.mark.parametrize(("gt_name", "dt_name"), REAL_PAIRS, ids=[p[0].split("/")[0] for p in REAL_PAIRS])
def test_real_data_matches_pycocotools(real_data: Path, gt_name: str, dt_name: str) -> None:
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO

    gt_path, dt_path = real_data / gt_name, real_data / dt_name
    coco_gt = COCO(str(gt_path))
    coco_dt = coco_gt.loadRes(str(dt_path))
    ds = load_coco_gt(gt_path)
    inf = load_coco_results(dt_path, ds)

    anns = coco_gt.dataset["annotations"]
    assert len(ds.frames) == len(coco_gt.imgs)
    assert len(ds.labels) == len(coco_gt.anns)
    assert ds.classes.n_classes == len(coco_gt.cats)
    assert int(ds.labels.crowd.sum()) == sum(a["iscrowd"] for a in anns)
    assert ds.classes.ids.tolist() == sorted(coco_gt.getCatIds())
    assert list(ds.classes.names) == [c["name"] for c in coco_gt.loadCats(sorted(coco_gt.getCatIds()))]
    assert ds.frames.id.tolist() == [img["id"] for img in coco_gt.dataset["images"]]
    assert ds.labels.id.tolist() == [a["id"] for a in anns]
    assert ds.frames.id[ds.labels.frame].tolist() == [a["image_id"] for a in anns]
    assert ds.classes.ids[ds.labels.cls].tolist() == [a["category_id"] for a in anns]
    np.testing.assert_array_equal(ds.labels.box, _xyxy([a["bbox"] for a in anns]))
    np.testing.assert_array_equal(ds.labels.area, [a["area"] for a in anns])

    dets = coco_dt.dataset["annotations"]  # loadRes keeps the file order
    assert len(inf) == len(coco_dt.anns) == len(dets)
    np.testing.assert_array_equal(inf.box, _xyxy([d["bbox"] for d in dets]))
    np.testing.assert_array_equal(inf.score, [d["score"] for d in dets])
    assert ds.frames.id[inf.frame].tolist() == [d["image_id"] for d in dets]
    assert ds.classes.ids[inf.cls].tolist() == [d["category_id"] for d in dets]


def test_extra_image_fields_become_frame_metadata(tmp_path):
    import json as _json

    from aquaembed.io.coco import load_coco_gt, write_coco_gt

    gt = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "scene": "plaza", "frame_index": 0, "night": False, "gain": 1.5},
            {"id": 2, "file_name": "b.jpg", "scene": "road", "frame_index": 1, "night": True},
            {"id": 3, "file_name": "c.jpg", "frame_index": 2, "night": False, "gain": 2, "tags": ["x"]},
        ],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [],
    }
    path = tmp_path / "gt.json"
    path.write_text(_json.dumps(gt))
    meta = load_coco_gt(path).frames.metadata
    assert meta["scene"].tolist() == ["plaza", "road", ""]
    assert meta["frame_index"].dtype == np.int64 and meta["frame_index"].tolist() == [0, 1, 2]
    assert meta["night"].dtype == bool and meta["night"].tolist() == [False, True, False]
    assert meta["gain"].dtype == np.float64 and np.isnan(meta["gain"][1]) and meta["gain"][2] == 2.0
    assert "tags" not in meta  # lists are not columns
    out = tmp_path / "out.json"
    write_coco_gt(load_coco_gt(path), out)
    again = load_coco_gt(out).frames.metadata
    assert again["scene"].tolist() == ["plaza", "road", ""]
    assert again["night"].tolist() == [False, True, False]


def test_large_results_files_are_parsed_in_pieces(tmp_path, monkeypatch):
    """Chunked parsing gives exactly what a whole parse gives, and names entries globally."""
    import json as _json

    from aquaembed.io import coco

    gt = {
        "images": [{"id": i} for i in range(1, 4)],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "bus"}],
        "annotations": [],
    }
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(_json.dumps(gt))
    ds = coco.load_coco_gt(gt_path)
    rng = np.random.default_rng(0)
    entries = [
        {"image_id": int(rng.integers(1, 4)), "category_id": int(rng.integers(1, 3)),
         "bbox": [float(x) for x in rng.uniform(0, 50, 4)], "score": float(rng.uniform()),
         "note": 'tricky "quoted" [text], {with} \\\\ commas,'}
        for _ in range(23)
    ]
    pred = tmp_path / "pred.json"
    pred.write_text(_json.dumps(entries, indent=1))
    whole = coco.load_coco_results(pred, ds)
    monkeypatch.setattr(coco, "_CHUNK_BYTES", 16)
    monkeypatch.setattr(coco, "_CHUNK_ENTRIES", 5)
    pieces = list(coco._read_json_pieces(pred, "pred.json"))
    assert [off for off, _ in pieces] == [0, 5, 10, 15, 20] and sum(len(p) for _, p in pieces) == 23
    chunked = coco.load_coco_results(pred, ds)
    for field in ("frame", "cls", "box", "score"):
        assert np.array_equal(getattr(whole, field), getattr(chunked, field))
    entries[17]["score"] = 3.0  # in the fourth piece: named by its index in the file
    pred.write_text(_json.dumps(entries))
    with pytest.raises(InputError, match=r"pred\.json: entry 17: score"):
        coco.load_coco_results(pred, ds)
    entries[17]["score"] = 0.123456789
    pred.write_text(_json.dumps(entries).replace("0.123456789", "NaN"))  # invalid JSON in the fourth piece
    with pytest.raises(InputError, match=r"not valid JSON .* line 1 column"):
        coco.load_coco_results(pred, ds)
