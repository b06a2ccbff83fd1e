"""The label-review queue in headless Chromium: filter, accept with the keyboard and the
buttons (with an edited class), reject, review from a second tab; then export-fixes, re-import
and re-evaluate: the metrics move the way the accepted fixes predict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from aquaembed.dashboard import ids
from aquaembed.evaluate import Evaluator
from aquaembed.io.coco import load_coco_gt, load_coco_results
from aquaembed.matching import CONFUSION, FP, MatchOptions

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]


def _item_key(browser) -> str:
    return browser.driver.find_element(By.CSS_SELECTOR, "[data-testid=review-item]").get_attribute("data-key")


def _counts(browser) -> str:
    return browser.driver.find_element(By.CSS_SELECTOR, "[data-testid=review-counts]").text


def _choose(browser, dropdown_id: str, text: str) -> None:
    """Open a dropdown, type into its search box and click the option that shows ``text``."""
    browser.driver.find_element(By.ID, dropdown_id).click()
    search = browser.wait(lambda: browser.driver.find_element(By.CSS_SELECTOR, ".dash-dropdown-search"), what="the search box")
    search.send_keys(text)
    option = browser.wait(lambda: next((o for o in browser.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")
                                        if text in o.text), None), what=f"the option {text!r}")
    option.click()
    browser.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)


def _wait_new_item(browser, old: str) -> str:
    return browser.wait(lambda: (k := _item_key(browser)) != old and k, what="the next issue")


def test_review_accept_export_reimport(browser, demo_copy_app) -> None:
    served, data = demo_copy_app
    browser.get(served.url + "?view=review")
    assert browser.wait(lambda: _item_key(browser), timeout=120, what="the first issue")
    assert "accepted 0" in _counts(browser)
    browser.wait(lambda: browser.js("return [...document.querySelectorAll('[data-testid=review-item] img')]"
                                    ".every(i => i.complete && i.naturalWidth > 0)"), what="the issue picture")
    browser.screenshot("review_queue.png")

    # missing labels only; accept the first with the keyboard
    _choose(browser, ids.REV_KIND, "missing")
    key_missing = browser.wait(lambda: (k := _item_key(browser)) and "missing_label" in k and k, what="a missing label")
    browser.driver.find_element(By.TAG_NAME, "body").click()
    browser.driver.find_element(By.TAG_NAME, "body").send_keys("a")
    browser.wait(lambda: "accepted 1" in _counts(browser), what="the accepted count")
    assert _wait_new_item(browser, key_missing)

    # wrong classes: accept the first as suggested with the button, reject the next with "r"
    _choose(browser, ids.REV_KIND, "wrong")
    key_wrong = browser.wait(lambda: (k := _item_key(browser)) and "wrong_class" in k and k, what="a wrong class")
    fix = browser.driver.find_element(By.CSS_SELECTOR, "[data-testid=review-fix]").text
    assert "relabel" in fix and "→" in fix
    browser.screenshot("review_wrong_class.png")
    _choose(browser, ids.REV_EDIT_CLASS, fix.split("→")[1].strip())  # accept as: the class named, chosen by hand
    browser.driver.find_element(By.ID, ids.REV_ACCEPT).click()
    browser.wait(lambda: "accepted 2" in _counts(browser), what="the second accept")
    key_rejected = _wait_new_item(browser, key_wrong)
    browser.driver.find_element(By.TAG_NAME, "body").send_keys("r")
    browser.wait(lambda: "reviewed 3" in _counts(browser), what="the reject")

    # a second tab reviews at the same time; no verdict of either tab is lost
    first_tab = browser.driver.current_window_handle
    browser.driver.switch_to.new_window("tab")
    browser.get(served.url + "?view=review")
    browser.wait(lambda: _item_key(browser), timeout=60, what="the queue in tab 2")
    _choose(browser, ids.REV_KIND, "missing")
    browser.wait(lambda: (k := _item_key(browser)) and "missing_label" in k and k != key_missing, what="tab 2's missing label")
    tab2_key = _item_key(browser)
    browser.driver.find_element(By.ID, ids.REV_ACCEPT).click()
    browser.wait(lambda: "accepted 3" in _counts(browser), what="tab 2's accept")
    browser.driver.close()
    browser.driver.switch_to.window(first_tab)
    browser.driver.refresh()
    browser.wait(lambda: "accepted 3" in _counts(browser) and "reviewed 4" in _counts(browser), timeout=60, what="all verdicts after reload")
    browser.driver.find_element(By.CSS_SELECTOR, f"#{ids.REV_STATUS} input[value=accept]").click()
    browser.wait(lambda: "3 in this queue" in _counts(browser), what="the accepted queue")
    browser.screenshot("review_accepted.png")
    assert browser.severe_logs() == []

    # export, re-import, re-evaluate
    from aquaembed.explore import Workspace

    report_issues = Workspace(data).get("demo").label_issue_records("detector")
    out = data.parent / "fixed.json"
    r = subprocess.run([sys.executable, "-m", "aquaembed", "export-fixes", "--data", str(data), "--name", "demo", "--model", "detector",
                        "--out", str(out), "--csv", str(data.parent / "items.csv")], check=False, capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    before = load_coco_gt(data / "_demo_build" / "gt.json")
    pred_file = data / "_demo_build" / "pred.json"
    fixed = load_coco_gt(out)
    inf = load_coco_results(pred_file, before)
    inf_fixed = load_coco_results(pred_file, fixed)
    opts = MatchOptions()
    t0 = Evaluator(before, inf).table(opts)
    # what the fixes predict: an added label turns its confident FP inference into a TP; a
    # relabel to the inference's class turns its confusion into a TP
    matched = t0.pred >= 0
    p_type = dict(zip(t0.pred[matched].tolist(), t0.type[matched].tolist()))
    p_label = dict(zip(t0.pred[matched].tolist(), t0.label[matched].tolist()))
    accepted = [k for k in (key_missing, key_wrong, tab2_key)]
    expected_tp = 0
    wrong_label_row = {int(i): r for r, i in enumerate(before.labels.id.tolist())}
    for k in accepted:
        _, kind, _, ident = k.split("|")
        issue = next(i for i in report_issues if i["kind"] == kind and (i["label_id"] if kind != "missing_label" else i["pred_index"]) == int(ident))
        p = issue["pred_index"]
        if kind == "missing_label":
            expected_tp += int(p_type.get(p) == FP and inf.score[p] >= opts.conf)
        elif p is not None and issue["suggested_class"] == before.classes.names[inf.cls[p]]:
            expected_tp += int(p_type.get(p) == CONFUSION and p_label.get(p) == wrong_label_row[int(ident)])
    o0 = Evaluator(before, inf).report(opts)["overall"]
    o1 = Evaluator(fixed, inf_fixed).report(opts)["overall"]
    assert len(fixed.labels) == len(before.labels) + 2  # two missing labels added, nothing dropped
    assert set(before.labels.id.tolist()) <= set(fixed.labels.id.tolist())  # ids stable
    assert expected_tp >= 1
    assert o1["tp"] - o0["tp"] == expected_tp
    assert o0["fp"] - o1["fp"] == expected_tp  # the same inferences are kept: each new TP was an FP
    assert key_rejected not in accepted
