"""`make test-labs`: the lab tests and the cluster's tests as units of work (one pytest process each),
run by --sessions workers at once (2 by default), every output line prefixed with its unit's name.

A lab spends most of its time waiting (for a container, a rollout, a probe's answer), not computing,
so labs that share nothing run side by side. The units (plan()):
* `alone` first, by itself: the tests that clean up the whole course;
* one unit per lab; `none`, the tests that run no lab (every lab with no daemon); `cluster`, the
  cluster's own tests (context safety aside) but its metrics-server test, which is `metrics`, a unit
  of its own (metrics-server is the add-on built last: the others need not wait for it); `disrupts`,
  the cluster tests that stop part of it (the API server) or rewrite the labs' kubeconfig, after every
  other cluster unit: beside it may run Docker labs, never a cluster unit;
* `last`, by itself: a Docker restart.
A free worker starts the first unit (pick()) that can run beside those running: the Docker labs one at a
time (they share the daemon's build cache, and the untagged images a lab's cells leave are told apart
by when they appear, cleanup.BuildWatch: a warm run with two at once left two behind), labs that
publish the same host port (LabInfo.host_ports) never at once, and a unit that needs the course
cluster only once it is up. The cluster is created once, here, in the background, while the Docker
labs run (on a new machine `labkit cluster up` waits for the node image being built); the units get
LABKIT_TEST_CLUSTER=ready and do not ask for it again. Of the units that fit, those whose add-ons are
built start (cluster_addons.can_work_now: on a new machine the add-ons are built one after another once
the node image exists), those of the chain with more work left first (chain()): the Docker labs, which
run one after another, or the cluster units with `disrupts` after them; within a chain, longest first.
A unit whose add-ons are still being built does not start while another unit runs: waiting, it would
hold a worker that the next unit able to start would lack. When nothing runs and nothing else can start,
it does, and waits inside (cluster_addons.ensure): the one whose add-ons are built soonest. On a new
machine the cluster's chain is the longer once it is up; on a warm one the Docker labs' often is
(LABS=01,...,05: lab 03 waited 89 s for the cluster's tests). Measured in docs/instructors.md.
Each unit orders its tests as lab_order.py says. Arguments after the options go to every pytest, e.g.
`python tests/run_labs.py --only 01,02 -x`.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from labkit import cluster_parts, config, labs

ROOT = Path(__file__).resolve().parents[1]
# Seconds each unit took in the last measured warm `make test` (.ci/run of 2ad5f61, 2026-12-06, two at
# once): the order among units that can start. A lab not listed counts as NEW_LAB.
# `cluster` (87 s) then held the metrics-server test too, now `metrics`: split between the two by a guess.
# Lab 09 came later: 351-427 s alone on the warm cluster (2026-12-07), counted as 380; lab 10 1,245 s with two
# other units beside it (2026-12-07, 40 variants), counted as 1,200; lab 11 1,292 s alone (2026-12-07), as 1,300.
LAST_SECONDS = {"01": 61, "02": 125, "03": 144, "04": 233, "05": 221, "06": 778, "07": 319, "08": 299, "09": 380,
                "10": 1200, "11": 1300,
                "none": 86, "cluster": 57, "metrics": 30, "disrupts": 86}
NEW_LAB = 300
EVERYTHING = "all"    # Unit.sole: nothing runs beside it
CLUSTER = "cluster"   # Unit.sole: no unit that needs the cluster runs beside it
# Marker expressions: what each kind of unit selects (the markers are declared in pyproject.toml).
IN_PARALLEL = "not alone and not last and not disrupts_cluster"
DOCKER_LABS = "the Docker labs' builds"  # Unit.holds: one Docker lab at a time (module docstring)


def holds(lab: labs.LabInfo) -> frozenset[str]:
    return frozenset({f"host port {p}" for p in lab.host_ports} | ({DOCKER_LABS} if not lab.cluster else set()))


@dataclass(frozen=True)
class Unit:
    name: str                    # prefixes its output lines
    labs: str                    # pytest's --labs: a lab id, `none`, `cluster`, `cluster-metrics` (lab_order.py)
    marks: str                   # pytest's -m
    what: str
    stage: int = 1               # 0 before every other unit, 2 after every other
    cluster: bool = False        # needs the course cluster
    holds: frozenset[str] = frozenset()  # what no other unit holding it may use at the same time
    addons: tuple[str, ...] = ()  # cluster_parts.ADDONS its tests need: it starts once they are built (pick())
    sole: str = ""               # EVERYTHING or CLUSTER: what may not run beside it
    last_of_cluster: bool = False  # starts once every other cluster unit has ended (`disrupts`)

    @property
    def cost(self) -> int:
        return LAST_SECONDS.get(self.name, NEW_LAB)


def plan(only: list[str] | None = None) -> list[Unit]:
    """Every unit of a run, in the order pick() prefers them: the labs asked for (all by default) and,
    whichever they are, the cluster's own tests."""
    lab_units = [Unit(lab.id, lab.id, IN_PARALLEL, f"lab {lab.id}", cluster=lab.cluster, holds=holds(lab),
                      addons=lab.addons)
                 for lab in labs.LABS.values() if not only or lab.id in only]
    # The cluster's metrics-server test is a unit of its own: on a new machine that add-on is built last
    # but for the VPA recommender (lab 10's alone, which no cluster test needs),
    # and the cluster's tests waiting for it in one unit held a worker 819 s on a slow machine while labs
    # whose add-ons were built could not start (lab_order.LAST_ADDON).
    cluster_units = sorted([u for u in lab_units if u.cluster] + [
        Unit("cluster", "cluster", IN_PARALLEL, "the cluster's tests", cluster=True,
             addons=tuple(a for a in cluster_parts.ADDONS if a not in ("metrics-server", "vpa"))),
        Unit("metrics", "cluster-metrics", IN_PARALLEL, "the cluster's metrics-server test", cluster=True,
             addons=("metrics-server",))], key=lambda u: -u.cost)
    docker_units = sorted([u for u in lab_units if not u.cluster] + [
        Unit("none", "none", IN_PARALLEL, "the tests that run no lab")], key=lambda u: -u.cost)
    # `disrupts` after the other cluster units: once the API server has restarted, CoreDNS, kube-proxy and
    # kube-router take up to a minute to watch again (test_zz_api_down.py), and a warm run that started
    # with it failed a check of lab 06's right after (fixed, but a lab should not meet that window).
    return [Unit("alone", "none", "alone", "the tests that clean up the whole course", stage=0, sole=EVERYTHING),
            *cluster_units,
            Unit("disrupts", "cluster", "disrupts_cluster and not last",
                 "the cluster tests that stop its API server or rewrite the labs' kubeconfig", cluster=True,
                 sole=CLUSTER, last_of_cluster=True),
            *docker_units,
            Unit("last", "cluster", "last", "the tests nothing may run beside (a Docker restart)", stage=2,
                 sole=EVERYTHING)]


def fits(unit: Unit, running: list[Unit]) -> bool:
    """unit may start beside those running."""
    if unit.sole == EVERYTHING:
        return not running
    if any(r.sole == EVERYTHING for r in running):
        return False
    if unit.holds & frozenset().union(*(r.holds for r in running)):
        return False
    if unit.cluster and any(r.cluster and (r.sole == CLUSTER or unit.sole == CLUSTER) for r in running):
        return False
    return True


def chain(unit: Unit) -> str:
    """The units that run one after another with it: the Docker labs (one at a time), the cluster units
    (`disrupts` after the others); any other unit is a chain of its own."""
    return DOCKER_LABS if DOCKER_LABS in unit.holds else CLUSTER if unit.cluster else unit.name


def pick(pending: list[Unit], running: list[Unit], cluster_ready: bool,
         addon_ready: Callable[[str], bool]) -> Unit | None:
    """The unit a free worker starts now (pending is in plan()'s order), or None: wait for a unit to end,
    the cluster to come up or an add-on to be built (main() asks again every second). A unit whose add-ons
    are not built does not start while another runs, keeping the worker for the next unit able to start;
    when nothing runs and nothing else can start, waiting inside (cluster_addons.ensure) is the only way
    on: the unit whose add-ons are built soonest starts."""
    if not pending:
        return None
    stage = min(u.stage for u in pending + running)
    # A unit that disrupts the cluster waits for every other cluster unit, started or not (plan()).
    others = any(u.cluster and not u.last_of_cluster for u in pending)
    can = [u for u in pending if u.stage == stage and (cluster_ready or not u.cluster) and fits(u, running)
           and not (u.last_of_cluster and others)]
    if not can:
        return None
    built = list(cluster_parts.ADDONS)
    left = Counter()
    for u in pending:
        left[chain(u)] += u.cost
    # Stable: within a chain, plan()'s order.
    ready = sorted((u for u in can if all(addon_ready(a) for a in u.addons)), key=lambda u: -left[chain(u)])
    if ready:
        return ready[0]
    if running:
        return None
    return min(can, key=lambda u: max((built.index(a) for a in u.addons), default=-1))


@dataclass
class Run:
    unit: Unit
    began: float
    proc: subprocess.Popen | None = None  # None: never started (the cluster it needs did not come up)
    relay: threading.Thread | None = None
    seconds: float = 0.0
    code: int | None = None


def start(unit: Unit, extra: list[str], env: dict[str, str], out_lock: threading.Lock) -> Run:
    basetemp = Path(tempfile.gettempdir()) / "labkit-tests" / unit.name  # pytest's numbered dirs would race
    basetemp.parent.mkdir(parents=True, exist_ok=True)  # pytest makes basetemp itself, not its parent
    cmd = [sys.executable, "-m", "pytest", "-v", "--nbval-lax", "-p", "no:cacheprovider", f"--labs={unit.labs}",
           "-m", unit.marks, f"--basetemp={basetemp}", *extra, "tests/labs", "labs/", "tests/cluster"]
    with out_lock:
        print(f"=== {unit.name}: {unit.what}", flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, env=env)

    def relay():
        for line in proc.stdout:
            with out_lock:
                print(f"[{unit.name}] {line}", end="", flush=True)

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    return Run(unit, time.monotonic(), proc, thread)


def addon_ready(name: str) -> bool:
    from labkit import cluster_addons  # the cluster machinery: only once a cluster unit is about to start

    return cluster_addons.can_work_now(name)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2,
                        help="how many units run at once (1: one after another)")
    parser.add_argument("--only", default="", help="these labs only (comma-separated ids, e.g. 01,02,05)")
    opts, extra = parser.parse_known_args(argv)
    only = [i.strip() for i in opts.only.split(",") if i.strip()]
    unknown = [i for i in only if i not in labs.LABS]
    if unknown:
        parser.error(f"no lab {', '.join(unknown)}; the labs are {', '.join(labs.LABS)}")
    began = time.monotonic()
    pending, running, done = plan(only), [], []
    out_lock = threading.Lock()
    env = {**os.environ, "LABKIT_TEST_CLUSTER": "ready"}
    cluster_up: subprocess.Popen | None = None
    cluster_log, up_began = config.workspace_root() / "cluster-up.log", 0.0
    try:
        while pending or running:
            for run in [r for r in running if r.proc.poll() is not None]:
                run.relay.join()
                run.seconds, run.code = time.monotonic() - run.began, run.proc.returncode
                running.remove(run)
                done.append(run)
            # The cluster is made after the `alone` tests (they clean up the whole course), once for every unit.
            if cluster_up is None and any(u.cluster for u in pending) and all(
                    u.stage > 0 for u in pending + [r.unit for r in running]):
                import lab_order  # pytest and the cluster's modules: not needed to parse the options

                cluster_up = lab_order.start_cluster_up(cluster_log)
                up_began = time.monotonic()
            if cluster_up is not None and cluster_up.returncode is None and cluster_up.poll() is not None:
                with out_lock:
                    print(f"=== the course cluster: `labkit cluster up` exited {cluster_up.returncode} after "
                          f"{time.monotonic() - up_began:.0f} s; log: {cluster_log}", flush=True)
                    if cluster_up.returncode != 0:  # every unit that needs it fails, with the reason
                        print("\n".join(cluster_log.read_text().splitlines()[-25:]), flush=True)
                if cluster_up.returncode != 0:
                    done += [Run(u, time.monotonic(), code=1) for u in pending if u.cluster]
                    pending = [u for u in pending if not u.cluster]
            ready = cluster_up is not None and cluster_up.returncode == 0
            while len(running) < max(opts.sessions, 1):
                unit = pick(pending, [r.unit for r in running], ready, addon_ready)
                if unit is None:
                    break
                pending.remove(unit)
                running.append(start(unit, extra, env, out_lock))
            time.sleep(1)
    except KeyboardInterrupt:
        for proc in [r.proc for r in running] + [cluster_up] * (cluster_up is not None):
            proc.terminate()
        raise
    print(f"\n=== lab tests ({time.monotonic() - began:.0f} s in all, {max(opts.sessions, 1)} at once; one after "
          f"another they took {sum(r.seconds for r in done):.0f} s)")
    for run in sorted(done, key=lambda r: r.began):
        verdict = {0: "passed", 5: "no tests"}.get(run.code, f"FAILED (exit {run.code})")
        print(f"{run.unit.name:>9}: {run.seconds:6.0f} s  from {run.began - began:5.0f} s  {run.unit.what}: {verdict}")
    return max((r.code for r in done if r.code != 5), default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
