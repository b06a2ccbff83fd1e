"""The comparison page driven as a person does: the metric control, the scenario control,
comparison mode (ΔF1 map, transitions, both models' crops, difference matrix drill-down).

A copy of the small demo (two inference sets) gets a custom metric (the per-frame matrices
of greedy class-aware matching at IoU 0.75, a different rule from the built-in one).
Screenshots go to ``artifacts/screenshots``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from aquaembed.dashboard import ids as header
from aquaembed.dashboard import workflow_ids as w
from aquaembed.explore import Workspace
from aquaembed.matching import MatchOptions

pytestmark = pytest.mark.browser

PLOT = "#{} .js-plotly-plot"


@pytest.fixture(scope="module")
def wf_app(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    import importlib.util

    spec = importlib.util.spec_from_file_location("browser_conftest", Path(__file__).with_name("conftest.py"))
    served_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(served_mod)  # the browser conftest's Served (the real serve process)
    Served = served_mod.Served

    from aquaembed.analysis.custom_metrics import CustomMetricStore
    from aquaembed.metrics import frame_confusion

    data = tmp_path_factory.mktemp("wf") / "data"
    shutil.copytree(demo_dir, data, symlinks=True)
    view = Workspace(data).get("demo")
    stack = frame_confusion(view.table("detector", MatchOptions(mode="greedy", class_aware=True, iou=0.75)))
    CustomMetricStore(view.stored).save_matrices("detector", "greedy_ca", stack)
    ids = view.dataset.frames.id
    CustomMetricStore(view.stored).save_scalars("team", ["severity"], ((ids * 37) % 101 / 10.0)[:, None])
    served = Served(data)
    yield served, data
    served.close()


def _choose(browser, component_id: str, text: str) -> None:
    """Open a dropdown and click the option whose text starts with ``text`` (as a person picks one)."""
    browser.driver.find_element(By.ID, component_id).click()

    def option():
        found = [e for e in browser.driver.find_elements(By.CSS_SELECTOR, "[role=option]")
                 if e.is_displayed() and e.text.strip().startswith(text)]
        return found[0] if found else None

    browser.wait(option, what=f"option {text!r} of {component_id}").click()
    time.sleep(0.3)


def _open_page(browser, url: str) -> None:
    browser.get(url)
    browser.wait(lambda: browser.driver.find_element(By.ID, w.SC_NAME).is_displayed(), what="the compare page")


def _kpi_text(browser) -> str:
    return browser.driver.find_element(By.ID, w.OVERALL).text


def _report(browser) -> dict[str, list[str]]:
    rows = browser.driver.find_elements(By.CSS_SELECTOR, f"#{w.REPORT} tr")
    out = {}
    for r in rows[1:]:
        cells = [c.text for c in r.find_elements(By.CSS_SELECTOR, "td")]
        if cells:
            out[cells[0]] = cells[1:]
    return out


def test_metric_control_switches_to_the_custom_metric(browser, wf_app) -> None:
    served, data = wf_app
    _open_page(browser, served.url + "?view=compare&model=detector")
    browser.wait(lambda: "overall" in _report(browser), what="class report")
    before = _report(browser)["overall"]
    _choose(browser, header.METRIC, "greedy_ca")  # the header's metric control
    browser.wait(lambda: "greedy_ca" in _kpi_text(browser), what="the custom metric's numbers")
    after = _report(browser)["overall"]
    want = Workspace(data).get("demo").metrics("detector", metric="greedy_ca")["overall"]
    assert after[:3] == [str(want["tp"]), str(want["fp"]), str(want["fn"])]
    assert after != before
    browser.screenshot("compare_metric_control.png")
    assert browser.severe_logs() == []


def test_scenario_saved_from_an_expression_restricts_the_page(browser, wf_app) -> None:
    served, data = wf_app
    _open_page(browser, served.url + "?view=compare&model=detector")
    browser.wait(lambda: "overall" in _report(browser), what="class report")
    browser.driver.find_element(By.ID, w.SC_NAME).send_keys("night_bad")
    box = browser.driver.find_element(By.ID, w.SC_WHERE)
    box.send_keys('time_of_day == "night" and f1 < 0.7', Keys.ENTER)
    browser.wait(lambda: "saved scenario" in browser.driver.find_element(By.ID, w.SC_MSG).text, what="saved")
    browser.wait(lambda: "scenario night_bad" in _kpi_text(browser), what="restricted numbers")
    view = Workspace(data).get("demo")
    want = view.metrics("detector", scenario="night_bad")["overall"]
    assert _report(browser)["overall"][:3] == [str(want["tp"]), str(want["fp"]), str(want["fn"])]
    browser.screenshot("compare_scenario_saved.png")
    # a bad expression names its token and saves nothing
    browser.driver.find_element(By.ID, w.SC_NAME).send_keys("2")
    box.clear()
    box.send_keys("scene === 1", Keys.ENTER)
    browser.wait(lambda: "not saved" in browser.driver.find_element(By.ID, w.SC_MSG).text, what="refusal")
    assert "'='" in browser.driver.find_element(By.ID, w.SC_MSG).text
    assert "2night_bad" not in Workspace(data).get("demo").scenarios()
    assert browser.severe_logs() == []


def test_comparison_mode_maps_and_difference_matrix(browser, wf_app) -> None:
    served, data = wf_app
    _open_page(browser, served.url + "?view=compare&model=detector")
    _choose(browser, w.MODEL_B, "detector_v2")
    browser.wait(lambda: browser.graph_data(w.CMP_DIFF), what="difference matrix")
    view = Workspace(data).get("demo")
    c = view.compare("detector", "detector_v2")
    counts = browser.driver.find_element(By.ID, w.CMP_COUNTS).text
    assert f"fixed {c['labels']['counts']['fixed']:,}" in counts and f"broken {c['labels']['counts']['broken']:,}" in counts
    crop = {t["name"]: t["n"] for t in browser.graph_data(w.CMP_CROP)}
    assert crop["label: fixed (TP only in B)"] == c["labels"]["counts"]["fixed"]
    assert crop["label: broken (TP only in A)"] == c["labels"]["counts"]["broken"]
    assert crop["inference of detector"] > 0 and crop["inference of detector_v2"] > 0
    frame = browser.graph_data(w.CMP_FRAME)
    assert sum(t["n"] for t in frame) == len(view.dataset.frames)
    browser.driver.execute_script("document.getElementById(arguments[0]).scrollIntoView();", w.CMP_COUNTS)
    time.sleep(0.8)
    browser.screenshot("compare_maps.png")
    # click the cell with the largest change on a label row: its changed pairs open
    import numpy as np

    diff = np.asarray(c["confusion_matrix_diff"])
    diff[-1, :] = 0
    g, p = np.unravel_index(np.abs(diff).argmax(), diff.shape)
    names = c["classes"]
    browser.driver.execute_script("document.getElementById(arguments[0]).scrollIntoView();", w.CMP_DIFF)
    pos = browser.js(
        "var g = document.querySelector(arguments[0]); var L = g._fullLayout;"
        "var xi = g.data[0].x.indexOf(arguments[1]), yi = g.data[0].y.indexOf(arguments[2]);"
        "return [L.xaxis.d2p(xi), L.yaxis.d2p(yi)];", PLOT.format(w.CMP_DIFF), names[p], names[g])
    from selenium.webdriver.common.action_chains import ActionChains

    el = browser.driver.find_element(By.CSS_SELECTOR, f"{PLOT.format(w.CMP_DIFF)} .nsewdrag")
    rect = browser.js("var r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height];", el)
    ActionChains(browser.driver).move_to_element_with_offset(el, int(pos[0] - rect[2] / 2), int(pos[1] - rect[3] / 2)).click().perform()
    browser.wait(lambda: "changed" in browser.driver.find_element(By.ID, w.CMP_CELL_TITLE).text, what="drill-down")
    title = browser.driver.find_element(By.ID, w.CMP_CELL_TITLE).text
    assert title.startswith(f"label {names[g]} → predicted {names[p]}")
    cell = view.compare_cell("detector", "detector_v2", gt_class=names[g], pred_class=names[p])
    assert f"{cell['total']} changed" in title
    browser.driver.execute_script("document.getElementById(arguments[0]).scrollIntoView();", w.CMP_CELL_TITLE)
    time.sleep(0.5)
    browser.screenshot("compare_cell_drilldown.png")
    assert browser.severe_logs() == []


def _shown(browser, test_id: str) -> list:
    """The displayed elements of a test id (cards render before their panel is shown)."""
    found = browser.driver.find_elements(By.CSS_SELECTOR, f"[data-testid='{test_id}']")
    return found if found and all(e.is_displayed() for e in found) else []


def test_where_b_regressed_cards_open_the_map(browser, wf_app) -> None:
    """The compare tab lists the clusters and slices of the labels B broke; a cluster card
    isolates exactly that cluster's crops on the map, a slice card filters the frame grid."""
    import re

    from aquaembed.dashboard import ids

    served, data = wf_app
    view = Workspace(data).get("demo")
    reg = view.regression("detector_v2", "detector")
    assert reg["clusters"] and reg["slices"], "detector broke labels detector_v2 found, in patterns"
    _open_page(browser, served.url + "?view=compare&model=detector_v2")
    _choose(browser, w.MODEL_B, "detector")
    cards = browser.wait(lambda: _shown(browser, "regression-cluster-card"), what="regression cluster cards")
    slices = browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid='regression-slice-card']")
    assert len(cards) == len(reg["clusters"]) and len(slices) == len(reg["slices"][:40])
    status = browser.driver.find_element(By.ID, w.REG_STATUS).text
    assert f"broke {reg['labels']['broken']:,} labels" in status
    top = reg["slices"][0]
    assert str(top["value"] if not isinstance(top["value"], list) else top["value"][0]) in slices[0].text
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cards[0])
    time.sleep(0.5)
    browser.screenshot("compare_where_b_regressed.png")
    first = reg["clusters"][int(cards[0].get_attribute("data-cluster"))]
    cards[0].click()
    browser.wait(lambda: "focus=bcluster" in browser.driver.current_url and "view=embedding" in browser.driver.current_url,
                 what="the map to open")

    def drawn() -> int:
        total = 0
        for t in browser.graph_data(ids.EMB_GRAPH) or []:
            _, _, rest = (t.get("name") or "").partition(" (")
            total += sum(int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", rest))
        return total

    browser.wait(lambda: drawn() == first["size"], what="exactly the broken cluster's crops on the map")
    banner = browser.wait(lambda: browser.driver.find_element(By.CSS_SELECTOR, "[data-testid='focus-banner']").text,
                          what="the focus banner")
    assert f"cluster #{first['id']}" in banner and "broken label" in banner
    browser.screenshot("compare_broken_cluster_isolated.png")
    # a slice card: the frame grid shows the slice's frames
    _open_page(browser, served.url + "?view=compare&model=detector_v2")
    _choose(browser, w.MODEL_B, "detector")
    card = browser.wait(lambda: _shown(browser, "regression-slice-card"), what="regression slice cards")[0]
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", card)
    card.click()
    browser.wait(lambda: "focus=bslice" in browser.driver.current_url and "view=frames" in browser.driver.current_url,
                 what="the grid to open")
    want = len(view.slice_frame_ids(reg["slices"][0]))

    def grid_total() -> int:
        m = re.match(r"([\d,]+) frames", browser.driver.find_element(By.ID, ids.FR_TITLE).text)
        return int(m.group(1).replace(",", "")) if m else -1

    browser.wait(lambda: grid_total() == want, what="the slice's frames")
    browser.screenshot("compare_broken_slice_frames.png")
    assert browser.severe_logs() == []


def _lasso(browser, graph: str) -> None:
    """Drag a lasso over the left half of a plot (its dragmode is lasso)."""
    from selenium.webdriver.common.action_chains import ActionChains

    el = browser.driver.find_element(By.CSS_SELECTOR, f"{PLOT.format(graph)} .nsewdrag")
    wd, ht = el.size["width"], el.size["height"]
    (ActionChains(browser.driver).move_to_element_with_offset(el, int(-wd * 0.48), int(-ht * 0.48)).click_and_hold()
     .move_by_offset(int(wd * 0.45), 0).move_by_offset(0, int(ht * 0.95)).move_by_offset(int(-wd * 0.45), 0)
     .move_by_offset(0, int(-ht * 0.9)).release().perform())


def test_lasso_saves_a_scenario_and_the_scenario_control_restricts(browser, wf_app) -> None:
    served, data = wf_app
    Workspace(data).get("demo").save_scenario("day_only", where='time_of_day == "day"', replace=True)
    _open_page(browser, served.url + "?view=compare&model=detector")
    _choose(browser, w.MODEL_B, "detector_v2")
    browser.wait(lambda: browser.graph_data(w.CMP_FRAME), what="ΔF1 map")
    browser.driver.execute_script("document.getElementById(arguments[0]).scrollIntoView({block: 'center'});", w.CMP_FRAME)
    time.sleep(0.5)
    _lasso(browser, w.CMP_FRAME)
    time.sleep(0.5)
    browser.driver.find_element(By.ID, w.SC_NAME).send_keys("lassoed")
    browser.driver.find_element(By.ID, w.SC_LASSO).click()
    browser.wait(lambda: "saved scenario 'lassoed'" in browser.driver.find_element(By.ID, w.SC_MSG).text, what="lasso saved")
    saved = Workspace(data).get("demo").scenarios()["lassoed"]
    assert saved["source"] == "lasso" and 0 < saved["frames"] < 150
    assert "lassoed" in browser.driver.find_element(By.ID, header.SCENARIO).text  # the header's control shows it
    browser.wait(lambda: "scenario lassoed" in _kpi_text(browser), what="restricted to the lasso")
    # choose another scenario in the control on a fresh page: the numbers follow it
    _open_page(browser, served.url + "?view=compare&model=detector")
    browser.wait(lambda: "overall" in _report(browser), what="class report")
    _choose(browser, header.SCENARIO, "day_only")
    browser.wait(lambda: "scenario day_only" in _kpi_text(browser), what="scenario chosen")
    want = Workspace(data).get("demo").metrics("detector", scenario="day_only")["overall"]
    assert _report(browser)["overall"][:3] == [str(want["tp"]), str(want["fp"]), str(want["fn"])]
    browser.screenshot("compare_scenario_control.png")
    assert browser.severe_logs() == []


def test_scalar_metric_colours_the_map_and_slices_the_frames(browser, wf_app) -> None:
    from aquaembed.dashboard import ids

    served, data = wf_app
    browser.get(served.url + "?view=embedding&kind=frame&colour=meta:scene")
    browser.wait(lambda: browser.graph_data(ids.EMB_GRAPH), what="frame map")
    _choose(browser, ids.EMB_COLOUR, "severity")
    browser.wait(lambda: browser.graph_data(ids.EMB_GRAPH)[0]["name"].startswith("severity ("), what="severity colours")
    assert "colour=meta%3Aseverity" in browser.driver.current_url or "colour=meta:severity" in browser.driver.current_url
    browser.screenshot("embedding_frames_by_severity.png")
    browser.driver.find_element(By.XPATH, "//*[contains(@class, 'tab') and normalize-space()='Frame grid']").click()
    browser.wait(lambda: browser.driver.find_element(By.ID, ids.FR_SLICE_FIELD).is_displayed(), what="frame grid")
    _choose(browser, ids.FR_SLICE_FIELD, "severity")
    want = Workspace(data).get("demo").slices("detector", field="severity")["rows"]
    browser.wait(lambda: want[0]["value"] in browser.driver.find_element(By.ID, ids.FR_SLICE_TABLE).text, what="bins")
    text = browser.driver.find_element(By.ID, ids.FR_SLICE_TABLE).text
    assert all(r["value"] in text for r in want)
    browser.screenshot("frames_sliced_by_severity.png")
    assert browser.severe_logs() == []
