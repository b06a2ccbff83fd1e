"""The dashboard over a dataset stored in the sharded layout (issue 13, serving a large
store): the Model metrics page (confusion matrix, a cell's examples) and the frame grid
(cards with their drawn frames, metrics by scene) answer through the shards, with the
same numbers as the API of the same data stored in one folder."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from aquaembed.dashboard import ids

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sharded_app(demo_dir: Path, demo_app, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The demo's dataset written in the sharded layout (4 shards), served by ``aquaembed serve``."""
    from aquaembed.store import Store
    from aquaembed.store.shards import write_sharded

    data = tmp_path_factory.mktemp("sharded")
    stored = Store(demo_dir).open("demo")
    images = stored.path.parent / stored.manifest.source["images"]
    write_sharded(stored.dataset, str(data / "demo"), name="demo", shards=4, source={"images": str(images.resolve())})
    served = type(demo_app)(data)  # conftest's Served: the real server process
    yield served
    served.close()


def _api(base: str, path: str) -> dict:
    with urllib.request.urlopen(base.rstrip("/") + path, timeout=60) as r:
        return json.loads(r.read())


def test_metrics_and_frame_grid_on_a_sharded_store(browser, sharded_app, demo_app) -> None:
    url = sharded_app.url
    q = "/api/v1/datasets/demo/metrics?model=detector&pr=false&conf=0.5"
    assert _api(url, q)["confusion_matrix"] == _api(demo_app.url, q)["confusion_matrix"]
    browser.get(url + "?dataset=demo&view=metrics&conf=0.5")
    browser.wait(lambda: (browser.graph_data(ids.MET_CM_GRAPH) or [{}])[0].get("text"), what="the confusion matrix")
    headline = browser.driver.find_element(By.ID, ids.HEADLINE).text
    counts = {k: int(v.replace(",", "")) for k, v in re.findall(r"\b(TP|FP|FN) ([\d,]+)", headline)}
    overall = _api(demo_app.url, q)["overall"]
    assert counts == {"TP": overall["tp"], "FP": overall["fp"], "FN": overall["fn"]}
    pos = browser.js(
        "var g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot'); var L = g._fullLayout;"
        "var xi = g.data[0].x.indexOf('pedestrian'), yi = g.data[0].y.indexOf('background');"
        "return [L.xaxis.d2p(xi), L.yaxis.d2p(yi)];", ids.MET_CM_GRAPH)
    browser.click_plot_at(ids.MET_CM_GRAPH, pos[0], pos[1])
    browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=example]"), what="examples")
    scores = [float(e.get_attribute("data-score")) for e in browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=example]")]
    assert scores == sorted(scores, reverse=True) and scores[0] >= 0.5
    time.sleep(1.0)
    browser.screenshot("sharded_metrics_cell_examples.png")
    assert browser.severe_logs() == []

    browser.get(url + "?dataset=demo&view=frames&conf=0.5")
    cards = browser.wait(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame-card]"), what="cards")
    browser.type_and_enter(f"#{ids.FR_FILTER_MAX}", "0.5")
    browser.wait(lambda: "≤ f1 ≤ 0.5" in browser.driver.find_element(By.ID, ids.FR_TITLE).text, what="filtered title")
    cards = browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame-card]")
    f1 = [float(m.group(1)) for c in cards for m in [re.search(r"F1 ([\d.]+)", c.text)] if m]
    assert cards and f1 and max(f1) <= 0.5
    browser.wait(lambda: browser.driver.find_elements(
        By.CSS_SELECTOR, f"#{ids.FR_SLICE_TABLE} .ag-pinned-left-cols-container .ag-row [col-id=value]"), what="slices")
    # the cards' frame pictures are drawn from their shards
    browser.wait(lambda: all(browser.js("return arguments[0].complete && arguments[0].naturalWidth > 0;", img)
                             for img in browser.driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame-card] img")),
                 what="the frame pictures")
    time.sleep(1.0)
    browser.screenshot("sharded_frame_grid.png")
    assert browser.severe_logs() == []
