"""The label-crop kNN behind the label-issue scores: brute force agrees, and it is stored once."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest

import aquaembed.explore.review as review_part
from aquaembed.explore import Workspace
from factories import DS, build_store


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("knn"), n_frames=20)


def test_label_neighbours_match_brute_force_and_are_stored(data_dir: Path):
    view = Workspace(data_dir).get(DS)
    nb = view.label_neighbours("yolo")
    ds = view.dataset
    ids, vecs = view.stored.embeddings("label")
    x = np.asarray(vecs, dtype=np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    k = nb.label_cls.shape[1]
    row_of = {int(i): r for r, i in enumerate(ds.labels.id.tolist())}
    for q, lid in enumerate(np.asarray(ids).tolist()):
        r = row_of[lid]
        top = np.sort(sim[q])[::-1][:k]
        np.testing.assert_allclose(np.sort(nb.label_sim[r])[::-1], top, atol=1e-5)
        # the k-th similarity may tie; compare classes only where the neighbour set is unambiguous
        if k < len(ids) - 1 and top[-1] - np.sort(sim[q])[::-1][k] > 1e-6:
            want = sorted(ds.labels.cls[[row_of[int(i)] for i in np.asarray(ids)[np.argsort(-sim[q])[:k]]]].tolist())
            assert sorted(nb.label_cls[r].tolist()) == want
    # inference crops: searched for the confident ones only, among label crops
    inf = ds.inference_set("yolo")
    searched = (nb.pred_cls >= 0).any(axis=1)
    assert searched.any() and not searched[inf.score < 0.1].any()
    # a fresh process reads the stored kNN instead of searching again
    fresh = Workspace(data_dir).get(DS)
    with mock.patch.object(review_part, "crop_neighbours", side_effect=AssertionError("searched again")):
        again = fresh.label_neighbours("yolo")
    np.testing.assert_array_equal(again.label_cls, nb.label_cls)
    np.testing.assert_allclose(again.pred_sim, nb.pred_sim)


def test_without_crop_embeddings_scores_still_come(data_dir: Path):
    view = Workspace(data_dir).get("solo")
    assert view.label_neighbours(None) is None
    page = view.label_issues(None, limit=5)
    assert page["counts"]["issues"] == len(view.label_issue_records(None))
