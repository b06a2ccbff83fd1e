"""Benchmark the failure report at scale, and the cluster step against HDBSCAN on 2-D UMAP.

Run:  python benchmarks/bench_report.py [--frames 20000] [--clutter 90] [--data /tmp/aq-bench-report]

Data: :func:`aquaembed.synthetic_failures.make_failure_dataset` (planted: a worse site, a
better site and a recurring false positive in fog frames), 20k frames, ~100k labels,
~1.9M inferences (of which ~1.8M low-confidence clutter) = ~2M boxes, and ~200k crop
embeddings (labels + confident inferences). Ingested once (FAISS index, UMAP projection,
kNN graph; kept in ``--data`` for re-runs). Then:

1. the full report (``build_report``: match table, clusters, slices) in a *fresh*
   process, wall time including imports and loading;
2. in one process: re-clustering after a confidence move (match table timed apart),
   slices after the move;
3. the cluster step against the hosted peer's approach, HDBSCAN (scikit-learn) on the 2-D
   UMAP coordinates of the same FP crops: time, number of clusters, and recovery of the
   planted recurring false positive (purity and recall of the best-matching cluster).

Not a test: never collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))


def _build(data: Path, frames: int, clutter: int) -> None:
    """Store the dataset; frame artefacts by ``build_artifacts``; the crop artefacts over the
    labels and the *confident* inferences only (the store takes crop embeddings for all
    inferences of a set or none, and 1.9M clutter crops are not what a user embeds), with
    the same library calls ``build_artifacts`` makes."""
    from aquaembed.artifacts import (
        CROP_INDEX,
        CROP_KNN,
        CROP_KNN_SIM,
        CROP_PROJECTION,
        CROP_TABLE,
    )
    from aquaembed.embeddings.graph import knn_graph
    from aquaembed.embeddings.index import VectorIndex
    from aquaembed.embeddings.projection import DEFAULT_SAMPLE_SIZE, project_with_info
    from aquaembed.ingest import build_artifacts
    from aquaembed.store import Store
    from aquaembed.synthetic_failures import make_failure_dataset

    store = Store(data)
    if store.exists("bench"):
        return
    t = time.perf_counter()
    gen = make_failure_dataset(frames, clutter_per_frame=clutter, dim=32, seed=0)
    sd = store.create("bench", gen.dataset)
    sd.set_embeddings("frame", gen.dataset.frames.id, gen.frame_vectors)
    build_artifacts(sd)
    np.save(data / "poster.npy", np.asarray(gen.truth["poster_pred_indices"]))
    table = np.concatenate(
        [
            np.stack([np.zeros(len(gen.label_vectors), np.int64), gen.dataset.labels.id], axis=1),
            np.stack([np.ones(gen.pred_ids.size, np.int64), gen.pred_ids], axis=1),
        ]
    )
    vectors = np.concatenate([gen.label_vectors, gen.pred_vectors]).astype(np.float32)
    inputs = {"sources": ["label", "pred-model"], "bench": True}
    sd.save_array(CROP_TABLE, table, inputs=inputs, replace=True)
    rows = np.arange(len(table), dtype=np.int64)
    index = VectorIndex.build(rows, vectors, attributes={"source": table[:, 0]})
    with sd.write_artifact_dir(CROP_INDEX, inputs=inputs, replace=True) as tmp:
        index.save(tmp / "index.faiss")
    t_knn = time.perf_counter()
    nb, sim = knn_graph(index)
    t_knn = time.perf_counter() - t_knn
    sd.save_array(CROP_KNN, nb, inputs=inputs, replace=True)
    sd.save_array(CROP_KNN_SIM, sim, inputs=inputs, replace=True)
    knn = index if len(rows) <= DEFAULT_SAMPLE_SIZE else None
    proj = project_with_info(vectors, seed=0, cache_dir=data / ".cache" / "projections", knn=knn)
    sd.save_array(CROP_PROJECTION, proj.coords, inputs=inputs, replace=True)
    print(f"ingest (generate, store, indexes, UMAP): {time.perf_counter() - t:.1f} s, of which the crops' kNN graph "
          f"({len(rows)} crops, k=20): {t_knn:.1f} s")


def _fresh_report(data: Path) -> float:
    code = (
        "import time; t=time.perf_counter();"
        "from aquaembed.explore import Workspace; from aquaembed.analysis.report import build_report;"
        f"r=build_report(Workspace({str(data)!r}).get('bench'));"
        "print(time.perf_counter()-t, len(r['clusters']), len(r['slices']))"
    )
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"full report, fresh process: {wall:.2f} s wall, {cpu:.2f} s CPU (user+sys; inside the process after "
          f"imports: {float(out[0]):.2f} s wall); {out[1]} clusters, {out[2]} slices; load avg {os.getloadavg()[0]:.1f}")
    return wall


def _recovery(labels: np.ndarray, ids: np.ndarray, truth: set[int]) -> tuple[float, float, int]:
    best = (0.0, 0.0, -1)
    for c in np.unique(labels[labels >= 0]):
        members = set(ids[labels == c].tolist())
        hit = len(members & truth)
        rec = hit / max(len(truth), 1)
        if rec > best[1]:
            best = (hit / len(members), rec, int(c))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--clutter", type=int, default=90)
    ap.add_argument("--data", default="/tmp/aq-bench-report")
    args = ap.parse_args()
    data = Path(args.data)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    _build(data, args.frames, args.clutter)

    from aquaembed.explore import Workspace
    from aquaembed.matching import FP, MatchOptions
    from aquaembed.metrics import inference_types

    view = Workspace(data).get("bench")
    ds = view.dataset
    n_boxes = len(ds.labels) + len(ds.inference_set("model"))
    print(f"data: {len(ds.frames)} frames, {n_boxes} boxes, {len(view.crop_table()[0])} crops")
    _fresh_report(data)

    t = time.perf_counter()
    view.failure_clusters(None, MatchOptions(conf=0.5))
    view.slice_departures(None, MatchOptions(conf=0.5))
    print(f"warm-up at conf 0.5 (this process): {time.perf_counter() - t:.2f} s")
    moved = MatchOptions(conf=0.55)
    t = time.perf_counter()
    table = view.table(None, moved)
    t_match = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    clusters = view.failure_clusters(None, moved)
    t_cluster, c_cluster = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    sl = view.slice_departures(None, moved)
    t_slices, c_slices = time.perf_counter() - t, time.process_time() - c
    print(f"after a move to conf 0.55: matching {t_match:.2f} s, re-cluster {t_cluster:.3f} s ({c_cluster:.3f} s CPU), "
          f"slices {t_slices:.3f} s ({c_slices:.3f} s CPU) ({len(clusters)} clusters, {len(sl['slices'])} of "
          f"{sl['tested']} tests significant); load avg {os.getloadavg()[0]:.1f}")

    # ---- cluster step: ours vs HDBSCAN on the 2-D UMAP coordinates of the same FP crops
    from sklearn.cluster import HDBSCAN

    poster = set(np.load(data / "poster.npy").tolist())
    p_types, _ = inference_types(table)
    pred_rows, _ = view._crop_rows("model")
    fp = np.flatnonzero((p_types == FP) & (pred_rows >= 0))
    ours = [c for c in clusters if c["type"] == "FP"]
    ours_labels = np.full(fp.size, -1)
    pos = {int(i): k for k, i in enumerate(fp.tolist())}
    for j, c in enumerate(ours):
        for m in c["crops"]:
            ours_labels[pos[m["id"]]] = j
    coords = np.asarray(view.stored.load_array("projection-crop"))[pred_rows[fp]]
    t = time.perf_counter()
    hd = HDBSCAN(min_cluster_size=8).fit_predict(coords)
    t_hd = time.perf_counter() - t
    for name, labels, secs in (("aquaembed (kNN graph, DBSCAN)", ours_labels, t_cluster), ("HDBSCAN on 2-D UMAP", hd, t_hd)):
        purity, recall, which = _recovery(labels, fp, poster)
        n_cl = int(np.unique(labels[labels >= 0]).size)
        print(f"{name:32s}: {secs:6.3f} s, {n_cl:4d} clusters, {np.mean(labels >= 0):.1%} of {fp.size} FP crops clustered; "
              f"planted FP: purity {purity:.3f}, recall {recall:.3f} (cluster {which})")
    print(f"ratio HDBSCAN-on-UMAP / ours (cluster step time): {t_hd / max(t_cluster, 1e-9):.1f}x")


if __name__ == "__main__":
    main()
