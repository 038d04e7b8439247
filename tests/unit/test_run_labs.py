"""How make test-labs deals the labs to parallel sessions (tests/run_labs.py)."""
import pytest

import run_labs
from labkit import labs

DOCKER = [lab.id for lab in labs.LABS.values() if not lab.cluster]
CLUSTER = [lab.id for lab in labs.LABS.values() if lab.cluster]


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_every_lab_runs_in_exactly_one_session(count):
    ids = [i for group in run_labs.sessions(count).values() for i in group]
    assert sorted(ids) == sorted(labs.LABS) and len(ids) == len(set(ids))


@pytest.mark.parametrize("count", [2, 3])
def test_the_docker_labs_share_the_first_session_and_so_every_host_port_is_used_by_one_session(count):
    split = run_labs.sessions(count)
    assert [i for i in split["s1"] if i in DOCKER] == DOCKER
    assert len(split) == count
    for ids in split.values():
        for port in {p for i in ids for p in labs.LABS[i].host_ports}:
            assert {i for i in labs.LABS if port in labs.LABS[i].host_ports} <= set(ids)


@pytest.mark.parametrize("count", [2, 3])
def test_sessions_are_balanced_by_the_last_measured_seconds(count):
    """Longest first, each to the lightest session, the Docker labs' one included: no session outlasts
    another by more than one cluster lab."""
    totals = [run_labs._cost(ids) for ids in run_labs.sessions(count).values()]
    longest = max(run_labs._cost([i]) for i in CLUSTER)
    assert max(totals) - min(totals) <= longest


def test_cluster_labs_fill_the_docker_session_when_it_has_the_least():
    """Labs 01-08 on two sessions: 06 alone outlasts the four Docker labs, so some cluster lab runs after them."""
    split = run_labs.sessions(2)
    assert set(split["s1"]) - set(DOCKER), split


def test_only_the_labs_asked_for():
    assert run_labs.sessions(2, ["01", "05", "02"]) == {"s1": ["01", "02"], "s2": ["05"]}
    assert run_labs.sessions(2, ["05", "06"]) == {"s1": ["06"], "s2": ["05"]}
    assert run_labs.sessions(1, ["05", "01"]) == {"s1": ["01", "05"]}


@pytest.mark.parametrize("count", [1, 2, 3])
def test_the_clusters_own_tests_run_once_after_the_labs_of_a_cluster_session(count):
    dealt = run_labs.with_cluster_tests(run_labs.sessions(count), count)
    holders = [name for name, ids in dealt.items() if run_labs.CLUSTER_TESTS in ids]
    assert len(holders) == 1
    assert any(labs.LABS[i].cluster for i in dealt[holders[0]] if i in labs.LABS)
    assert 1 <= run_labs.cluster_sessions(dealt) <= count


def test_with_no_cluster_lab_the_clusters_tests_still_run_in_a_session_of_their_own():
    assert run_labs.with_cluster_tests(run_labs.sessions(2, ["01", "02"]), 2) == {
        "s1": ["01", "02"], "s2": [run_labs.CLUSTER_TESTS]}
    assert run_labs.with_cluster_tests(run_labs.sessions(1, ["01"]), 1) == {"s1": ["01", run_labs.CLUSTER_TESTS]}
