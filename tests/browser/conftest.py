"""Fixtures of the browser tests: a small demo, a 30-class dataset, the app on a free port,
and one headless Chromium driven by selenium.

Without Chromium or chromedriver the tests skip with the reason, except under CI (``CI``
set), where their absence is a failure. Screenshots go to ``artifacts/screenshots``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-unsafe-swiftshader",
    "--window-size=1500,1100",
)


def _find(names: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if path:
            return path
    return None


def _require_browser() -> tuple[str, str]:
    chrome = _find(("chromium", "chromium-browser", "google-chrome"))
    driver = _find(("chromedriver",))
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing = "the selenium package"
    else:
        missing = ", ".join(n for n, p in (("chromium", chrome), ("chromedriver", driver)) if p is None)
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {missing} is missing: the browser tests cannot run")
        pytest.skip(f"{missing} not installed (apt-get install chromium chromium-driver) - browser tests skipped")
    return chrome, driver  # type: ignore[return-value]


@pytest.fixture(scope="session")
def browser_paths() -> tuple[str, str]:
    return _require_browser()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, browser_paths: tuple[str, str]) -> Path:
    """A 150-frame demo (dataset ``demo``, inference set ``detector``), built once."""
    out = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, "-m", "aquaembed", "demo", "--data", str(out), "--frames", "150", "--no-serve"],
                   check=True, capture_output=True, cwd=REPO, timeout=300)
    return out


@pytest.fixture(scope="session")
def many_dir(tmp_path_factory: pytest.TempPathFactory, browser_paths: tuple[str, str]) -> Path:
    """A synthetic 30-class dataset with random crop and frame embeddings."""
    from aquaembed.ingest import add_inferences, ingest
    from aquaembed.synthetic import write_coco

    src = tmp_path_factory.mktemp("many-src")
    data = tmp_path_factory.mktemp("many")
    gt, pred = write_coco(src, 120, n_classes=30, labels_per_frame=5.0, preds_per_frame=8, seed=3)
    g = json.loads(gt.read_text())
    p = json.loads(pred.read_text())
    rng = np.random.default_rng(0)
    frame_ids = np.array([im["id"] for im in g["images"]])
    label_ids = np.array([a["id"] for a in g["annotations"]])
    np.savez(src / "frames.npz", ids=frame_ids, embeddings=rng.normal(size=(frame_ids.size, 16)).astype(np.float32))
    np.savez(src / "labels.npz", ids=label_ids, embeddings=rng.normal(size=(label_ids.size, 16)).astype(np.float32))
    np.savez(src / "preds.npz", ids=np.arange(len(p)), embeddings=rng.normal(size=(len(p), 16)).astype(np.float32))
    ingest(data, "many", gt=gt, frame_embeddings=src / "frames.npz", label_embeddings=src / "labels.npz", build=False)
    add_inferences(data, "many", model="model", pred=pred, pred_embeddings=src / "preds.npz")
    return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """The real ``aquaembed serve`` process on a free port: the dashboard at ``/``."""

    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "aquaembed", "serve", "--data", str(data_dir), "--port", str(self.port)],
            cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while True:
            if self._proc.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"aquaembed serve exited: {self._log.read().decode(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "api/v1/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("aquaembed serve did not answer within 120 s")
            time.sleep(0.25)

    def close(self) -> None:
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._log.close()


@pytest.fixture(scope="session")
def demo_app(demo_dir: Path) -> Iterator[Served]:
    served = Served(demo_dir)
    yield served
    served.close()


@pytest.fixture(scope="session")
def many_app(many_dir: Path) -> Iterator[Served]:
    served = Served(many_dir)
    yield served
    served.close()


class Browser:
    """A thin helper over the selenium driver."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self._requests: list[str] = []

    def get(self, url: str) -> None:
        self.driver.get(url)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, condition: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition") -> Any:
        end = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < end:
            try:
                last = condition()
            except Exception as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")

    def graph_data(self, graph_id: str) -> Any:
        """Per trace of a graph: name, visibility, number of points (``n``) and the heatmap
        cell texts (``text``); read from Plotly's decoded ``_fullData``."""
        return self.js(
            "var g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
            "if (!g || !g.data || !g._fullData) { return null; }"
            "return g.data.map(function(t, i) { var f = g._fullData[i] || {};"
            " return {name: t.name, visible: t.visible === undefined ? true : t.visible,"
            " n: f._length === undefined ? (f.x ? f.x.length : 0) : f._length,"
            " text: t.text && t.type === 'heatmap' ? t.text : null}; });",
            graph_id)

    def request_urls(self) -> list[str]:
        """Every URL the page requested since the last call (from Chrome's performance log:
        CDP ``Network.requestWillBeSent`` events), including scripts, fonts, images and XHRs."""
        self._requests.extend(
            msg["params"]["request"]["url"]
            for msg in (json.loads(e["message"])["message"] for e in self.driver.get_log("performance"))
            if msg.get("method") == "Network.requestWillBeSent"
        )
        return list(self._requests)

    def outside_requests(self) -> list[str]:
        """Requested URLs that go over the network to a host other than this machine.

        Only network schemes count (``http``, ``https``, ``ws``, ``wss``, ``ftp``): ``data:``,
        ``blob:`` and the browser's own ``chrome://`` pages never leave the process."""
        from urllib.parse import urlsplit

        local = {"127.0.0.1", "localhost", "::1"}
        return [u for u in self.request_urls()
                if urlsplit(u).scheme in ("http", "https", "ws", "wss", "ftp") and urlsplit(u).hostname not in local]

    # ---- the controls, used the way a person does

    def choose(self, dropdown_id: str, label: str) -> None:
        """Open a dropdown (a click on it) and click the option showing ``label``."""
        from selenium.webdriver.common.by import By

        def opened() -> Any:
            button = self.driver.find_element(By.ID, dropdown_id)
            if button.get_attribute("aria-expanded") != "true":
                button.click()  # (again, if a re-render closed it)
                time.sleep(0.2)
                return None
            panel = button.get_attribute("aria-controls")
            hits = [o for o in self.driver.find_elements(By.CSS_SELECTOR, f"[id='{panel}'] [role=option]")
                    if o.text.strip() == label]
            return hits[0] if hits else None

        self.wait(opened, what=f"option {label!r} of {dropdown_id}").click()
        self.wait(lambda: label in self.driver.find_element(By.ID, dropdown_id).text, what=f"{dropdown_id} to show {label!r}")

    def type_and_enter(self, css: str, value: str) -> None:
        """Select the text of an input, type ``value`` and press Enter (no blur)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        box = self.driver.find_element(By.CSS_SELECTOR, css)
        box.click()
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(value, Keys.ENTER)

    def legend_items(self, graph_id: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, f"#{graph_id} .js-plotly-plot .legend .traces")

    def click_legend(self, graph_id: str, prefix: str, *, double: bool = False) -> None:
        """Click (or double-click) the legend entry whose text starts with ``prefix``."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        item = self.wait(lambda: [e for e in self.legend_items(graph_id) if e.text.startswith(prefix)],
                         what=f"legend entry {prefix!r}")[0]
        toggle = item.find_element(By.CSS_SELECTOR, ".legendtoggle")
        chain = ActionChains(self.driver)
        (chain.double_click(toggle) if double else chain.click(toggle)).perform()

    def plot_box(self, graph_id: str) -> tuple[Any, list[float]]:
        """The drag layer of a graph and its rectangle ``[left, top, width, height]``."""
        from selenium.webdriver.common.by import By

        el = self.driver.find_element(By.CSS_SELECTOR, f"#{graph_id} .js-plotly-plot .nsewdrag")
        return el, self.js("var r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height];", el)

    def click_plot_at(self, graph_id: str, px: float, py: float) -> None:
        """Click at plot pixel (px, py) from the drag layer's top-left corner."""
        from selenium.webdriver.common.action_chains import ActionChains

        el, rect = self.plot_box(graph_id)
        ActionChains(self.driver).move_to_element_with_offset(el, int(px - rect[2] / 2), int(py - rect[3] / 2)).click().perform()

    def drag_box(self, graph_id: str, x0: float, y0: float, x1: float, y1: float) -> None:
        """Drag from (x0, y0) to (x1, y1), in fractions of the plot area (the current drag mode selects)."""
        from selenium.webdriver.common.action_chains import ActionChains

        el, (_, _, w, h) = self.plot_box(graph_id)
        start = (int((x0 - 0.5) * w), int((y0 - 0.5) * h))
        (ActionChains(self.driver).move_to_element_with_offset(el, *start).click_and_hold()
         .move_by_offset(int((x1 - x0) * w / 2), int((y1 - y0) * h / 2))
         .move_by_offset(int((x1 - x0) * w / 2), int((y1 - y0) * h / 2)).release().perform())

    def modebar_click(self, graph_id: str, title: str) -> None:
        """Click the graph's mode-bar button titled ``title`` (e.g. "Box Select")."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        plot = self.driver.find_element(By.CSS_SELECTOR, f"#{graph_id} .js-plotly-plot")
        ActionChains(self.driver).move_to_element(plot).perform()
        btn = self.wait(lambda: plot.find_element(By.CSS_SELECTOR, f".modebar-btn[data-title='{title}']"), what=title)
        btn.click()

    def severe_logs(self) -> list[dict[str, Any]]:
        return [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture(scope="session")
def browser(browser_paths: tuple[str, str]) -> Iterator[Browser]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chrome, chromedriver = browser_paths
    options = webdriver.ChromeOptions()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="aquaembed-chrome-")
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = chrome
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_request_leaves_the_host(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every browser test: every URL the page requested was on this machine."""
    yield
    if "browser" in request.fixturenames:
        outside = request.getfixturevalue("browser").outside_requests()
        assert outside == [], f"the page requested outside hosts: {outside[:5]}"


@pytest.fixture(scope="module")
def demo_copy_app(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    """A server over a private copy of the small demo, for tests that write to the dataset."""
    data = tmp_path_factory.mktemp("demo-copy") / "data"
    shutil.copytree(demo_dir, data)
    served = Served(data)
    yield served, data
    served.close()
