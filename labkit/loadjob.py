"""The load Job of labs 10 and 11: apps/loadtools/load.py run inside the cluster as a Job named `load` that
always stops (its own duration, and a deadline in case it hangs), and what the checks read back from it: when
it ran, and what it counted ("total: N ok, M failed (kinds)", its last line).

A check judges the load a learner ran, so a new load deletes the Job of the last one first: a check must
never judge this run by the one before it.
"""
from __future__ import annotations

import re

from labkit.checks import require
from labkit.cluster import read_or_none
from labkit.cluster_addons import kubectl

NAME = "load"
IMAGE = "docker.io/library/python:3.11-slim-bookworm"
TOTAL = re.compile(r"total: (\d+) ok, (\d+) failed(?: \((.*)\))?")


def manifest(url: str, seconds: int, workers: int, tools: str, resources: dict,
             security: dict | None = None, pause_ms: int = 0) -> dict:
    """load.py sending GET `url` from `workers` loops for `seconds` (each loop `pause_ms` between requests), from
    the ConfigMap `tools`."""
    container = {"name": NAME, "image": IMAGE,
                 "command": ["python3", "/tools/load.py", url, str(seconds), str(workers)]
                 + ([str(pause_ms)] if pause_ms else []),
                 "resources": resources, "volumeMounts": [{"name": "tools", "mountPath": "/tools"}]}
    if security:
        container["securityContext"] = security
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": NAME},
            "spec": {"backoffLimit": 0, "activeDeadlineSeconds": seconds + 60,  # a stuck generator stops too
                     "template": {"metadata": {"labels": {"app": NAME}}, "spec": {
                         "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                         "containers": [container],
                         "volumes": [{"name": "tools", "configMap": {"name": tools}}]}}}}


def start(lab, job: dict) -> None:
    """Replace the last load's Job (waiting until it is gone) with `job`."""
    ns = lab.kube.namespace
    kubectl("-n", ns, "delete", "job", NAME, "--ignore-not-found", "--wait=true")
    lab.kube.apply([job], ns)


def read(lab):
    return read_or_none(lab.kube.batch.read_namespaced_job, NAME, lab.kube.namespace)


def began(job) -> float:
    return (job.status.start_time or job.metadata.creation_timestamp).timestamp()


def ended(job) -> float | None:
    """When the Job finished (completed, or stopped by its deadline), in epoch seconds; None while it runs."""
    if job is None:
        return None
    return next((c.last_transition_time.timestamp() for c in job.status.conditions or []
                 if c.type in ("Complete", "Failed") and c.status == "True"), None)


def finished(lab, cell: str) -> tuple[float, float]:
    """(began, ended) of the load the learner ran with `cell`; a check fails while there is none, or it runs."""
    job = read(lab)
    require(job is not None, "there is no Job load: nothing has run under load yet.", f"run the cell that {cell}.")
    end = ended(job)
    require(end is not None, "the load is still running.", "wait for that cell to finish, then rerun.")
    return began(job), end


def total(lab) -> tuple[int, int, str] | None:
    """What the load generator counted: answered, failed, and the kinds of failure ("3 HTTP 503, ...")."""
    out = kubectl("-n", lab.kube.namespace, "logs", f"job/{NAME}", "--tail=3", check=False)
    match = TOTAL.search(out)
    return (int(match.group(1)), int(match.group(2)), match.group(3) or "") if match else None
