"""timm and open_clip embedders: tiny models with random weights saved to disk, checked
against a direct forward pass of the same model on independently preprocessed crops.

Skipped when torch is not installed (CI installs only the light extras: the ``[torch]``
extra is several GB); the ONNX embedder's tests run everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="the [torch] extra is not installed (pip install 'aquaembed[torch]')")
timm = pytest.importorskip("timm", reason="the [torch] extra is not installed (pip install 'aquaembed[torch]')")

from aquaembed.embeddings.pretrained import load_embedder  # noqa: E402
from aquaembed.errors import InputError  # noqa: E402


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights come from disk only: any connection attempt fails the test."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a network connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _image(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))


def _direct(model, image: Image.Image, square: tuple[int, int, int, int], size: int, mean, std, resample) -> np.ndarray:
    """Crop (inside the image), resize, normalise with torch ops, forward: the reference."""
    crop = image.crop(square).resize((size, size), resample)
    x = torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255.0).permute(2, 0, 1)
    x = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    with torch.no_grad():
        return model(x[None].float())[0].numpy()


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_timm_from_a_weights_file_matches_a_direct_forward_pass(tmp_path: Path, suffix: str) -> None:
    torch.manual_seed(0)
    ref = timm.create_model("resnet18", pretrained=False, num_classes=0).eval()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(ref.state_dict(), str(path))
    else:
        torch.save({"state_dict": ref.state_dict()}, path)
    model = load_embedder(f"timm:resnet18@{path}?size=64&context=0")
    cfg = ref.pretrained_cfg
    assert model.prep.mean == tuple(cfg["mean"]) and model.prep.interpolation == "bicubic"
    image = _image()
    boxes = np.array([[10.0, 10.0, 40.0, 30.0], [40.0, 20.0, 60.0, 50.0]])
    squares = [(10, 5, 40, 35), (35, 20, 65, 50)]  # centred squares of side = the longer side
    got = model.embed_crops(image, boxes)
    expected = np.stack([_direct(ref, image, s, 64, cfg["mean"], cfg["std"], Image.BICUBIC) for s in squares])
    assert got.shape == (2, 512)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_timm_weights_from_the_local_cache_and_the_error_without_them(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(InputError) as info:
        load_embedder("timm:resnet18")
    msg = str(info.value)
    assert "\n" not in msg and "no weights on disk" in msg
    assert str(cache / "models--timm--resnet18.a1_in1k") in msg and str(tmp_path / "torch") in msg
    # put weights where the Hugging Face cache keeps them: found, no network involved
    snapshot = cache / "models--timm--resnet18.a1_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    ref = timm.create_model("resnet18", pretrained=False, num_classes=0).eval()
    from safetensors.torch import save_file

    save_file(ref.state_dict(), str(snapshot / "model.safetensors"))
    model = load_embedder("timm:resnet18?size=32")
    assert model.weights == snapshot / "model.safetensors"
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(model.forward(x), ref(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)


def test_timm_wrong_weights_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    other = timm.create_model("resnet10t", pretrained=False, num_classes=0)
    save_file(other.state_dict(), str(tmp_path / "w.safetensors"))
    with pytest.raises(InputError, match=r"not weights of timm resnet18|cannot read the weights"):
        load_embedder(f"timm:resnet18@{tmp_path / 'w.safetensors'}")


def test_open_clip_tiny_tower_matches_encode_image(tmp_path: Path) -> None:
    open_clip = pytest.importorskip("open_clip", reason="open_clip is not installed (pip install 'aquaembed[torch]')")
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    (config_dir / "tiny-vit.json").write_text(json.dumps({
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
    }))
    open_clip.add_model_config(config_dir)
    torch.manual_seed(0)
    ref = open_clip.create_model("tiny-vit", pretrained=None).eval()
    torch.save(ref.state_dict(), tmp_path / "tiny.bin")
    model = load_embedder(f"open_clip:tiny-vit@{tmp_path / 'tiny.bin'}?context=0")
    assert model.prep.size == 32
    image = _image(3)
    got = model.embed_crops(image, np.array([[10.0, 10.0, 40.0, 30.0]]))
    mean, std = model.prep.mean, model.prep.std
    expected = _direct(ref.encode_image, image, (10, 5, 40, 35), 32, mean, std, Image.BICUBIC)
    np.testing.assert_allclose(got[0], expected, rtol=1e-3, atol=1e-5)
    with pytest.raises(InputError, match="give a pretrained tag"):
        load_embedder("open_clip:tiny-vit")


@pytest.mark.slow
def test_ingest_the_demo_with_a_timm_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import save_file

    from aquaembed.cli import main
    from aquaembed.demo import build_demo
    from aquaembed.store import Store

    ref = timm.create_model("resnet10t", pretrained=False, num_classes=0)
    save_file(ref.state_dict(), str(tmp_path / "w.safetensors"))
    demo = tmp_path / "demo"
    build_demo(demo, frames=15, seed=0, workers=1)
    spec = f"timm:resnet10t@{tmp_path / 'w.safetensors'}?size=64"
    assert main(["ingest", "--data", str(tmp_path / "data"), "--name", "d", "--gt", str(demo / "gt.json"),
                 "--images", str(demo / "images"), "--embedder", spec]) == 0
    capsys.readouterr()
    sd = Store(tmp_path / "data").open("d")
    _, vec = sd.embeddings("label")
    assert vec.shape == (len(json.loads((demo / "gt.json").read_text())["annotations"]), 512)
    assert sd.manifest.embeddings["frame"]["source"]["embedder"] == spec
