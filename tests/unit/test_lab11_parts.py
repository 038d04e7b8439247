"""Lab 11's reading of a failed rollout under load (labkit/labs/lab11.py): the pause before stopping, and the hint
a learner gets for each kind of failed request."""
from __future__ import annotations

from kubernetes.client import (V1Container, V1Deployment, V1DeploymentSpec, V1ExecAction, V1LabelSelector,
                               V1Lifecycle, V1LifecycleHandler, V1PodSpec, V1PodTemplateSpec, V1SleepAction)

from labkit.labs import lab11


def _api(pre_stop: V1LifecycleHandler | None) -> V1Deployment:
    container = V1Container(name="api", lifecycle=V1Lifecycle(pre_stop=pre_stop) if pre_stop else None)
    return V1Deployment(spec=V1DeploymentSpec(selector=V1LabelSelector(), template=V1PodTemplateSpec(
        spec=V1PodSpec(containers=[container]))))


def test_the_pause_before_stopping_is_read_from_either_idiom():
    assert lab11._pause(_api(None)) is None
    assert lab11._pause(_api(V1LifecycleHandler(sleep=V1SleepAction(seconds=10)))) == 10
    assert lab11._pause(_api(V1LifecycleHandler(**{"exec": V1ExecAction(command=["sleep", "5"])}))) == 5
    assert lab11._pause(_api(V1LifecycleHandler(**{"exec": V1ExecAction(command=["sh", "-c", "sleep 2.5"])}))) == 2.5
    assert lab11._pause(_api(V1LifecycleHandler(**{"exec": V1ExecAction(command=["nginx", "-s", "quit"])}))) is None


def test_refused_requests_point_at_a_missing_pause_or_at_one_too_short_for_this_machine():
    missing = lab11._failure_hint("3 ConnectionRefusedError, 1 TimeoutError")
    assert "what can a pod do between being told to stop and stopping" in missing
    short = lab11._failure_hint("3 ConnectionRefusedError", 5.0)
    assert "pauses 5 s" in short and "pause longer" in short
    assert "readiness probe" in lab11._failure_hint("303 HTTP 503", 10.0)
