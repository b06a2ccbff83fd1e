"""Failure clusters find label errors concentrated in one annotation batch.

The dataset (:func:`aquaembed.synthetic_failures.make_failure_dataset` with
``label_batches=True``) plants, besides the poster and the two sites that depart, one
site whose annotator skipped a class (its detections are false positives) and one site
whose annotator labelled a class as another (confusion pairs). The report is not told
where they are; each must come out as one cluster, nearly pure and nearly complete,
whose most over-represented metadata value names the batch.
"""

from __future__ import annotations

import numpy as np
import pytest

from aquaembed.analysis.report import build_report
from aquaembed.errors import ParameterError
from aquaembed.explore import Workspace
from aquaembed.synthetic_failures import make_failure_dataset
from factories import store_generated


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    gen = make_failure_dataset(600, seed=1, label_batches=True)
    data = tmp_path_factory.mktemp("batches") / "data"
    store_generated(data, "batches", gen)
    return gen, build_report(Workspace(data).get("batches"), sections=("clusters",))


def _best(clusters: list[dict], kind: str, planted: set[int]) -> tuple[dict, float, float]:
    """The cluster of type ``kind`` holding most planted ids, its purity and recall."""
    best = max((c for c in clusters if c["type"] == kind), key=lambda c: len({m["id"] for m in c["crops"]} & planted))
    ids = {m["id"] for m in best["crops"]}
    return best, len(ids & planted) / len(ids), len(ids & planted) / len(planted)


def test_a_skipped_class_in_one_batch_is_one_fp_cluster(batches):
    gen, rep = batches
    truth = gen.truth["missing_batch"]
    planted = set(truth["pred_indices"])
    assert len(planted) > 40
    cluster, purity, recall = _best(rep["clusters"], "FP", planted)
    assert purity > 0.9 and recall > 0.9, (purity, recall)
    assert cluster["classes"] == {"class1": cluster["size"]} or max(cluster["classes"].values()) / cluster["size"] > 0.9
    top = cluster["over_represented"][0]
    assert (top["field"], top["value"]) == ("site", truth["site"]) and top["share"] > 0.9


def test_a_confused_class_pair_in_one_batch_is_one_confusion_cluster(batches):
    gen, rep = batches
    truth = gen.truth["wrong_class_batch"]
    planted = set(truth["gt_ids"])
    assert len(planted) > 40
    cluster, purity, recall = _best(rep["clusters"], "confusion", planted)
    # a quarter of the objects are not detected at all (FN, not confusions): recall is
    # bounded by the detection rate (0.75)
    assert purity > 0.9 and recall > 0.7, (purity, recall)
    pair, n = next(iter(cluster["pairs"].items()))
    assert pair == f"{truth['labeled_as']}->{truth['class']}" and n / cluster["size"] > 0.9
    top = cluster["over_represented"][0]
    assert (top["field"], top["value"]) == ("site", truth["site"]) and top["share"] > 0.9


def test_the_poster_stays_its_own_cluster(batches):
    gen, rep = batches
    poster = set(gen.truth["poster_pred_indices"])
    cluster, purity, recall = _best(rep["clusters"], "FP", poster)
    assert purity > 0.95 and recall > 0.9, (purity, recall)
    assert not {m["id"] for m in cluster["crops"]} & set(gen.truth["missing_batch"]["pred_indices"])


def test_batches_leave_the_rest_of_the_dataset_unchanged():
    plain = make_failure_dataset(200, seed=5)
    with_batches = make_failure_dataset(200, seed=5, label_batches=True)
    a, b = plain.dataset, with_batches.dataset
    inf_a, inf_b = a.inference_set("model"), b.inference_set("model")
    assert (inf_a.score == inf_b.score).all() and (inf_a.box == inf_b.box).all()
    skipped = ~np.isin(a.labels.id, b.labels.id)
    site = a.frames.metadata["site"][a.labels.frame]
    assert skipped.any() and (site[skipped] == "s6").all() and (a.labels.cls[skipped] == 1).all()
    same = np.isin(a.labels.id, b.labels.id)
    renamed = a.labels.cls[same] != b.labels.cls
    assert renamed.any() and (site[same][renamed] == "s7").all()
    assert (a.labels.cls[same][renamed] == 2).all() and (b.labels.cls[renamed] == 3).all()
    assert with_batches.truth["poster_pred_indices"] == plain.truth["poster_pred_indices"]


def test_label_batches_need_four_classes():
    with pytest.raises(ParameterError) as err:
        make_failure_dataset(50, n_classes=3, label_batches=True)
    assert err.value.parameter == "n_classes"
