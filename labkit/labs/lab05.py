"""Lab 05 checks: the control plane and the node components, found and watched at work on the course cluster.

The learner records what they find in the ConfigMap `findings` of the lab's namespace; every check
compares those findings with the real state: the API server's objects, etcd's keys (etcdctl run in
the etcd pod) and the nodes' own files and iptables rules (read with `docker exec` on the kind nodes).
"""
from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime, timezone

from labkit import cluster, progress
from labkit.checks import Checks, require
from labkit.errors import LabError, friendly
from labkit.kube import node_exec

checks = Checks()

FINDINGS = "findings"
PYTHON_IMAGE = "docker.io/library/python:3.11-slim-bookworm"
ETCD_TLS = ["--endpoints", "https://127.0.0.1:2379", "--cacert", "/etc/kubernetes/pki/etcd/ca.crt",
            "--cert", "/etc/kubernetes/pki/etcd/server.crt", "--key", "/etc/kubernetes/pki/etcd/server.key"]
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
RECORD_HINT = ("record it: kubectl -n $NS patch configmap findings --type merge "
               "-p '{\"data\":{\"KEY\":\"VALUE\"}}' (the exercise cell shows how).")

# The wrapper the lab's cells call as ./etcdctl: etcdctl has no shell around it in the etcd image, so
# it runs through `kubectl exec`, with the client certificate kubeadm made for etcd's own use.
ETCDCTL_SCRIPT = """#!/usr/bin/env bash
# etcdctl runs inside the etcd pod (its image has etcdctl and no shell); the TLS flags are the
# client certificate kubeadm wrote for etcd on the control-plane node.
set -euo pipefail
pod=$(kubectl -n kube-system get pod -l component=etcd -o jsonpath='{.items[0].metadata.name}')
# (grep drops a harmless warning some kubectl versions print about their exec stream)
kubectl -n kube-system exec "$pod" -- etcdctl %s "$@" 2> >(grep -v "Unknown stream id" >&2)
""" % " ".join(ETCD_TLS)


# --- set-up -------------------------------------------------------------------------------------
@friendly
def prepare(lab) -> None:
    """The lab's starting point: the python image on every node, ./etcdctl, the findings ConfigMap."""
    cluster.load_images(PYTHON_IMAGE)
    script = lab.workdir / "etcdctl"
    script.write_text(ETCDCTL_SCRIPT)
    script.chmod(0o755)
    from kubernetes import client

    try:
        lab.kube.core.read_namespaced_config_map(FINDINGS, lab.kube.namespace)
        print(f"ConfigMap {FINDINGS} exists in {lab.kube.namespace}: your findings so far are kept.")
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=FINDINGS), data={})
        lab.kube.core.create_namespaced_config_map(lab.kube.namespace, body)
        print(f"ConfigMap {FINDINGS} created in {lab.kube.namespace}.")


# --- reading state ------------------------------------------------------------------------------
def findings(lab) -> dict[str, str]:
    from kubernetes import client

    try:
        cm = lab.kube.core.read_namespaced_config_map(FINDINGS, lab.kube.namespace)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        require(False, f"there is no ConfigMap {FINDINGS} in namespace {lab.kube.namespace}.",
                "run the set-up cell at the top of the lab (it creates it).")
    return cm.data or {}


def finding(lab, key: str, what: str) -> str:
    value = findings(lab).get(key, "").strip()
    require(value, f"the findings have no `{key}` ({what}).", RECORD_HINT.replace("KEY", key))
    return value


def _component_pods(lab, component: str) -> tuple[list, list]:
    """(every pod, the pods not being deleted) of a control-plane component (label component=<name>, as
    kubeadm sets it). A deleted mirror pod lingers, still Ready, until the kubelet replaces it."""
    pods = lab.kube.core.list_namespaced_pod("kube-system", label_selector=f"component={component}").items
    return pods, [p for p in pods if p.metadata.deletion_timestamp is None]


def component_pod(lab, component: str):
    """The control-plane pod of a component."""
    pods, live = _component_pods(lab, component)
    if not pods:
        raise LabError(f"There is no {component} pod in kube-system.",
                       "this lab needs a kubeadm-built cluster such as the course's kind cluster (`make cluster`).")
    if not live:
        raise LabError(f"The {component} mirror pod is being deleted; the kubelet has not recreated it yet.",
                       "wait a few seconds and run the cell again.")
    return live[0]


def etcdctl(lab, *args: str) -> str:
    """etcdctl's output, run inside the etcd pod through the API server (exec)."""
    pod = component_pod(lab, "etcd")
    code, out, err = lab.kube.exec(pod.metadata.name, ["etcdctl", *ETCD_TLS, *args], namespace="kube-system")
    if code != 0:
        raise LabError(f"etcdctl {' '.join(args)} failed in {pod.metadata.name}: {err.strip()[-300:]}",
                       "check that etcd is healthy: `kubectl -n kube-system get pod -l component=etcd`.")
    return out


def nat_rules(node: str) -> list[str]:
    return node_exec(node, "iptables-save", "-t", "nat").splitlines()


def service_chains(rules: list[str], ip: str, port: int) -> tuple[str | None, dict[str, str]]:
    """(KUBE-SVC chain of a ClusterIP:port, {KUBE-SEP chain: DNAT destination}) in iptables-save lines."""
    svc = None
    for line in rules:
        m = re.match(rf"-A KUBE-SERVICES -d {re.escape(ip)}/32 .*--dport {port} -j (KUBE-SVC-\w+)", line)
        if m:
            svc = m.group(1)
    if svc is None:
        return None, {}
    seps = [m.group(1) for line in rules if (m := re.match(rf"-A {svc} .*-j (KUBE-SEP-\w+)", line))]
    dest = {}
    for line in rules:
        m = re.match(r"-A (KUBE-SEP-\w+) .*--to-destination (\S+)", line)
        if m and m.group(1) in seps:
            dest[m.group(1)] = m.group(2)
    return svc, dest


def _container_status(pod):
    statuses = pod.status.container_statuses or []
    return statuses[0] if statuses else None


# --- helpers the notebook calls -----------------------------------------------------------------
@friendly
def show_mirror(lab, component: str = "kube-scheduler") -> None:
    """Wait until a static pod's mirror pod is back and ready; show the pod object's age and its container's."""
    def probe():
        pods = _component_pods(lab, component)[1]
        if not pods:
            return False, "no mirror pod yet"
        ready = cluster.has_condition(pods[0], "Ready")
        return ready, pods[0].status.phase or "Pending"

    progress.wait_until(probe, f"the {component} mirror pod",
                        fix="look at `kubectl -n kube-system get pods` and the kubelet's log on the node: "
                            "`docker exec containers-course-control-plane journalctl -u kubelet --since -5min`.")
    pod = component_pod(lab, component)
    cs = _container_status(pod)
    print(f"pod object  {pod.metadata.name}  uid {pod.metadata.uid}  "
          f"created {_ago(pod.metadata.creation_timestamp)} ago")
    if cs and cs.state.running:
        print(f"container   {cs.name}  started {_ago(cs.state.running.started_at)} ago  restarts {cs.restart_count}")


def _ago(ts) -> str:
    seconds = int((datetime.now(timezone.utc) - ts).total_seconds())
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}min"


def _on_node(lab, pod, state: str = "running") -> set[str] | None:
    """IDs of the pod's containers in `state` (running, exited) as the node's runtime sees them (None when
    not on kind)."""
    if not cluster.on_kind() or not pod.spec.node_name:
        return None
    out = node_exec(pod.spec.node_name, "crictl", "ps", "-q", "--state", state,
                    "--label", f"io.kubernetes.pod.namespace={pod.metadata.namespace}",
                    "--label", f"io.kubernetes.pod.name={pod.metadata.name}")
    return set(out.split())


@friendly
def wait_restarted(lab, name: str = "heal", timeout: float = 90) -> None:
    """Wait until the kubelet has restarted a pod's container and reports the new one running."""
    start = time.monotonic()

    def probe():
        pod = lab.kube.pod(name)
        if pod is None:
            return "gone", "the pod does not exist"
        cs = _container_status(pod)
        if cs is None:
            return False, "no container yet"
        state = "running" if cs.state.running else (cs.state.waiting.reason if cs.state.waiting else "terminated")
        running = _on_node(lab, pod)
        # The kubelet notices a dead container within a second or two: until then the API still shows the old one.
        current = running is None or (cs.container_id or "").split("//")[-1] in running
        if cs.restart_count >= 1 and cs.ready and current:
            return True, f"restarts: {cs.restart_count}, {state}"
        # A container stopped on its node stays listed there as exited (the cell above has returned, so it
        # is listed by now): none, and the first one still running, means nothing stopped it. Off kind,
        # where the node cannot be read, give the kubelet 20 s.
        never = (running is not None and not _on_node(lab, pod, "exited")) or time.monotonic() - start > 20
        if cs.restart_count == 0 and cs.state.running and current and never and time.monotonic() - start > 2:
            return "never stopped", "restarts: 0, still its first container"
        return False, f"restarts: {cs.restart_count}, {state}"

    try:
        progress.wait_until(probe, what=f"the kubelet to restart {name}'s container", timeout=timeout, interval=1)
    except LabError as exc:
        pod = lab.kube.pod(name)
        cs = _container_status(pod) if pod is not None else None
        if pod is None:
            raise LabError(f"There is no pod {name} in {lab.kube.namespace}.",
                           "run the cell that creates it.") from None
        if cs is not None and cs.restart_count == 0:
            raise LabError(f"{name}'s container is still its first one (restartCount 0): nothing stopped it.",
                           "stop it on its node with crictl (the cell above), then rerun this cell.") from None
        raise LabError(f"{name}'s container is not running again: {exc.problem}",
                       f"look at `kubectl -n $NS describe pod {name}` (events at the bottom) and rerun.") from None
    cs = _container_status(lab.kube.pod(name))
    last = cs.last_state.terminated
    print(f"{name}: restartCount {cs.restart_count}. The previous container ended {_ago(last.finished_at)} ago "
          f"with exit code {last.exit_code} ({last.reason}); the kubelet started a new one "
          f"{_ago(cs.state.running.started_at)} ago." if last else f"{name}: restartCount {cs.restart_count}.")


def _programmed(lab, service: str, nodes: list[str]) -> tuple[bool, str]:
    """Whether kube-proxy on every node sends the Service's ClusterIP to exactly its ready endpoints."""
    svc = lab.kube.core.read_namespaced_service(service, lab.kube.namespace)
    want = lab.kube.ready_endpoints(service)
    behind = []
    for node in nodes:
        _, dest = service_chains(nat_rules(node), svc.spec.cluster_ip, svc.spec.ports[0].port)
        if not want or set(dest.values()) != want:
            behind.append(f"{node}: {len(dest)}")
    detail = f"{len(want)} ready endpoints; KUBE-SEP chains " + (", ".join(behind) or "match on every node")
    return not behind, detail


_PROXY_FIX = ("check that the pods are ready (`kubectl -n $NS get pods -l app=web`) and kube-proxy's log: "
              "`kubectl -n kube-system logs -l k8s-app=kube-proxy --tail 20`.")


@friendly
def wait_service(lab, service: str = "web", timeout: float = 60) -> None:
    """Wait until kube-proxy on every node has written the rules of a Service for all its ready endpoints."""
    nodes = sorted(n.metadata.name for n in lab.kube.nodes())
    detail = progress.wait_until(lambda: _programmed(lab, service, nodes), f"kube-proxy to program {service}",
                                 timeout=timeout, fix=_PROXY_FIX)
    print(f"kube-proxy on {len(nodes)} nodes: {detail}.")


@friendly
def show_service_rules(lab, service: str = "web", node: str | None = None) -> None:
    """Print a Service's iptables rules on a node, once kube-proxy has caught up with its endpoints."""
    node = node or _a_worker(lab)
    progress.wait_until(lambda: _programmed(lab, service, [node]), f"kube-proxy on {node} to program {service}",
                        fix=_PROXY_FIX)
    svc = lab.kube.core.read_namespaced_service(service, lab.kube.namespace)
    ip, port = svc.spec.cluster_ip, svc.spec.ports[0].port
    rules = nat_rules(node)
    chain, dest = service_chains(rules, ip, port)
    print(f"# iptables-save -t nat on {node}: the rules of {lab.kube.namespace}/{service} ({ip}:{port})")
    for line in rules:
        entry = line.startswith("-A KUBE-SERVICES ") and line.endswith(f"-j {chain}")
        if entry or line.startswith(f"-A {chain} ") or ("DNAT" in line and line.split()[1] in dest):
            print(line)


def _a_worker(lab) -> str:
    nodes = [n.metadata.name for n in lab.kube.nodes()
             if "node-role.kubernetes.io/control-plane" not in (n.metadata.labels or {})]
    return sorted(nodes)[0] if nodes else lab.kube.nodes()[0].metadata.name


# --- checks -------------------------------------------------------------------------------------
@checks("control-plane", "The control plane found: its node and its static pods")
@friendly
def control_plane(lab):
    node = component_pod(lab, "kube-apiserver").spec.node_name
    recorded = finding(lab, "control-plane-node", "the node the kube-apiserver pod runs on")
    require(recorded == node, f"control-plane-node is {recorded!r}, but kube-apiserver runs on {node}.",
            "read the NODE column of `kubectl -n kube-system get pods -o wide` and record that name.")
    static = {s.strip().removesuffix(".yaml") for s in re.split(r"[,\s]+", finding(
        lab, "static-pods", "the static pod manifests on that node")) if s.strip()}
    manifests = {f.removesuffix(".yaml") for f in node_exec(node, "ls", "/etc/kubernetes/manifests").split()}
    require(static == manifests,
            f"static-pods lists {', '.join(sorted(static))}; /etc/kubernetes/manifests on {node} holds "
            f"{', '.join(sorted(manifests))}.",
            f"list them with `docker exec {node} ls /etc/kubernetes/manifests` and record the names without "
            ".yaml, separated by commas.")
    # A finding nobody can guess or copy from the API: the size of a file on the node.
    size = int(node_exec(node, "stat", "-c", "%s", "/etc/kubernetes/manifests/kube-apiserver.yaml").strip())
    recorded_size = finding(lab, "apiserver-manifest-bytes", "the size in bytes of kube-apiserver.yaml on that node")
    require(recorded_size == str(size),
            f"apiserver-manifest-bytes is {recorded_size!r}, but kube-apiserver.yaml on {node} is {size} bytes.",
            f"read it on the node: `docker exec {node} ls -l /etc/kubernetes/manifests` (the size column) or "
            "`stat -c %s` on the file, and record that number.")
    for component in CONTROL_PLANE:
        pod = component_pod(lab, component)
        require("kubernetes.io/config.mirror" in (pod.metadata.annotations or {}),
                f"{pod.metadata.name} has no kubernetes.io/config.mirror annotation: it is not a static pod.",
                "this lab expects a kubeadm-built cluster (the course's kind cluster) whose control plane runs "
                "as static pods.")
    return (f"{', '.join(sorted(manifests))} run on {node} as static pods: the kubelet reads their manifests "
            "from /etc/kubernetes/manifests and mirrors each into the API.")


@checks("etcd", "The ConfigMap app-settings found in etcd, under its /registry key")
@friendly
def etcd(lab):
    from kubernetes import client

    ns = lab.kube.namespace
    try:
        cm = lab.kube.core.read_namespaced_config_map("app-settings", ns)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        require(False, f"there is no ConfigMap app-settings in {ns}.",
                "run exercise 2's first cell: ConfigMap app-settings with color=blue (its hints are above it).")
    require((cm.data or {}).get("color") == "blue", f"app-settings holds {cm.data or {}}, not color=blue.",
            "create it with --from-literal=color=blue (apply again to update it).")
    key = f"/registry/configmaps/{ns}/app-settings"
    recorded = finding(lab, "etcd-key", "the etcd key app-settings is stored under")
    found = json.loads(etcdctl(lab, "get", recorded, "--keys-only", "-w", "json"))
    require(found.get("kvs"), f"etcd has no key {recorded!r}.",
            f"list the keys with `./etcdctl get /registry/configmaps/{ns}/ --prefix --keys-only` and record "
            "the one of app-settings.")
    require(recorded == key, f"{recorded!r} is a key in etcd, but not app-settings' one.",
            "the key is /registry/<resource>/<namespace>/<name>.")
    # The key can be guessed from its pattern; the stored value's size only etcd can tell.
    stored = json.loads(etcdctl(lab, "get", key, "-w", "json"))["kvs"][0]
    size = len(base64.b64decode(stored["value"]))
    recorded_size = finding(lab, "etcd-value-bytes", "the size in bytes of app-settings' value in etcd")
    require(recorded_size in (str(size), str(size + 1)),  # + 1: the newline etcdctl prints after the value
            f"etcd-value-bytes is {recorded_size!r}, but app-settings' value in etcd is {size} bytes.",
            f"count them: `./etcdctl get {key} --print-value-only | wc -c`, and record that number "
            "(after any change to app-settings, count again: the value changes with it).")
    revision = found["kvs"][0]["mod_revision"]
    require(str(revision) == cm.metadata.resource_version,
            f"etcd's mod_revision of {key} ({revision}) differs from the ConfigMap's resourceVersion "
            f"({cm.metadata.resource_version}).", "rerun the check: the ConfigMap was being updated.")
    return f"{base64.b64decode(found['kvs'][0]['key']).decode()} is in etcd; its mod_revision {revision} is " \
           f"the resourceVersion the API server shows."


@checks("scheduled", "The Scheduled event read: which node default-scheduler chose for placed")
@friendly
def scheduled(lab):
    pod = lab.kube.pod("placed")
    require(pod is not None, f"there is no pod placed in {lab.kube.namespace}.", "run the cell that creates it.")
    node = pod.spec.node_name
    require(node, "placed is not scheduled yet.",
            "wait a few seconds and rerun: `kubectl -n $NS get pod placed -o wide`.")
    recorded = finding(lab, "scheduled-node", "the node the Scheduled event of placed names")
    require(recorded == node, f"scheduled-node is {recorded!r}, but placed was assigned to {node}.",
            "read the event: `kubectl -n $NS events --for pod/placed` (\"Successfully assigned ... to NODE\").")
    events = [e for e in lab.kube.events_for("placed") if e.reason == "Scheduled"]
    last = events[-1] if events else None
    by = (last.reporting_component or (last.source.component if last.source else "")) if last else ""
    return (f"{by or 'the scheduler'} bound placed to {node} (spec.nodeName); the kubelet of {node} then "
            "started it." + ("" if events else " (Events expire after an hour; the binding stays.)"))


@checks("unschedulable", "A pod no node can take: Pending, with a FailedScheduling event")
@friendly
def unschedulable(lab):
    pod = lab.kube.pod("stuck")
    require(pod is not None, f"there is no pod stuck in {lab.kube.namespace}.",
            "create it: a pod that asks for something no node of this cluster has (its hints are above the cell).")
    nodes = {n.metadata.name for n in lab.kube.nodes()}
    require(not pod.spec.node_name or pod.spec.node_name in nodes,
            f"stuck names its node itself (spec.nodeName: {pod.spec.node_name}, which is no node of this cluster): the "
            "scheduler never saw it, so nothing says why it cannot run.",
            "leave the choice of node to the scheduler: ask in the pod for something no node has.")
    require(not pod.spec.node_name, f"stuck was scheduled to {pod.spec.node_name}: a node satisfies it.",
            "delete it (`kubectl -n $NS delete pod stuck`) and ask for something no node has: a nodeSelector "
            "label no node carries, or resources.requests.cpu: \"64\".")
    cond = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
    require(cond is not None and cond.status == "False" and cond.reason == "Unschedulable",
            "the scheduler has not marked stuck Unschedulable yet.", "wait a few seconds and rerun the check.")
    events = [e for e in lab.kube.events_for("stuck") if e.reason == "FailedScheduling"]
    said = (events[-1].message if events else cond.message) or ""
    return f"stuck stays Pending; the scheduler said: {said.split('. ')[0]}."


@checks("mirror", "The kube-scheduler mirror pod deleted and recreated by the kubelet")
@friendly
def mirror(lab):
    pod = component_pod(lab, "kube-scheduler")
    since = lab.kube.core.read_namespace(lab.kube.namespace).metadata.creation_timestamp
    require(pod.metadata.creation_timestamp > since,
            f"{pod.metadata.name} was created {_ago(pod.metadata.creation_timestamp)} ago, before this lab's "
            "namespace: it has not been deleted since.",
            f"delete the mirror pod {pod.metadata.name} through the API server, then watch it come back.")
    cs = _container_status(pod)
    started = cs.state.running.started_at if cs and cs.state.running else None
    same = started is not None and started < pod.metadata.creation_timestamp
    return (f"{pod.metadata.name} is a new object ({_ago(pod.metadata.creation_timestamp)} old)"
            + (f", while its container has run for {_ago(started)}: deleting a mirror pod stops nothing."
               if same else "."))


@checks("restarted", "The kubelet restarted heal's container after it was stopped on the node")
@friendly
def restarted(lab):
    pod = lab.kube.pod("heal")
    require(pod is not None, f"there is no pod heal in {lab.kube.namespace}.", "run the cell that creates it.")
    cs = _container_status(pod)
    require(cs is not None and cs.restart_count >= 1,
            f"heal's container has restarted {cs.restart_count if cs else 0} times.",
            f"stop it on its node ({pod.spec.node_name}): docker exec {pod.spec.node_name} crictl stop <container id> "
            "(crictl ps --label io.kubernetes.pod.name=heal finds the id).")
    last = cs.last_state.terminated
    require(last is None or last.exit_code >= 128 or last.signal,
            f"heal's container ended by itself (exit code {last.exit_code if last else '?'}, {last.reason if last else ''}): "
            "the kubelet restarted a program that exited, not one that was stopped on the node.",
            "leave heal as it is, and stop its running container through the node's container runtime (crictl, "
            "on the node).")
    return (f"heal's container restarted {cs.restart_count} time(s) on {pod.spec.node_name}, same pod "
            f"({pod.metadata.uid[:8]})" + (f"; last exit code {last.exit_code} ({last.reason})." if last else "."))


@checks("kube-proxy", "kube-proxy's iptables chains for Service web: KUBE-SVC and one KUBE-SEP per endpoint")
@friendly
def kube_proxy(lab):
    from kubernetes import client

    try:
        svc = lab.kube.core.read_namespaced_service("web", lab.kube.namespace)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        require(False, f"there is no Service web in {lab.kube.namespace}.",
                "create it: a Service web in front of the pods app=web, on port 80 (its hints are above the cell).")
    require(svc.spec.type == "ClusterIP" and svc.spec.cluster_ip not in (None, "None"),
            f"Service web is of type {svc.spec.type} (clusterIP {svc.spec.cluster_ip}).",
            "make it a plain ClusterIP Service (no clusterIP: None, no type).")
    p = svc.spec.ports[0]
    require(p.port == 80 and str(p.target_port) in ("8000", "http"),
            f"Service web maps port {p.port} to {p.target_port}, not 80 to the pods' 8000.",
            "ports: [{name: http, port: 80, targetPort: 8000}] in the Service, then apply it again.")
    port = p.port
    dep = lab.kube.apps.read_namespaced_deployment("web", lab.kube.namespace)
    require((dep.status.ready_replicas or 0) == 3 == dep.spec.replicas,
            f"deployment web has {dep.status.ready_replicas or 0} ready replica(s) of {dep.spec.replicas}, not 3.",
            "kubectl -n $NS scale deployment web --replicas 3 && kubectl -n $NS rollout status deployment web")
    recorded = finding(lab, "svc-chain", "the KUBE-SVC chain of Service web")
    node = _a_worker(lab)
    deadline = time.monotonic() + 20
    while not _programmed(lab, "web", [node])[0] and time.monotonic() < deadline:
        time.sleep(1)  # kube-proxy applies changes within a second or two; give it time after a scale
    want = lab.kube.ready_endpoints("web")
    chain, dest = service_chains(nat_rules(node), svc.spec.cluster_ip, port)
    require(chain, f"no KUBE-SERVICES rule sends {svc.spec.cluster_ip}:{port} anywhere on {node}.",
            "check kube-proxy: `kubectl -n kube-system logs -l k8s-app=kube-proxy --tail 20`.")
    require(recorded == chain,
            f"svc-chain is {recorded!r}, but {svc.spec.cluster_ip}:{port} jumps to {chain} on {node}.",
            f"docker exec {node} iptables-save -t nat | grep -- '-A KUBE-SERVICES -d {svc.spec.cluster_ip}/32' "
            "and record the KUBE-SVC-... chain it jumps to.")
    require(set(dest.values()) == want,
            f"{chain} sends to {', '.join(sorted(dest.values())) or 'nothing'}; the ready endpoints are "
            f"{', '.join(sorted(want)) or 'none'}.", "wait a few seconds for kube-proxy and rerun the check.")
    return (f"{svc.spec.cluster_ip}:{port} → {chain} → {len(dest)} KUBE-SEP chains, DNAT to "
            f"{', '.join(sorted(dest.values()))}: one per ready endpoint.")


@checks("runtime", "The container runtime the nodes report")
@friendly
def runtime(lab):
    versions = {n.metadata.name: n.status.node_info.container_runtime_version for n in lab.kube.nodes()}
    recorded = finding(lab, "runtime", "the containerRuntimeVersion the nodes report")
    require(recorded in versions.values(), f"runtime is {recorded!r}; the nodes report "
            f"{', '.join(sorted(set(versions.values())))}.",
            "read .status.nodeInfo.containerRuntimeVersion: kubectl get nodes -o wide (CONTAINER-RUNTIME column).")
    node = _a_worker(lab) if versions.get(_a_worker(lab)) == recorded else \
        next(n for n, v in versions.items() if v == recorded)
    said = dict(line.split(":", 1) for line in node_exec(node, "crictl", "version").splitlines() if ":" in line)
    cri = f"{said.get('RuntimeName', '').strip()}://{said.get('RuntimeVersion', '').strip().lstrip('v')}"
    require(cri == recorded, f"crictl on {node} says {cri}, the node reports {recorded}.",
            "rerun the check; if it persists, the kubelet and the runtime disagree: restart the cluster.")
    # The runtime's version is in `kubectl get nodes -o wide`; a pod sandbox's ID is known to the runtime only.
    pod = lab.kube.pod("heal")
    require(pod is not None and pod.spec.node_name, f"there is no running pod heal in {lab.kube.namespace}.",
            "rerun exercise 4's cell that creates heal.")
    sandboxes = node_exec(pod.spec.node_name, "crictl", "pods", "-q", "--namespace", f"^{lab.kube.namespace}$",
                          "--name", "^heal$", "--state", "ready").split()
    recorded_sandbox = finding(lab, "heal-sandbox", "the ID of heal's pod sandbox, as crictl on its node shows it")
    require(len(recorded_sandbox) >= 12 and any(s.startswith(recorded_sandbox) for s in sandboxes),
            f"heal-sandbox is {recorded_sandbox!r}; heal's sandbox on {pod.spec.node_name} is "
            f"{', '.join(x[:13] for x in sandboxes) or 'not found'}.",
            f"ask the runtime: `docker exec {pod.spec.node_name} crictl pods --name heal -q` (the API server "
            "does not know sandbox IDs) and record it (the first 13 characters are enough).")
    who = "every node runs" if len(set(versions.values())) == 1 else f"{node} runs"
    return (f"{who} {recorded}; crictl, a CRI client like the kubelet, gets the same answer from the runtime on "
            f"{node}, and heal's sandbox {recorded_sandbox[:13]} is one the runtime runs.")
