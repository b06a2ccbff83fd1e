"""The header's metric and scenario in the page state, and what the dashboard asks the library
with them (the browser tests drive the controls; these check the state and the context)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aquaembed.analysis.custom_metrics import CustomMetricStore
from aquaembed.dashboard.context import Context, State, parse_query
from aquaembed.explore import Workspace
from aquaembed.matching import MatchOptions
from aquaembed.metrics import frame_confusion
from factories import DS, build_store


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build_store(tmp_path_factory.mktemp("scope"))
    view = Workspace(root).get(DS)
    # another matching rule as the custom metric: greedy, class-aware, IoU 0.75
    stack = frame_confusion(view.table("yolo", MatchOptions(mode="greedy", class_aware=True, iou=0.75)))
    CustomMetricStore(view.stored).save_matrices("yolo", "strict", stack)
    Workspace(root).get(DS).save_scenario("first", frames=view.dataset.frames.id[:15].tolist())
    return root


def test_metric_and_scenario_round_trip_and_stay_out_of_default_links() -> None:
    st = State("demo", "detector", metric="strict", scenario="night")
    q = st.to_query()
    assert "metric=strict" in q and "scenario=night" in q
    assert State.from_query(q) == st
    plain = State("demo", "detector")
    assert "metric" not in plain.to_query() and "scenario" not in plain.to_query()
    assert State.from_query("?metric=builtin").metric == ""  # the control's value for the built-in matching
    assert plain.metric_name is None and plain.scenario_name is None
    assert st.scope_label() == "metric strict · scenario night"


def test_unknown_metric_or_scenario_in_a_link_is_replaced_with_a_notice(data: Path) -> None:
    ctx = Context(Workspace(data))
    raw, notes = parse_query(f"?dataset={DS}&model=yolo&metric=nope&scenario=gone")
    st = ctx.normalise(raw, notes)
    assert st.metric == "" and st.scenario == ""
    assert notes == ["metric 'nope' does not exist for 'yolo' (showing the built-in matching)",
                     "scenario 'gone' does not exist (showing all frames)"]
    ok = ctx.normalise(State(DS, "yolo", metric="strict", scenario="first"))
    assert ok.metric == "strict" and ok.scenario == "first"
    # a metric of another inference set does not carry over
    assert ctx.normalise(State(DS, "detr", metric="strict")).metric == ""


def test_frame_map_follows_the_metric_and_draws_only_the_scenario(data: Path) -> None:
    ctx = Context(Workspace(data))
    view = ctx.view(DS)
    st = ctx.normalise(State(DS, "yolo", kind="frame", colour="f1", metric="strict"))
    proj = ctx.projection(st)
    rows = view.dataset.frames.index_of_ids(proj["ids"])
    want = view.frame_metrics("yolo", st.options, "strict").counts.as_dict()
    builtin = view.frame_metrics("yolo", st.options).counts.as_dict()
    np.testing.assert_array_equal(proj["tp"], want["tp"][rows])
    np.testing.assert_array_equal(proj["f1"], want["f1"][rows])
    assert not np.array_equal(np.nan_to_num(proj["f1"], nan=-1), np.nan_to_num(builtin["f1"][rows], nan=-1))
    scoped = State(**{**st.as_dict(), "scenario": "first"})
    _, groups, _ = ctx.groups(scoped)
    drawn = np.concatenate([g.rows for g in groups])
    members = set(view.scenarios_record("first")["frames"])
    assert sorted(np.asarray(proj["ids"])[drawn].tolist()) == sorted(members)
    crop = ctx.normalise(State(DS, "yolo", kind="crop", colour="type", scenario="first"))
    cproj, cgroups, _ = ctx.groups(crop)
    cdrawn = np.concatenate([g.rows for g in cgroups])
    frame_of = np.asarray(cproj["frame_id"])
    assert set(frame_of[cdrawn].tolist()) <= members
    assert cdrawn.size == int(np.isin(frame_of, list(members)).sum())


def test_context_metrics_are_the_library_numbers_of_the_state(data: Path) -> None:
    ctx = Context(Workspace(data))
    view = ctx.view(DS)
    st = ctx.normalise(State(DS, "yolo", metric="strict", scenario="first"))
    got = ctx.metrics(st)
    assert got == view.metrics("yolo", options=st.options, pr=False, metric="strict", scenario="first")
    assert got["overall"] != view.metrics("yolo", options=st.options, pr=False)["overall"]


def test_cell_examples_keep_to_a_scenario_and_to_frame_ids(data: Path) -> None:
    view = Workspace(data).get(DS)
    members = set(view.scenarios_record("first")["frames"])
    every = view.matches("yolo", type="TP", limit=10_000)
    inside = view.matches("yolo", type="TP", scenario="first", limit=10_000)
    assert inside["total"] == sum(r["image_id"] in members for r in every["rows"]) > 0
    assert {r["image_id"] for r in inside["rows"]} <= members
    two = sorted(members)[:2]
    both = view.matches("yolo", scenario="first", frames=two, limit=10_000)
    assert {r["image_id"] for r in both["rows"]} <= set(two)
    # the cell counts agree with the scenario's confusion matrix
    m = view.metrics("yolo", scenario="first")
    assert inside["total"] == sum(m["confusion_matrix"][i][i] for i in range(len(m["classes"]) - 1))


def test_plugin_progress_is_of_the_run_at_the_asked_options(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "analysis"))  # tests/analysis/metric_plugins.py
    view = Workspace(data).get(DS)
    CustomMetricStore(view.stored).save_plugin("yolo", "naive", "metric_plugins:label_counts", replace=True)
    view = Workspace(data).get(DS)
    low, high = MatchOptions(conf=0.2), MatchOptions(conf=0.8)
    assert view.metric_progress("yolo", "naive", low) is None  # not run yet
    view.metrics("yolo", low, metric="naive")
    f = len(view.dataset.frames)
    assert view.metric_progress("yolo", "naive", low) == (f, f)
    assert view.metric_progress("yolo", "naive", high) is None  # the dashboard keeps polling until it runs there
    assert view.metric_progress("yolo", "naive") == (f, f)


def test_selection_summary_under_a_scenario_compares_with_the_scenarios_other_points(data: Path) -> None:
    from aquaembed.dashboard.callbacks.embedding import _summary

    ctx = Context(Workspace(data))
    view = ctx.view(DS)
    st = ctx.normalise(State(DS, "yolo", kind="frame", colour="f1", scenario="first"))
    proj = ctx.projection(st)
    inside = ctx.scenario_rows(st, proj)
    assert inside is not None and 0 < inside.size < len(proj["ids"])
    mask = np.zeros(len(proj["ids"]), dtype=bool)
    mask[inside[:3]] = True
    text = str(_summary(ctx, st, proj, mask)[0].children)
    assert f"of {inside.size:,}" in text  # not of every frame of the dataset
    frames = set(view.dataset.frames.id[:15].tolist())
    assert {int(i) for i in np.asarray(proj["ids"])[inside]} <= frames


def test_a_failing_plugin_records_its_error_and_the_progress_poll_stops(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aquaembed.errors import InputError

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "analysis"))
    view = Workspace(data).get(DS)
    CustomMetricStore(view.stored).save_plugin("yolo", "broken", "metric_plugins:wrong_shape", replace=True)
    view = Workspace(data).get(DS)
    opts = MatchOptions(conf=0.3)
    assert view.metric_error("yolo", "broken", opts) is None
    with pytest.raises(InputError):
        view.metrics("yolo", opts, metric="broken")
    err = view.metric_error("yolo", "broken", opts)
    assert err is not None and "shape" in err
    assert view.metric_error("yolo", "broken", MatchOptions(conf=0.9)) is None  # another run, not failed yet
