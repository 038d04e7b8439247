"""Lab 01 checks: the shared kernel, PID namespaces, cgroup limits, start-up time."""
from __future__ import annotations

import statistics

from labkit import daemon
from labkit.checks import Checks, lab_container, require
from labkit.config import LABEL_LAB
from labkit.ownership import labels

checks = Checks()
BASE = "debian:bookworm-slim"
PYTHON = "python:3.11-slim-bookworm"


# Commands that ask the kernel itself for its release (the daemon records the command a container ran).
KERNEL_READERS = ("uname", "/proc/sys/kernel/osrelease")


def command_line(ctr) -> str:
    return " ".join([ctr.attrs.get("Path") or "", *(ctr.attrs.get("Args") or [])]).strip()


@checks("kernel", "The container shares the host's kernel")
def kernel(lab):
    ctr = lab_container(lab, "lab01-kernel", f"run exercise 1's cell: a container named lab01-kernel, from {BASE}, with $LAB_LABELS (its hints are above it).")
    ctr.reload()
    require(ctr.attrs["State"]["Status"] == "exited" and ctr.attrs["State"]["ExitCode"] == 0,
            f"lab01-kernel should have run `uname -r` and exited 0; it is {ctr.status}.",
            "give it the command `uname -r` (after the image name) so it prints the kernel release and exits.")
    ran = command_line(ctr)
    require(any(r in ran for r in KERNEL_READERS),
            f"lab01-kernel ran `{ran}`, which prints what it was given, not what the kernel says.",
            "the container must ask the kernel itself: the command `uname -r` (an `echo` of the host's "
            "`uname -r` was expanded by the host's shell before the container started).")
    seen = ctr.logs().decode().strip()
    host = daemon.server_info()["KernelVersion"]
    require(seen == host, f"lab01-kernel printed {seen!r}, but the Docker host's kernel is {host!r}.",
            "the container's command must be exactly `uname -r` (-r: the release only).")
    return f"`{ran}` inside the container printed {host}, the Docker host's kernel: one kernel, no guest OS."


@checks("pid1", "The container has its own process tree")
def pid1(lab):
    ctr = lab_container(lab, "lab01-sleeper", f"run exercise 2's cell: a container named lab01-sleeper, from {BASE}, with $LAB_LABELS (its hints are above it).")
    require(ctr.status == "running", f"lab01-sleeper is {ctr.status}, not running.",
            "start it detached (-d) with the command `sleep infinity` so it keeps running.")
    hc = ctr.attrs["HostConfig"]
    require(hc.get("PidMode") != "host", "lab01-sleeper shares the host's PID namespace (--pid host).",
            "recreate it without --pid host: that flag removes the very isolation this exercise shows.")
    require(not hc.get("Init"), "lab01-sleeper was started with --init, so docker-init is its PID 1, not sleep.",
            "recreate it without --init to see your own command become PID 1 (--init is the fix for "
            "signals and zombies, discussed below).")
    code, cmdline = daemon.exec_text(ctr, ["cat", "/proc/1/cmdline"])
    inside = cmdline.replace("\x00", " ").strip()
    require(inside.startswith("sleep"), f"PID 1 inside lab01-sleeper is {inside!r}, not sleep.",
            "make `sleep infinity` the container's command itself (not `sh -c ...`): it becomes PID 1.")
    host_pid = ctr.attrs["State"]["Pid"]
    require(host_pid > 1, f"the daemon reports host PID {host_pid} for lab01-sleeper.", "recreate the container.")
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
                        f"run exercise 3's cell: a container named lab01-limited, from {PYTHON}, with $LAB_LABELS (its hints are above it).")
    require(ctr.status == "running", f"lab01-limited is {ctr.status}, not running.", "start it detached with `sleep infinity`.")
    hc = ctr.attrs["HostConfig"]
    # The cgroup files are the truth: --cpus 0.5 and --cpu-quota 50000 --cpu-period 100000 write the same.
    mem, cpus = cgroup_limits(ctr)
    if mem is None and hc.get("MemoryReservation"):
        require(False, "lab01-limited has a memory reservation (a soft limit the kernel may exceed), no limit.",
                "use --memory 128m: --memory-reservation only matters when the host runs short of memory.")
    require(mem == 128 * 2**20, f"inside, the cgroup's memory limit is {'none' if mem is None else f'{mem} bytes'}.",
            "recreate it with `--memory 128m` (128 MiB = 134217728 bytes).")
    require(cpus is not None and abs(cpus - 0.5) < 1e-6,
            f"inside, the cgroup's CPU quota is {'none' if cpus is None else f'{cpus:g} CPUs'}.",
            "recreate it with `--cpus 0.5` (or --cpu-quota 50000 --cpu-period 100000).")
    how = "--cpus" if hc.get("NanoCpus") else "--cpu-quota/--cpu-period"
    return f"the kernel enforces memory.max={mem // 2**20} MiB and a CPU quota of {cpus} CPU ({how}), read from inside."


@checks("oom", "The kernel kills a container that exceeds its memory limit")
def oom(lab):
    ctr = lab_container(lab, "lab01-oom", "run the exercise cell that starts lab01-oom with --memory 64m.")
    state = ctr.attrs["State"]
    require(ctr.attrs["HostConfig"].get("Memory") == 64 * 2**20, "lab01-oom does not have a 64 MiB memory limit.",
            "use `--memory 64m --memory-swap 64m`.")
    require(state["Status"] == "exited", f"lab01-oom is {state['Status']}; it should have been killed.",
            "its command must allocate more memory than the limit, e.g. python -c \"x = 'a' * (256 * 2**20)\".")
    if not state.get("OOMKilled") and state["ExitCode"] == 137:
        # Docker learns of an OOM kill from a notice that can come late or, on cgroup v1 under load, not
        # at all (its listener starts after the process); the kernel's own log always has it.
        if daemon.had_event(ctr, "oom"):
            return "killed by the OOM killer (the daemon logged an oom event), exit code 137 (128 + SIGKILL)."
        log = daemon.kernel_log(BASE, labels(lab.id))
        if log is not None and daemon.kernel_oom_killed(log, ctr.id):
            return ("killed by the OOM killer (the kernel log names this container's memory cgroup; Docker "
                    "missed the notice, so OOMKilled is false), exit code 137 (128 + SIGKILL).")
        require(log is not None, "lab01-oom exited with code 137 (SIGKILL), but Docker did not see an OOM kill "
                "and the kernel log could not be read to tell.", "rerun the cell that starts lab01-oom, then this check.")
        require(False, "lab01-oom exited with code 137 (SIGKILL), but not from the OOM killer: OOMKilled is false.",
                "let the kernel do it: allocate more than the limit, e.g. python -c \"x = 'a' * (256 * 2**20)\"; "
                "a kill -9 or `exit 137` only imitates the exit code.")
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
        runs.append({"name": ctr.name, "exit": s["ExitCode"], "command": command_line(ctr),
                     "created": created, "finished": finished,
                     "create_to_start_ms": (started - created).total_seconds() * 1000,
                     "run_ms": (finished - started).total_seconds() * 1000})
    return sorted(runs, key=lambda r: r["name"])


@checks("startup", "Five containers started one after another, their start-up timed by the daemon")
def startup(lab):
    runs = startup_runs(lab)
    other = sorted({r["command"] for r in runs if r["command"] != "true"})
    require(not other, f"some lab01-start-N containers ran `{'`, `'.join(other)}`, not `true`.",
            "run `true`: it does nothing, so what the daemon times is the container's start-up alone.")
    order = sorted(runs, key=lambda r: r["created"])
    overlap = [b["name"] for a, b in zip(order, order[1:]) if b["created"] < a["finished"]]
    require(not overlap, f"{', '.join(overlap)} was created before the previous container had finished: "
            "the runs overlapped, so each one's time includes waiting for the others.",
            "start them one after the other: `docker run` in the loop without `&` (or -d).")
    require(len(runs) >= 5, f"found {len(runs)} finished lab01-start-N containers; the exercise needs 5.",
            f"run the loop that starts lab01-start-1 … lab01-start-5 with `{BASE} true` (and $LAB_LABELS), and keep "
            "them: a container started with --rm is deleted as it exits, with the times the daemon recorded.")
    require(all(r["exit"] == 0 for r in runs), "some lab01-start-N containers failed.", "their command should be `true`.")
    median = statistics.median(r["create_to_start_ms"] + r["run_ms"] for r in runs)
    return (f"{len(runs)} containers, one after another; median create→exit {median:.0f} ms as the daemon "
            f"recorded it ({'well under' if median < 1000 else 'over'} a second).")
