"""Nothing on the pages reaches another host: no share button, no outside links, docs offline.

Every request the browser makes is logged (Chrome's performance log) and checked by the
``_no_request_leaves_the_host`` fixture after each test; these tests add what a person
could click.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By

from aquaembed.dashboard import ids

pytestmark = pytest.mark.browser

LOCAL = {"127.0.0.1", "localhost"}


def _outside_links(browser) -> list[str]:
    hrefs = browser.js("return [...document.querySelectorAll('a[href], form[action]')]"
                       ".map(function(a) { return a.href || a.action; });")
    return [h for h in hrefs if urlsplit(h).hostname not in LOCAL and not h.startswith(("javascript:", "data:", "blob:"))]


@pytest.mark.parametrize("view,graphs", [
    ("embedding", [ids.EMB_GRAPH]),
    ("metrics", [ids.MET_CM_GRAPH, ids.MET_PR_GRAPH, ids.MET_COCO_GRAPH]),
])
def test_no_graph_offers_to_send_data_away(browser, demo_app, view, graphs) -> None:
    # defect 5: Plotly's "share chart" / Chart Studio button would upload a private dataset
    browser.get(demo_app.url + f"?view={view}")
    for g in graphs:
        browser.wait(lambda g=g: browser.graph_data(g), what=f"{g} to draw")
    time.sleep(0.5)
    for g in graphs:
        titles = browser.js("return [...document.querySelectorAll('#' + arguments[0] + ' .modebar-btn')]"
                            ".map(function(b) { return b.getAttribute('data-title') || ''; });", g)
        assert titles, f"{g} has no mode bar"
        assert not [t for t in titles if any(w in t.lower() for w in ("cloud", "chart studio", "share", "edit in"))], titles
        config = browser.js("var el = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
                            "return el._context ? {cloud: el._context.showSendToCloud, studio: el._context.showEditInChartStudio,"
                            " logo: el._context.displaylogo} : null;", g)
        assert config is not None and not config["cloud"] and not config["studio"] and config["logo"] is False
    assert _outside_links(browser) == []
    browser.screenshot(f"privacy_{view}.png")


def test_api_docs_render_without_internet(browser, demo_app) -> None:
    # defect 6: /api/v1/docs loaded Swagger UI from a CDN and rendered blank offline
    browser.get(demo_app.url + "api/v1/docs")
    ops = browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock"), what="Swagger UI operations")
    assert len(ops) >= 8
    assert "selection" in browser.driver.find_element(By.CSS_SELECTOR, ".swagger-ui").text
    browser.screenshot("api_docs.png")
    assert [e for e in browser.severe_logs() if "favicon" not in e["message"]] == []


def test_a_bad_link_says_what_it_replaced(browser, demo_app) -> None:
    # defect 9: ?dataset=nope&conf=7 was silently replaced
    browser.get(demo_app.url + "?dataset=nope&conf=7&mode=fast")
    notice = browser.wait(lambda: browser.driver.find_element(By.ID, ids.NOTICE).text, what="the notice")
    assert "dataset 'nope' does not exist (showing 'demo')" in notice
    assert "conf=7 is not a number in [0, 1] (using 0.5)" in notice and "mode=fast" in notice
    assert "conf=0.5" in browser.driver.current_url and "dataset=demo" in browser.driver.current_url
    browser.screenshot("bad_url_notice.png")
    # a change of a control clears it
    browser.driver.find_element(By.XPATH, f"//*[@id='{ids.EMB_KIND}']//label[normalize-space()='frames']").click()
    browser.wait(lambda: browser.driver.find_element(By.ID, ids.NOTICE).text == "", what="the notice to clear")
