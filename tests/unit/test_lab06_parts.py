"""Lab 06's pure helpers: a rolling update's bounds in pods, and what a request's Host header says."""
from types import SimpleNamespace

import pytest

from labkit.labs.lab06 import Request, _pods, service_names


@pytest.mark.parametrize("value, up, pods", [
    (0, False, 0), ("0", False, 0), (1, True, 1), ("0%", False, 0), ("25%", False, 0), ("34%", False, 1),
    ("33%", True, 1), ("34%", True, 2), ("100%", True, 3), (None, True, None), ("x", False, None),
])
def test_a_bound_is_pods_or_a_share_of_the_replicas(value, up, pods):
    assert _pods(value, 3, up=up) == pods


@pytest.mark.parametrize("host, name, port", [
    ("api", "api", 80), ("api.lab06.svc.cluster.local", "api.lab06.svc.cluster.local", 80),
    ("10.96.3.4:80", "10.96.3.4", 80), ("localhost:30001", "localhost", 30001), ("10.244.1.5:3000", "10.244.1.5", 3000),
])
def test_the_host_header_gives_the_address_the_client_dialled(host, name, port):
    r = Request("api-1", "10.244.2.2", "/", "200", host)
    assert (r.hostname, r.port) == (name, port)


def test_a_service_answers_to_its_names_and_its_virtual_ip():
    svc = SimpleNamespace(metadata=SimpleNamespace(name="api", namespace="lab06"), spec=SimpleNamespace(cluster_ip="10.96.3.4"))
    assert service_names(svc) == {"api", "api.lab06", "api.lab06.svc", "api.lab06.svc.cluster.local", "10.96.3.4"}
    assert "10.244.1.5" not in service_names(svc)
