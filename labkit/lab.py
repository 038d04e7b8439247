"""The object a notebook works with: `lab = labkit.start("02")`."""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from labkit import board_client, checks, cleanup, config, daemon, errors, journal, labs, ownership, render, shell, wheels


class Lab:
    def __init__(self, info: labs.LabInfo):
        self.info = info
        self.id = info.id
        self.labels = ownership.labels(info.id)
        self.workdir = config.workspace_root() / info.slug
        self._checks: checks.Checks = info.module().checks
        self._kube = None

    # --- environment -------------------------------------------------------------------------
    def shell_env(self) -> dict[str, str]:
        # The environment's bin first, so tools installed with the toolkit (hadolint, kind...) are found
        # even when JupyterLab was started without activating the virtualenv.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env = {"LAB": self.id, "LAB_LABELS": ownership.label_flags(self.id), "LAB_DIR": str(self.workdir), "PATH": path,
               "COMPOSE_PROJECT_NAME": ownership.compose_project(self.id)}
        if self.info.cluster:
            from labkit import cluster, kube

            # kubectl in the lab's cells sees one context only: the course cluster, never the learner's others.
            env.update(KUBECONFIG=str(cluster.kubeconfig()), NS=kube.namespace_of(self.id))
        return env

    @property
    def kube(self):
        """Typed Kubernetes API clients bound to the course cluster (cluster labs only)."""
        from labkit import kube

        if self._kube is None:
            self._kube = kube.Kube(self.id)
        return self._kube

    def prepare_workdir(self) -> None:
        """Fresh copies of the sample apps the lab builds, refreshed on every start (learner files kept)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for entry in self.info.apps:
            app, _, sub = entry.partition(":")
            src = config.APPS / app
            dst = (self.workdir / (sub or app)).resolve()
            wheels.ensure(src)
            shutil.copytree(src, dst, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *self.info.learner_writes))

    # --- checks ------------------------------------------------------------------------------
    def check(self, name: str) -> None:
        """Show one check's verdict. Returns nothing: a returned result would be shown a second time
        as the cell's value (its card), so a learner would read every verdict twice."""
        result = self._checks.run(name, self)
        # The learner's journal, and their class board if they joined one: never slows or breaks the check.
        if journal.record(self.id, name, result.ok, result.message, result.hint):
            board_client.send_soon()
        checks.report(result)

    def result(self, name: str) -> checks.Result:
        """One check's verdict, evaluated and not shown (tests, the answer-variant harness)."""
        return self._checks.run(name, self)

    def check_names(self) -> list[str]:
        return self._checks.names()

    def check_all(self, raise_on_fail: bool = False) -> list[checks.Result]:
        return [checks.report(self._checks.run(n, self), raise_on_fail) for n in self._checks.names()]

    # --- cleanup -----------------------------------------------------------------------------
    def cleanup(self) -> cleanup.Removed:
        removed = cleanup.remove(self.id)
        render.show_card(f"Lab {self.id} cleaned up", str(removed), ok=True)
        return removed


_not_started: errors.LabNotStarted | None = None


def start(lab_id: str) -> Lab:
    """Preflight, working folder, %%shell magic. Call once at the top of a lab, as `lab = labkit.start("NN")`."""
    global _not_started
    if not config.headless():
        errors.install_handler()
    info = labs.get(lab_id)
    try:
        lab = _start(info)
    except errors.LabError as err:
        # Every later cell would fail raw (NameError: lab; Cell magic %%shell not found; files
        # written to a folder that was never made): make each of them say why instead.
        fix = re.sub(r",? then rerun this cell\.?$", "", err.fix.strip()) or "fix that"
        _not_started = errors.LabNotStarted(
            f"The lab did not start: {err.problem}",
            f"{fix}, then rerun the lab's first cell (`lab = labkit.start(\"{info.id}\")`).")
        _refuse_later_cells(True)
        raise
    _not_started = None
    _refuse_later_cells(False)
    return lab


def raise_not_started() -> None:
    if _not_started is not None:
        raise _not_started


def _refuse_cells(lines: list[str]) -> list[str]:
    """An IPython input transformer: a cell other than the start cell becomes raise_not_started().
    It runs before magics are parsed, so %%shell and %%writefile cells are covered too."""
    if _not_started is None or "labkit.start(" in "".join(lines):
        return lines
    return ["import labkit.lab\n", "labkit.lab.raise_not_started()\n"]


def _refuse_later_cells(on: bool) -> None:
    ip = render.ipython()
    if ip is None:
        return
    transformers = ip.input_transformers_cleanup
    if on and _refuse_cells not in transformers:
        transformers.append(_refuse_cells)
    elif not on and _refuse_cells in transformers:
        transformers.remove(_refuse_cells)


def _start(info: labs.LabInfo) -> Lab:
    lab = Lab(info)
    server = daemon.server_info()  # raises DaemonUnavailable with a fix when Docker is not running
    where = ""
    if lab.info.cluster:
        from labkit import cluster

        cluster.kubeconfig(refresh=True)  # raises ClusterMissing with a fix when there is no cluster
        where = f"; cluster context {cluster.chosen_context()}, namespace {errors.friendly(lab.kube.ensure_namespace)()}"
    lab.prepare_workdir()
    os.chdir(lab.workdir)
    os.environ.update(lab.shell_env())  # for `!docker ...` lines too
    # After every %%shell cell: note the anonymous volumes of the lab's containers (cleanup.py says why).
    shell.register_magic(lab.shell_env(), after=lambda: cleanup.remember_anonymous_volumes(lab.id))
    if (ip := render.ipython()) is not None:  # and the untagged images its builds leave (cleanup.BuildWatch)
        cleanup.watch_builds(lab.id, ip)
    render.show_card(
        f"Lab {lab.id}: {lab.info.title}",
        f"Docker {server.get('ServerVersion', '?')} on {server.get('OperatingSystem', '?')} "
        f"(kernel {server.get('KernelVersion', '?')}, cgroup v{server.get('CgroupVersion', '?')}); "
        f"working in {lab.workdir}{where}",
    )
    return lab
