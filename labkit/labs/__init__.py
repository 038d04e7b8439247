"""The labs: number -> notebook, title and the module holding its checks."""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from labkit.errors import LabError


@dataclass(frozen=True)
class LabInfo:
    id: str
    slug: str
    title: str
    apps: tuple[str, ...] = ()  # sample apps copied into the lab's working folder: "name" or "name:subfolder"
    learner_writes: tuple[str, ...] = ("Dockerfile",)  # files of the app the learner writes: not copied
    images: tuple[str, ...] = ()  # image tags the lab creates without its labels (e.g. Compose builds)
    cluster: bool = False  # works on the course's Kubernetes cluster (in namespace labNN)
    host_ports: tuple[int, ...] = ()  # fixed ports it publishes on the host: labs sharing one never run at once
    addons: tuple[str, ...] = ()  # cluster_parts.ADDONS it needs, built after the node image offline: tested late
    runs_on: str = "Docker"  # for the site's table of labs
    summary: str = ""  # "You will ...", for the site's table of labs

    @property
    def notebook(self) -> str:
        return f"{self.slug}.ipynb"

    def module(self):
        return importlib.import_module(f"labkit.labs.lab{self.id}")


LABS = {
    lab.id: lab
    for lab in (
        LabInfo("01", "01-introduction-to-containers", "Introduction to containers",
                summary="observe the shared kernel, PID namespaces, cgroup limits, the OOM killer, start-up time"),
        LabInfo("02", "02-docker-fundamentals", "Docker fundamentals", apps=("api",), host_ports=(3000, 5001),
                summary="write a multi-stage, non-root Dockerfile; run, operate and ship it through a registry"),
        LabInfo("03", "03-images-and-layers", "Container images and layers", apps=("api",),
                learner_writes=("Dockerfile", ".dockerignore"),
                summary="measure layers, cache hits and image sizes; keep secrets out with `.dockerignore`; "
                        "lint with hadolint"),
        LabInfo("04", "04-docker-compose", "Docker Compose", apps=("api", "stack:."), learner_writes=(),
                images=("course/api:lab04",), host_ports=(3000, 8080), runs_on="Docker + Compose",
                summary="run api + PostgreSQL + Redis + nginx with healthchecks; persistence, scaling behind "
                        "nginx, rebuilds"),
        LabInfo("05", "05-kubernetes-architecture", "Kubernetes architecture", learner_writes=(), cluster=True,
                runs_on="kind",
                summary="find each control-plane component on the nodes, read an object's key in etcd, watch "
                        "the scheduler, the kubelet and kube-proxy at work"),
        LabInfo("06", "06-pods-services-deployments", "Pods, Services and Deployments", apps=("api",),
                learner_writes=(), cluster=True, addons=("metallb",), runs_on="kind",
                summary="a Pod with probes, limits, a Secret and a native sidecar; a Deployment that heals; "
                        "ClusterIP, NodePort, LoadBalancer and headless Services; a rollout stalled and undone"),
        LabInfo("07", "07-container-networking", "Container networking", apps=("nettools",), learner_writes=(),
                cluster=True, addons=("metallb", "traefik"), runs_on="kind",
                summary="pod IPs per node, pod-to-pod without NAT, the CNI plugin on a node; NetworkPolicy "
                        "default-deny and the chapter's policy proven by traffic; DNS on UDP and TCP 53"),
        LabInfo("08", "08-persistent-storage", "Persistent storage", learner_writes=(), cluster=True,
                addons=("local-path",), runs_on="kind",
                summary="emptyDir, ConfigMap and hostPath volumes; a PersistentVolume and its claim; dynamic "
                        "provisioning; PostgreSQL as a StatefulSet whose rows outlive its pod"),
        LabInfo("09", "09-service-discovery", "Service discovery", apps=("nettools",), learner_writes=(),
                cluster=True, runs_on="kind",
                summary="a Service's names from its namespace and from others; the search list and ndots, counted in "
                        "a name server's log; a headless Service for a StatefulSet; ExternalName; NXDOMAIN, no answer "
                        "and refused told apart"),
        LabInfo("10", "10-autoscaling", "Autoscaling", apps=("loadtools",), learner_writes=(), cluster=True,
                addons=("metrics-server", "vpa"), runs_on="kind",
                summary="an HPA that cannot see CPU, then one that scales out under a load Job and back within "
                        "minutes, watched live; a VPA's recommendations; a manifest that fights the HPA; a pod "
                        "resized in place; the signal a cluster autoscaler acts on"),
        LabInfo("11", "11-production-deployment", "A production deployment", apps=("api", "loadtools"),
                learner_writes=(), cluster=True, runs_on="kind",
                summary="the chapter's production manifest under Pod Security `restricted`; a rolling update under "
                        "load with no failed request; a drain held back by a PodDisruptionBudget; a spread the "
                        "scheduler must keep; an audit (checklist, kube-score, schema)"),
    )
}


def get(lab_id: str) -> LabInfo:
    key = lab_id.zfill(2) if lab_id.isdigit() else lab_id
    for lab in LABS.values():
        if key in (lab.id, lab.slug):
            return lab
    raise LabError(f"There is no lab {lab_id!r}.", f"use one of: {', '.join(LABS)}.")


def checks_by_lab() -> dict[str, dict]:
    """Every lab's checks in order, with titles: {"07": {"title": ..., "checks": {name: title}}} (imports every
    lab's module: `labkit progress` and a class board, never a lab's kernel)."""
    return {lab.id: {"title": lab.title, "checks": _titles(lab.module().checks)} for lab in LABS.values()}


def _titles(checks) -> dict[str, str]:
    return {name: checks.get(name).title for name in checks.names()}
