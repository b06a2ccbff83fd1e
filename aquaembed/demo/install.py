"""Put the demo dataset into a data directory: build it, then ingest it like user data.

The generated files (images, COCO JSON, planted.json, embeddings) go to
``<data>/_demo_build/``; the stored dataset is ``<data>/demo`` with two inference sets,
``detector`` and ``detector_v2`` (better at night, worse in daytime rain and fog; see
:mod:`aquaembed.demo.second`). ``planted.json`` is also kept inside the dataset as an artefact so the
truth travels with it.

A small training set, ``<data>/demo-train`` (built in ``<data>/_demo_build/train``), goes
with it: half of its frames from the overfitted scene (copies of the
evaluation frames of that scene: leakage), the rest other frames of the other scenes,
with frame and label-crop embeddings made the same way. ``aquaembed report --name demo
--train demo-train`` then shows why the model is suspiciously good there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from aquaembed.demo.build import build_demo
from aquaembed.demo.config import load_config
from aquaembed.demo.second import SECOND_MODEL, build_second_model
from aquaembed.demo.train import train_plan
from aquaembed.ingest import build_artifacts, ingest
from aquaembed.io.coco import load_coco_results
from aquaembed.io.embeddings import read_embeddings
from aquaembed.store import Store, StoredDataset

__all__ = ["DEMO_NAME", "DEMO_MODEL", "DEMO_MODEL_B", "BUILD_DIR", "TRAIN_NAME", "ensure_demo", "ensure_demo_train"]

DEMO_NAME = "demo"
DEMO_MODEL = "detector"
DEMO_MODEL_B = SECOND_MODEL
SECOND_STORY = "second-model"
BUILD_DIR = "_demo_build"
PLANTED = "planted"
TRAIN_NAME = "demo-train"
TRAIN_BUILD = "train"
STORY = 2
"""Version of the demo's planted story (2: label errors concentrated in annotation batches);
a stored demo of another version is built again."""


def train_size(frames: int) -> int:
    """Frames of the training set for a demo of ``frames`` frames (a fifth, at least 60)."""
    return max(60, frames // 5)


def ensure_demo_train(
    data_dir: str | os.PathLike[str],
    *,
    frames: int = 3000,
    seed: int = 0,
    rebuild: bool = False,
    progress: Callable[[str], None] | None = None,
    show_bars: bool = True,
) -> StoredDataset:
    """The demo's training set ``demo-train``, built and ingested if absent (see the module docstring)."""
    data = Path(data_dir)
    store = Store(data)
    size = train_size(frames)
    wanted = {"frames": size, "seed": int(seed), "train_of": int(frames), "story": STORY}
    sd = _stored_as(store, TRAIN_NAME, wanted, rebuild=rebuild)
    if sd is not None:
        return sd
    build = _empty_dir(data / BUILD_DIR / TRAIN_BUILD)
    _say(progress, f"building the demo's training set ({size} frames) in {build}")
    build_demo(build, seed=seed, plan=train_plan(load_config(None), size, eval_frames=frames), progress=show_bars)
    sd = ingest(
        data, TRAIN_NAME, gt=build / "gt.json", images=build / "images",
        frame_embeddings=build / "frame_embeddings.npz", label_embeddings=build / "label_embeddings.npz",
        replace=True, embed=False, source={"demo": wanted}, progress=progress, show_bars=show_bars,
    )
    return sd


def _stored_as(store: Store, name: str, wanted: dict[str, int], *, rebuild: bool) -> StoredDataset | None:
    """The stored dataset ``name`` when it was built with the ``wanted`` demo parameters."""
    if rebuild or not store.exists(name):
        return None
    sd = store.open(name)
    return sd if sd.manifest.source.get("demo") == wanted else None


def _empty_dir(path: Path) -> Path:
    """``path`` with whatever an earlier build left there removed (build_demo creates it)."""
    if path.exists():
        shutil.rmtree(path)
    return path


def _say(progress: Callable[[str], None] | None, text: str) -> None:
    if progress is not None:
        progress(text)


def ensure_demo(
    data_dir: str | os.PathLike[str],
    *,
    frames: int = 3000,
    seed: int = 0,
    rebuild: bool = False,
    progress: Callable[[str], None] | None = None,
    show_bars: bool = True,
) -> StoredDataset:
    """The demo dataset in ``data_dir``, built and ingested if absent or of another size/seed.

    Parameters
    ----------
    data_dir : path
        Data directory (created if needed).
    frames, seed : int
        Demo size and generator seed.
    rebuild : bool
        Build again even when a matching demo is stored.
    progress : callable, optional
        Receives a line of text per step.
    show_bars : bool
        Show progress bars for the long steps.
    """
    data = Path(data_dir)
    store = Store(data)
    wanted = {"frames": int(frames), "seed": int(seed), "story": STORY}
    sd = _stored_as(store, DEMO_NAME, wanted, rebuild=rebuild)
    if sd is not None and {DEMO_MODEL, DEMO_MODEL_B} <= set(sd.inference_names) and PLANTED in sd.artifact_names:
        ensure_demo_train(data, frames=frames, seed=seed, progress=progress, show_bars=show_bars)
        _say(progress, f"the demo dataset is ready in {data / DEMO_NAME}")
        return sd
    build = _empty_dir(data / BUILD_DIR)
    _say(progress, f"building the demo ({frames} frames, seed {seed}) in {build}")
    build_demo(build, frames=frames, seed=seed, progress=show_bars)
    _say(progress, "ingesting the demo")
    sd = ingest(
        data,
        DEMO_NAME,
        gt=build / "gt.json",
        images=build / "images",
        frame_embeddings=build / "frame_embeddings.npz",
        label_embeddings=build / "label_embeddings.npz",
        replace=True,
        embed=False,
        source={"demo": wanted},
        build=False,
        progress=progress,
        show_bars=show_bars,
    )
    _say(progress, f"building the second inference set {DEMO_MODEL_B!r}")
    build_second_model(build, seed=seed)
    # both sets are stored first, then the crop index and projection are built once over both
    with sd.transaction():  # one commit: both sets, their crops' index and projection, the stories
        for model, pred, emb in ((DEMO_MODEL, "pred.json", "pred_embeddings.npz"),
                                 (DEMO_MODEL_B, "pred_v2.json", "pred_v2_embeddings.npz")):
            _say(progress, f"storing the inference set {model!r}")
            sd.add_inferences(load_coco_results(build / pred, sd.dataset, name=model), replace=True,
                              source={"pred": str((build / pred).resolve())})
            ids, vec = read_embeddings(build / emb)
            sd.set_embeddings(f"pred-{model}", ids, vec, replace=True, source={"file": str((build / emb).resolve())})
        build_artifacts(sd, progress=progress, show_bars=show_bars)
        sd.write_artifact_bytes(SECOND_STORY, (build / "second_model.json").read_bytes(), suffix=".json", replace=True)
        sd.write_artifact_bytes(PLANTED, (build / "planted.json").read_bytes(), suffix=".json", replace=True)
    ensure_demo_train(data, frames=frames, seed=seed, rebuild=True, progress=progress, show_bars=show_bars)
    _say(progress, f"the demo dataset is ready in {data / DEMO_NAME}")
    return store.open(DEMO_NAME)

