"""A probe matrix: who can reach whom right now, proven by traffic between real pods.

Each probe names a source pod and what to try from it, in the words of apps/nettools/probe.py (HOST:PORT[/PATH] an
HTTP GET, dns-udp:NAME or dns-tcp:NAME a DNS query). `run` execs probe.py once per source pod, every source at
once, so a matrix of a dozen rows costs about one round trip; `settled` probes again the rows that miss their goal,
because a NetworkPolicy applied a moment ago takes a second or two to reach every node. Lab 07 proves its
policies with it; a lab that needs "can A reach B" can too (its pods mount the nettools ConfigMap at /tools).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

PROBE_TOOL = "/tools/probe.py"


@dataclass(frozen=True)
class Outcome:
    probe: Any       # the caller's probe: anything hashable with `source` (a pod) and `goal` (should it get through)
    result: str      # probe.py's verdict: ok, blocked, no-dns
    detail: str

    @property
    def allowed(self) -> bool:
        return self.result == "ok"

    @property
    def on_goal(self) -> bool:
        return self.allowed == self.probe.goal


def run(kube, probes: Sequence, target_of: Callable[[Any], str], namespace_of: Callable[[str], str]) -> list[Outcome]:
    """Every probe, for real, in the order given. target_of(probe) is probe.py's argument for it;
    namespace_of(pod) the namespace of a source pod."""
    by_source: dict[str, list] = {}
    for p in probes:
        by_source.setdefault(p.source, []).append(p)

    def from_source(source: str) -> list[Outcome]:
        targets = [target_of(p) for p in by_source[source]]
        _, out, err = kube.exec(source, ["python3", PROBE_TOOL, *targets], namespace=namespace_of(source))
        lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
        found = []
        for p, t in zip(by_source[source], targets):
            # No line for a target: probe.py itself failed (the pod gone, the tool missing): blocked, saying why.
            result, _, detail = lines.get(t, f"blocked probe-failed:{err.strip()[-80:]}").partition(" ")
            found.append(Outcome(p, result, detail))
        return found

    if not by_source:
        return []
    with ThreadPoolExecutor(len(by_source)) as pool:
        found = [o for group in pool.map(from_source, by_source) for o in group]
    order = {p: i for i, p in enumerate(probes)}
    return sorted(found, key=lambda o: order[o.probe])


def settled(kube, probes: Sequence, target_of, namespace_of, tries: int = 2, pause: float = 1.0) -> list[Outcome]:
    """The probes' outcomes, the rows that miss their goal probed up to `tries` more times, `pause` apart."""
    outcomes = run(kube, probes, target_of, namespace_of)
    for _ in range(tries):
        off = tuple(o.probe for o in outcomes if not o.on_goal)
        if not off:
            break
        time.sleep(pause)
        again = {o.probe: o for o in run(kube, off, target_of, namespace_of)}
        outcomes = [again.get(o.probe, o) for o in outcomes]
    return outcomes


def rows(outcomes: Sequence[Outcome], label_of: Callable[[Any], str]) -> list[list[str]]:
    """The matrix as table rows: the probe, what happens now, the detail, the goal, and a mark where they differ."""
    return [[label_of(o.probe), "✅ allowed" if o.allowed else ("🚫 no DNS" if o.result == "no-dns" else "⛔ blocked"),
             o.detail, "allowed" if o.probe.goal else "blocked", "" if o.on_goal else "← not yet"]
            for o in outcomes]
