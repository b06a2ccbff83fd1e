"""The failure report under a custom metric and "where B regressed", on generated data:
counts checked against the dense matrices by hand, a planted regression (a slice and a
cluster of labels B misses) found first, and a null regression yielding at most a handful."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from aquaembed.analysis.custom_metrics import CustomMetricStore
from aquaembed.analysis.report import build_report
from aquaembed.analysis.slices import frame_counts
from aquaembed.data import Dataset, Inferences
from aquaembed.errors import NotFoundError, ParameterError
from aquaembed.evaluate import Evaluator
from aquaembed.explore import Workspace
from aquaembed.matching import TP, MatchOptions
from aquaembed.metrics import FrameMatrices, frame_confusion
from aquaembed.synthetic_failures import make_failure_dataset
from factories import store_generated

OTHER_RULE = MatchOptions(conf=0.7, mode="greedy", class_aware=True, iou=0.75)


def _with_b(gen, drop: np.ndarray, name: str = "B"):
    """``gen`` with a second inference set B: A without the inferences ``drop`` (bool, shape (N,))."""
    a = gen.dataset.inference_set("model")
    keep = ~drop
    b = Inferences(a.frame[keep], a.cls[keep], a.box[keep], a.score[keep], name=name)
    ds = Dataset(gen.dataset.classes, gen.dataset.frames, gen.dataset.labels, {"model": a, name: b})
    return replace(gen, dataset=ds)


def _tp_pairs(gen) -> tuple[np.ndarray, np.ndarray]:
    """(label row, inference index) of every TP of A at the default options."""
    t = Evaluator(gen.dataset, gen.dataset.inference_set("model")).table(MatchOptions())
    tp = t.type == TP
    return t.label[tp], t.pred[tp]


@pytest.fixture(scope="module")
def regressed(tmp_path_factory):
    """B misses most labels of site s1 (a slice), the 45 labels of one rare look (a tight group
    of crop vectors, all sites: a cluster), and 5% of the other TPs at random."""
    gen = make_failure_dataset(600, seed=11)
    rng = np.random.default_rng(5)
    lab, pred = _tp_pairs(gen)
    site = np.asarray(gen.dataset.frames.metadata["site"])[gen.dataset.labels.frame[lab]]
    rare = rng.choice(lab.size, 45, replace=False)
    in_cluster = np.zeros(lab.size, dtype=bool)
    in_cluster[rare] = True
    look = rng.normal(size=gen.label_vectors.shape[1]) * 1.5
    gen.label_vectors[lab[rare]] = look + rng.normal(0, 0.05, (45, look.size))
    has_vec = np.isin(pred[rare], gen.pred_ids)
    gen.pred_vectors[np.searchsorted(gen.pred_ids, pred[rare][has_vec])] = gen.label_vectors[lab[rare][has_vec]]
    drop_lab = ((site == "s1") & (rng.random(lab.size) < 0.6)) | in_cluster | (rng.random(lab.size) < 0.05)
    drop = np.zeros(len(gen.dataset.inference_set("model")), dtype=bool)
    drop[pred[drop_lab]] = True
    data = tmp_path_factory.mktemp("reg") / "data"
    store_generated(data, "reg", _with_b(gen, drop))
    planted = set(gen.dataset.labels.id[lab[in_cluster]].tolist())
    return Workspace(data).get("reg"), planted


@pytest.fixture(scope="module")
def unchanged(tmp_path_factory):
    """B misses 5% of A's TPs at random: no regression pattern."""
    gen = make_failure_dataset(600, seed=12)
    rng = np.random.default_rng(6)
    lab, pred = _tp_pairs(gen)
    drop = np.zeros(len(gen.dataset.inference_set("model")), dtype=bool)
    drop[pred[rng.random(lab.size) < 0.05]] = True
    data = tmp_path_factory.mktemp("null-reg") / "data"
    store_generated(data, "same", _with_b(gen, drop))
    return Workspace(data).get("same")


# ------------------------------------------------------------------ custom metric


@pytest.fixture(scope="module")
def custom(tmp_path_factory):
    gen = make_failure_dataset(600, seed=1)
    data = tmp_path_factory.mktemp("custom") / "data"
    store_generated(data, "planted", gen)
    view = Workspace(data).get("planted")
    stack = frame_confusion(view.table("model", OTHER_RULE))
    CustomMetricStore(view.stored).save_matrices("model", "greedy_ca", stack)
    return Workspace(data).get("planted"), stack


def test_frame_counts_of_matrices_by_hand(custom):
    _view, stack = custom
    got = frame_counts(FrameMatrices.from_stack(stack))
    c = stack.shape[1] - 1
    diag = np.einsum("fii->fi", stack)[:, :c]
    want_tp, want_fp, want_fn = diag, stack.sum(axis=1)[:, :c] - diag, stack.sum(axis=2)[:, :c] - diag
    for k, want in enumerate((want_tp, want_fp, want_fn)):
        np.testing.assert_array_equal(got[k, :, :c], want)
        np.testing.assert_array_equal(got[k, :, c], want.sum(axis=1))


def test_custom_metric_slices_are_those_of_its_matrices(custom):
    view, _stack = custom
    mine = view.slice_departures("model", metric="greedy_ca")
    # the matrices came from another matching rule: its table gives the same numbers
    direct = view.slice_departures("model", OTHER_RULE)
    assert mine == direct and mine["slices"]
    builtin = view.slice_departures("model")
    assert mine["slices"] != builtin["slices"]
    s = mine["slices"][0]
    rows = np.isin(view.dataset.frames.id, view.slice_frame_ids(s))
    cls = None if s["class"] is None else view.dataset.classes.index_of_name(s["class"])
    counts = view.frame_matrices("model", metric="greedy_ca").restrict(rows).overall() if cls is None else \
        view.frame_matrices("model", metric="greedy_ca").restrict(rows).per_class()[cls]
    assert (s["tp"], s["fp"], s["fn"]) == (int(counts.tp), int(counts.fp), int(counts.fn))


def test_custom_metric_report_says_why_there_are_no_clusters(custom):
    view, _stack = custom
    rep = build_report(view, "model", metric="greedy_ca")
    assert rep["metric"] == "greedy_ca"
    assert rep["clusters"] == [] and "custom metric" in rep["notes"]["clusters"]
    assert "label_issues" not in rep and "label_issues" in rep["notes"]
    assert rep["slices"] == view.slice_departures("model", OTHER_RULE)["slices"]
    # the built-in report is unchanged by the metric's existence
    plain = build_report(view, "model")
    assert plain["clusters"] and "metric" not in plain and "notes" not in plain
    with pytest.raises(NotFoundError) as err:
        build_report(view, "model", metric="nope")
    assert err.value.parameter == "metric"


def test_custom_metric_coverage_bins_sum_to_its_totals(custom, tmp_path):
    view, _stack = custom
    train = make_failure_dataset(200, seed=9)
    data = tmp_path / "data"
    store_generated(data, "train", train)
    tv = Workspace(data).get("train")
    cov = view.coverage(tv, "model", metric="greedy_ca")
    total = view.frame_matrices("model", metric="greedy_ca").overall()
    assert sum(b["tp"] for b in cov["by_similarity"]) == int(total.tp)
    assert sum(b["fn"] for b in cov["by_similarity"]) == int(total.fn)
    assert "label_crops" not in cov and cov["label_crops_note"]
    assert "label_crops" in view.coverage(tv, "model")


def test_cli_report_metric(custom, tmp_path):
    import orjson

    from aquaembed.cli import main

    view, _ = custom
    out = tmp_path / "r.json"
    args = ["report", "--data", str(view.stored.path.parent), "--name", "planted", "--json", str(out)]
    assert main([*args, "--metric", "greedy_ca"]) == 0
    rep = orjson.loads(out.read_bytes())
    assert rep["metric"] == "greedy_ca" and rep["clusters"] == [] and rep["slices"]
    assert main([*args, "--metric", "nope"]) == 2


# ------------------------------------------------------------------ where B regressed


def test_planted_regression_is_found_first(regressed):
    view, planted = regressed
    rep = build_report(view, compare=("model", "B"))
    assert rep["compare"]["models"] == ["model", "B"] and rep["model"] == "B"
    assert rep["compare"]["labels"]["broken"] > 0
    overall = [s for s in rep["slices"] if s["class"] is None]
    top = overall[0]
    assert (top["field"], top["value"], top["direction"], top["metric"]) == ("site", "s1", "worse", "broken_share")
    assert top["in_slice"] > top["rest"] and top["interval"][0] > top["rest"]
    first = rep["clusters"][0]
    assert first["type"] == "broken"
    members = {c["id"] for c in first["crops"]}
    assert len(members & planted) / len(members) > 0.8  # purity
    assert len(members & planted) / len(planted) > 0.6  # recall
    assert "coverage" not in rep and "label_issues" not in rep


def test_broken_share_by_hand(regressed):
    view, _ = regressed
    res = view.regression_slices("model", "B")
    s = next(r for r in res["slices"] if r["field"] == "site" and r["class"] is None)
    trans = view.transitions("model", "B")
    site = np.asarray(view.dataset.frames.metadata["site"])[view.dataset.labels.frame]
    inside = site == s["value"]
    broken, found = trans == 1, (trans == 1) | (trans == 2)
    assert s["broken"] == int((broken & inside).sum()) and s["found_a"] == int((found & inside).sum())
    assert s["in_slice"] == pytest.approx((broken & inside).sum() / (found & inside).sum(), abs=1e-4)
    assert s["rest"] == pytest.approx((broken & ~inside).sum() / (found & ~inside).sum(), abs=1e-4)
    # the broken ids are compare's
    c = view.compare("model", "B")
    ids = {m["id"] for cl in view.regression_clusters("model", "B") for m in cl["crops"]}
    assert ids <= set(c["labels"]["broken"])


def test_no_regression_gives_at_most_a_handful(unchanged):
    view = unchanged
    res = view.regression_slices("model", "B")
    assert res["tested"] > 100
    assert len(res["slices"]) <= 3
    broken = view.compare("model", "B")["labels"]["counts"]["broken"]
    clustered = sum(c["size"] for c in view.regression_clusters("model", "B"))
    assert clustered <= 0.1 * broken


def test_regression_parameters(regressed, tmp_path):
    import orjson

    from aquaembed.cli import main

    view, _ = regressed
    with pytest.raises(ParameterError):
        build_report(view, compare=("B", "B"))
    with pytest.raises(ParameterError) as err:
        build_report(view, "model", compare=("model", "B"))
    assert err.value.parameter == "model"
    out = tmp_path / "r.json"
    args = ["report", "--data", str(view.stored.path.parent), "--name", "reg", "--json", str(out)]
    page = tmp_path / "r.html"
    assert main([*args, "--compare", "model", "B", "--html", str(page)]) == 0
    rep = orjson.loads(out.read_bytes())
    assert "Where B regressed against model" in page.read_text()
    assert rep["slices"][0]["metric"] == "broken_share" and rep["clusters"][0]["type"] == "broken"
    assert main([*args, "--compare", "model", "nope"]) == 2


def test_build_report_reports_progress_in_order(custom, capsys):
    view, _ = custom
    seen: list[tuple[str, float]] = []
    build_report(view, "model", MatchOptions(conf=0.55), sections=("clusters", "slices"),
                 progress=lambda step, frac: seen.append((step, frac)))
    assert [s for s, _ in seen] == ["matching", "clusters", "slices", "done"]
    fracs = [f for _, f in seen]
    assert fracs == sorted(fracs) and fracs[0] == 0.0 and fracs[-1] == 1.0
    from aquaembed.cli import main

    out = view.stored.path.parent.parent / "p.json"
    assert main(["report", "--data", str(view.stored.path.parent), "--name", "planted", "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "aquaembed report [" in err and "100% done" in err and " 0% matching" in err


# ------------------------------------------------------------------ restricted to a scenario


def test_report_within_a_scenario(custom):
    view, _ = custom
    view.save_scenario("day", where='shift == "day"', replace=True)
    view.save_scenario("no_fog", where='weather != "fog"', replace=True)
    rep = build_report(view, "model", scenario="day", sections=("clusters", "slices"))
    assert rep["scenario"] == "day"
    meta = view.dataset.frames.metadata
    day = np.asarray(meta["shift"]) == "day"
    c = frame_counts(view.table("model"))
    tp, fp, fn = (c[j, :, -1] for j in range(3))
    s = next(r for r in rep["slices"] if r["field"] == "site" and r["class"] is None)
    inside = day & (np.asarray(meta["site"]) == s["value"])
    rest = day & ~inside
    num = {"precision": tp, "recall": tp, "f1": 2 * tp}[s["metric"]]
    den = {"precision": tp + fp, "recall": tp + fn, "f1": 2 * tp + fp + fn}[s["metric"]]
    assert s["frames"] == int(inside.sum())
    assert s["in_slice"] == pytest.approx(num[inside].sum() / den[inside].sum(), abs=1e-4)
    assert s["rest"] == pytest.approx(num[rest].sum() / den[rest].sum(), abs=1e-4)
    assert all(r["field"] != "shift" for r in rep["slices"])  # one value left: nothing to compare
    day_ids = set(view.dataset.frames.id[day].tolist())
    assert rep["clusters"] and all(set(cl["frames"]) <= day_ids for cl in rep["clusters"])
    # the poster (in fog frames) is an FP cluster over all frames, and none without fog
    poster_type = {cl["type"] for cl in build_report(view, "model", sections=("clusters",))["clusters"][:1]}
    assert poster_type == {"FP"}
    fog = set(view.dataset.frames.id[np.asarray(meta["weather"]) == "fog"].tolist())
    no_fog = build_report(view, "model", scenario="no_fog", sections=("clusters",))["clusters"]
    assert all(not (set(cl["frames"]) & fog) for cl in no_fog)
    with pytest.raises(NotFoundError):
        build_report(view, "model", scenario="nope")
