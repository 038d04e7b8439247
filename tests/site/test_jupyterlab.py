"""JupyterLab as a learner meets it after `make lab`, in headless Chromium: started the way the Makefile starts
it (this environment's settings: no news prompt), on a workspace of learner notebooks, lab 01 opened from the
file browser, its diagram drawn, its set-up and first check cell run through JupyterLab's own commands, and the
check's card shown as a learner sees it: NOT YET, with its hint. Screenshots in build/screenshots/jupyterlab/."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from browser import chromium, console_errors, wait_for
from servers import free_port, wait_until_answers
from labkit import labs, notebooks

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "build" / "screenshots" / "jupyterlab"
TOKEN = "course-test-token"


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    from labkit import cleanup

    cleanup.remove("01")  # a learner who has not started: no lab 01 container (make test runs this after the labs)
    workspace = tmp_path_factory.mktemp("learner-workspace")
    for lab in labs.LABS.values():
        notebooks.write_learner(lab, dest=workspace / lab.notebook)
    notebooks.write_jupyterlab_settings()  # what `make setup` writes (`labkit learner`)
    port = free_port()
    env = {**os.environ, "LABKIT_WORKSPACE": str(workspace), "LABKIT_HEADLESS": "0"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", f"--port={port}",
                               "--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--notebook-dir={workspace}",
                               "--LabApp.expose_app_in_browser=True", "--ServerApp.allow_root=True"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    wait_until_answers(f"{url}/api/status?token={TOKEN}", server, "JupyterLab", timeout=90)
    yield url, workspace
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
    cleanup.remove("01")


def test_lab_01_in_jupyterlab_shows_its_diagram_and_a_failing_check_card_with_its_hint(jupyterlab):
    url, workspace = jupyterlab
    lab = labs.get("01")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium(1400, 1000) as browser:
        browser.get(f"{url}/lab?token={TOKEN}")
        wait_for(browser, "window.jupyterapp && window.jupyterapp.shell && "
                          "document.querySelector('.jp-DirListing-content') !== null", timeout=60)
        wait_for(browser, f"[...document.querySelectorAll('.jp-DirListing-itemText')].some(e => e.textContent === "
                          f"'{lab.notebook}')", timeout=30)
        names = browser.execute_script("return [...document.querySelectorAll('.jp-DirListing-itemText')]"
                                       ".map(e => e.textContent)")
        assert names[0] == lab.notebook, f"the first lab is not the first thing in the file browser: {names[:3]}"
        # No news prompt (settings written by `make setup`).
        assert not browser.execute_script("return [...document.querySelectorAll('.jp-Notification-Toast, .Toastify__toast')]"
                                          ".some(t => /news/i.test(t.textContent))")
        browser.save_screenshot(str(SHOTS / "launcher.png"))

        browser.execute_script(f"window.jupyterapp.commands.execute('docmanager:open', {{path: '{lab.notebook}'}})")
        wait_for(browser, "document.querySelector('.jp-NotebookPanel .jp-Notebook .jp-Cell') !== null "
                          "&& window.jupyterapp.shell.currentWidget.sessionContext.session !== null", timeout=60)
        # The diagram of the lab's first markdown section, drawn by JupyterLab's own mermaid.
        wait_for(browser, "document.querySelector('.jp-Notebook .jp-RenderedMermaid svg, "
                          ".jp-Notebook .jp-RenderedMermaid img') !== null", timeout=30)
        setup = _index(lab, 'labkit.start("01")')
        check = _index(lab, 'lab.check("kernel")')
        for index in (setup, check):
            browser.execute_script("const panel = window.jupyterapp.shell.currentWidget;"
                                   f"panel.content.activeCellIndex = {index};"
                                   "window.jupyterapp.commands.execute('notebook:run-cell');")
            wait_for(browser, "(() => { const c = window.jupyterapp.shell.currentWidget.content.widgets"
                              f"[{index}]; return c.model.executionCount !== null && "
                              "c.node.querySelector('.jp-InputPrompt').textContent.indexOf('*') < 0; })()", timeout=120)
        card = browser.execute_script("return window.jupyterapp.shell.currentWidget.content.widgets"
                                      f"[{check}].node.querySelector('.jp-OutputArea').innerText")
        browser.execute_script("window.jupyterapp.shell.currentWidget.content.widgets"
                               f"[{check}].node.scrollIntoView()")
        browser.save_screenshot(str(SHOTS / "lab01-check.png"))
        assert "NOT YET" in card and "lab01-kernel" in card and "How to fix" in card, card
        assert "Traceback" not in card
        assert not [e for e in console_errors(browser) if "favicon" not in e]


def _index(lab, text: str) -> int:
    """A cell's position in the learner's notebook."""
    nb = notebooks.learner_version(notebooks.nbformat.read(notebooks.source_path(lab), as_version=4))
    return next(i for i, c in enumerate(nb.cells) if text in c.source)
