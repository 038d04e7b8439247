"""Lab 10's readings that need no cluster: what the last apply owns, what the scheduler counts for a pod.
The checks themselves run against the real cluster in tests/labs (solved, learner version, answer variants)."""
import json
from types import SimpleNamespace as NS

from labkit.labs import lab10


def deployment(annotation=None, managed=(), replicas=2):
    notes = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(annotation)} if annotation else {}
    return NS(metadata=NS(annotations=notes, managed_fields=list(managed)), spec=NS(replicas=replicas))


def test_a_replica_count_in_the_last_client_side_apply_is_found():
    assert lab10._last_applied_replicas(deployment({"spec": {"replicas": 3}})) == (True, 3)
    assert lab10._last_applied_replicas(deployment({"spec": {"template": {}}})) == (False, None)


def test_a_replica_count_owned_by_a_server_side_apply_is_found_and_an_update_is_not_an_apply():
    owned = NS(operation="Apply", manager="kubectl", fields_v1={"f:spec": {"f:replicas": {}}})
    hpa_write = NS(operation="Update", manager="kube-controller-manager", fields_v1={"f:spec": {"f:replicas": {}}})
    assert lab10._last_applied_replicas(deployment(managed=[owned])) == (True, 2)
    assert lab10._last_applied_replicas(deployment(managed=[hpa_write])) == (False, None)


def test_a_count_handed_over_to_a_manager_that_never_applies_again_is_the_hpas():
    """The server-side apply hand-over the Kubernetes docs describe: a manager of its own applied the count once."""
    handed = NS(operation="Apply", manager="handover-to-hpa", fields_v1={"f:spec": {"f:replicas": {}}})
    applier = NS(operation="Apply", manager="kubectl", fields_v1={"f:spec": {"f:template": {}}})
    assert lab10._last_applied_replicas(deployment(managed=[handed, applier])) == (False, None)


def container(cpu, restart_policy=None):
    return NS(resources=NS(requests={"cpu": cpu} if cpu else None), restart_policy=restart_policy)


def test_the_scheduler_counts_the_sum_of_containers_or_the_largest_init_container():
    pod = NS(spec=NS(containers=[container("250m"), container("0.5"), container(None)],
                     init_containers=[container("1")]))
    assert lab10._pod_cpu(pod) == 1000
    pod.spec.init_containers = [container("100m")]
    assert lab10._pod_cpu(pod) == 750
    pod.spec.init_containers = [container("100m", restart_policy="Always")]  # a native sidecar runs alongside
    assert lab10._pod_cpu(pod) == 850
