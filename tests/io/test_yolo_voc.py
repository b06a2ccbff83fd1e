"""YOLO and Pascal VOC: round trips on real data with identical numbers, validation, detection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aquaembed.cli import main
from aquaembed.errors import AquaembedError, InputError, ParameterError
from aquaembed.evaluate import Evaluator
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.io.formats import detect_format, load_gt, load_inferences, write_gt
from aquaembed.matching import MatchOptions

REAL = {
    "padilla-voc100": ("padilla-voc100/coco_aligned/gt.json", "padilla-voc100/coco_aligned/dt.json", "padilla-voc100/images"),
    "cartucho-map": ("cartucho-map/coco/gt.json", "cartucho-map/coco/dt.json", "cartucho-map/images"),
}


def _numbers(dataset, inferences) -> dict:
    ev = Evaluator(dataset, inferences)
    out = {"coco": ev.coco()}
    for conf, iou in ((0.5, 0.5), (0.0, 0.75), (0.3, 0.1)):
        rep = ev.report(MatchOptions(conf=conf, iou=iou), per_frame=True, matches=True)
        out[(conf, iou)] = {k: rep[k] for k in ("classes", "confusion_matrix", "per_class", "overall")}
        out[(conf, iou)]["matches"] = [(m["type"], m["iou"], m["score"]) for m in rep["matches"]]
    return out


@pytest.mark.parametrize("name", list(REAL))
@pytest.mark.parametrize("fmt", ["yolo", "voc"])
def test_coco_to_format_and_back_gives_identical_numbers(real_data: Path, tmp_path: Path, name: str, fmt: str) -> None:
    gt, dt, images = (real_data / p for p in REAL[name])
    coco = load_coco_gt(gt)
    coco_dt = load_coco_results(dt, coco)
    expected = _numbers(coco, coco_dt)
    write_gt(coco, tmp_path, format=fmt, inferences=coco_dt)
    if fmt == "yolo":
        ds = load_gt(tmp_path / "labels", images=images)  # names from data.yaml beside labels/
        inf = load_inferences(tmp_path / "predictions", ds)
    else:
        ds = load_gt(tmp_path / "annotations", names=list(coco.classes.names))
        inf = load_inferences(tmp_path / "predictions", ds)
    np.testing.assert_array_equal(ds.labels.box, coco.labels.box)
    np.testing.assert_array_equal(inf.box, coco_dt.box)
    assert _numbers(ds, inf) == expected
    # and on to COCO again (what `aquaembed convert` writes)
    write_gt(ds, tmp_path / "back", inferences=inf)
    back = load_coco_gt(tmp_path / "back" / "gt.json")
    assert _numbers(back, load_coco_results(tmp_path / "back" / "pred.json", back)) == expected


def test_voc_xml_equals_its_coco_conversion(real_data: Path) -> None:
    """padilla-voc100's VOC XML read directly gives the numbers of the COCO file made from it."""
    base = real_data / "padilla-voc100"
    voc = load_gt(base / "gts_pascalvoc", names=base / "voc.names")
    coco = load_coco_gt(base / "coco_aligned" / "gt.json")
    assert voc.classes.names == coco.classes.names
    np.testing.assert_array_equal(voc.frames.width, coco.frames.width)
    dt = base / "coco_aligned" / "dt.json"
    assert _numbers(voc, load_coco_results(dt, voc)) == _numbers(coco, load_coco_results(dt, coco))


def test_cli_convert_then_evaluate(real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = real_data / "padilla-voc100"
    dt = base / "coco_aligned" / "dt.json"
    names = base / "voc.names"
    assert main(["convert", "--gt", str(base / "gts_pascalvoc"), "--names", str(names), "--out", str(tmp_path / "c")]) == 0
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["evaluate", "--gt", str(tmp_path / "c" / "gt.json"), "--pred", str(dt), "--map", "--json", str(a)]) == 0
    assert main(["evaluate", "--gt", str(base / "gts_pascalvoc"), "--names", str(names), "--pred", str(dt),
                 "--map", "--json", str(b)]) == 0
    assert json.loads(a.read_text()) == json.loads(b.read_text())
    capsys.readouterr()


def test_voc_difficult_as_crowd(real_data: Path) -> None:
    base = real_data / "padilla-voc100"
    plain = load_gt(base / "gts_pascalvoc", names=base / "voc.names")
    crowd = load_gt(base / "gts_pascalvoc", names=base / "voc.names", difficult="crowd")
    n_difficult = sum(p.read_text().count("<difficult>1</difficult>") for p in (base / "gts_pascalvoc").glob("*.xml"))
    assert n_difficult > 0 and not plain.labels.crowd.any()
    assert int(crowd.labels.crowd.sum()) == n_difficult
    dt = load_coco_results(base / "coco_aligned" / "dt.json", crowd)
    ignored = Evaluator(crowd, dt).report(MatchOptions(crowd=True))["overall"]
    counted = Evaluator(plain, dt).report(MatchOptions())["overall"]
    assert ignored["fn"] < counted["fn"]  # missed difficult objects are no longer FNs


# ------------------------------------------------------------------ small YOLO set


def _yolo_set(root: Path, *, sizes=((40, 30), (64, 48), (20, 20))) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i, (w, h) in enumerate(sizes):
        Image.new("RGB", (w, h)).save(root / "images" / f"im{i}.png")
    (root / "labels" / "im0.txt").write_text("0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.1 0.2\n")
    (root / "labels" / "im1.txt").write_text("\n1 0.5 0.5 1 1\n")  # blank lines are allowed
    (root / "data.yaml").write_text("names:\n  0: fish\n  1: crab\n")
    return root


def test_yolo_boxes_are_scaled_by_the_image_header_size(tmp_path: Path) -> None:
    ds = load_gt(_yolo_set(tmp_path) / "labels")
    assert ds.classes.names == ("fish", "crab") and ds.classes.ids.tolist() == [1, 2]
    assert ds.frames.file_name.tolist() == ["im0.png", "im1.png", "im2.png"]  # im2: no label file, no labels
    assert ds.frames.width.tolist() == [40, 64, 20] and ds.frames.height.tolist() == [30, 48, 20]
    np.testing.assert_array_equal(ds.labels.box, [[10, 7.5, 30, 22.5], [8, 4.5, 12, 10.5], [0, 0, 64, 48]])
    assert ds.labels.cls.tolist() == [0, 1, 1] and ds.labels.frame.tolist() == [0, 0, 1]
    assert detect_format(tmp_path / "labels") == "yolo" and detect_format(tmp_path / "data.yaml") == "yolo"
    assert load_gt(tmp_path / "data.yaml").labels.box.tolist() == ds.labels.box.tolist()


def test_yolo_names_file_and_missing_names(tmp_path: Path) -> None:
    root = _yolo_set(tmp_path)
    (root / "data.yaml").unlink()
    with pytest.raises(ParameterError, match=r"no class names found .*--names") as info:
        load_gt(root / "labels")
    assert "\n" not in str(info.value)
    (root / "obj.names").write_text("fish\ncrab\n")
    assert load_gt(root / "labels").classes.names == ("fish", "crab")


BAD_YOLO = [
    ("0 0.5 0.5 0.5\n", "line 1: expected 5 fields (class cx cy w h), got 4"),
    ("0 0.5 0.5 0.5 0.5\n0 0.5 x 0.5 0.5\n", "line 2: field 3 (cy) must be a number, got 'x'"),
    ("2 0.5 0.5 0.5 0.5\n", "line 1: field 1 (class) must be a class index in [0, 2), got 2"),
    ("0.5 0.5 0.5 0.5 0.5\n", "field 1 (class) must be a class index"),
    ("0 0.5 0.5 1.7 0.5\n", "line 1: field 4 (w) must be a normalised number in [0, 1], got 1.7"),
    ("0 0.5 0.5 0.5 nan\n", "field 5 (h) must be a normalised number in [0, 1], got nan"),
]


@pytest.mark.parametrize(("text", "message"), BAD_YOLO)
def test_bad_yolo_line_names_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    root = _yolo_set(tmp_path)
    (root / "labels" / "im1.txt").write_text(text)
    with pytest.raises(InputError) as info:
        load_gt(root / "labels")
    assert str(info.value).startswith(f"{root / 'labels' / 'im1.txt'}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_yolo_predictions_and_their_errors(tmp_path: Path) -> None:
    root = _yolo_set(tmp_path)
    ds = load_gt(root / "labels")
    preds = root / "preds"
    preds.mkdir()
    (preds / "im0.txt").write_text("0 0.5 0.5 0.5 0.5 0.9\n")
    (preds / "im2.txt").write_text("1 0.5 0.5 0.5 0.5 0.25\n")
    inf = load_inferences(preds, ds)
    assert inf.frame.tolist() == [0, 2] and inf.score.tolist() == [0.9, 0.25]
    np.testing.assert_array_equal(inf.box, [[10, 7.5, 30, 22.5], [5, 5, 15, 15]])
    (preds / "im2.txt").write_text("1 0.5 0.5 0.5 0.5 1.5\n")
    with pytest.raises(InputError, match=r"im2.txt: line 1: field 6 \(conf\) must be a number in \[0, 1\], got 1.5"):
        load_inferences(preds, ds)
    (preds / "im2.txt").unlink()
    (preds / "nope.txt").write_text("1 0.5 0.5 0.5 0.5 0.5\n")
    with pytest.raises(InputError, match=r"nope.txt: no frame of the ground truth is called 'nope'"):
        load_inferences(preds, ds)


def test_yolo_label_file_without_image(tmp_path: Path) -> None:
    root = _yolo_set(tmp_path)
    (root / "labels" / "ghost.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    with pytest.raises(InputError, match=r"ghost.txt: no image for this label file"):
        load_gt(root / "labels")


# -------------------------------------------------------------------- small VOC set

_VOC = """<annotation><filename>{name}</filename><size><width>50</width><height>40</height></size>
<object><name>fish</name><difficult>0</difficult>
<bndbox><xmin>{x1}</xmin><ymin>2</ymin><xmax>{x2}</xmax><ymax>20</ymax></bndbox>{extra}</object>
</annotation>"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x2": "1"}, "a.xml: object 1 (fish): bndbox/xmax must be >= xmin, got xmin 3, xmax 1"),
        ({"x1": "three"}, "a.xml: object 1 (fish): bndbox/xmin must be a number, got 'three'"),
        ({"extra": "<oops>"}, "a.xml: not valid XML (line 3, column"),
    ],
)
def test_bad_voc_file_names_file_object_and_field(tmp_path: Path, change: dict, message: str) -> None:
    fields = {"name": "a.jpg", "x1": "3", "x2": "30", "extra": ""} | change
    (tmp_path / "a.xml").write_text(_VOC.format(**fields))
    with pytest.raises(InputError) as info:
        load_gt(tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_voc_predictions_need_scores(tmp_path: Path) -> None:
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt" / "a.xml").write_text(_VOC.format(name="a.jpg", x1=3, x2=30, extra=""))
    ds = load_gt(tmp_path / "gt")
    assert detect_format(tmp_path / "gt") == "voc"
    (tmp_path / "pred" / "a.xml").write_text(_VOC.format(name="a.jpg", x1=4, x2=30, extra="<score>0.8</score>"))
    inf = load_inferences(tmp_path / "pred", ds)
    assert inf.score.tolist() == [0.8] and inf.box.tolist() == [[4, 2, 30, 20]]
    (tmp_path / "pred" / "a.xml").write_text(_VOC.format(name="a.jpg", x1=4, x2=30, extra=""))
    with pytest.raises(InputError, match=r"a.xml: object 1 \(fish\): missing <score>"):
        load_inferences(tmp_path / "pred", ds)


def test_format_detection_refuses_a_mixed_folder(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<annotation/>")
    (tmp_path / "b.txt").write_text("")
    with pytest.raises(ParameterError, match=r"both .xml and .txt files\); pass --format"):
        detect_format(tmp_path)
    assert detect_format(tmp_path / "gt.json") == "coco"


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _yolo_set(tmp_path)
    (root / "preds").mkdir()
    (root / "preds" / "im0.txt").write_text("0 0.5 0.5 0.5 0.5\n")  # no confidence
    out = tmp_path / "out.json"
    table = tmp_path / "t.parquet"
    code = main(["evaluate", "--gt", str(root / "labels"), "--pred", str(root / "preds"), "--json", str(out),
                 "--table", str(table)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists() and not table.exists()
    assert err.count("\n") == 0 and "im0.txt: line 1: expected 6 fields (class cx cy w h conf), got 5" in err


def test_errors_are_aquaembed_errors() -> None:
    assert issubclass(InputError, AquaembedError) and issubclass(ParameterError, AquaembedError)


def test_unknown_coco_image_sizes_are_read_from_the_images(tmp_path: Path) -> None:
    from aquaembed.io.formats import fill_image_sizes

    (tmp_path / "img").mkdir()
    Image.new("RGB", (33, 22)).save(tmp_path / "img" / "a.png")
    gt = {"images": [{"id": 1, "file_name": "a.png", "width": 0, "height": None},
                     {"id": 2, "file_name": "gone.png"}, {"id": 3, "file_name": "b.png", "width": 5, "height": 6}],
          "categories": [{"id": 1, "name": "x"}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    ds = fill_image_sizes(load_gt(tmp_path / "gt.json"), tmp_path / "img")
    assert ds.frames.width[0] == 33 and ds.frames.height[0] == 22
    assert np.isnan(ds.frames.width[1]) and ds.frames.width[2] == 5 and ds.frames.height[2] == 6
