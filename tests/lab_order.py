"""How `make test` runs the labs, as a pytest plugin (registered by conftest.py).

Each lab runs in these phases, one lab after another (in the course's order, but labs that wait for
an add-on built after the node image last):
1. the unsolved learner version (tests/labs/test_learner_versions.py): every check fails with a hint;
2. the solved notebook without its cleanup cells, leaving its state behind (tests/labs/test_rerun.py),
   with its answer variants run before each exercise (tests/answer_variants.py);
3. each answer variant's verdict, one test per variant (tests/labs/test_answer_variants.py);
4. the whole solved notebook again, cell by cell, by nbval (labs/*.ipynb) over that state: the
   second run of "twice in a row" and the solved run at once, so no lab is executed a third time;
5. nothing labelled is left after its cleanup cells (tests/labs/test_rerun.py).
The cluster's own tests (tests/cluster: context safety, smoke, faults) come after every lab, in file
order, but files with tests marked `addons(...)` last, in the add-ons' build order, and within such a
file its tests in that order too: on a new machine the add-ons are still being built. A plugin and not a conftest
hook because nbval's cells live outside tests/, where conftest hooks do not reach.

The course cluster is created in the background as soon as the session knows it runs a cluster
lab or test, while the Docker labs run; the first test that needs it waits for it. (`make test-labs`
creates it once for all its units instead, and says so: LABKIT_TEST_CLUSTER=ready.) `--labs=05,06`
keeps only those labs' tests (`none`: the tests that run no lab; `cluster`: the cluster's tests but
those that need metrics-server; `cluster-metrics`: those, selection()): `make test-labs` runs one such
session per unit of work, several at once (tests/run_labs.py).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import answer_variants
from labkit import cluster, cluster_parts, config, labs

LEARNER_KUBECONFIG = config.workspace_root() / "learner-kubeconfig"
LEARNER_KUBECONFIG_TEXT = """apiVersion: v1
kind: Config
clusters:
- {name: work, cluster: {server: "https://127.0.0.1:1"}}
users:
- {name: me, user: {token: not-a-real-token}}
contexts:
- {name: work, context: {cluster: work, user: me}}
current-context: work
"""

PHASES = {"test_learner_version_fails_every_check_with_a_hint": 1, "test_first_run_keeps_its_state": 2,
          "test_answer_variant": 3, "nbval": 4, "test_solved_run_left_nothing_behind": 5}


def phase_of(item) -> int | None:
    return PHASES["nbval"] if str(item.fspath).endswith(".ipynb") else PHASES.get(getattr(item, "originalname", ""))


CLUSTER_TESTS = Path(__file__).resolve().parent / "cluster"
# Set to "ready" by tests/run_labs.py once it has made the course cluster for every unit it runs.
CLUSTER_MADE = "LABKIT_TEST_CLUSTER"


def start_cluster_up(log: Path) -> subprocess.Popen:
    """`labkit cluster up` in the background, its output in `log`, with a learner's own kubeconfig
    pointing at another cluster: creating the course cluster must leave it as it was
    (tests/cluster/test_context_safety.py reads it afterwards)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if not LEARNER_KUBECONFIG.exists() or LEARNER_KUBECONFIG.read_text() != LEARNER_KUBECONFIG_TEXT:
        cluster.write_kubeconfig(LEARNER_KUBECONFIG, LEARNER_KUBECONFIG_TEXT)
    env = {**os.environ, "KUBECONFIG": str(LEARNER_KUBECONFIG)}
    with log.open("w") as out:  # the child keeps its own handle
        return subprocess.Popen([sys.executable, "-m", "labkit.cli", "cluster", "up"], stdout=out,
                                stderr=subprocess.STDOUT, env=env)


def is_cluster_test(item) -> bool:
    return Path(str(item.fspath)).parent == CLUSTER_TESTS


# The add-on built last on a new machine (cluster_parts.ADDONS): the cluster's tests that need it are a
# selection of their own, so that tests/run_labs.py runs them as a unit of their own and the cluster's
# other tests do not hold a worker while it compiles (819 s on a slow machine).
LAST_ADDON = "metrics-server"


def selection(item) -> str:
    """What --labs calls a test that runs no lab: `cluster-metrics` (a cluster test marked
    `addons(LAST_ADDON)`), `cluster` (the cluster's other tests) or `none`."""
    if not is_cluster_test(item):
        return "none"
    needs = {a for mark in item.iter_markers("addons") for a in mark.args}
    return "cluster-metrics" if LAST_ADDON in needs else "cluster"


def lab_of(item) -> labs.LabInfo | None:
    """The lab an item runs (one of the phases above), or None (unit tests, even lab-parametrized)."""
    if phase_of(item) is None:
        return None
    callspec = getattr(item, "callspec", None)
    if callspec and isinstance(callspec.params.get("lab"), labs.LabInfo):
        return callspec.params["lab"]
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb" and path.parent == config.LABS_DIR:
        return next((lab for lab in labs.LABS.values() if lab.notebook == path.name), None)
    return None


class LabOrder:
    def __init__(self, only: str | None = None):
        """only: the --labs option, the ids of the labs this session runs (None: every lab)."""
        self.only = None if only is None else {i.strip() for i in only.split(",") if i.strip()}
        self.cluster_up: subprocess.Popen | None = None
        # One log per session: parallel sessions (tests/run_labs.py) each ask for the cluster.
        self.log = config.workspace_root() / ("cluster-up.log" if only is None else f"cluster-up-{'-'.join(sorted(self.only))}.log")
        self.nbval_labs: set[str] = set()
        self.cluster_tests: set[str] = set()  # node ids of the tests in tests/cluster
        self.makes_cluster = False
        self.runs: dict[str, tuple[labs.LabInfo, int]] = {}  # item -> the lab it runs, and its phase
        self.started = 0.0
        self.waited: float | None = None
        self.seconds: dict[tuple[str, int], float] = {}  # (lab, phase) -> seconds, for the summary

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        if self.only is not None:
            def chosen(item):
                lab = lab_of(item)
                return lab.id in self.only if lab else selection(item) in self.only
            config.hook.pytest_deselected(items=[item for item in items if not chosen(item)])
            items[:] = [item for item in items if chosen(item)]
        self.runs = {item.nodeid: (lab_of(item), phase_of(item)) for item in items if lab_of(item)}
        order, built = list(labs.LABS), list(cluster_parts.ADDONS)
        position = {item.nodeid: i for i, item in enumerate(items)}

        # A file of the cluster's tests that needs an add-on goes after those that need none, in the
        # add-ons' build order; a whole file at a time, so its module fixtures are set up once. Within
        # the file too: on a new machine the test of the last add-on built (metrics-server) then waits
        # alone at the end instead of holding back the tests after it.
        needs = {item.nodeid: max([0, *(built.index(a) + 1 for mark in item.iter_markers("addons") for a in mark.args)])
                 for item in items if is_cluster_test(item)}
        waits: dict[str, int] = {}
        for item in items:
            if is_cluster_test(item):
                waits[str(item.fspath)] = max(waits.get(str(item.fspath), 0), needs[item.nodeid])

        def key(item):  # items that run no lab first, then lab by lab, phase by phase, then the cluster's tests
            lab, phase = self.runs.get(item.nodeid, (None, 0))
            if is_cluster_test(item):
                return ((len(built) + 1, waits[str(item.fspath)]), needs[item.nodeid], position[item.nodeid])
            # A lab that waits for an add-on goes after the labs that need none, and in the order the
            # add-ons are built (cluster_parts.ADDONS): on a new machine they are still being built when
            # the cluster is ready (labkit/provision/node_image.py).
            rank = (max((built.index(a) + 1 for a in lab.addons), default=0), order.index(lab.id) + 1) if lab else (0, 0)
            return (rank, phase, position[item.nodeid])

        items.sort(key=key)
        self.nbval_labs = {lab.id for lab, phase in self.runs.values() if phase == PHASES["nbval"]}
        self.cluster_tests = {item.nodeid for item in items if is_cluster_test(item)}
        # The tests marked `last` run after a session that made the cluster (run_labs.py): they need not ask
        # for it again (a reused cluster's `cluster up` still reloads every add-on, ~30 s).
        self.makes_cluster = any(lab.cluster for lab, _ in self.runs.values()) or any(
            is_cluster_test(item) and not item.get_closest_marker("last") for item in items)

    def pytest_collection_finish(self, session):
        if session.config.option.collectonly or self.cluster_up is not None:
            return
        if self.makes_cluster and os.environ.get(CLUSTER_MADE) != "ready":
            self.cluster_up = start_cluster_up(self.log)
            self.started = time.monotonic()

    def pytest_runtest_setup(self, item):
        lab, _ = self.runs.get(item.nodeid, (None, 0))
        needs_cluster = (lab and lab.cluster) or item.nodeid in self.cluster_tests
        if not (needs_cluster and self.cluster_up is not None):
            return
        if self.waited is None:
            began = time.monotonic()
            self.cluster_up.wait()
            self.waited = time.monotonic() - began
            print(f"\ncourse cluster: `labkit cluster up` exited {self.cluster_up.returncode} after "
                  f"{time.monotonic() - self.started:.0f} s, of which the tests waited {self.waited:.0f} s; log: {self.log}")
        if self.cluster_up.returncode != 0:
            pytest.fail(f"`labkit cluster up` failed (exit {self.cluster_up.returncode}); the end of its log:\n"
                        + "\n".join(self.log.read_text().splitlines()[-25:]), pytrace=False)

    def pytest_runtest_logreport(self, report):
        if report.nodeid in self.runs:
            lab, phase = self.runs[report.nodeid]
            self.seconds[lab.id, phase] = self.seconds.get((lab.id, phase), 0.0) + report.duration

    def pytest_terminal_summary(self, terminalreporter):
        if not self.seconds:
            return
        names = {phase: name for name, phase in PHASES.items()}
        terminalreporter.write_sep("=", "seconds per lab and phase")
        for lab_id in labs.LABS:
            row = {names[p]: s for (lid, p), s in self.seconds.items() if lid == lab_id}
            if row:
                terminalreporter.write_line(f"lab {lab_id}: {sum(row.values()):6.0f} s  (" + ", ".join(
                    f"{name.removeprefix('test_')} {secs:.0f} s" for name, secs in row.items()) + ")")
        if self.waited is not None:
            terminalreporter.write_line(f"waited for the course cluster: {self.waited:.0f} s")
        for line in answer_variants.summary():
            terminalreporter.write_line(line)

    def pytest_sessionfinish(self):
        if self.cluster_up is not None and self.cluster_up.poll() is None:
            self.cluster_up.wait()  # never leave a half-created cluster behind a short session
