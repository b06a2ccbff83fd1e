"""ONNX embedder: a tiny model built with onnx.helper, checked against a direct forward pass.

The reference side does its own cropping, padding, resizing and normalisation with
PIL and numpy and its own matrix product with the model's weights; the embedder
under test loads the file, reads the preprocessing from the model's metadata and
runs ONNX Runtime.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

onnx = pytest.importorskip("onnx", reason="onnx builds the test models (pip install 'aquaembed[test]')")
pytest.importorskip("onnxruntime", reason="the ONNX embedder needs onnxruntime (pip install 'aquaembed[onnx]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from aquaembed.cli import main  # noqa: E402
from aquaembed.embeddings.pretrained import load_embedder, parse_spec, pool_output  # noqa: E402
from aquaembed.errors import InputError, ParameterError  # noqa: E402

SIZE, DIM = 16, 5
MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights come from disk only: any connection attempt fails the test."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a network connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _linear_model(path: Path, *, tokens: bool = False, meta: bool = True, seed: int = 0) -> np.ndarray:
    """Write ``pixels (N,3,S,S) -> embedding`` and return the weights.

    ``tokens=False``: ``flatten(x) @ W`` with W (3*S*S, DIM), output (N, DIM).
    ``tokens=True``: ``reshape(x, (N, 3, S*S)) @ W`` with W (S*S, DIM), output (N, 3, DIM):
    three "tokens", of which the embedder must take the first.
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(SIZE * SIZE, DIM) if tokens else (3 * SIZE * SIZE, DIM)).astype(np.float32)
    nodes = []
    inits = [numpy_helper.from_array(w, "W")]
    if tokens:
        inits.append(numpy_helper.from_array(np.array([0, 3, SIZE * SIZE], dtype=np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["pixels", "shape"], ["flat"]))
        out_shape = ["N", 3, DIM]
    else:
        nodes.append(helper.make_node("Flatten", ["pixels"], ["flat"], axis=1))
        out_shape = ["N", DIM]
    nodes.append(helper.make_node("MatMul", ["flat", "W"], ["embedding"]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if meta:
        helper.set_model_props(model, {"aquaembed.mean": ",".join(map(str, MEAN)), "aquaembed.std": ",".join(map(str, STD))})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return w


def _reference(image: Image.Image, square: tuple[int, int, int, int], w: np.ndarray, *, tokens: bool = False) -> np.ndarray:
    """Crop (padding outside the image with the mean colour), resize, normalise, multiply."""
    x1, y1, x2, y2 = square
    fill = tuple(round(m * 255) for m in MEAN)
    canvas = np.empty((y2 - y1, x2 - x1, 3), dtype=np.uint8)
    canvas[:] = fill
    src = np.asarray(image)
    ys, xs = slice(max(y1, 0), min(y2, image.height)), slice(max(x1, 0), min(x2, image.width))
    canvas[ys.start - y1 : ys.stop - y1, xs.start - x1 : xs.stop - x1] = src[ys, xs]
    px = np.asarray(Image.fromarray(canvas).resize((SIZE, SIZE), Image.BILINEAR), dtype=np.float32) / 255.0
    x = ((px - np.array(MEAN, np.float32)) / np.array(STD, np.float32)).transpose(2, 0, 1)
    if tokens:
        return x[0].reshape(-1) @ w
    return x.reshape(-1) @ w


def _image(seed: int = 1, size: tuple[int, int] = (64, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize("tokens", [False, True])
def test_crops_match_a_direct_forward_pass(tmp_path: Path, tokens: bool) -> None:
    path = tmp_path / "m.onnx"
    w = _linear_model(path, tokens=tokens)
    model = load_embedder(f"onnx:{path}?context=0")
    assert model.prep.size == SIZE and model.prep.mean == MEAN and model.prep.std == STD  # read from the model
    image = _image()
    boxes = np.array([[10, 20, 30, 30], [0, 0, 10, 40], [50, 40, 64, 48]], dtype=float)
    # squares by hand: centred on the box, side = the longer side
    squares = [(10, 15, 30, 35), (-15, 0, 25, 40), (50, 37, 64, 51)]
    got = model.embed_crops(image, boxes)
    expected = np.stack([_reference(image, s, w, tokens=tokens) for s in squares])
    assert got.shape == (3, DIM)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_context_grows_the_square(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    w = _linear_model(path)
    model = load_embedder(f"onnx:{path}?context=0.25")
    image = _image()
    got = model.embed_crops(image, np.array([[20.0, 20.0, 28.0, 24.0]]))
    # longer side 8, grown by 0.25 * 8 on each side: 12, centred on (24, 22)
    np.testing.assert_allclose(got[0], _reference(image, (18, 16, 30, 28), w), rtol=1e-4, atol=1e-4)


def test_options_override_the_model_and_defaults_apply_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    _linear_model(path, meta=False)
    model = load_embedder(f"onnx:{path}")
    assert model.prep.size == SIZE  # the input's static height
    assert model.prep.mean == (0.485, 0.456, 0.406)
    model = load_embedder(f"onnx:{path}?mean=0.1,0.2,0.3&std=1,1,1")
    assert model.prep.mean == (0.1, 0.2, 0.3) and model.prep.std == (1.0, 1.0, 1.0)


def test_embed_coco_equals_per_image_crops(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    _linear_model(path)
    model = load_embedder(f"onnx:{path}")
    (tmp_path / "img").mkdir()
    images = []
    anns, preds = [], []
    for i in range(5):
        im = _image(seed=i, size=(40 + 4 * i, 30))
        im.save(tmp_path / "img" / f"{i}.png")
        images.append({"id": 10 + i, "file_name": f"{i}.png"})
        anns.append({"id": 100 + i, "image_id": 10 + i, "bbox": [2, 3, 10 + i, 7]})
        preds.append({"image_id": 10 + i, "bbox": [5, 5, 8, 8]})
    anns.append({"id": 200, "image_id": 10, "bbox": [20, 10, 5, 15]})
    emb = model.embed_coco(tmp_path / "img", {"images": images, "annotations": anns}, preds, batch_size=3, threads=2)
    assert emb.frame_ids.tolist() == [10, 11, 12, 13, 14] and emb.label_ids.tolist() == [100, 101, 102, 103, 104, 200]
    for j, a in enumerate(anns):
        im = Image.open(tmp_path / "img" / f"{a['image_id'] - 10}.png").convert("RGB")
        x, y, bw, bh = a["bbox"]
        np.testing.assert_allclose(emb.labels[j], model.embed_crops(im, np.array([[x, y, x + bw, y + bh]]))[0], rtol=1e-5, atol=1e-5)
    im0 = Image.open(tmp_path / "img" / "0.png")
    np.testing.assert_allclose(emb.frames[0], model.embed_frames([im0])[0], rtol=1e-5, atol=1e-5)
    assert emb.preds.shape == (5, DIM) and np.abs(emb.preds).sum(axis=1).min() > 0


@pytest.mark.slow
def test_ingest_the_demo_with_an_onnx_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's frames and crops embedded by an ONNX model from disk, through the CLI."""
    from aquaembed.demo import build_demo
    from aquaembed.store import Store

    path = tmp_path / "m.onnx"
    _linear_model(path)
    demo = tmp_path / "demo"
    build_demo(demo, frames=15, seed=0, workers=1)
    data = tmp_path / "data"
    assert main(["ingest", "--data", str(data), "--name", "d", "--gt", str(demo / "gt.json"), "--images",
                 str(demo / "images"), "--embedder", f"onnx:{path}"]) == 0
    assert main(["add-inferences", "--data", str(data), "--name", "d", "--model", "m", "--pred", str(demo / "pred.json")]) == 0
    capsys.readouterr()
    sd = Store(data).open("d")
    gt = json.loads((demo / "gt.json").read_text())
    _, vec = sd.embeddings("label")
    assert vec.shape == (len(gt["annotations"]), DIM)
    assert sd.manifest.embeddings["label"]["source"]["embedder"] == f"onnx:{path}"
    assert sd.manifest.embeddings["pred-m"]["source"]["embedder"] == f"onnx:{path}"  # same model for the inferences
    _, pred_vec = sd.embeddings("pred-m")
    assert pred_vec.shape[1] == DIM


def test_errors_are_one_line_and_name_the_place(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_embedder(f"onnx:{tmp_path / 'missing.onnx'}")
    assert "no model file" in str(info.value) and str(tmp_path / "missing.onnx") in str(info.value)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(InputError, match="ONNX Runtime cannot load the model"):
        load_embedder(f"onnx:{tmp_path / 'junk.onnx'}")
    with pytest.raises(ParameterError, match="expected builtin, onnx:PATH"):
        parse_spec("resnet")
    with pytest.raises(ParameterError, match="unknown option 'sz'"):
        parse_spec("onnx:m.onnx?sz=3")


def test_pool_output_shapes() -> None:
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(pool_output(x), x.mean(axis=(2, 3)))
    np.testing.assert_array_equal(pool_output(x[:, :, :, 0]), x[:, 0, :, 0])
    with pytest.raises(InputError):
        pool_output(x[None])
