"""Access to the Docker daemon: one client, friendly errors, small read helpers."""
from __future__ import annotations

import functools
import time
from datetime import datetime

from labkit import catalogue, platform_hints
from labkit.errors import DaemonUnavailable, ResourceMissing


@functools.lru_cache(maxsize=1)
def _client():
    import docker

    return docker.from_env(timeout=120)


def client():
    """A connected docker client, or DaemonUnavailable with a fix for this platform."""
    import docker.errors

    try:
        c = _client()
        c.ping()
        return c
    except (docker.errors.DockerException, OSError) as exc:
        _client.cache_clear()
        raise DaemonUnavailable(
            "The Docker daemon is not reachable" + (f" ({_short(exc)})." if _short(exc) else "."),
            platform_hints.start_docker() + ", then rerun this cell.",
        ) from None


def _short(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "No such file or directory", "Permission denied", "timed out"):
        if marker in text:
            return marker.lower()
    return ""


def container(name: str, hint: str = ""):
    """The container called `name`, or ResourceMissing telling how to create it."""
    import docker.errors

    try:
        return client().containers.get(name)
    except docker.errors.NotFound:
        raise ResourceMissing(
            f"There is no container named {name}.",
            hint or "run the exercise cell that creates it (check the name for typos).",
        ) from None


def image(ref: str, hint: str = ""):
    import docker.errors

    try:
        return client().images.get(ref)
    except docker.errors.ImageNotFound:
        raise ResourceMissing(f"There is no image {ref} on this machine.", hint or "build or pull it first.") from None


def image_names() -> list[str]:
    """Every tagged image on this machine, as repository:tag (for "did you mean ...?")."""
    try:
        return [tag for img in client().images.list() for tag in img.tags]
    except Exception:  # a suggestion is a nicety: never let it hide the error it decorates
        return []


def _local(ref: str):
    """The image `ref` on this machine, or None."""
    import docker.errors

    try:
        return client().images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def present(ref: str) -> bool:
    return _local(ref) is not None


def built_offline(ref: str) -> bool:
    """Whether `ref` is one of the course's locally built equivalents (it carries their label)."""
    img = _local(ref)
    return img is not None and (img.labels or {}).get(catalogue.OFFLINE_LABEL) == ref


def exec_text(ctr, cmd: list[str] | str, user: str | None = None) -> tuple[int, str]:
    """Run a command in a running container; (exit code, combined output as text)."""
    kwargs = {"user": user} if user else {}
    code, out = ctr.exec_run(cmd, demux=False, **kwargs)
    return code, (out or b"").decode(errors="replace").strip()


def health(ctr) -> str | None:
    ctr.reload()
    return (ctr.attrs["State"].get("Health") or {}).get("Status")


def wait_healthy(ctr, timeout: float = 90) -> str:
    """Wait for a container with a HEALTHCHECK to report healthy, showing progress. Stops at once when
    the container exits or its first probe after the start period fails (that probe says enough)."""
    from labkit.progress import wait_until

    def state():
        ctr.reload()
        s = ctr.attrs["State"]
        if s["Status"] != "running":
            return "exited", s["Status"]
        h = s.get("Health") or {}
        if h.get("Status") == "healthy":
            return True, "healthy"
        if h.get("FailingStreak", 0) >= 1:
            return "failing its healthcheck", f"{h['FailingStreak']} failed probe(s)"
        return False, h.get("Status") or "no healthcheck"

    return wait_until(state, f"{ctr.name} healthy", timeout=timeout)


def server_info() -> dict:
    return client().info()



def parse_time(value: str) -> datetime:
    """A Docker timestamp (RFC 3339 with nanoseconds, UTC) as an aware datetime."""
    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def created_epoch(ctr) -> float:
    return parse_time(ctr.attrs["Created"]).timestamp()


def had_event(ctr, action: str) -> bool:
    """Whether the daemon logged `action` (e.g. "oom") for this container since it was created. Its event
    log keeps what `docker inspect` can miss: on a loaded machine the kernel's OOM notice can reach the
    daemon after the container's exit, which then records OOMKilled false (seen with two test sessions
    on two cores, cgroup v1)."""
    events = client().events(since=int(created_epoch(ctr)), until=int(time.time()) + 1, decode=True,
                             filters={"container": ctr.id, "event": action})
    try:
        return any(True for _ in events)
    finally:
        events.close()


def kernel_log(image: str, labels: dict[str, str]) -> str | None:
    """The kernel's log, read by a short-lived container of `image` (labelled `labels`) allowed to read
    it (CAP_SYSLOG): the notebook's own user usually may not (kernel.dmesg_restrict), and with Docker
    Desktop the kernel is the VM's. None when it cannot be read."""
    import docker.errors

    try:
        out = client().containers.run(image, ["dmesg"], cap_add=["SYSLOG"], network_disabled=True,
                                      labels=labels, remove=True, stdout=True, stderr=False)
    except docker.errors.DockerException:
        return None
    return out.decode(errors="replace")


def kernel_oom_killed(log: str, container_id: str) -> bool:
    """The kernel log records an OOM kill inside this container's memory cgroup: its `oom-kill:` line
    names the cgroup (/docker/<id> with cgroupfs, docker-<id>.scope with systemd)."""
    return any("oom-kill:" in line and container_id in line for line in log.splitlines())

