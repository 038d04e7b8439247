"""JupyterLab as a learner meets it after `make lab`, in headless Chromium: started the way the Makefile starts
it (this environment's settings: no news prompt), on a workspace of learner notebooks, lab 01 opened from the
file browser, its diagram drawn, its set-up and first check cell run through JupyterLab's own commands, and the
check's card shown as a learner sees it: NOT YET, with its hint. Then a cluster lab (06, solved) as far as its
first Deployment: the wait's progress bar while the pods start, and the plot of its ReplicaSets.
Screenshots in build/screenshots/jupyterlab/."""
from __future__ import annotations

import os
import subprocess
import sys
import time
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
    solved = labs.get("06")  # the solved notebook, as an instructor opens it
    (workspace / f"solved-{solved.notebook}").write_bytes(notebooks.source_path(solved).read_bytes())
    notebooks.write_jupyterlab_settings()  # what `make setup` writes (`labkit learner`)
    port = free_port()
    # A learner's JupyterLab: not headless, whatever the CI around this test says (CI=true means headless).
    env = {**{k: v for k, v in os.environ.items() if k != "CI"},
           "LABKIT_WORKSPACE": str(workspace), "LABKIT_HEADLESS": "0"}
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
    cleanup.remove("06")


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
            _run(browser, index, timeout=120)
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


def _run(browser, index: int, timeout: float = 300, while_running=None) -> None:
    """Run one cell through JupyterLab's own command, as Shift+Enter does, and wait until it has finished;
    `while_running` is called with the browser every 0.2 s meanwhile."""
    run = ("const panel = window.jupyterapp.shell.currentWidget;"
           f"panel.content.activeCellIndex = {index};"
           "window.jupyterapp.commands.execute('notebook:run-cell');")
    cell = f"window.jupyterapp.shell.currentWidget.content.widgets[{index}]"
    started = f"({cell}.model.executionCount !== null || {cell}.node.querySelector('.jp-InputPrompt').textContent.includes('*'))"
    done = (f"({cell}.model.executionCount !== null && "
            f"!{cell}.node.querySelector('.jp-InputPrompt').textContent.includes('*'))")
    browser.execute_script(run)
    deadline, asked = time.monotonic() + timeout, time.monotonic()
    while not browser.execute_script(f"return {done}"):
        # A notebook still settling after it opened can move the active cell back: ask again, only while the
        # cell has not started (never runs it twice).
        if time.monotonic() - asked > 3 and not browser.execute_script(f"return {started}"):
            browser.execute_script(run)
            asked = time.monotonic()
        if time.monotonic() > deadline:
            SHOTS.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(SHOTS / f"stuck-cell-{index}.png"))
            raise AssertionError(f"cell {index} still running after {timeout} s (build/screenshots/jupyterlab/)")
        if while_running:
            while_running(browser)
        time.sleep(0.2)


def test_a_cluster_lab_in_jupyterlab_shows_a_progress_bar_while_it_waits_and_a_plot(jupyterlab):
    url, workspace = jupyterlab
    labkit = str(Path(sys.executable).parent / "labkit")
    up = subprocess.run([labkit, "cluster", "up"], capture_output=True, text=True)
    if up.returncode != 0:  # under make test this runs after the Docker restart test: the learner's one command
        up = subprocess.run([labkit, "cluster", "repair"], capture_output=True, text=True)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    from labkit import cleanup

    cleanup.remove("06")  # a run cut short leaves its Deployment ready: the wait would end before a bar shows
    lab = labs.get("06")
    nb = notebooks.nbformat.read(notebooks.source_path(lab), as_version=4)
    cells = {name: next(i for i, c in enumerate(nb.cells) if text in c.source) for name, text in (
        ("start", 'labkit.start("06")'), ("prepare", "lab06.prepare(lab)"), ("secret", "create secret generic api-secret"),
        ("config", "create configmap api-config"), ("manifest", "%%writefile deployment.yaml"),
        ("apply", "kubectl -n $NS apply -f deployment.yaml\nlabkit wait deployment/api"))}
    bars: list[str] = []

    def progress(browser) -> None:
        text = browser.execute_script("return window.jupyterapp.shell.currentWidget.content.widgets"
                                      f"[{cells['apply']}].node.querySelector('.jp-OutputArea').innerText")
        if "waiting for deployment api" in text and not bars:
            bars.append(text)
            browser.execute_script("window.jupyterapp.shell.currentWidget.content.widgets"
                                   f"[{cells['apply']}].node.scrollIntoView()")
            browser.save_screenshot(str(SHOTS / "lab06-progress.png"))

    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium(1400, 1000) as browser:
        browser.get(f"{url}/lab/tree/solved-{lab.notebook}?token={TOKEN}")
        wait_for(browser, "window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                          "window.jupyterapp.shell.currentWidget.content && "
                          "window.jupyterapp.shell.currentWidget.content.widgets.length > 20", timeout=90)
        wait_for(browser, "window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status === 'idle'",
                 timeout=90)
        _run(browser, cells["start"], timeout=60)
        for name in ("prepare", "secret", "config", "manifest"):
            _run(browser, cells[name])
        _run(browser, cells["apply"], while_running=progress)
        assert bars, "no progress bar was shown while the Deployment's pods started"
        # The plot of the Deployment's ReplicaSets, in a cell of its own at the end.
        browser.execute_script(
            "const panel = window.jupyterapp.shell.currentWidget; const nb = panel.content;"
            "nb.activeCellIndex = nb.widgets.length - 1;"
            "window.jupyterapp.commands.execute('notebook:insert-cell-below');"
            "nb.activeCell.model.sharedModel.setSource('lab06.plot_rollouts(lab)');")
        last = browser.execute_script("return window.jupyterapp.shell.currentWidget.content.widgets.length - 1")
        _run(browser, last, timeout=60)
        image = browser.execute_script("const c = window.jupyterapp.shell.currentWidget.content.widgets"
                                       f"[{last}]; c.node.scrollIntoView();"
                                       "const img = c.node.querySelector('.jp-OutputArea img');"
                                       "return img ? [img.naturalWidth, img.naturalHeight] : null;")
        browser.save_screenshot(str(SHOTS / "lab06-plot.png"))
        assert image and image[0] > 300 and image[1] > 150, f"no plot drawn: {image}"
