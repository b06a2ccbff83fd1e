"""Failure clusters of one model are not diluted by a second, near-identical model.

A planted FP pattern of model A: in site ``s6`` two look-alike objects per frame (one
appearance direction plus noise), 40 % of them unlabelled, so their detections are false
positives mixed with the labelled look-alikes' label and TP crops (moderately
concentrated: about 40 % of A's crops there are errors). Model B copies A's boxes with a
tiny jitter and its crops sit next to A's, so without B in the store a pattern crop's
stored neighbours are A's and the labels', and with B about half of them are B's, which
can never be errors of A. The pattern must come out as one FP cluster of A, pure and
complete, with B stored as well as without it; counting the neighbours and the chance
level over every crop (B's included) misses most of it.
"""

from __future__ import annotations

import numpy as np
import pytest

from aquaembed.analysis.clusters import cluster_rows
from aquaembed.data import Dataset, Inferences, Labels
from aquaembed.explore import Workspace
from aquaembed.ingest import build_artifacts
from aquaembed.matching import FP
from aquaembed.metrics import inference_types
from aquaembed.store import Store
from aquaembed.synthetic_failures import make_failure_dataset
from factories import quick_projection

UNLABELLED = 0.4


def _store(root, *, second: bool):
    """The generated dataset plus the planted pattern (and model B); the view and the planted FPs."""
    gen = make_failure_dataset(600, seed=1, fp_per_frame=0.3)
    ds, rng = gen.dataset, np.random.default_rng(7)
    frames = np.repeat(np.flatnonzero(ds.frames.metadata["site"] == "s6"), 2)
    m, dim = frames.size, gen.label_vectors.shape[1]
    slot = np.tile([0, 1], m // 2)
    obj = rng.normal(size=dim) + rng.normal(0, 0.3, (m, dim))
    box = np.stack([10.0 + 60 * slot, np.full(m, 100.0), 50.0 + 60 * slot, np.full(m, 140.0)], axis=1)
    unlabelled = rng.random(m) < UNLABELLED
    keep = np.flatnonzero(~unlabelled)
    lab = ds.labels
    labels = Labels(
        np.concatenate([lab.id, lab.id.max() + 1 + np.arange(keep.size)]), np.concatenate([lab.frame, frames[keep]]),
        np.concatenate([lab.cls, np.ones(keep.size, np.int64)]), np.concatenate([lab.box, box[keep]]),
        np.concatenate([lab.area, np.full(keep.size, 1600.0)]), np.zeros(len(lab) + keep.size, dtype=bool),
    )
    a = ds.inference_set("model")
    n0 = len(a)
    inf_a = Inferences(
        np.concatenate([a.frame, frames]), np.concatenate([a.cls, np.ones(m, np.int64)]),
        np.concatenate([a.box, box + rng.uniform(-1, 1, box.shape)]), np.concatenate([a.score, rng.uniform(0.7, 0.95, m)]),
        name="model",
    )
    sets = {"model": inf_a}
    if second:
        sets["model_b"] = Inferences(inf_a.frame, inf_a.cls, inf_a.box + rng.normal(0, 0.5, inf_a.box.shape), inf_a.score,
                                     name="model_b")
    pred_ids = np.concatenate([gen.pred_ids, n0 + np.arange(m)])
    pred_vec = np.concatenate([gen.pred_vectors, obj + rng.normal(0, 0.05, (m, dim))])
    sd = Store(root / "data").create("two", Dataset(ds.classes, ds.frames, labels, sets))
    sd.set_embeddings("frame", ds.frames.id, gen.frame_vectors)
    sd.set_embeddings("label", labels.id, np.concatenate([gen.label_vectors, obj[keep] + rng.normal(0, 0.05, (keep.size, dim))]))
    sd.set_embeddings("pred-model", pred_ids, pred_vec)
    if second:
        sd.set_embeddings("pred-model_b", pred_ids, pred_vec + rng.normal(0, 0.01, pred_vec.shape))
    build_artifacts(sd, projector=quick_projection)
    return Workspace(root / "data").get("two"), set((n0 + np.flatnonzero(unlabelled)).tolist())


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    return _store(tmp_path_factory.mktemp("alone"), second=False)


@pytest.fixture(scope="module")
def with_twin(tmp_path_factory):
    return _store(tmp_path_factory.mktemp("twin"), second=True)


def _best(clusters: list[dict], planted: set[int]) -> tuple[float, float]:
    """Purity and recall of the FP cluster holding most planted ids ((0, 0) if none)."""
    fps = [c for c in clusters if c["type"] == "FP"]
    hits = [len({m["id"] for m in c["crops"]} & planted) for c in fps]
    if not hits or max(hits) == 0:
        return 0.0, 0.0
    ids = {m["id"] for m in fps[int(np.argmax(hits))]["crops"]}
    return len(ids & planted) / len(ids), len(ids & planted) / len(planted)


def test_the_twin_crops_sit_next_to_the_pattern(with_twin):
    view, planted = with_twin
    graph = view.crop_graph()
    pred_rows, _ = view._crop_rows("model")
    rows = pred_rows[sorted(planted)]
    pop = view.cluster_population("model")
    # the defect's setting: about half of a pattern crop's stored neighbours are B's
    assert 0.3 < 1.0 - pop[graph.neighbors[rows]].mean() < 0.7


def test_a_second_model_does_not_hide_the_pattern(alone, with_twin):
    (va, planted_a), (vb, planted_b) = alone, with_twin
    assert planted_a == planted_b and len(planted_a) > 50
    purity_a, recall_a = _best(va.failure_clusters("model"), planted_a)
    purity_b, recall_b = _best(vb.failure_clusters("model"), planted_b)
    assert purity_a > 0.95 and recall_a > 0.8, (purity_a, recall_a)
    assert purity_b > 0.95 and recall_b >= recall_a - 0.05, (purity_b, recall_b, recall_a)


def test_counting_every_crop_misses_it(with_twin):
    # the earlier method: neighbours and chance level over all crops, B's included
    view, planted = with_twin
    p_types, _ = inference_types(view.table("model"))
    pred_rows, _ = view._crop_rows("model")
    sel = np.flatnonzero((p_types == FP) & (pred_rows >= 0))
    rows, graph = pred_rows[sel], view.crop_graph()
    old = cluster_rows(graph, rows, base_rate=rows.size / graph.neighbors.shape[0])
    new = cluster_rows(graph, rows, population=view.cluster_population("model"))
    planted_rows = np.isin(sel, sorted(planted))

    def recall(labels: np.ndarray) -> float:
        found = labels[planted_rows]
        if not (found >= 0).any():
            return 0.0
        return float((found == np.bincount(found[found >= 0]).argmax()).mean())

    assert recall(old) < 0.5 < 0.9 < recall(new), (recall(old), recall(new))
