"""`make test-labs`: the lab tests and the cluster's tests in parallel pytest sessions, each printing
its lines with its name.

A lab spends most of its time waiting (for a container, a rollout, a probe's answer), not computing,
so labs that share nothing run side by side (measured in docs/instructors.md):
1. first, alone, the tests marked `alone` (cleanup safety: they clean up the whole course, so nothing
   else may run meanwhile);
2. then --sessions sessions at once (2 by default): the Docker labs in the first (they publish the
   same host ports, LabInfo.host_ports), the cluster labs dealt to all of them by their last measured
   seconds, so the sessions end together (each cluster lab works in namespaces and with labels of its
   own; in the first session they run after the Docker labs); the other
   tests that run no lab (every lab with no daemon) go to the session with the least to do, and so
   do the cluster's own tests (tests/cluster), after that session's labs. A test marked
   `disrupts_cluster` (the API server stopped) runs there only when one session runs cluster labs;
   with more, it waits for step 3.
   The Docker labs run while the cluster is created (or, on a new machine, built); the first session
   to ask creates it and the others wait for it (`labkit cluster up` holds locks.CLUSTER_UP).
3. last, alone, the tests marked `last` (a Docker restart: nothing may run beside it).
Each session orders its labs and phases as lab_order.py says. Arguments after the options go to every
pytest, e.g. `python tests/run_labs.py --only 01,02 -x`.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from labkit import labs

ROOT = Path(__file__).resolve().parents[1]
# Seconds of each lab's tests (learner version, solved run with its variants, nbval) in the last
# measured `make test` (fresh-machine .ci/run of 2026-12-05, one session); a lab not listed counts as NEW_LAB.
LAST_SECONDS = {"01": 66, "02": 112, "03": 162, "04": 215, "05": 247, "06": 732, "07": 279, "08": 259}
NEW_LAB = 300
# tests/cluster before the Docker restart (context safety, smoke, API server down): warm .ci/run of 2026-12-04.
CLUSTER_TESTS = "cluster"
LAST_SECONDS[CLUSTER_TESTS] = 190


def _cost(ids) -> int:
    return sum(LAST_SECONDS.get(i, NEW_LAB) for i in ids)


def sessions(count: int, only: list[str] | None = None) -> dict[str, list[str]]:
    """Session name -> the lab ids it runs. The Docker labs share the first session: they publish the
    same host ports (LabInfo.host_ports) and their image builds load the same daemon. The cluster labs
    are dealt longest first, each to the session with the least so far, the first one included (after
    its Docker labs, lab_order.py), so the sessions end together. Two sessions on 2 cores are the
    default: measured in docs/instructors.md (lab 01's OOM check, once thrown by the load, now reads
    the kernel's log when Docker missed the kill). Three overloaded 2 cores (lab 04 failed at load 27)."""
    ids = only or list(labs.LABS)
    if count <= 1:
        return {"s1": sorted(ids)} if ids else {}
    docker = [i for i in ids if not labs.LABS[i].cluster]
    cluster = [i for i in ids if labs.LABS[i].cluster]
    dealt: list[list[str]] = [docker] + [[] for _ in range(count - 1)]
    for lab_id in sorted(cluster, key=lambda i: (-_cost([i]), i)):
        min(dealt, key=_cost).append(lab_id)
    return {f"s{n + 1}": sorted(group) for n, group in enumerate(group for group in dealt if group)}


def with_cluster_tests(dealt: dict[str, list[str]], count: int) -> dict[str, list[str]]:
    """dealt, with the cluster's tests (after its labs) in the cluster session with the least to do (a
    session of their own when no cluster lab runs and there is more than one session)."""
    dealt = {name: list(ids) for name, ids in dealt.items()}
    hosts = [name for name, ids in dealt.items() if any(labs.LABS[i].cluster for i in ids)]
    if not hosts:  # no cluster lab among those asked for
        hosts = ["s1" if count <= 1 or not dealt else f"s{len(dealt) + 1}"]
        dealt.setdefault(hosts[0], [])
    dealt[min(hosts, key=lambda n: _cost(dealt[n]))].append(CLUSTER_TESTS)
    return dealt


def cluster_sessions(dealt: dict[str, list[str]]) -> int:
    return sum(any(i in labs.LABS and labs.LABS[i].cluster for i in ids) for ids in dealt.values())


class Session:
    def __init__(self, name: str, ids: list[str], extra: list[str], what: str = ""):
        self.name, self.ids = name, ids
        basetemp = Path(tempfile.gettempdir()) / "labkit-tests" / name  # pytest's numbered dirs would race
        basetemp.parent.mkdir(parents=True, exist_ok=True)  # pytest makes basetemp itself, not its parent
        self.cmd = [sys.executable, "-m", "pytest", "-v", "--nbval-lax", "-p", "no:cacheprovider",
                    f"--labs={','.join(ids)}", f"--basetemp={basetemp}", *extra, "tests/labs", "labs/",
                    "tests/cluster"]
        lab_ids = [i for i in ids if i in labs.LABS]
        self.what = what or " + ".join([f"labs {', '.join(lab_ids)}"] * bool(lab_ids)
                                       + ["tests that run no lab"] * ("none" in ids)
                                       + ["the cluster's tests"] * (CLUSTER_TESTS in ids))
        self.proc: subprocess.Popen | None = None
        self.seconds = 0.0

    def start(self, out_lock: threading.Lock) -> threading.Thread:
        began = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)

        def relay():
            for line in self.proc.stdout:
                with out_lock:
                    print(f"[{self.name}] {line}", end="", flush=True)
            self.proc.wait()
            self.seconds = time.monotonic() - began

        thread = threading.Thread(target=relay, daemon=True)
        thread.start()
        return thread


def run(group: list[Session]) -> None:
    out_lock = threading.Lock()
    with out_lock:
        for s in group:
            print(f"=== session {s.name}: {s.what}", flush=True)
    threads = [s.start(out_lock) for s in group]
    try:
        for t in threads:
            t.join()
    except KeyboardInterrupt:
        for s in group:
            s.proc.terminate()
        raise


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2,
                        help="1: one lab after another; more: that many in parallel, the Docker labs in the first, "
                             "the cluster labs dealt so that they end together")
    parser.add_argument("--only", default="", help="these labs only (comma-separated ids, e.g. 01,02,05)")
    opts, extra = parser.parse_known_args(argv)
    only = [i.strip() for i in opts.only.split(",") if i.strip()]
    unknown = [i for i in only if i not in labs.LABS]
    if unknown:
        parser.error(f"no lab {', '.join(unknown)}; the labs are {', '.join(labs.LABS)}")
    began = time.monotonic()
    first = [Session("alone", ["none"], [*extra, "-m", "alone"], what="the tests that clean up the whole course")]
    run(first)
    dealt = with_cluster_tests(sessions(opts.sessions, only), opts.sessions)
    min(dealt.values(), key=_cost).append("none")
    # With two cluster sessions, stopping the API server in one would fail the other's labs.
    after = "last" if cluster_sessions(dealt) <= 1 else "last or disrupts_cluster"
    parallel = [Session(name, ids, [*extra, "-m", f"not alone and not ({after})"]) for name, ids in dealt.items()]
    run(parallel)
    final = [Session("last", [CLUSTER_TESTS], [*extra, "-m", after], what="the tests nothing may run beside")]
    run(final)
    everything = first + parallel + final
    print(f"\n=== lab sessions ({time.monotonic() - began:.0f} s in all; one after another they took "
          f"{sum(s.seconds for s in everything):.0f} s)")
    for s in everything:
        verdict = {0: "passed", 5: "no tests"}.get(s.proc.returncode, f"FAILED (exit {s.proc.returncode})")
        print(f"{s.name:>8}: {s.seconds:6.0f} s  {s.what}: {verdict}")
    return max((s.proc.returncode for s in everything if s.proc.returncode != 5), default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
