"""Lab 07 checks: the pod network observed (pod IPs, no NAT between pods, the CNI plugin on a node),
NetworkPolicy proven by traffic (default-deny, the chapter's policy, DNS on UDP and TCP), and traffic
coming in through the Gateway API and an Ingress (the course cluster's Traefik add-on).

A fleet of small pods (apps/nettools: serve.py answers and logs who connected, probe.py connects
and resolves with short time-outs) plays the chapter's nginx, api, postgres and redis. The checks
read the API server, the nodes and real traffic between the pods, never the YAML the learner wrote:
a policy is right when the probes say so, and the policy's shape only chooses the hint.
"""
from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass

from labkit import cluster, cluster_addons, netpol, probe_matrix, render, settling
from labkit.checks import Checks, api_object, require
from labkit.errors import LabError, friendly
from labkit.kube import node_exec

checks = Checks()

IMAGE = "docker.io/library/python:3.11-slim-bookworm"
MONITORING = "lab07-monitoring"
TOOLS = "net-tools"
# name -> (port, which worker: 0 or 1, namespace or None for the lab's). api and postgres share a
# node, nginx and other sit on the other one: "across nodes" and "same node" are both at hand.
FLEET = {
    "api": (3000, 0, None),
    "postgres": (5432, 0, None),
    "redis": (6379, 1, None),
    "nginx": (8080, 1, None),
    "other": (8080, 1, None),
    "prometheus": (9090, 0, MONITORING),
}
SERVICES = ("api", "postgres", "redis")
# Decoys: ports a pod listens on besides its own, where only a rule wider than the exercise asks would
# let traffic in. prometheus (a namespace no policy governs) on postgres's and redis's ports: an egress
# rule naming those ports with no destination (`- ports: [...]` without `to`) lets api reach it there.
# other on api's port: a policy whose own podSelector is wider than app: api lets nginx into it there.
DECOY_PORTS = {"prometheus": (5432, 6379), "other": (3000,)}


# --- set-up -------------------------------------------------------------------------------------
@friendly
def prepare(lab) -> None:
    """The fleet: one pod per part of the chapter's application (plus `other`, and `prometheus` in a
    second namespace), each serving HTTP on its port, with Services for api, postgres and redis."""
    cluster.load_images(IMAGE)
    tools = {f.name: f.read_text() for f in sorted((lab.workdir / "nettools").glob("*.py"))}
    _ensure_namespace(lab, MONITORING)
    workers = _workers(lab)
    for ns in (lab.kube.namespace, MONITORING):
        _apply_config_map(lab, ns, tools)
    for name, (port, worker, ns) in FLEET.items():
        _ensure_pod(lab, name, port, workers[worker % len(workers)], ns or lab.kube.namespace)
    for name in SERVICES:
        _ensure_service(lab, name, FLEET[name][0])
    for name, (_, _, ns) in FLEET.items():
        lab.kube.wait_pod_ready(name, namespace=ns, timeout=90)
    print(f"{len(FLEET)} pods serving in {lab.kube.namespace} and {MONITORING}; "
          "`kubectl -n $NS exec nginx -- python3 /tools/probe.py HOST:PORT` connects from nginx")


def _workers(lab) -> list[str]:
    """The worker nodes' names (the control plane's when there is none), sorted."""
    nodes = lab.kube.nodes()
    workers = [n.metadata.name for n in nodes
               if "node-role.kubernetes.io/control-plane" not in (n.metadata.labels or {})]
    return sorted(workers or [n.metadata.name for n in nodes])


def _create_or_keep(create) -> None:
    from kubernetes import client

    try:
        create()
    except client.ApiException as exc:
        if exc.status != 409:
            raise


def _ensure_namespace(lab, name: str) -> None:
    from kubernetes import client

    _create_or_keep(lambda: lab.kube.core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=lab.kube.labels))))


def _apply_config_map(lab, ns: str, data: dict) -> None:
    from kubernetes import client

    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=TOOLS, labels=lab.kube.labels), data=data)
    try:
        lab.kube.core.create_namespaced_config_map(ns, body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        lab.kube.core.replace_namespaced_config_map(TOOLS, ns, body)


def _ensure_pod(lab, name: str, port: int, node: str, ns: str) -> None:
    from kubernetes import client

    if lab.kube.pod(name, ns) is not None:
        return
    container = client.V1Container(
        name=name, image=IMAGE, command=["python3", "/tools/serve.py", str(port),
                                         *map(str, DECOY_PORTS.get(name, ()))],
        ports=[client.V1ContainerPort(container_port=port)],
        # A TCP probe comes from the node, which NetworkPolicy always lets in, and logs no request.
        readiness_probe=client.V1Probe(tcp_socket=client.V1TCPSocketAction(port=port), period_seconds=2),
        volume_mounts=[client.V1VolumeMount(name="tools", mount_path="/tools")])
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={**lab.kube.labels, "app": name}),
        spec=client.V1PodSpec(
            containers=[container], termination_grace_period_seconds=1,
            node_selector={"kubernetes.io/hostname": node},
            volumes=[client.V1Volume(name="tools", config_map=client.V1ConfigMapVolumeSource(name=TOOLS))]))
    lab.kube.core.create_namespaced_pod(ns, pod)


def _ensure_service(lab, name: str, port: int) -> None:
    from kubernetes import client

    body = client.V1Service(
        metadata=client.V1ObjectMeta(name=name, labels=lab.kube.labels),
        spec=client.V1ServiceSpec(selector={"app": name}, ports=[client.V1ServicePort(port=port)]))
    _create_or_keep(lambda: lab.kube.core.create_namespaced_service(lab.kube.namespace, body))


# --- probes -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    source: str      # a pod of the fleet
    target: str      # a pod of the fleet (by its IP), "dns-udp"/"dns-tcp" (postgres's name), or "name" (postgres:5432)
    goal: bool       # what the finished lab allows (the chapter's intent)
    check: str       # the check this row is evidence for
    port: int = 0    # another port than the target's own (a decoy's)

    @property
    def target_port(self) -> int:
        return self.port or FLEET[self.target][0]

    @property
    def label(self) -> str:
        if self.target.startswith("dns"):
            return f"{self.source} → DNS over {self.target[4:].upper()} (postgres)"
        if self.target == "name":
            return f"{self.source} → postgres:5432 by name"
        return f"{self.source} → {self.target}:{self.target_port}"


PROBES = (
    Probe("nginx", "api", True, "ingress"),
    Probe("prometheus", "api", True, "ingress"),
    Probe("other", "api", False, "ingress"),
    Probe("nginx", "other", False, "ingress", DECOY_PORTS["other"][0]),
    Probe("nginx", "other", False, "default-deny"),
    Probe("api", "postgres", True, "egress"),
    Probe("api", "redis", True, "egress"),
    Probe("api", "prometheus", False, "egress"),  # outside the namespace: no default-deny there to hide a leak
    *(Probe("api", "prometheus", False, "egress", port) for port in DECOY_PORTS["prometheus"]),
    Probe("api", "dns-udp", True, "dns"),
    Probe("api", "dns-tcp", True, "dns"),
    Probe("api", "name", True, "dns"),
)


def _ns(pod: str, lab) -> str:
    return FLEET[pod][2] or lab.kube.namespace


def _ips(lab) -> dict[str, str]:
    ips = {}
    for name in FLEET:
        pod = lab.kube.pod(name, _ns(name, lab))
        if pod is None or not cluster.has_condition(pod, "Ready") or not pod.status.pod_ip:
            raise LabError(f"The lab's pod {name} is missing or not Ready, so traffic cannot be tested.",
                           "rerun the set-up cell (lab07.prepare(lab)): it recreates the fleet.")
        ips[name] = pod.status.pod_ip
    return ips


def _target(probe: Probe, ips: dict[str, str]) -> str:
    if probe.target.startswith("dns"):
        return f"{probe.target}:postgres"
    if probe.target == "name":
        return "postgres:5432/probe"
    return f"{ips[probe.target]}:{probe.target_port}/probe"  # /probe: never mistaken for the learner's


def _in_fleet(lab) -> dict:
    """What probe_matrix needs to run lab 07's probes: where each goes, and each source pod's namespace."""
    ips = _ips(lab)
    return {"target_of": lambda p: _target(p, ips), "namespace_of": lambda pod: _ns(pod, lab)}


def run_probes(lab, probes=PROBES) -> list[probe_matrix.Outcome]:
    """Every probe, for real: one `exec` of probe.py per source pod, all sources at once."""
    return probe_matrix.run(lab.kube, probes, **_in_fleet(lab))


def _settled(lab, probes) -> list[probe_matrix.Outcome]:
    """The probes' outcomes, the rows that miss the goal probed again (a policy applied a moment ago takes a
    second or two to reach every node)."""
    return probe_matrix.settled(lab.kube, probes, **_in_fleet(lab))


def matrix(lab) -> list[probe_matrix.Outcome]:
    """Who can reach whom right now, next to what the finished lab allows: a picture of the probes."""
    outcomes = run_probes(lab)
    render.table(["probe", "now", "detail", "the goal", ""], probe_matrix.rows(outcomes, lambda p: p.label))
    return outcomes


# --- policies (labkit.netpol reads them; the fleet's pods are labelled app=<name>) -------------------
def _policies(lab) -> list:
    return lab.kube.networking.list_namespaced_network_policy(lab.kube.namespace).items


def _governing(lab, pod: str, direction: str) -> list:
    """The policies that select the fleet's pod for a direction (Ingress or Egress)."""
    return netpol.governing(_policies(lab), {"app": pod}, direction)


def _row(outcomes, source: str, target: str) -> probe_matrix.Outcome:
    return next(o for o in outcomes if o.probe.source == source and o.probe.target == target and not o.probe.port)


def _verdict(o: probe_matrix.Outcome) -> str:
    return "got through" if o.allowed else ("found no DNS" if o.result == "no-dns" else f"was blocked ({o.detail})")


def _rows_for(check: str) -> tuple[Probe, ...]:
    return tuple(p for p in PROBES if p.check == check or (check == "default-deny" and p.label == "other → api:3000"))


# --- checks -------------------------------------------------------------------------------------
REQUEST_LINE = re.compile(r"^(\d+\.\d+\.\d+\.\d+) ([A-Z]+) (/\S*)$", re.M)  # serve.py's log lines


@checks("model", "A request from a pod on the other node (nginx) reached api with that pod's own IP (no NAT)")
@friendly
def model(lab):
    pods = {}
    for ns in (lab.kube.namespace, MONITORING):
        for pod in lab.kube.core.list_namespaced_pod(ns).items:
            if pod.status.pod_ip:
                pods[pod.status.pod_ip] = pod
    api = pods.get(_ips(lab)["api"])
    cidrs = {n.metadata.name: n.spec.pod_cidr for n in lab.kube.nodes()}
    nodes = {a.address: n.metadata.name for n in lab.kube.nodes() for a in n.status.addresses or []}
    outside = [f"{p.metadata.name} {ip} not in {cidrs.get(p.spec.node_name)}" for ip, p in pods.items()
               if not p.spec.host_network and cidrs.get(p.spec.node_name)
               and ipaddress.ip_address(ip) not in ipaddress.ip_network(cidrs[p.spec.node_name])]
    require(not outside, f"pods outside their node's pod range: {'; '.join(outside)}.",
            "this cluster's network plugin does not hand out addresses per node; the lab expects kind's.")
    log = lab.kube.core.read_namespaced_pod_log("api", lab.kube.namespace, tail_lines=500)
    requests = [m.groups() for m in REQUEST_LINE.finditer(log) if not m.group(3).startswith("/probe")]
    require(requests, "api's log holds no request of yours (the lab's own probes, GET /probe, do not count).",
            "from nginx, request api's pod IP: kubectl -n $NS exec nginx -- python3 /tools/probe.py $API_IP:3000/hello")
    ip, _, path = requests[-1]
    sender = pods.get(ip)
    if ip in nodes:
        require(False, f"api's newest request ({path}) came from {ip}, the address of node {nodes[ip]} itself: "
                "it was sent from the node's network (a hostNetwork pod, or the node), not from a pod's own address.",
                "send it from the pod nginx (kubectl -n $NS exec nginx -- ...), which has an address of its own.")
    require(sender is not None, f"api's newest request ({path}) came from {ip}, which is no pod of the lab.",
            "send a request of your own from nginx to api's pod IP and port (/tools/probe.py HOST:PORT/PATH).")
    require(sender.metadata.name != "api", f"api's newest request ({path}) came from api itself ({ip}).",
            "send it from nginx, a pod on another node.")
    require(sender.spec.node_name != api.spec.node_name,
            f"api's newest request ({path}) came from {sender.metadata.name}, on api's own node {api.spec.node_name}: "
            "the packet never left the node.", "send it from nginx, which runs on the other worker.")
    return (f"api ({api.status.pod_ip} on {api.spec.node_name}) logged GET {path} from {ip}, the address of "
            f"{sender.metadata.name} on {sender.spec.node_name} (pod range {cidrs.get(sender.spec.node_name)}): "
            "no NAT between pods.")


CNI_KEYS = ("config_file", "plugins", "ipam", "binaries")


def node_cni(node: str) -> dict:
    """What a node's CNI configuration really says (the first file by name is the one the runtime uses)."""
    files = sorted(f for f in node_exec(node, "ls", "/etc/cni/net.d").split() if f.endswith((".conf", ".conflist")))
    if not files:
        return {"config_file": None, "plugins": [], "ipam": None, "binaries": "/opt/cni/bin", "installed": []}
    conf = json.loads(node_exec(node, "cat", f"/etc/cni/net.d/{files[0]}"))
    plugins = conf.get("plugins") or [conf]
    return {"config_file": files[0], "plugins": [p.get("type") for p in plugins],
            "ipam": (plugins[0].get("ipam") or {}).get("type"), "binaries": "/opt/cni/bin",
            "installed": node_exec(node, "ls", "/opt/cni/bin").split()}


def _recorded(lab) -> dict:
    """What the learner recorded in the ConfigMap cni ({} when there is none)."""
    from kubernetes import client

    try:
        cm = lab.kube.core.read_namespaced_config_map("cni", lab.kube.namespace)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        return {}
    return cm.data or {}


@checks("cni", "Your reading of a node's CNI configuration (ConfigMap cni) matches the node")
@friendly
def cni(lab):
    answer = _recorded(lab)
    missing = [k for k in CNI_KEYS if not answer.get(k, "").strip()]
    require(not missing, f"the ConfigMap cni has no {', '.join(missing)}.",
            "record what you read on the node: the cell above creates it with kubectl create configmap cni "
            "--from-literal=KEY=VALUE for each key.")
    node = _workers(lab)[0]
    truth = node_cni(node)
    name = str(answer["config_file"]).rsplit("/", 1)[-1]
    require(name == truth["config_file"],
            f"there is no {name} in use on {node}: of several configuration files, the runtime reads the first "
            "file by name.", f"list the folder on the node: docker exec {node} ls /etc/cni/net.d")
    plugins = answer["plugins"].replace(",", " ").split()
    if truth["ipam"] in plugins and truth["ipam"] not in truth["plugins"]:
        require(False, f"{truth['ipam']} is the IPAM plugin {truth['plugins'][0]} calls to pick an address, not a plugin "
                "of the chain.", "plugins lists the \"type\" of each entry of \"plugins\", in order; ipam is the "
                "\"type\" inside the first one's \"ipam\".")
    require(plugins == truth["plugins"], f"{', '.join(plugins)} is not the chain in {truth['config_file']}.",
            "plugins lists the \"type\" of each entry of the file's \"plugins\", in the order they run: "
            f"docker exec {node} cat /etc/cni/net.d/{truth['config_file']}")
    require(answer["ipam"] == truth["ipam"], f"{answer['ipam']} is not the IPAM plugin of the chain's first plugin.",
            "look at the \"ipam\" object inside the first plugin.")
    require(str(answer["binaries"]).rstrip("/") == "/opt/cni/bin",
            f"{answer['binaries']} is not where the plugin programs are"
            + (": /etc/cni/net.d holds the configuration." if "net.d" in str(answer["binaries"]) else "."),
            "the runtime runs a program named after each \"type\", from the folder its CNI settings name "
            f"(bin_dir: docker exec {node} crictl info | grep -i bin)")
    absent = [p for p in truth["plugins"] if p not in truth["installed"]]
    return (f"{node} wires each pod with {' → '.join(truth['plugins'])} ({truth['config_file']}), addresses from "
            f"{truth['ipam']}; the programs are in /opt/cni/bin" + (f" (missing: {absent})" if absent else "") + ".")


@checks("default-deny", "NetworkPolicy default-deny: no pod of the namespace accepts traffic unless allowed")
@friendly
def default_deny(lab):
    names = {p.metadata.name: p for p in _policies(lab)}
    policy = names.get("default-deny")
    require(policy is not None, f"there is no NetworkPolicy default-deny in {lab.kube.namespace}.",
            "kubectl -n $NS apply -f default-deny.yaml")
    spec = policy.spec
    require("Ingress" in (spec.policy_types or ["Ingress"]),
            f"default-deny's policyTypes are {spec.policy_types}: it does not restrict ingress.",
            "policyTypes: [Ingress]")
    picked = spec.pod_selector.match_labels or spec.pod_selector.match_expressions if spec.pod_selector else None
    require(not picked, f"default-deny selects only pods matching {spec.pod_selector.match_labels or 'an expression'}.",
            "podSelector: {} selects every pod of the namespace.")
    require(not spec.ingress, "default-deny has ingress rules: an empty rule (`- {}`) allows everything from everywhere.",
            "leave ingress out: a policy selecting a pod with no ingress rule denies all ingress to it.")
    require("Egress" not in (spec.policy_types or []) or spec.egress,
            "default-deny restricts Egress too, with no egress rule: no pod of the namespace can send anything, "
            "DNS queries included, and the exercises that follow need them to.",
            "this policy is about what enters the pods: restrict ingress only.")
    outcomes = _settled(lab, _rows_for("default-deny"))
    leaks = [o for o in outcomes if o.allowed]
    require(not leaks, f"{', '.join(o.probe.label for o in leaks)} still got through.",
            "another policy allows it: kubectl -n $NS get networkpolicy; every allow is added to the deny.")
    return "; ".join(f"{o.probe.label} {_verdict(o)}" for o in outcomes) + ": nothing enters unless a policy allows it."


@checks("ingress", "The chapter's policy lets nginx and the monitoring namespace into api on 3000, no one else")
@friendly
def ingress(lab):
    policies = _governing(lab, "api", "Ingress")
    require(policies, "no NetworkPolicy selects api (app: api) for ingress.",
            "kubectl -n $NS apply -f api-policy.yaml (podSelector: {matchLabels: {app: api}}).")
    outcomes = _settled(lab, _rows_for("ingress"))
    nginx, prometheus, other = (_row(outcomes, s, "api") for s in ("nginx", "prometheus", "other"))
    peers = netpol.peers(policies, "Ingress")
    fleet_ips = {ip: name for name, ip in _ips(lab).items()}
    by_address = sorted({fleet_ips[ip] for p in peers if p.ip_block for ip in fleet_ips
                         if ipaddress.ip_address(ip) in ipaddress.ip_network(p.ip_block.cidr, strict=False)})
    require(not by_address, f"api's ingress lets in {', '.join(by_address)} by its current pod IP (ipBlock): the "
            "next pod the Deployment or you create gets another address, and the rule no longer matches.",
            "select pods by their labels (podSelector), which every new pod carries; ipBlock is for addresses "
            "outside the cluster.")
    both = [p for p in peers if p.namespace_selector is not None and p.pod_selector is not None]
    and_hint = ("one `from` entry with both namespaceSelector and podSelector means AND (pods with that label in "
                "those namespaces); two entries, each with its own dash, mean OR.")
    ports = sorted({p.port for r in netpol.rules(policies, "Ingress") for p in r.ports or []}, key=str)
    if not nginx.allowed or not prometheus.allowed:
        blocked = [o.probe.source for o in (nginx, prometheus) if not o.allowed]
        if both:
            hint = and_hint
        elif ports and 3000 not in ports:
            hint = (f"the rule's port is {ports}: an ingress rule's ports are the ones the connection arrives on at "
                    "the selected pod, api's 3000 (not the sender's, nor a Service's).")
        elif "prometheus" in blocked and any(p.namespace_selector and "kubernetes.io/metadata.name" not in
                                             (p.namespace_selector.match_labels or {}) for p in peers):
            hint = (f"{MONITORING} has no label your namespaceSelector asks for; every namespace carries "
                    f"kubernetes.io/metadata.name: <its name>, use that.")
        else:
            hint = (f"api's ingress must let in both sources on TCP 3000, nginx's pods and the pods of {MONITORING}: "
                    "read what yours allows with kubectl -n $NS describe networkpolicy.")
        require(False, f"{' and '.join(blocked)} → api:3000 was blocked ({nginx.detail if not nginx.allowed else prometheus.detail}).",
                hint)
    require(not other.allowed, "other → api:3000 got through: api's ingress rules allow more than nginx and the "
            "monitoring namespace.", "no `- {}`, no `podSelector: {}` and no bare `namespaceSelector: {}` in `from`.")
    spread = next(o for o in outcomes if o.probe.target == "other" and o.probe.port)
    if spread.allowed:
        wide = [p.metadata.name for p in policies if not (p.spec.pod_selector and (
            p.spec.pod_selector.match_labels or p.spec.pod_selector.match_expressions))]
        require(False, f"{spread.probe.label} got through: the rules that let nginx into api open other pods of the "
                "namespace too" + (f" ({', '.join(wide)} selects every pod: podSelector {{}})." if wide else "."),
                "the policy's own podSelector says which pods its rules open: select app: api only.")
    return (f"nginx and prometheus ({MONITORING}) reach api:3000; other {_verdict(other)}; nginx → other "
            f"{_verdict(spread)}.")


@checks("egress", "api sends only to postgres:5432 and redis:6379 (and DNS), and they accept it")
@friendly
def egress(lab):
    policies = _governing(lab, "api", "Egress")
    ingress_only = _governing(lab, "api", "Ingress")
    require(policies, "no NetworkPolicy restricts api's egress" + (
        ": an `egress` list is ignored when policyTypes names Ingress only."
        if any(p.spec.egress for p in ingress_only) else "."),
            "policyTypes: [Ingress, Egress] in api-policy.yaml, with its egress rules.")
    outcomes = _settled(lab, _rows_for("egress"))
    other = _row(outcomes, "api", "prometheus")
    require(not other.allowed, f"{other.probe.label} got through: api's egress allows more than postgres, redis and DNS.",
            "no `- {}` and no rule without `to` (all destinations) in api's egress.")
    leaks = [o for o in outcomes if o.probe.port and o.allowed]
    require(not leaks, f"{', '.join(o.probe.label for o in leaks)} got through: prometheus is neither postgres nor "
            "redis, but api's egress lets it reach any pod on those ports.",
            "a rule with `ports` and no `to` allows those ports to every destination: give each port rule its "
            "`to` (postgres's pods for 5432, redis's for 6379).")
    for target in ("postgres", "redis"):
        o = _row(outcomes, "api", target)
        if o.allowed:
            continue
        allowed_by_api = any(netpol.selects(p.pod_selector, {"app": target}) for p in netpol.peers(policies, "Egress")
                             if p.pod_selector is not None)
        receiving = _governing(lab, target, "Ingress")
        opens = [r for r in netpol.rules(receiving, "Ingress") for p in r._from or []
                 if p.pod_selector is not None and netpol.selects(p.pod_selector, {"app": "api"})]
        if allowed_by_api and not opens:
            require(False, f"api → {target}:{FLEET[target][0]} was blocked at {target}'s end: api's egress allows it, "
                    f"but default-deny closes {target}'s ingress.",
                    "a connection needs both ends: apply data-policy.yaml, letting app: api into postgres and redis "
                    "on their ports.")
        require(False, f"api → {target}:{FLEET[target][0]} was blocked ({o.detail}).",
                f"api's egress needs `to: [{{podSelector: {{matchLabels: {{app: {target}}}}}}}]` on TCP "
                f"{FLEET[target][0]}, and {target}'s ingress must let api in.")
    return f"api reaches postgres:5432 and redis:6379; {other.probe.label} {_verdict(other)}."


@checks("dns", "api resolves names over UDP and TCP 53 and connects to postgres by name")
@friendly
def dns(lab):
    outcomes = _settled(lab, _rows_for("dns"))
    udp, tcp, name = (_row(outcomes, "api", t) for t in ("dns-udp", "dns-tcp", "name"))
    policies = _governing(lab, "api", "Egress")
    to_dns = [p for p in netpol.peers(policies, "Egress") if p.pod_selector is not None
              and netpol.selects(p.pod_selector, {"k8s-app": "kube-dns"})]
    if not udp.allowed:
        hint = ("a podSelector alone picks pods of this namespace, and kube-dns runs in kube-system: put "
                "`namespaceSelector: {}` in the same entry." if to_dns and all(p.namespace_selector is None for p in to_dns)
                else "allow api's egress to the cluster's DNS server, the kube-dns pods (in kube-system), on port 53.")
        require(False, f"api cannot resolve names: a DNS query over UDP got no answer ({udp.detail}). That is a DNS "
                "failure (busybox says `bad address`, glibc `Temporary failure in name resolution`), not a blocked "
                "connection: api's egress allows no DNS.", hint)
    require(tcp.allowed, f"DNS over UDP answers, DNS over TCP does not ({tcp.detail}): api's DNS rule allows UDP 53 "
            "only, and resolvers switch to TCP for answers over 512 bytes (many records, DNSSEC) and when told to.",
            "add `- {protocol: TCP, port: 53}` next to UDP in the DNS rule.")
    require(name.allowed, f"postgres resolved, then the connection {_verdict(name)}: a connection failure, not DNS.",
            "api's egress to postgres:5432 (and postgres's ingress from api): see the egress check.")
    return f"api resolved postgres over UDP and TCP ({udp.detail}) and connected to postgres:5432 by name."


# --- how traffic gets in: the Gateway API and Ingress ----------------------------------------------
GATEWAY_URL = "http://traefik.traefik.svc.cluster.local"
SHOP = {"shop-v1": 2, "shop-v2": 1}  # Deployment -> replicas


@friendly
def prepare_shop(lab) -> None:
    """Two versions of a web shop (Deployments and Services shop-v1, shop-v2), and the policy that lets
    the gateway's pods (namespace traefik) through the namespace's default-deny to them."""
    from kubernetes import client

    _require_gateway_api(lab)
    cluster_addons.ensure("metallb")  # the gateway's address: Traefik's Service is a LoadBalancer
    cluster_addons.ensure("traefik")
    ns = lab.kube.namespace
    for name, replicas in SHOP.items():
        labels = {**lab.kube.labels, "app": "shop", "version": name[-2:]}
        container = client.V1Container(
            name="shop", image=IMAGE, command=["python3", "/tools/serve.py", "8080"],
            ports=[client.V1ContainerPort(container_port=8080)],
            readiness_probe=client.V1Probe(tcp_socket=client.V1TCPSocketAction(port=8080), period_seconds=2),
            volume_mounts=[client.V1VolumeMount(name="tools", mount_path="/tools")])
        template = client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(containers=[container], termination_grace_period_seconds=1, volumes=[
                client.V1Volume(name="tools", config_map=client.V1ConfigMapVolumeSource(name=TOOLS))]))
        _create_or_keep(lambda: lab.kube.apps.create_namespaced_deployment(ns, client.V1Deployment(
            metadata=client.V1ObjectMeta(name=name, labels=lab.kube.labels),
            spec=client.V1DeploymentSpec(replicas=replicas, template=template, selector=client.V1LabelSelector(
                match_labels={"app": "shop", "version": name[-2:]})))))
        _create_or_keep(lambda: lab.kube.core.create_namespaced_service(ns, client.V1Service(
            metadata=client.V1ObjectMeta(name=name, labels=lab.kube.labels),
            spec=client.V1ServiceSpec(selector={"app": "shop", "version": name[-2:]},
                                      ports=[client.V1ServicePort(port=80, target_port=8080)]))))
    peer = client.V1NetworkPolicyPeer(namespace_selector=client.V1LabelSelector(
        match_labels={"kubernetes.io/metadata.name": "traefik"}))
    _create_or_keep(lambda: lab.kube.networking.create_namespaced_network_policy(ns, client.V1NetworkPolicy(
        metadata=client.V1ObjectMeta(name="from-gateway", labels=lab.kube.labels),
        spec=client.V1NetworkPolicySpec(
            pod_selector=client.V1LabelSelector(match_labels={"app": "shop"}), policy_types=["Ingress"],
            ingress=[client.V1NetworkPolicyIngressRule(
                _from=[peer], ports=[client.V1NetworkPolicyPort(port=8080, protocol="TCP")])]))))
    for name, replicas in SHOP.items():
        def ready(name=name, replicas=replicas):
            have = lab.kube.apps.read_namespaced_deployment(name, ns).status.ready_replicas or 0
            return have >= replicas, f"{name} {have}/{replicas} ready"

        from labkit import progress

        progress.wait_until(ready, what=f"{name} ready", timeout=90)
    print("shop-v1 (2 pods) and shop-v2 (1 pod) serve on port 80 of their Services; the policy from-gateway "
          "lets the namespace traefik in.")


def _require_gateway_api(lab) -> None:
    from kubernetes import client

    try:
        client.ApiextensionsV1Api(lab.kube.client).read_custom_resource_definition(
            "gateways.gateway.networking.k8s.io")
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        raise LabError("This cluster has no Gateway API (its CRDs are not installed).",
                       "rerun `make cluster`: it installs the Gateway API and Traefik on the course cluster.") from None


def fetch(lab, path: str = "/", n: int = 200, host: str = "shop.example", source: str = "nginx") -> dict:
    """n requests through the cluster's gateway (Traefik) from a pod, by Host header: who answered how often."""
    code, out, err = lab.kube.exec(source, ["python3", "/tools/fetch.py", GATEWAY_URL + path, str(n), host],
                                   timeout=60)
    if code != 0 or not out.strip():
        raise LabError(f"Sending requests from {source} failed: {(err or out).strip()[-200:]}",
                       "rerun the set-up cells (lab07.prepare(lab), lab07.prepare_shop(lab)).")
    return json.loads(out)


def _versions(answers: dict) -> dict[str, int]:
    counts = {"shop-v1": 0, "shop-v2": 0, "other": 0}
    for body, count in answers.items():
        key = next((k for k in ("shop-v1", "shop-v2") if body.startswith(k + "-")), "other")
        counts[key] += count
    return counts


def show_split(lab, n: int = 200):
    """A bar of who served n requests to shop.example: the canary split, measured (the figure, for the cell to
    show; None, with a sentence, when the shop answered none)."""
    from labkit import plots

    got = fetch(lab, n=n)
    counts = _versions(got["answers"])
    if not any(counts.values()):
        print(f"none of {n} requests to shop.example was answered by the shop: {got['statuses']} "
              "(404: no route for that host yet).")
        return None
    return plots.stacked_bars([f"{n} requests to shop.example"],
                              {k: [v] for k, v in counts.items() if v}, ylabel="requests", title="Who served them")


def _custom(lab, plural: str, name: str):
    return lab.kube.custom.get_namespaced_custom_object("gateway.networking.k8s.io", "v1", lab.kube.namespace,
                                                         plural, name)


def _condition(conditions, kind: str):
    return next((c for c in conditions or [] if c.get("type") == kind), None)


# A Gateway's conditions before any controller has written them: the CRD's default status.
_GATEWAY_PENDING = ("no controller has answered yet (Unknown/Pending is the Gateway API's default status): Traefik "
                    "may still be starting (kubectl -n traefik get pods).",
                    "wait for it: kubectl -n $NS wait gateway/shop --for=condition=Programmed --timeout=60s, then "
                    "check again.")


def _require_true(conditions, kind: str, what: str, hint: str) -> None:
    c = _condition(conditions, kind)
    said = f"{what} is not {kind}" + (f": {c.get('reason')}, {c.get('message', '')[:200]}" if c else " (no status yet).")
    if c is not None and c.get("status") == "Unknown" and c.get("reason") == "Pending":
        said, hint = f"{said}: {_GATEWAY_PENDING[0]}", _GATEWAY_PENDING[1]
    require(c is not None and c.get("status") == "True", said, hint)


# Traefik reloads its routing at most every 2 s after a change it watches (providersThrottleDuration),
# and writes a route's status before the reload: a check seconds after `kubectl apply` would send its
# requests through the previous route (a cold CI run judged one variant by the one before it).
TRAEFIK_SETTLE = 5.0


def _let_traefik_load(*objects) -> bool:
    """Wait until every object was written TRAEFIK_SETTLE s ago (labkit.settling). True if it waited."""
    return settling.settle(objects, TRAEFIK_SETTLE, announce=lambda ago, left: print(
        f"(changed {ago:.0f} s ago: giving Traefik {left:.0f} s to load it)", flush=True)) > 0


@checks("gateway", "Gateway shop and HTTPRoute shop: shop.example split 90/10 between v1 and v2, /v2 to v2 only")
@friendly
def gateway(lab):
    _require_gateway_api(lab)
    from kubernetes import client

    def read_route():
        try:
            return _custom(lab, "httproutes", "shop")
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            return None

    def read_gateway():
        return api_object(lambda: _custom(lab, "gateways", "shop"), f"there is no Gateway shop in {lab.kube.namespace}.",
                          "kubectl -n $NS apply -f gateway.yaml")

    gw, route = read_gateway(), read_route()
    if _let_traefik_load(*(o for o in (gw, route) if o)):
        gw, route = read_gateway(), read_route()  # and their status, written meanwhile
    cls = gw["spec"].get("gatewayClassName")
    classes = [c["metadata"]["name"] for c in client.CustomObjectsApi(lab.kube.client).list_cluster_custom_object(
        "gateway.networking.k8s.io", "v1", "gatewayclasses")["items"]]
    require(cls in classes, f"there is no GatewayClass {cls}: no controller serves Gateway shop.",
            f"gatewayClassName: one of {', '.join(classes)} (kubectl get gatewayclass).")
    conditions = gw.get("status", {}).get("conditions")
    _require_true(conditions, "Accepted", "Gateway shop", "read `kubectl -n $NS describe gateway shop`.")
    _require_true(conditions, "Programmed", "Gateway shop", "read `kubectl -n $NS describe gateway shop`.")
    require(route is not None, f"there is no HTTPRoute shop in {lab.kube.namespace}.",
            "a Gateway alone routes nothing: kubectl -n $NS apply -f gateway.yaml with the HTTPRoute in it.")
    parent = next((p for p in route.get("status", {}).get("parents", [])
                   if p.get("parentRef", {}).get("name") == "shop"), None)
    require(parent is not None, "HTTPRoute shop is not attached to Gateway shop (no status from it).",
            "parentRefs: [{name: shop}] in the HTTPRoute.")
    _require_true(parent.get("conditions"), "Accepted", "HTTPRoute shop", "read `kubectl -n $NS describe httproute shop`.")
    _require_true(parent.get("conditions"), "ResolvedRefs", "HTTPRoute shop",
                  "each backendRef names a Service of this namespace and one of its ports (80).")
    stray = fetch(lab, n=3, host="other.example")["statuses"]
    require(set(stray) == {"404"}, f"requests for other.example were answered too ({stray}): the route takes any host.",
            "hostnames: [shop.example] in the HTTPRoute.")
    main = fetch(lab)
    split = _versions(main["answers"])
    total = sum(split.values())
    require(total > 0, f"no request to shop.example was answered ({main['statuses']}).",
            "the route's rule for / sends to shop-v1 and shop-v2, port 80.")
    share = split["shop-v2"] / total
    require(0.03 <= share <= 0.2, f"shop-v2 served {split['shop-v2']} of {total} requests ({share:.0%}); a canary gets "
            "about 10%.", "backendRefs: shop-v1 with weight 90, shop-v2 with weight 10 (weights are relative).")
    v2 = _versions(fetch(lab, path="/v2/", n=20)["answers"])
    require(v2["shop-v2"] == 20, f"of 20 requests to /v2/, shop-v2 served {v2['shop-v2']} (shop-v1 {v2['shop-v1']}).",
            "a second rule: matches [{path: {type: PathPrefix, value: /v2}}] → shop-v2 only.")
    return (f"Gateway shop ({cls}) is Programmed; shop.example: shop-v1 {split['shop-v1']}, shop-v2 {split['shop-v2']} "
            f"of {total} ({share:.1%} canary); /v2/ 20 of 20 to shop-v2; other hosts get 404.")


DEEP_PATH = "/cart/42"  # a page of the shop below /: the host's every path goes to shop-v1


@checks("ingress-resource", "Ingress shop (class traefik): shop-ingress.example to shop-v1, with an address")
@friendly
def ingress_resource(lab):
    def read():
        return api_object(lambda: lab.kube.networking.read_namespaced_ingress("shop", lab.kube.namespace),
                          f"there is no Ingress shop in {lab.kube.namespace}.", "kubectl -n $NS apply -f ingress.yaml")

    ing = read()
    if _let_traefik_load(ing):
        ing = read()
    cls = ing.spec.ingress_class_name
    classes = [c.metadata.name for c in lab.kube.networking.list_ingress_class().items]
    legacy = (ing.metadata.annotations or {}).get("kubernetes.io/ingress.class")
    require(cls or not legacy, f"Ingress shop names its class {legacy!r} in the annotation kubernetes.io/ingress.class, "
            "deprecated since Kubernetes 1.18: controllers may ignore it.",
            "name the class in spec.ingressClassName, the field that replaced the annotation, as "
            "`kubectl get ingressclass` lists it.")
    require(cls in classes, f"Ingress shop names the class {cls!r}, and there is no IngressClass {cls}: no controller "
            "serves it." if cls else "Ingress shop names no class, and the cluster has no default IngressClass: no "
            "controller serves it.", f"ingressClassName: traefik (kubectl get ingressclass lists {', '.join(classes)}).")
    answered = fetch(lab, n=20, host="shop-ingress.example")
    split = _versions(answered["answers"])
    require(split["shop-v1"] == 20, f"of 20 requests to shop-ingress.example, shop-v1 served {split['shop-v1']} "
            f"({answered['statuses']}).",
            "a rule for host shop-ingress.example, path / (Prefix), backend service shop-v1 port number 80.")
    deeper = fetch(lab, path=DEEP_PATH, n=5, host="shop-ingress.example")
    exact = [p.path for r in ing.spec.rules or [] for p in (r.http.paths if r.http else []) if p.path_type == "Exact"]
    require(_versions(deeper["answers"])["shop-v1"] == 5,
            f"shop-ingress.example/ reaches shop-v1, but shop-ingress.example{DEEP_PATH} does not "
            f"({deeper['statuses']})" + (f": pathType Exact matches {', '.join(exact)} and nothing below it." if exact
                                         else "."),
            "every path of the host goes to shop-v1: pathType Prefix with path / matches them all.")
    lb = ing.status.load_balancer.ingress if ing.status and ing.status.load_balancer else None
    address = lb[0].ip or lb[0].hostname if lb else None
    return (f"Ingress shop ({cls}) at {address or 'no published address yet'} sends shop-ingress.example to shop-v1 "
            "(20 of 20).")
