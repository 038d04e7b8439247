"""The instructor's page in headless Chromium (Debian's chromium and chromedriver): a result a student posts
appears on the open page without a reload, measured; the page asks nothing of any other site and logs no
error; screenshots are saved (build/screenshots/)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from board_results import result
from browser import chromium, console_errors, requested_urls, wait_for

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture
def browser():
    with chromium(1400, 1000) as chrome:
        yield chrome


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_posted_result_appears_on_the_open_page_within_a_second_without_reload(board, browser):
    alice, bob = board.join("alice"), board.join("bob")
    requests.post(f"{board.url}/api/results", headers={"Authorization": f"Bearer {bob}"}, timeout=10,
                  json={"results": [result(check="dns", hint="use the full name", at=time.time() - 900, on_check=0)]})
    browser.get(f"{board.url}/login")
    browser.find_element("name", "password").send_keys("instructor-secret")
    browser.find_element("css selector", "button[type=submit]").click()
    wait_for(browser, "document.getElementById('live').textContent === 'live'")
    cell = "td[data-student='alice'][data-check='07/egress']"
    assert browser.execute_script(f"return document.querySelector(\"{cell}\").dataset.state") == "none"
    browser.execute_script("window.notReloaded = true")

    posted = time.monotonic()
    answer = requests.post(f"{board.url}/api/results", headers={"Authorization": f"Bearer {alice}"}, timeout=10,
                           json={"student": "alice", "results": [result(hint="egress has no rule for DNS (port 53)")]})
    assert answer.status_code == 200
    wait_for(browser, f"document.querySelector(\"{cell}\").dataset.state === 'fail'", timeout=10)
    latency = time.monotonic() - posted
    assert browser.execute_script("return window.notReloaded") is True  # the same page: updated in place
    print(f"\na result posted appeared on the open page after {latency * 1000:.0f} ms")
    stuck = browser.find_element("css selector", "#stuck tbody").text
    assert "bob 07 dns" in stuck and "15 min" in stuck and "alice 07 egress" in stuck
    assert "egress has no rule for DNS (port 53)" in browser.find_element("id", "hints").text

    # One lab at a time: the grid keeps that lab's columns only, and keeps updating.
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "lab-filter")).select_by_value("07")
    labs_shown = browser.execute_script("return [...document.querySelectorAll('#grid th.lab')].map(t => t.textContent)")
    assert labs_shown == ["07"]
    assert browser.execute_script(f"return document.querySelector(\"{cell}\").dataset.state") == "fail"

    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "board-desktop.png"))
    browser.set_window_size(420, 900)
    browser.save_screenshot(str(SHOTS / "board-phone.png"))
    assert not console_errors(browser)
    outside = {u for u in requested_urls(browser) if not u.startswith((board.url, "data:"))}
    assert not outside, f"the page asked other sites: {outside}"

