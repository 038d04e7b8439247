"""Lab 10 checks: autoscaling on the course cluster, proven by what the autoscalers did.

The HPA's own status and events (its conditions, each `SuccessfulRescale` with its reason and time, set against
the load Job's start and end), a server-side dry run of the learner's manifest (what the next `kubectl apply`
would do to the replica count), the resized pod's cgroup read from inside it, and the scheduler's verdict on a
pod it could not place. The load comes from apps/loadtools (busy.py burns CPU per request, load.py sends them
and always stops); labkit.sampler watches the HPA while it runs.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from labkit import cluster, cluster_addons, loadjob, plots, sampler, waits
from labkit.checks import Checks, api_object, require
from labkit.cluster import read_or_none
from labkit.cluster_addons import kubectl
from labkit.errors import LabError, friendly

checks = Checks()

IMAGE = "docker.io/library/python:3.11-slim-bookworm"
TOOLS = "loadtools"
SPARE = "lab10-spare"       # the PriorityClass of big's pods: below everyone, so they never keep a pod out
SCALE_IN_LIMIT = 120        # seconds after the load ends by which busy must be back at the HPA's minimum
DEFAULT_SCALE_DOWN_WINDOW = 300  # the HPA's scale-down stabilization window when its spec gives none
BUSY_MAX_MILLICORES = 100   # the most CPU exercise 1 lets busy's container have (the load stays small)
RESIZED_CPU = "300m"
RESIZE_ORIGIN = "resize-me-origin"  # ConfigMap: the uid of the pod resize-me as the set-up made it
RESCALE = re.compile(r"New size: (\d+); reason: (.*)")


def _tools_volume() -> dict:
    return {"name": "tools", "configMap": {"name": TOOLS}}


def _resize_me() -> dict:
    cpu = {"cpu": "100m", "memory": "64Mi"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "resize-me", "labels": {"app": "resize-me"}},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "app", "image": IMAGE, "command": ["sleep", "infinity"],
                                     "resources": {"requests": cpu, "limits": dict(cpu)}}]}}


@friendly
def prepare(lab) -> None:
    """The load tools, the Service busy (its Deployment comes from the learner's busy.yaml), the PriorityClass
    of the spare pods, and the pod resize-me, made anew (so a rerun starts the resize exercise over)."""
    cluster_addons.ensure("metrics-server")  # the HPA's source of CPU figures, and the VPA's
    cluster_addons.ensure("vpa")
    cluster.load_images(IMAGE)
    ns = lab.kube.namespace
    tools = {f.name: f.read_text() for f in sorted((lab.workdir / "loadtools").glob("*.py"))}
    lab.kube.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": TOOLS}, "data": tools},
                    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "busy"},
                     "spec": {"selector": {"app": "busy"}, "ports": [{"port": 80, "targetPort": 8080}]}}], ns)
    lab.kube.apply([{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": SPARE},
                     "value": -1, "preemptionPolicy": "Never", "globalDefault": False,
                     "description": "Lab 10's spare pods: any other pod that needs their room takes it."}])
    kubectl("-n", ns, "delete", "pod", "resize-me", "--ignore-not-found", "--wait=true")
    lab.kube.apply([_resize_me()], ns)
    waits.wait(lab.kube, "pod/resize-me", timeout=120)
    uid = lab.kube.core.read_namespaced_pod("resize-me", ns).metadata.uid
    lab.kube.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": RESIZE_ORIGIN},
                     "data": {"uid": uid}}], ns)
    print(f"in {ns}: the ConfigMap {TOOLS} (busy.py, load.py), the Service busy, the pod resize-me; "
          f"the PriorityClass {SPARE} (cluster-wide)")


# --- reading the HPA --------------------------------------------------------------------------------
def _hpa(lab, name: str = "busy"):
    return read_or_none(lab.kube.autoscaling.read_namespaced_horizontal_pod_autoscaler, name, lab.kube.namespace)


def _condition(hpa, kind: str):
    return next((c for c in (hpa.status.conditions or []) if c.type == kind), None)


def _cpu_utilization(metrics, side: str) -> float | None:
    """The average CPU utilization (% of the request) in an HPA's metric list: side "current" for what it
    read (status.currentMetrics), "target" for what it aims at (spec.metrics); None when there is none."""
    for metric in metrics or []:
        source = metric.resource or metric.container_resource
        if source is not None and source.name == "cpu" and getattr(source, side).average_utilization is not None:
            return float(getattr(source, side).average_utilization)
    return None


def _utilization(hpa) -> float | None:
    return _cpu_utilization(hpa.status.current_metrics, "current")


def _target(hpa) -> float | None:
    return _cpu_utilization(hpa.spec.metrics, "target")


def _scale_down_window(hpa) -> int:
    behavior = hpa.spec.behavior
    window = behavior.scale_down.stabilization_window_seconds if behavior and behavior.scale_down else None
    return DEFAULT_SCALE_DOWN_WINDOW if window is None else window


def _missing_request(lab, hpa) -> str | None:
    return waits.hpa_blind(lab.kube, hpa)


# --- the load and the watch -------------------------------------------------------------------------
def _load_job(seconds: int, workers: int, ms: int) -> dict:
    return loadjob.manifest(f"http://busy/?ms={ms}", seconds, workers, TOOLS,
                            {"requests": {"cpu": "50m"}, "limits": {"cpu": "200m"}})


def _rescales(lab, since: float) -> list[tuple[float, int, str]]:
    """(when, new size, reason) of the HPA busy's rescales since `since` (epoch seconds), oldest first."""
    found = []
    for event in lab.kube.events_for("busy"):
        if event.involved_object.kind != "HorizontalPodAutoscaler" or event.reason != "SuccessfulRescale":
            continue
        when = (event.last_timestamp or event.event_time or event.metadata.creation_timestamp).timestamp()
        match = RESCALE.search(event.message or "")
        if when >= since and match:
            found.append((when, int(match.group(1)), match.group(2)))
    return sorted(found)


def _watch_reading(lab):
    def read():
        hpa, dep, job = _hpa(lab), read_or_none(lab.kube.apps.read_namespaced_deployment, "busy",
                                                lab.kube.namespace), loadjob.read(lab)
        ready = (dep.status.ready_replicas or 0) if dep else None
        return {"replicas": dep.spec.replicas if dep else None,  # what the Deployment is asked for, by anyone
                "desired": hpa.status.desired_replicas if hpa else None,
                "ready": ready, "cpu %": _utilization(hpa) if hpa else None,
                "load": 1.0 if job is not None and job.status.active else 0.0}
    return read


def _draw(target):
    def draw(history: sampler.History):
        col = lambda name: [v.get(name) for v in history.values]  # noqa: E731
        return plots.scaling(history.times, {"replicas": col("replicas"), "desired by the HPA": col("desired"),
                                             "ready pods": col("ready")},
                             {"CPU % of request": col("cpu %")}, target=target,
                             shaded=[bool(x) for x in col("load")], title="HPA busy")
    return draw


def load_and_watch(lab, seconds: int = 60, workers: int = 2, ms: int = 10, timeout: int = 240) -> None:
    """Start the load Job (it stops after `seconds`, and its deadline stops it in any case), then watch the HPA
    until busy is back at its minimum after the load, or until it is clear it will not be in time."""
    hpa = _hpa(lab)
    if hpa is None:
        raise LabError("There is no HPA busy to watch.", "apply hpa.yaml (exercise 1), then rerun this cell.")
    if _utilization(hpa) is None:
        raise LabError("The HPA busy cannot read busy's CPU yet: under load it would not scale.",
                       "finish exercise 1 (`kubectl -n $NS describe hpa busy` says what it lacks), then rerun.")
    ns = lab.kube.namespace
    window = _scale_down_window(hpa)
    low = hpa.spec.min_replicas or 1
    # The last load's Job goes first (loadjob.start does too): at rest is judged without it.
    kubectl("-n", ns, "delete", "job", loadjob.NAME, "--ignore-not-found", "--wait=true")
    _wait_at_rest(lab, low, window)
    loadjob.start(lab, _load_job(seconds, workers, ms))
    print(f"load: {workers} loops for {seconds} s; the HPA keeps busy between {low} and {hpa.spec.max_replicas} "
          f"replicas, scale-down stabilization {window} s")

    began = loadjob.read(lab).metadata.creation_timestamp.timestamp()

    def stop(history: sampler.History) -> str | None:
        ended = loadjob.ended(loadjob.read(lab))
        if ended is None:
            return None
        after = history.began + history.times[-1] - ended
        rescales = _rescales(lab, began)  # what the HPA did since the load began: its events, as the check reads
        ups = [when for when, size, _ in rescales if size > low]
        if ups and any(when > ups[0] and size == low for when, size, _ in rescales):
            return f"back at {low} replicas {after:.0f} s after the load ended"
        if ups and window > SCALE_IN_LIMIT:
            return (f"the load ended; the HPA will hold its replicas for {window} s after the last time it needed "
                    f"them (its scale-down stabilization window): more than the {SCALE_IN_LIMIT} s this exercise "
                    "allows, so the watch stops here")
        if not ups and after > 30:
            return "the load ended and the HPA never scaled busy out"
        return None

    history, reason = sampler.watch(_watch_reading(lab), stop, timeout=timeout, interval=3, draw=_draw(_target(hpa)))
    print(reason)
    print("load generator:", kubectl("-n", ns, "logs", "job/load", "--tail=1", check=False).strip())


def _wait_at_rest(lab, low: int, window: int) -> None:
    """A load test starts where a scale-out can show: busy below the HPA's maximum, at its minimum when the HPA
    gets there soon. When it is at the maximum and the HPA will not scale in soon (a long scale-down window after
    the last load), say so instead of waiting."""
    hpa = _hpa(lab)
    # The Deployment's own count: the HPA's status says what it last saw, up to 5 s ago (its loop on this cluster).
    now = lab.kube.apps.read_namespaced_deployment("busy", lab.kube.namespace).spec.replicas or 0
    high = hpa.spec.max_replicas
    if now <= low:
        return
    if window > SCALE_IN_LIMIT:
        if now < high:
            return  # the HPA can still scale out from here
        raise LabError(f"busy is at {now} replicas, the HPA's maximum, and the HPA keeps them for its scale-down "
                       f"stabilization window ({window} s) before going back to {low}: a new load now would not "
                       "show a scale-out.", "change how long the HPA waits before scaling in (exercise 3), apply "
                       "hpa.yaml and rerun; or wait those minutes and rerun.")
    from labkit import progress

    def probe():
        replicas = lab.kube.apps.read_namespaced_deployment("busy", lab.kube.namespace).spec.replicas or 0
        return replicas <= low, f"{replicas} replicas"

    progress.wait_until(probe, what=f"busy back at {low} replicas before the load", timeout=window + 90, interval=2,
                        fix="`kubectl -n $NS describe hpa busy` says what it waits for; rerun the cell.")


def watch(lab, seconds: int = 120) -> None:
    """Watch busy and its HPA (no load) until busy's replica count has moved and come back to the HPA's
    minimum, or for `seconds`."""
    hpa = _hpa(lab)
    target = _target(hpa) if hpa else None
    low = (hpa.spec.min_replicas or 1) if hpa else 1

    def stop(history: sampler.History) -> str | None:
        counts = [v.get("replicas") for v in history.values]
        if counts[-1] == low and any(n != low for n in counts):
            return f"busy is back at {low} replicas after {history.times[-1]:.0f} s"
        now = _hpa(lab)
        if now is None or waits.hpa_blind(lab.kube, now) is not None:
            return ("the HPA cannot compute busy's utilization, so it will not change busy's replicas: "
                    "exercise 1 is not done")
        return None

    _, reason = sampler.watch(_watch_reading(lab), stop, timeout=seconds, interval=3, draw=_draw(target))
    print(reason)


# --- checks -----------------------------------------------------------------------------------------
def _deployment(lab, name: str, manifest: str):
    return api_object(lambda: lab.kube.apps.read_namespaced_deployment(name, lab.kube.namespace),
                      f"there is no Deployment {name} in {lab.kube.namespace}.", f"kubectl -n $NS apply -f {manifest}")


def _the_hpa(lab):
    hpa = _hpa(lab)
    require(hpa is not None, f"there is no HPA busy in {lab.kube.namespace}.", "kubectl -n $NS apply -f hpa.yaml")
    ref = hpa.spec.scale_target_ref
    require(ref.kind == "Deployment" and ref.name == "busy",
            f"the HPA busy scales {ref.kind} {ref.name}, not the Deployment busy.",
            "scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: busy}")
    return hpa


@checks("utilization", "The HPA busy reads busy's CPU as a share of what its pods request")
@friendly
def utilization(lab):
    dep = _deployment(lab, "busy", "busy.yaml")
    hpa = _the_hpa(lab)
    require(_target(hpa) is not None, "the HPA busy has no CPU utilization target.",
            "keep its metric: type Resource, name cpu, target type Utilization.")
    missing = _missing_request(lab, hpa)
    require(missing is None, f"the HPA cannot compute a utilization: \"{(missing or '')[:260]}\".",
            "a utilization is usage divided by the request: every container the metric covers needs a CPU "
            "request (or measure one container only).")
    now = _utilization(hpa)
    active = _condition(hpa, "ScalingActive")
    require(now is not None, "the HPA has not read a CPU utilization yet" + (
        f" ({active.reason}: {(active.message or '')[:200]})" if active is not None and active.status == "False"
        else "") + ".", "metrics-server samples every 10 s: wait for it (the cell after the exercise does), "
                        "then rerun. `kubectl -n $NS describe hpa busy` shows what it says.")
    requests = {c.name: (c.resources.requests or {}).get("cpu") for c in dep.spec.template.spec.containers}
    worker = next((c for c in dep.spec.template.spec.containers if c.name == "busy"), None)
    limit = ((worker.resources.limits or {}).get("cpu") if worker is not None and worker.resources else None)
    require(limit is not None and _millicores(limit) <= BUSY_MAX_MILLICORES,
            (f"busy's container has a CPU limit of {limit}" if limit else "busy's container has no CPU limit")
            + f", more than {BUSY_MAX_MILLICORES}m: under the load it would take more of your machine than this lab "
            "needs.", f"cap it at {BUSY_MAX_MILLICORES}m of CPU.")
    return (f"the HPA reads {now:.0f}% of the CPU requested (target {_target(hpa):.0f}%); busy's containers "
            f"request {', '.join(f'{n} {r or 0}' for n, r in requests.items())}.")


VPA_API = ("autoscaling.k8s.io", "v1")


def _vpa(lab, name: str = "busy") -> dict | None:
    return read_or_none(lab.kube.custom.get_namespaced_custom_object, *VPA_API, lab.kube.namespace,
                        "verticalpodautoscalers", name)


def _recommended(vpa: dict) -> dict[str, dict]:
    """container -> its recommendation (lowerBound, target, upperBound, uncappedTarget: cpu and memory)."""
    recs = ((vpa.get("status") or {}).get("recommendation") or {}).get("containerRecommendations") or []
    return {r["containerName"]: r for r in recs}


def recommendation(lab) -> None:
    """busy's requests next to what the VPA busy recommends for each container, as a table."""
    from labkit import render

    vpa = _vpa(lab)
    if vpa is None:
        raise LabError("There is no VPA busy.", "do exercise 2 first (kubectl -n $NS apply -f vpa.yaml).")
    dep = lab.kube.apps.read_namespaced_deployment("busy", lab.kube.namespace)
    recs = _recommended(vpa)
    rows = []
    for c in dep.spec.template.spec.containers:
        rec = recs.get(c.name, {})
        asked = (c.resources.requests or {}) if c.resources else {}
        for what in ("cpu", "memory"):
            rows.append([c.name, what, asked.get(what, "-"), *(_readable(rec.get(k, {}).get(what))
                                                               for k in ("lowerBound", "target", "upperBound"))])
    render.table(["container", "resource", "requested", "VPA: lower bound", "target", "upper bound"], rows)


def _readable(quantity: str | None) -> str:
    """A VPA quantity as a person reads it: memory in bytes ("14891310962") as MiB or GiB, CPU as it is."""
    if quantity is None:
        return "-"
    if quantity.isdigit():
        mib = int(quantity) / 2**20
        return f"{mib / 1024:.1f}Gi" if mib >= 1024 else f"{mib:.0f}Mi"
    return quantity


@checks("recommends", "A VPA busy recommends resources for busy's containers, and changes no pod by itself")
@friendly
def recommends(lab):
    vpa = _vpa(lab)
    written = lab.workdir / "vpa.yaml"
    unquoted = written.exists() and re.search(r"(?m)^\s*updateMode:\s*(off|Off|OFF|no|false)\s*(#.*)?$",
                                              written.read_text())
    require(vpa is not None, f"there is no VerticalPodAutoscaler busy in {lab.kube.namespace}.",
            "vpa.yaml says updateMode: Off without quotes, which YAML reads as the boolean false, and the API "
            "server refused it (the apply's error says so): quote it." if unquoted else "kubectl -n $NS apply -f vpa.yaml")
    ref = vpa["spec"].get("targetRef") or {}
    require(ref.get("kind") == "Deployment" and ref.get("name") == "busy",
            f"the VPA busy watches {ref.get('kind')} {ref.get('name')}, not the Deployment busy.",
            "its targetRef: apiVersion apps/v1, kind Deployment, name busy.")
    mode = (vpa["spec"].get("updatePolicy") or {}).get("updateMode")
    require(mode == "Off", f"the VPA busy's update mode is {mode or 'left to its default (Recreate)'}: wherever the "
            "VPA's updater runs (this cluster has none, most that run VPA do), it would evict or resize busy's pods "
            "to apply what it recommends, and fight the HPA, which scales busy on the same CPU.",
            "ask for recommendations only: see the update modes in the VPA's documentation.")
    conditions = {c["type"]: c for c in (vpa.get("status") or {}).get("conditions") or []}
    stuck = [f"{k}: {conditions[k].get('message', '')}" for k in waits.VPA_STUCK
             if conditions.get(k, {}).get("status") == "True"]
    require(not stuck, f"the VPA says {'; '.join(stuck)[:240]}.", "`kubectl -n $NS describe vpa busy`; fix vpa.yaml.")
    recs = _recommended(vpa)
    require("busy" in recs, "the VPA has no recommendation for the container busy yet" + (
        f" (it has one for {', '.join(recs)})" if recs else "") + ".",
            "its recommender looks every 5 s: rerun in a moment. If it still has none, check that no "
            "resourcePolicy turns the container busy off.")
    target = recs["busy"].get("target", {})
    said = ", ".join(f"{k} {_readable(v)}" for k, v in target.items())
    return f"the VPA busy (mode Off) recommends for busy: {said}; nothing is applied by itself."


@checks("scaled", "Under the load Job busy scaled out, and was back at its minimum within 2 minutes of the end")
@friendly
def scaled(lab):
    hpa = _the_hpa(lab)
    began, ended = loadjob.finished(lab, "starts the load and watches the HPA")
    low = hpa.spec.min_replicas or 1
    rescales = _rescales(lab, began)
    ups = [r for r in rescales if r[1] > low]
    require(ups, f"the HPA never scaled busy out during the load (its rescales since: "
            f"{', '.join(f'{n} ({why})' for _, n, why in rescales) or 'none'}).",
            "the HPA must read a utilization above its target while the load runs: `kubectl -n $NS describe hpa "
            "busy`; rerun the load cell.")
    peak = max(n for _, n, _ in ups)
    require(peak >= 3, f"under the load busy went out to {peak} replicas only.",
            f"let the HPA go to at least 3 (maxReplicas {hpa.spec.max_replicas}).")
    downs = [r for r in rescales if r[0] > ups[0][0] and r[1] == low]
    window = _scale_down_window(hpa)
    require(downs, f"busy is still at {hpa.status.current_replicas} replicas, "
            f"{datetime.now(timezone.utc).timestamp() - ended:.0f} s after the load ended; the HPA has not scaled it "
            "back in" + (f" (it waits out its scale-down stabilization window: {window} s)" if window > 60 else "")
            + ".", "how long the HPA waits before scaling in is part of its spec: see `kubectl explain "
            "hpa.spec.behavior`; apply hpa.yaml and rerun the load cell.")
    back = downs[0][0] - ended
    require(back <= SCALE_IN_LIMIT, f"busy was back at {low} replicas {back:.0f} s after the load ended, more "
            f"than {SCALE_IN_LIMIT} s (scale-down stabilization window: {window} s).",
            "shorten how long the HPA waits before scaling in (hpa.spec.behavior), apply it and rerun the load cell.")
    return (f"the HPA scaled busy out to {peak} ({ups[0][2]}) and back to {low} {back:.0f} s after the load "
            f"ended ({downs[0][2]}).")


def _agreed(lab, dep, hpa, settle: float = 20.0):
    """The Deployment and its HPA once they agree on the replica count, or after `settle` seconds: right after an
    apply that changed the count, the HPA sets it back at its next look (every 5 s on the course cluster)."""
    import time

    deadline = time.monotonic() + settle
    while dep.spec.replicas != hpa.status.desired_replicas and time.monotonic() < deadline:
        time.sleep(1)
        dep, hpa = lab.kube.apps.read_namespaced_deployment("busy", lab.kube.namespace), _hpa(lab)
    return dep, hpa


# The field manager `kubectl apply --server-side` writes as: the one that applies busy.yaml. Another applier
# owning spec.replicas (the documented hand-over: a manager that applied the count once and never again) is not.
SERVER_SIDE_APPLIER = "kubectl"


def _last_applied_replicas(dep) -> tuple[bool, object]:
    """(does the last `kubectl apply` set spec.replicas, to what), from the annotation client-side apply keeps
    and the field ownership server-side apply records."""
    text = (dep.metadata.annotations or {}).get("kubectl.kubernetes.io/last-applied-configuration")
    if text:
        spec = json.loads(text).get("spec", {})
        if "replicas" in spec:
            return True, spec["replicas"]
    for entry in dep.metadata.managed_fields or []:
        if entry.operation == "Apply" and entry.manager == SERVER_SIDE_APPLIER \
                and "f:replicas" in (entry.fields_v1 or {}).get("f:spec", {}):
            return True, dep.spec.replicas
    return False, None


@checks("no-fight", "busy.yaml, applied again, leaves busy's replica count to the HPA")
@friendly
def no_fight(lab):
    ns = lab.kube.namespace
    dep = _deployment(lab, "busy", "busy.yaml")
    hpa = _the_hpa(lab)
    path = lab.workdir / "busy.yaml"
    require(path.exists(), f"there is no busy.yaml in {lab.workdir}.", "rerun the cell that writes it.")
    owned, value = _last_applied_replicas(dep)
    chose = f"now {hpa.status.desired_replicas}" if hpa.status.desired_replicas else "it has chosen nothing yet"
    require(not owned, f"the last apply of busy set replicas: {value}: each apply of busy.yaml sets it again, "
            f"whatever the HPA chose ({chose}).",
            "leave the replica count to the HPA; the Deployment must also forget that an apply once set it "
            "(read the HPA page's section on migrating a Deployment to an HPA).")
    out = kubectl("-n", ns, "apply", "--dry-run=server", "-f", str(path), "-o",
                  "jsonpath={.kind}/{.metadata.name}={.spec.replicas}{'\\n'}", check=False)
    would = dict(line.split("=", 1) for line in out.splitlines() if "=" in line).get("Deployment/busy")
    require(would is not None, "busy.yaml does not describe the Deployment busy (a dry run of `kubectl apply` "
            f"found no Deployment/busy in it: {out.strip()[:160] or 'no output'}).", "keep busy.yaml the Deployment busy.")
    require(would == str(dep.spec.replicas),
            f"applying busy.yaml now would change busy's replicas from {dep.spec.replicas} to {would}.",
            "the Deployment must stop remembering a replica count from an earlier apply (its last-applied "
            "configuration): see the HPA page's section on migrating a Deployment to an HPA.")
    dep, hpa = _agreed(lab, dep, hpa)
    require(dep.spec.replicas == hpa.status.desired_replicas,
            f"busy asks for {dep.spec.replicas} replicas and the HPA wants {hpa.status.desired_replicas}, 20 s after "
            "the last look: something other than the HPA keeps setting the count.",
            "find what (`kubectl -n $NS get deployment busy --show-managed-fields -o yaml`: who wrote spec.replicas).")
    return (f"a dry run of `kubectl apply -f busy.yaml` leaves replicas at {dep.spec.replicas}, what the HPA "
            "chose; the last apply set no replica count.")


# The container's CPU limit as the kernel enforces it: cgroup v2's cpu.max ("quota period", in microseconds), or
# cgroup v1's cpu.cfs_quota_us (per a period of 100000 us), whichever the node has.
CPU_LIMIT_FILES = "cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"


def _cpu_quota(lab) -> tuple[str, int | None]:
    """(what the cgroup file says, the quota in microseconds per 100 ms)."""
    code, out, err = lab.kube.exec("resize-me", ["sh", "-c", CPU_LIMIT_FILES])
    if code != 0:
        return f"unreadable ({err.strip()[:80]})", None
    text = out.strip()
    first = text.split()[0] if text else ""
    return text, int(first) if first.isdigit() else None


def _resize_applied(lab, want: dict, settle: float = 10.0):
    """(the CPU the kubelet runs resize-me with, why a resize waits, its container status), once the kubelet has
    applied the spec, or after `settle` seconds (a resize takes it a second or two; an infeasible one forever)."""
    import time

    deadline = time.monotonic() + settle
    while True:
        pod = lab.kube.pod("resize-me")
        status = pod.status.container_statuses[0]
        applied = status.resources
        got = {"requests": (applied.requests or {}).get("cpu"), "limits": (applied.limits or {}).get("cpu")} if applied else {}
        pending = [f"{c.type}: {c.message or c.reason}" for c in pod.status.conditions or []
                   if c.type in ("PodResizePending", "PodResizeInProgress")]
        stuck = any(c.type == "PodResizePending" for c in pod.status.conditions or [])
        if got == want or stuck or time.monotonic() > deadline:
            return got, pending, status
        time.sleep(0.5)


@checks("resized", f"Pod resize-me's container runs with {RESIZED_CPU} of CPU, resized in place: same pod, no restart")
@friendly
def resized(lab):
    ns = lab.kube.namespace
    origin = read_or_none(lab.kube.core.read_namespaced_config_map, RESIZE_ORIGIN, ns)
    require(origin is not None, "the set-up has not made resize-me yet.", "rerun the set-up cell (lab10.prepare).")
    pod = lab.kube.pod("resize-me")
    require(pod is not None, "there is no pod resize-me: it was deleted, and resizing means keeping it.",
            "rerun the set-up cell (it makes resize-me again), then resize it without deleting it.")
    require(pod.metadata.uid == origin.data["uid"],
            f"resize-me is a new pod (created {pod.metadata.creation_timestamp:%H:%M:%S}), not the one the set-up "
            "made: deleting a pod and creating it again is a restart with new resources, not a resize.",
            "rerun the set-up cell, then change the running pod's resources in place (Kubernetes 1.35 made that GA).")
    spec = pod.spec.containers[0].resources
    want = {"requests": spec.requests.get("cpu"), "limits": spec.limits.get("cpu")}
    require(want == {"requests": RESIZED_CPU, "limits": RESIZED_CPU},
            f"resize-me's spec asks for cpu requests {want['requests']}, limits {want['limits']}.",
            f"both to {RESIZED_CPU}: resize-me is in QoS class Guaranteed (requests = limits), which a resize keeps.")
    got, pending, status = _resize_applied(lab, want)
    require(got == want, f"the kubelet has not applied the resize yet (it runs with {got or 'unknown'}"
            + (f"; {'; '.join(pending)}" if pending else "") + ").", "wait a few seconds and rerun.")
    require(status.restart_count == 0, f"resize-me's container restarted {status.restart_count} time(s).",
            "rerun the set-up cell and resize it again without restarting its container.")
    text, quota = _cpu_quota(lab)
    require(quota == 30000, f"the container's cgroup still allows {text} (microseconds of CPU per 100,000).",
            "wait a few seconds for the kubelet, and rerun.")
    return (f"resize-me (same pod, no restart) runs with {RESIZED_CPU}: its cgroup allows {text} "
            "(30 ms of CPU per 100 ms).")


def _millicores(text: str | None) -> int:
    if not text:
        return 0
    return int(float(text[:-1])) if text.endswith("m") else int(float(text) * 1000)


def _pod_cpu(pod) -> int:
    """What the scheduler counts for a pod: its containers' and sidecars' requests summed, or its largest plain
    init container's if that is more (init containers run one at a time, before the rest)."""
    cpu = lambda c: _millicores(((c.resources and c.resources.requests) or {}).get("cpu"))  # noqa: E731
    inits = pod.spec.init_containers or []
    main = sum(map(cpu, pod.spec.containers)) + sum(cpu(c) for c in inits if getattr(c, "restart_policy", None) == "Always")
    return max([main, *(cpu(c) for c in inits if getattr(c, "restart_policy", None) != "Always")])


def _fresh_node_room(lab) -> dict[str, int]:
    """Per worker: the CPU a new node like it would have free, its allocatable less its DaemonSets' pods."""
    nodes = [n for n in lab.kube.nodes() if not any(t.effect == "NoSchedule" for t in n.spec.taints or [])]
    pods = lab.kube.core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    room = {}
    for node in nodes:
        daemons = sum(_pod_cpu(p) for p in pods if p.spec.node_name == node.metadata.name
                      and any(o.kind == "DaemonSet" for o in p.metadata.owner_references or []))
        room[node.metadata.name] = _millicores(node.status.allocatable.get("cpu")) - daemons
    return room


@checks("pending", "A pod of big Pending for want of CPU that one more worker would have room for")
@friendly
def pending(lab):
    ns = lab.kube.namespace
    dep = _deployment(lab, "big", "big.yaml")
    selector = ",".join(f"{k}={v}" for k, v in dep.spec.selector.match_labels.items())
    pods = [p for p in lab.kube.core.list_namespaced_pod(ns, label_selector=selector).items
            if p.metadata.deletion_timestamp is None]
    waiting = [p for p in pods if p.status.phase == "Pending" and not p.spec.node_name]
    require(waiting, f"no pod of big is Pending: all {len(pods)} found a node, the cluster still has room for them.",
            "`kubectl describe nodes` shows each node's allocatable CPU and what is requested already "
            "(Allocated resources): ask for more than the workers have left.")
    reasons = {}
    for pod in waiting:
        cond = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
        reasons[pod.metadata.name] = (cond.reason or "", cond.message or "") if cond else ("", "not looked at yet")
    short = [p for p in waiting if "Insufficient cpu" in reasons[p.metadata.name][1]]
    first = next(iter(reasons.items()))
    require(short, f"{first[0]} is Pending, but not for want of CPU: \"{first[1][1][:240]}\".",
            "the cluster autoscaler adds nodes for pods that lack CPU or memory on every node, not for ones a "
            "selector, an affinity or a taint keeps out: make big's pods fit a worker but find none with room.")
    room = _fresh_node_room(lab)
    need = _pod_cpu(short[0])
    fits = {n: r for n, r in room.items() if need <= r}
    require(fits, f"{short[0].metadata.name} asks for {need}m of CPU, and a new worker would have at most "
            f"{max(room.values(), default=0)}m free (its allocatable less its DaemonSets): one more node would not "
            "help, so the cluster autoscaler would not add one.",
            "ask for less per pod and run more of them, so that each pod fits an empty worker but the workers "
            "fill up.")
    running = len([p for p in pods if p.status.phase == "Running"])
    return (f"{len(short)} pod(s) of big Pending ({reasons[short[0].metadata.name][1][:120]}); each asks for "
            f"{need}m, and an empty worker has {max(fits.values())}m free: a cluster autoscaler would add a node. "
            f"{running} of big's pods run.")
