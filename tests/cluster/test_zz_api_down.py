"""The cluster's containers are up but its API server does not answer (here: its static pod's
manifest moved aside, so the kubelet stops it; nothing changes address): `labkit cluster status`
says so instead of "ready", and `labkit cluster up` says it in one sentence with the fix, never a
urllib3 traceback.

After the API server restarts, CoreDNS, kube-proxy and kube-router reconnect their watches with
client-go's backoff, up to a minute: a Service or NetworkPolicy made meanwhile resolves or applies
late, so the smoke test's probes, which may run after this (tests/lab_order.py runs the tests that
need no add-on first), retry for a minute. It may run beside the Docker labs, never beside a
cluster lab (tests/run_labs.py)."""
import subprocess
import sys

import pytest

from labkit import cluster, progress
from labkit import cluster_parts as parts

CONTROL_PLANE = f"{parts.CLUSTER_NAME}-control-plane"


def labkit(*args, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
pytestmark = pytest.mark.disrupts_cluster


def _answers():
    answers, _, detail = cluster.api_health(timeout=3)
    return answers, detail


def _stopped():
    answers, detail = _answers()
    return not answers, detail


@pytest.fixture
def api_server_stopped():
    assert cluster.api_health()[0], "the cluster must answer before the test"
    subprocess.run(["docker", "exec", CONTROL_PLANE, "mv", MANIFEST, "/etc/kubernetes/kube-apiserver.yaml.off"],
                   check=True)
    try:
        progress.wait_until(_stopped, what="the API server to stop", timeout=120,
                            interval=2)
        yield
    finally:
        subprocess.run(["docker", "exec", CONTROL_PLANE, "mv", "/etc/kubernetes/kube-apiserver.yaml.off", MANIFEST],
                       check=True)
        progress.wait_until(_answers, what="the API server to answer again", timeout=180, interval=2)
        cluster.wait_ready(timeout=180)


def test_status_and_up_report_what_the_api_server_answers(api_server_stopped):
    status = labkit("cluster", "status")
    line = next(l for l in status.stdout.splitlines() if "cluster API server" in l)
    assert line.startswith("!") and "does not answer" in line, status.stdout
    assert "make cluster-repair" in status.stdout and "Ready for the labs." not in status.stdout

    up = labkit("cluster", "up")
    out = up.stdout + up.stderr
    assert up.returncode == 2, out
    assert "its API server has not answered" in out and "make cluster-repair" in out, out[-2000:]
    assert "Traceback" not in out, out[-2000:]


def test_status_says_the_api_server_answers_when_it_does():
    status = labkit("cluster", "status")
    line = next(l for l in status.stdout.splitlines() if "cluster API server" in l)
    assert line.startswith("✔") and "nodes Ready" in line, status.stdout
