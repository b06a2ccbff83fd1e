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
from aquaembed.dashboard import workflow_ids as w

pytestmark = pytest.mark.browser

LOCAL = {"127.0.0.1", "localhost"}


def _outside_links(browser) -> list[str]:
    hrefs = browser.js("return [...document.querySelectorAll('a[href], form[action]')]"
                       ".map(function(a) { return a.href || a.action; });")
    return [h for h in hrefs if urlsplit(h).hostname not in LOCAL and not h.startswith(("javascript:", "data:", "blob:"))]


CLOUD_KEYS = ("showSendToCloud", "showEditInChartStudio", "showLink")

GRAPHS_JS = """
return [...document.querySelectorAll('.js-plotly-plot')].filter(function(g) { return g.offsetParent !== null; })
  .map(function(g) {
    var c = g._context || {};
    var host = g.closest('[id]');
    return {id: host ? host.id : '?', config: {showSendToCloud: c.showSendToCloud, showEditInChartStudio: c.showEditInChartStudio,
            showLink: c.showLink, plotlyServerURL: c.plotlyServerURL || '', displaylogo: c.displaylogo},
            buttons: [...g.querySelectorAll('.modebar-btn')].map(function(b) { return b.getAttribute('data-title') || ''; }),
            links: [...g.querySelectorAll('a[href]')].map(function(a) { return a.href; })};
  });
"""
"""Every graph shown on the page: its effective Plotly config (``_context``), mode-bar buttons and links."""

SPY_JS = """
window.__aeOpened = window.__aeOpened || [];
if (!window.__aeSpy) {
  window.__aeSpy = true;
  window.open = function(url) { window.__aeOpened.push(String(url)); return null; };
}
"""
"""Record every ``window.open`` (how Plotly's cloud buttons hand a figure to Chart Studio) instead of opening it."""


def _cloud_problems(graph: dict) -> list[str]:
    """What a graph offers that could send its data (or a link) to another host."""
    out = [f"{graph['id']}: {k} is {graph['config'][k]!r}" for k in CLOUD_KEYS if graph["config"][k]]
    url = graph["config"]["plotlyServerURL"]
    if url and urlsplit(url).hostname not in LOCAL:
        out.append(f"{graph['id']}: plotlyServerURL {url}")
    if graph["config"]["displaylogo"] is not False:
        out.append(f"{graph['id']}: the Plotly logo links to plotly.com")
    out += [f"{graph['id']}: button {t!r}" for t in graph["buttons"]
            if any(w in t.lower() for w in ("cloud", "chart studio", "share", "edit in"))]
    out += [f"{graph['id']}: link {h}" for h in graph["links"] if urlsplit(h).hostname not in LOCAL]
    return out


def _click_every_modebar_button(browser) -> list[str]:
    """Hover each shown graph and click each of its mode-bar buttons; the buttons clicked."""
    from selenium.webdriver.common.action_chains import ActionChains

    clicked = []
    for plot in [p for p in browser.driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot") if p.is_displayed()]:
        browser.js("arguments[0].scrollIntoView({block: 'center'});", plot)
        n = len(plot.find_elements(By.CSS_SELECTOR, ".modebar-btn"))
        for i in range(n):
            ActionChains(browser.driver).move_to_element(plot).perform()  # the mode bar shows on hover
            btn = plot.find_elements(By.CSS_SELECTOR, ".modebar-btn")[i]
            clicked.append(btn.get_attribute("data-title"))
            browser.js("arguments[0].click();", btn)  # (the sticky header may cover a button at the top)
            time.sleep(0.15)
    return clicked


def _show_graphs(browser, app, view: str) -> None:
    browser.get(app.url + f"?view={view}&model=detector")
    if view == "compare":  # the comparison maps and the difference matrix appear once a second model is chosen
        browser.wait(lambda: browser.driver.find_element(By.ID, w.MODEL_B).is_displayed(), what="the compare page")
        browser.choose(w.MODEL_B, "detector_v2")
    want = {"embedding": 1, "metrics": 3, "compare": 3}[view]
    browser.wait(lambda: len([g for g in browser.js(GRAPHS_JS) if g["buttons"]]) >= want, what=f"{want} graphs on {view}")
    time.sleep(0.5)


@pytest.mark.parametrize("view", ["embedding", "metrics", "compare"])
def test_no_graph_offers_to_send_data_away(browser, demo_app, view) -> None:
    # defect 5: Plotly's "share chart" / Chart Studio button would upload a private dataset. Every graph on
    # every page with graphs: no cloud config, button or link; then every mode-bar button is clicked (Download
    # included: downloads are refused), and nothing opened a window or requested another host (the autouse fixture)
    browser.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "deny"})
    browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SPY_JS})
    _show_graphs(browser, demo_app, view)
    browser.js(SPY_JS)
    graphs = browser.js(GRAPHS_JS)
    assert [p for g in graphs for p in _cloud_problems(g)] == []
    clicked = _click_every_modebar_button(browser)
    assert len(clicked) >= 4 * len([g for g in graphs if g["buttons"]]), clicked
    assert "Download plot as a PNG" in clicked or any("download" in c.lower() for c in clicked), clicked
    assert browser.js("return window.__aeOpened;") == []
    assert [p for g in browser.js(GRAPHS_JS) for p in _cloud_problems(g)] == []
    assert _outside_links(browser) == []
    browser.screenshot(f"privacy_{view}.png")


def test_the_cloud_check_catches_a_graph_that_offers_the_cloud(browser, demo_app) -> None:
    # the checks above are not vacuous: a graph drawn with Plotly's cloud options (never clicked) fails them
    _show_graphs(browser, demo_app, "embedding")
    browser.driver.execute_async_script(
        "var done = arguments[0]; var d = document.createElement('div'); d.id = 'canary'; d.style.height = '300px';"
        "document.body.prepend(d);"
        "Plotly.newPlot(d, [{x: [1, 2], y: [2, 1]}], {}, {showSendToCloud: true, showEditInChartStudio: true,"
        " plotlyServerURL: 'https://chart-studio.plotly.com'}).then(function() { done(true); });")
    canary = next(g for g in browser.js(GRAPHS_JS) if g["id"] == "canary")
    problems = _cloud_problems(canary)
    assert any("showSendToCloud" in p for p in problems) and any("plotlyServerURL" in p for p in problems)
    assert any(p.startswith("canary: button") for p in problems), problems  # "Share chart..."
    browser.js("document.getElementById('canary').remove();")


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
