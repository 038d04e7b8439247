"""Cluster access for labs and checks: typed API clients on the lab's own kubeconfig, the lab's
namespace (labelled, so cleanup finds it), reading nodes; waiting is labkit.waits.

Every call goes through cluster.api_client(), which is bound to the one context the labs may use.
API errors become one sentence and a fix (`explain`), never a wall of traceback.
"""
from __future__ import annotations

import subprocess
from functools import cached_property

from labkit import cluster, ownership
from labkit.errors import LabError, explain_api_error


def namespace_of(lab_id: str) -> str:
    return f"lab{lab_id}"


def _typed(api: str) -> cached_property:
    """One typed API client (CoreV1Api, AppsV1Api...) per Kube, made on first use."""
    def make(self):
        from kubernetes import client
        return getattr(client, api)(self.client)
    return cached_property(make)


class Kube:
    def __init__(self, lab_id: str):
        self.lab_id = lab_id
        self.namespace = namespace_of(lab_id)
        self.labels = ownership.labels(lab_id)

    @cached_property
    def client(self):
        return cluster.api_client()

    core = _typed("CoreV1Api")
    apps = _typed("AppsV1Api")
    networking = _typed("NetworkingV1Api")
    custom = _typed("CustomObjectsApi")
    discovery = _typed("DiscoveryV1Api")
    autoscaling = _typed("AutoscalingV2Api")
    batch = _typed("BatchV1Api")

    def ensure_namespace(self) -> str:
        """The lab's namespace, created with the lab's labels when missing."""
        from kubernetes import client

        try:
            self.core.read_namespace(self.namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise explain_api_error(exc) from None
            body = client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace, labels=self.labels))
            self.core.create_namespace(body)
        return self.namespace

    def apply(self, docs: list[dict], namespace: str = "") -> None:
        """`kubectl apply` of these objects, each given the lab's labels. Sent as JSON: YAML would read a lab's
        label value ("09", "10") as a number. namespace "": where each object's metadata says (or cluster-wide)."""
        import json

        from labkit.cluster_addons import kubectl

        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(self.labels)
        where = ["-n", namespace] if namespace else []
        kubectl(*where, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))

    def pod(self, name: str, namespace: str | None = None):
        """A pod, or None when it does not exist."""
        from kubernetes import client

        try:
            return self.core.read_namespaced_pod(name, namespace or self.namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise explain_api_error(exc) from None

    def events_for(self, name: str, namespace: str | None = None) -> list:
        events = self.core.list_namespaced_event(namespace or self.namespace,
                                                 field_selector=f"involvedObject.name={name}").items
        return sorted(events, key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)

    def nodes(self) -> list:
        return self.core.list_node().items

    def ready_endpoints(self, service: str) -> set[str]:
        """ip:port of the ready endpoints of a Service in the lab's namespace, from its EndpointSlices."""
        slices = self.discovery.list_namespaced_endpoint_slice(
            self.namespace, label_selector=f"kubernetes.io/service-name={service}").items
        found = set()
        for s in slices:
            ports = [p.port for p in s.ports or []]
            for ep in s.endpoints or []:
                if ep.conditions and ep.conditions.ready:
                    found |= {f"{a}:{p}" for a in ep.addresses for p in ports}
        return found

    def exec(self, pod: str, command: list[str], container: str | None = None,
             namespace: str | None = None, timeout: float = 20) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of a command run in a pod's container, through the API server."""
        from kubernetes import client
        from kubernetes.stream import stream

        # An exec stream takes over the client it is given: it gets a client of its own.
        core = client.CoreV1Api(cluster.api_client())
        resp = stream(core.connect_get_namespaced_pod_exec, pod, namespace or self.namespace, command=command,
                      container=container, stderr=True, stdout=True, stdin=False, tty=False,
                      _preload_content=False)
        resp.run_forever(timeout=timeout)
        return resp.returncode or 0, resp.read_stdout() or "", resp.read_stderr() or ""

    def wait_pod_ready(self, name: str, namespace: str | None = None, timeout: float = 120) -> None:
        """Wait until a pod is Ready; stop at once, saying why, when it cannot get there by waiting (its
        claim or ConfigMap missing, its image unpullable, its container crashing): labkit.waits."""
        from labkit import waits

        waits.wait(self, f"pod/{name}", timeout=timeout, namespace=namespace)


def node_exec(node: str, *cmd: str) -> str:
    """Run a command on a kind node (a Docker container) and return its output. kind only."""
    if not cluster.on_kind():
        raise LabError("This step reads files on a node, which the toolkit can do on the kind cluster only.",
                       f"unset {cluster.OPT_IN} to use the course's kind cluster for this lab.")
    done = subprocess.run(["docker", "exec", node, *cmd], capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed on node {node}: {done.stderr.strip()[-300:]}",
                       "check that the course cluster is running (`make cluster`).")
    return done.stdout
