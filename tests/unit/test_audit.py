"""labkit.audit: the chapter's checklist over objects read together, kube-score's findings, the schema of a
Kubernetes version. The manifests are real (the chapter's own deployment among them) and so is the schema
library; kube-score is a stand-in script here (tests/labs runs the real one through `labkit audit`)."""
import json
import stat
from pathlib import Path

import pytest

from labkit import audit

CHAPTER = Path(__file__).parent / "data" / "chapter-production.yaml"


def chapter():
    return audit.from_yaml(CHAPTER.read_text())


def test_the_chapters_deployment_passes_most_of_its_own_checklist_and_not_all():
    found = {f.what: f for f in audit.checklist(chapter())}
    severities = {what.split(":")[0]: f.severity for what, f in found.items()}
    assert severities["Resource limits"] == audit.OK
    assert severities["Readiness probes"] == audit.OK and severities["Liveness probes"] == audit.OK
    assert severities["Multiple replicas"] == audit.OK and severities["PodDisruptionBudget"] == audit.OK
    assert severities["Non-root user"] == audit.OK and severities["Secrets"] == audit.OK
    assert severities["Anti-affinity or topology spread"] == audit.OK
    # What it misses: no NetworkPolicy, and `replicas: 4` beside an HPA (lab 10's fight).
    assert severities["NetworkPolicy"] == audit.WARNING
    assert any(f.severity == audit.WARNING and "replicas:` both set" in f.what for f in found.values())


def test_a_secret_written_as_a_plain_value_is_critical_and_one_from_a_secret_is_not():
    objs = chapter()
    api = next(o for o in objs if o["kind"] == "Deployment")
    api["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "API_KEY", "value": "sk_live_123"})
    bad = [f for f in audit.checklist(objs) if f.what.startswith("Secrets")]
    assert bad[0].severity == audit.CRITICAL and "api:API_KEY" in bad[0].what


def test_a_budget_that_allows_no_disruption_is_critical():
    objs = chapter()
    next(o for o in objs if o["kind"] == "PodDisruptionBudget")["spec"]["minAvailable"] = 4
    assert any(f.severity == audit.CRITICAL and "allows no disruption at 4 replicas" in f.what
               for f in audit.checklist(objs))


def test_a_budget_or_policy_selecting_other_pods_covers_nothing():
    objs = chapter() + [{"kind": "NetworkPolicy", "metadata": {"name": "web"},
                         "spec": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In",
                                                                        "values": ["web"]}]}}}]
    next(o for o in objs if o["kind"] == "PodDisruptionBudget")["spec"]["selector"] = {"matchLabels": {"app": "web"}}
    severities = {f.what.split(":")[0]: f.severity for f in audit.checklist(objs)}
    assert severities["PodDisruptionBudget"] == audit.CRITICAL and severities["NetworkPolicy"] == audit.WARNING
    objs[-1]["spec"]["podSelector"] = {}  # an empty selector: every pod of the namespace
    assert {f.what.split(":")[0]: f.severity for f in audit.checklist(objs)}["Network policy"] == audit.OK


def test_a_root_container_and_a_single_replica_are_critical():
    objs = audit.from_yaml("""
kind: Deployment
apiVersion: apps/v1
metadata: {name: one}
spec:
  selector: {matchLabels: {app: one}}
  template:
    metadata: {labels: {app: one}}
    spec:
      containers: [{name: app, image: nginx}]
""")
    severities = {f.what.split(":")[0]: f.severity for f in audit.checklist(objs)}
    assert severities["Non-root"] == audit.CRITICAL and severities["Replicas"] == audit.CRITICAL
    assert severities["Resource limits"] == audit.CRITICAL


def test_the_schema_of_the_version_finds_a_misspelt_field_and_a_wrong_type():
    objs = chapter()
    api = next(o for o in objs if o["kind"] == "Deployment")
    api["spec"]["template"]["spec"]["containers"][0]["resoures"] = {}
    hpa = next(o for o in objs if o["kind"] == "HorizontalPodAutoscaler")
    hpa["spec"]["minReplicas"] = "4"
    found = {f.object: f.what for f in audit.schema(objs, "1.36")}
    assert "'resoures' was unexpected" in found["Deployment/api"]
    assert found["HorizontalPodAutoscaler/api-hpa"].startswith("spec.minReplicas: '4' is not of type 'integer'")
    assert audit.schema(chapter(), "1.36") == []


def test_kube_scores_grades_become_findings_and_skipped_checks_are_left_out(tmp_path):
    answer = [{"type_meta": {"kind": "Deployment"}, "object_meta": {"name": "api"}, "checks": [
        {"check": {"id": "pod-networkpolicy", "name": "Pod NetworkPolicy"}, "grade": 1, "skipped": False,
         "comments": [{"summary": "The pod does not have a matching NetworkPolicy", "description": "Create one"}]},
        {"check": {"id": "deployment-has-host-podantiaffinity"}, "grade": 5, "skipped": False,
         "comments": [{"summary": "no podAntiAffinity", "description": ""}]},
        {"check": {"id": "container-ports-check"}, "grade": 1, "skipped": True, "comments": []},
        {"check": {"id": "stable-version"}, "grade": 10, "skipped": False, "comments": []}]}]
    fake = tmp_path / "kube-score"
    fake.write_text(f"#!/bin/sh\ntest \"$1 $2 $3 $4 $5\" = 'score --output-format json --ignore-test x' && cat <<'EOF'\n"
                    f"{json.dumps(answer)}\nEOF\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    found = audit.kube_score(chapter(), str(fake), ignore=("x",))
    assert [(f.object, f.severity, f.what.split(":")[0]) for f in found] == [
        ("Deployment/api", audit.CRITICAL, "pod-networkpolicy"),
        ("Deployment/api", audit.WARNING, "deployment-has-host-podantiaffinity")]


def test_a_namespace_is_audited_as_manifests_without_what_the_server_added():
    live = {"kind": "Deployment", "metadata": {"name": "api", "uid": "u", "resourceVersion": "9", "managedFields": [],
                                               "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                                               "team": "web"}},
            "spec": {"replicas": 2}, "status": {"readyReplicas": 2}}
    asked = []

    def kubectl(*args):
        asked.append(args)
        return json.dumps({"items": [live]})

    (obj,) = audit.from_namespace("lab11", kubectl)
    assert obj == {"kind": "Deployment", "metadata": {"name": "api", "annotations": {"team": "web"}},
                   "spec": {"replicas": 2}}
    assert asked[0][:2] == ("-n", "lab11") and "poddisruptionbudgets" in asked[0][3]


def test_the_report_puts_problems_first_and_says_what_it_did_not_check():
    text = audit.report(audit.checklist(chapter()), kube_score_used=False)
    lines = text.splitlines()
    assert lines[0].startswith("!") and "not checked" in text and "kube-score not found" in lines[-1]


@pytest.mark.parametrize("text", ["kind: List\nitems:\n- {kind: Service, metadata: {name: a}}\n", "---\n- 1\n"])
def test_yaml_lists_are_opened_and_anything_else_ignored(text):
    assert [o.get("kind") for o in audit.from_yaml(text)] == (["Service"] if "List" in text else [])
