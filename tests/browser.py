"""Headless Chromium for the tests that look at pages as a reader does (Debian's chromium and its driver:
.ci/run installs them), with the browser's console and every request it makes kept for the test to read."""
from __future__ import annotations

import contextlib
import json
import shutil
import time


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "Chromium and its driver are missing: apt-get install chromium chromium-driver (.ci/run does)"
    options = Options()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield browser
    finally:
        browser.quit()


def requested_urls(browser) -> set[str]:
    """Every URL the page asked for since the last call (the performance log is read once)."""
    urls = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    return urls


def console_errors(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def wait_for(browser, condition: str, timeout: float = 15) -> None:
    """Until a JavaScript expression is true in the page."""
    deadline = time.monotonic() + timeout
    while not browser.execute_script(f"try {{ return {condition}; }} catch (e) {{ return false; }}"):
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never reached: {condition}")
        time.sleep(0.02)
