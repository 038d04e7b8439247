"""Every piece of the course cluster, pinned in one place.

Learners run kind's own node image (the one the pinned kind release names). Where no registry
can be reached, `labkit cluster build` makes an equivalent node image from these pins: Go programs
built from the Go module proxy, container images assembled from them with the classic builder,
all under the exact names kubeadm and the add-on manifests use.
"""
from __future__ import annotations

from dataclasses import dataclass

from labkit import config, releases
from labkit.goprogram import GoProgram, wrapper_module

KIND_VERSION = releases.version("kind")     # pinned in releases.toml: what a download and the Go build install
K8S_VERSION = releases.version("kubectl")  # the cluster's Kubernetes, and kubectl's
# The node image kind names by default (its pkg/apis/config/defaults/image.go), by tag: the offline build's
# name for it. A cluster that pulls it names it by digest (releases.node_image()).
NODE_IMAGE = releases.node_image().split("@")[0]
CLUSTER_NAME = "containers-course"
# Where `labkit cluster build` puts the programs it builds (kind and kubectl among them), by version.
BUILD_CACHE = config.cache_dir("cluster") / K8S_VERSION
BIN = BUILD_CACHE / "bin"
CONTEXT = f"kind-{CLUSTER_NAME}"

ETCD_VERSION = "v3.6.8"
COREDNS_VERSION = "v1.14.2"
PAUSE_VERSION = "3.10.2"
CONTAINERD_VERSION = "v2.3.1"
RUNC_VERSION = "v1.4.2"
CRICTL_VERSION = "v1.36.0"
CNI_PLUGINS_VERSION = "v1.9.1"
METRICS_SERVER_VERSION = "v0.8.0"
VPA_VERSION = "v1.8.1"  # the Vertical Pod Autoscaler: its recommender only (lab 10)
METALLB_VERSION = "v0.15.2"
LOCAL_PATH_VERSION = "v0.0.30"
KUBE_ROUTER_VERSION = "v2.1.0"
# Traefik serves the Gateway API and Ingress (lab 07). v3.6.12, not the newer v3.7: v3.7's module graph
# needs sixteen modules the Go module proxy refuses (lego v5's DNS providers). Its Gateway API is v1.4.
TRAEFIK_VERSION = "v3.6.12"
TRAEFIK_IMAGE = f"docker.io/library/traefik:{TRAEFIK_VERSION}"
GATEWAY_API_VERSION = "v1.4.0"

# Kubernetes' staging modules are published as v0.<minor>.<patch> of the same release.
_STAGING = """api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client
cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission
sample-apiserver sample-cli-plugin sample-controller streaming""".split()


def _k8s_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    # kubeadm compares its own version with the cluster's, so the binaries must report the real one.
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}",
                  f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean",
                  f"-X {pkg}.buildDate=1970-01-01T00:00:00Z"]
    return "all=" + " ".join(flags) + " -s -w"


K8S_COMMANDS = ("kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager",
                "kube-scheduler", "kube-proxy")

# CoreDNS's own main (coredns.go) imports core/plugin, so every plugin: the AWS, Azure and Google Cloud
# SDKs, etcd's client, Datadog and OpenTelemetry tracing, and more. This main, the way CoreDNS documents
# for a build with chosen plugins, links only those kind's Corefile uses (errors health ready kubernetes
# prometheus forward cache loop reload loadbalance), those a lab on service discovery may put in it
# (log hosts rewrite template whoami debug k8s_external autopath), root and bind (cheap), and metadata,
# dnstap and transfer, which kubernetes and forward import anyway. Directives keeps upstream's order
# (core/dnsserver/zdirectives.go of the version, filtered), which decides how the plugins chain.
# With an empty build cache it compiles in 164 CPU-s instead of 273 (2 cores, 105 s instead of 235)
# and the binary is 53 MB instead of 74. gobuild writes it into the wrapper module as main.go.
COREDNS_MAIN = """package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/autopath"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/dnstap"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/k8s_external"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metadata"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/rewrite"
	_ "github.com/coredns/coredns/plugin/root"
	_ "github.com/coredns/coredns/plugin/template"
	_ "github.com/coredns/coredns/plugin/transfer"
	_ "github.com/coredns/coredns/plugin/whoami"
)

// The order in which the plugins handle a query: upstream's, without the plugins left out.
var directives = []string{
	"root",
	"metadata",
	"reload",
	"bind",
	"debug",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"dnstap",
	"loadbalance",
	"cache",
	"rewrite",
	"autopath",
	"template",
	"transfer",
	"hosts",
	"k8s_external",
	"kubernetes",
	"loop",
	"forward",
	"whoami",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
"""

KUBERNETES = GoProgram("kubernetes", "k8s.io/kubernetes", K8S_VERSION,
                       {c: f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS}, ldflags=_k8s_ldflags(K8S_VERSION),
                       replaces={f"k8s.io/{m}": "v0." + K8S_VERSION.split(".", 1)[1] for m in _STAGING})
PROGRAMS: tuple[GoProgram, ...] = (
    GoProgram("kind", "sigs.k8s.io/kind", KIND_VERSION, {"kind": "sigs.k8s.io/kind"}, ldflags="-s -w"),
    KUBERNETES,
    GoProgram("etcd", "go.etcd.io/etcd/server/v3", ETCD_VERSION,
              {"etcd": "go.etcd.io/etcd/server/v3", "etcdctl": "go.etcd.io/etcd/etcdctl/v3"},
              ldflags="-s -w", requires={"go.etcd.io/etcd/etcdctl/v3": ETCD_VERSION}),
    GoProgram("coredns", "github.com/coredns/coredns", COREDNS_VERSION,
              {"coredns": wrapper_module("coredns")}, ldflags="-s -w", main_go=COREDNS_MAIN),
    GoProgram("containerd", "github.com/containerd/containerd/v2", CONTAINERD_VERSION,
              {c: f"github.com/containerd/containerd/v2/cmd/{c}" for c in ("containerd", "containerd-shim-runc-v2", "ctr")},
              ldflags=f"-s -w -X github.com/containerd/containerd/v2/version.Version={CONTAINERD_VERSION}",
              tags="no_btrfs no_devmapper no_zfs"),
    # runc filters system calls with libseccomp, through cgo: the build host needs libseccomp-dev.
    GoProgram("runc", "github.com/opencontainers/runc", RUNC_VERSION, {"runc": "github.com/opencontainers/runc"},
              ldflags=f"-s -w -X main.version={RUNC_VERSION.lstrip('v')}", tags="seccomp urfave_cli_no_docs", cgo=True),
    GoProgram("crictl", "sigs.k8s.io/cri-tools", CRICTL_VERSION, {"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"},
              ldflags=f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={CRICTL_VERSION}"),
    GoProgram("cni-plugins", "github.com/containernetworking/plugins", CNI_PLUGINS_VERSION,
              {p.rsplit("/", 1)[1]: f"github.com/containernetworking/plugins/plugins/{p}"
               for p in ("ipam/host-local", "main/loopback", "main/ptp", "meta/portmap")},
              ldflags="-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion="
                      + CNI_PLUGINS_VERSION),
    # NetworkPolicy for the offline node image: kube-router's firewall alone, as k3s embeds it.
    GoProgram("kube-router", "github.com/cloudnativelabs/kube-router/v2", KUBE_ROUTER_VERSION,
              {"kube-router": "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"},
              ldflags=f"-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={KUBE_ROUTER_VERSION}"),
)


# Add-ons a lab needs on top of what every node preloads, built after the node image (so a cluster, and
# every lab that needs none of them, never waits for them) and loaded into the nodes by `kind load`
# (cluster_addons.ensure). Built in this order: MetalLB (labs 06 and 07; 06 is the longest lab),
# local-path (lab 08; a short build, so a lab can run while Traefik compiles), Traefik (lab 07), then
# metrics-server, which only the cluster's smoke test needs before lab 10 (tests/run_labs.py starts first
# the units whose add-ons are built: on a fresh machine's .ci/run, Traefik ready before metrics-server
# let lab 07 run while metrics-server compiled, instead of after it).
ADDON_PROGRAMS: tuple[GoProgram, ...] = (
    GoProgram("metallb", "go.universe.tf/metallb", METALLB_VERSION,
              {"controller": "go.universe.tf/metallb/controller", "speaker": "go.universe.tf/metallb/speaker"},
              ldflags="-s -w"),
    # Built against Kubernetes' own module graph (client-go v0.36.1 instead of v0.30.0, and so on): the packages it
    # shares with the node's Kubernetes build then come from Go's cache, 9 CPU-s instead of 122 (measured
    # 2026-12-07 in a cache holding only that build; lab 08 and the cluster's tests run it). Tried on the others:
    # MetalLB v0.15.2 does not compile against client-go v0.36 (an informer interface grew a method);
    # metrics-server v0.8.0 compiles (86 CPU-s instead of 273) but panics at start (apiserver v0.36 finds no
    # OpenAPI model for its NodeMetrics); the VPA recommender 1.8.1 and Traefik already require newer modules
    # than Kubernetes 1.36.1 (k8s.io v0.37.1, x/net v0.51), so nothing is shared; kube-router: 160 CPU-s, not 175.
    GoProgram("local-path-provisioner", "github.com/rancher/local-path-provisioner", LOCAL_PATH_VERSION,
              {"local-path-provisioner": "github.com/rancher/local-path-provisioner"}, ldflags="-s -w",
              aligned_with=KUBERNETES),
    # Traefik's go.mod replaces three modules with its own forks: a program built as a dependency must say so itself.
    GoProgram("traefik", "github.com/traefik/traefik/v3", TRAEFIK_VERSION,
              {"traefik": "github.com/traefik/traefik/v3/cmd/traefik"},
              ldflags=f"-s -w -X github.com/traefik/traefik/v3/pkg/version.Version={TRAEFIK_VERSION}",
              replaces={"github.com/abbot/go-http-auth":
                        "github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e",
                        "github.com/gorilla/mux": "github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59",
                        "github.com/mailgun/minheap": "github.com/containous/minheap v0.0.0-20190809180810-6e71eb837595"}),
    GoProgram("metrics-server", "sigs.k8s.io/metrics-server", METRICS_SERVER_VERSION,
              {"metrics-server": "sigs.k8s.io/metrics-server/cmd/metrics-server"}, ldflags="-s -w"),
    # Last: only lab 10 needs it (261 CPU-s, 179 s on two cores, measured 2026-12-07).
    GoProgram("vpa-recommender", "k8s.io/autoscaler/vertical-pod-autoscaler", VPA_VERSION,
              {"recommender": "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender"}, ldflags="-s -w"),
)


def program(name: str) -> GoProgram:
    return next(p for p in PROGRAMS + ADDON_PROGRAMS if p.name == name)


@dataclass(frozen=True)
class ClusterImage:
    ref: str                          # the exact name kubeadm or a manifest asks for
    binaries: tuple[str, ...]         # built programs copied into the image
    dest: str = "/usr/local/bin"      # where they go
    entrypoint: str = ""              # for images whose manifests pass only args
    packages: tuple[str, ...] = ()    # Debian packages; none means FROM scratch


_REG = "registry.k8s.io"
PODNET_IMAGE = "course/kind-podnet:1"
# The three node images that need network tools install the same set, so Docker's build cache gives them
# one shared layer: a new node unpacks it once instead of three times (~160 MB less per node, the
# largest part of the time between a node joining and its network being ready).
NODE_NET_PACKAGES = ("conntrack", "ipset", "iproute2", "iptables", "nftables")
CLUSTER_IMAGES: tuple[ClusterImage, ...] = (
    ClusterImage(f"{_REG}/pause:{PAUSE_VERSION}", ("pause",), "/", "/pause"),
    ClusterImage(f"{_REG}/kube-apiserver:{K8S_VERSION}", ("kube-apiserver",)),
    ClusterImage(f"{_REG}/kube-controller-manager:{K8S_VERSION}", ("kube-controller-manager",)),
    ClusterImage(f"{_REG}/kube-scheduler:{K8S_VERSION}", ("kube-scheduler",)),
    ClusterImage(f"{_REG}/kube-proxy:{K8S_VERSION}", ("kube-proxy",), packages=NODE_NET_PACKAGES),
    ClusterImage(f"{_REG}/etcd:{ETCD_VERSION.lstrip('v')}-0", ("etcd", "etcdctl")),
    ClusterImage(f"{_REG}/coredns/coredns:{COREDNS_VERSION}", ("coredns",), "/", "/coredns"),
    ClusterImage(f"docker.io/cloudnativelabs/kube-router:{KUBE_ROUTER_VERSION}", ("kube-router",),
                 packages=NODE_NET_PACKAGES),
    # The offline node's pod network: routes between nodes' pod ranges (see default-cni.yaml).
    ClusterImage(PODNET_IMAGE, ("kubectl",), packages=NODE_NET_PACKAGES),
)

METALLB_IMAGES = (f"quay.io/metallb/controller:{METALLB_VERSION}", f"quay.io/metallb/speaker:{METALLB_VERSION}")
LOCAL_PATH_IMAGE = f"docker.io/rancher/local-path-provisioner:{LOCAL_PATH_VERSION}"
METRICS_SERVER_IMAGE = f"{_REG}/metrics-server/metrics-server:{METRICS_SERVER_VERSION}"
VPA_RECOMMENDER_IMAGE = f"{_REG}/autoscaling/vpa-recommender:{VPA_VERSION.lstrip('v')}"
ADDON_IMAGES: tuple[ClusterImage, ...] = (
    ClusterImage(METALLB_IMAGES[0], ("controller",), "/", "/controller"),
    ClusterImage(METALLB_IMAGES[1], ("speaker",), "/", "/speaker"),
    ClusterImage(LOCAL_PATH_IMAGE, ("local-path-provisioner",)),
    ClusterImage(TRAEFIK_IMAGE, ("traefik",), "/", "/traefik"),
    ClusterImage(METRICS_SERVER_IMAGE, ("metrics-server",), "/", "/metrics-server"),
    ClusterImage(VPA_RECOMMENDER_IMAGE, ("recommender",), "/", "/recommender"),
)


@dataclass(frozen=True)
class Addon:
    """An add-on as a lab needs it: its images, and the workloads (namespace, kind, name) that must be
    ready before it works. `make cluster` installs every add-on's manifest; cluster_addons.ensure makes
    one work (offline: waits for its image's build and loads it into the nodes)."""
    name: str
    images: tuple[str, ...]
    workloads: tuple[tuple[str, str, str], ...]
    needed_by: str


ADDONS: dict[str, Addon] = {a.name: a for a in (
    Addon("metallb", METALLB_IMAGES, (("metallb-system", "deployment", "controller"),
                                      ("metallb-system", "daemonset", "speaker")), "labs 06 and 07"),
    # kind's own node image ships the provisioner under this name; the offline one from default-storage.yaml.
    Addon("local-path", (LOCAL_PATH_IMAGE,), (("local-path-storage", "deployment", "local-path-provisioner"),),
          "lab 08"),
    Addon("traefik", (TRAEFIK_IMAGE,), (("traefik", "deployment", "traefik"),), "lab 07"),
    # Its aggregated API (metrics.k8s.io) is registered only once it runs (cluster_addons.METRICS_API): a
    # registered API with no backend makes every namespace deletion hang.
    Addon("metrics-server", (METRICS_SERVER_IMAGE,), (("kube-system", "deployment", "metrics-server"),),
          "the smoke test and lab 10"),
    # The recommender alone: lab 10 asks for recommendations and applies none (no updater, no admission
    # controller: nothing the VPA does can evict or resize a pod here).
    Addon("vpa", (VPA_RECOMMENDER_IMAGE,), (("kube-system", "deployment", "vpa-recommender"),), "lab 10"),
)}
