"""The dashboard's pure figure builders, without a browser."""

from __future__ import annotations

import json
import re

import numpy as np
import plotly.io as pio
import pytest

from aquaembed.analysis.selection import mix
from aquaembed.dashboard import figures
from aquaembed.dashboard.context import State, parse_query
from aquaembed.matching import CONFUSION, FN, FP, TP
from aquaembed.metrics import BELOW_THRESHOLD
from aquaembed.render import TYPE_COLOURS

CLASSES = ["car", "truck", "background"]
CM = np.array([[5, 1, 2],
               [0, 3, 0],
               [4, 0, 0]])


def _crop_proj(types: list[int]) -> dict:
    n = len(types)
    rng = np.random.default_rng(0)
    return {"kind": "crop", "x": rng.normal(size=n).astype(np.float32), "y": rng.normal(size=n).astype(np.float32),
            "type": np.array(types, dtype=np.int8), "class": np.arange(n) % 2, "score": np.where(np.arange(n) % 3 == 0, np.nan, 0.7),
            "source": (np.arange(n) % 3 != 0).astype(np.uint8), "ids": np.arange(n), "frame_id": np.arange(n) // 2}


def test_crop_types_one_trace_each_in_legend_order_with_render_colours() -> None:
    types = [TP, FP, FP, FN, CONFUSION, BELOW_THRESHOLD, TP]
    proj = _crop_proj(types)
    groups = figures.embedding_groups(proj, "type", class_names=["car", "truck"])
    fig = figures.embedding_figure(proj, groups)
    assert [t.name.split(" (")[0] for t in fig.data] == ["TP", "FP", "FN", "confusion", "below threshold"]
    assert [len(t.x) for t in fig.data] == [2, 2, 1, 1, 1]
    for trace, code in zip(fig.data, (TP, FP, FN, CONFUSION, BELOW_THRESHOLD)):
        r, g, b = TYPE_COLOURS[code]
        assert trace.marker.color == f"rgb({r}, {g}, {b})"
        assert trace.type == "scattergl"
    # every type keeps its trace when empty, so legend state survives a threshold change
    empty = figures.embedding_groups(_crop_proj([TP, TP]), "type", class_names=["car", "truck"])
    assert [g.rows.size for g in empty] == [2, 0, 0, 0, 0]
    assert fig.data[0].name == "TP (2 labels + 0 inferences)"  # rows 0 and 6 are label crops


def test_points_map_back_to_rows() -> None:
    proj = _crop_proj([FP, TP, FP, TP])
    groups = figures.embedding_groups(proj, "type", class_names=["car", "truck"])
    assert figures.row_of_point(groups, 0, 1) == 3  # second TP
    assert figures.row_of_point(groups, 1, 0) == 0  # first FP
    assert figures.row_of_point(groups, 1, 5) is None
    assert figures.row_of_point(groups, 9, 0) is None


def test_frames_nan_goes_to_a_named_grey_trace() -> None:
    proj = {"kind": "frame", "x": np.zeros(4, np.float32), "y": np.zeros(4, np.float32),
            "f1": np.array([0.5, np.nan, 1.0, np.nan]), "precision": np.zeros(4), "recall": np.zeros(4)}
    groups = figures.embedding_groups(proj, "f1", class_names=[])
    fig = figures.embedding_figure(proj, groups)
    assert len(fig.data) == 2
    coloured, grey = fig.data
    assert list(np.asarray(coloured.marker.color)) == [0.5, 1.0] and coloured.marker.cmin == 0 and coloured.marker.cmax == 1
    assert grey.marker.color == figures.UNDEFINED_GREY and "undefined" in grey.name and len(grey.x) == 2


def test_metadata_colouring_one_trace_per_value() -> None:
    proj = {"kind": "frame", "x": np.zeros(5, np.float32), "y": np.zeros(5, np.float32),
            "metadata": {"scene": np.array(["a", "b", "a", "c", "a"], dtype=object), "idx": np.arange(5)}}
    groups = figures.embedding_groups(proj, "meta:scene", class_names=[])
    assert [(g.name, g.rows.tolist()) for g in groups] == [("a", [0, 2, 4]), ("b", [1]), ("c", [3])]
    with pytest.raises(KeyError):
        figures.embedding_groups(proj, "meta:nope", class_names=[])


def test_scatter_arrays_are_binary_encoded() -> None:
    proj = _crop_proj([TP] * 50)
    fig = figures.embedding_figure(proj, figures.embedding_groups(proj, "type", class_names=["car", "truck"]))
    trace = json.loads(pio.to_json(fig))["data"][0]
    assert isinstance(trace["x"], dict) and "bdata" in trace["x"] and trace["x"]["dtype"] == "f4"


def test_visible_rows_samples_and_zooms() -> None:
    x = np.linspace(0, 1, 1000).astype(np.float32)
    y = np.zeros(1000, np.float32)
    rows, sampled = figures.visible_rows(x, y, max_points=100)
    assert sampled and rows.size == 100 and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, figures.visible_rows(x, y, max_points=100)[0])  # deterministic
    rows, sampled = figures.visible_rows(x, y, max_points=500, viewport={"x": [0.0, 0.1], "y": [-1, 1]})
    assert not sampled and rows.size == np.count_nonzero(x <= 0.1)


def test_confusion_heatmap_has_background_row_and_column() -> None:
    fig = figures.confusion_figure(CLASSES, CM)
    hm = fig.data[0]
    assert list(hm.x) == CLASSES and list(hm.y) == CLASSES
    assert np.asarray(hm.z).shape == (3, 3)
    assert hm.text[2][0] == "4" and hm.text[0][2] == "2"
    assert "FP" in hm.customdata[2][0][1] and "FN" in hm.customdata[0][2][1]
    assert fig.layout.yaxis.autorange == "reversed"


def test_row_normalisation() -> None:
    norm = figures.normalise_rows(np.array([[1, 3], [0, 0]]))
    assert norm[0].tolist() == [0.25, 0.75] and np.isnan(norm[1]).all()
    z = np.asarray(figures.confusion_figure(CLASSES, CM, normalise=True).data[0].z, dtype=float)
    assert z[0].tolist() == pytest.approx([5 / 8, 1 / 8, 2 / 8])
    assert np.nansum(z, axis=1)[:2] == pytest.approx([1.0, 1.0])


def test_hide_diagonal_and_log() -> None:
    z = np.asarray(figures.confusion_figure(CLASSES, CM, hide_diagonal=True).data[0].z, dtype=float)
    assert np.isnan(z[0, 0]) and np.isnan(z[1, 1]) and z[2, 0] == 4
    fig = figures.confusion_figure(CLASSES, CM, log=True)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z[0, 0] == pytest.approx(np.log10(6)) and fig.data[0].text[0][0] == "5"  # colours log, texts counts
    assert "log" in fig.data[0].colorbar.title.text


def test_confusion_pairs_filter_and_kinds() -> None:
    rows = figures.confusion_pairs(CLASSES, CM)
    kinds = {(r["label"], r["predicted"]): r["kind"] for r in rows}
    assert kinds == {("car", "car"): "TP", ("car", "truck"): "confusion", ("car", "background"): "FN (missed)",
                     ("truck", "truck"): "TP", ("background", "car"): "FP (no label)"}
    assert rows[-1]["kind"] == "TP"  # errors first
    only_truck = figures.confusion_pairs(CLASSES, CM, class_filter="truck")
    assert {(r["label"], r["predicted"]) for r in only_truck} == {("car", "truck"), ("truck", "truck")}
    assert next(r for r in rows if r["id"] == "car|truck")["row_share"] == pytest.approx(1 / 8)


def test_report_rows_keep_undefined_as_none() -> None:
    metrics = {"per_class": {"car": {"tp": 0, "fp": 0, "fn": 2, "precision": None, "recall": 0.0, "f1": 0.0}},
               "overall": {"tp": 0, "fp": 0, "fn": 2, "precision": None, "recall": 0.0, "f1": 0.0}}
    rows = figures.report_rows(metrics)
    assert [r["class"] for r in rows] == ["car", "overall"]
    assert rows[0]["precision"] is None and rows[0]["labels"] == 2 and rows[0]["predictions"] == 0
    assert figures.fmt(None) == "—" and figures.fmt(float("nan")) == "—" and figures.fmt(0.5, 2) == "0.50"


def test_pr_and_coco_figures() -> None:
    curves = {"thresholds": [0.0, 0.5, 1.0],
              "overall": {"precision": [0.5, 0.8, None], "recall": [1.0, 0.6, 0.0]},
              "per_class": {"car": {"precision": [0.5, 0.9, None], "recall": [1.0, 0.7, 0.0]}}}
    fig = figures.pr_figure(curves, conf=0.5)
    lines = [t for t in fig.data if t.mode == "lines"]
    assert [t.name for t in lines] == ["overall", "car"]
    marker = next(t for t in fig.data if t.mode == "markers")
    assert list(marker.x) == [0.6] and list(marker.y) == [0.8]
    coco = figures.coco_figure({"AP": 0.5, "AP50": 0.7, "ARs": -1.0})
    assert list(coco.data[0].x) == ["AP", "AP50", "ARs"] and list(coco.data[0].text) == ["0.500", "0.700", "—"]


def test_mix_bars_show_the_shares_of_the_tables() -> None:
    # defect 2 of issue 15: the rest's bars were re-normalised over the classes present in
    # the selection (pedestrian "rest" 100% where the table said 18%)
    cls = np.array([0] * 5 + [1] * 18 + [2] * 77)
    mask = np.zeros(100, dtype=bool)
    mask[:5] = True  # five cars: the selection holds no pedestrian
    m = mix(cls, mask, field="class", categories=[0, 1, 2], names=["car", "pedestrian", "bus"])
    fig = figures.mix_figure(m, title="classes", order=[1, 0])
    sel, rest = fig.data
    assert list(sel.y) == ["pedestrian", "car"]
    assert list(rest.x) == pytest.approx([18 / 95, 0.0])  # the pedestrians' share of the whole rest
    assert list(sel.x) == pytest.approx([0.0, 1.0])
    assert rest.text[0] == "19% (18)" and sel.text[1] == "100% (5)"
    # one neutral colour for the selection, whatever the categories are
    assert sel.marker.color == figures.SELECTION_COLOUR and not isinstance(sel.marker.color, (list, tuple))
    assert sel.textposition == "outside" and sel.cliponaxis is False
    assert fig.layout.legend.yanchor == "bottom" and fig.layout.legend.y >= 1.0  # above the plot, clear of the ticks


def test_shares_never_read_zero_when_not_empty() -> None:
    assert figures.pct(176 / 40_529) == "0.4%"
    assert figures.pct(1 / 40_529) == "<0.1%"
    assert figures.pct(0.0) == "0%" and figures.pct(None) == "—" and figures.pct(0.5) == "50%"


@pytest.mark.parametrize("colour", ["f1", "precision", "recall", "meta:scene"])
def test_trace_uids_are_safe_css_identifiers(colour: str) -> None:
    # defect 1 of issue 15: a uid like "F1 undefined (—)" ended up in a CSS selector
    n = 6
    proj = {"kind": "frame", "x": np.zeros(n, np.float32), "y": np.zeros(n, np.float32),
            "f1": np.array([0.5, np.nan, 1, 0, np.nan, 1]), "precision": np.full(n, np.nan), "recall": np.ones(n),
            "metadata": {"scene": np.array(["a b", "(c)", "—", "a b", "d", "e"], dtype=object)}}
    fig = figures.embedding_figure(proj, figures.embedding_groups(proj, colour, class_names=[]))
    uids = [t.uid for t in fig.data]
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", u) for u in uids), uids
    assert len(set(uids)) == len(uids)


def test_a_click_does_not_select_and_nothing_links_outside() -> None:
    proj = _crop_proj([TP, FP])
    fig = figures.embedding_figure(proj, figures.embedding_groups(proj, "type", class_names=["car", "truck"]))
    assert fig.layout.clickmode == "event"  # defect 3: a click is not a selection
    cfg = figures.GRAPH_CONFIG
    assert cfg["showSendToCloud"] is False and cfg["showEditInChartStudio"] is False and cfg["displaylogo"] is False
    assert "sendDataToCloud" in cfg["modeBarButtonsToRemove"]


def test_crop_legend_says_which_crops_it_counts() -> None:
    proj = _crop_proj([TP, TP, FP, FN, CONFUSION, BELOW_THRESHOLD])  # sources 0 1 1 0 1 1
    names = [g.label for g in figures.embedding_groups(proj, "type", class_names=["car", "truck"])]
    assert names == ["TP (1 label + 1 inference)", "FP (1 inference)", "FN (1 label)",
                     "confusion (0 labels + 1 inference)", "below threshold (1 inference)"]


def test_state_round_trips_through_the_url() -> None:
    st = State("demo", "detector", 0.35, 0.6, "metrics", "frame", "meta:scene")
    assert State.from_query(st.to_query()) == st
    greedy = State("demo", "detector", 0.35, 0.6, "metrics", "frame", "meta:scene", "greedy", True, True)
    assert "mode=greedy" in greedy.to_query() and State.from_query(greedy.to_query()) == greedy
    assert greedy.options.mode == "greedy" and greedy.options.class_aware and greedy.options.crowd
    assert "mode=" not in st.to_query()  # defaults stay out of shared links
    bad, notes = parse_query("?conf=7&iou=abc&view=nope&mode=fast&crowd=maybe")
    assert bad.conf == 0.5 and bad.iou == 0.5 and bad.mode == "optimal" and not bad.crowd
    assert notes == ["mode=fast is not one of optimal, greedy (using optimal)",
                     "conf=7 is not a number in [0, 1] (using 0.5)", "iou=abc is not a number in [0.01, 1] (using 0.5)",
                     "crowd=maybe is not true or false (using false)"]


def test_hidden_pages_are_mounted_on_first_view_and_validated_in_full(tmp_path) -> None:
    from aquaembed.dashboard import create_dash, ids
    from aquaembed.explore import Workspace

    def component_ids(tree) -> set[str]:
        return {c.id for c in tree._traverse() if isinstance(getattr(c, "id", None), str)}

    app = create_dash(Workspace(tmp_path))
    served, full = component_ids(app.layout()), component_ids(app.validation_layout)
    assert {ids.EMB_GRAPH, ids.EMB_KIND, ids.EMB_COLOUR, ids.MOUNTED} <= served  # the map and its controls, at once
    assert ids.MET_REPORT not in served and ids.FR_GRID not in served  # mounted when first shown
    assert {ids.MET_REPORT, ids.MET_CM_GRAPH, ids.FR_GRID} <= full  # Dash checks callbacks against every page
    assert {ids.PAGE_PREFIX + v for v in ids.VIEWS} <= served
