"""Failure discovery: clusters, departing slices, coverage and the report, against hand-worked
cases, brute force and planted / null datasets from :mod:`aquaembed.synthetic_failures`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from aquaembed.analysis.clusters import (
    CropGraph,
    cluster_rows,
    core_threshold,
    restrict_graph,
)
from aquaembed.analysis.report import SECTIONS, build_report
from aquaembed.analysis.slices import build_slices, frame_counts, slice_departures
from aquaembed.explore import Workspace
from aquaembed.ingest import build_artifacts
from aquaembed.matching import MatchOptions
from aquaembed.store import Store
from aquaembed.synthetic_failures import make_failure_dataset
from factories import quick_projection, store_generated


def _store(root: Path, name: str, gen) -> Path:
    data = root / "data"
    store_generated(data, name, gen)
    return data


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    gen = make_failure_dataset(600, seed=1)
    data = _store(tmp_path_factory.mktemp("planted"), "planted", gen)
    return gen, Workspace(data).get("planted")


@pytest.fixture(scope="module")
def null(tmp_path_factory):
    gen = make_failure_dataset(600, planted=False, seed=2)
    data = _store(tmp_path_factory.mktemp("null"), "null", gen)
    return gen, Workspace(data).get("null")


# ------------------------------------------------------------------ clusters


def test_restrict_graph_matches_brute_force():
    rng = np.random.default_rng(0)
    n, k = 30, 5
    nb = np.stack([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)]).astype(np.int32)
    sim = rng.uniform(0, 1, (n, k)).astype(np.float32)
    rows = np.sort(rng.choice(n, 12, replace=False))
    got = restrict_graph(CropGraph(nb, sim), rows).toarray()
    want = np.zeros((12, 12))
    pos = {r: i for i, r in enumerate(rows)}
    for i, r in enumerate(rows):
        for j in range(k):
            if nb[r, j] in pos:
                d = 1 - float(sim[r, j])
                a, b = i, pos[nb[r, j]]
                want[a, b] = max(want[a, b], d)
                want[b, a] = max(want[b, a], d)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_core_threshold_is_the_binomial_tail():
    for k, p in ((20, 0.05), (20, 0.3), (15, 0.01)):
        m = core_threshold(k, p, alpha=1e-3, floor=0)
        assert binom.sf(m - 1, k, p) <= 1e-3 < binom.sf(m - 2, k, p)


def test_a_tight_group_of_errors_is_one_cluster_and_scattered_errors_are_noise():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 8))
    x[:40] = rng.normal(size=8) + rng.normal(0, 0.02, (40, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    nb = np.argsort(-s, axis=1)[:, :10].astype(np.int32)
    graph = CropGraph(nb, np.take_along_axis(s, nb, axis=1).astype(np.float32))
    errors = np.concatenate([np.arange(40), rng.choice(np.arange(40, 600), 60, replace=False)])
    labels = cluster_rows(graph, errors, base_rate=errors.size / 600)
    assert set(labels[:40]) == {0}
    # scattered errors form no cluster; a few may border the group (DBSCAN border points)
    assert set(labels[40:]) <= {-1, 0} and (labels[40:] == 0).sum() <= 6


# ------------------------------------------------------------------ slices


def test_ratio_variance_and_bootstrap_by_hand():
    # three frames in the slice, three outside; one class
    from aquaembed.analysis import slices as S

    a = np.array([2.0, 0.0, 1.0])
    b = np.array([2.0, 1.0, 2.0])
    r = a.sum() / b.sum()
    var = ((a - r * b) ** 2).sum() / b.sum() ** 2 * 3 / 2
    assert var == pytest.approx(((2 - 0.6 * 2) ** 2 + 0.6**2 + (1 - 1.2) ** 2) / 25 * 1.5)
    lo, hi = S._bootstrap(a, b, 4000, np.random.default_rng(0), 0.95)
    assert lo <= r <= hi and lo >= 0 and hi <= 1


def test_frame_counts_partition_the_table(planted):
    _gen, view = planted
    table = view.table()
    c = frame_counts(table)
    fm = view.frame_metrics()
    np.testing.assert_array_equal(c[0, :, -1], fm.tp)
    np.testing.assert_array_equal(c[1, :, -1], fm.fp)
    np.testing.assert_array_equal(c[2, :, -1], fm.fn)


def test_slice_z_test_against_direct_computation(planted):
    gen, view = planted
    table = view.table()
    site = np.asarray(gen.dataset.frames.metadata["site"])
    s = build_slices({"site": site}, len(site), pairs=False)
    res = slice_departures(table, s, list(gen.dataset.classes.names), frame_ids=gen.dataset.frames.id, min_effect=0.0)
    worse = [r for r in res["slices"] if r["value"] == "s3" and r["class"] is None]
    assert worse and worse[0]["direction"] == "worse"
    c = frame_counts(table)
    inside = site == "s3"
    tp, fp, fn = (c[j, :, -1] for j in range(3))
    metric = worse[0]["metric"]
    num = tp if metric != "f1" else 2 * tp
    den = {"precision": tp + fp, "recall": tp + fn, "f1": 2 * tp + fp + fn}[metric]
    assert worse[0]["in_slice"] == pytest.approx(num[inside].sum() / den[inside].sum(), abs=1e-4)
    assert worse[0]["rest"] == pytest.approx(num[~inside].sum() / den[~inside].sum(), abs=1e-4)
    lo, hi = worse[0]["interval"]
    assert lo <= worse[0]["in_slice"] <= hi


def test_planted_slices_and_cluster_are_found(planted):
    gen, view = planted
    rep = build_report(view)
    overall = [s for s in rep["slices"] if s["class"] is None]
    assert overall[0]["value"] in ("s3", "s5")
    top_worse = next(s for s in overall if s["direction"] == "worse")
    top_better = next(s for s in overall if s["direction"] == "better")
    assert (top_worse["field"], top_worse["value"]) == ("site", "s3")
    assert (top_better["field"], top_better["value"]) == ("site", "s5")
    fp = [c for c in rep["clusters"] if c["type"] == "FP"]
    poster = set(gen.truth["poster_pred_indices"])
    members = {m["id"] for m in fp[0]["crops"]}
    assert len(members & poster) / len(members) > 0.95
    assert len(members & poster) / len(poster) > 0.9
    assert fp[0]["over_represented"][0]["field"] == "weather"
    assert fp[0]["over_represented"][0]["value"] == "fog"
    assert set(rep) >= {"options", "clusters", "slices"}


def test_null_dataset_has_few_false_discoveries(null):
    gen, view = null
    res = view.slice_departures()
    assert res["tested"] > 100
    assert len(res["slices"]) <= 3
    fp = [c for c in view.failure_clusters() if c["type"] == "FP"]
    assert sum(c["size"] for c in fp) < 0.05 * sum(1 for _ in range(len(gen.dataset.inference_set("model"))))


def test_pairs_and_complements_are_not_duplicated():
    meta = {"a": np.array(["x", "y"] * 50), "b": np.array(["x", "y"] * 50)}
    s = build_slices(meta, 100)
    assert len(s) == 1  # b equals a; y is the complement of x; the pair a=x,b=x equals a=x


def test_reslicing_at_other_options_changes_with_the_table(planted):
    _gen, view = planted
    a = view.slice_departures(options=MatchOptions(conf=0.5))
    b = view.slice_departures(options=MatchOptions(conf=0.8))
    assert a["slices"] != b["slices"]


def test_report_sections_are_registered_in_order():
    assert list(SECTIONS)[:4] == ["clusters", "slices", "coverage", "label_issues"]


# ------------------------------------------------------------------ coverage and CLI


def test_coverage_near_duplicates_and_cli(tmp_path, planted):
    gen, view = planted
    # a training set: the planted dataset's frames of site s5, vectors nearly the same
    keep = np.asarray(gen.dataset.frames.metadata["site"]) == "s5"
    train = make_failure_dataset(200, seed=9)
    fv = train.frame_vectors.copy()
    n5 = int(keep.sum())
    fv[:n5] = gen.frame_vectors[keep][: len(fv)] + 1e-3
    train.frame_vectors = fv
    data = _store(tmp_path, "train", train)
    tv = Workspace(data).get("train")
    cov = view.coverage(tv)
    dup = {d["frame"] for d in cov["near_duplicates"]}
    assert dup == set(gen.dataset.frames.id[keep][: len(fv)].tolist())
    assert sum(b["frames"] for b in cov["by_similarity"]) == len(gen.dataset.frames)
    top = cov["by_slice"][0]
    assert (top["field"], top["value"]) == ("site", "s5")


def test_cli_report_writes_json_and_html(tmp_path, planted):
    import orjson

    from aquaembed.cli import main

    _gen, view = planted
    out, page = tmp_path / "r.json", tmp_path / "r.html"
    assert main(["report", "--data", str(view.stored.path.parent), "--name", "planted", "--json", str(out), "--html", str(page)]) == 0
    rep = orjson.loads(out.read_bytes())
    assert rep["options"]["conf"] == 0.5 and rep["clusters"] and rep["slices"]
    text = page.read_text()
    assert "Failure clusters" in text and "http" not in text.replace("http://www.w3.org/2000/svg", "")
    assert main(["report", "--data", str(view.stored.path.parent), "--name", "planted", "--conf", "2", "--json", str(out)]) == 2


@pytest.mark.parametrize("kw", [{"alpha": 0.0}, {"alpha": 1.5}, {"min_frames": 0}, {"n_boot": 0}])
def test_bad_slice_parameters_are_refused(planted, kw):
    from aquaembed.errors import ParameterError

    gen, view = planted
    s = build_slices(gen.dataset.frames.metadata, len(gen.dataset.frames), pairs=False)
    with pytest.raises(ParameterError) as err:
        slice_departures(view.table(), s, list(gen.dataset.classes.names), frame_ids=gen.dataset.frames.id, **kw)
    assert err.value.parameter == next(iter(kw))


def test_null_dataset_false_discoveries_over_seeds():
    """Across several null datasets, the share of tests significant at q < 0.05 stays tiny."""
    from aquaembed.evaluate import Evaluator

    hits, tested = 0, 0
    for seed in range(4):
        gen = make_failure_dataset(400, planted=False, seed=100 + seed)
        table = Evaluator(gen.dataset, gen.dataset.inference_set("model")).table(MatchOptions())
        s = build_slices(gen.dataset.frames.metadata, len(gen.dataset.frames))
        res = slice_departures(table, s, list(gen.dataset.classes.names), frame_ids=gen.dataset.frames.id)
        hits += len(res["slices"])
        tested += res["tested"]
    assert tested > 1000
    assert hits <= 4


def test_without_the_stored_graph_or_crop_embeddings(tmp_path):
    """A dataset ingested before the graph existed gets it from its index; without crop
    embeddings the report still has its slices (and no clusters)."""
    gen = make_failure_dataset(300, seed=4)
    data = _store(tmp_path, "old", gen)
    sd = Store(data).open("old")
    want = Workspace(data).get("old").failure_clusters()
    sd.delete_artifact("knn-crop")
    sd.delete_artifact("knn-crop-sim")
    assert Workspace(data).get("old").failure_clusters() == want
    bare = make_failure_dataset(300, seed=4)
    sd2 = Store(data).create("bare", bare.dataset)
    sd2.set_embeddings("frame", bare.dataset.frames.id, bare.frame_vectors)
    build_artifacts(sd2, projector=quick_projection)
    rep = build_report(Workspace(data).get("bare"))
    assert rep["clusters"] == [] and rep["slices"]
