"""How make test-labs deals the labs to parallel sessions (tests/run_labs.py)."""
import pytest

import run_labs
from labkit import labs

DOCKER = [lab.id for lab in labs.LABS.values() if not lab.cluster]


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_every_lab_runs_in_exactly_one_session(count):
    ids = [i for group in run_labs.sessions(count).values() for i in group]
    assert sorted(ids) == sorted(labs.LABS) and len(ids) == len(set(ids))


@pytest.mark.parametrize("count", [2, 3])
def test_the_docker_labs_share_one_session_and_so_every_host_port_is_used_by_one_session(count):
    split = run_labs.sessions(count)
    assert split["docker"] == DOCKER
    assert len(split) == count
    for ids in split.values():
        for port in {p for i in ids for p in labs.LABS[i].host_ports}:
            assert {i for i in labs.LABS if port in labs.LABS[i].host_ports} <= set(ids)


def test_cluster_sessions_are_balanced_by_the_last_measured_seconds():
    """Longest first, each to the lightest session: no session outlasts another by more than one lab."""
    totals = [run_labs._cost(ids) for name, ids in run_labs.sessions(3).items() if name != "docker"]
    longest = max(run_labs._cost([i]) for i in labs.LABS if labs.LABS[i].cluster)
    assert max(totals) - min(totals) <= longest


def test_only_the_labs_asked_for():
    split = run_labs.sessions(2, ["01", "05", "02"])
    assert split == {"docker": ["01", "02"], "cluster": ["05"]}
    assert run_labs.sessions(1, ["05", "01"]) == {"s1": ["01", "05"]}


@pytest.mark.parametrize("count", [1, 2, 3])
def test_the_clusters_own_tests_run_once_after_the_labs_of_a_cluster_session(count):
    dealt = run_labs.with_cluster_tests(run_labs.sessions(count))
    holders = [name for name, ids in dealt.items() if run_labs.CLUSTER_TESTS in ids]
    assert len(holders) == 1 and holders[0] != "docker"
    assert any(labs.LABS[i].cluster for i in dealt[holders[0]] if i in labs.LABS)
    assert run_labs.cluster_sessions(dealt) == max(1, count - 1)


def test_with_no_cluster_lab_the_clusters_tests_still_run_in_a_session_of_their_own():
    assert run_labs.with_cluster_tests(run_labs.sessions(2, ["01", "02"])) == {
        "docker": ["01", "02"], "cluster": [run_labs.CLUSTER_TESTS]}
    assert run_labs.with_cluster_tests(run_labs.sessions(1, ["01"])) == {"s1": ["01", run_labs.CLUSTER_TESTS]}
