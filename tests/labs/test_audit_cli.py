"""`labkit audit`, as an interview-prep reader runs it on a manifest: the real kube-score (built from the Go module
proxy on first use, 45 CPU-s), the schema library and the checklist, one exit code. Runs no lab (the `none` unit)."""
import subprocess
import sys
from pathlib import Path

CHAPTER = Path(__file__).parents[1] / "unit" / "data" / "chapter-production.yaml"


def audit(*args):
    return subprocess.run([sys.executable, "-m", "labkit.cli", "audit", *args], capture_output=True, text=True)


def test_the_chapters_manifest_fails_the_audit_with_kube_scores_findings_among_the_checklists():
    done = audit(str(CHAPTER))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "schema of Kubernetes 1.36, the chapter's checklist, kube-score" in out
    assert "[kube-score] pod-networkpolicy" in out and "[checklist] NetworkPolicy" in out
    assert "Deployment/api" in out and "critical" in out.splitlines()[-1]


def test_a_clean_manifest_passes_and_a_missing_file_is_one_sentence(tmp_path):
    quiet = tmp_path / "svc.yaml"
    quiet.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n")
    done = audit(str(quiet), "--no-kube-score")
    assert done.returncode == 0 and "0 critical" in done.stdout, done.stdout
    missing = audit(str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "There is no file" in missing.stderr and "Traceback" not in missing.stderr
