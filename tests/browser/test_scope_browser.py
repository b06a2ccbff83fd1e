"""The header's metric and scenario controls drive every page, and a failure-report slice
restricts the Model metrics; driven in headless Chromium as a person does.

A copy of the small demo gets a custom metric ``strict`` (the per-frame matrices of greedy,
class-aware matching at IoU 0.75: another rule, so its numbers differ from the built-in
ones), a slow plugin metric (to see its progress) and a scenario ``night`` (its night
frames). Every expected number comes from the library in this process. Screenshots go to
``artifacts/screenshots``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from selenium.webdriver.common.by import By

from aquaembed.dashboard import ids
from aquaembed.explore import Workspace
from aquaembed.matching import MatchOptions

pytestmark = pytest.mark.browser

PLUGIN = '''
"""A slow metric plugin for the browser test: every label a TP of its class, after a pause."""
import time

import numpy as np


def all_found(batch, options):
    time.sleep(4.0)
    n = len(batch.classes)
    out = np.zeros((batch.image_id.size, n, n), dtype=np.int64)
    np.add.at(out, (batch.label_frame, batch.label_class, batch.label_class), 1)
    return out
'''


def _served_class():
    spec = importlib.util.spec_from_file_location("browser_conftest_scope", Path(__file__).with_name("conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # the browser conftest's Served (the real serve process)
    return mod.Served


@pytest.fixture(scope="module")
def scope_app(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from aquaembed.analysis.custom_metrics import CustomMetricStore
    from aquaembed.metrics import frame_confusion

    root = tmp_path_factory.mktemp("scope")
    plugins = root / "plugins"
    plugins.mkdir()
    (plugins / "scope_slow_plugin.py").write_text(textwrap.dedent(PLUGIN))
    sys.path.insert(0, str(plugins))
    old_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(plugins), *([old_path] if old_path else [])])
    data = root / "data"
    shutil.copytree(demo_dir, data, symlinks=True)
    view = Workspace(data).get("demo")
    stack = frame_confusion(view.table("detector", MatchOptions(mode="greedy", class_aware=True, iou=0.75)))
    store = CustomMetricStore(view.stored)
    store.save_matrices("detector", "strict", stack)
    store.save_plugin("detector", "slow", "scope_slow_plugin:all_found")
    Workspace(data).get("demo").save_scenario("night", where='time_of_day == "night"')
    served = _served_class()(data)
    try:
        yield served, data
    finally:
        served.close()
        sys.path.remove(str(plugins))
        if old_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_path


def _tab(browser, label: str) -> None:
    browser.driver.find_element(By.XPATH, f"//*[contains(@class, 'tab') and normalize-space()='{label}']").click()


def _overall(browser) -> list[int]:
    """TP, FP, FN of the report's pinned overall row."""
    cells = [browser.driver.find_element(By.CSS_SELECTOR, f"#{ids.MET_REPORT} .ag-floating-bottom [col-id={c}]").text
             for c in ("tp", "fp", "fn")]
    return [int(c.replace(",", "")) for c in cells]


def _counts(o: dict) -> list[int]:
    return [o["tp"], o["fp"], o["fn"]]


def _matrix(browser) -> np.ndarray:
    """The counts written in the heatmap's cells (an empty cell is 0)."""
    text = browser.graph_data(ids.MET_CM_GRAPH)[0]["text"]
    return np.asarray([[int(t.split("<br>")[0]) if t else 0 for t in row] for row in text])


def _scope(browser) -> str:
    return browser.driver.find_element(By.CSS_SELECTOR, "[data-testid='metrics-scope']").text


def _grid_ids(browser) -> list[int]:
    cards = browser.driver.find_elements(By.CSS_SELECTOR, f"#{ids.FR_GRID} [data-testid='frame-card']")
    return [int(re.match(r"frame (\d+)", c.text).group(1)) for c in cards]


def _grid_total(browser) -> int:
    m = re.match(r"([\d,]+) frames", browser.driver.find_element(By.ID, ids.FR_TITLE).text)
    return int(m.group(1).replace(",", "")) if m else -1


def _colour_values(browser) -> list[float]:
    """The F1 values the frame map's colour trace draws (decoded by Plotly), sorted."""
    vals = browser.js("var g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
                      "if (!g || !g._fullData || !g._fullData.length) { return null; }"
                      "var c = g._fullData[0].marker.color; return c && c.length !== undefined ? Array.from(c) : null;",
                      ids.EMB_GRAPH)
    return sorted(round(float(v), 4) for v in vals) if vals else []


def _drawn(browser) -> int:
    """Points on the map, from the legend entries ("F1 (57)", "TP (3 labels + 2 inferences)")."""
    total = 0
    for t in browser.graph_data(ids.EMB_GRAPH) or []:
        _, _, rest = (t.get("name") or "").partition(" (")
        total += sum(int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", rest))
    return total


def test_metric_control_drives_metrics_map_and_grid(browser, scope_app) -> None:
    served, data = scope_app
    view = Workspace(data).get("demo")
    opts = MatchOptions()
    want = view.metrics("detector", metric="strict")
    builtin = view.metrics("detector", pr=False)
    assert _counts(want["overall"]) != _counts(builtin["overall"])  # the test can tell them apart

    browser.get(served.url + "?view=metrics&model=detector")
    browser.wait(lambda: _overall(browser) == _counts(builtin["overall"]), what="the built-in overall row")
    np.testing.assert_array_equal(_matrix(browser), np.asarray(builtin["confusion_matrix"]))
    browser.choose(ids.METRIC, "strict (per-frame matrices)")
    browser.wait(lambda: "metric strict" in _scope(browser), what="the page to name the metric")
    browser.wait(lambda: _overall(browser) == _counts(want["overall"]), what="the custom metric's overall row")
    browser.wait(lambda: np.array_equal(_matrix(browser), np.asarray(want["confusion_matrix"])), what="its matrix")
    assert "metric=strict" in browser.driver.current_url
    head = browser.driver.find_element(By.ID, ids.HEADLINE).text
    assert f"TP {want['overall']['tp']:,} · FP {want['overall']['fp']:,} · FN {want['overall']['fn']:,}" in head
    assert "need the built-in matching" in browser.driver.find_element(By.ID, ids.MET_CURVES_NOTE).text
    assert "custom metric" in browser.driver.find_element(By.ID, ids.MET_EX_TITLE).text  # no built-in examples
    browser.screenshot("scope_metrics_custom_metric.png")

    # the frame map coloured by F1: the metric's per-frame F1, not the built-in one
    f1_custom = view.frame_metrics("detector", opts, "strict").counts.as_dict()["f1"]
    f1_builtin = view.frame_metrics("detector", opts).counts.as_dict()["f1"]
    custom_sorted = sorted(round(float(v), 4) for v in np.asarray(f1_custom, np.float32) if not np.isnan(v))
    builtin_sorted = sorted(round(float(v), 4) for v in np.asarray(f1_builtin, np.float32) if not np.isnan(v))
    assert custom_sorted != builtin_sorted
    _tab(browser, "Embedding map")
    browser.wait(lambda: browser.graph_data(ids.EMB_GRAPH), what="the map")
    browser.driver.find_element(By.XPATH, f"//*[@id='{ids.EMB_KIND}']//label[normalize-space()='frames']").click()
    browser.wait(lambda: "kind=frame" in browser.driver.current_url, what="the frame map")
    browser.wait(lambda: _colour_values(browser) == custom_sorted, what="F1 colours of the custom metric")
    assert "metric strict" in (browser.graph_data(ids.EMB_GRAPH) and
                               browser.js("return document.querySelector('#' + arguments[0] + ' .gtitle').textContent",
                                          ids.EMB_GRAPH))
    browser.screenshot("scope_frame_map_custom_f1.png")

    # the frame grid sorted by F1 (low first, its default): the metric's order
    want_ids = [r["id"] for r in view.frames("detector", metric="strict", sort="f1", limit=24)["rows"]]
    builtin_ids = [r["id"] for r in view.frames("detector", sort="f1", limit=24)["rows"]]
    assert want_ids != builtin_ids
    _tab(browser, "Frame grid")
    browser.wait(lambda: _grid_ids(browser) == want_ids, what="the grid in the custom metric's F1 order")
    assert "metric strict" in browser.driver.find_element(By.ID, ids.FR_TITLE).text
    browser.screenshot("scope_frame_grid_custom_f1.png")

    # back to the built-in matching: the numbers follow
    browser.choose(ids.METRIC, "built-in matching")
    browser.wait(lambda: _grid_ids(browser) == builtin_ids, what="the built-in order again")
    assert "metric=" not in browser.driver.current_url
    assert browser.severe_logs() == []


def test_scenario_control_restricts_every_page(browser, scope_app) -> None:
    served, data = scope_app
    view = Workspace(data).get("demo")
    members = set(view.scenarios_record("night")["frames"])
    n = len(members)
    assert 0 < n < len(view.dataset.frames)
    want = view.metrics("detector", scenario="night")
    assert _counts(want["overall"]) != _counts(view.metrics("detector", pr=False)["overall"])

    browser.get(served.url + "?view=metrics&model=detector")
    browser.wait(lambda: _scope(browser), what="the metrics page")
    browser.choose(ids.SCENARIO, f"night ({n} frames)")
    browser.wait(lambda: _overall(browser) == _counts(want["overall"]), what="the scenario's overall row")
    np.testing.assert_array_equal(_matrix(browser), np.asarray(want["confusion_matrix"]))
    assert f"scenario night: {n} of {len(view.dataset.frames)} frames" in _scope(browser)
    assert "scenario=night" in browser.driver.current_url
    browser.screenshot("scope_metrics_scenario.png")

    _tab(browser, "Frame grid")
    browser.wait(lambda: _grid_total(browser) == n, what="only the scenario's frames in the grid")
    assert set(_grid_ids(browser)) <= members
    slices = view.slices("detector", field="scene", scenario="night")["rows"]
    table = browser.wait(lambda: browser.driver.find_element(By.ID, ids.FR_SLICE_TABLE).text, what="slice table")
    assert sum(r["frames"] for r in slices) == n and all(r["value"] in table for r in slices if r["frames"])
    browser.screenshot("scope_frame_grid_scenario.png")

    _tab(browser, "Embedding map")
    proj = view.projection("crop", "detector")
    in_crops = int(np.isin(proj["frame_id"], list(members)).sum())
    browser.wait(lambda: _drawn(browser) == in_crops, what="only the crops of the scenario's frames")
    browser.screenshot("scope_crop_map_scenario.png")
    browser.driver.find_element(By.XPATH, f"//*[@id='{ids.EMB_KIND}']//label[normalize-space()='frames']").click()
    browser.wait(lambda: _drawn(browser) == n, what="only the scenario's frames on the frame map")
    browser.screenshot("scope_frame_map_scenario.png")

    # a link naming a scenario the dataset does not have says so and shows all frames
    browser.get(served.url + "?view=frames&model=detector&scenario=nowhere")
    browser.wait(lambda: "scenario 'nowhere' does not exist" in browser.driver.find_element(By.ID, ids.NOTICE).text,
                 what="the notice")
    browser.wait(lambda: _grid_total(browser) == len(view.dataset.frames), what="all frames")
    assert browser.severe_logs() == []


def test_slice_card_restricts_the_model_metrics(browser, scope_app) -> None:
    served, data = scope_app
    view = Workspace(data).get("demo")
    slices = view.slice_departures("detector")["slices"]
    assert slices
    browser.get(served.url + "?view=report&model=detector")
    card = browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid='slice-card']"),
                        what="slice cards")[0]
    rank = int(card.get_attribute("data-slice"))
    card.click()
    browser.wait(lambda: "focus=slice" in browser.driver.current_url, what="the slice to open")
    frames = view.slice_frame_ids(slices[rank])
    want = view.metrics("detector", frames=frames)
    full = view.metrics("detector", pr=False)
    assert _counts(want["overall"]) != _counts(full["overall"])
    _tab(browser, "Model metrics")
    browser.wait(lambda: _overall(browser) == _counts(want["overall"]), what="the slice's overall row")
    np.testing.assert_array_equal(_matrix(browser), np.asarray(want["confusion_matrix"]))
    assert "failure-report slice" in _scope(browser) and f"{len(frames)} of" in _scope(browser)
    banner = browser.driver.find_element(By.CSS_SELECTOR, "[data-testid='focus-banner']")
    assert banner.is_displayed() and "slice" in banner.text
    browser.screenshot("scope_metrics_slice.png")
    browser.driver.find_element(By.ID, ids.REP_CLEAR).click()
    browser.wait(lambda: _overall(browser) == _counts(full["overall"]), what="every frame again")
    assert "focus=" not in browser.driver.current_url
    assert browser.severe_logs() == []


def test_a_plugin_metric_shows_its_progress(browser, scope_app) -> None:
    served, data = scope_app
    browser.get(served.url + "?view=metrics&model=detector&conf=0.45")
    browser.wait(lambda: _scope(browser), what="the metrics page")
    browser.choose(ids.METRIC, "slow (plugin, re-run at each threshold)")
    shown = browser.wait(lambda: browser.driver.find_element(By.CSS_SELECTOR, "[data-testid='metric-progress']").text,
                         what="the plugin's progress")
    assert "metric slow" in shown and ("of 150 frames" in shown or "starting" in shown)
    browser.screenshot("scope_plugin_progress.png")
    want = Workspace(data).get("demo").metrics("detector", options=MatchOptions(conf=0.45), metric="slow")
    browser.wait(lambda: _overall(browser) == _counts(want["overall"]), timeout=40, what="the plugin's numbers")
    browser.wait(lambda: not browser.driver.find_element(By.CSS_SELECTOR, "[data-testid='metric-progress']").text,
                 what="the progress to go")
    assert want["overall"]["fp"] == 0 and want["overall"]["fn"] == 0  # every label a TP: the plugin's own rule
    assert browser.severe_logs() == []
