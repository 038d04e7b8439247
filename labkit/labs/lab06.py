"""Lab 06 checks: a Pod, a Deployment, Services of each type, a rolling update and a rollback, and a
ConfigMap change reaching the pods, on the course cluster.

Every check reads live state from the API server (objects, ReplicaSets, events, EndpointSlices), the
processes themselves (`exec`: the environment a container really got) and real traffic (the API's
request log: which pod answered which client), never the YAML the learner wrote.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime

from labkit import api_image, cluster, cluster_addons, plots, progress
from labkit.checks import Checks, api_object, require
from labkit.errors import LabError, friendly

checks = Checks()

APP = "api"
IMAGE = "course/api"
VERSIONS = ("1.0", "1.1")
SIDECAR_IMAGE = "docker.io/library/debian:bookworm-slim"
CLIENT_IMAGE = "docker.io/library/python:3.11-slim-bookworm"
PORT = 3000
NODE_PORT = 30001

# The client pod's tool: N requests to a URL, one line per answer (which pod, which version).
FETCH_PY = '''import json, sys, time, urllib.request
url, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1
for i in range(n):
    for attempt in range(5 if i == 0 else 1):  # a Service just created needs a second before DNS and kube-proxy know it
        try:
            body = json.load(urllib.request.urlopen(url, timeout=3))
            print(body.get("hostname", "?"), body.get("version", "?"))
            break
        except Exception as exc:
            error = exc
            time.sleep(1 if i == 0 else 0)
    else:
        print("error:", error)
'''


# --- set-up -------------------------------------------------------------------------------------
@friendly
def prepare(lab) -> None:
    """Images course/api:1.0 and 1.1 built from the sample app and loaded into the nodes, with the
    sidecar's and the client's images; the client pod (with ./fetch.py) the exercises send requests from;
    MetalLB working, for the LoadBalancer Service."""
    api_image.build_and_load(lab, {f"{IMAGE}:{v}": v for v in VERSIONS}, APP, also=(SIDECAR_IMAGE, CLIENT_IMAGE))
    _client_pod(lab)
    cluster_addons.ensure("metallb")


def _client_pod(lab) -> None:
    from kubernetes import client

    core, ns = lab.kube.core, lab.kube.namespace
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="client-tools", labels=lab.kube.labels),
                            data={"fetch.py": FETCH_PY})
    try:
        core.create_namespaced_config_map(ns, cm)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_config_map("client-tools", ns, cm)
    if lab.kube.pod("client") is None:
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name="client", labels={**lab.kube.labels, "role": "client"}),
            spec=client.V1PodSpec(
                termination_grace_period_seconds=1,
                containers=[client.V1Container(
                    name="client", image=CLIENT_IMAGE, command=["sleep", "infinity"], working_dir="/tools",
                    volume_mounts=[client.V1VolumeMount(name="tools", mount_path="/tools")])],
                volumes=[client.V1Volume(name="tools",
                                         config_map=client.V1ConfigMapVolumeSource(name="client-tools"))]))
        core.create_namespaced_pod(ns, pod)
    lab.kube.wait_pod_ready("client", timeout=90)
    print(f"pod client ready in {ns}: `kubectl -n $NS exec client -- python fetch.py URL N` sends N requests")


# --- reading state ------------------------------------------------------------------------------
def _container(spec_containers, name: str):
    return next((c for c in spec_containers or [] if c.name == name), None)


def _probe_path(probe) -> str | None:
    return probe.http_get.path if probe is not None and probe.http_get is not None else None


def _env_source(container, name: str):
    return next((e for e in container.env or [] if e.name == name), None)


def _running(pod, container: str) -> bool:
    status = _container(pod.status.container_statuses, container)
    return status is not None and status.state is not None and status.state.running is not None


def _process_env(lab, pod: str, container: str, name: str) -> str | None:
    code, out, _ = lab.kube.exec(pod, ["printenv", name], container=container)
    return out.strip() if code == 0 else None


def _secret_value(lab, name: str, key: str) -> str | None:
    import base64

    secret = api_object(lambda: lab.kube.core.read_namespaced_secret(name, lab.kube.namespace),
                        f"there is no Secret {name} in {lab.kube.namespace}.",
                        f"kubectl -n $NS create secret generic {name} --from-literal={key}=<a value of your own>")
    raw = (secret.data or {}).get(key)
    return base64.b64decode(raw).decode() if raw is not None else None


def deployment_pods(lab, name: str = APP) -> list:
    """The pods of a Deployment's ReplicaSets (owner references, not labels), not being deleted."""
    rs_names = {rs.metadata.name for rs in replica_sets(lab, name)}
    pods = lab.kube.core.list_namespaced_pod(lab.kube.namespace).items
    return [p for p in pods if p.metadata.deletion_timestamp is None
            and any(o.kind == "ReplicaSet" and o.name in rs_names for o in p.metadata.owner_references or [])]


def replica_sets(lab, name: str = APP) -> list:
    sets = lab.kube.apps.list_namespaced_replica_set(lab.kube.namespace).items
    return [rs for rs in sets if any(o.kind == "Deployment" and o.name == name
                                     for o in rs.metadata.owner_references or [])]


def _revision(rs) -> int:
    return int((rs.metadata.annotations or {}).get("deployment.kubernetes.io/revision", "0"))


def _image(template) -> str:
    c = _container(template.spec.containers, APP) or template.spec.containers[0]
    return c.image


def _pods(value, replicas: int, up: bool) -> int | None:
    """A rolling update's bound in pods: a number, or a percentage of the replicas (maxSurge rounds up,
    maxUnavailable down, as the Deployment controller does)."""
    import math

    text = str(value)
    if value is None or not text.rstrip("%").isdigit():
        return None
    if not text.endswith("%"):
        return int(text)
    share = int(text[:-1]) * replicas / 100
    return math.ceil(share) if up else math.floor(share)


def _deployment(lab, hint: str):
    return api_object(lambda: lab.kube.apps.read_namespaced_deployment(APP, lab.kube.namespace),
                      f"there is no Deployment {APP} in {lab.kube.namespace}.", hint)


def _rs_events(lab, reason: str, uids: set[str] | None = None) -> list:
    """Events of ReplicaSets (of these objects only, when given: a ReplicaSet deleted and made again under
    the same name is another object, with another uid and its own history)."""
    events = lab.kube.core.list_namespaced_event(lab.kube.namespace, field_selector=f"reason={reason}").items
    return [e for e in events if e.involved_object.kind == "ReplicaSet" and (uids is None or e.involved_object.uid in uids)]


# The API's request log: client address, path, status, and the Host header, the address the client
# asked for (a Service's name or virtual IP, a node port, a LoadBalancer address, a pod's own IP).
REQUEST_LINE = re.compile(r"^(?P<ip>[\d.:a-f]+) GET (?P<path>\S+) -> (?P<status>\d+)(?: host=(?P<host>\S+))?")


@dataclass(frozen=True)
class Request:
    pod: str      # the pod that answered
    ip: str       # where the connection came from
    path: str
    status: str
    host: str     # the Host header: "api", "10.96.0.12", "localhost:30001", "10.244.1.5:3000" ...

    @property
    def hostname(self) -> str:
        return self.host.rsplit(":", 1)[0] if self.host.count(":") == 1 else self.host

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1]) if self.host.count(":") == 1 else 80


def requests_seen(lab, pods: list) -> list[Request]:
    """Every request in the API pods' logs."""
    seen = []
    for pod in pods:
        try:
            log = lab.kube.core.read_namespaced_pod_log(pod.metadata.name, lab.kube.namespace, container=APP)
        except Exception:  # a pod still starting has no log yet
            continue
        for line in log.splitlines():
            if m := REQUEST_LINE.match(line):
                seen.append(Request(pod.metadata.name, m["ip"], m["path"], m["status"], m["host"] or "-"))
    return seen


def service_names(svc) -> set[str]:
    """The addresses a client can use for a Service: its DNS names and its virtual IP."""
    name, ns = svc.metadata.name, svc.metadata.namespace
    return {name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local", svc.spec.cluster_ip}


# --- helpers the notebook calls -----------------------------------------------------------------
SCALED = re.compile(r"Scaled (?:up|down) replica set (?P<rs>\S+) (?:from \d+ )?to (?P<n>\d+)")


@friendly
def plot_rollouts(lab, name: str = APP):
    """Replicas of each of the Deployment's ReplicaSets over time, from the Deployment controller's
    ScalingReplicaSet events: the rolling updates as they happened."""
    events = [e for e in lab.kube.events_for(name) if e.involved_object.kind == "Deployment"
              and e.reason == "ScalingReplicaSet"]
    if not events:
        raise LabError(f"Deployment {name} has no scaling events yet (or they expired: events last an hour).",
                       "run the exercise's cells, then this one.")
    images = {rs.metadata.name: _image(rs.spec.template).split(":")[-1] for rs in replica_sets(lab, name)}
    start = min(_when(e) for e in events)
    series: dict[str, list[tuple[float, int]]] = {}
    for e in sorted(events, key=_when):
        if m := SCALED.search(e.message or ""):
            label = f"{m['rs']} ({images.get(m['rs'], 'deleted')})"
            series.setdefault(label, [(0.0, 0)]).append(((_when(e) - start).total_seconds(), int(m["n"])))
    return plots.steps_over_time(series, ylabel="pods wanted", title=f"ReplicaSets of deployment/{name}")


def _when(event) -> datetime:
    return event.last_timestamp or event.event_time or event.metadata.creation_timestamp


@friendly
def wait_stalled(lab, name: str = APP, timeout: float = 90) -> None:
    """Wait for the Deployment controller to give up on a rollout (Progressing=False,
    ProgressDeadlineExceeded) and show what the Service's pods answer meanwhile."""
    def probe():
        dep = lab.kube.apps.read_namespaced_deployment(name, lab.kube.namespace)
        cond = next((c for c in dep.status.conditions or [] if c.type == "Progressing"), None)
        if cond is not None and cond.reason == "ProgressDeadlineExceeded":
            return True, cond.message
        deadline = dep.spec.progress_deadline_seconds
        if deadline is not None and deadline > timeout:  # waiting cannot help: say so now, not after the wait
            return (f"set to give up only after {deadline} s (progressDeadlineSeconds"
                    + (", the default" if deadline == 600 else "") + f"), longer than this {timeout:.0f} s wait"), \
                cond.reason if cond else "no condition yet"
        return False, cond.reason if cond else "no condition yet"

    said = progress.wait_until(probe, f"deployment {name}'s rollout to pass its progress deadline", timeout=timeout,
                               fix=f"`kubectl -n $NS describe deployment {name}`: is progressDeadlineSeconds set?",
                               abort_fix="set `progressDeadlineSeconds: 30` in deployment.yaml (exercise 2), apply it, "
                                         "then rerun this exercise's cells from the `set image` one.")
    print(f"Progressing=False, ProgressDeadlineExceeded: {said}")


# --- checks -------------------------------------------------------------------------------------
@checks("pod", "Pod api: limits, two probes, a token from a Secret and a native sidecar")
@friendly
def pod(lab):
    pod = lab.kube.pod(APP)
    require(pod is not None, f"there is no pod {APP} in {lab.kube.namespace}.", "kubectl -n $NS apply -f pod.yaml")
    waiting_on = _container(pod.spec.init_containers, "log-forwarder")
    require(waiting_on is None or waiting_on.restart_policy == "Always",
            "log-forwarder is an ordinary init container: the pod waits for it to finish before api starts, and "
            "a log follower never finishes.",
            "a sidecar is an init container that keeps running beside the others: read \"Sidecar containers\" in "
            "the Kubernetes docs for the one field that makes it one.")
    require(pod.status.phase == "Running" and cluster.has_condition(pod, "Ready"),
            f"pod {APP} is {pod.status.phase} and not Ready.",
            f"read its events and probes: `kubectl -n $NS describe pod {APP}`.")
    sidecar = _container(pod.spec.init_containers, "log-forwarder")
    plain = _container(pod.spec.containers, "log-forwarder")
    require(sidecar is not None and sidecar.restart_policy == "Always",
            "log-forwarder is a second ordinary container, not a native sidecar." if plain else
            "pod api has no sidecar log-forwarder.",
            "declare it under initContainers with restartPolicy: Always (a native sidecar: it starts before "
            "api and stops after it), then delete the pod and apply again (a pod's containers cannot change).")
    api = _container(pod.spec.containers, APP)
    require(api is not None, f"pod {APP} has no container named {APP}.", "name the main container api.")
    res = api.resources
    missing = [f"{kind}.{r}" for kind in ("requests", "limits") for r in ("cpu", "memory")
               if not (getattr(res, kind) or {}).get(r)] if res else ["requests", "limits"]
    require(not missing, f"container api sets no {', '.join(missing)}.",
            "give it resources: requests (what the scheduler reserves) and limits (the cgroup ceiling), for "
            "cpu and memory, as in the chapter.")
    from kubernetes.utils import parse_quantity

    off = [f"{kind}.{r} is {(getattr(res, kind))[r]}, not {want}" for (kind, r), want in RESOURCES.items()
           if parse_quantity(getattr(res, kind)[r]) != parse_quantity(want)]
    require(not off, f"container api's {'; '.join(off)}.",
            "CPU is counted in cores or millicores (m); memory in bytes with a suffix: Mi and Gi are powers of "
            "two (64Mi = 64 × 2^20 bytes), M and G powers of ten.")
    live, ready = _probe_path(api.liveness_probe), _probe_path(api.readiness_probe)
    require(ready == "/health/ready", f"the readiness probe is {ready or 'missing'}, not an HTTP GET of /health/ready.",
            "readinessProbe: httpGet /health/ready on port 3000: traffic only once the dependencies answer.")
    require(live == "/health/live",
            f"the liveness probe is {live or 'missing'}" + (": it checks the dependencies too, so a database "
                                                           "outage would restart every healthy container."
                                                           if live in ("/health/ready", "/health") else "."),
            "livenessProbe: httpGet /health/live on port 3000 (the process answers), not /health/ready.")
    env = _env_source(api, "API_TOKEN")
    ref = env.value_from.secret_key_ref if env is not None and env.value_from else None
    require(ref is not None,
            "API_TOKEN is written into the pod spec itself, readable by anyone who can read pods."
            if env is not None and env.value is not None else "container api has no API_TOKEN variable.",
            "env: [{name: API_TOKEN, valueFrom: {secretKeyRef: {name: api-secret, key: token}}}]")
    want = _secret_value(lab, ref.name, ref.key)
    got = _process_env(lab, APP, APP, "API_TOKEN")
    require(got is not None and got == want,
            f"the process in api sees API_TOKEN={got!r}, but Secret {ref.name} now holds {want!r}.",
            "environment variables are read once, when a container starts: delete the pod and apply "
            "pod.yaml again to give it the Secret's current value (a mounted Secret volume would follow it).")
    status = _container(pod.status.init_container_statuses, "log-forwarder")
    require(status is not None and status.started,
            "the sidecar log-forwarder is not running.", f"kubectl -n $NS logs {APP} -c log-forwarder")
    # What the sidecar is for: it prints the requests api appends to $LOG_FILE (the kubelet's probes
    # are requests too, so a working pair shows lines within seconds).
    def forwarding() -> bool:
        log = lab.kube.core.read_namespaced_pod_log(APP, lab.kube.namespace, container="log-forwarder", tail_lines=200)
        return any(REQUEST_LINE.match(line) for line in log.splitlines())

    # `tail -F` polls a file that appeared after it started once a second: give it a few to catch up.
    deadline = time.monotonic() + FORWARDED_WITHIN
    while not (forwarded := forwarding()) and time.monotonic() < deadline:
        time.sleep(1)
    require(forwarded,
            "log-forwarder runs but has printed none of api's requests: it does not see the file api writes.",
            "the two containers share a file only through a volume both mount at the folder of $LOG_FILE.")
    return (f"api is Ready with requests and limits, liveness on /health/live and readiness on /health/ready; "
            f"the process got API_TOKEN from Secret {ref.name}; log-forwarder runs as a native sidecar.")


DEPLOY_HINT = "kubectl -n $NS apply -f deployment.yaml && kubectl -n $NS rollout status deployment/api"
FORWARDED_WITHIN = 10  # seconds the sidecar may take to print a request api logged
# Exercise 1's container api: what it reserves and its ceiling (the goal says it in words).
RESOURCES = {("requests", "cpu"): "100m", ("requests", "memory"): "64Mi",
             ("limits", "cpu"): "500m", ("limits", "memory"): "128Mi"}


@checks("deployment", "Deployment api: 3 ready replicas, a safe rolling update, and it replaces a deleted pod")
@friendly
def deployment(lab):
    dep = _deployment(lab, DEPLOY_HINT)
    s, spec = dep.status, dep.spec
    require(spec.replicas == 3, f"deployment api asks for {spec.replicas} replicas, not 3.",
            "replicas: 3 in deployment.yaml (or kubectl scale deployment/api --replicas 3).")
    require(s.observed_generation == dep.metadata.generation and (s.updated_replicas or 0) == (s.ready_replicas or 0)
            == (s.available_replicas or 0) == 3,
            f"deployment api is not settled: {s.updated_replicas or 0} updated, {s.ready_replicas or 0} ready, "
            f"{s.available_replicas or 0} available of 3.", "kubectl -n $NS rollout status deployment/api")
    ru = spec.strategy.rolling_update if spec.strategy and spec.strategy.type == "RollingUpdate" else None
    require(ru is not None and _pods(ru.max_unavailable, 3, up=False) == 0 and _pods(ru.max_surge, 3, up=True) == 1,
            f"the update strategy is {spec.strategy.type} with maxUnavailable {ru.max_unavailable if ru else '-'} "
            f"and maxSurge {ru.max_surge if ru else '-'}.",
            "strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}: never fewer than 3 "
            "ready pods during an update, one extra pod at a time.")
    require(spec.progress_deadline_seconds == 30,
            f"progressDeadlineSeconds is {spec.progress_deadline_seconds}, not 30.",
            "progressDeadlineSeconds: 30, so a stuck rollout is reported in exercise 4 within half a minute.")
    mine = {rs.metadata.uid for rs in replica_sets(lab)}  # this Deployment's ReplicaSets, not earlier namesakes
    created = {m.group(1) for e in _rs_events(lab, "SuccessfulCreate", mine) if (m := re.search(r"Created pod: (\S+)", e.message or ""))}
    deleted_by_rs = {m.group(1) for e in _rs_events(lab, "SuccessfulDelete", mine) if (m := re.search(r"Deleted pod: (\S+)", e.message or ""))}
    alive = {p.metadata.name for p in lab.kube.core.list_namespaced_pod(lab.kube.namespace).items}
    by_you = sorted(created - deleted_by_rs - alive)
    require(by_you, "no pod of deployment api has been deleted and replaced since it was created "
                    "(scaling down deletes pods too, but then nothing replaces them).",
            "delete one of its pods (kubectl -n $NS delete pod <name>) and watch the ReplicaSet create another. "
            "(Events last an hour: after that, delete one again.)")
    return (f"3 of 3 ready, maxUnavailable 0 / maxSurge 1; pod {by_you[0]} was deleted and its ReplicaSet "
            "created a replacement.")


@checks("service", "Service api: its endpoints are the Deployment's pods, and it spreads a client's requests")
@friendly
def service(lab):
    svc = api_object(lambda: lab.kube.core.read_namespaced_service(APP, lab.kube.namespace),
                     f"there is no Service {APP} in {lab.kube.namespace}.", "kubectl -n $NS apply -f service.yaml")
    require(svc.spec.type == "ClusterIP" and svc.spec.cluster_ip not in (None, "None"),
            f"Service api is of type {svc.spec.type} (clusterIP {svc.spec.cluster_ip}).",
            "a plain ClusterIP Service: no type, or type: ClusterIP, and no clusterIP: None.")
    selector = ",".join(f"{k}={v}" for k, v in (svc.spec.selector or {}).items())
    require("pod-template-hash" not in (svc.spec.selector or {}),
            f"Service api's selector names pod-template-hash={svc.spec.selector.get('pod-template-hash') if svc.spec.selector else ''}: "
            "that label names one ReplicaSet, and every rollout makes a new one, so exercise 4's update would "
            "leave the Service with no endpoints.",
            "select by the labels of the Deployment's pod template, which every revision keeps.")
    pods = deployment_pods(lab)
    ready = {f"{p.status.pod_ip}:{PORT}" for p in pods if cluster.has_condition(p, "Ready")}
    endpoints = lab.kube.ready_endpoints(APP)
    require(endpoints, f"Service api has zero ready endpoints: its selector {selector or '(none)'} matches no "
                       "ready pod.", "the selector must match the pod template's labels: app: api.")
    ports = {e.rsplit(":", 1)[1] for e in endpoints}
    require(ports == {str(PORT)}, f"Service api sends traffic to port {', '.join(sorted(ports))} of the pods, which "
                                  f"listen on {PORT}.", f"targetPort: {PORT} (or the container port's name, http).")
    listens = sorted(p.port for p in svc.spec.ports or [])
    require(80 in listens, f"Service api listens on port {', '.join(map(str, listens))}, and http://api/ connects to "
                           "port 80: the client's requests never reach it.",
            f"port is what clients connect to (80), targetPort where the pods listen ({PORT}).")
    strays = endpoints - ready
    if strays:
        names = {p.status.pod_ip: p.metadata.name for p in lab.kube.core.list_namespaced_pod(lab.kube.namespace).items}
        stray_names = sorted(names.get(e.rsplit(":", 1)[0], e) for e in strays)
        require(False, f"Service api also sends traffic to {', '.join(stray_names)}, which the Deployment does not "
                       "manage: it carries the label app: api too.",
                f"delete it: kubectl -n $NS delete pod {stray_names[0]} (a Service selects pods by label, "
                "whoever made them).")
    require(ready <= endpoints, "not every ready pod of the Deployment is an endpoint yet.",
            "wait a second and rerun the check.")
    client = lab.kube.pod("client")
    require(client is not None and client.status.pod_ip, "the client pod is gone.", "rerun the lab's set-up cell.")
    from_client = [r for r in requests_seen(lab, pods) if r.ip == client.status.pod_ip and r.status == "200"]
    via_service = [r for r in from_client if r.hostname in service_names(svc) and r.port == 80]
    served = {r.pod for r in via_service}
    direct = sorted({r.host for r in from_client} - {r.host for r in via_service})
    require(len(served) >= 2,
            f"the client's requests to the Service reached {len(served)} pod(s) of the Deployment" +
            (f"; its other requests were addressed to {', '.join(direct[:3])}, not to the Service, so no Service "
             "chose their pod." if direct else "."),
            "address the Service, by its name (http://api/) or its ClusterIP, on its port 80 (kubectl -n $NS exec client -- "
            "python fetch.py URL N): kube-proxy then picks a pod for every new connection.")
    return (f"{len(endpoints)} ready endpoints, exactly the Deployment's pods; the client's requests to the Service "
            f"({', '.join(sorted({r.host for r in via_service}))}) were answered by {len(served)} different pods.")


@checks("exposed", "NodePort 30001 and a LoadBalancer address, each reached from outside the cluster")
@friendly
def exposed(lab):
    nodeport = api_object(lambda: lab.kube.core.read_namespaced_service("api-nodeport", lab.kube.namespace),
                          "there is no Service api-nodeport.", "kubectl -n $NS apply -f nodeport.yaml")
    ports = [p.node_port for p in nodeport.spec.ports or []]
    require(nodeport.spec.type == "NodePort" and NODE_PORT in ports,
            f"api-nodeport is of type {nodeport.spec.type} with node port(s) {ports}.",
            f"type: NodePort with nodePort: {NODE_PORT}: kind-config.yaml maps that port of the control-plane "
            "node to your machine (any other is allocated at random, 30000-32767, and is not mapped).")
    lb = api_object(lambda: lab.kube.core.read_namespaced_service("api-lb", lab.kube.namespace),
                    "there is no Service api-lb.", "kubectl -n $NS apply -f loadbalancer.yaml")
    ingress = (lb.status.load_balancer.ingress or []) if lb.status and lb.status.load_balancer else []
    require(lb.spec.type == "LoadBalancer" and ingress,
            f"api-lb is of type {lb.spec.type} and has no external address.",
            "type: LoadBalancer; MetalLB gives it an address within seconds (`kubectl -n $NS get svc api-lb`).")
    pod_ips = {p.status.pod_ip for p in lab.kube.core.list_namespaced_pod(lab.kube.namespace).items}
    answered = [r for r in requests_seen(lab, deployment_pods(lab)) if r.status == "200"]
    address = ingress[0].ip or ingress[0].hostname
    # Which door a request came through is the address its client dialled (its Host header): the node
    # port on any node, or the LoadBalancer's address on port 80; "from outside" is a source that is no pod.
    doors = (("the NodePort", lambda r: r.port == NODE_PORT, f"curl http://localhost:{NODE_PORT}/"),
             (f"the LoadBalancer address {address}", lambda r: r.hostname == address and r.port == 80,
              f"curl http://{address}/ (api-lb's EXTERNAL-IP)"))
    for door, dialled, how in doors:
        hits = [r for r in answered if dialled(r)]
        outside = [r for r in hits if r.ip not in pod_ips]
        require(outside, f"no request through {door} came from outside the cluster" +
                (f" (the {len(hits)} seen came from a pod)." if hits else
                 f" (requests from outside arrived addressed to {', '.join(sorted({r.host for r in answered if r.ip not in pod_ips})[:3])})."
                 if any(r.ip not in pod_ips for r in answered) else "."),
                f"from your machine: {how}.")
    return (f"localhost:{NODE_PORT} and {address} (MetalLB) both reached the Deployment's pods from "
            "outside the cluster, through a node (source: a node's address).")


@checks("rollout", "Rolled out 1.1 with a change-cause, a rollout to a missing tag stalled and undone")
@friendly
def rollout(lab):
    dep = _deployment(lab, DEPLOY_HINT)
    sets = sorted(replica_sets(lab), key=_revision)
    image = _image(dep.spec.template)
    broken = [rs for rs in sets if _image(rs.spec.template).endswith(":9.9")]
    cond = next((c for c in dep.status.conditions or [] if c.type == "Progressing"), None)
    require(not image.endswith(":9.9"),
            f"deployment api still runs {image}"
            + (f" and has given up ({cond.reason})." if cond and cond.reason == "ProgressDeadlineExceeded" else "."),
            "kubectl -n $NS rollout undo deployment/api (back to the revision before).")
    require(image == f"{IMAGE}:1.1", f"deployment api runs {image}, not {IMAGE}:1.1"
            + (": rollout undo --to-revision went back too far." if image.endswith(":1.0") and broken else "."),
            "read `kubectl -n $NS rollout history deployment/api` and undo to the revision of 1.1.")
    s = dep.status
    require(s.observed_generation == dep.metadata.generation and (s.updated_replicas or 0) == (s.ready_replicas or 0)
            == dep.spec.replicas and cond is not None and cond.reason == "NewReplicaSetAvailable",
            f"the rollout is not complete: {s.updated_replicas or 0} updated, {s.ready_replicas or 0} ready of "
            f"{dep.spec.replicas} ({cond.reason if cond else 'no Progressing condition'}).",
            "kubectl -n $NS rollout status deployment/api")
    require(broken, f"no revision of deployment api ever ran {IMAGE}:9.9.",
            f"roll out the tag that does not exist (kubectl -n $NS set image deployment/api api={IMAGE}:9.9), "
            "watch it stall, then undo it.")
    current = sets[-1]
    require(_image(current.spec.template) == f"{IMAGE}:1.1" and _revision(current) > _revision(broken[-1]),
            "the newest revision is not 1.1.", "kubectl -n $NS rollout undo deployment/api")
    cause = (current.metadata.annotations or {}).get("kubernetes.io/change-cause", "")
    require(cause, "the current revision has no change-cause: `rollout history` shows <none> for it.",
            "annotate the Deployment with kubernetes.io/change-cause right after the change it explains: the "
            "controller copies the annotation to the revision it is rolling out.")
    history = (current.metadata.annotations or {}).get("deployment.kubernetes.io/revision-history", "")
    return (f"revisions {', '.join(str(_revision(r)) for r in sets)}; 9.9 (revision {_revision(broken[-1])}) "
            f"has 0 pods; 1.1 is revision {_revision(current)}" + (f" (earlier {history})" if history else "")
            + f", change-cause {cause!r}.")


@checks("config", "A ConfigMap change reached every pod's environment")
@friendly
def config(lab):
    cm = api_object(lambda: lab.kube.core.read_namespaced_config_map("api-config", lab.kube.namespace),
                    "there is no ConfigMap api-config.", "rerun exercise 2's cell that creates it.")
    want = (cm.data or {}).get("GREETING")
    require(want == "hola", f"ConfigMap api-config has GREETING={want!r}, not 'hola'.",
            "kubectl -n $NS patch configmap api-config --type merge -p '{\"data\":{\"GREETING\":\"hola\"}}'")
    dep = _deployment(lab, DEPLOY_HINT)
    env = _env_source(_container(dep.spec.template.spec.containers, APP), "GREETING")
    ref = env.value_from.config_map_key_ref if env is not None and env.value_from else None
    require(ref is not None and ref.name == "api-config",
            "GREETING in deployment api no longer comes from ConfigMap api-config"
            + (f" (it is set to {env.value!r} in the template)." if env is not None and env.value else "."),
            "keep env GREETING from configMapKeyRef api-config (kubectl -n $NS apply -f deployment.yaml), "
            "change the ConfigMap, then restart the rollout.")
    # Every pod whose api container runs, ready or not (a readiness probe failing for a moment under load
    # hides no process), and at least one: with none, there is no environment to read, and no pass.
    pods = [p for p in deployment_pods(lab) if _running(p, APP)]
    require(pods, "no pod of deployment api is running its api container, so no environment can be read.",
            "get the Deployment running again (`kubectl -n $NS rollout status deployment/api`; a stalled "
            "rollout: `kubectl -n $NS rollout undo deployment/api`), then restart the rollout.")
    stale = [p.metadata.name for p in pods if _process_env(lab, p.metadata.name, APP, "GREETING") != want]
    require(not stale, f"{len(stale)} of {len(pods)} pods still have the old GREETING in their environment "
                       f"({', '.join(stale)}).",
            "environment variables are read when a container starts: kubectl -n $NS rollout restart "
            "deployment/api (new pods, one at a time, no downtime).")
    # No downtime: the new pods came from a rollout (a new ReplicaSet, which keeps 3 ready while it replaces
    # them), made after the ConfigMap changed; pods deleted and recreated by the same ReplicaSet did not.
    changed = max((f.time for f in cm.metadata.managed_fields or [] if f.time), default=None)
    newest = max(replica_sets(lab), key=_revision, default=None)
    require(newest is None or changed is None or newest.metadata.creation_timestamp >= changed.replace(microsecond=0),
            f"the pods were replaced outside a rollout (ReplicaSet {newest.metadata.name if newest else ''} is older "
            "than the ConfigMap change): deleted and made again with nothing keeping 3 of them ready meanwhile, "
            "which is downtime for the Service.",
            "let the Deployment replace them: a change to its pod template rolls them one at a time within "
            "maxUnavailable and maxSurge (kubectl rollout has a command for exactly this).")
    return f"all {len(pods)} running pods see GREETING=hola: the restart gave each new container the ConfigMap's value."
