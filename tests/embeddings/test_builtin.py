"""The built-in embedder: shapes, determinism, batch independence, meaningful features."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from aquaembed.embeddings.builtin import (
    CROP_DIM,
    FRAME_DIM,
    FRAME_RAW_DIM,
    crop_features,
    crop_pixels,
    embed_coco,
    embed_crops,
    embed_images,
    frame_features,
    frame_pixels,
    project,
    rgb_to_lab,
)
from aquaembed.errors import InputError, ParameterError


def _scene(seed: int, *, car: tuple[int, int, int] = (200, 30, 30), dx: int = 0) -> Image.Image:
    """A small street: sky, ground, a red car and a person."""
    rng = np.random.default_rng(seed)
    arr = np.zeros((384, 640, 3), dtype=np.uint8)
    arr[:150] = (90, 140, 220)
    arr[150:] = (110, 110, 105)
    arr = np.clip(arr + rng.normal(0, 3, arr.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    d = ImageDraw.Draw(img)
    d.rectangle((100 + dx, 200, 300 + dx, 280), fill=car)
    d.ellipse((420 + dx, 160, 440 + dx, 180), fill=(230, 190, 160))
    d.rectangle((415 + dx, 180, 445 + dx, 300), fill=(40, 60, 200))
    return img


BOXES = np.array([[100, 200, 300, 280], [412, 158, 448, 300], [0, 0, 50, 40], [630, 380, 640, 384]], dtype=np.float64)


def test_rgb_to_lab_reference_values() -> None:
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8))
    # Reference values (D65) from the CIE formulas.
    expected = np.array(
        [[100.0, 0.0, 0.0], [0.0, 0.0, 0.0], [53.24, 80.09, 67.20], [87.73, -86.18, 83.18], [32.30, 79.19, -107.86]]
    )
    np.testing.assert_allclose(lab, expected, atol=0.1)


def test_shapes_dtypes_and_unit_norm() -> None:
    imgs = [_scene(0), _scene(1)]
    f = embed_images(imgs)
    assert f.shape == (2, FRAME_DIM) and f.dtype == np.float32
    assert embed_images(imgs, dim=None).shape == (2, FRAME_RAW_DIM)
    c = embed_crops(imgs[0], BOXES)
    assert c.shape == (4, CROP_DIM) and c.dtype == np.float32
    for v in (f, c):
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert embed_crops(imgs[0], np.zeros((0, 4))).shape == (0, CROP_DIM)
    assert embed_images([]).shape == (0, FRAME_DIM)


def test_pil_and_array_inputs_agree() -> None:
    img = _scene(0)
    arr = np.asarray(img)
    np.testing.assert_array_equal(embed_images([img]), embed_images(arr[None]))
    np.testing.assert_array_equal(embed_crops(img, BOXES), embed_crops(arr, BOXES))


def test_deterministic_and_batch_independent() -> None:
    img = _scene(3)
    a = embed_crops(img, BOXES)
    np.testing.assert_array_equal(a, embed_crops(img, BOXES))
    for i in range(BOXES.shape[0]):
        np.testing.assert_array_equal(embed_crops(img, BOXES[i : i + 1])[0], a[i])
    thumbs = np.stack([frame_pixels(_scene(s)) for s in range(3)])
    raw = frame_features(thumbs)
    np.testing.assert_array_equal(frame_features(thumbs[1:2])[0], raw[1])


def test_similar_things_are_closer_than_different_things() -> None:
    a, b = _scene(0), _scene(1, dx=3)  # same street, other noise, camera moved 3 px
    other = Image.fromarray(np.full((384, 640, 3), (20, 20, 40), dtype=np.uint8))
    fa, fb, fo = embed_images([a, b, other])
    assert fa @ fb > 0.9 and fa @ fb > fa @ fo + 0.3
    car_a = embed_crops(a, BOXES[:1])[0]
    car_b = embed_crops(b, BOXES[:1] + [3, 0, 3, 0])[0]
    blue_car = embed_crops(_scene(0, car=(30, 60, 200)), BOXES[:1])[0]
    person = embed_crops(a, BOXES[1:2])[0]
    assert car_a @ car_b > 0.95
    assert car_a @ car_b > car_a @ blue_car > car_a @ person


def test_gradient_orientation_follows_the_edges() -> None:
    vertical = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    vertical[:, :, 16:] = 255
    horizontal = vertical.transpose(0, 2, 1, 3).copy()
    wh = np.array([[32.0, 32.0]])
    v, h = crop_features(vertical, wh), crop_features(horizontal, wh)
    assert v @ h.T < 0.99  # same colours and shape, different edges
    np.testing.assert_allclose(crop_features(vertical, wh), v)


def test_aspect_ratio_is_kept_although_crops_are_square() -> None:
    img = _scene(0)
    tall = embed_crops(img, [[412, 158, 448, 300]])[0]
    wide = embed_crops(img, [[100, 200, 300, 280]])[0]
    squat = crop_features(crop_pixels(img, [[412, 158, 448, 300]]), [[142.0, 36.0]])[0]
    assert tall @ squat < 0.95 and tall @ wide < tall @ tall


def test_crops_at_the_border_and_tiny_boxes() -> None:
    img = _scene(0)
    boxes = np.array([[0, 0, 0.2, 0.3], [639.5, 383.5, 640, 384], [-5, -5, 10, 10]])
    out = crop_pixels(img, boxes)
    assert out.shape == (3, 32, 32, 3)
    assert np.isfinite(embed_crops(img, boxes)).all()


def test_bad_inputs_are_rejected() -> None:
    img = _scene(0)
    with pytest.raises(InputError, match="negative width"):
        embed_crops(img, [[10, 10, 5, 20]])
    with pytest.raises(InputError, match="shape"):
        embed_crops(img, [[1, 2, 3]])
    with pytest.raises(ParameterError, match="pad"):
        embed_crops(img, BOXES, pad=-0.1)
    with pytest.raises(InputError, match="uint8"):
        embed_crops(np.zeros((10, 10)), BOXES)
    with pytest.raises(InputError, match="batch"):
        embed_images(np.zeros((10, 10, 3), dtype=np.uint8))
    with pytest.raises(ParameterError, match="dim"):
        project(np.ones((2, 8), np.float32), dim=1)


def test_projection_is_fixed_and_preserves_similarity() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 300)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    p1, p2 = project(v, dim=128), project(v, dim=128)
    np.testing.assert_array_equal(p1, p2)
    assert p1.shape == (50, 128)
    err = np.abs(p1 @ p1.T - v @ v.T)
    assert err.max() < 0.45 and err.mean() < 0.1


def test_embed_coco_orders_vectors_by_annotation_and_position(tmp_path) -> None:
    images = tmp_path / "img"
    images.mkdir()
    for i in (1, 2):
        _scene(i).save(images / f"{i}.png")
    gt = {
        "images": [{"id": 2, "file_name": "2.png"}, {"id": 1, "file_name": "1.png"}],
        "annotations": [
            {"id": 10, "image_id": 1, "bbox": [100, 200, 200, 80]},
            {"id": 11, "image_id": 2, "bbox": [412, 158, 36, 142]},
            {"id": 12, "image_id": 1, "bbox": [412, 158, 36, 142]},
        ],
    }
    preds = [{"image_id": 2, "bbox": [100, 200, 200, 80]}, {"image_id": 1, "bbox": [0, 0, 50, 40]}]
    out = embed_coco(images, gt, preds, workers=1)
    assert out.frame_ids.tolist() == [2, 1] and out.label_ids.tolist() == [10, 11, 12]
    assert out.pred_ids.tolist() == [0, 1]
    one = Image.open(images / "1.png").convert("RGB")
    np.testing.assert_array_equal(out.labels[0], embed_crops(one, [[100, 200, 300, 280]])[0])
    np.testing.assert_array_equal(out.labels[2], embed_crops(one, [[412, 158, 448, 300]])[0])
    np.testing.assert_array_equal(out.preds[1], embed_crops(one, [[0, 0, 50, 40]])[0])
    assert out.frames.shape == (2, FRAME_DIM)
    with pytest.raises(InputError, match="unknown image_id"):
        embed_coco(images, gt, [{"image_id": 9, "bbox": [0, 0, 1, 1]}], workers=1)
    with pytest.raises(InputError, match="cannot read"):
        embed_coco(images, {"images": [{"id": 1, "file_name": "nope.png"}], "annotations": []}, workers=1)
