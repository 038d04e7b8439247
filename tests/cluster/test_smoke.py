"""The course cluster is a real cluster: workloads schedule on the workers, Services route, DNS
resolves, NetworkPolicy blocks, PVCs bind, metrics-server reports, LoadBalancers get an address,
a Gateway API route through Traefik answers.

Runs against the cluster `make cluster` created, in a namespace of its own (labelled as the
course's, deleted at the end). Needs the image python:3.11-slim-bookworm locally (loaded into kind).
"""
import uuid

import pytest
import requests
from kubernetes import client

from labkit import cluster, cluster_addons, progress
from labkit.provision import addons
from labkit.config import COURSE, LABEL_COURSE

NS = "course-smoke"
IMAGE = "python:3.11-slim-bookworm"
# A server that answers with the pod's name, so the test sees which backend served it.
SERVER = ("import http.server, socket\n"
          "class H(http.server.BaseHTTPRequestHandler):\n"
          "    def do_GET(self):\n"
          "        body = socket.gethostname().encode()\n"
          "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
          "        self.wfile.write(body)\n"
          "http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()\n")


@pytest.fixture(scope="module")
def api():
    if not cluster.exists():
        pytest.fail("no course cluster: run `make cluster` first")
    cluster.load_images(IMAGE)
    api = cluster.api_client()
    core = client.CoreV1Api(api)
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=NS, labels={LABEL_COURSE: COURSE}))
    try:
        core.create_namespace(body)
    except client.ApiException as exc:
        assert exc.status == 409
    yield api
    core.delete_namespace(NS)
    progress.wait_until(lambda: (NS not in [n.metadata.name for n in core.list_namespace().items], "terminating"),
                        what="smoke namespace deleted", timeout=180, interval=1)


def _web(api, replicas=4):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    labels = {"app": "web"}
    spread = client.V1TopologySpreadConstraint(max_skew=1, topology_key="kubernetes.io/hostname",
                                               when_unsatisfiable="DoNotSchedule", node_taints_policy="Honor",
                                               label_selector=client.V1LabelSelector(match_labels=labels))
    container = client.V1Container(name="web", image=IMAGE, command=["python3", "-c", SERVER],
                                   ports=[client.V1ContainerPort(container_port=8080)],
                                   readiness_probe=client.V1Probe(tcp_socket=client.V1TCPSocketAction(port=8080),
                                                                  period_seconds=1))
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(replicas=replicas, selector=client.V1LabelSelector(match_labels=labels),
                                     template=client.V1PodTemplateSpec(
                                         metadata=client.V1ObjectMeta(labels=labels),
                                         spec=client.V1PodSpec(containers=[container],
                                                               topology_spread_constraints=[spread]))))
    apps.create_namespaced_deployment(NS, deployment)
    core.create_namespaced_service(NS, client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(selector=labels, ports=[client.V1ServicePort(port=80, target_port=8080)])))

    def ready():
        status = apps.read_namespaced_deployment(name="web", namespace=NS).status
        return (status.ready_replicas or 0) == replicas, f"{status.ready_replicas or 0}/{replicas}"

    progress.wait_until(ready, what="web deployment", timeout=180)
    return core.list_namespaced_pod(NS, label_selector="app=web").items


def _run_client(api, script: str, labels=None, timeout=240) -> tuple[str, str]:
    """Run a Python script in a throwaway pod; return (phase, logs)."""
    core = client.CoreV1Api(api)
    name = f"client-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_pod(NS, client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {"role": "client"}),
        spec=client.V1PodSpec(restart_policy="Never", containers=[
            client.V1Container(name="c", image=IMAGE, command=["python3", "-c", script])])))

    def finished():
        phase = core.read_namespaced_pod(name, NS).status.phase
        return phase in ("Succeeded", "Failed"), phase

    phase = progress.wait_until(finished, what=f"pod {name}", timeout=timeout)
    return phase, core.read_namespaced_pod_log(name, NS)


# CoreDNS and kube-router learn of a new Service or policy from their watches; after the API server
# restarted (tests/cluster/test_zz_api_down.py, a learner's repaired cluster) client-go reconnects them
# with a backoff of up to a minute, so the probes retry for that long before they count a failure.
FETCH = ("import socket, sys, time, urllib.request\n"
         "deadline = time.time() + 60\n"
         "while True:\n"
         "    try:\n"
         "        print('dns', socket.gethostbyname('web.{ns}.svc.cluster.local'))\n"
         "        break\n"
         "    except OSError:\n"
         "        if time.time() > deadline:\n"
         "            raise\n"
         "        time.sleep(1)\n"
         "deadline = time.time() + {settle}\n"
         "while True:  # a policy reaches every node's firewall a moment after it or a new pod appears\n"
         "    seen, failed = set(), []\n"
         "    for _ in range({n}):\n"
         "        try:\n"
         "            seen.add(urllib.request.urlopen('http://web.{ns}', timeout={t}).read().decode())\n"
         "        except OSError as exc:\n"
         "            failed.append(str(exc))\n"
         "    if not {unsettled} or time.time() > deadline:\n"
         "        break\n"
         "    time.sleep(1)\n"
         "print('backends', ' '.join(sorted(seen)))\n"
         "print('failed', len(failed), failed[:3])\n"
         "sys.exit(1 if failed else 0)\n")


def test_cluster_is_real(api):
    core = client.CoreV1Api(api)
    nodes = core.list_node().items
    workers = {n.metadata.name for n in nodes if "node-role.kubernetes.io/control-plane" not in n.metadata.labels}
    assert len(nodes) == 3 and len(workers) == 2
    assert all(n.status.node_info.container_runtime_version.startswith("containerd://") for n in nodes)

    pods = _web(api)
    # Pods run on the workers (the control plane is tainted), spread over both.
    assert {p.spec.node_name for p in pods} == workers

    # The Service routes to several pods, and cluster DNS resolves its name.
    phase, logs = _run_client(api, FETCH.format(ns=NS, n=30, t=5, settle=60, unsettled="failed"))
    assert phase == "Succeeded", logs
    service_ip = core.read_namespaced_service("web", NS).spec.cluster_ip
    assert f"dns {service_ip}" in logs
    backends = set(logs.split("backends", 1)[1].split("\n", 1)[0].split())
    assert backends <= {p.metadata.name for p in pods} and len(backends) >= 2, logs

    # A NetworkPolicy that admits only pods labelled role=allowed blocks the plain client.
    net = client.NetworkingV1Api(api)
    net.create_namespaced_network_policy(NS, client.V1NetworkPolicy(
        metadata=client.V1ObjectMeta(name="web-allow-only-allowed"),
        spec=client.V1NetworkPolicySpec(
            pod_selector=client.V1LabelSelector(match_labels={"app": "web"}), policy_types=["Ingress"],
            ingress=[client.V1NetworkPolicyIngressRule(_from=[client.V1NetworkPolicyPeer(
                pod_selector=client.V1LabelSelector(match_labels={"role": "allowed"}))])])))
    # The policy engine picks it up from its watch, within seconds (up to a minute just after the
    # API server restarted): the client retries until every request is blocked.
    phase, logs = _run_client(api, FETCH.format(ns=NS, n=3, t=2, settle=60, unsettled="seen"))
    # kindnet drops the packets (a time-out), kube-router rejects them (refused): both block.
    assert phase == "Failed" and "failed 3 " in logs and "backends \n" in logs, logs
    phase, logs = _run_client(api, FETCH.format(ns=NS, n=10, t=5, settle=60, unsettled="failed"), labels={"role": "allowed"})
    assert phase == "Succeeded", logs


@pytest.mark.addons("local-path")
def test_pvc_binds_and_keeps_data(api):
    cluster_addons.ensure("local-path")
    core = client.CoreV1Api(api)
    core.create_namespaced_persistent_volume_claim(NS, client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data"),
        spec=client.V1PersistentVolumeClaimSpec(access_modes=["ReadWriteOnce"],
                                                resources=client.V1VolumeResourceRequirements(requests={"storage": "64Mi"}))))
    writer = client.V1Pod(
        metadata=client.V1ObjectMeta(name="writer"),
        spec=client.V1PodSpec(restart_policy="Never", containers=[client.V1Container(
            name="w", image=IMAGE, command=["sh", "-c", "echo kept > /data/proof && cat /data/proof"],
            volume_mounts=[client.V1VolumeMount(name="d", mount_path="/data")])],
            volumes=[client.V1Volume(name="d", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
                claim_name="data"))]))
    core.create_namespaced_pod(NS, writer)
    progress.wait_until(lambda: (core.read_namespaced_pod("writer", NS).status.phase == "Succeeded",
                                 core.read_namespaced_pod("writer", NS).status.phase), what="writer pod", timeout=120)
    assert core.read_namespaced_persistent_volume_claim("data", NS).status.phase == "Bound"
    assert core.read_namespaced_pod_log("writer", NS).strip() == "kept"


@pytest.mark.addons("metrics-server")
def test_metrics_server_reports_pod_metrics(api):
    cluster_addons.ensure("metrics-server")  # registers metrics.k8s.io once metrics-server runs
    progress.wait_until(addons.metrics_ready, what="node metrics", timeout=180, interval=5)
    custom = client.CustomObjectsApi(api)

    def pod_metrics():
        items = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "kube-system", "pods")["items"]
        return bool(items), f"{len(items)} pods with metrics"

    progress.wait_until(pod_metrics, what="pod metrics", timeout=180, interval=5)


@pytest.mark.addons("metallb")
def test_load_balancer_service_gets_a_reachable_address(api):
    cluster_addons.ensure("metallb")
    core = client.CoreV1Api(api)
    if not core.list_namespaced_pod(NS, label_selector="app=web").items:
        _web(api, replicas=2)
    core.create_namespaced_service(NS, client.V1Service(
        metadata=client.V1ObjectMeta(name="web-lb"),
        spec=client.V1ServiceSpec(type="LoadBalancer", selector={"app": "web"},
                                  ports=[client.V1ServicePort(port=80, target_port=8080)])))

    def address():
        ingress = core.read_namespaced_service("web-lb", NS).status.load_balancer.ingress
        return bool(ingress), ingress[0].ip if ingress else "pending"

    ip = progress.wait_until(address, what="a LoadBalancer address", timeout=120)
    first, last = cluster_addons.address_pool()
    assert first.rsplit(".", 1)[0] == ip.rsplit(".", 1)[0]
    net = client.NetworkingV1Api(api)
    net.delete_collection_namespaced_network_policy(NS)  # the NetworkPolicy test above blocks outsiders
    progress.wait_until(lambda: (_reachable(ip), ip), what=f"http://{ip} from the host", timeout=60, interval=1)


def _reachable(ip: str) -> bool:
    try:
        return requests.get(f"http://{ip}/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.addons("metallb", "traefik")
def test_gateway_api_routes_through_traefik_from_the_host(api):
    """The Traefik add-on: a Gateway of class traefik gets Programmed with the LoadBalancer address of
    Traefik's Service, and an HTTPRoute's host reaches the Service's pods from the host."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    cluster_addons.ensure("metallb")
    cluster_addons.ensure("traefik")
    if not core.list_namespaced_pod(NS, label_selector="app=web").items:
        _web(api, replicas=2)
    client.NetworkingV1Api(api).delete_collection_namespaced_network_policy(NS)
    group = ("gateway.networking.k8s.io", "v1", NS)
    custom.create_namespaced_custom_object(*group, "gateways", {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "smoke"},
        "spec": {"gatewayClassName": "traefik", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}})
    custom.create_namespaced_custom_object(*group, "httproutes", {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "smoke"},
        "spec": {"parentRefs": [{"name": "smoke"}], "hostnames": ["smoke.example"],
                 "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}})

    def programmed():
        status = custom.get_namespaced_custom_object(*group, "gateways", "smoke").get("status", {})
        ok = any(c["type"] == "Programmed" and c["status"] == "True" for c in status.get("conditions", []))
        addresses = [a["value"] for a in status.get("addresses", [])]
        return ok and bool(addresses), addresses[0] if addresses else "not programmed"

    ip = progress.wait_until(programmed, what="Gateway smoke programmed", timeout=120)
    pods = {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="app=web").items}

    def routed():
        try:
            reply = requests.get(f"http://{ip}/", headers={"Host": "smoke.example"}, timeout=2)
        except requests.RequestException as exc:
            return False, exc.__class__.__name__
        return reply.status_code == 200 and reply.text in pods, f"{reply.status_code} {reply.text[:40]}"

    progress.wait_until(routed, what=f"smoke.example through {ip}", timeout=60, interval=1)
    assert requests.get(f"http://{ip}/", headers={"Host": "other.example"}, timeout=2).status_code == 404
