"""The sample API's image for the cluster labs (06, 11): the reference Dockerfile plus the stop signal Kubernetes
needs, built with a lab's labels (its cleanup removes it) and loaded into the kind nodes."""
from __future__ import annotations

import subprocess

from labkit import cleanup, cluster, ownership
from labkit.errors import LabError

# Python as PID 1 ignores SIGTERM (lab 02): without this, every pod deletion and rolling update would wait the
# whole grace period.
K8S_DOCKERFILE_EXTRA = "\n# Kubernetes stops a container with this signal: Python's PID 1 ignores SIGTERM (lab 02).\nSTOPSIGNAL SIGINT\n"


def build_and_load(lab, tags: dict[str, str], app: str = "api", also: tuple[str, ...] = (),
                   env: dict[str, str] | None = None) -> None:
    """Build each tag (tag -> the APP_VERSION it reports) from the lab's copy of the app, with `env` set in the
    image, then load them, and the images in `also`, into the nodes."""
    dockerfile = lab.workdir / app / "Dockerfile.k8s"
    extra = "".join(f"ENV {name}={value}\n" for name, value in (env or {}).items())
    dockerfile.write_text((lab.workdir / app / "Dockerfile").read_text() + K8S_DOCKERFILE_EXTRA + extra)
    with cleanup.builds_recorded(lab.id):  # the build stages the classic builder leaves untagged
        for tag, version in tags.items():
            done = subprocess.run(["docker", "build", "-q", "-f", str(dockerfile), "-t", tag,
                                   "--build-arg", f"APP_VERSION={version}", *ownership.label_flags(lab.id).split(),
                                   str(dockerfile.parent)], capture_output=True, text=True)
            if done.returncode != 0:
                raise LabError(f"Building {tag} failed: {done.stderr.strip()[-400:]}",
                               "run `make offline-images` (or `docker pull python:3.11-slim-bookworm`) and rerun.")
            print(f"built {tag}")
    cluster.load_images(*tags, *also)
