"""Waits that stop as soon as waiting cannot help.

`kubectl wait` and `kubectl rollout status` wait out their whole time-out for a pod whose image cannot be
pulled, a container in a crash loop, a claim nothing will bind or a Deployment that does not exist. A
learner who runs a cell before doing its exercise would sit through every such time-out. These waits
read the same state, show progress, and end within seconds, saying what is wrong and where to look.

`labkit wait KIND/NAME` (cli.py) runs them from a lab's %%shell cells; checks and lab helpers call them
directly. What counts as "cannot get there by waiting" is kept narrow: a state the object's controller
will not leave without a change from the learner (STUCK), an object that is not there `GRACE` seconds
after the wait began, a pod mounting a ConfigMap or Secret that is not there `GRACE` seconds in, a rollout
past its progress deadline, a claim whose binding or provisioning failed for `GRACE` seconds, a Gateway no
controller accepts.
"""
from __future__ import annotations

import time

from labkit import cluster, progress
from labkit.cluster import read_or_none
from labkit.errors import LabError

# Container states that waiting does not cure: the pod needs a change first.
STUCK = ("CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
         "CreateContainerError", "RunContainerError")
# Seconds an object may be missing (or a claim's binding failing) before the wait says so: the cell that
# applies it has returned, so the API server has it; a controller's first attempt may still fail once.
GRACE = 5.0
# A claim's events when the volume it names does not fit it (VolumeMismatch), when no volume fits and no class
# provisions one (FailedBinding), or when its class cannot provision (ProvisioningFailed).
CLAIM_FAILURES = ("ProvisioningFailed", "FailedBinding", "VolumeMismatch")
KINDS = {"pod": "pod", "po": "pod", "pods": "pod", "deployment": "deployment", "deploy": "deployment",
         "deployments": "deployment", "statefulset": "statefulset", "sts": "statefulset",
         "statefulsets": "statefulset", "pvc": "pvc", "persistentvolumeclaim": "pvc", "gateway": "gateway",
         "gateways": "gateway", "gtw": "gateway", "hpa": "hpa", "horizontalpodautoscaler": "hpa",
         "vpa": "vpa", "verticalpodautoscaler": "vpa"}


def stuck(pod) -> str | None:
    """Why a pod cannot become Ready by waiting, or None."""
    if pod.metadata.deletion_timestamp is not None:
        return None  # on its way out: what its containers do no longer matters
    for cs in (pod.status.init_container_statuses or []) + (pod.status.container_statuses or []):
        waiting = cs.state.waiting if cs.state else None
        if waiting is not None and waiting.reason in STUCK:
            return f"stuck: pod {pod.metadata.name}'s container {cs.name} is in {waiting.reason}" + (
                f" ({waiting.message[:160]})" if waiting.message else "")
    scheduled = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
    if scheduled is not None and scheduled.status == "False" and "not found" in (scheduled.message or ""):
        return f"stuck: pod {pod.metadata.name} cannot be scheduled ({scheduled.message[:200]})"
    return None


def _missing(began: float, what: str) -> tuple[object, str]:
    if time.monotonic() - began > GRACE:
        return f"not there ({what} does not exist)", "missing"
    return False, "not created yet"


def wait(kube, target: str, timeout: float = 120, namespace: str | None = None) -> str:
    """Wait until `target` (KIND/NAME, as kubectl names it) is ready: a pod Ready, a Deployment or
    StatefulSet rolled out, a claim Bound, a Gateway Programmed, an HPA reading every metric it scales on, a
    VPA with a recommendation. Returns the last state seen; raises
    LabError at once when it cannot get there by waiting, WaitTimedOut after `timeout`."""
    kind, _, name = target.partition("/")
    kind = KINDS.get(kind.lower())
    if kind is None or not name:
        raise LabError(f"`{target}` is not something this wait knows: give KIND/NAME, KIND one of pod, deployment, "
                       "statefulset, pvc, gateway, hpa, vpa.", "for example `labkit wait deployment/api`.")
    ns = namespace or kube.namespace
    probe = {"pod": _pod, "deployment": _deployment, "statefulset": _statefulset, "pvc": _claim,
             "gateway": _gateway, "hpa": _hpa, "vpa": _vpa}[kind](kube, name, ns, time.monotonic())
    where = f"kubectl -n {ns} describe {kind} {name}"
    return progress.wait_until(probe, what=f"{kind} {name}", timeout=timeout, interval=0.5,
                               fix=f"see what it waits for: `{where}` (events at the bottom), then rerun.",
                               abort_fix=f"read the events at the bottom of `{where}` (and `kubectl -n {ns} logs` of a "
                                         "crashing pod); fix the manifest or the exercise above, and rerun.")


def _pod(kube, name, ns, began):
    def probe():
        pod = read_or_none(kube.core.read_namespaced_pod, name, ns)
        if pod is None:
            return _missing(began, f"pod {name} in {ns}")
        if cluster.has_condition(pod, "Ready"):
            return True, "Ready"
        late = time.monotonic() - began > GRACE
        return stuck(pod) or (late and _volume_source_missing(kube, pod)) or False, pod.status.phase
    return probe


def _volume_source_missing(kube, pod) -> str | None:
    """A pod that mounts a ConfigMap or Secret that does not exist waits in ContainerCreating until someone
    creates it (the kubelet retries the mount, events say FailedMount): name the missing one."""
    for volume in pod.spec.volumes or []:
        for source, kind, field, reader in ((volume.config_map, "ConfigMap", "name", "read_namespaced_config_map"),
                                            (volume.secret, "Secret", "secret_name", "read_namespaced_secret")):
            name = getattr(source, field, None) if source is not None and not source.optional else None
            if name and read_or_none(getattr(kube.core, reader), name, pod.metadata.namespace) is None:
                return (f"stuck: pod {pod.metadata.name} mounts the {kind} {name}, which does not exist in "
                        f"{pod.metadata.namespace}")
    return None


def _pods_stuck(kube, ns, selector: dict, extra: dict | None = None) -> str | None:
    labels = ",".join(f"{k}={v}" for k, v in {**selector, **(extra or {})}.items())
    for pod in kube.core.list_namespaced_pod(ns, label_selector=labels).items:
        if why := stuck(pod):
            return why
    return None


def _newest_hash(kube, dep) -> str | None:
    """The pod-template-hash of the Deployment's newest ReplicaSet (the pods a rollout brings up)."""
    sets = [rs for rs in kube.apps.list_namespaced_replica_set(
                dep.metadata.namespace, label_selector=",".join(f"{k}={v}" for k, v in
                                                                dep.spec.selector.match_labels.items())).items
            if any(o.uid == dep.metadata.uid for o in rs.metadata.owner_references or [])]
    if not sets:
        return None
    newest = max(sets, key=lambda rs: int((rs.metadata.annotations or {}).get("deployment.kubernetes.io/revision", 0)))
    return (newest.metadata.labels or {}).get("pod-template-hash")


def _workload(read, kind: str, name: str, ns: str, began: float):
    """(the Deployment or StatefulSet, the replicas it wants), or (None, what a probe says while it is missing)."""
    obj = read_or_none(read, name, ns)
    if obj is None:
        return None, _missing(began, f"{kind} {name} in {ns}")
    return obj, obj.spec.replicas if obj.spec.replicas is not None else 1


def _deployment(kube, name, ns, began):
    def probe():
        dep, want = _workload(kube.apps.read_namespaced_deployment, "deployment", name, ns, began)
        if dep is None:
            return want
        s = dep.status
        state = (f"{s.updated_replicas or 0} updated, {s.ready_replicas or 0} ready, "
                 f"{s.available_replicas or 0} available of {want}")
        progressing = next((c for c in s.conditions or [] if c.type == "Progressing"), None)
        if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
            return f"past its progress deadline ({progressing.message})", state
        refused = next((c for c in s.conditions or [] if c.type == "ReplicaFailure" and c.status == "True"), None)
        if refused is not None:  # its pods are refused by the API server (Pod Security, a quota): no waiting helps
            return f"refused its pods ({refused.reason}: {(refused.message or '')[:300]})", state
        if ((s.observed_generation or 0) >= dep.metadata.generation and (s.updated_replicas or 0) == want
                and (s.replicas or 0) == want and (s.available_replicas or 0) == want):
            return True, state
        newest = _newest_hash(kube, dep)
        if newest and (why := _pods_stuck(kube, ns, dep.spec.selector.match_labels or {},
                                          {"pod-template-hash": newest})):
            return why, state
        return False, state
    return probe


def _statefulset(kube, name, ns, began):
    def probe():
        sts, want = _workload(kube.apps.read_namespaced_stateful_set, "statefulset", name, ns, began)
        if sts is None:
            return want
        s = sts.status
        state = f"{s.ready_replicas or 0} ready, {s.updated_replicas or 0} updated of {want}"
        if ((s.observed_generation or 0) >= sts.metadata.generation and (s.ready_replicas or 0) == want
                and (s.updated_replicas or 0) == want and s.current_revision == s.update_revision):
            return True, state
        if why := _pods_stuck(kube, ns, sts.spec.selector.match_labels or {}):
            return why, state
        for claim in kube.core.list_namespaced_persistent_volume_claim(ns).items:
            owned = any(claim.metadata.name.startswith(f"{t.metadata.name}-{name}-")
                        for t in sts.spec.volume_claim_templates or [])
            if owned and (why := _claim_failed(kube, claim)):
                return why, state
        return False, state
    return probe


def _claim_failed(kube, claim) -> str | None:
    """A Pending claim whose binding or provisioning has failed for GRACE seconds, and why."""
    if claim.status.phase != "Pending":
        return None
    events = kube.core.list_namespaced_event(claim.metadata.namespace,
                                             field_selector=f"involvedObject.name={claim.metadata.name}").items
    failed = [e for e in events if e.type == "Warning" and e.reason in CLAIM_FAILURES
              and e.involved_object.uid == claim.metadata.uid]
    if not failed:
        return None
    first = min(e.first_timestamp or e.event_time or e.metadata.creation_timestamp for e in failed)
    from datetime import datetime, timezone

    if (datetime.now(timezone.utc) - first).total_seconds() < GRACE:
        return None
    last = max(failed, key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
    return f"stuck Pending: {last.reason}: {last.message[:200]}"


def _claim(kube, name, ns, began):
    def probe():
        claim = read_or_none(kube.core.read_namespaced_persistent_volume_claim, name, ns)
        if claim is None:
            return _missing(began, f"claim {name} in {ns}")
        if claim.status.phase == "Bound":
            return True, f"Bound to {claim.spec.volume_name}"
        return _claim_failed(kube, claim) or False, claim.status.phase
    return probe


def _gateway(kube, name, ns, began):
    group, version = "gateway.networking.k8s.io", "v1"

    def probe():
        gw = read_or_none(kube.custom.get_namespaced_custom_object, group, version, ns, "gateways", name)
        if gw is None:
            return _missing(began, f"gateway {name} in {ns}")
        conditions = {c["type"]: c for c in (gw.get("status") or {}).get("conditions") or []}
        programmed = conditions.get("Programmed", {})
        if programmed.get("status") == "True":
            return True, "Programmed"
        accepted = conditions.get("Accepted", {})
        if accepted.get("status") == "False":
            return f"not accepted ({accepted.get('reason')}: {accepted.get('message', '')[:160]})", "not accepted"
        klass = gw["spec"].get("gatewayClassName", "")
        if read_or_none(kube.custom.get_cluster_custom_object, group, version, "gatewayclasses", klass) is None:
            return f"for GatewayClass {klass!r}, which this cluster does not have (`kubectl get gatewayclass`)", "no class"
        return False, programmed.get("reason") or "no status yet"
    return probe


def hpa_blind(kube, hpa) -> str | None:
    """The HPA's complaint that a container has no request for what it measures, when it is about a pod that
    still exists (right after a rollout its last word may be about a pod already gone). Waiting does not cure it."""
    import re

    active = next((c for c in hpa.status.conditions or [] if c.type == "ScalingActive"), None)
    message = (active.message or "") if active is not None and active.status == "False" else ""
    if "missing request" not in message:
        return None
    pod = re.search(r'[Pp]od "?([a-z0-9.-]+/)?([a-z0-9-]+)"?', message)
    if pod and kube.pod(pod.group(2), hpa.metadata.namespace) is None:
        return None
    return message


def _hpa(kube, name, ns, began):
    """An HPA is ready once it has read a current value for each of its metrics (metrics-server samples every
    10 s and the HPA looks every 5 s on the course cluster: up to half a minute after its pods start)."""
    def probe():
        hpa = read_or_none(kube.autoscaling.read_namespaced_horizontal_pod_autoscaler, name, ns)
        if hpa is None:
            return _missing(began, f"hpa {name} in {ns}")
        if (blind := hpa_blind(kube, hpa)) is not None:
            return f"unable to compute a utilization ({blind[:220]})", "no request"
        read = len(hpa.status.current_metrics or [])
        want = len(hpa.spec.metrics or [])
        if want and read >= want and all(_has_value(m) for m in hpa.status.current_metrics):
            return True, f"{read} of {want} metrics read"
        return False, f"{read} of {want} metrics read"
    return probe


def _has_value(metric) -> bool:
    source = next((getattr(metric, k) for k in ("resource", "container_resource", "pods", "object", "external")
                   if getattr(metric, k, None) is not None), None)
    current = getattr(source, "current", None)
    return current is not None and any(v is not None for v in (
        current.average_utilization, current.average_value, getattr(current, "value", None)))


# A VPA's conditions that waiting does not cure: its targetRef names nothing it can read, or no pod matches it.
VPA_STUCK = ("ConfigUnsupported", "NoPodsMatched")


def _vpa(kube, name, ns, began):
    """A VPA is ready once its recommender has written a recommendation (its loop runs every 5 s here)."""
    def probe():
        vpa = read_or_none(kube.custom.get_namespaced_custom_object, "autoscaling.k8s.io", "v1", ns,
                           "verticalpodautoscalers", name)
        if vpa is None:
            return _missing(began, f"vpa {name} in {ns}")
        conditions = {c["type"]: c for c in (vpa.get("status") or {}).get("conditions") or []}
        for kind in VPA_STUCK:
            if conditions.get(kind, {}).get("status") == "True":
                return f"{kind}: {conditions[kind].get('message', '')[:200]}", kind
        if conditions.get("RecommendationProvided", {}).get("status") == "True":
            return True, "recommendation provided"
        return False, "no recommendation yet"
    return probe
