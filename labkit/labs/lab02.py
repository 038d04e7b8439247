"""Lab 02 checks: a multi-stage, non-root image of the sample API, run well, pushed to a registry."""
from __future__ import annotations

import re

import requests

from labkit import daemon
from labkit.checks import Checks, lab_container, require
from labkit.config import LABEL_LAB

checks = Checks()
IMAGE = "course/api:1.0.0"
REGISTRY = "localhost:5001"
PUSHED = f"{REGISTRY}/{IMAGE}"
API_PORT = 3000


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\s*\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@checks("dockerfile", "The Dockerfile is multi-stage, non-root, with EXPOSE, HEALTHCHECK and build args")
def dockerfile(lab):
    path = lab.workdir / "api" / "Dockerfile"
    require(path.exists(), f"there is no Dockerfile at {path}.", "run the %%writefile cell of exercise 1.")
    ins = dockerfile_instructions(path.read_text())
    words = [w for w, _ in ins]
    froms = [a for w, a in ins if w == "FROM"]
    require(len(froms) >= 2, f"the Dockerfile has {len(froms)} FROM line(s); a multi-stage build has at least two.",
            "add a build stage (FROM ... AS build) that installs the dependencies, and a runtime stage after it.")
    require(any(w == "COPY" and "--from=" in a for w, a in ins),
            "no COPY --from=... takes files from the build stage.", "copy /opt/venv and the app from the build stage.")
    users = [a for w, a in ins if w == "USER"]
    require(users and users[-1].split(":")[0] not in ("root", "0"),
            "the final stage does not switch to a non-root USER.", "create a user (useradd) and add `USER app`.")
    require(any(w == "EXPOSE" and "3000" in a for w, a in ins), "there is no EXPOSE 3000.", "add `EXPOSE 3000`.")
    require("HEALTHCHECK" in words, "there is no HEALTHCHECK.",
            "add HEALTHCHECK ... CMD [\"python\", \"-m\", \"app.healthcheck\"] (slim images have no curl).")
    require(any(w == "ARG" and a.startswith("APP_VERSION") for w, a in ins), "there is no ARG APP_VERSION.",
            "declare `ARG APP_VERSION=dev` in the runtime stage and use it in a LABEL and an ENV.")
    return f"{len(froms)} stages, USER {users[-1]}, EXPOSE, HEALTHCHECK and ARG APP_VERSION present."


@checks("image", f"The image {IMAGE} is built with its labels, a non-root user and a healthcheck")
def image(lab):
    img = daemon.image(IMAGE, f"build it: `docker build $LAB_LABELS --build-arg APP_VERSION=1.0.0 -t {IMAGE} api/`.")
    cfg = img.attrs["Config"]
    labels = cfg.get("Labels") or {}
    require(labels.get(LABEL_LAB) == lab.id, f"{IMAGE} does not carry this lab's labels.",
            "add $LAB_LABELS to the docker build command.")
    version = labels.get("org.opencontainers.image.version")
    require(version == "1.0.0", f"the image's org.opencontainers.image.version label is {version!r}, not '1.0.0'.",
            "LABEL org.opencontainers.image.version=\"${APP_VERSION}\" in the Dockerfile and build with "
            "--build-arg APP_VERSION=1.0.0.")
    require(cfg.get("User") not in (None, "", "root", "0"), f"the image runs as {cfg.get('User') or 'root'}.",
            "add USER app (after creating the user) to the final stage.")
    require(cfg.get("Healthcheck"), "the image has no HEALTHCHECK.", "add a HEALTHCHECK to the final stage.")
    require("3000/tcp" in (cfg.get("ExposedPorts") or {}), "the image does not expose port 3000.", "add EXPOSE 3000.")
    env = dict(e.split("=", 1) for e in cfg.get("Env") or [])
    require(env.get("APP_VERSION") == "1.0.0", "APP_VERSION is not set in the image's environment.",
            "ENV APP_VERSION=${APP_VERSION} after the ARG, so the running app knows its version.")
    return f"{IMAGE}: {img.attrs['Size'] / 1e6:.0f} MB, user {cfg['User']}, version {version}, healthcheck set."


@checks("running", "lab02-api runs detached, healthy, non-root, with a published port and restart policy")
def running(lab):
    ctr = lab_container(lab, "lab02-api", "run the `docker run -d --name lab02-api ...` exercise cell.")
    require(ctr.status == "running", f"lab02-api is {ctr.status}.", "start it: `docker start lab02-api`, or rerun the exercise.")
    require(ctr.image.id == daemon.image(IMAGE).id, f"lab02-api does not run {IMAGE}.", f"run it from the image {IMAGE}.")
    policy = ctr.attrs["HostConfig"]["RestartPolicy"]["Name"]
    require(policy == "unless-stopped", f"the restart policy is {policy or 'no'!r}.", "add `--restart unless-stopped`.")
    env = dict(e.split("=", 1) for e in ctr.attrs["Config"]["Env"])
    require(env.get("APP_ENV") == "production", "APP_ENV is not production in the container.",
            "pass `-e APP_ENV=production`.")
    bindings = (ctr.attrs["HostConfig"].get("PortBindings") or {}).get(f"{API_PORT}/tcp") or []
    require(any(b.get("HostPort") == str(API_PORT) for b in bindings), "container port 3000 is not published on host port 3000.",
            "add `-p 3000:3000`.")
    daemon.wait_healthy(ctr, timeout=60)
    body = requests.get(f"http://localhost:{API_PORT}/", timeout=5).json()
    health = requests.get(f"http://localhost:{API_PORT}/health", timeout=5)
    require(health.status_code == 200, f"/health answered {health.status_code}.", "read `docker logs lab02-api`.")
    require(body.get("uid") not in (None, 0), f"the API process runs as uid {body.get('uid')} (root).",
            "run as the non-root user (USER in the Dockerfile; do not pass --user root).")
    return f"healthy; /health answers 200 on localhost:{API_PORT}; version {body['version']}, uid {body['uid']}."


@checks("registry", f"{IMAGE} is in the local registry and was pulled back from it")
def registry(lab):
    lab_container(lab, "lab02-registry", "run the cell that starts the registry.")
    try:
        r = requests.get(f"http://{REGISTRY}/v2/course/api/tags/list", timeout=5)
    except requests.RequestException:
        r = None
    require(r is not None, f"nothing answers on {REGISTRY}.", "rerun the cell that starts lab02-registry.")
    require(r.status_code == 200 and "1.0.0" in (r.json().get("tags") or []),
            f"the registry at {REGISTRY} has no course/api:1.0.0.",
            f"tag the image as {PUSHED} and `docker push {PUSHED}`.")
    img = daemon.image(PUSHED, f"pull it back: `docker pull {PUSHED}`.")
    digests = [d for d in img.attrs.get("RepoDigests") or [] if d.startswith(f"{REGISTRY}/course/api@")]
    require(digests, f"{PUSHED} has no digest from the registry.", f"`docker push {PUSHED}` (or pull it back).")
    return f"the registry serves course/api:1.0.0 as {digests[0].split('@')[1][:19]}…"
