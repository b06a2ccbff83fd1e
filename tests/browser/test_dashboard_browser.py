"""The dashboard in headless Chromium, driven the way a person drives it.

Views are opened by URL once; from there every step uses the controls: dropdowns are
opened and an option clicked, thresholds are typed and Enter pressed, legend entries,
confusion cells, table cells and points are clicked, a box is dragged. Each test saves
a screenshot of what it drove to ``artifacts/screenshots``; after each one the
``_no_request_leaves_the_host`` fixture checks that every request stayed on this host.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest
from selenium.webdriver.common.by import By

from aquaembed.dashboard import ids

pytestmark = pytest.mark.browser

PLOT = "#{} .js-plotly-plot"


def _open(browser, url: str, graph: str | None = ids.EMB_GRAPH) -> None:
    browser.get(url)
    if graph:
        browser.wait(lambda: (browser.graph_data(graph) or [None])[0] is not None and len(browser.graph_data(graph)) > 0,
                     what=f"{graph} to draw")


def _names(browser, graph: str = ids.EMB_GRAPH) -> list[str]:
    return [t["name"] for t in browser.graph_data(graph) or []]


def _type_counts(browser) -> dict[str, int]:
    """Crops per type from the legend, e.g. ``TP (535 labels + 535 inferences)`` -> 1070."""
    out = {}
    for name in _names(browser):
        head, _, rest = name.partition(" (")
        out[head] = sum(int(n.replace(",", "")) for n in re.findall(r"[\d,]+", rest))
    return out


def _headline_counts(browser) -> dict[str, int]:
    text = browser.driver.find_element(By.ID, ids.HEADLINE).text
    return {k: int(v.replace(",", "")) for k, v in re.findall(r"\b(TP|FP|FN) ([\d,]+)", text)}


def _api(app, path: str) -> dict:
    with urllib.request.urlopen(app.url.rstrip("/") + path, timeout=30) as r:
        return json.loads(r.read())


def _tab(browser, label: str) -> None:
    browser.driver.find_element(By.XPATH, f"//*[contains(@class, 'tab') and normalize-space()='{label}']").click()


def test_page_loads_without_console_errors(browser, demo_app) -> None:
    _open(browser, demo_app.url)
    assert [n.split(" (")[0] for n in _names(browser)] == ["TP", "FP", "FN", "confusion", "below threshold"]
    # the state went into the URL, so the view can be shared (the map comes with the page's layout,
    # so it may be drawn before the state's callbacks have answered: wait for them)
    browser.wait(lambda: "dataset=demo" in browser.driver.current_url and "conf=0.5" in browser.driver.current_url,
                 what="the state in the URL")
    headline = browser.wait(lambda: browser.driver.find_element(By.ID, ids.HEADLINE).text, what="the headline")
    assert "precision" in headline and "F1" in headline and "optimal, class-agnostic" in headline
    time.sleep(0.5)
    assert browser.severe_logs() == []
    browser.screenshot("embedding_crops_by_type.png")


def test_partial_plotly_js_is_preloaded_and_loaded_once(browser, demo_app) -> None:
    from aquaembed.dashboard import plotly_js_url

    _open(browser, demo_app.url)
    loads = browser.js("return performance.getEntriesByType('resource').filter(function(r) {"
                       " return r.name.indexOf('plotly') >= 0 && r.name.slice(-3) === '.js'; })"
                       ".map(function(r) { return [r.name, r.initiatorType]; });")
    # one fetch of the partial bundle, by the index's preload link; the full plotly.min.js never
    assert loads == [[demo_app.url.rstrip("/") + plotly_js_url("/"), "link"]]
    assert browser.js("return typeof Plotly.newPlot === 'function' && !!Plotly.version;")


def test_url_restores_the_view(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=embedding&kind=frame&colour=meta:scene&conf=0.3")
    names = [n.split(" (")[0] for n in _names(browser)]
    assert "market_street" in names and "plaza_crossing" in names
    box = browser.driver.find_element(By.CSS_SELECTOR, f"#{ids.CONF} input[type=number]")
    assert float(box.get_attribute("value")) == pytest.approx(0.3)
    browser.screenshot("embedding_frames_by_scene.png")
    assert browser.severe_logs() == []


@pytest.mark.parametrize("kind,steps", [
    # defect 1: after a continuous colouring the map stopped redrawing ("'.cbF1 undefined (—)' is not a valid selector")
    ("frames", [("F1", "F1"), ("time_of_day", "day"), ("F1", "F1"), ("precision", "precision"), ("recall", "recall"),
                ("scene", "market_street"), ("F1", "F1")]),
    ("crops (boxes)", [("confidence", "confidence"), ("confusion type", "TP"), ("confidence", "confidence"),
                       ("class", "car"), ("frame time_of_day", "day"), ("confusion type", "TP")]),
])
def test_every_colour_change_through_the_dropdown_redraws(browser, demo_app, kind, steps) -> None:
    _open(browser, demo_app.url + "?view=embedding&kind=crop&colour=type")
    browser.driver.find_element(By.XPATH, f"//*[@id='{ids.EMB_KIND}']//label[normalize-space()='{kind}']").click()
    browser.wait(lambda: ("frame" in kind) == ("kind=frame" in browser.driver.current_url), what="the kind to switch")
    for label, first_trace in steps:
        browser.choose(ids.EMB_COLOUR, label)
        browser.wait(lambda first=first_trace: any(n.startswith(first) for n in _names(browser)),
                     what=f"the map to show {label} (traces: {_names(browser)})")
    browser.screenshot(f"embedding_colour_changes_{kind.split()[0]}.png")
    assert browser.severe_logs() == []


def test_typing_a_threshold_and_pressing_enter_applies_it(browser, demo_app) -> None:
    # defect 4: the typed value applied only when the box lost the focus
    _open(browser, demo_app.url + "?view=embedding&kind=crop&colour=type&conf=0.5")
    before = _type_counts(browser)
    browser.type_and_enter(f"#{ids.CONF} input[type=number]", "0.8")
    browser.wait(lambda: "conf=0.8" in browser.driver.current_url, what="conf=0.8 in the URL after Enter")
    browser.wait(lambda: _type_counts(browser) != before, what="point colours to change")
    assert _type_counts(browser)["below threshold"] > before["below threshold"]

    _tab(browser, "Model metrics")
    browser.wait(lambda: browser.graph_data(ids.MET_CM_GRAPH), what="confusion matrix")
    t80 = browser.graph_data(ids.MET_CM_GRAPH)[0]["text"]
    browser.type_and_enter(f"#{ids.CONF} input[type=number]", "0.3")
    browser.wait(lambda: browser.graph_data(ids.MET_CM_GRAPH)[0]["text"] != t80, what="the matrix to change")
    t30 = browser.graph_data(ids.MET_CM_GRAPH)[0]["text"]

    def total(text: list[list[str]]) -> int:
        return sum(int(c) for row in text for c in row if c)

    assert total(t30) > total(t80)  # more inferences kept: more counts in the matrix
    browser.screenshot("metrics_after_typed_threshold.png")
    assert browser.severe_logs() == []


def test_matching_control_reaches_every_view(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=embedding&kind=crop&colour=type&conf=0.4")
    browser.choose(ids.MATCH_MODE, "greedy")
    browser.driver.find_element(By.XPATH, f"//*[@id='{ids.MATCH_FLAGS}']//label[normalize-space()='class-aware']").click()
    browser.wait(lambda: "mode=greedy" in browser.driver.current_url and "class_aware=1" in browser.driver.current_url,
                 what="the matching options in the URL")
    browser.wait(lambda: "greedy, class-aware" in browser.driver.find_element(By.ID, ids.HEADLINE).text, what="headline")
    # the header and the legend count what the library computes with the same options
    want = _api(demo_app, "/api/v1/datasets/demo/metrics?model=detector&pr=false&conf=0.4&mode=greedy&class_aware=true")["overall"]
    browser.wait(lambda: _headline_counts(browser) == {k: want[k.lower()] for k in ("TP", "FP", "FN")},
                 what=f"headline counts {want}")
    browser.wait(lambda: f"TP ({want['tp']:,} labels + {want['tp']:,} inferences)" in _names(browser), what="legend counts")
    browser.screenshot("embedding_greedy_class_aware.png")
    assert browser.severe_logs() == []


def test_crop_legend_says_what_it_counts(browser, demo_app) -> None:
    # defect 8: "TP (1,070)" counted crops and read as contradicting the header's TP 535
    _open(browser, demo_app.url + "?view=embedding&kind=crop&colour=type&conf=0.5")
    head = browser.wait(lambda: _headline_counts(browser), what="headline")
    names = _names(browser)
    assert f"TP ({head['TP']:,} labels + {head['TP']:,} inferences)" in names
    fp = next(n for n in names if n.startswith("FP"))
    fn = next(n for n in names if n.startswith("FN"))
    assert fp.endswith("inferences)") and "label" not in fp and fn.endswith("labels)")
    note = browser.driver.find_element(By.ID, ids.EMB_LEGEND_NOTE).text
    assert "label crop and one inference crop" in note


def test_confusion_cell_opens_its_examples_in_view(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=metrics&conf=0.5", graph=ids.MET_CM_GRAPH)
    browser.wait(lambda: browser.graph_data(ids.MET_CM_GRAPH)[0]["text"], what="matrix")
    # the background row, pedestrian column: confident detections without a label
    pos = browser.js(
        "var g = document.querySelector(arguments[0]); var L = g._fullLayout;"
        "var xi = g.data[0].x.indexOf('pedestrian'), yi = g.data[0].y.indexOf('background');"
        "return [L.xaxis.d2p(xi), L.yaxis.d2p(yi)];", PLOT.format(ids.MET_CM_GRAPH))
    browser.click_plot_at(ids.MET_CM_GRAPH, pos[0], pos[1])
    browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=example]"), what="examples")
    title = browser.driver.find_element(By.ID, ids.MET_EX_TITLE).text
    assert title.startswith("background → pedestrian")
    scores = [float(e.get_attribute("data-score")) for e in browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=example]")]
    assert scores == sorted(scores, reverse=True) and scores[0] >= 0.5
    # defect 7: the click scrolls the examples into view (below the sticky header)
    browser.wait(lambda: 0 <= browser.js("return document.getElementById(arguments[0]).getBoundingClientRect().top;",
                                         ids.MET_EX_SECTION) < browser.js("return window.innerHeight;") / 2,
                 what="the examples to scroll into view")
    time.sleep(1.0)
    browser.screenshot("metrics_cell_examples.png")
    assert browser.severe_logs() == []


def test_metrics_view_tables_fit_their_rows(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=metrics&conf=0.5", graph=ids.MET_CM_GRAPH)
    rows = browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, f"#{ids.MET_REPORT} .ag-center-cols-container .ag-row"),
                        what="report rows")
    assert len(rows) == 6  # the demo's six classes; the overall row is pinned below
    pinned = browser.driver.find_element(By.CSS_SELECTOR, f"#{ids.MET_REPORT} .ag-floating-bottom .ag-row")
    assert "overall" in pinned.text
    # defect 7: no large empty area under the report: the grid ends within a row of its last row
    gap = browser.js("var g = document.getElementById(arguments[0]).getBoundingClientRect();"
                     "var r = document.querySelector('#' + arguments[0] + ' .ag-floating-bottom').getBoundingClientRect();"
                     "return g.bottom - r.bottom;", ids.MET_REPORT)
    assert gap < 40
    # sort by clicking the F1 header: the worst class first, undefined ratios last
    browser.driver.find_element(By.CSS_SELECTOR, f"#{ids.MET_REPORT} .ag-header-cell[col-id=f1] .ag-header-cell-label").click()
    browser.wait(lambda: _column(browser, ids.MET_REPORT, "f1") == sorted(_column(browser, ids.MET_REPORT, "f1")), what="F1 sort")
    browser.wait(lambda: browser.graph_data(ids.MET_PR_GRAPH) and browser.graph_data(ids.MET_COCO_GRAPH), what="PR and COCO")
    time.sleep(0.5)
    browser.screenshot("metrics_view.png")
    assert browser.severe_logs() == []


def _column(browser, grid: str, col: str) -> list[float]:
    cells = browser.driver.find_elements(By.CSS_SELECTOR, f"#{grid} .ag-center-cols-container .ag-row")
    rows = sorted(cells, key=lambda r: int(r.get_attribute("row-index")))
    out = []
    for r in rows:
        text = r.find_element(By.CSS_SELECTOR, f"[col-id={col}]").text
        out.append(float("inf") if text == "—" else float(text.replace(",", "")))
    return out


def test_legend_isolates_false_positives(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=embedding&kind=crop&colour=type&conf=0.5")
    browser.click_legend(ids.EMB_GRAPH, "FP", double=True)
    browser.wait(lambda: [t["visible"] for t in browser.graph_data(ids.EMB_GRAPH)].count(True) == 1, what="FP isolated")
    shown = [t["name"] for t in browser.graph_data(ids.EMB_GRAPH) if t["visible"] is True]
    assert len(shown) == 1 and shown[0].startswith("FP")
    browser.screenshot("embedding_fp_isolated.png")
    browser.click_legend(ids.EMB_GRAPH, "TP")  # a single click adds TP back
    browser.wait(lambda: [t["visible"] for t in browser.graph_data(ids.EMB_GRAPH)].count(True) == 2, what="TP shown")


def test_a_click_on_a_point_is_not_a_selection(browser, demo_app) -> None:
    # defect 3: one click showed "Selection: 1 crops (0% of ...)" and faded the map
    _open(browser, demo_app.url + "?view=embedding&kind=crop&colour=type&conf=0.5")
    pos = browser.js(
        "var g = document.querySelector(arguments[0]); var L = g._fullLayout; var t = g._fullData[0];"
        "return [L.xaxis.d2p(t.x[0]), L.yaxis.d2p(t.y[0])];", PLOT.format(ids.EMB_GRAPH))
    browser.click_plot_at(ids.EMB_GRAPH, pos[0], pos[1])
    browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, f"#{ids.EMB_DETAIL} [data-testid=neighbour]"),
                 what="neighbours")
    assert "Most similar crops" in browser.driver.find_element(By.ID, ids.EMB_DETAIL).text
    time.sleep(0.8)
    assert "Selection:" not in browser.driver.find_element(By.ID, ids.EMB_SUMMARY).text
    faded = browser.js("var g = document.querySelector(arguments[0]);"
                       "return g.data.some(function(t) { return t.selectedpoints !== undefined && t.selectedpoints !== null; });",
                       PLOT.format(ids.EMB_GRAPH))
    assert not faded
    browser.wait(lambda: browser.js("return [...document.querySelectorAll('#' + arguments[0] + ' img')]"
                                    ".every(i => i.complete && i.naturalWidth > 0)", ids.EMB_DETAIL), what="pictures")
    browser.screenshot("embedding_point_neighbours.png")
    assert browser.severe_logs() == []


def test_box_selection_summary_agrees_with_its_tables(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=embedding&kind=crop&colour=type&conf=0.5")
    browser.modebar_click(ids.EMB_GRAPH, "Box Select")
    browser.drag_box(ids.EMB_GRAPH, 0.02, 0.3, 0.35, 0.98)
    summary = browser.wait(lambda: browser.driver.find_element(By.ID, ids.EMB_SUMMARY).text if "Selection:" in
                           browser.driver.find_element(By.ID, ids.EMB_SUMMARY).text else None, what="selection summary")
    m = re.search(r"Selection: ([\d,]+) crops? \(([^)]*) of ([\d,]+)\)", summary)
    assert m, summary
    k, share, n = int(m.group(1).replace(",", "")), m.group(2), int(m.group(3).replace(",", ""))
    assert 0 < k < n and share != "0%"
    assert "What the selection has in common" in summary
    # the counts table: selection + rest = the whole map's counts, the header's TP/FP/FN
    table = browser.driver.find_element(By.CSS_SELECTOR, f"#{ids.EMB_SUMMARY} [data-testid=selection-counts]")
    cells = {r.find_element(By.TAG_NAME, "th").text: [c.text for c in r.find_elements(By.TAG_NAME, "td")]
             for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")}
    n_rest = int(cells["rest"][0].replace(",", ""))
    assert int(cells["selection"][0].replace(",", "")) == k and k + n_rest == n
    head = _headline_counts(browser)
    for i, key in enumerate(("TP", "FP", "FN"), start=1):
        assert int(cells["selection"][i].replace(",", "")) + int(cells["rest"][i].replace(",", "")) == head[key]
    # defect 2: each bar is its count over the whole selection / the whole rest, as in the tables
    graphs = browser.driver.find_elements(By.CSS_SELECTOR, f"#{ids.EMB_SUMMARY} .ae-mix .js-plotly-plot")
    assert len(graphs) == 2
    for g in graphs:
        traces = browser.js("return arguments[0].data.map(function(t) { return {name: t.name, x: Array.from(t.x),"
                            " text: t.text, color: t.marker.color}; });", g)
        sel, rest = traces
        assert isinstance(sel["color"], str) and sel["color"] != "rgb(46, 204, 64)"  # never the TP green
        for trace, total in ((sel, k), (rest, n_rest)):
            for x, text in zip(trace["x"], trace["text"]):
                count = int(re.search(r"\(([\d,]+)\)", text).group(1).replace(",", ""))
                assert x == pytest.approx(count / total), (trace["name"], text, x)
    browser.js("document.getElementById(arguments[0]).scrollIntoView();", ids.EMB_SUMMARY)
    time.sleep(1.0)
    browser.screenshot("embedding_selection_summary.png")
    assert browser.severe_logs() == []


def test_frame_grid_filters_by_typed_f1_and_shows_every_scene(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=frames&conf=0.5", graph=None)
    browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame-card]"), what="frame cards")
    browser.type_and_enter(f"#{ids.FR_FILTER_MAX}", "0.5")
    browser.wait(lambda: "≤ f1 ≤ 0.5" in browser.driver.find_element(By.ID, ids.FR_TITLE).text, what="filtered title")
    cards = browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame-card]")
    f1 = [float(m.group(1)) for c in cards for m in [re.search(r"F1 ([\d.]+)", c.text)] if m]
    assert cards and f1 and max(f1) <= 0.5
    # defect 7: every scene in one table (no page 2), the worst F1 first
    values = browser.wait(lambda: browser.driver.find_elements(
        By.CSS_SELECTOR, f"#{ids.FR_SLICE_TABLE} .ag-pinned-left-cols-container .ag-row [col-id=value]"), what="metrics by scene")
    scenes = {v.text for v in values}
    assert len(scenes) == 15 and all("_" in s for s in scenes)
    assert _column(browser, ids.FR_SLICE_TABLE, "f1") == sorted(_column(browser, ids.FR_SLICE_TABLE, "f1"))
    time.sleep(1.0)
    browser.screenshot("frame_grid_f1_below_half.png")
    assert browser.severe_logs() == []


def test_many_classes_switch_to_tables(browser, many_app) -> None:
    _open(browser, many_app.url + "?view=metrics", graph=None)
    browser.wait(lambda: browser.driver.find_element(By.ID, ids.MET_MANY).is_displayed(), what="many-class tables")
    assert not browser.driver.find_element(By.ID, ids.MET_FEW).is_displayed()
    report = browser.wait(lambda: browser.driver.find_elements(
        By.CSS_SELECTOR, f"#{ids.MET_REPORT} .ag-pinned-left-cols-container [col-id=class]"), what="report rows")
    assert len(report) == 30  # 30 classes; the overall row is pinned below
    first = report[0].text
    report[0].click()
    browser.wait(lambda: repr(first) in browser.driver.find_element(By.ID, ids.MET_CLASS_FILTER).text, what="class filter")
    browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, f"#{ids.MET_CM_TABLE} [col-id=predicted]"), what="pairs")
    time.sleep(0.5)
    def by_row(col: str) -> dict[int, str]:
        rows = browser.driver.find_elements(By.CSS_SELECTOR, f"#{ids.MET_CM_TABLE} .ag-row")
        return {int(r.get_attribute("row-index")): c.text for r in rows for c in r.find_elements(By.CSS_SELECTOR, f"[col-id={col}]")}

    labels, preds = by_row("label"), by_row("predicted")
    pairs = [(labels[i], preds[i]) for i in sorted(labels)]
    assert pairs and all(first in p for p in pairs), pairs
    browser.driver.find_element(By.CSS_SELECTOR, f"#{ids.MET_CM_TABLE} .ag-center-cols-container [col-id=count]").click()
    browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=example]"), what="row examples")
    browser.screenshot("metrics_many_classes.png")
    assert browser.severe_logs() == []


def test_the_map_follows_the_window_size(browser, demo_app) -> None:
    # the page skips Plotly's refit when a graph already fits (assets/aquaembed.js): a real resize still refits
    _open(browser, demo_app.url + "?view=embedding&kind=crop&colour=type")
    width = "return document.querySelector(arguments[0])._fullLayout.width;"
    before = browser.js(width, PLOT.format(ids.EMB_GRAPH))
    size = browser.driver.get_window_size()
    try:
        browser.driver.set_window_size(size["width"] - 400, size["height"])
        browser.wait(lambda: browser.js(width, PLOT.format(ids.EMB_GRAPH)) < before - 100, what="the map to narrow")
        fits = browser.js("var g = document.querySelector(arguments[0]);"
                          "return Math.abs(parseFloat(getComputedStyle(g).width) - g._fullLayout.width) <= 1;",
                          PLOT.format(ids.EMB_GRAPH))
        assert fits
        browser.screenshot("embedding_narrow_window.png")
    finally:
        browser.driver.set_window_size(size["width"], size["height"])
    browser.wait(lambda: abs(browser.js(width, PLOT.format(ids.EMB_GRAPH)) - before) <= 1, what="the map to widen again")
