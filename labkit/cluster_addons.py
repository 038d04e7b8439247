"""The cluster's add-ons (cluster_parts.ADDONS: MetalLB, local-path, Traefik, metrics-server) made to
work when a lab needs one: `cluster_addons.ensure("metallb")`.

`make cluster` installs every add-on's manifest. On a learner's machine the nodes pull the add-ons' images
from their registries, and ensure only waits until the workloads are ready. Offline (CI, classrooms) the
images are built after the node image, so that a cluster, and every lab that needs no add-on, never waits
for them: ensure waits for the build of that add-on's images (its own lock, locks.addon_build), loads them
into the nodes with `kind load`, restarts the pods that gave up pulling meanwhile, and waits.

Two add-ons need a step once they run: MetalLB its address pool, and metrics-server the registration of
its aggregated API (METRICS_API). That registration waits for the pod because while a registered API has
no backend the namespace controller cannot list what a namespace holds, and every namespace deletion
(every cluster lab's clean-up) hangs: the first cold run with metrics-server built after the node image
failed every clean-up of lab 05.
"""
from __future__ import annotations

import ipaddress
import json
import os
import subprocess

from labkit import cluster, locks, progress
from labkit import cluster_parts as parts
from labkit.errors import LabError

METALLB_NS = "metallb-system"
PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff"}
# metrics-server's APIService, as its release manifest has it (provision/addons.install checks that it
# still does, and applies the rest of that manifest).
METRICS_API = {
    "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
    "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": {"k8s-app": "metrics-server"}},
    "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
             "insecureSkipTLSVerify": True, "service": {"name": "metrics-server", "namespace": "kube-system"}},
}


def building(name: str) -> list[str]:
    """The add-on's images an offline build (`labkit cluster build`) is making now."""
    return [ref for ref in parts.ADDONS[name].images if locks.holder(locks.addon_build(ref)) is not None]


def can_work_now(name: str) -> bool:
    """ensure(name) would not wait for a build: none is under way, and offline its images exist."""
    images = parts.ADDONS[name].images
    return not building(name) and (not cluster.offline_node_image() or all(map(cluster.has_local_image, images)))


def ensure(name: str, log=print) -> None:
    """The add-on `name` working: its images in the nodes (offline: after their build), its workloads ready,
    and for MetalLB its address pool applied. Idempotent and quick once done (a lab's set-up calls it)."""
    addon = parts.ADDONS[name]
    for ref in addon.images:
        cluster.wait_for_build(locks.addon_build(ref), f"the build of {ref}", log)
    local = [ref for ref in addon.images if cluster.has_local_image(ref)]
    if cluster.offline_node_image() and len(local) < len(addon.images):
        raise LabError(f"This cluster runs the offline node image, and the {name} add-on's images have not been built.",
                       "run `make cluster-images` (it builds the add-ons after the node image), then rerun.")
    if local and cluster.on_kind() and not nodes_preloaded():
        cluster.load_images(*local, log=log)
        _restart_failed_pulls(addon, log)
    if name == "metallb":
        _controller_with_its_certificate(log)
    for workload in addon.workloads:
        wait_ready(*workload)
    if name == "metallb":
        progress.wait_until(_pool_applied, what="MetalLB address pool", timeout=120, interval=2,
                            fix=f"read `kubectl -n {METALLB_NS} logs deploy/controller`; `make cluster` reinstalls it.")
    if name == "metrics-server":
        kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=json.dumps(METRICS_API))


# The add-ons' images an offline node image holds already, as the image IDs they had (images_key):
# `labkit cluster build` adds them once built (provision/node_image.add_addons_to_node_image), so that the
# next cluster needs no `kind load` and no pod restarted after a failed pull.
PRELOADED_LABEL = "dev.containers-course.addons"


def images_key() -> str:
    import hashlib

    ids = [subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", i.ref], capture_output=True,
                          text=True).stdout.strip() for i in parts.ADDON_IMAGES]
    return hashlib.sha256(repr(ids).encode()).hexdigest()[:16]


def nodes_preloaded() -> bool:
    """Every node of the course cluster was made from a node image holding the add-ons' current images."""
    nodes = subprocess.run(["docker", "ps", "-q", "--filter", f"label=io.x-k8s.kind.cluster={parts.CLUSTER_NAME}"],
                           capture_output=True, text=True).stdout.split()
    if not nodes:
        return False
    images = set(subprocess.run(["docker", "inspect", "-f", "{{.Image}}", *nodes], capture_output=True,
                                text=True).stdout.split())
    labels = subprocess.run(["docker", "image", "inspect", "-f", f'{{{{index .Config.Labels "{PRELOADED_LABEL}"}}}}',
                             *images], capture_output=True, text=True).stdout.split("\n")
    return labels.count(images_key()) == len(images)


def wait_ready(namespace: str, kind: str, name: str, timeout: float = 180) -> None:
    """A Deployment with a ready replica, or a DaemonSet ready on every node it runs on."""
    apps = _apps()  # one client for every poll
    progress.wait_until(lambda: _ready(apps, namespace, kind, name), what=f"{namespace}/{name} ready", timeout=timeout,
                        interval=2, fix=f"read `kubectl -n {namespace} describe {kind} {name}`; `make cluster` "
                                        "reinstalls the add-ons.")


def _apps(api=None):
    from kubernetes import client

    return client.AppsV1Api(api or cluster.api_client())


def _workload(apps, namespace: str, kind: str, name: str):
    from kubernetes.client.exceptions import ApiException

    read = apps.read_namespaced_daemon_set if kind == "daemonset" else apps.read_namespaced_deployment
    try:
        return read(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _ready(apps, namespace: str, kind: str, name: str) -> tuple[bool, str]:
    found = _workload(apps, namespace, kind, name)
    if found is None:
        return False, f"no {kind} {name} yet"
    status = found.status
    if kind == "daemonset":
        want, have = status.desired_number_scheduled or 0, status.number_ready or 0
        return bool(want) and have == want, f"{have}/{want} ready"
    return (status.ready_replicas or 0) >= 1, f"{status.ready_replicas or 0} ready"


def _controller_with_its_certificate(log=print) -> None:
    """MetalLB's controller writes its webhook's certificate into a Secret its own pod mounts, then waits
    for the file; the kubelet refreshes a mounted Secret only every minute or so, and the controller's
    liveness probe kills it first (40 s in every new cluster). A controller pod started before the
    certificate existed is replaced once it does: the new pod mounts it at once."""
    from datetime import datetime, timezone

    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())

    def certificate() -> tuple[bool, str]:
        try:
            secret = core.read_namespaced_secret("metallb-webhook-cert", METALLB_NS)
        except client.ApiException:
            return False, "no Secret yet"
        return bool((secret.data or {}).get("tls.crt")), "written" if secret.data else "empty"

    def waiting_for_its_file(pod) -> bool:
        """Running 5 s and more, yet nothing listens on its metrics port: a controller that has its
        certificate listens within a second or two of starting. Restarted or not: a container its liveness
        probe restarted still has the old, empty mount, and waits for the kubelet's refresh all the same."""
        first = (pod.status.container_statuses or [None])[0]
        running = first.state.running if first and first.state else None
        if (running is None or cluster.has_condition(pod, "Ready")
                or (datetime.now(timezone.utc) - running.started_at).total_seconds() < 5):
            return False
        try:
            core.connect_get_namespaced_pod_proxy_with_path(f"{pod.metadata.name}:7472", METALLB_NS, "metrics")
        except client.ApiException:
            return True
        return False

    try:
        progress.wait_until(certificate, what="MetalLB's webhook certificate", timeout=30, interval=1)
        progress.wait_until(lambda: (any(waiting_for_its_file(p) or cluster.has_condition(p, "Ready") for p in
                                         core.list_namespaced_pod(METALLB_NS, label_selector="component=controller").items),
                                     "starting"), what="MetalLB's controller to start", timeout=30, interval=1)
    except progress.WaitTimedOut:
        return  # a controller that works another way: the readiness wait says if it does not
    for pod in core.list_namespaced_pod(METALLB_NS, label_selector="component=controller").items:
        if waiting_for_its_file(pod):
            log(f"restarting {METALLB_NS}/{pod.metadata.name}: started before its webhook certificate existed")
            core.delete_namespaced_pod(pod.metadata.name, METALLB_NS, grace_period_seconds=0)


def _restart_failed_pulls(addon: parts.Addon, log=print) -> None:
    """Pods created before their image was loaded back off pulling for up to five minutes between tries;
    deleted, they come back at once (their controller makes new ones) and find the image on the node."""
    from kubernetes import client

    api = cluster.api_client()
    core, apps = client.CoreV1Api(api), _apps(api)
    for namespace, kind, name in addon.workloads:
        found = _workload(apps, namespace, kind, name)
        if found is None:
            continue
        selector = ",".join(f"{k}={v}" for k, v in (found.spec.selector.match_labels or {}).items())
        for pod in core.list_namespaced_pod(namespace, label_selector=selector).items:
            waiting = [s.state.waiting.reason for s in pod.status.container_statuses or []
                       if s.state and s.state.waiting]
            if PULL_FAILURES & set(waiting):
                log(f"restarting {namespace}/{pod.metadata.name}: it gave up pulling before its image was loaded")
                core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)


# --- MetalLB's address pool -------------------------------------------------------------------------
def address_pool(docker_network: str = "kind") -> tuple[str, str]:
    """A range at the top of the kind Docker network's IPv4 subnet, away from the nodes' addresses."""
    done = subprocess.run(["docker", "network", "inspect", docker_network], capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"There is no Docker network {docker_network!r}, which kind creates with the cluster.",
                       "create the cluster first (`make cluster`).")
    subnets = [c["Subnet"] for c in json.loads(done.stdout)[0]["IPAM"]["Config"] if ":" not in c.get("Subnet", ":")]
    net = ipaddress.ip_network(subnets[0])
    last = net.broadcast_address - 1
    return str(last - 50), str(last)


def metallb_config() -> str:
    import yaml

    first, last = address_pool()
    meta = {"namespace": METALLB_NS, "labels": {"app.kubernetes.io/part-of": "containers-course"}}
    return yaml.safe_dump_all([
        {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
         "metadata": {"name": "kind-pool", **meta}, "spec": {"addresses": [f"{first}-{last}"]}},
        {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
         "metadata": {"name": "kind-pool", **meta}, "spec": {"ipAddressPools": ["kind-pool"]}},
    ])


def _pool_applied() -> tuple[bool, str]:
    """MetalLB's webhook validates the pool, and answers a little after its controller is ready."""
    try:
        kubectl("apply", "-f", "-", stdin=metallb_config())
        return True, "applied"
    except LabError as err:
        return False, "webhook not ready" if "webhook" in err.problem else err.problem[-80:]


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    """kubectl against the course cluster (the labs' own kubeconfig, never the learner's current context).
    check=False: its output and errors whatever it exits with (for a command whose refusal is the answer)."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig())}
    done = subprocess.run([cluster.tool("kubectl"), *args], input=stdin, capture_output=True, text=True, env=env)
    if not check:
        return done.stdout + done.stderr
    if done.returncode != 0:
        raise LabError(f"`kubectl {' '.join(args[:3])}` failed: {done.stderr.strip()[-400:]}",
                       "check the cluster with `labkit cluster status`, then rerun `make cluster`.")
    return done.stdout
