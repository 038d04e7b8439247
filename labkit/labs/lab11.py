"""Lab 11 checks: the chapter's production deployment, made to hold on the course cluster.

Proven, not read off the manifest: the pods exist in a namespace that enforces Pod Security `restricted`
(the API server admitted them); a rolling update happened while a load Job sent requests, and the Job's own
count of failed requests is zero; the PodDisruptionBudget refuses an eviction when it must (the check asks the
eviction API, as `kubectl drain` does); the replicas run on both workers; `labkit audit` finds nothing critical.
"""
from __future__ import annotations

import re

from labkit import api_image, audit, cluster, loadjob, sampler
from labkit.checks import Checks, api_object, require
from labkit.cluster import read_or_none
from labkit.cluster_addons import kubectl
from labkit.errors import LabError, friendly

checks = Checks()

IMAGE = "course/api"
VERSIONS = {f"{IMAGE}:lab11-1": "1.0", f"{IMAGE}:lab11-2": "2.0"}
TOOLS = "loadtools"
ENFORCE = "pod-security.kubernetes.io/enforce"
WARMUP_SECONDS = 3  # the lab's API loads its data this long before it can serve (it answers 503 meanwhile)
REPLICAS = 4  # the chapter's
PAUSE_MS = 20  # between a load loop's requests: about 40 a second per loop
# kube-score asks for imagePullPolicy Always: the lab's images are loaded into kind's nodes, no registry has them.
KUBE_SCORE_IGNORED = ("container-image-pull-policy",)


@friendly
def prepare(lab) -> None:
    """The app's two images (versions 1.0 and 2.0, for the rolling update), the load tools, and the lab's
    namespace labelled to enforce the Pod Security Standard `restricted` (and to warn and audit with it)."""
    api_image.build_and_load(lab, VERSIONS, also=(loadjob.IMAGE,), env={"WARMUP_SECONDS": str(WARMUP_SECONDS)})
    ns = lab.kube.ensure_namespace()
    kubectl("label", "namespace", ns, "--overwrite", f"{ENFORCE}=restricted",
            "pod-security.kubernetes.io/warn=restricted", "pod-security.kubernetes.io/audit=restricted")
    tools = {f.name: f.read_text() for f in sorted((lab.workdir / "loadtools").glob("*.py"))}
    lab.kube.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": TOOLS}, "data": tools}], ns)
    if audit.kube_score_binary() is None:  # exercise 5's auditor, built by the CLI (not in this kernel)
        import subprocess
        import sys

        subprocess.run([sys.executable, "-m", "labkit.cli", "tools", "kube-score"], check=False)
    print(f"namespace {ns} enforces Pod Security `restricted`; images {', '.join(VERSIONS)} are in the nodes")


# --- the rolling update under load ----------------------------------------------------------------
def _load_job(url: str, seconds: int, workers: int) -> dict:
    """load.py against `url`, as a pod the namespace admits (restricted: non-root, no privileges). Paced: flat out,
    four loops sent ~750 requests a second, which loaded a 2-core machine until its kube-proxy took more than a
    5 s preStop pause to stop sending to a stopping pod; paced, they still meet every moment of a rollout."""
    secure = {"runAsNonRoot": True, "runAsUser": 65534, "allowPrivilegeEscalation": False,
              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    return loadjob.manifest(url, seconds, workers, TOOLS, {"requests": {"cpu": "50m", "memory": "64Mi"},
                                                           "limits": {"cpu": "300m", "memory": "128Mi"}}, secure,
                            pause_ms=PAUSE_MS)


def rollout_under_load(lab, to: str = f"{IMAGE}:lab11-2", seconds: int = 40, workers: int = 4) -> None:
    """Send requests to api-service for `seconds` from a Job, roll the Deployment api out to image `to` a few
    seconds in, and print what the load generator counted. Run again, it rolls back to the other image."""
    ns = lab.kube.namespace
    dep = read_or_none(lab.kube.apps.read_namespaced_deployment, "api", ns)
    if dep is None:
        raise LabError("There is no Deployment api to update.", "do exercise 1 first.")
    if not dep.status.ready_replicas:
        raise LabError("Deployment api has no ready pod: an update under load would measure nothing.",
                       "finish exercise 1 (`kubectl -n $NS describe replicaset -l app=api` says what is refused), "
                       "then rerun.")
    if dep.spec.template.spec.containers[0].image == to:
        to = next(t for t in VERSIONS if t != to)
    service = read_or_none(lab.kube.core.read_namespaced_service, "api-service", ns)
    if service is None:
        raise LabError("There is no Service api-service to send requests to.", "apply production.yaml (exercise 1).")
    # Its virtual IP rather than its name: the count measures the rollout, not the cluster's DNS (lab 09).
    url = f"http://{service.spec.cluster_ip}/"
    loadjob.start(lab, _load_job(url, seconds, workers))
    from labkit import progress

    progress.wait_until(lambda: (bool((loadjob.read(lab).status.active or 0)), "starting"), what="the load generator",
                        timeout=60, interval=1, fix="`kubectl -n $NS describe job load`.")
    import time

    time.sleep(5)  # a few seconds of traffic before the update: the baseline
    kubectl("-n", ns, "set", "image", "deployment/api", f"api={to}")
    print(f"rolling api out to {to} under load ({workers} loops sending requests to api-service, {url}, for "
          f"{seconds} s)")

    def read():
        d = lab.kube.apps.read_namespaced_deployment("api", ns)
        return {"updated": d.status.updated_replicas or 0, "ready": d.status.ready_replicas or 0,
                "available": d.status.available_replicas or 0}

    def stop(history):
        return "the load ended" if loadjob.ended(loadjob.read(lab)) is not None else None

    sampler.watch(read, stop, timeout=seconds + 60, interval=2)
    total = loadjob.total(lab)
    print(f"load generator: {total[0]} answered, {total[1]} failed" + (f" ({total[2]})" if total[2] else "")
          if total else "load generator: no total")


# --- the drain ------------------------------------------------------------------------------------
def drain(lab, timeout: float = 180) -> None:
    """What `kubectl drain NODE` does to api's pods on the worker holding most of them: evict each through the
    eviction API (which asks the PodDisruptionBudgets), retrying every 5 s while a budget refuses. Without the
    cordon a drain starts with: on a shared cluster (a classroom's, CI's) a cordoned node turns away everyone's
    new pods, and a lab touches only what it made; so a replacement may land on the same node."""
    import time

    dep = lab.kube.apps.read_namespaced_deployment("api", lab.kube.namespace)
    pods = _api_pods(lab, dep)
    counts = {}
    for pod in pods:
        counts[pod.spec.node_name] = counts.get(pod.spec.node_name, 0) + 1
    if not counts:
        raise LabError("Deployment api has no pod on any node to evict.", "finish exercise 1, then rerun.")
    node = max(counts, key=counts.get)
    began = time.monotonic()
    print(f"evicting api's {counts[node]} pod(s) on node/{node}, one after another")
    for pod in [p.metadata.name for p in pods if p.spec.node_name == node]:
        while _evict(lab, pod) is not None:
            if time.monotonic() - began > timeout:
                raise LabError(f"The drain of {node} did not finish in {timeout:.0f} s: the budget never allowed "
                               f"evicting {pod}.", "`kubectl -n $NS get pdb`: how many disruptions does it allow? "
                               "A budget that allows none blocks every drain.")
            print(f"error when evicting pod {pod} (will retry after 5s): Cannot evict pod as it would violate the "
                  f"pod's disruption budget ({time.monotonic() - began:.0f} s)", flush=True)
            time.sleep(5)
        print(f"pod/{pod} evicted ({time.monotonic() - began:.0f} s)", flush=True)
    print(f"api's pods on node/{node} evicted in {time.monotonic() - began:.0f} s")


# --- checks -----------------------------------------------------------------------------------------
def _api(lab):
    return api_object(lambda: lab.kube.apps.read_namespaced_deployment("api", lab.kube.namespace),
                      f"there is no Deployment api in {lab.kube.namespace}.", "kubectl -n $NS apply -f production.yaml")


def _api_pods(lab, dep) -> list:
    selector = ",".join(f"{k}={v}" for k, v in dep.spec.selector.match_labels.items())
    return [p for p in lab.kube.core.list_namespaced_pod(lab.kube.namespace, label_selector=selector).items
            if p.metadata.deletion_timestamp is None]


@checks("admitted", "Deployment api runs its replicas in a namespace that enforces Pod Security `restricted`")
@friendly
def admitted(lab):
    ns = lab.kube.core.read_namespace(lab.kube.namespace)
    level = (ns.metadata.labels or {}).get(ENFORCE)
    require(level == "restricted", f"namespace {lab.kube.namespace} enforces {level or 'no Pod Security level'}, "
            "not restricted: the pods were let in by lowering the bar.",
            f"put the label back (kubectl label namespace $NS --overwrite {ENFORCE}=restricted) and make the pods "
            "meet it.")
    dep = _api(lab)
    failure = next((c for c in dep.status.conditions or [] if c.type == "ReplicaFailure" and c.status == "True"), None)
    require(failure is None, f"the API server refuses api's pods: {(failure.message if failure else '')[:300]}",
            "read which fields the message names and set them in the pod's securityContext (the Pod Security "
            "Standards page lists what `restricted` requires).")
    want = dep.spec.replicas or 1
    ready = dep.status.ready_replicas or 0
    require(ready == want and want >= 2, f"api has {ready} of {want} replicas ready.",
            "`kubectl -n $NS describe pod -l app=api` says why (an image? a probe? runAsNonRoot with a named user?).")
    return (f"{ready} pods of api admitted under `restricted` (non-root, no privilege escalation, no "
            "capabilities, the runtime's seccomp profile) and ready.")


@checks("zero-downtime", "A rolling update of api while the load Job ran, with no failed request")
@friendly
def zero_downtime(lab):
    dep = _api(lab)
    began, ended = loadjob.finished(lab, "rolls api out under load")
    total = loadjob.total(lab)
    require(total is not None, "the load generator printed no total.", "`kubectl -n $NS logs job/load`.")
    sets = [rs for rs in lab.kube.apps.list_namespaced_replica_set(lab.kube.namespace).items
            if any(o.uid == dep.metadata.uid for o in rs.metadata.owner_references or [])]
    during = [rs for rs in sets if began <= rs.metadata.creation_timestamp.timestamp() <= ended]
    newest = max(sets, key=lambda rs: int((rs.metadata.annotations or {}).get("deployment.kubernetes.io/revision", 0)))
    rolled = any(rs.metadata.uid == newest.metadata.uid for rs in during) or _rolled_back_during(dep, newest, began, ended)
    require(rolled, "no rollout started while the load ran: nothing was updated under it.",
            "run the cell that rolls api out under load (it sets a new image a few seconds in).")
    ok, failed, kinds = total
    require(ok >= 50, f"only {ok} requests were answered during the update.", "rerun the cell.")
    require(failed == 0, f"{failed} of {ok + failed} requests failed during the rolling update ({kinds}).",
            _failure_hint(kinds, _pause(dep)))
    return f"{ok} requests answered and none failed while api rolled out to {newest.spec.template.spec.containers[0].image}."


def _pause(dep) -> float | None:
    """Seconds api's container waits before it is signalled to stop (a preStop sleep, or `exec sleep N`), or None."""
    lifecycle = dep.spec.template.spec.containers[0].lifecycle
    pre_stop = lifecycle.pre_stop if lifecycle is not None else None
    if pre_stop is None:
        return None
    if pre_stop.sleep is not None:
        return float(pre_stop.sleep.seconds)
    run = getattr(pre_stop, "var_exec", None) or getattr(pre_stop, "_exec", None)  # the client's name for `exec`
    command = (run.command if run is not None else None) or []
    slept = re.findall(r"\bsleep\s+(\d+(?:\.\d+)?)\b", " ".join(command))
    return float(slept[-1]) if slept else None


def _failure_hint(kinds: str, pause: float | None = None) -> str:
    """What the load generator's kinds of failure point at: an answer from a pod that could not serve yet, or no
    answer from one that had already stopped (with a pause already there: one too short for this machine)."""
    hints = []
    if "HTTP 503" in kinds:
        hints.append("HTTP 503 is a new pod answering while it still warms up: it was sent traffic before it was "
                     "ready, so what decides when a pod is ready (its readiness probe) did not hold it back")
    if any(word in kinds for word in ("Refused", "Reset", "Timeout", "RemoteDisconnected")):
        stopped = "a refused or cut connection is a pod that had already stopped still being sent requests: "
        hints.append(stopped + (
            f"api pauses {pause:g} s before it is told to stop, and on this machine the news that a pod is stopping "
            f"took longer than that to reach every node (a busy machine takes seconds); pause longer, within the "
            f"grace period" if pause else
            "Services and every node learn a moment later that a pod is stopping; what can a pod do between being "
            "told to stop and stopping"))
    return "; ".join(hints) + "." if hints else (
        "look at when a new pod gets traffic (its probes) and what an old one does when it is told to stop.")


def _rolled_back_during(dep, newest, began: float, ended: float) -> bool:
    """A rollback to an existing ReplicaSet creates none: its revision annotation moves instead, and the
    Deployment's Progressing condition says when."""
    progressing = next((c for c in dep.status.conditions or [] if c.type == "Progressing"), None)
    when = progressing.last_update_time.timestamp() if progressing and progressing.last_update_time else 0
    return began <= when <= ended + 60


@checks("budget", "A PodDisruptionBudget for api that lets a drain evict one pod at a time, and no more")
@friendly
def budget(lab):
    from kubernetes import client

    dep = _api(lab)
    labels = dep.spec.template.metadata.labels or {}
    pdbs = [p for p in client.PolicyV1Api(lab.kube.client).list_namespaced_pod_disruption_budget(
        lab.kube.namespace).items if audit._selects((p.spec.selector.to_dict() if p.spec.selector else {}) and
                                                    _camel(p.spec.selector.to_dict()), labels)]
    require(pdbs, "no PodDisruptionBudget selects api's pods: a drain may evict all of them at once.",
            "kubectl -n $NS apply -f pdb.yaml (a budget whose selector matches app: api).")
    pdb = pdbs[0]
    allowed = pdb.status.disruptions_allowed
    ready = dep.status.ready_replicas or 0
    require(allowed == 1, f"{pdb.metadata.name} allows {allowed} disruption(s) with {ready} pods ready"
            + (": a drain could not evict any of them, and never finishes." if allowed == 0 else
               ": a drain may evict several pods at once." if allowed and allowed > 1 else "."),
            "one pod at a time: size minAvailable (or maxUnavailable) against the replica count.")
    # Proven by trying, as `kubectl drain` does: one eviction for real, then a second, dry run, must be refused.
    pods = sorted((p for p in _api_pods(lab, dep) if cluster.has_condition(p, "Ready")),
                  key=lambda p: p.metadata.name)
    require(len(pods) >= 2, "api has fewer than 2 ready pods to try evicting.", "wait for the rollout and rerun.")
    _evict(lab, pods[0].metadata.name)
    refused = _evict(lab, pods[1].metadata.name, dry_run=True)
    require(refused is not None, f"{pdb.metadata.name} let a second pod be evicted while the first was still "
            "being replaced.", "allow one disruption at a time.")
    return (f"{pdb.metadata.name}: {pods[0].metadata.name} evicted, and a second eviction refused while it is "
            f"replaced ({refused}).")


def _camel(selector: dict) -> dict:
    return {"matchLabels": selector.get("match_labels") or {},
            "matchExpressions": [{"key": e["key"], "operator": e["operator"], "values": e.get("values")}
                                 for e in selector.get("match_expressions") or []]}


def _evict(lab, pod: str, dry_run: bool = False) -> str | None:
    """Ask the eviction API to evict a pod; None when it did, the refusal's reason when it would not."""
    from kubernetes import client

    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod, namespace=lab.kube.namespace),
                             delete_options=client.V1DeleteOptions(dry_run=["All"] if dry_run else None))
    try:
        lab.kube.core.create_namespaced_pod_eviction(pod, lab.kube.namespace, body)
    except client.ApiException as exc:
        if exc.status == 429:
            return "429: it would violate the pod's disruption budget"
        raise
    return None


@checks("spread", "api's replicas spread evenly over the workers (at most one apart), by a rule the scheduler must keep")
@friendly
def spread(lab):
    dep = _api(lab)
    spec = dep.spec.template.spec
    hard_spread = [c for c in spec.topology_spread_constraints or []
                   if c.topology_key == "kubernetes.io/hostname" and c.when_unsatisfiable == "DoNotSchedule"]
    anti = spec.affinity.pod_anti_affinity if spec.affinity else None
    hard_anti = [t for t in (anti.required_during_scheduling_ignored_during_execution or [])
                 if t.topology_key == "kubernetes.io/hostname"] if anti else []
    soft_spread = [c for c in spec.topology_spread_constraints or [] if c.topology_key == "kubernetes.io/hostname"
                   and c.when_unsatisfiable == "ScheduleAnyway"]
    require(hard_spread or hard_anti or not soft_spread, "api's spread constraint says ScheduleAnyway: a preference "
            "the scheduler weighs against the rest, like the chapter's preferred anti-affinity.",
            "a constraint the scheduler must keep leaves a pod Pending rather than break it (whenUnsatisfiable: "
            "DoNotSchedule).")
    require(hard_spread or hard_anti, "nothing obliges the scheduler to spread api: the chapter's "
            "*preferred* anti-affinity is a wish it may ignore when a node is busy.",
            "a topology spread constraint on kubernetes.io/hostname that the scheduler must keep (or a required "
            "anti-affinity, which allows one pod per node only).")
    pods = _api_pods(lab, dep)
    stuck = [p for p in pods if not p.spec.node_name]
    if stuck:
        why = next((c.message for c in stuck[0].status.conditions or [] if c.type == "PodScheduled"), "") or ""
        require(False, f"{len(stuck)} pod(s) of api cannot be placed: \"{why[:220]}\".",
                "a rule the scheduler cannot keep leaves pods Pending: which nodes does your rule count, and can "
                "every replica fit it?")
    nodes = {}
    for pod in pods:
        if pod.spec.node_name:
            nodes[pod.spec.node_name] = nodes.get(pod.spec.node_name, 0) + 1
    workers = [n.metadata.name for n in lab.kube.nodes()
               if not any(t.effect == "NoSchedule" for t in n.spec.taints or [])]
    counts = [nodes.get(w, 0) for w in workers]
    where = ", ".join(f"{w} {nodes.get(w, 0)}" for w in sorted(workers))
    require(max(counts, default=0) - min(counts, default=0) <= 1,
            f"api's pods are {where}: more than one apart, although a rule was in force when they were placed.",
            "during a rollout the old pods count too, and are gone afterwards: the constraint can count each "
            "revision's pods on their own (its matchLabelKeys); then roll out again.")
    return f"api's pods: {where}: never more than one apart, by a rule the scheduler keeps."


@checks("audited", "`labkit audit` finds nothing critical in namespace lab11")
@friendly
def audited(lab):
    from labkit import cluster_parts as parts

    objects = audit.from_namespace(lab.kube.namespace, kubectl)
    version = ".".join(parts.K8S_VERSION.lstrip("v").split(".")[:2])
    findings = audit.audit(objects, version, audit.kube_score_binary(), ignore=KUBE_SCORE_IGNORED)
    critical = [f for f in findings if f.severity == audit.CRITICAL]
    require(not critical, f"{len(critical)} critical finding(s), the first: {critical[0].object} [{critical[0].source}] "
            f"{critical[0].what}" if critical else "", (critical[0].fix if critical else "")[:300])
    n = audit.counts(findings)
    return f"no critical finding ({n[audit.WARNING]} warnings, {n[audit.OK]} passed)."
