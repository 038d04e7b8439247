"""labkit.probe_matrix and labkit.netpol, on fakes shaped like the Kubernetes client's (the matrix runs for real
against the cluster in lab 07's checks and tests/labs)."""
from dataclasses import dataclass
from types import SimpleNamespace as NS

from labkit import netpol, probe_matrix


@dataclass(frozen=True)
class P:
    source: str
    target: str
    goal: bool


class FakeKube:
    """probe.py's answers by source pod, round after round (a policy reaching the nodes between rounds)."""

    def __init__(self, rounds):
        self.rounds, self.calls = list(rounds), []

    def exec(self, pod, command, namespace=None):
        self.calls.append((pod, tuple(command[2:]), namespace))
        seen = sum(1 for c in self.calls if c[0] == pod)  # this pod's n-th probe: the n-th round's answers
        answers = self.rounds[min(seen, len(self.rounds)) - 1].get(pod, {})
        return 0, "\n".join(f"{t} {answers.get(t, 'blocked timeout')}" for t in command[2:]), ""


PROBES = (P("nginx", "api:3000", True), P("other", "api:3000", False), P("nginx", "db:5432", False))


def test_one_exec_per_source_and_outcomes_in_the_probes_order():
    kube = FakeKube([{"nginx": {"api:3000": "ok 200"}, "other": {}}])
    got = probe_matrix.run(kube, PROBES, lambda p: p.target, lambda pod: "lab07")
    assert [o.probe for o in got] == list(PROBES)
    assert [o.allowed for o in got] == [True, False, False] and all(o.on_goal for o in got)
    assert sorted(c[0] for c in kube.calls) == ["nginx", "other"]
    assert got[1].detail == "timeout"


def test_a_source_whose_probe_failed_reads_as_blocked_with_the_reason():
    class Broken(FakeKube):
        def exec(self, pod, command, namespace=None):
            return 126, "", "error: unable to upgrade connection: container not found"
    got = probe_matrix.run(Broken([{}]), PROBES[:1], lambda p: p.target, lambda pod: "lab07")
    assert not got[0].allowed and "probe-failed" in got[0].detail and "container not found" in got[0].detail


def test_settled_probes_again_only_the_rows_off_their_goal():
    kube = FakeKube([{"nginx": {}, "other": {}}, {"nginx": {"api:3000": "ok 200"}}])
    got = probe_matrix.settled(kube, PROBES, lambda p: p.target, lambda pod: "lab07", pause=0)
    assert all(o.on_goal for o in got)
    assert kube.calls[-1] == ("nginx", ("api:3000",), "lab07")  # only the row off its goal, probed again


def test_rows_mark_what_is_not_yet_the_goal():
    out = [probe_matrix.Outcome(PROBES[0], "no-dns", "nxdomain"), probe_matrix.Outcome(PROBES[1], "blocked", "t")]
    rows = probe_matrix.rows(out, lambda p: f"{p.source} → {p.target}")
    assert rows[0][1] == "🚫 no DNS" and rows[0][4] == "← not yet" and rows[1][4] == ""


def selector(labels=None, *expressions):
    return NS(match_labels=labels, match_expressions=[NS(key=k, operator=o, values=v) for k, o, v in expressions])


def test_selectors_match_labels_and_expressions():
    assert netpol.selects(None, {"app": "api"})
    assert netpol.selects(selector({}), {"app": "api"})
    assert not netpol.selects(selector({"app": "db"}), {"app": "api"})
    assert netpol.selects(selector(None, ("app", "In", ["api", "web"])), {"app": "api"})
    assert not netpol.selects(selector(None, ("app", "NotIn", ["api"])), {"app": "api"})
    assert netpol.selects(selector(None, ("tier", "DoesNotExist", None)), {"app": "api"})
    assert not netpol.selects(selector(None, ("tier", "Exists", None)), {"app": "api"})


def policy(pod_selector, types=None, ingress=None, egress=None):
    return NS(spec=NS(pod_selector=pod_selector, policy_types=types, ingress=ingress, egress=egress))


def test_governing_policies_and_their_peers():
    allow_nginx = policy(selector({"app": "api"}), ["Ingress"], ingress=[NS(_from=[NS(pod_selector=selector({"app": "nginx"}))])])
    deny_all = policy(selector({}), ["Ingress", "Egress"])
    only_db = policy(selector({"app": "db"}))
    api = netpol.governing([allow_nginx, deny_all, only_db], {"app": "api"}, "Ingress")
    assert api == [allow_nginx, deny_all]
    assert netpol.governing([allow_nginx, deny_all], {"app": "api"}, "Egress") == [deny_all]
    assert [p.pod_selector.match_labels for p in netpol.peers(api, "Ingress")] == [{"app": "nginx"}]
