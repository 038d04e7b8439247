"""labkit.waits: a wait ends at once, saying why, when waiting cannot help, and only then.
The objects are fakes shaped like the Kubernetes client's; the waits run for real against the cluster in
every cluster lab (`labkit wait` in their cells, and tests/labs/test_learner_versions.py)."""
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace as NS

import pytest
from kubernetes import client

from labkit import waits


def _404(*_):
    raise client.ApiException(status=404)


def pod(name="api-1", waiting=None, ready=False, deleting=False, labels=None):
    state = NS(waiting=NS(reason=waiting, message="back-off pulling image") if waiting else None)
    return NS(metadata=NS(name=name, deletion_timestamp=datetime.now(timezone.utc) if deleting else None,
                          labels=labels or {}),
              status=NS(phase="Pending", init_container_statuses=[],
                        container_statuses=[NS(name="api", state=state)],
                        conditions=[NS(type="Ready", status="True" if ready else "False", message="")]))


def deployment(updated=3, ready=3, available=3, replicas=3, progressing=None):
    return NS(metadata=NS(generation=2, uid="d1", namespace="lab06"),
              spec=NS(replicas=3, selector=NS(match_labels={"app": "api"})),
              status=NS(observed_generation=2, updated_replicas=updated, ready_replicas=ready,
                        available_replicas=available, replicas=replicas,
                        conditions=[NS(type="Progressing", reason=progressing, message="took too long")]
                        if progressing else []))


def replica_set(revision, hash_):
    return NS(metadata=NS(owner_references=[NS(uid="d1")], annotations={"deployment.kubernetes.io/revision": revision},
                          labels={"pod-template-hash": hash_}))


class FakeKube:
    namespace = "lab06"

    def __init__(self, dep=None, pods=(), claim=None, events=(), gateway=None, classes=()):
        self.apps = NS(read_namespaced_deployment=(lambda *_: dep) if dep else _404,
                       list_namespaced_replica_set=lambda *_, **__: NS(items=[replica_set("1", "old"),
                                                                               replica_set("2", "new")]))
        self.seen_selectors = []

        def list_pods(_ns, label_selector=""):
            self.seen_selectors.append(label_selector)
            wanted = dict(kv.split("=") for kv in label_selector.split(",") if kv)
            return NS(items=[p for p in pods if all(p.metadata.labels.get(k) == v for k, v in wanted.items())])

        self.core = NS(list_namespaced_pod=list_pods,
                       read_namespaced_persistent_volume_claim=(lambda *_: claim) if claim else _404,
                       list_namespaced_event=lambda *_, **__: NS(items=list(events)))
        self.custom = NS(get_namespaced_custom_object=(lambda *_: gateway) if gateway else _404,
                         get_cluster_custom_object=lambda g, v, plural, name: {} if name in classes else _404())


def probe(kind, kube, began=None):
    maker = {"deployment": waits._deployment, "pvc": waits._claim, "gateway": waits._gateway}[kind]
    return maker(kube, "x", "lab06", time.monotonic() if began is None else began)()


def test_a_missing_object_is_waited_for_a_few_seconds_then_named():
    assert probe("deployment", FakeKube())[0] is False
    said = probe("deployment", FakeKube(), began=time.monotonic() - waits.GRACE - 1)[0]
    assert isinstance(said, str) and "does not exist" in said


def test_a_rolled_out_deployment_is_done():
    assert probe("deployment", FakeKube(deployment()))[0] is True


def test_a_new_pod_that_cannot_pull_its_image_ends_the_wait_with_the_reason():
    stuck = pod("api-new", waiting="ImagePullBackOff", labels={"app": "api", "pod-template-hash": "new"})
    said, state = probe("deployment", FakeKube(deployment(updated=1, ready=0, available=0, replicas=4), [stuck]))
    assert isinstance(said, str) and "ImagePullBackOff" in said and "api-new" in said
    assert "1 updated" in state


def test_an_old_pod_in_trouble_does_not_end_a_rollout_that_replaces_it():
    old = pod("api-old", waiting="CrashLoopBackOff", labels={"app": "api", "pod-template-hash": "old"})
    kube = FakeKube(deployment(updated=1, ready=2, available=2, replicas=4), [old])
    assert probe("deployment", kube)[0] is False
    assert any("pod-template-hash=new" in s for s in kube.seen_selectors)


def test_a_rollout_past_its_deadline_ends_the_wait():
    said = probe("deployment", FakeKube(deployment(updated=1, progressing="ProgressDeadlineExceeded")))[0]
    assert isinstance(said, str) and "progress deadline" in said


def test_a_deployment_whose_pods_the_api_server_refuses_ends_the_wait():
    """Pod Security Admission (lab 11) refuses the pods, not the Deployment: its ReplicaFailure condition says so."""
    dep = deployment(updated=0, ready=0, available=0, replicas=0)
    dep.status.conditions = [NS(type="ReplicaFailure", status="True", reason="FailedCreate",
                                message='pods "api-1" is forbidden: violates PodSecurity "restricted:latest"')]
    said = probe("deployment", FakeKube(dep))[0]
    assert isinstance(said, str) and "FailedCreate" in said and "restricted" in said
    dep.status.conditions[0].status = "False"
    assert probe("deployment", FakeKube(dep))[0] is False


def test_a_terminating_pod_is_not_stuck():
    assert waits.stuck(pod(waiting="CrashLoopBackOff", deleting=True)) is None
    assert "CrashLoopBackOff" in waits.stuck(pod(waiting="CrashLoopBackOff"))
    assert waits.stuck(pod(waiting="ContainerCreating")) is None


def claim(phase="Pending"):
    return NS(metadata=NS(name="data", namespace="lab08", uid="c1"), spec=NS(volume_name="lab08-pv"),
              status=NS(phase=phase))


def event(reason, age):
    at = datetime.now(timezone.utc) - timedelta(seconds=age)
    return NS(type="Warning", reason=reason, message="no persistent volumes available for this claim",
              involved_object=NS(uid="c1"), first_timestamp=at, last_timestamp=at, event_time=None,
              metadata=NS(creation_timestamp=at))


@pytest.mark.parametrize("age, ends", [(1, False), (waits.GRACE + 2, True)])
def test_a_claim_whose_binding_keeps_failing_ends_the_wait(age, ends):
    said = probe("pvc", FakeKube(claim=claim(), events=[event("FailedBinding", age)]))[0]
    assert (isinstance(said, str) and "FailedBinding" in said) is ends


def test_a_bound_claim_is_done():
    assert probe("pvc", FakeKube(claim=claim("Bound")))[0] is True


def test_a_gateway_of_a_class_the_cluster_lacks_ends_the_wait():
    gw = {"spec": {"gatewayClassName": "nginx"}, "status": {"conditions": []}}
    said = probe("gateway", FakeKube(gateway=gw, classes=("traefik",)))[0]
    assert isinstance(said, str) and "'nginx'" in said
    assert probe("gateway", FakeKube(gateway={**gw, "spec": {"gatewayClassName": "traefik"}},
                                     classes=("traefik",)))[0] is False
    programmed = {"spec": {"gatewayClassName": "traefik"},
                  "status": {"conditions": [{"type": "Programmed", "status": "True"}]}}
    assert probe("gateway", FakeKube(gateway=programmed, classes=("traefik",)))[0] is True


def test_an_unknown_kind_is_one_sentence_with_an_example():
    with pytest.raises(waits.LabError, match="labkit wait deployment/api"):
        waits.wait(FakeKube(), "service/api")


def test_a_pod_mounting_a_config_map_that_does_not_exist_is_named_after_the_grace():
    waiting = pod("frontend")
    waiting.metadata.namespace = "lab09-web"
    waiting.spec = NS(volumes=[NS(config_map=NS(name="net-tools", optional=None), secret=None)])
    kube = FakeKube()
    kube.core.read_namespaced_pod = lambda *_: waiting
    kube.core.read_namespaced_config_map = _404
    assert waits._pod(kube, "frontend", "lab09-web", time.monotonic())()[0] is False
    said = waits._pod(kube, "frontend", "lab09-web", time.monotonic() - waits.GRACE - 1)()[0]
    assert isinstance(said, str) and "ConfigMap net-tools" in said and "does not exist" in said
    kube.core.read_namespaced_config_map = lambda *_: NS()
    assert waits._pod(kube, "frontend", "lab09-web", time.monotonic() - waits.GRACE - 1)()[0] is False


def hpa(active=None, message="", current=(), metrics=1):
    conditions = [NS(type="ScalingActive", status=active, message=message)] if active else []
    return NS(metadata=NS(namespace="lab10"), spec=NS(metrics=[NS()] * metrics),
              status=NS(conditions=conditions, current_metrics=list(current)))


def cpu_reading(utilization):
    return NS(resource=NS(current=NS(average_utilization=utilization, average_value=None, value=None)),
              container_resource=None, pods=None, object=None, external=None)


class HpaKube:
    namespace = "lab10"

    def __init__(self, obj, pods=()):
        self.autoscaling = NS(read_namespaced_horizontal_pod_autoscaler=(lambda *_: obj) if obj else _404)
        self.pod = lambda name, ns=None: NS() if name in pods else None


MISSING = ('the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for '
           'cpu in container "log-shipper" of Pod "busy-7d9f-abcde"')


def test_an_hpa_blind_to_a_pod_that_exists_stops_the_wait_at_once():
    probe = waits._hpa(HpaKube(hpa("False", MISSING), pods=("busy-7d9f-abcde",)), "busy", "lab10", time.monotonic())
    done, detail = probe()
    assert isinstance(done, str) and "log-shipper" in done and detail == "no request"


def test_an_hpa_complaining_about_a_pod_already_gone_is_waited_for():
    probe = waits._hpa(HpaKube(hpa("False", MISSING), pods=()), "busy", "lab10", time.monotonic())
    assert probe() == (False, "0 of 1 metrics read")


def test_an_hpa_is_ready_once_every_metric_has_a_value():
    assert waits._hpa(HpaKube(hpa("True", current=[cpu_reading(None)])), "b", "lab10", time.monotonic())()[0] is False
    assert waits._hpa(HpaKube(hpa("True", current=[cpu_reading(7)])), "b", "lab10", time.monotonic())() == (
        True, "1 of 1 metrics read")
    two = hpa("True", current=[cpu_reading(7)], metrics=2)  # the chapter's Pods metric, never read here
    assert waits._hpa(HpaKube(two), "b", "lab10", time.monotonic())()[0] is False
