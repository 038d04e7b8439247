"""The CLI when no Docker daemon answers (the client pointed at a socket nobody listens on):
`labkit doctor` still lists every finding, `labkit check` says what is wrong once, not per check."""
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def no_daemon(tmp_path: Path) -> dict:
    return {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock", "LABKIT_WORKSPACE": str(tmp_path)}


def labkit(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_doctor_lists_every_finding_when_the_daemon_is_down(no_daemon):
    done = labkit(no_daemon, "doctor")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("✘ Docker daemon") and "not reachable" in line for line in lines), done.stdout
    # It goes on past the daemon: Compose, kind and kubectl, and (where both tools are there) the cluster.
    for name in ("docker compose", "kind", "kubectl"):
        assert any(name in line for line in lines), f"{name} missing from:\n{done.stdout}"
    if all(any(line.startswith(f"✔ {tool} ") for line in lines) for tool in ("kind", "kubectl")):
        assert any(line.startswith("! cluster containers-course") and "cannot tell" in line for line in lines), done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("lab", ["01", "05"])
def test_check_says_the_daemon_is_down_once(no_daemon, lab):
    done = labkit(no_daemon, "check", lab)
    assert done.returncode == 2
    out = done.stdout + done.stderr
    assert out.count("The Docker daemon is not reachable") == 1, out
    assert "Traceback" not in out
