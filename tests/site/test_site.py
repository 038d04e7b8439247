"""The built site (`make site`) as a reader meets it, in headless Chromium: every page loads with no console
error and asks nothing of another site; every diagram is drawn; search finds what a reader looks for; a
solution and an interview answer open on a click; every internal link leads somewhere. Desktop and phone
screenshots of each page are saved under build/screenshots/site/."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from bs4 import BeautifulSoup

from browser import chromium, console_errors, requested_urls, wait_for

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "site"
SHOTS = REPO / "build" / "screenshots" / "site"
PAGES = sorted(p.relative_to(SITE).parent.as_posix() for p in SITE.rglob("index.html")
               if "404" not in p.parts) if SITE.exists() else []


@pytest.fixture(scope="module")
def site_url():
    assert PAGES, "no built site: run `make site` first (make test does, before these tests)"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with chromium() as chrome:
        yield chrome


def _url(base: str, page: str) -> str:
    return f"{base}/{'' if page == '.' else page + '/'}"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads_draws_its_diagrams_and_stays_on_the_site(site_url, browser, page):
    requested_urls(browser), console_errors(browser)  # start from this page's own logs
    browser.set_window_size(1280, 900)
    browser.get(_url(site_url, page))
    wait_for(browser, "document.readyState === 'complete'")
    sources = [pre.get_text() for pre in BeautifulSoup((SITE / page / "index.html").read_text(), "html.parser")
               .select("pre.mermaid")]
    if sources:
        # Material draws each pre.mermaid into a div (a closed shadow root holds the SVG): all of them replaced,
        # each with a drawing's height; and each source rendered to an SVG by the site's own mermaid.
        wait_for(browser, f"document.querySelectorAll('pre.mermaid').length === 0 && document.querySelectorAll("
                          f"'div.mermaid').length === {len(sources)} && [...document.querySelectorAll('div.mermaid')]"
                          ".every(d => d.getBoundingClientRect().height > 0)", timeout=30)
        rendered = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "Promise.all(arguments[0].map((src, i) => mermaid.render('check' + i, src).then(r => r.svg.slice(0, 4),"
            " e => 'error: ' + e.message))).then(done);", sources)
        assert rendered == ["<svg"] * len(sources), f"diagrams on {page} that do not render: {rendered}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = "home" if page == "." else page.replace("/", "_")
    browser.save_screenshot(str(SHOTS / f"{name}-desktop.png"))
    browser.set_window_size(390, 844)
    browser.save_screenshot(str(SHOTS / f"{name}-phone.png"))
    assert not console_errors(browser), f"console errors on {page}"
    outside = {u for u in requested_urls(browser) if not u.startswith((site_url, "data:", "blob:"))}
    assert not outside, f"{page} asked other sites for {sorted(outside)}"


@pytest.mark.parametrize("query,expected", [("NetworkPolicy", "Container networking"),
                                            ("multi-stage", "Docker fundamentals")])
def test_search_finds_what_a_reader_looks_for(site_url, browser, query, expected):
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 900)
    browser.get(site_url + "/")
    wait_for(browser, "document.readyState === 'complete'")
    browser.find_element(By.CSS_SELECTOR, "label.md-search__icon, .md-search__input").click()
    box = browser.find_element(By.CSS_SELECTOR, "input.md-search__input")
    box.send_keys(query)
    wait_for(browser, "document.querySelectorAll('.md-search-result__item').length > 0", timeout=20)
    found = browser.find_element(By.CSS_SELECTOR, ".md-search-result__list").text
    assert expected in found, found[:500]


def test_a_solution_and_an_interview_answer_open_on_a_click(site_url, browser):
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 900)
    browser.get(_url(site_url, "labs/07-container-networking"))
    solution = browser.find_element(By.CSS_SELECTOR, "details.solution")
    assert solution.get_attribute("open") is None and not solution.find_element(By.CSS_SELECTOR, ".jp-InputArea").is_displayed()
    solution.find_element(By.TAG_NAME, "summary").click()
    assert solution.get_attribute("open") is not None
    assert "END SOLUTION" in solution.text
    browser.get(_url(site_url, "interview"))
    answer = browser.find_element(By.CSS_SELECTOR, "details.question")
    assert not answer.find_element(By.CSS_SELECTOR, "p").is_displayed()
    answer.find_element(By.TAG_NAME, "summary").click()
    assert answer.find_element(By.CSS_SELECTOR, "p").is_displayed()


def test_every_internal_link_resolves():
    assert PAGES
    broken = []
    ids: dict[Path, set[str]] = {}

    def anchors(path: Path) -> set[str]:
        if path not in ids:
            ids[path] = {t["id"] for t in BeautifulSoup(path.read_text(), "html.parser").select("[id]")}
        return ids[path]

    for page in PAGES:
        here = SITE / page / "index.html"
        for a in BeautifulSoup(here.read_text(), "html.parser").select("a[href]"):
            href = a["href"]
            if href.startswith(("http:", "https:", "mailto:", "javascript:")):
                continue
            target = urlsplit(urljoin(f"/{'' if page == '.' else page + '/'}", href))
            path = SITE / unquote(target.path).lstrip("/")
            if path.is_dir() or target.path.endswith("/"):
                path = path / "index.html"
            if not path.exists():
                broken.append(f"{page}: {href}")
            elif target.fragment and path.suffix == ".html" and unquote(target.fragment) not in anchors(path):
                broken.append(f"{page}: {href} (no such anchor)")
    assert not broken, f"{len(broken)} broken links: {broken[:20]}"
