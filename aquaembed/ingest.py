"""Ingest: COCO files and embeddings into the store, with FAISS indexes and projections.

Everything heavy happens here, once, so that opening and serving a dataset is instant:

* :func:`ingest` stores a ground truth (and frame / label-crop embeddings, given as
  files or computed by the built-in embedder from ``images``);
* :func:`add_inferences` stores one named inference set (and its crop embeddings);
* both then call :func:`build_artifacts`, which (re)builds what depends on the
  embeddings: the frame index and projection, and the crop index and projection over
  the label crops and every inference set's crops (one index, each vector's source
  recorded).

Every input is read and validated before anything is written, and each call is one
store transaction (:mod:`aquaembed.store`): the tables, embeddings, indexes and
projections it writes become visible together with one manifest switch, so a refused,
failed or killed call changes nothing on disk. Projections are also cached by content in
``<data>/.cache/projections`` (outside any dataset), so re-ingesting the same
embeddings reuses them.

Embedding files: ``.npz`` with arrays ``ids`` and ``embeddings`` (n x d), or Parquet
with columns ``id`` and ``embedding`` (a list of floats per row). Frame ids are COCO
image ids, label crop ids COCO annotation ids, inference crop ids 0-based positions in
the results file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aquaembed._typing import BoxFormat, Difficult
from aquaembed.artifacts import (
    BUILTIN_EMBEDDER,
    CROP_INDEX,
    CROP_KNN,
    CROP_KNN_SIM,
    CROP_PROJECTION,
    CROP_TABLE,
    FRAME_INDEX,
    FRAME_PROJECTION,
    crop_sources,
)
from aquaembed.data import Dataset, Inferences
from aquaembed.embeddings.index import VectorIndex
from aquaembed.embeddings.projection import DEFAULT_SAMPLE_SIZE, Projection, project_with_info
from aquaembed.errors import InputError, StoreError
from aquaembed.geometry import xyxy_to_xywh
from aquaembed.io.embeddings import read_embeddings
from aquaembed.io.formats import fill_image_sizes, load_gt, load_inferences
from aquaembed.store import Store, StoredDataset, validate_embeddings

__all__ = ["ingest", "add_inferences", "build_artifacts"]


Progress = Callable[[str], None]
Projector = Callable[..., Projection]
"""What builds a 2-D projection: ``(vectors, *, seed, cache_dir, knn, progress) -> Projection``."""


def _say(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


def _check_cover(name: str, ids: np.ndarray, expected: np.ndarray, what: str) -> None:
    """All expected ids exactly once, nothing else (the store checks again when writing)."""
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise InputError(f"{name}: {what} id {int(uniq[counts > 1][0])} appears more than once")
    unknown = np.setdiff1d(uniq, expected)
    if unknown.size:
        raise InputError(f"{name}: unknown {what} id {int(unknown[0])} (not in the dataset)")
    missing = np.setdiff1d(expected, uniq)
    if missing.size:
        raise InputError(
            f"{name}: {missing.size} {what}s have no embedding (e.g. id {int(missing[0])}); give all {what}s or none"
        )


def _coco_dicts(dataset: Dataset, inferences: Inferences | None) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    images = [{"id": i, "file_name": f} for i, f in zip(dataset.frames.id.tolist(), dataset.frames.file_name.tolist())]
    anns = [
        {"id": i, "image_id": fid, "bbox": b}
        for i, fid, b in zip(
            dataset.labels.id.tolist(),
            dataset.frames.id[dataset.labels.frame].tolist(),
            xyxy_to_xywh(dataset.labels.box).tolist(),
        )
    ]
    preds = None
    if inferences is not None:
        preds = [
            {"image_id": fid, "bbox": b}
            for fid, b in zip(dataset.frames.id[inferences.frame].tolist(), xyxy_to_xywh(inferences.box).tolist())
        ]
    return {"images": images, "annotations": anns}, preds


def _image_root(images: str | os.PathLike[str] | None, data_dir: Path) -> str | None:
    """How to record the image folder: relative to the data dir when inside it."""
    if images is None:
        return None
    root = Path(images)
    if not root.is_dir():
        raise InputError(f"--images: {images} is not a folder")
    root = root.resolve()
    try:
        return root.relative_to(data_dir.resolve()).as_posix()
    except ValueError:
        return str(root)


def ingest(
    data_dir: str | os.PathLike[str],
    name: str,
    *,
    gt: str | os.PathLike[str],
    images: str | os.PathLike[str] | None = None,
    frame_embeddings: str | os.PathLike[str] | None = None,
    label_embeddings: str | os.PathLike[str] | None = None,
    replace: bool = False,
    embed: bool = True,
    source: dict[str, Any] | None = None,
    build: bool = True,
    progress: Progress | None = None,
    show_bars: bool = False,
    format: BoxFormat | None = None,
    names: str | os.PathLike[str] | None = None,
    difficult: Difficult = "label",
    embedder: str = "builtin",
    engine: Any = None,
    shards: int | None = None,
    wait: bool = True,
    projector: Projector = project_with_info,
) -> StoredDataset:
    """Store a ground truth (COCO, YOLO or VOC) as dataset ``name``, with its embeddings and artefacts.

    Parameters
    ----------
    data_dir : path
        The data directory (created if needed).
    name : str
        Dataset name.
    gt : path
        COCO ground-truth file.
    images : path, optional
        Folder the images' ``file_name`` are relative to. Without embedding files, the
        built-in embedder computes frame and label-crop embeddings from it (``embed``).
    frame_embeddings, label_embeddings : path, optional
        Embedding files (see the module docstring).
    replace : bool
        Replace an existing dataset of that name.
    embed : bool
        Use the built-in embedder for what ``images`` allows and no file gives.
    source : dict, optional
        Extra provenance recorded in the manifest's ``source``.
    build : bool
        Build the indexes and projections now (False when an inference set with crop
        embeddings follows at once: :func:`add_inferences` builds them then).
    progress : callable, optional
        Receives a line of text at each step.
    show_bars : bool
        Show tqdm progress bars for long steps.
    format, names, difficult
        How to read ``gt`` (see :func:`aquaembed.io.formats.load_gt`; YOLO image
        sizes come from ``images``).
    embedder : str
        ``"builtin"``, ``"onnx:PATH"``, ``"timm:NAME"`` or ``"open_clip:NAME"``
        (see :mod:`aquaembed.embeddings.pretrained`).
    wait : bool
        When another process writes this dataset, wait for it (``progress`` is told)
        or fail at once.
    projector : callable
        Computes the 2-D projections (see :func:`build_artifacts`).

    engine : "local", "ray" or an engine, optional
        Run the embedder per frame shard, the crop index fill and the projection's
        placement as tasks of this engine (:mod:`aquaembed.engine.ingest`); beyond
        :data:`~aquaembed.engine.ingest.IVFPQ_MIN` crops the index is IVF-PQ.
    shards : int, optional
        Tasks per step with an engine (default: its CPUs).

    Returns
    -------
    StoredDataset
    """
    data = Path(data_dir)
    if engine is not None:
        from aquaembed.engine import get_engine

        engine = get_engine(engine)
        shards = shards or int(getattr(engine, "cpus", 2))
    store = Store(data, wait=wait, on_wait=progress)
    if store.exists(name) and not replace:
        raise StoreError(f"dataset {name!r} already exists in {data}; pass --replace to replace it")
    _say(progress, f"reading {Path(gt).name}")
    dataset = fill_image_sizes(load_gt(gt, format=format, images=images, names=names, difficult=difficult), images)
    image_root = _image_root(images, data)
    vectors: dict[str, tuple[np.ndarray, np.ndarray, dict[str, Any]]] = {}
    for kind, path, expected, what in (
        ("frame", frame_embeddings, dataset.frames.id, "frame"),
        ("label", label_embeddings, dataset.labels.id, "label"),
    ):
        if path is not None:
            ids, vec = validate_embeddings(kind, *read_embeddings(path))
            _check_cover(Path(path).name, ids, expected, what)
            vectors[kind] = (ids, vec, {"file": str(Path(path).resolve())})
    if embed and images is not None and ("frame" not in vectors or "label" not in vectors):
        if engine is not None and embedder == "builtin":
            from aquaembed.engine.ingest import embed_shards

            _say(progress, "embedding frames and label crops with the built-in embedder, per shard")
            f_ids, f_vec, l_ids, l_vec = embed_shards(engine, Path(images), dataset, shards=int(shards or 2), progress=progress)
            made_by = BUILTIN_EMBEDDER
        else:
            if engine is not None:
                _say(progress, f"note: the {embedder} embedder runs on this machine (only the built-in one runs in engine tasks)")
            emb, made_by = _embed(embedder, Path(images), dataset, None, progress, show_bars)
            f_ids, f_vec, l_ids, l_vec = emb.frame_ids, emb.frames, emb.label_ids, emb.labels
        if "frame" not in vectors:
            vectors["frame"] = (*validate_embeddings("frame", f_ids, f_vec), {"embedder": made_by})
        if len(dataset.labels) and "label" not in vectors:
            vectors["label"] = (*validate_embeddings("label", l_ids, l_vec), {"embedder": made_by})
    _say(progress, f"storing {len(dataset.frames)} frames and {len(dataset.labels)} labels as {name!r}")
    source = {**(source or {}), "gt": str(Path(gt).resolve())}
    if image_root is not None:
        source["images"] = image_root
    with store.creating(name, dataset, replace=replace, source=source) as sd:
        for kind, (ids, vec, src) in vectors.items():
            sd.set_embeddings(kind, ids, vec, source=src)
        if build:
            build_artifacts(sd, progress=progress, show_bars=show_bars, projector=projector, engine=engine, shards=shards)
    return store.open(name)


def add_inferences(
    data_dir: str | os.PathLike[str],
    name: str,
    *,
    model: str,
    pred: str | os.PathLike[str],
    pred_embeddings: str | os.PathLike[str] | None = None,
    replace: bool = False,
    embed: bool = True,
    progress: Progress | None = None,
    show_bars: bool = False,
    format: BoxFormat | None = None,
    names: str | os.PathLike[str] | None = None,
    wait: bool = True,
    projector: Projector = project_with_info,
) -> StoredDataset:
    """Store an inference set (COCO results, YOLO or VOC) as ``model`` of dataset ``name``.

    Crop embeddings come from ``pred_embeddings``, or (``embed``) from the embedder
    that made the label crop embeddings (built-in or pretrained) when the dataset has
    images. The crop index and projection are rebuilt to include the new crops.
    ``format`` and ``names`` say how to read ``pred`` (see
    :func:`aquaembed.io.formats.load_inferences`). Everything is one transaction;
    ``wait`` and ``projector`` as for :func:`ingest`.
    """
    store = Store(data_dir, wait=wait, on_wait=progress)
    sd = store.open(name)
    if model in sd.inference_names and not replace:
        raise StoreError(f"dataset {name!r} already has an inference set {model!r}; pass --replace to replace it")
    dataset = sd.dataset
    _say(progress, f"reading {Path(pred).name}")
    inferences = load_inferences(pred, dataset, format=format, name=model, names=names)
    vec: tuple[np.ndarray, np.ndarray, dict[str, Any]] | None = None
    if pred_embeddings is not None:
        ids, v = validate_embeddings(f"pred-{model}", *read_embeddings(pred_embeddings))
        _check_cover(Path(pred_embeddings).name, ids, np.arange(len(inferences)), "inference")
        if "label" in sd.embedding_kinds:
            dim = int(sd.manifest.embeddings["label"]["dim"])
            if v.shape[1] != dim:
                raise InputError(
                    f"{Path(pred_embeddings).name}: dimension {v.shape[1]}, but the label crop embeddings have "
                    f"dimension {dim} (label and inference crops share one index)"
                )
        vec = (ids, v, {"file": str(Path(pred_embeddings).resolve())})
    elif embed and len(inferences) and _label_embedder(sd) is not None:
        from aquaembed.explore import DatasetView

        root = DatasetView(sd).image_root
        if root is not None:
            emb, made_by = _embed(_label_embedder(sd) or "builtin", Path(root), dataset, inferences, progress, show_bars)
            vec = (*validate_embeddings(f"pred-{model}", emb.pred_ids, emb.preds), {"embedder": made_by})
    _say(progress, f"storing {len(inferences)} inferences as {model!r}")
    with sd.transaction(based_on=(("tables",), ("classes",))):
        sd.add_inferences(inferences, replace=replace, source={"pred": str(Path(pred).resolve())})
        if vec is not None:
            sd.set_embeddings(f"pred-{model}", vec[0], vec[1], replace=True, source=vec[2])
        build_artifacts(sd, progress=progress, show_bars=show_bars, projector=projector)
    return store.open(name)


def _label_embedder(sd: StoredDataset) -> str | None:
    """The embedder spec that made the label crop embeddings ("builtin" when none are stored)."""
    rec = sd.manifest.embeddings.get("label")
    if rec is None:
        return "builtin"
    made_by = (rec.get("source") or {}).get("embedder")
    if made_by == BUILTIN_EMBEDDER:
        return "builtin"
    return made_by if isinstance(made_by, str) and ":" in made_by else None


def _embed(
    embedder: str, root: Path, dataset: Dataset, inferences: Inferences | None,
    progress: Progress | None, show_bars: bool,
) -> tuple[Any, str]:
    """Embed with the built-in or a pretrained embedder; returns the embeddings and how to record the embedder."""
    gt_dict, preds = _coco_dicts(dataset, inferences)
    if inferences is not None:
        gt_dict["annotations"] = []
    if embedder == "builtin":
        from aquaembed.embeddings.builtin import embed_coco

        _say(progress, "embedding with the built-in embedder")
        return embed_coco(root, gt_dict, preds, progress=show_bars), BUILTIN_EMBEDDER
    from aquaembed.embeddings.pretrained import load_embedder

    model = load_embedder(embedder)
    _say(progress, f"embedding with {embedder}")
    return model.embed_coco(root, gt_dict, preds, progress=show_bars), embedder


def build_artifacts(
    sd: StoredDataset,
    *,
    progress: Progress | None = None,
    show_bars: bool = False,
    seed: int = 0,
    projector: Projector = project_with_info,
    engine: Any = None,
    shards: int | None = None,
    ivfpq_min: int | None = None,
) -> None:
    """(Re)build the FAISS indexes and UMAP projections that the embeddings call for.

    An artefact whose recorded inputs (the content hashes of the embeddings and of the
    tables their ids refer to, and the parameters) are unchanged is kept; stale ones are
    replaced; ones whose embeddings are gone are deleted. Everything happens in one
    transaction (joining the caller's, when there is one).

    Parameters
    ----------
    sd : StoredDataset
    progress : callable, optional
        Called with one line per step.
    show_bars : bool
        Progress bars for the long steps.
    seed : int
        Seed of the index training and the projection.
    projector : callable, optional
        ``projector(vectors, *, seed, cache_dir, knn, progress) -> Projection``; default
        :func:`aquaembed.embeddings.projection.project_with_info` (UMAP, cached).
    engine : engine, optional
        With an engine, the crop index of at least ``ivfpq_min`` vectors (default
        :data:`~aquaembed.engine.ingest.IVFPQ_MIN`) is IVF-PQ filled in ``shards`` tasks
        (its recall is reported through ``progress``), and the default projector places
        the points outside UMAP's sample in tasks.
    """
    run = None
    if engine is not None:
        from functools import partial

        from aquaembed.engine.ingest import IVFPQ_MIN, engine_placer

        n_tasks = int(shards) if shards else int(getattr(engine, "cpus", 2))
        run = (engine, n_tasks, IVFPQ_MIN if ivfpq_min is None else int(ivfpq_min))
        if projector is project_with_info:
            projector = partial(project_with_info, placer=engine_placer(engine, progress=progress))
    with sd.transaction():
        _build_all(sd, progress=progress, show_bars=show_bars, seed=seed, projector=projector, run=run)


def _build_all(
    sd: StoredDataset, *, progress: Progress | None, show_bars: bool, seed: int, projector: Projector,
    run: tuple[Any, int, int] | None,
) -> None:
    cache_dir = sd.path.parent / ".cache" / "projections"
    cache_dir.mkdir(parents=True, exist_ok=True)
    kinds = sd.embedding_kinds
    if "frame" in kinds:
        inputs = {**sd.current_inputs(["frame"]), "seed": seed}
        ids, vectors = sd.embeddings("frame")
        frame_rows = sd.dataset.frames.index_of_ids(np.asarray(ids))
        _build_pair(
            sd, FRAME_INDEX, FRAME_PROJECTION, np.asarray(ids), vectors, {"frame_row": frame_rows},
            inputs, cache_dir, progress, show_bars, seed, "frames", projector, run,
        )
    else:
        for art in (FRAME_INDEX, FRAME_PROJECTION):
            if art in sd.artifact_names:
                sd.delete_artifact(art)
    sources = crop_sources(sd)
    if sources:
        inputs = {**sd.current_inputs(sources), "sources": sources, "seed": seed}
        if all(sd.has_artifact(a, inputs=inputs) for a in (CROP_TABLE, CROP_INDEX, CROP_PROJECTION, CROP_KNN, CROP_KNN_SIM)):
            _say(progress, "crop index and projection are up to date")
            return
        parts, table = [], []
        for code, kind in enumerate(sources):
            ids, vec = sd.embeddings(kind)
            parts.append(np.asarray(vec))
            table.append(np.stack([np.full(len(ids), code, dtype=np.int64), np.asarray(ids, dtype=np.int64)], axis=1))
        crop_table = np.concatenate(table)
        vectors = np.concatenate(parts)
        sd.save_array(CROP_TABLE, crop_table, inputs=inputs, replace=True)
        _build_pair(
            sd, CROP_INDEX, CROP_PROJECTION, np.arange(len(crop_table), dtype=np.int64), vectors,
            {"source": crop_table[:, 0]}, inputs, cache_dir, progress, show_bars, seed, "crops", projector, run,
        )
        _build_knn(sd, inputs, sources, progress)
    else:
        for art in (CROP_TABLE, CROP_INDEX, CROP_PROJECTION, CROP_KNN, CROP_KNN_SIM):
            if art in sd.artifact_names:
                sd.delete_artifact(art)


def _build_knn(sd: StoredDataset, inputs: dict[str, Any], sources: list[str], progress: Progress | None) -> None:
    """The crops' kNN graph from the crop index (what failure clustering restricts); an
    IVF-PQ index re-ranks on the stored crop embeddings, as served search does."""
    if sd.has_artifact(CROP_KNN, inputs=inputs) and sd.has_artifact(CROP_KNN_SIM, inputs=inputs):
        return
    from aquaembed.embeddings.graph import knn_graph
    from aquaembed.embeddings.rerank import stored_vectors

    index = VectorIndex.load(sd.artifact_path(CROP_INDEX) / "index.faiss")
    full = stored_vectors(sd, sources) if index.lossy else None
    if full is not None:
        index.attach_vectors(full)
    _say(progress, f"building the crops' kNN graph ({len(index)} crops)")
    neighbors, similarity = knn_graph(index)
    sd.save_array(CROP_KNN, neighbors, inputs=inputs, replace=True)
    sd.save_array(CROP_KNN_SIM, similarity, inputs=inputs, replace=True)


def _build_pair(
    sd: StoredDataset,
    index_name: str,
    projection_name: str,
    ids: np.ndarray,
    vectors: np.ndarray,
    attributes: dict[str, np.ndarray],
    inputs: dict[str, Any],
    cache_dir: Path,
    progress: Progress | None,
    show_bars: bool,
    seed: int,
    what: str,
    projector: Projector,
    run: tuple[Any, int, int] | None = None,
) -> None:
    index: VectorIndex | None = None
    if not sd.has_artifact(index_name, inputs=inputs):
        _say(progress, f"building the {what} index ({len(ids)} vectors)")
        if run is not None and what == "crops" and len(ids) >= run[2]:
            index = _ivfpq_index(ids, vectors, attributes, run, seed, progress)
        else:
            index = VectorIndex.build(ids, vectors, attributes=attributes, seed=seed, progress=show_bars)
        with sd.write_artifact_dir(index_name, inputs=inputs, replace=True) as tmp:
            index.save(tmp / "index.faiss")
    if not sd.has_artifact(projection_name, inputs=inputs):
        if index is None:
            index = VectorIndex.load(sd.artifact_path(index_name) / "index.faiss")
            if index.lossy:
                index.attach_vectors(vectors)
        if len(ids) < 4:
            _say(progress, f"only {len(ids)} {what}: too few for a 2-D projection (UMAP needs 4)")
            return
        _say(progress, f"projecting {len(ids)} {what} to 2-D (UMAP; cached by content)")
        # the index serves as UMAP's kNN graph when UMAP sees every point; above the
        # sample size UMAP fits a sample and builds the graph of that sample itself
        knn = index if len(ids) <= DEFAULT_SAMPLE_SIZE else None
        proj = projector(vectors, seed=seed, cache_dir=cache_dir, knn=knn, progress=show_bars)
        _say(progress, f"{what} projection {'reused from the cache' if proj.cache_hit else 'computed'}")
        sd.save_array(projection_name, proj.coords, inputs=inputs, replace=True)



def _ivfpq_index(
    ids: np.ndarray, vectors: np.ndarray, attributes: dict[str, np.ndarray], run: tuple[Any, int, int], seed: int,
    progress: Progress | None,
) -> VectorIndex:
    """The crop index as IVF-PQ filled in the engine's tasks (see :func:`aquaembed.engine.ingest.build_ivfpq`)."""
    import faiss

    from aquaembed.engine.ingest import build_ivfpq

    x = np.array(vectors, dtype=np.float32, copy=True, order="C")
    faiss.normalize_L2(x)
    built = build_ivfpq(run[0], x, shards=run[1], seed=seed, progress=progress)
    _say(progress, f"crop index: IVF-PQ (nlist {built.nlist}, {built.m} x {built.nbits} bits), "
                   f"recall@10 {built.recall_at_10:.3f} re-ranked x{built.refine} ({built.recall_at_10_codes:.3f} from the "
                   f"codes alone) against exact search on {built.queries} queries")
    faiss.extract_index_ivf(built.index).make_direct_map()
    index = VectorIndex(built.index, np.asarray(ids, dtype=np.int64).copy(), dict(attributes), "ivf", refine=built.refine)
    index.attach_vectors(x)  # UMAP's neighbours re-rank as served search does
    return index
