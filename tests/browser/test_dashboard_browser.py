"""The dashboard in headless Chromium, on a small demo and a 30-class dataset.

What a person sees: the page loads cleanly, the sliders change the numbers and the
colours, a confusion cell opens its examples, the legend isolates a type, a selection
is summarised, a click shows neighbours, many classes switch to tables. Each test saves
a screenshot to ``artifacts/screenshots``.
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from aquaembed.dashboard import ids

pytestmark = pytest.mark.browser

PLOT = "#{} .js-plotly-plot"


def _open(browser, url: str, graph: str | None = ids.EMB_GRAPH) -> None:
    browser.get(url)
    if graph:
        browser.wait(lambda: (browser.graph_data(graph) or [None])[0] is not None and len(browser.graph_data(graph)) > 0,
                     what=f"{graph} to draw")


def _type_counts(browser) -> dict[str, int]:
    return {t["name"].split(" (")[0]: int(t["name"].split(" (")[1].rstrip(")").replace(",", "")) for t in browser.graph_data(ids.EMB_GRAPH)}


def _set_slider(browser, slider_id: str, value: float) -> None:
    box = browser.driver.find_element(By.CSS_SELECTOR, f"#{slider_id} input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.ENTER)
    box.send_keys(Keys.TAB)


def _click_plot_at(browser, graph: str, px: float, py: float) -> None:
    """Click at plot pixel (px, py) measured from the plot's top-left corner."""
    el = browser.driver.find_element(By.CSS_SELECTOR, f"{PLOT.format(graph)} .nsewdrag")
    rect = browser.js("var r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height];", el)
    ActionChains(browser.driver).move_to_element_with_offset(el, int(px - rect[2] / 2), int(py - rect[3] / 2)).click().perform()


def test_page_loads_without_console_errors(browser, demo_app) -> None:
    _open(browser, demo_app.url)
    names = [t["name"] for t in browser.graph_data(ids.EMB_GRAPH)]
    assert [n.split(" (")[0] for n in names] == ["TP", "FP", "FN", "confusion", "below threshold"]
    # the state went into the URL, so the view can be shared
    assert "dataset=demo" in browser.driver.current_url and "conf=0.5" in browser.driver.current_url
    headline = browser.driver.find_element(By.ID, ids.HEADLINE).text
    assert "precision" in headline and "F1" in headline
    time.sleep(0.5)
    assert browser.severe_logs() == []
    browser.screenshot("embedding_crops_by_type.png")


def test_plotly_js_is_preloaded_and_loaded_once(browser, demo_app) -> None:
    from aquaembed.dashboard import plotly_js_url

    _open(browser, demo_app.url)
    loads = browser.js("return performance.getEntriesByType('resource').filter(function(r) {"
                       " return r.name.indexOf('plotly.min.js') >= 0; }).map(function(r) { return [r.name, r.initiatorType]; });")
    # one fetch, by the index's preload link: the URL Dash loads plotly.js from has not moved
    assert loads == [[demo_app.url.rstrip("/") + plotly_js_url("/"), "link"]]


def test_url_restores_the_view(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=embedding&kind=frame&colour=meta:scene&conf=0.3")
    names = [t["name"].split(" (")[0] for t in browser.graph_data(ids.EMB_GRAPH)]
    assert "market_street" in names and "plaza_crossing" in names
    box = browser.driver.find_element(By.CSS_SELECTOR, f"#{ids.CONF} input[type=number]")
    assert float(box.get_attribute("value")) == pytest.approx(0.3)
    browser.screenshot("embedding_frames_by_scene.png")
    assert browser.severe_logs() == []


def test_confidence_slider_changes_colours_and_matrix(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=embedding&kind=crop&colour=type&conf=0.5")
    before = _type_counts(browser)
    _set_slider(browser, ids.CONF, 0.8)
    browser.wait(lambda: _type_counts(browser) != before, what="point colours to change")
    after = _type_counts(browser)
    assert after["below threshold"] > before["below threshold"]
    assert "conf=0.8" in browser.driver.current_url

    browser.driver.find_element(By.XPATH, "//*[contains(@class, 'tab') and normalize-space()='Model metrics']").click()
    browser.wait(lambda: browser.graph_data(ids.MET_CM_GRAPH), what="confusion matrix")
    t80 = browser.graph_data(ids.MET_CM_GRAPH)[0]["text"]
    _set_slider(browser, ids.CONF, 0.3)
    browser.wait(lambda: browser.graph_data(ids.MET_CM_GRAPH)[0]["text"] != t80, what="the matrix to change")
    t30 = browser.graph_data(ids.MET_CM_GRAPH)[0]["text"]

    def total(text: list[list[str]]) -> int:
        return sum(int(c) for row in text for c in row if c)

    assert total(t30) > total(t80)  # more inferences kept: more counts in the matrix
    assert browser.severe_logs() == []


def test_confusion_cell_examples_sorted_by_confidence(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=metrics&conf=0.5", graph=ids.MET_CM_GRAPH)
    browser.wait(lambda: browser.graph_data(ids.MET_CM_GRAPH)[0]["text"], what="matrix")
    # the background row, pedestrian column: confident detections without a label
    pos = browser.js(
        "var g = document.querySelector(arguments[0]); var L = g._fullLayout;"
        "var xi = g.data[0].x.indexOf('pedestrian'), yi = g.data[0].y.indexOf('background');"
        "return [L.xaxis._offset + L.xaxis.d2p(xi) - L.xaxis._offset, L.yaxis.d2p(yi)];", PLOT.format(ids.MET_CM_GRAPH))
    _click_plot_at(browser, ids.MET_CM_GRAPH, pos[0], pos[1])
    browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=example]"), what="examples")
    title = browser.driver.find_element(By.ID, ids.MET_EX_TITLE).text
    assert title.startswith("background → pedestrian")
    scores = [float(e.get_attribute("data-score")) for e in browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=example]")]
    assert scores == sorted(scores, reverse=True) and scores[0] >= 0.5
    browser.driver.execute_script("document.getElementById(arguments[0]).scrollIntoView(); window.scrollBy(0, -130);", ids.MET_EX_TITLE)
    time.sleep(1.0)
    browser.screenshot("metrics_cell_examples.png")
    browser.driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    browser.screenshot("metrics_view.png")
    assert browser.severe_logs() == []


def test_legend_isolates_false_positives(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=embedding&kind=crop&colour=type&conf=0.5")
    item = browser.wait(lambda: [e for e in browser.driver.find_elements(By.CSS_SELECTOR, f"{PLOT.format(ids.EMB_GRAPH)} .legend .traces")
                                 if e.text.startswith("FP")], what="legend entry FP")[0]
    ActionChains(browser.driver).double_click(item.find_element(By.CSS_SELECTOR, ".legendtoggle")).perform()
    browser.wait(lambda: [t["visible"] for t in browser.graph_data(ids.EMB_GRAPH)].count(True) == 1, what="FP isolated")
    shown = [t["name"] for t in browser.graph_data(ids.EMB_GRAPH) if t["visible"] is True]
    assert len(shown) == 1 and shown[0].startswith("FP")
    browser.screenshot("embedding_fp_isolated.png")


def test_box_selection_shows_summary(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=embedding&kind=frame&colour=meta:scene&conf=0.5")
    browser.js("Plotly.relayout(document.querySelector(arguments[0]), {dragmode: 'select'});", PLOT.format(ids.EMB_GRAPH))
    el = browser.driver.find_element(By.CSS_SELECTOR, f"{PLOT.format(ids.EMB_GRAPH)} .nsewdrag")
    w, h = el.size["width"], el.size["height"]
    (ActionChains(browser.driver).move_to_element_with_offset(el, int(-w * 0.45), int(-h * 0.45)).click_and_hold()
     .move_by_offset(int(w * 0.2), int(h * 0.2)).move_by_offset(int(w * 0.25), int(h * 0.25)).release().perform())
    browser.wait(lambda: "Selection:" in browser.driver.find_element(By.ID, ids.EMB_SUMMARY).text, what="selection summary")
    text = browser.driver.find_element(By.ID, ids.EMB_SUMMARY).text
    assert "selection" in text and "rest" in text and "What the selection has in common" in text
    browser.driver.execute_script("document.getElementById(arguments[0]).scrollIntoView(); window.scrollBy(0, -130);", ids.EMB_SUMMARY)
    time.sleep(1.0)
    browser.screenshot("embedding_selection_summary.png")
    assert browser.severe_logs() == []


def test_clicking_a_point_shows_neighbours(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=embedding&kind=crop&colour=type&conf=0.5")
    pos = browser.js(
        "var g = document.querySelector(arguments[0]); var L = g._fullLayout; var t = g._fullData[0];"
        "return [L.xaxis.d2p(t.x[0]), L.yaxis.d2p(t.y[0])];", PLOT.format(ids.EMB_GRAPH))
    _click_plot_at(browser, ids.EMB_GRAPH, pos[0], pos[1])
    browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, f"#{ids.EMB_DETAIL} [data-testid=neighbour]"),
                 what="neighbours")
    detail = browser.driver.find_element(By.ID, ids.EMB_DETAIL)
    assert "Most similar crops" in detail.text
    browser.wait(lambda: browser.js("return [...document.querySelectorAll('#' + arguments[0] + ' img')].every(i => i.complete && i.naturalWidth > 0)",
                                    ids.EMB_DETAIL), what="pictures to load")
    browser.screenshot("embedding_point_neighbours.png")
    assert browser.severe_logs() == []


def test_frame_grid_filters(browser, demo_app) -> None:
    _open(browser, demo_app.url + "?view=frames&conf=0.5", graph=None)
    browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame-card]"), what="frame cards")
    box = browser.driver.find_element(By.ID, ids.FR_FILTER_MAX)
    box.send_keys("0.5", Keys.ENTER)
    browser.wait(lambda: "≤ f1 ≤ 0.5" in browser.driver.find_element(By.ID, ids.FR_TITLE).text, what="filtered title")
    cards = browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame-card]")
    assert cards and all("F1 0." in c.text or "F1 —" in c.text for c in cards)
    values = browser.wait(
        lambda: browser.driver.find_elements(By.CSS_SELECTOR, f"#{ids.FR_SLICE_TABLE} td[data-dash-column=value]"),
        what="metrics by scene",
    )
    scenes = {v.text for v in values}
    assert len(scenes) >= 2 and all("_" in s for s in scenes)  # the demo's scene names, one row each
    time.sleep(1.0)
    browser.screenshot("frame_grid_f1_below_half.png")
    assert browser.severe_logs() == []


def test_many_classes_switch_to_tables(browser, many_app) -> None:
    _open(browser, many_app.url + "?view=metrics", graph=None)
    browser.wait(lambda: browser.driver.find_element(By.ID, ids.MET_MANY).is_displayed(), what="many-class tables")
    assert not browser.driver.find_element(By.ID, ids.MET_FEW).is_displayed()
    report = browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, f"#{ids.MET_REPORT} td[data-dash-column=class]"),
                          what="report rows")
    assert len(report) == 31  # 30 classes and the overall row
    first = report[0].text
    report[0].click()
    browser.wait(lambda: repr(first) in browser.driver.find_element(By.ID, ids.MET_CLASS_FILTER).text, what="class filter")
    cells = browser.driver.find_elements(By.CSS_SELECTOR, f"#{ids.MET_CM_TABLE} td[data-dash-column=label]")
    assert cells
    rows = browser.driver.find_elements(By.CSS_SELECTOR, f"#{ids.MET_CM_TABLE} tbody tr")
    assert all(first in r.text for r in rows[1:] if r.text)
    cells[0].click()
    browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=example]"), what="row examples")
    browser.screenshot("metrics_many_classes.png")
    assert browser.severe_logs() == []
