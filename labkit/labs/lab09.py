"""Lab 09 checks: how a pod finds a Service by name, on the course cluster.

Every check asks the cluster's DNS from inside a pod (labkit.inpod: the pod's own resolver, search list
and ndots included) and sends real requests; the lab's own name server, a CoreDNS of the lab's own, logs
every query it gets, which is how `lean-resolver` counts the queries a lookup costs.
"""
from __future__ import annotations

import ipaddress
import re
import secrets
import time
from urllib.parse import urlsplit

from labkit import cluster, inpod, settling, waits
from labkit.checks import Checks, api_object, ready_pod, require
from labkit.cluster_addons import kubectl
from labkit.cluster import read_or_none
from labkit.errors import friendly

checks = Checks()

IMAGE = "docker.io/library/python:3.11-slim-bookworm"
TOOLS = "net-tools"
WEB = "lab09-web"          # the second namespace: a client that is not next to the Service it calls
PARTNER_IP = "192.0.2.10"  # what the lab's name server answers for any name under partner.example
DB_PORT = 5432
TRANSIENT = ("no-answer", "lookup-failed", "refused", "timeout")  # failures a lagging node can cause for a moment
RETRY_AFTER = 3.0


def _manifests(coredns_image: str, cluster_dns: str) -> list[dict]:
    """Everything the lab starts with, in its namespace (and an empty second one)."""
    tools = {"volumes": [{"name": "tools", "configMap": {"name": TOOLS}}]}
    mount = {"volumeMounts": [{"name": "tools", "mountPath": "/tools"}]}

    def server(port: int) -> dict:
        return {"image": IMAGE, "command": ["python3", "/tools/serve.py", str(port)], **mount,
                "ports": [{"containerPort": port}],
                "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 2}}

    sleeper = {"name": "shell", "image": IMAGE, "command": ["sleep", "infinity"], **mount}
    pod_spec = {"terminationGracePeriodSeconds": 1, **tools}
    corefile = f"""\
# The lab's own name server: cluster names asked of the cluster's DNS, partner.example answered here,
# every other name refused as non-existent (the lab needs no internet). `log` prints every query.
cluster.local:1053 {{
    errors
    log
    forward . {cluster_dns}
}}
.:1053 {{
    errors
    log
    ready
    template IN A partner.example {{
        answer "{{{{ .Name }}}} 60 IN A {PARTNER_IP}"
    }}
    template IN AAAA partner.example {{
        rcode NOERROR
    }}
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""
    def workload(kind: str, name: str, replicas: int, spec: dict, **extra) -> dict:
        """A Deployment or StatefulSet whose pods carry app=<name>."""
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
                "spec": {**extra, "replicas": replicas, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}

    dns_pod = {"terminationGracePeriodSeconds": 1,
               "containers": [{"name": "coredns", "image": coredns_image, "args": ["-conf", "/etc/coredns/Corefile"],
                               "volumeMounts": [{"name": "corefile", "mountPath": "/etc/coredns"}],
                               "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2}}],
               "volumes": [{"name": "corefile", "configMap": {"name": "dns-corefile"}}]}
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": WEB}},
        workload("Deployment", "order-service", 2, {**pod_spec, "containers": [{"name": "orders", **server(8080)}]}),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "order-service"},
         "spec": {"selector": {"app": "order-service"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        workload("StatefulSet", "db", 2, {**pod_spec, "containers": [{"name": "db", **server(DB_PORT)}]},
                 serviceName="db"),
        # Another team's payments service. Its Service has a typo in its selector (the last exercise).
        workload("Deployment", "payments", 1, {**pod_spec, "containers": [{"name": "payments", **server(8080)}]}),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "payments"},
         "spec": {"selector": {"app": "payment"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dns-corefile"}, "data": {"Corefile": corefile}},
        workload("Deployment", "dns", 1, dns_pod),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"},
         "spec": {"selector": {"app": "dns"}, "ports": [{"name": "udp", "port": 53, "targetPort": 1053, "protocol": "UDP"},
                                                        {"name": "tcp", "port": 53, "targetPort": 1053, "protocol": "TCP"}]}},
        # Started after the Services above: the kubelet gives it their environment variables.
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
         "spec": {**pod_spec, "containers": [sleeper]}},
    ]
    return docs


def _cluster_dns_image() -> str:
    """The CoreDNS image the cluster itself runs (present on every node: nothing to pull)."""
    return kubectl("-n", "kube-system", "get", "deployment", "coredns",
                   "-o", "jsonpath={.spec.template.spec.containers[0].image}").strip()


@friendly
def prepare(lab) -> None:
    """The lab's services (order-service, the StatefulSet db, payments), its own name server `dns`, and the
    pod `client` to look names up from. Run again, it puts them back as they started (payments' Service with
    its typo too); what the learner added stays."""
    cluster.load_images(IMAGE)
    ns = lab.kube.namespace
    tools = {f.name: f.read_text() for f in sorted((lab.workdir / "nettools").glob("*.py"))}
    tool_maps = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": TOOLS, "namespace": n}, "data": tools}
                 for n in (ns, WEB)]
    cluster_dns = kubectl("-n", "kube-system", "get", "service", "kube-dns", "-o", "jsonpath={.spec.clusterIP}").strip()
    lab.kube.apply(_manifests(_cluster_dns_image(), cluster_dns), ns)
    lab.kube.apply(tool_maps)
    for what in ("deployment/order-service", "statefulset/db", "deployment/payments", "deployment/dns", "pod/client"):
        waits.wait(lab.kube, what, timeout=120)
    print(f"in {ns}: order-service, db (a StatefulSet), payments, the name server dns, and the pod client; "
          f"namespace {WEB} holds only the tools (probe.py, fetch.py) its pods mount")


# --- reading state ------------------------------------------------------------------------------
def _pods_of(lab, selector: dict[str, str]) -> dict[str, str]:
    """name -> IP of the lab's ready pods with these labels."""
    text = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = lab.kube.core.list_namespaced_pod(lab.kube.namespace, label_selector=text).items
    return {p.metadata.name: p.status.pod_ip for p in pods if cluster.has_condition(p, "Ready")}


def _service(lab, name: str, hint: str, namespace: str | None = None):
    ns = namespace or lab.kube.namespace
    return api_object(lambda: lab.kube.core.read_namespaced_service(name, ns),
                      f"there is no Service {name} in namespace {ns}.", hint)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _dns_log(lab, since_seconds: int = 60) -> list[tuple[str, str, str, str]]:
    """(client IP, type, name, rcode) of each query the lab's name server logged lately."""
    text = kubectl("-n", lab.kube.namespace, "logs", "deployment/dns", f"--since={since_seconds}s")
    found = []
    for line in text.splitlines():
        m = re.search(r'\] ([\d.]+):\d+ - \d+ "(\w+) IN (\S+) .*?" (\w+)', line)
        if m:
            found.append(m.groups())
    return found


# --- checks -------------------------------------------------------------------------------------
@checks("lean-resolver", "lean-client finds a partner's name in one query, and order-service by its short name")
@friendly
def lean_resolver(lab) -> str:
    pod = ready_pod(lab, "lean-client", "apply lean-client.yaml (the cell under the exercise) and wait for it.")
    dns_ip = _service(lab, "dns", "rerun the set-up cell at the top of the lab.").spec.cluster_ip
    conf = lab.kube.exec("lean-client", ["cat", "/etc/resolv.conf"])[1]
    require(f"nameserver {dns_ip}" in conf,
            f"lean-client does not ask the lab's name server ({dns_ip}): its /etc/resolv.conf says "
            f"{' | '.join(l for l in conf.splitlines() if l.startswith('nameserver'))}.",
            "keep dns-client's nameservers: the exercise is about what the resolver does with a name, not which "
            "server it asks (with dnsPolicy Default a pod asks the node's resolver and loses the cluster's names).")
    short = inpod.resolve(lab.kube, "lean-client", "order-service")
    order_ip = _service(lab, "order-service", "rerun the set-up cell at the top of the lab.").spec.cluster_ip
    require(short.ok and order_ip in short.addresses,
            f"from lean-client, `order-service` no longer resolves to its Service ({short.said() or short.addresses}).",
            "a short name is found through the search list: keep the search domains of dns-client "
            f"({lab.kube.namespace}.svc.cluster.local first) and let a name without dots use them.")
    name = f"probe-{secrets.token_hex(3)}.partner.example"
    found = inpod.resolve(lab.kube, "lean-client", name)
    require(found.ok and PARTNER_IP in found.addresses,
            f"from lean-client, {name} does not resolve ({found.said() or found.addresses}).",
            "a name with dots must still be tried as it is at some point: look at the pod's /etc/resolv.conf.")
    deadline = time.monotonic() + 8  # CoreDNS logs a query as it answers; its log reaches the API a moment later
    # (several on a busy machine): the loop ends as soon as the name itself is logged, its last query
    while True:
        asked = sorted({q[2].rstrip(".") for q in _dns_log(lab) if q[0] == pod.status.pod_ip and name in q[2]})
        if name in asked or time.monotonic() > deadline:  # the name as it is: the lookup's last query, answered
            break
        time.sleep(0.3)
    require(asked == [name],
            f"looking up {name} sent {len(asked)} different names to the name server: {', '.join(asked) or 'none logged'}.",
            "the resolver appends each search domain first while a name has fewer dots than `ndots` "
            "(`kubectl -n $NS exec lean-client -- cat /etc/resolv.conf`); partner.example names have two.")
    return (f"lean-client: {name} in 1 query (a name with 2 dots tried as it is first); `order-service` still "
            f"resolves to {order_ip} through the search list")


def _settle(lab, service: str, namespace: str, seconds: float = 2.0) -> None:
    """kube-proxy programs a Service's rules a moment after the Service or its endpoints change, and a request
    sent in that moment goes nowhere: wait out the rest of that moment (labkit.settling)."""
    objects = [read_or_none(lab.kube.core.read_namespaced_service, service, namespace)]
    objects += lab.kube.discovery.list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}").items
    settling.settle(objects, seconds)


def _request(lab, pod: str, url: str, namespace: str, service: str, service_ns: str) -> inpod.Outcome:
    """A GET of `url` from `pod` once `service` has settled; a failure raised with the hint its kind points to."""
    _settle(lab, service, service_ns)
    answer = inpod.get(lab.kube, pod, url, namespace=namespace)
    if not answer.ok and answer.failure in TRANSIENT:
        # On a busy machine (two labs' tests at once, a load test beside) kube-proxy or the name server can lag
        # past the settling moment: a second try a few seconds later, and only then a verdict.
        time.sleep(RETRY_AFTER)
        answer = inpod.get(lab.kube, pod, url, namespace=namespace)
    if answer.ok:
        return answer
    parts = urlsplit(url)
    port = parts.port or 80
    svc = read_or_none(lab.kube.core.read_namespaced_service, service, service_ns)
    failure = answer.failure
    if svc is not None and svc.spec.selector and failure not in ("no-such-name", "no-answer"):
        slices = lab.kube.discovery.list_namespaced_endpoint_slice(
            service_ns, label_selector=f"kubernetes.io/service-name={service}").items
        if not any(e.conditions and e.conditions.ready for s in slices for e in s.endpoints or []):
            # Refused by the node's kube-proxy, as a rule; but while the offline cluster's firewall (kube-router)
            # rewrites its chains, the connection can leave the node and meet whatever answers outside (a proxy's
            # 404): the Service's endpoints say what is wrong, however the failure showed.
            failure = "refused"
    ports = sorted(p.port for p in (svc.spec.ports or [])) if svc is not None and svc.spec.type != "ExternalName" else []
    if svc is not None and ports and port not in ports and failure not in ("no-such-name", "no-answer"):
        # A port the Service does not have is dropped or sent on by the node, never refused: say what it is.
        require(False, f"{pod}'s request to {url} failed: {answer.said()}.",
                f"the Service {service} listens on port {', '.join(map(str, ports))}, not {port} (the pods' own port "
                "is the Service's targetPort, not what clients call).")
    elsewhere = (f"a name without a namespace is looked up in the pod's own namespace first ({namespace}); {service} "
                 f"is in {service_ns}, where pods of other namespaces reach it as `{service}.{service_ns}`."
                 if namespace != service_ns else f"is there still a Service {service} in {service_ns}?")
    hints = {
        "no-such-name": f"`{parts.hostname}` does not exist for {pod}: {elsewhere}",
        "no-answer": "the name server did not answer: is the cluster's DNS running (`kubectl -n kube-system get pods`)?",
        "refused": f"the name resolves but nothing accepts the connection: a Service with no ready endpoints (its "
                   f"selector matches no ready pod: `kubectl -n {service_ns} get endpointslices -l "
                   f"kubernetes.io/service-name={service}`), or a targetPort the pods do not listen on.",
        "timeout": "the name resolves but nothing answers: a NetworkPolicy, or a pod that does not listen on that port.",
    }
    require(False, f"{pod}'s request to {url} failed: {answer.said()}.",
            hints.get(failure, f"the request reached something that is not {service}: {answer.detail}"))
    return answer


@checks("other-namespace", "frontend, in namespace lab09-web, gets its answer from order-service")
@friendly
def other_namespace(lab) -> str:
    ready_pod(lab, "frontend", "apply frontend.yaml (the cell under the exercise) and wait for it.", WEB)
    code, url, _ = lab.kube.exec("frontend", ["printenv", "ORDERS_URL"], namespace=WEB)
    url = url.strip()
    require(code == 0 and url, "frontend has no ORDERS_URL in its environment.",
            "keep the env entry ORDERS_URL in frontend.yaml: it is where frontend reads the address it calls.")
    host = urlsplit(url).hostname or ""
    require(not _is_ip(host),
            f"ORDERS_URL is {url}: an IP address, which changes when the Service is deleted and created again "
            "(the chapter's \"no hardcoded IPs\").",
            "give frontend a name that leads to order-service from its own namespace.")
    answer = _request(lab, "frontend", url, WEB, "order-service", lab.kube.namespace)
    replicas = _pods_of(lab, {"app": "order-service"})
    require(answer.body in replicas,
            f"frontend got an answer from {answer.body!r}, not from an order-service pod ({', '.join(replicas)}).",
            f"ORDERS_URL must lead to order-service in namespace {lab.kube.namespace}.")
    return f"frontend ({WEB}) → {url} → answered by {answer.body}"


@checks("headless", "db resolves to its pods, and db-0.db to db-0")
@friendly
def headless(lab) -> str:
    others = [o.metadata.name for o in lab.kube.core.list_namespaced_service(lab.kube.namespace).items
              if (o.spec.selector or {}).get("app") == "db" and o.metadata.name != "db"]
    svc = _service(lab, "db", "the StatefulSet's serviceName is db: its pods' names (db-0.db) exist only under the "
                              f"Service of that name{' (yours is called ' + ', '.join(others) + ')' if others else ''}; "
                              "write db-service.yaml and apply it (the cell under the exercise).")
    pods = _pods_of(lab, {"app": "db"})
    require(set(pods) == {"db-0", "db-1"}, f"the StatefulSet db has {len(pods)} ready pods, not 2.",
            "rerun the set-up cell, then `labkit wait statefulset/db`.")
    every = inpod.resolve(lab.kube, "client", "db")
    require(every.ok, f"from client, `db` does not resolve ({every.said()}).",
            "a Service's name has records once it selects ready pods: compare its selector with the pods' labels "
            "(`kubectl -n $NS get pods --show-labels`).")
    require(every.addresses != (svc.spec.cluster_ip,),
            f"`db` resolves to {svc.spec.cluster_ip}, one virtual IP that kube-proxy balances: the name does not "
            "tell the pods apart.",
            "make db a headless Service, one with no clusterIP of its own: its name then resolves to the ready pods' "
            "own addresses.")
    require(set(every.addresses) == set(pods.values()),
            f"`db` resolves to {', '.join(every.addresses)}, and the pods are {', '.join(sorted(pods.values()))}.",
            "select every pod of the StatefulSet (app: db).")
    first = inpod.resolve(lab.kube, "client", "db-0.db")
    require(first.ok and first.addresses == (pods["db-0"],),
            f"from client, `db-0.db` does not resolve to db-0's address {pods['db-0']} ({first.said() or first.addresses}).",
            "a StatefulSet's pods get names under the Service its `serviceName` names (db), and only if that "
            "Service is headless.")
    return f"db → {', '.join(every.addresses)} (the pods themselves); db-0.db → {pods['db-0']}"


@checks("alias", "billing-db leads to db-0, by name")
@friendly
def alias(lab) -> str:
    svc = _service(lab, "billing-db", "write billing-db.yaml and apply it (the cell under the exercise).")
    pods = _pods_of(lab, {"app": "db"})
    require("db-0" in pods, "db-0 is not ready.", "`labkit wait statefulset/db`, then check again.")
    spec = svc.spec
    if spec.type == "ExternalName":
        require(not _is_ip(spec.external_name or ""),
                f"billing-db's externalName is an IP address ({spec.external_name}): an ExternalName is a DNS alias "
                "(a CNAME) and db-0's IP changes when the pod is recreated.",
                "alias a name that always leads to db-0.")
    else:
        require(spec.selector,
                "billing-db has no selector and is not an ExternalName: its endpoints are written by hand and keep "
                "db-0's address of today when db-0 is recreated elsewhere.",
                "let the cluster keep billing-db pointing at db-0, by name or by selecting that one pod.")
    found = inpod.resolve(lab.kube, "client", "billing-db")
    require(found.ok, f"from client, `billing-db` does not resolve ({found.said()}).",
            "an ExternalName is returned as it is (a CNAME), never completed with a search list: give the full name "
            f"(db-0.db.{lab.kube.namespace}.svc.cluster.local).")
    # Resolved to every db pod, a client's resolver picks one by its own rules (glibc prefers the address nearest
    # its own: the pod on its node), so requests alone could all reach db-0 by chance: the answer decides first.
    resolved = sorted(name for name, ip in pods.items() if ip in found.addresses)
    require(resolved in ([], ["db-0"]), f"from client, `billing-db` resolves to the address of "
            f"{' and '.join(resolved)}" + (", so a client may reach any of them." if len(resolved) > 1 else "."),
            "lead to db-0 only: its own name, not the Service db (which is every replica).")
    ns = lab.kube.namespace
    if spec.type != "ExternalName":
        # kube-proxy picks an endpoint at random for each connection: four requests all reach db-0 one time in
        # sixteen when the Service has two, so its endpoints decide, as the cluster keeps them.
        slices = lab.kube.discovery.list_namespaced_endpoint_slice(
            ns, label_selector="kubernetes.io/service-name=billing-db").items
        behind = sorted({name for s in slices for e in s.endpoints or [] for name, ip in pods.items()
                         if ip in (e.addresses or [])})
        require(behind == ["db-0"], f"billing-db's endpoints are {', '.join(behind) or 'none'}: "
                f"{'a client may reach any of them' if len(behind) > 1 else 'not db-0'}.",
                "lead to db-0 only: its own name, or a selector only db-0 matches, not the Service db's (every "
                "replica).")
    answers = [_request(lab, "client", f"http://billing-db:{DB_PORT}/", ns, "billing-db", ns) for _ in range(4)]
    bodies = sorted({a.body for a in answers})
    require(bodies == ["db-0"], f"billing-db:{DB_PORT} was answered by {', '.join(bodies)}, not db-0 alone.",
            "lead to db-0 only: its own name, not the Service db (which is every replica).")
    how = f"a CNAME to {spec.external_name}" if spec.type == "ExternalName" else "a Service selecting db-0"
    return f"billing-db ({how}) → answered by db-0, 4 of 4 times"


@checks("diagnose", "client reaches payments, its Deployment untouched")
@friendly
def diagnose(lab) -> str:
    deployment = api_object(lambda: lab.kube.apps.read_namespaced_deployment("payments", lab.kube.namespace),
                            "there is no Deployment payments.", "rerun the set-up cell at the top of the lab.")
    require(deployment.metadata.generation == 1 and deployment.spec.template.metadata.labels == {"app": "payments"},
            "the Deployment payments was changed: it belongs to another team, and its pods' labels are what other "
            "Services and policies select.",
            "rerun the set-up cell (it puts payments back as it was: delete it first), and fix the Service instead.")
    answer = _request(lab, "client", "http://payments/", lab.kube.namespace, "payments", lab.kube.namespace)
    owned = {p.metadata.name for p in lab.kube.core.list_namespaced_pod(
        lab.kube.namespace, label_selector="app=payments").items
        if any(o.kind == "ReplicaSet" and o.name.startswith("payments-") for o in p.metadata.owner_references or [])}
    require(answer.body in owned,
            f"payments was answered by {answer.body!r}, which is not a pod of the Deployment payments.",
            "the labels a ReplicaSet selects are not yours to change: a pod relabelled by hand leaves its ReplicaSet, "
            "which starts another. Make the Service's selector match the Deployment's own pods.")
    return f"client → http://payments/ → answered by {answer.body}"
