"""`labkit doctor`: is this machine ready for the labs? Each finding says how to fix it."""
from __future__ import annotations

import shutil
from dataclasses import dataclass

from labkit import catalogue, daemon, platform_hints, releases
from labkit.errors import LabError


@dataclass
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def docker_findings() -> list[Finding]:
    found = []
    cli = shutil.which("docker")
    found.append(Finding("docker CLI", cli is not None, cli or "not on PATH", platform_hints.install_tool("docker")))
    try:
        info = daemon.server_info()
    except LabError as err:
        found.append(Finding("Docker daemon", False, err.problem, err.fix))
        return found
    found.append(Finding("Docker daemon", True, f"{info.get('ServerVersion')} ({info.get('OperatingSystem')}, "
                                                  f"cgroup v{info.get('CgroupVersion')}, {info.get('MemTotal', 0) // 2**20} MiB)"))
    for img in catalogue.CATALOGUE:
        if daemon.built_offline(img.ref):
            found.append(Finding(f"image {img.ref}", True, "offline equivalent, built locally", required=False))
        elif daemon.present(img.ref):
            found.append(Finding(f"image {img.ref}", True, "official image, present", required=False))
        else:
            found.append(Finding(f"image {img.ref}", True, "not present yet: pulled on first use",
                                 "offline or rate-limited? run `make offline-images` first", required=False))
    return found


def compose_findings() -> list[Finding]:
    from labkit import tools

    version = tools.compose_version()
    found = [Finding("docker compose (v2 plugin)", bool(version), tools.describe("docker-compose", version) if version
                     else "not installed", "run `make setup` (it downloads the pinned release, or builds it with "
                     "Go offline) or install Docker's compose plugin")]
    if tools.compose_v1_present():
        found.append(Finding("docker-compose 1.x", False, "the retired Python Compose v1 is on PATH",
                             "the labs use `docker compose` (with a space); uninstall docker-compose 1.x to avoid "
                             "confusion", required=False))
    return found


def cluster_findings() -> list[Finding]:
    """kind and kubectl, the course cluster, and where the learner's kubectl points."""
    from labkit import cluster
    from labkit import cluster_parts as parts

    found = []
    from labkit import tools

    for name in ("kind", "kubectl"):
        try:
            found.append(Finding(name, True, tools.describe(name, cluster.tool(name))))
        except LabError as err:
            found.append(Finding(name, False, err.problem, err.fix + " (labs 05-11 need it)", required=False))
    if not all(f.ok for f in found):
        return found
    try:
        daemon.client()  # kind's nodes are Docker containers: without the daemon, nothing to ask
    except LabError as err:
        return found + [Finding(f"cluster {parts.CLUSTER_NAME}", False, f"cannot tell: {err.problem}", err.fix,
                                required=False)]
    up = cluster.exists()
    image = "locally built node image" if cluster.offline_node_image() else f"kind's {releases.node_image()}"
    found.append(Finding(f"cluster {parts.CLUSTER_NAME}", up, f"running ({image})" if up else "not created",
                         "run `make cluster` (labs 05-11 need it)", required=False))
    if up:
        answers, ready, detail = cluster.api_health()
        found.append(Finding("cluster API server", answers and ready, detail,
                             cluster.BROKEN_FIX if not answers else
                             "give it a minute after a restart; `kubectl get nodes` shows which node is not Ready",
                             required=False))
        # Information, not a problem: the labs never use it, and `make cluster` leaves it as it was.
        current = cluster.current_context()
        found.append(Finding("your kubectl's current context", True,
                             f"{current or 'none'} (the labs use {cluster.kubeconfig()} instead; for your own terminal: "
                             f"export KUBECONFIG={cluster.kubeconfig()})", required=False))
    return found


def run() -> list[Finding]:
    """Every finding at once: a section that cannot be examined becomes a finding of its own."""
    found = []
    for name, section in (("Docker", docker_findings), ("Docker Compose", compose_findings),
                          ("the course cluster", cluster_findings)):
        try:
            found += section()
        except LabError as err:
            found.append(Finding(name, False, f"cannot tell: {err.problem}", err.fix))
    return found
