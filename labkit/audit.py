"""A production-readiness audit of Kubernetes objects: a manifest file, or what a namespace holds.

Three sources, each finding naming its object, what is wrong and the fix:

* the chapter's production checklist, as checks over the objects together (a Deployment's
  PodDisruptionBudget, NetworkPolicy and HPA are other objects that select it);
* kube-score (github.com/zegl/kube-score), a well-known auditor, when its binary is at hand
  (`labkit audit` builds it from the Go module proxy where it can; kube_score_binary());
* the schema of the Kubernetes version the course runs (kubernetes-validate, offline), which catches
  fields that do not exist (a typo, a field from another API version) that a YAML parser accepts.

Why our own checklist beside kube-score: kube-score knows nothing of the chapter's list (Secrets for
sensitive values, non-root, an HPA) and reports some items the chapter leaves out; the checklist says
which item of the chapter each finding answers. "Monitoring and logging" cannot be read from objects
and is said to be unchecked rather than passed.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labkit import config

CRITICAL, WARNING, OK = "critical", "warning", "ok"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
# An environment variable whose name says it holds a secret must come from a Secret, not a literal.
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL|DATABASE_URL|_DSN$", re.I)
UNCHECKED = ("Monitoring and logging: not visible in objects (metrics scraped, logs shipped?); not checked.",)


@dataclass(frozen=True)
class Finding:
    source: str     # "checklist", "kube-score", "schema"
    object: str     # "Deployment/api"
    severity: str   # CRITICAL, WARNING or OK
    what: str
    fix: str = ""


def name_of(obj: dict) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


# --- the objects ---------------------------------------------------------------------------------
def from_yaml(text: str) -> list[dict]:
    import yaml

    docs = []
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            docs += [d for d in doc.get("items") or [] if isinstance(d, dict)]
        elif isinstance(doc, dict):
            docs.append(doc)
    return docs


LIVE_KINDS = "deployments,statefulsets,daemonsets,services,horizontalpodautoscalers,poddisruptionbudgets,networkpolicies"


def from_namespace(namespace: str, kubectl) -> list[dict]:
    """The namespace's workloads and what selects them, as manifests (status and server-set fields removed)."""
    items = json.loads(kubectl("-n", namespace, "get", LIVE_KINDS, "-o", "json")).get("items", [])
    for obj in items:
        obj.pop("status", None)
        meta = obj.get("metadata", {})
        for key in ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"):
            meta.pop(key, None)
        (meta.get("annotations") or {}).pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return items


# --- the chapter's checklist ---------------------------------------------------------------------
def _pod_spec(obj: dict) -> dict:
    return obj.get("spec", {}).get("template", {}).get("spec", {}) or {}


def _pod_labels(obj: dict) -> dict:
    return obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}) or {}


def _selects(selector: dict | None, labels: dict) -> bool:
    """A label selector (matchLabels and matchExpressions) matching these labels; an empty one matches all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def _count(value) -> int:
    """A replica count as written; a malformed one (the schema reports it) counts as 1."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1


def _containers(obj: dict) -> list[dict]:
    spec = _pod_spec(obj)
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return (spec.get("containers") or []) + sidecars


def checklist(objects: list[dict]) -> list[Finding]:
    found = []
    by_kind = lambda kind: [o for o in objects if o.get("kind") == kind]  # noqa: E731
    for obj in [o for o in objects if o.get("kind") in WORKLOADS]:
        found += _workload_findings(obj, by_kind)
    return found


def _workload_findings(obj: dict, by_kind) -> list[Finding]:
    what, labels, spec = name_of(obj), _pod_labels(obj), _pod_spec(obj)
    out = []

    def add(ok: bool, severity: str, message: str, fix: str, passed: str) -> None:
        out.append(Finding("checklist", what, OK if ok else severity, passed if ok else message, "" if ok else fix))

    containers = _containers(obj)
    unlimited = [c["name"] for c in containers if not (c.get("resources") or {}).get("limits", {}).get("memory")]
    unrequested = [c["name"] for c in containers if not (c.get("resources") or {}).get("requests", {}).get("cpu")]
    add(not unlimited and not unrequested, CRITICAL,
        "Resource limits: " + "; ".join(filter(None, [
            f"no memory limit for {', '.join(unlimited)}" if unlimited else "",
            f"no CPU request for {', '.join(unrequested)}" if unrequested else ""])) + ".",
        "give every container resources.requests (cpu, memory) and resources.limits.memory: the scheduler places "
        "by requests, a memory limit stops one pod from starving its node.", "Resource limits: set.")
    if obj["kind"] != "DaemonSet":
        no_ready = [c["name"] for c in spec.get("containers") or [] if not c.get("readinessProbe")]
        no_live = [c["name"] for c in spec.get("containers") or [] if not c.get("livenessProbe")]
        add(not no_ready, CRITICAL, f"Probes: no readinessProbe for {', '.join(no_ready)}.",
            "a readinessProbe keeps a pod out of its Service until it answers: without one, a rollout sends "
            "traffic to pods still starting.", "Readiness probes: set.")
        add(not no_live, WARNING, f"Probes: no livenessProbe for {', '.join(no_live)}.",
            "a livenessProbe restarts a container that hangs; make it cheaper and more tolerant than the "
            "readiness probe (it must not depend on other services).", "Liveness probes: set.")
        hpas = [h for h in by_kind("HorizontalPodAutoscaler")
                if (h.get("spec", {}).get("scaleTargetRef") or {}).get("name") == obj["metadata"]["name"]
                and (h.get("spec", {}).get("scaleTargetRef") or {}).get("kind") == obj["kind"]]
        replicas = max([_count(obj.get("spec", {}).get("replicas", 1))]
                       + [_count(h["spec"].get("minReplicas", 1)) for h in hpas])
        add(replicas >= 2, CRITICAL, f"Replicas: {replicas}, one node or pod lost and it is down.",
            "run at least 2 replicas (or an HPA with minReplicas: 2).", f"Multiple replicas: {replicas}.")
        add(bool(hpas), WARNING, "HPA: none scales it.", "add a HorizontalPodAutoscaler on CPU (lab 10).",
            f"HPA configured: {name_of(hpas[0]) if hpas else ''}.")
        if hpas and "replicas" in obj.get("spec", {}):
            out.append(Finding("checklist", what, WARNING, "HPA and `replicas:` both set: every apply resets the "
                               "count the HPA chose.", "leave replicas out of a workload an HPA scales (lab 10)."))
        pdbs = [p for p in by_kind("PodDisruptionBudget") if _selects(p.get("spec", {}).get("selector"), labels)]
        add(bool(pdbs), CRITICAL, "PodDisruptionBudget: none covers its pods: a node drain may evict them all at "
            "once.", "add a PodDisruptionBudget whose selector matches the pods (minAvailable or maxUnavailable).",
            f"PodDisruptionBudget: {name_of(pdbs[0]) if pdbs else ''}.")
        for pdb in pdbs:
            pspec = pdb.get("spec", {})
            blocks = pspec.get("maxUnavailable") in (0, "0", "0%") or (
                isinstance(pspec.get("minAvailable"), int) and pspec["minAvailable"] >= replicas)
            if blocks:
                out.append(Finding("checklist", what, CRITICAL, f"{name_of(pdb)} allows no disruption at "
                                   f"{replicas} replicas: a node drain never finishes.",
                                   "leave room: minAvailable below the replica count, or maxUnavailable of 1."))
        spread = spec.get("topologySpreadConstraints") or []
        anti = ((spec.get("affinity") or {}).get("podAntiAffinity") or {})
        add(bool(spread or anti), WARNING, "Spread: nothing keeps its replicas off one node.",
            "add topologySpreadConstraints on kubernetes.io/hostname (or a podAntiAffinity).",
            "Anti-affinity or topology spread: set.")
    policies = [p for p in by_kind("NetworkPolicy") if _selects(p.get("spec", {}).get("podSelector"), labels)]
    add(bool(policies), WARNING, "NetworkPolicy: none selects its pods: anything in the cluster can reach them.",
        "add a NetworkPolicy for its pods (default deny, then what must reach them: lab 07).",
        f"Network policy: {name_of(policies[0]) if policies else ''}.")
    literal = [f"{c['name']}:{e['name']}" for c in containers for e in c.get("env") or []
               if SECRET_NAME.search(e.get("name", "")) and "value" in e]
    add(not literal, CRITICAL, f"Secrets: {', '.join(literal)} written into the manifest as plain values.",
        "put them in a Secret and use valueFrom.secretKeyRef (or envFrom.secretRef).",
        "Secrets: sensitive values come from Secrets.")
    pod_ctx = spec.get("securityContext") or {}
    rooted = [c["name"] for c in containers
              if not ((c.get("securityContext") or {}).get("runAsNonRoot", pod_ctx.get("runAsNonRoot")))]
    add(not rooted, CRITICAL, f"Non-root: runAsNonRoot is not set for {', '.join(rooted)}.",
        "securityContext.runAsNonRoot: true (the image must name a numeric non-root USER, or set runAsUser).",
        "Non-root user: required.")
    return out


# --- kube-score ----------------------------------------------------------------------------------
def kube_score_binary() -> str | None:
    """kube-score on PATH, or the one `labkit audit` built into the course's cache."""
    built = config.cache_dir("bin") / "kube-score"
    return shutil.which("kube-score") or (str(built) if built.exists() else None)


# kube-score's grades: 1 critical, 5 warning, 7 almost OK, 10 OK, 0 skipped.
GRADES = {1: CRITICAL, 5: WARNING, 7: WARNING}


def kube_score(objects: list[dict], binary: str, ignore: tuple[str, ...] = ()) -> list[Finding]:
    """kube-score's findings; `ignore`: its tests to leave out (e.g. container-image-pull-policy, which asks for
    Always: wrong for images loaded into kind's nodes, which no registry holds)."""
    import yaml

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump_all(objects, f)
    skip = [arg for test in ignore for arg in ("--ignore-test", test)]
    done = subprocess.run([binary, "score", "--output-format", "json", *skip, f.name], capture_output=True, text=True)
    Path(f.name).unlink(missing_ok=True)
    try:
        scored = json.loads(done.stdout)
    except json.JSONDecodeError:
        return [Finding("kube-score", "-", WARNING, f"kube-score did not answer: {done.stderr.strip()[:200]}")]
    found = []
    for obj in scored:
        what = f"{obj['type_meta'].get('kind')}/{obj['object_meta'].get('name')}"
        for check in obj.get("checks") or []:
            if check.get("skipped") or check.get("grade") not in GRADES:
                continue
            for comment in check.get("comments") or [{}]:
                found.append(Finding("kube-score", what, GRADES[check["grade"]],
                                     f"{check['check']['id']}: {comment.get('summary') or check['check'].get('name')}",
                                     comment.get("description") or ""))
    return found


# --- the schema ----------------------------------------------------------------------------------
def schema(objects: list[dict], version: str) -> list[Finding]:
    """Each object against the JSON schema of its kind in Kubernetes `version` (e.g. "1.36"): unknown fields
    and wrong types. Objects of kinds it has no schema for (custom resources) are left out."""
    import kubernetes_validate

    found = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            continue
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "(the object)"
            found.append(Finding("schema", name_of(obj), CRITICAL, f"{where}: {exc.message[:200]}",
                                 f"`kubectl explain {obj.get('kind', '').lower()}` lists the fields of Kubernetes "
                                 f"{version}."))
    return found


# --- all together --------------------------------------------------------------------------------
def audit(objects: list[dict], version: str, binary: str | None = None, ignore: tuple[str, ...] = ()) -> list[Finding]:
    found = schema(objects, version) + checklist(objects)
    return found + (kube_score(objects, binary, ignore) if binary else [])


def counts(findings: list[Finding]) -> dict[str, int]:
    return {s: sum(f.severity == s for f in findings) for s in (CRITICAL, WARNING, OK)}


def report(findings: list[Finding], kube_score_used: bool) -> str:
    """The findings as text, problems first, one line each with its fix below."""
    lines = []
    order = {CRITICAL: 0, WARNING: 1, OK: 2}
    for f in sorted(findings, key=lambda f: (order[f.severity], f.object, f.source)):
        mark = {CRITICAL: "✘", WARNING: "!", OK: "✔"}[f.severity]
        lines.append(f"{mark} {f.object:<28} [{f.source}] {f.what}")
        if f.fix:
            lines.append(f"    fix: {f.fix}")
    n = counts(findings)
    lines += [*UNCHECKED, f"{n[CRITICAL]} critical, {n[WARNING]} warnings, {n[OK]} passed"
              + ("" if kube_score_used else " (kube-score not found: its checks left out)")]
    return "\n".join(lines)
