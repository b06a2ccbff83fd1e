"""Shared test data: stores, datasets and helpers that several test modules build on.

Test modules import from here (``from factories import ...``), never from each other.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aquaembed.data import ClassMap, Dataset, Frames, Inferences, Labels
from aquaembed.embeddings.projection import Projection
from aquaembed.ingest import build_artifacts
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.matching import Candidates, build_candidates
from aquaembed.store import Store, StoredDataset
from aquaembed.synthetic import write_coco

DS = "harbour"
SCENES = ("reef", "harbour", "open water")

# --------------------------------------------------------------------------- data


def make_candidates(
    labels: list[Any], preds: list[Any], *, n_classes: int = 3, n_frames: int = 1, crowd: Any = None
) -> Candidates:
    """Candidates of a hand-written case: labels ``(frame, cls, box)``, inferences
    ``(frame, cls, box, score)``; frames 0..n_frames-1 get ids 100, 101, ...; label ids
    are 1000, 1001, ... in list order."""
    classes = ClassMap(np.arange(1, n_classes + 1), tuple(f"c{i}" for i in range(n_classes)))
    frames = Frames(
        np.arange(n_frames) + 100, np.array([""] * n_frames, dtype=object), np.full(n_frames, 640.0), np.full(n_frames, 480.0)
    )
    lab = Labels(
        id=np.arange(len(labels)) + 1000,
        frame=[x[0] for x in labels],
        cls=[x[1] for x in labels],
        box=np.array([x[2] for x in labels], dtype=float).reshape(-1, 4),
        area=np.ones(len(labels)),
        crowd=np.zeros(len(labels), bool) if crowd is None else np.asarray(crowd, bool),
    )
    inf = Inferences(
        frame=[x[0] for x in preds],
        cls=[x[1] for x in preds],
        box=np.array([x[2] for x in preds], dtype=float).reshape(-1, 4),
        score=[x[3] for x in preds],
    )
    return build_candidates(Dataset(classes, frames, lab, {"model": inf}), inf)


BLUE, RED = (20, 40, 220), (230, 20, 20)
"""Colour of the frames' images inside the image root, and of a file outside it."""


def _write_images(root: Path, frames: Frames) -> np.ndarray:
    """Blue JPEGs for the first four frames; frames 4-6 point outside the image root.

    Frame 4's file name is ``../outside.jpg``, frame 5's an absolute path to it, frame 6
    a symlink inside the root that leaves it; ``outside.jpg`` is red.
    """
    images = root / "images"
    images.mkdir()
    names = frames.file_name.copy()
    for i in range(4):
        Image.new("RGB", (int(frames.width[i]), int(frames.height[i])), BLUE).save(images / str(names[i]))
    outside = root / "outside.jpg"
    Image.new("RGB", (64, 48), RED).save(outside)
    names[4] = "../outside.jpg"
    names[5] = str(outside)
    (images / "link.jpg").symlink_to(outside)
    names[6] = "link.jpg"
    return names


def quick_projection(vectors: Any, *, seed: int = 0, **_: Any) -> Projection:
    """Stand-in for UMAP (whose numba compilation would dominate the test time)."""
    x = np.asarray(vectors, dtype=np.float64)
    coords = (x[:, :2] + np.random.default_rng(seed).normal(0, 1e-3, (x.shape[0], 2))).astype(np.float32)
    return Projection(coords, f"quick-{x.shape[0]}-{seed}", False, None)


def store_generated(data: Path, name: str, gen: Any, *, preds: bool = True) -> StoredDataset:
    """Store a generated dataset (``aquaembed.synthetic_failures``) with its embeddings and
    the ingest's artefacts (projections by :func:`quick_projection`)."""
    sd = Store(data).create(name, gen.dataset)
    sd.set_embeddings("frame", gen.dataset.frames.id, gen.frame_vectors)
    sd.set_embeddings("label", gen.dataset.labels.id, gen.label_vectors)
    if preds:
        sd.set_embeddings("pred-model", gen.pred_ids, gen.pred_vectors)
    build_artifacts(sd, projector=quick_projection)
    return sd


def _build_artifacts(stored: StoredDataset) -> None:
    """The ingest's FAISS indexes, crop table and projections (projections by :func:`quick_projection`)."""
    build_artifacts(stored, projector=quick_projection)


def build_store(root: Path, *, n_frames: int = 40, seed: int = 3) -> Path:
    """Write a data directory with two datasets and return its path.

    ``harbour``: ``n_frames`` synthetic frames, 4 classes, two inference sets (``yolo``
    and a jittered copy ``detr``), metadata ``scene`` (text), ``depth`` (float, one NaN),
    ``camera`` (int) and ``night`` (bool), random frame / label / prediction
    embeddings, and an image root (see :func:`_write_images`). ``solo``: 12 frames and a single inference set ``only``.
    """
    data = root / "data"
    store = Store(data)
    gt_path, pred_path = write_coco(root / "src", n_frames, n_classes=4, labels_per_frame=4, preds_per_frame=8, seed=seed)
    base = load_coco_gt(gt_path)
    yolo = load_coco_results(pred_path, base, name="yolo")
    rng = np.random.default_rng(seed)
    jitter = rng.normal(0.0, 3.0, yolo.box.shape)
    box = yolo.box + jitter
    box[:, 2:] = np.maximum(box[:, 2:], box[:, :2] + 1.0)
    detr = Inferences(yolo.frame, yolo.cls, box, np.clip(yolo.score * rng.uniform(0.7, 1.1, len(yolo)), 0, 1), name="detr")
    n = len(base.frames)
    file_names = _write_images(root, base.frames)
    depth = rng.uniform(0.0, 30.0, n)
    depth[1] = np.nan
    frames = Frames(
        base.frames.id,
        file_names,
        base.frames.width,
        base.frames.height,
        metadata={
            "scene": np.array(SCENES)[np.arange(n) % 3],
            "depth": depth,
            "camera": (np.arange(n) % 2).astype(np.int64),
            "night": np.arange(n) % 4 == 0,
        },
    )
    stored = store.create(
        DS,
        Dataset(base.classes, frames, base.labels, {"yolo": yolo, "detr": detr}),
        source={"images": str(root / "images")},
    )
    stored.set_embeddings("frame", frames.id, rng.normal(size=(n, 8)))
    stored.set_embeddings("label", base.labels.id, rng.normal(size=(len(base.labels), 6)))
    stored.set_embeddings("pred-yolo", np.arange(len(yolo)), rng.normal(size=(len(yolo), 6)))
    _build_artifacts(stored)

    gt2, pred2 = write_coco(root / "src2", 12, n_classes=3, labels_per_frame=3, preds_per_frame=5, seed=seed + 1)
    solo = load_coco_gt(gt2)
    store.create("solo", solo.with_inferences(load_coco_results(pred2, solo, name="only")))
    return data


def same_json(a: Any) -> Any:
    """``a`` as it reads back from JSON (NaN -> null)."""
    return json.loads(json.dumps(a, allow_nan=True).replace("NaN", "null"))




# --------------------------------------------------------------------------- writers' inputs


def write_embeddings(path: Path, ids: Any, dim: int, seed: int) -> Path:
    """An embeddings ``.npz`` (``ids``, ``embeddings``) of random non-zero vectors."""
    rng = np.random.default_rng(seed)
    np.savez(path, ids=np.asarray(ids, dtype=np.int64), embeddings=rng.normal(size=(len(ids), dim)).astype(np.float32))
    return path


def two_states(root: Path, frames: tuple[int, int] = (20, 30)) -> dict[str, Path]:
    """Inputs of two different datasets (A, B) and of two results files over A.

    Keys: ``gt_a``/``gt_b`` (COCO ground truths with ``frames`` frames), ``frames_a``/
    ``labels_a``/``frames_b``/``labels_b`` (their embedding files), ``pred_a``/``pred_b``
    (results over A) with ``predemb_a``/``predemb_b``.
    """
    paths: dict[str, Path] = {}
    for tag, n, seed in (("a", frames[0], 1), ("b", frames[1], 2)):
        gt, pred = write_coco(root / tag, n, n_classes=4, labels_per_frame=3, preds_per_frame=5, seed=seed)
        doc = json.loads(gt.read_text())
        paths[f"gt_{tag}"] = gt
        paths[f"frames_{tag}"] = write_embeddings(root / f"frames_{tag}.npz", [im["id"] for im in doc["images"]], 8, seed)
        paths[f"labels_{tag}"] = write_embeddings(root / f"labels_{tag}.npz", [a["id"] for a in doc["annotations"]], 6, seed + 9)
        if tag == "a":
            paths["pred_a"] = pred
    preds = json.loads(paths["pred_a"].read_text())
    kept = [dict(p, score=round(p["score"] * 0.8, 4)) for i, p in enumerate(preds) if i % 3]
    paths["pred_b"] = root / "pred_b.json"
    paths["pred_b"].write_text(json.dumps(kept))
    paths["predemb_a"] = write_embeddings(root / "predemb_a.npz", range(len(preds)), 6, 21)
    paths["predemb_b"] = write_embeddings(root / "predemb_b.npz", range(len(kept)), 6, 22)
    return paths


def content_signature(data: Path, name: str) -> str:
    """A digest of everything a reader sees of a dataset: tables, embeddings, artefacts.

    Raises whatever reading raises (a torn or mixed dataset does not read cleanly, or
    reads to a digest equal to neither complete state).
    """
    import hashlib

    def h(*arrays: Any) -> str:
        d = hashlib.sha256()
        for a in arrays:
            a = np.ascontiguousarray(np.asarray(a))
            d.update(f"{a.dtype}{a.shape}".encode())
            d.update(a.tobytes() if a.dtype.kind != "O" else repr(a.tolist()).encode())
        return d.hexdigest()[:16]

    sd = Store(data).open(name)
    ds = sd.dataset
    sig: dict[str, Any] = {
        "frames": h(ds.frames.id), "labels": h(ds.labels.id, ds.labels.box),
        "inferences": {n: h(i.box, i.score) for n, i in ds.inferences.items()},
        "embeddings": {k: h(*sd.embeddings(k)) for k in sd.embedding_kinds}, "artifacts": {},
    }
    for art in sd.artifact_names:
        if (sd.artifact_info(art) or {}).get("kind") == "array":
            sig["artifacts"][art] = h(sd.load_array(art))
        else:
            path = sd.artifact_path(art)
            sig["artifacts"][art] = h(np.frombuffer((path / "index.faiss").read_bytes(), np.uint8)) if path.is_dir() else h(
                np.frombuffer(path.read_bytes(), np.uint8))
    return json.dumps(sig, sort_keys=True)


# --------------------------------------------------------------------------- a served data directory


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(data_dir: Path, log: Path, *, code: str | None = None) -> Iterator[str]:
    """``aquaembed.service.serve(data_dir)`` in a subprocess on loopback; yields its base URL.

    ``code`` replaces the Python statement that starts it (``{data}`` and ``{port}`` are
    filled in). Stops it with SIGINT at the end.
    """
    import signal
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    stmt = (code or "from aquaembed.service import serve; serve({data!r}, host='127.0.0.1', port={port}, log_level='warning')")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", stmt.format(data=str(data_dir), port=port)], stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start within 90 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
# --------------------------------------------------------------------------- label issues


def label_issue_case() -> tuple[Dataset, Inferences]:
    """One frame (id 7) with one planted label issue of every kind (see the comments)."""
    CAR, TRUCK, PERSON = 0, 1, 2
    classes = ClassMap(np.array([1, 2, 3]), ["car", "truck", "person"])
    frames = Frames(np.array([7]), np.array(["a.jpg"], dtype=object), np.array([640.0]), np.array([480.0]))
    lbox = np.array([
        [0, 0, 10, 10],        # 0 car, well detected
        [20, 0, 30, 10],       # 1 car, seen as a truck
        [100, 0, 110, 20],     # 2 person, inference shifted: IoU 0.4286
        [200, 0, 210, 20],     # 3 person
        [200.5, 0, 210, 20],   # 4 person, duplicate of 3
        [300, 300, 310, 310],  # 5 car, nothing near it
    ], dtype=float)
    labels = Labels(np.array([11, 12, 13, 14, 15, 16]), np.zeros(6, int), np.array([CAR, CAR, PERSON, PERSON, PERSON, CAR]),
                    lbox, (lbox[:, 2] - lbox[:, 0]) * (lbox[:, 3] - lbox[:, 1]), np.zeros(6, bool))
    pbox = np.array([
        [0, 0, 10, 10],      # 0 car .9 on label 0
        [20, 0, 30, 10],     # 1 truck .8 on label 1
        [50, 50, 60, 60],    # 2 car .7 on nothing: missing label
        [104, 0, 114, 20],   # 3 person .9 on label 2, IoU 0.4286
        [200, 0, 210, 20],   # 4 person .95 on labels 3/4
        [50, 50, 60, 61],    # 5 car .6, a duplicate detection of 2
    ], dtype=float)
    inf = Inferences(np.zeros(6, int), np.array([CAR, TRUCK, CAR, PERSON, PERSON, CAR]), pbox,
                     np.array([0.9, 0.8, 0.7, 0.9, 0.95, 0.6]), name="m")
    return Dataset(classes, frames, labels, {"m": inf}), inf
