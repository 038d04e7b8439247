"""Lab 01 checks: the shared kernel, PID namespaces, cgroup limits, start-up time."""
from __future__ import annotations

import statistics

from labkit import daemon
from labkit.checks import Checks, lab_container, require
from labkit.config import LABEL_LAB

checks = Checks()
BASE = "debian:bookworm-slim"
PYTHON = "python:3.11-slim-bookworm"


@checks("kernel", "The container shares the host's kernel")
def kernel(lab):
    ctr = lab_container(lab, "lab01-kernel", f"run `docker run --name lab01-kernel $LAB_LABELS {BASE} uname -r`.")
    ctr.reload()
    require(ctr.attrs["State"]["Status"] == "exited" and ctr.attrs["State"]["ExitCode"] == 0,
            f"lab01-kernel should have run `uname -r` and exited 0; it is {ctr.status}.",
            "give it the command `uname -r` (after the image name) so it prints the kernel release and exits.")
    seen = ctr.logs().decode().strip()
    host = daemon.server_info()["KernelVersion"]
    require(seen == host, f"lab01-kernel printed {seen!r}, but the Docker host's kernel is {host!r}.",
            "the container's command must be exactly `uname -r`.")
    return f"inside and outside the container the kernel is {host}: one kernel, no guest OS."


@checks("pid1", "The container has its own process tree")
def pid1(lab):
    ctr = lab_container(lab, "lab01-sleeper", f"run `docker run -d --name lab01-sleeper $LAB_LABELS {BASE} sleep infinity`.")
    require(ctr.status == "running", f"lab01-sleeper is {ctr.status}, not running.",
            "start it detached (-d) with the command `sleep infinity` so it keeps running.")
    code, cmdline = daemon.exec_text(ctr, ["cat", "/proc/1/cmdline"])
    inside = cmdline.replace("\x00", " ").strip()
    require(inside.startswith("sleep"), f"PID 1 inside lab01-sleeper is {inside!r}, not sleep.",
            "the container's command should be `sleep infinity` (it becomes PID 1).")
    host_pid = ctr.attrs["State"]["Pid"]
    code, listing = daemon.exec_text(ctr, ["sh", "-c", "ls -d /proc/[0-9]* | wc -l"])
    return (f"inside, `{inside}` is PID 1 and only {listing.strip()} processes are visible; "
            f"on the host the same process is PID {host_pid}.")


def cgroup_limits(ctr) -> tuple[int | None, float | None]:
    """(memory limit in bytes, CPUs) as the container itself sees them, cgroup v2 or v1."""
    code, out = daemon.exec_text(ctr, ["sh", "-c", "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max 2>/dev/null"])
    if code == 0 and out:
        mem, cpu = out.splitlines()[:2]
        quota, period = cpu.split()
        return (None if mem == "max" else int(mem)), (None if quota == "max" else int(quota) / int(period))
    code, out = daemon.exec_text(ctr, ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                                                   "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"])
    mem, quota, period = (int(x) for x in out.split())
    return (None if mem >= 2**62 else mem), (None if quota < 0 else quota / period)


@checks("limits", "Memory and CPU limits are cgroup settings the container can read")
def limits(lab):
    ctr = lab_container(lab, "lab01-limited",
                        f"run `docker run -d --name lab01-limited $LAB_LABELS --memory 128m --cpus 0.5 {PYTHON} sleep infinity`.")
    require(ctr.status == "running", f"lab01-limited is {ctr.status}, not running.", "start it detached with `sleep infinity`.")
    hc = ctr.attrs["HostConfig"]
    require(hc.get("Memory") == 128 * 2**20, f"lab01-limited has a memory limit of {hc.get('Memory') or 'none'} bytes.",
            "recreate it with `--memory 128m`.")
    require(hc.get("NanoCpus") == 500_000_000, f"lab01-limited has a CPU limit of {(hc.get('NanoCpus') or 0) / 1e9} CPUs.",
            "recreate it with `--cpus 0.5`.")
    mem, cpus = cgroup_limits(ctr)
    require(mem == 128 * 2**20 and cpus == 0.5, f"inside, the cgroup says memory={mem}, cpus={cpus}.",
            "the limits were not applied; recreate the container with --memory 128m --cpus 0.5.")
    return f"the kernel enforces memory.max={mem // 2**20} MiB and a CPU quota of {cpus} CPU, read from inside."


@checks("oom", "The kernel kills a container that exceeds its memory limit")
def oom(lab):
    ctr = lab_container(lab, "lab01-oom", "run the exercise cell that starts lab01-oom with --memory 64m.")
    state = ctr.attrs["State"]
    require(ctr.attrs["HostConfig"].get("Memory") == 64 * 2**20, "lab01-oom does not have a 64 MiB memory limit.",
            "use `--memory 64m --memory-swap 64m`.")
    require(state["Status"] == "exited", f"lab01-oom is {state['Status']}; it should have been killed.",
            "its command must allocate more memory than the limit, e.g. python -c \"x = 'a' * (256 * 2**20)\".")
    require(state.get("OOMKilled"), f"lab01-oom exited with code {state['ExitCode']} but was not OOM-killed.",
            "allocate (and touch) more than 64 MiB, e.g. python -c \"x = 'a' * (256 * 2**20)\", "
            "and set --memory-swap 64m so it cannot swap.")
    return f"OOMKilled=true, exit code {state['ExitCode']} (128 + SIGKILL)."


def startup_runs(lab) -> list[dict]:
    """Each lab01-start-* container's create->start and start->exit durations from the daemon."""
    runs = []
    for ctr in daemon.client().containers.list(all=True, filters={"label": f"{LABEL_LAB}={lab.id}", "name": "lab01-start-"}):
        s = ctr.attrs["State"]
        if s["Status"] != "exited":
            continue
        created, started, finished = (daemon.parse_time(t) for t in (ctr.attrs["Created"], s["StartedAt"], s["FinishedAt"]))
        runs.append({"name": ctr.name, "exit": s["ExitCode"],
                     "create_to_start_ms": (started - created).total_seconds() * 1000,
                     "run_ms": (finished - started).total_seconds() * 1000})
    return sorted(runs, key=lambda r: r["name"])


@checks("startup", "Containers start in well under a second")
def startup(lab):
    runs = startup_runs(lab)
    require(len(runs) >= 5, f"found {len(runs)} finished lab01-start-N containers; the exercise needs 5.",
            f"run the loop that starts lab01-start-1 … lab01-start-5 with `{BASE} true` (and $LAB_LABELS).")
    require(all(r["exit"] == 0 for r in runs), "some lab01-start-N containers failed.", "their command should be `true`.")
    median = statistics.median(r["create_to_start_ms"] + r["run_ms"] for r in runs)
    return f"{len(runs)} containers; median create→exit {median:.0f} ms, as the daemon recorded it."
