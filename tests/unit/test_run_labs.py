"""How make test-labs schedules its units of work on parallel workers (tests/run_labs.py): the rules
pick() follows, then whole runs simulated with the durations of a measured cold run (no process starts)."""
import pytest

import lab_order
import run_labs
from labkit import cluster_parts, labs

DOCKER = [lab.id for lab in labs.LABS.values() if not lab.cluster]
CLUSTER = [lab.id for lab in labs.LABS.values() if lab.cluster]
UNITS = {u.name: u for u in run_labs.plan()}


def everything_built(name):
    return True


def test_every_lab_is_one_unit_and_the_clusters_tests_always_run():
    names = [u.name for u in run_labs.plan()]
    assert sorted(n for n in names if n in labs.LABS) == sorted(labs.LABS) and len(names) == len(set(names))
    assert {"alone", "none", "cluster", "metrics", "disrupts", "last"} <= set(names)
    only = [u.name for u in run_labs.plan(["01", "02"])]
    assert sorted(only) == sorted(["alone", "01", "02", "none", "cluster", "metrics", "disrupts", "last"])
    only = [u.name for u in run_labs.plan(["05"])]  # `make test-labs LABS=05`
    assert sorted(only) == sorted(["alone", "05", "none", "cluster", "metrics", "disrupts", "last"])


def test_the_cluster_units_longest_first_then_disrupts_then_the_docker_labs():
    order = [u.name for u in run_labs.plan() if u.stage == 1]
    cluster = order[:order.index("disrupts")]
    assert set(cluster) == set(CLUSTER) | {"cluster", "metrics"}
    assert [UNITS[n].cost for n in cluster] == sorted((UNITS[n].cost for n in cluster), reverse=True)
    assert set(order[order.index("disrupts") + 1:]) == set(DOCKER) | {"none"}


def test_disrupts_waits_for_every_cluster_unit_before_it():
    """It fits beside the Docker labs, but a cluster unit still to start is picked first."""
    pending = [UNITS["07"], UNITS["disrupts"], UNITS["02"]]
    assert run_labs.pick(pending, [UNITS["05"]], True, everything_built) == UNITS["07"]
    assert run_labs.pick(pending[1:], [UNITS["05"]], True, everything_built) == UNITS["02"]
    assert run_labs.pick(pending[1:], [UNITS["01"]], True, everything_built) == UNITS["disrupts"]
    nothing = lambda name: False  # noqa: E731
    assert run_labs.pick(pending, [UNITS["01"]], True, nothing) is None  # 07 waits outside, not disrupts
    assert run_labs.pick(pending[:2], [], True, nothing) == UNITS["07"]  # nothing else: 07 waits inside


def test_disrupts_waits_for_the_metrics_server_test_too():
    pending = [UNITS["metrics"], UNITS["disrupts"], UNITS["last"]]
    assert run_labs.pick(pending, [UNITS["01"]], True, everything_built) == UNITS["metrics"]
    assert run_labs.pick(pending[1:], [UNITS["metrics"]], True, everything_built) is None
    assert run_labs.pick(pending[1:], [UNITS["01"]], True, everything_built) == UNITS["disrupts"]
    no_metrics_server = lambda name: name != "metrics-server"  # noqa: E731
    assert run_labs.pick(pending, [UNITS["01"]], True, no_metrics_server) is None  # metrics waits, disrupts too
    assert run_labs.pick(pending, [], True, no_metrics_server) == UNITS["metrics"]


def test_a_unit_waiting_for_an_add_on_leaves_the_worker_to_a_unit_that_can_run():
    """On a slow machine the cluster's tests held a worker 819 s for metrics-server's build while labs
    whose add-ons were built could not start: now that test is a unit of its own, started once the
    add-on is built, or when nothing else is left to run."""
    no_metrics_server = lambda name: name != "metrics-server"  # noqa: E731
    assert UNITS["metrics"].addons == (lab_order.LAST_ADDON,) and lab_order.LAST_ADDON not in UNITS["cluster"].addons
    pending = [UNITS["metrics"], UNITS["cluster"], UNITS["disrupts"], UNITS["03"], UNITS["last"]]
    assert run_labs.pick(pending, [], True, no_metrics_server) == UNITS["cluster"]
    pending.remove(UNITS["cluster"])
    assert run_labs.pick(pending, [UNITS["cluster"]], True, no_metrics_server) == UNITS["03"]
    # With lab 03 waiting for lab 04 (one Docker lab at a time), the worker stays free all the same.
    assert run_labs.pick([UNITS["metrics"], UNITS["03"]], [UNITS["04"]], True, no_metrics_server) is None
    assert run_labs.pick([UNITS["metrics"], UNITS["08"]], [UNITS["06"]], True, no_metrics_server) == UNITS["08"]
    # Every unit left waits for an add-on: none starts while one runs (a build's end or a unit's end frees
    # it, main() asks every second), and when nothing runs the one built soonest does (no deadlock).
    waiting = [UNITS["metrics"], UNITS["07"], UNITS["disrupts"], UNITS["last"]]
    nothing = lambda name: False  # noqa: E731
    assert run_labs.pick(waiting, [UNITS["06"]], True, nothing) is None
    assert run_labs.pick(waiting, [], True, nothing) == UNITS["07"]
    assert run_labs.pick(waiting[:1] + waiting[2:], [], True, nothing) == UNITS["metrics"]
    # A learner's machine pulls the add-ons (can_work_now is true): it starts at once, beside others.
    assert run_labs.pick(waiting, [UNITS["06"]], True, everything_built) in (UNITS["metrics"], UNITS["07"])


def test_the_chain_with_more_work_left_goes_first():
    """Warm, LABS=01..05: with lab 05 running, lab 03 (and 02, 01 after it, one at a time) before the
    cluster's tests, whose chain is shorter (in .ci/run of 482a412 lab 03 waited 89 s for them); with
    lab 06 still to run, the cluster's chain first."""
    pending = [UNITS["cluster"], UNITS["disrupts"], UNITS["03"], UNITS["02"], UNITS["01"]]
    assert run_labs.chain(UNITS["03"]) == run_labs.chain(UNITS["01"]) != run_labs.chain(UNITS["cluster"])
    assert run_labs.pick(pending, [UNITS["05"]], True, everything_built) == UNITS["03"]
    # A free worker never idles for the longer chain: with a Docker lab running, the cluster's tests.
    assert run_labs.pick(pending, [UNITS["04"]], True, everything_built) == UNITS["cluster"]
    assert run_labs.pick([UNITS["06"], *pending], [UNITS["05"]], True, everything_built) == UNITS["06"]


def test_labs_publishing_the_same_host_port_never_run_at_once():
    assert "host port 3000" in UNITS["02"].holds & UNITS["04"].holds
    assert not run_labs.fits(UNITS["04"], [UNITS["02"]])


def test_one_docker_lab_at_a_time_beside_any_cluster_unit():
    for a in DOCKER:
        assert run_labs.fits(UNITS[a], [UNITS["05"], UNITS["06"]]) and run_labs.fits(UNITS[a], [UNITS["none"]])
        for b in DOCKER:
            assert not run_labs.fits(UNITS[a], [UNITS[b]]), (a, b)


def test_the_units_that_disrupt_the_cluster_run_beside_docker_labs_only():
    disrupts = UNITS["disrupts"]
    assert run_labs.fits(disrupts, [UNITS["02"]])
    assert not run_labs.fits(disrupts, [UNITS["05"]]) and not run_labs.fits(UNITS["06"], [disrupts])
    assert run_labs.fits(UNITS["06"], [UNITS["05"], UNITS["cluster"]])


def test_alone_and_last_run_by_themselves():
    for sole in (UNITS["alone"], UNITS["last"]):
        assert run_labs.fits(sole, []) and not run_labs.fits(sole, [UNITS["01"]])
        assert not run_labs.fits(UNITS["01"], [sole])


def test_a_unit_that_needs_the_cluster_waits_until_it_is_up():
    pending = [UNITS["05"], UNITS["01"]]
    assert run_labs.pick(pending, [], cluster_ready=False, addon_ready=everything_built) == UNITS["01"]
    assert run_labs.pick(pending, [], cluster_ready=True, addon_ready=everything_built) == UNITS["05"]
    assert run_labs.pick([UNITS["05"]], [UNITS["01"]], cluster_ready=False, addon_ready=everything_built) is None
    assert run_labs.pick([UNITS["05"], UNITS["02"]], [UNITS["01"]], True, everything_built) == UNITS["05"]


def test_alone_first_and_last_last():
    plan = run_labs.plan()
    assert run_labs.pick(plan, [], True, everything_built) == UNITS["alone"]
    rest = [u for u in plan if u.name != "alone"]
    assert run_labs.pick(rest, [UNITS["alone"]], True, everything_built) is None
    assert run_labs.pick([UNITS["last"]], [UNITS["01"]], True, everything_built) is None
    assert run_labs.pick([UNITS["last"], UNITS["02"]], [], True, everything_built) == UNITS["02"]


def test_units_whose_add_ons_are_built_go_first_then_the_one_whose_add_on_is_built_next():
    pending = [UNITS["06"], UNITS["08"], UNITS["07"], UNITS["cluster"]]
    only_local_path = lambda name: name == "local-path"  # noqa: E731
    assert run_labs.pick(pending, [], True, only_local_path) == UNITS["08"]
    nothing = lambda name: False  # noqa: E731
    first = list(cluster_parts.ADDONS)[0]
    assert first in run_labs.pick(pending, [], True, nothing).addons
    assert run_labs.pick([UNITS["07"], UNITS["cluster"]], [], True, nothing) == UNITS["07"]


# --- whole runs, simulated ------------------------------------------------------------------------
# Seconds of a cold .ci/run on a fresh machine (2026-12-06): each unit's own time, when the cluster was
# up (after make test began) and when each add-on was built. `cluster` (120 s) then held the
# metrics-server test too: split here into 90 s and `metrics` 45 (one pytest start more).
COLD = {"01": 72, "02": 120, "03": 187, "04": 295, "05": 220, "06": 790, "07": 260, "08": 314, "09": 380, "10": 900, "11": 700,
        "none": 30,
        "cluster": 90, "metrics": 45, "disrupts": 145, "alone": 13, "last": 160}
CLUSTER_UP = 613
# The add-ons in today's build order (cluster_parts.ADDONS): each as long to build as in that run (the VPA
# recommender, added later: its 141 s here times that run's 1.3).
ADDONS_BUILT = {"metallb": 775, "local-path": 880, "traefik": 1283, "metrics-server": 1519, "vpa": 1700}
STATIC_END = 2138  # that run's lab sessions, dealt once and for all


def simulate(workers: int, seconds: dict, cluster_up: float, addons_built: dict, only=None):
    """Start and end of every unit: pick() at each moment a unit ends, the cluster comes up or an add-on
    is built; a unit started before its add-ons are built waits for them (cluster_addons.ensure)."""
    pending, running, spans, now = run_labs.plan(only), {}, {}, 0.0
    while pending or running:
        while len(running) < workers:
            unit = run_labs.pick(pending, list(running), now >= cluster_up,
                                 lambda name: addons_built[name] <= now)
            if unit is None:
                break
            pending.remove(unit)
            ready_at = max([now, *(addons_built[a] for a in unit.addons)])
            running[unit] = ready_at + seconds[unit.name]
            spans[unit.name] = (now, running[unit])
        moments = [t for t in [*running.values(), cluster_up, *addons_built.values()] if t > now]
        now = min(moments)
        running = {u: end for u, end in running.items() if end > now}
    return spans


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_a_simulated_cold_run_keeps_every_rule(workers):
    spans = simulate(workers, COLD, CLUSTER_UP, ADDONS_BUILT)
    assert set(spans) == set(UNITS)

    def overlap(a, b):
        return spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]

    names = list(spans)
    for a in names:
        for b in names:
            if a == b or not overlap(a, b):
                continue
            assert "alone" not in (a, b) and "last" not in (a, b), (a, b)
            assert not UNITS[a].holds & UNITS[b].holds, (a, b)
            assert "disrupts" not in (a, b) or not (UNITS[a].cluster and UNITS[b].cluster), (a, b)
        if UNITS[a].cluster:
            assert spans[a][0] >= CLUSTER_UP, a
        # A unit waits for an add-on's build (inside) only when nothing else runs.
        if any(ADDONS_BUILT[addon] > spans[a][0] for addon in UNITS[a].addons):
            assert not any(overlap(a, b) for b in names if b != a), (a, spans)
    assert max(end for _, end in spans.values()) == spans["last"][1]
    assert sum(overlap(a, b) for a in names for b in names if a < b) <= len(names) * (workers - 1)


def test_two_workers_take_less_than_the_measured_static_split():
    """The same units dealt once and for all (the Docker labs, 05 and 07 to one session, 06, 08 and the
    cluster's tests to the other) ended at 2,138 s in that run; picked as workers come free, lab 07 runs
    while the others wait for add-ons instead of after them."""
    measured = [f"{n:02d}" for n in range(1, 10)]  # the labs of that run (lab 10 came later)
    end = max(e for _, e in simulate(2, COLD, CLUSTER_UP, ADDONS_BUILT, measured).values())
    one = max(e for _, e in simulate(1, COLD, CLUSTER_UP, ADDONS_BUILT, measured).values())
    assert end < STATIC_END - 150 and one > STATIC_END, (end, one)


# A warm `LABS=01,02,03,04,05 .ci/run` of 482a412 (2026-12-06): each unit's seconds, the cluster up at
# 172 s, every add-on built; its units ended at 847 s (lab 03 waited for the cluster's tests). `cluster`
# (88 s) held the metrics-server test then: split as for COLD.
WARM_01_05 = {"alone": 11, "04": 260, "none": 83, "05": 233, "cluster": 65, "metrics": 35, "03": 132,
              "disrupts": 85, "02": 113, "01": 60, "last": 180}


def test_a_simulated_warm_run_keeps_the_docker_labs_going():
    """The Docker labs' chain (565 s) was the longer one there: run back to back, the run ends near
    alone + that chain + last (756 s), not 847."""
    built = {a: 0 for a in ADDONS_BUILT}
    spans = simulate(2, WARM_01_05, 172, built, only=["01", "02", "03", "04", "05"])
    docker = sorted(spans[n] for n in ("04", "03", "02", "01"))
    assert all(b[0] == a[1] for a, b in zip(docker, docker[1:])), docker  # back to back
    assert max(e for _, e in spans.values()) < 800, spans


def collected(*selections: tuple[str, str]) -> list[list[str]]:
    """The test names each (--labs, -m) collects from tests/cluster, in lab_order.py's order: no cluster
    needed, the pytest processes side by side."""
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                               f"--labs={labs}", "-m", marks, "tests/cluster"],
                              cwd=run_labs.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for labs, marks in selections]
    outs = [proc.communicate()[0] for proc in procs]
    names = [[line.rpartition("::")[2] for line in out.splitlines() if "::" in line] for out in outs]
    assert all(names), outs
    return names


def test_the_cluster_unit_runs_its_tests_in_the_add_ons_build_order():
    """tests/lab_order.py, as the `cluster` unit collects: its smoke tests in the add-ons' build order, the
    metrics-server test (the last add-on built that the cluster's tests need: the VPA after it is lab 10's
    alone) not among them but in `metrics`, a unit of its own; in one session it comes last, so on a new
    machine it alone waits for that build."""
    assert list(cluster_parts.ADDONS)[-2:] == ["metrics-server", "vpa"]
    cluster, metrics, both = collected((UNITS["cluster"].labs, UNITS["cluster"].marks),
                                       (UNITS["metrics"].labs, UNITS["metrics"].marks),
                                       ("cluster,cluster-metrics", run_labs.IN_PARALLEL))
    assert "test_metrics_server_reports_pod_metrics" not in cluster
    assert cluster[-1] == "test_gateway_api_routes_through_traefik_from_the_host", cluster
    assert cluster.index("test_gateway_api_routes_through_traefik_from_the_host") > cluster.index(
        "test_pvc_binds_and_keeps_data")
    assert metrics == ["test_metrics_server_reports_pod_metrics"], metrics
    assert both == cluster + metrics, both
