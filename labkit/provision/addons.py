"""Add-ons the labs need on top of kind: metrics-server (lab 10's autoscaling) and the Vertical Pod
Autoscaler's recommender (lab 10: recommendations only, so no updater or admission controller), MetalLB, so a
`type: LoadBalancer` Service gets an address, and Traefik with the Gateway API's CRDs (lab 07: how
traffic gets in, through a Gateway and through an Ingress). NetworkPolicy needs nothing extra: kind's kindnet
enforces it, and so does the offline node image (kube-router's firewall).

Why MetalLB and not cloud-provider-kind (kind's own answer): cloud-provider-kind runs an Envoy
container per Service, and Envoy cannot be built from the Go module proxy, so the offline path
could not have it. MetalLB is Go, well kept, and in layer-2 mode hands out addresses from the kind
Docker network, which the host reaches directly on Linux.

Why Traefik: the Gateway API implementations built on Envoy (Contour, Envoy Gateway, Istio,
cloud-provider-kind's) cannot be built from the Go module proxy; Traefik is pure Go, serves both the
Gateway API and Ingress, and is one small Deployment. Its manifest is the course's own
(manifests/traefik.yaml), from Traefik's reference RBAC.

Offline, MetalLB's, local-path's, metrics-server's and Traefik's images are built after the node image
(cluster_parts.ADDONS): `install` applies every manifest and makes work what it can; a lab makes work
what it needs (cluster_addons.ensure). metrics-server's APIService is left to ensure, which applies it
once metrics-server runs (why: cluster_addons).

The other manifests are the projects' own release manifests, pinned: from the Go module cache when the
offline build has put the module there (no network), else downloaded from the release.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from labkit import cluster, cluster_addons, releases
from labkit.cluster_addons import kubectl
from labkit import cluster_parts as parts
from labkit.errors import LabError

METRICS_SERVER_URL = ("https://github.com/kubernetes-sigs/metrics-server/releases/download/"
                      f"{parts.METRICS_SERVER_VERSION}/components.yaml")
METALLB_URL = ("https://raw.githubusercontent.com/metallb/metallb/"
               f"{parts.METALLB_VERSION}/config/manifests/metallb-native.yaml")
GATEWAY_API_URL = ("https://github.com/kubernetes-sigs/gateway-api/releases/download/"
                   f"{parts.GATEWAY_API_VERSION}/standard-install.yaml")
VPA_URL = ("https://raw.githubusercontent.com/kubernetes/autoscaler/"
           f"vertical-pod-autoscaler-{parts.VPA_VERSION.lstrip('v')}/vertical-pod-autoscaler/deploy/")
VPA_FILES = ("vpa-v1-crd-gen.yaml", "vpa-rbac.yaml", "recommender-deployment.yaml")
# The recommender's loop every 5 s (its default, a minute, makes a learner wait for a first recommendation; it reads
# metrics-server, which has a new sample every 10 s), tracking only the pods a VPA names (the idle cluster's memory).
VPA_RECOMMENDER_ARGS = ["--recommender-interval=5s", "--memory-saver"]
# metrics-server on kind: kind's kubelets serve self-signed certificates, so it must not verify them; and a sample
# every 10 s, the shortest it allows, instead of the release manifest's 15 s (lab 10's HPA reacts that much sooner).
# It refuses to start unless a kubelet request times out sooner than that (default 10 s): 8 s, for a local kubelet.
METRICS_SERVER_ARGS = {"--kubelet-insecure-tls": "", "--metric-resolution": "10s", "--kubelet-request-timeout": "8s"}
TRAEFIK_MANIFEST = Path(__file__).parent / "manifests" / "traefik.yaml"
TRAEFIK_IMAGE = parts.TRAEFIK_IMAGE


def _module_copy(module: str, version: str):
    """The module's folder in the Go module cache, if it is there (never downloads)."""
    try:
        done = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    path = Path(done.stdout.strip()) / f"{module}@{version}"
    return path if done.returncode == 0 and path.is_dir() else None


def _download(url: str) -> str:
    import requests

    try:
        answer = requests.get(url, timeout=60)
        answer.raise_for_status()
    except requests.RequestException as exc:
        raise LabError(f"Could not download {url} ({exc.__class__.__name__}).",
                       "check your network; offline, run `make cluster-images` first (it keeps the manifests).") from None
    return answer.text


def metrics_server_manifest() -> str:
    local = _module_copy("sigs.k8s.io/metrics-server", parts.METRICS_SERVER_VERSION)
    if local:
        # The release's components.yaml is this kustomization, built.
        return kubectl("kustomize", str(local / "manifests/overlays/release"))
    return _download(METRICS_SERVER_URL)


def metallb_manifest() -> str:
    local = _module_copy("go.universe.tf/metallb", parts.METALLB_VERSION)
    if local:
        return (local / "config/manifests/metallb-native.yaml").read_text()
    return _download(METALLB_URL)


def gateway_api_crds() -> str:
    """The Gateway API's standard channel CRDs (GatewayClass, Gateway, HTTPRoute, GRPCRoute, ReferenceGrant,
    BackendTLSPolicy) at the version Traefik implements."""
    local = _module_copy("sigs.k8s.io/gateway-api", parts.GATEWAY_API_VERSION)
    if local:
        crds = sorted((local / "config/crd/standard").glob("gateway.networking.k8s.io_*.yaml"))
        return "\n---\n".join(f.read_text() for f in crds)
    return _download(GATEWAY_API_URL)


def vpa_manifests() -> tuple[str, str]:
    """(the VPA's CRDs, its RBAC and the recommender's Deployment): the release's deploy/ files, from the Go
    module cache offline, else from the release tag; the recommender with VPA_RECOMMENDER_ARGS."""
    local = _module_copy("k8s.io/autoscaler/vertical-pod-autoscaler", parts.VPA_VERSION)
    crds, rbac, recommender = ((local / "deploy" / f).read_text() if local else _download(VPA_URL + f)
                               for f in VPA_FILES)
    docs = [d for d in yaml.safe_load_all(recommender) if d]
    for doc in docs:
        if doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "vpa-recommender":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            if container["image"] != parts.VPA_RECOMMENDER_IMAGE:
                raise LabError(f"The VPA {parts.VPA_VERSION} recommender's manifest runs {container['image']}, not "
                               f"{parts.VPA_RECOMMENDER_IMAGE}.", "update cluster_parts.VPA_RECOMMENDER_IMAGE.")
            container["args"] = [*container.get("args", []), *VPA_RECOMMENDER_ARGS]
    return crds, rbac + "\n---\n" + probed_promptly(yaml.safe_dump_all(docs))


def traefik_manifest() -> str:
    return TRAEFIK_MANIFEST.read_text().replace("IMAGE", TRAEFIK_IMAGE)


def metrics_server_for_kind(manifest: str) -> str:
    """metrics-server's release manifest with METRICS_SERVER_ARGS: each one set once, replacing the release's."""
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    for doc in docs:
        if doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "metrics-server":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            args = [a for a in container.get("args", []) if a.split("=", 1)[0] not in METRICS_SERVER_ARGS]
            container["args"] = args + [f"{k}={v}" if v else k for k, v in METRICS_SERVER_ARGS.items()]
    return yaml.safe_dump_all(docs)


# kind labels its control-plane node node.kubernetes.io/exclude-from-external-load-balancers, and MetalLB's
# speaker never announces an address from such a node: its speaker there would only hold memory (~55 MiB).
SPEAKER_NODES = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "node.kubernetes.io/exclude-from-external-load-balancers",
                           "operator": "DoesNotExist"}]}]}}}


def speakers_where_they_announce(manifest: str) -> str:
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    for doc in docs:
        if doc.get("kind") == "DaemonSet" and doc["metadata"]["name"] == "speaker":
            doc["spec"]["template"]["spec"]["affinity"] = SPEAKER_NODES
    return yaml.safe_dump_all(docs)


def probed_promptly(manifest: str) -> str:
    """Readiness probes that ask within a second or two. The releases' first ask after 10 s (MetalLB) or 20 s
    (metrics-server) and then every 10 s: a pod that answers at once still counted as unready that long, and
    `make cluster` waits for every add-on's readiness. Liveness probes stay as they are (they restart pods)."""
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    for doc in docs:
        if doc.get("kind") in ("Deployment", "DaemonSet"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                probe = container.get("readinessProbe")
                if probe:
                    probe["initialDelaySeconds"] = min(probe.get("initialDelaySeconds", 0), 1)
                    probe["periodSeconds"] = min(probe.get("periodSeconds", 10), 2)
    return yaml.safe_dump_all(docs)


def without_metrics_api(manifest: str) -> str:
    """metrics-server's release manifest without its APIService, which cluster_addons.ensure registers once
    metrics-server runs; that APIService must be the one cluster_addons keeps (METRICS_API)."""
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    api = [d for d in docs if d.get("kind") == "APIService"]
    if api != [cluster_addons.METRICS_API]:
        raise LabError(f"metrics-server {parts.METRICS_SERVER_VERSION}'s release manifest registers a different API "
                       "than the course expects.", "update cluster_addons.METRICS_API to the manifest's APIService.")
    return yaml.safe_dump_all([d for d in docs if d.get("kind") != "APIService"])


def install(log=print) -> None:
    """Install (or update in place) every add-on's manifest, and make work those whose images are at hand
    (all of them on a learner's machine). Offline, an add-on still building is made to work by the lab
    that needs it (cluster_addons.ensure), so a new cluster waits for none of them. Idempotent."""
    apply(log)
    make_work(log)


def by_digest(manifest: str) -> str:
    """The manifest with each image releases.toml pins named by digest: for a cluster that pulls them (a tag
    can be pushed again). Offline the images are built here under their tags, and the tags stay."""
    return re.sub(r"^(\s*-?\s*image:\s*[\"']?)([^\s\"'@]+)(?=[\"']?\s*$)",
                  lambda m: m.group(1) + releases.pinned(m.group(2)), manifest, flags=re.MULTILINE)


def apply(log=print) -> None:
    """Every add-on's manifest, applied (or updated in place)."""
    pin = (lambda manifest: manifest) if cluster.offline_node_image() else by_digest
    log(f"metrics-server {parts.METRICS_SERVER_VERSION}")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
            stdin=pin(probed_promptly(without_metrics_api(metrics_server_for_kind(metrics_server_manifest())))))
    log(f"MetalLB {parts.METALLB_VERSION} (layer 2, addresses from the kind network)")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=pin(probed_promptly(speakers_where_they_announce(metallb_manifest()))))
    # kubeadm runs two CoreDNS replicas, for a cluster that must answer while a node is down; one answers
    # the labs' queries as well and leaves ~60 MiB to them (`make bench`: the idle cluster's memory).
    kubectl("-n", "kube-system", "scale", "deployment", "coredns", "--replicas=1")
    log(f"Gateway API {parts.GATEWAY_API_VERSION} (standard channel) and Traefik {parts.TRAEFIK_VERSION}")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=gateway_api_crds())
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/gatewayclasses.gateway.networking.k8s.io")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=pin(traefik_manifest()))
    log(f"Vertical Pod Autoscaler {parts.VPA_VERSION}: its recommender")
    crds, recommender = vpa_manifests()
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=crds)
    kubectl("wait", "--for=condition=Established", "--timeout=60s",
            "crd/verticalpodautoscalers.autoscaling.k8s.io")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=pin(recommender))


def make_work(log=print) -> None:
    """Every add-on whose images are at hand made to work (cluster_addons.ensure); the others said."""
    for name, addon in parts.ADDONS.items():
        if cluster_addons.can_work_now(name):
            cluster_addons.ensure(name, log=log)
        else:
            log(f"{name}: its images are not built yet ({', '.join(addon.images)}); {addon.needed_by} "
                "will load them into the nodes when they start")


def metrics_ready() -> tuple[bool, str]:
    """True once the metrics API answers with node metrics (a minute or so after install)."""
    try:
        out = kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes")
    except LabError:
        return False, "metrics API not answering yet"
    return bool(json.loads(out).get("items")), "node metrics"

