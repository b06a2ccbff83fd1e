"""The Failure report page in headless Chromium: cards appear after a progress note, a
cluster card isolates exactly that cluster on the embedding map and its frames in the
grid, a slice card filters the grid and names the slice's metrics. Screenshots go to
``artifacts/screenshots``."""

from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By

from aquaembed.dashboard import ids
from aquaembed.explore import Workspace

pytestmark = pytest.mark.browser


def _tab(browser, label: str) -> None:
    browser.driver.find_element(By.XPATH, f"//*[contains(@class, 'tab') and normalize-space()='{label}']").click()


def _cards(browser, test_id: str) -> list:
    return browser.driver.find_elements(By.CSS_SELECTOR, f"[data-testid='{test_id}']")


def _drawn(browser) -> int:
    """Points on the map, from the legend entries ("FN (57)", "TP (3 labels + 2 inferences)")."""
    total = 0
    for t in browser.graph_data(ids.EMB_GRAPH) or []:
        _, _, rest = (t.get("name") or "").partition(" (")
        total += sum(int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", rest))
    return total


def _grid_total(browser) -> int:
    text = browser.driver.find_element(By.ID, ids.FR_TITLE).text
    m = re.match(r"([\d,]+) frames", text)
    return int(m.group(1).replace(",", "")) if m else -1


def test_cluster_card_isolates_the_cluster(browser, demo_app, demo_dir) -> None:
    view = Workspace(demo_dir).get("demo")
    clusters = view.failure_clusters("detector")
    assert clusters, "the small demo has failure clusters"
    browser.get(demo_app.url)
    browser.wait(lambda: browser.graph_data(ids.EMB_GRAPH), what="the map")
    _tab(browser, "Failure report")
    browser.wait(lambda: len(_cards(browser, "cluster-card")) > 0, what="cluster cards")
    assert "failure clusters" in browser.driver.find_element(By.ID, ids.REP_STATUS).text
    browser.screenshot("report_cards.png")

    card = _cards(browser, "cluster-card")[0]
    first = clusters[int(card.get_attribute("data-cluster"))]
    card.click()
    browser.wait(lambda: "focus=cluster" in browser.driver.current_url and "view=embedding" in browser.driver.current_url,
                 what="the map to open")
    browser.wait(lambda: _drawn(browser) == first["size"], what="exactly the cluster's crops on the map")
    banner = browser.wait(lambda: browser.driver.find_element(By.CSS_SELECTOR, "[data-testid='focus-banner']").text,
                          what="the focus banner")
    assert f"cluster #{first['id']}" in banner and f"{first['size']}" in banner
    browser.screenshot("report_cluster_isolated.png")

    _tab(browser, "Frame grid")
    browser.wait(lambda: _grid_total(browser) == len(first["frames"]), what="the cluster's frames in the grid")
    browser.screenshot("report_cluster_frames.png")

    # "show everything" lifts the isolation
    browser.driver.find_element(By.ID, ids.REP_CLEAR).click()
    browser.wait(lambda: "focus=" not in browser.driver.current_url, what="the focus to clear")
    browser.wait(lambda: not browser.driver.find_element(By.CSS_SELECTOR, "[data-testid='focus-banner']").is_displayed(),
                 what="the banner to hide")
    browser.wait(lambda: _grid_total(browser) == len(view.dataset.frames), what="all frames again")


_WATCH = """
window.__seen = {progress: null, cardsAfterProgress: false, cards: false};
new MutationObserver(function () {
  var p = document.querySelector("[data-testid='report-progress']");
  if (p && p.style.display !== "none" && /\\d+%/.test(p.textContent) && window.__seen.progress === null && !window.__seen.cards) {
    window.__seen.progress = p.textContent;
  }
  if (document.querySelector("[data-testid='cluster-card']") && !window.__seen.cards) {
    window.__seen.cards = true;
    window.__seen.cardsAfterProgress = window.__seen.progress !== null;
  }
}).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
"""


def test_progress_is_shown_before_the_cards(browser, demo_app) -> None:
    """At thresholds no other test asked for the report computes afresh (re-matching, the
    clusters, the slices): a progress bar with the fraction done shows before the cards."""
    browser.get(demo_app.url + "?conf=0.45&iou=0.55")
    browser.wait(lambda: browser.graph_data(ids.EMB_GRAPH), what="the map")
    browser.js(_WATCH)
    _tab(browser, "Failure report")
    shot = False
    for _ in range(200):
        prog = browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid='report-progress']")
        if not shot and prog and prog[0].is_displayed():
            browser.screenshot("report_progress.png")
            shot = True
        if _cards(browser, "cluster-card"):
            break
    browser.wait(lambda: len(_cards(browser, "cluster-card")) > 0, what="cluster cards")
    seen = browser.js("return window.__seen;")
    assert seen["cards"] and seen["cardsAfterProgress"], seen
    assert "Computing the failure report" in seen["progress"] and "%" in seen["progress"]
    # once the cards are there the bar is gone
    assert not browser.driver.find_element(By.CSS_SELECTOR, "[data-testid='report-progress']").is_displayed()
    browser.screenshot("report_after_progress.png")
    assert browser.severe_logs() == []


def test_slice_card_filters_the_grid(browser, demo_app, demo_dir) -> None:
    view = Workspace(demo_dir).get("demo")
    slices = view.slice_departures("detector")["slices"]
    assert slices
    browser.get(demo_app.url + "?view=report")
    browser.wait(lambda: len(_cards(browser, "slice-card")) > 0, what="slice cards")
    card = _cards(browser, "slice-card")[0]
    rank = int(card.get_attribute("data-slice"))
    card.click()
    browser.wait(lambda: "view=frames" in browser.driver.current_url and "focus=slice" in browser.driver.current_url,
                 what="the grid to open")
    want = len(view.slice_frame_ids(slices[rank]))
    browser.wait(lambda: _grid_total(browser) == want, what="the slice's frames")
    banner = browser.wait(lambda: browser.driver.find_element(By.CSS_SELECTOR, "[data-testid='focus-banner']").text,
                          what="the focus banner")
    assert "slice" in banner and f"{slices[rank]['in_slice']:.3f}" in banner
    browser.screenshot("report_slice_frames.png")
    assert browser.severe_logs() == []
