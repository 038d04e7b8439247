"""Lab 02 checks: a multi-stage, non-root image of the sample API, run well, pushed to a registry."""
from __future__ import annotations

import re

import requests

from labkit import daemon, layers
from labkit.checks import Checks, lab_container, require
from labkit.config import LABEL_LAB
from labkit.errors import LabError

checks = Checks()
IMAGE = "course/api:1.0.0"
REGISTRY = "localhost:5001"
PUSHED = f"{REGISTRY}/{IMAGE}"
API_PORT = 3000
RUNTIME_BASE = "python:3.11-slim-bookworm"


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


def final_stage(ins: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The instructions the final image gets: its stage's, and those of the stages it is built FROM by
    name (an image inherits its base's settings; ARGs and instructions of other stages do not carry over)."""
    stages, current = {}, None
    order = []
    for word, args in ins:
        if word == "FROM":
            parts = args.split()
            base = next((x for x in parts if not x.startswith("--")), "")
            name = parts[-1].lower() if len(parts) >= 3 and parts[-2].upper() == "AS" else f"#{len(order)}"
            current = name
            stages[name] = {"base": base.lower(), "ins": []}
            order.append(name)
        elif current is not None:
            stages[current]["ins"].append((word, args))
    out, stage = [], order[-1] if order else None
    while stage is not None:
        out = stages[stage]["ins"] + out
        stage = stages[stage]["base"] if stages[stage]["base"] in stages else None
    return out


@checks("dockerfile", "The Dockerfile is multi-stage, non-root, with EXPOSE, HEALTHCHECK and build args")
def dockerfile(lab):
    path = lab.workdir / "api" / "Dockerfile"
    require(path.exists(), f"there is no Dockerfile at {path}.", "run the %%writefile cell of exercise 1.")
    everything = dockerfile_instructions(path.read_text())
    froms = [a for w, a in everything if w == "FROM"]
    ins = final_stage(everything)  # USER, EXPOSE, HEALTHCHECK and ARG count where the image gets them
    require(len(froms) >= 2, f"the Dockerfile has {len(froms)} FROM line(s); a multi-stage build has at least two.",
            "add a build stage (FROM ... AS build) that installs the dependencies, and a runtime stage after it.")
    require(any(w == "COPY" and "--from=" in a for w, a in ins),
            "no COPY --from=... in the final stage takes files from the build stage.",
            "copy /opt/venv and the app from the build stage.")
    require(not any(w == "RUN" and re.search(r"\bpip3? install\b", a) for w, a in ins),
            "the final stage runs pip install itself: pip, the wheels and the build's leftovers ship in the image.",
            "install in the build stage only; the final stage copies the finished /opt/venv.")
    users = [a for w, a in ins if w == "USER"]
    require(users and users[-1].split(":")[0] not in ("root", "0"),
            "the final stage does not switch to a non-root USER.", "create a user (useradd) and add `USER app`.")
    require(any(w == "EXPOSE" and "3000" in a for w, a in ins), "there is no EXPOSE 3000.", "add `EXPOSE 3000`.")
    probes = [a for w, a in ins if w == "HEALTHCHECK"]
    require(probes, "there is no HEALTHCHECK.",
            "add HEALTHCHECK ... CMD [\"python\", \"-m\", \"app.healthcheck\"] (slim images have no curl).")
    require(probes[-1].split()[0].upper() != "NONE", "the last HEALTHCHECK is `HEALTHCHECK NONE`, which switches "
            "health checking off.", "write HEALTHCHECK ... CMD [\"python\", \"-m\", \"app.healthcheck\"] instead.")
    tool = re.search(r"\b(curl|wget)\b", probes[-1])
    require(not tool, f"the HEALTHCHECK runs {tool and tool.group(1)}, which {RUNTIME_BASE} does not have: it can "
            "never pass.", "use what the image has: the app's own check, python -m app.healthcheck.")
    require(any(w == "ARG" and a.startswith("APP_VERSION") for w, a in ins),
            "the final stage declares no ARG APP_VERSION" + (
                ": an ARG before the first FROM is seen by FROM lines only; a stage must declare it again to use it."
                if any(w == "ARG" and a.startswith("APP_VERSION") for w, a in everything) else "."),
            "declare `ARG APP_VERSION=dev` in the runtime stage and use it in a LABEL and an ENV.")
    return f"{len(froms)} stages, USER {users[-1]}, EXPOSE, HEALTHCHECK and ARG APP_VERSION present."


@checks("image", f"The image {IMAGE} is built with its labels, a non-root user and a healthcheck")
def image(lab):
    img = daemon.image(IMAGE, f"build it from api/ with exercise 1's cell: tagged {IMAGE}, with $LAB_LABELS (its hints are above it).")
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
    require(layers.healthcheck(cfg), "the image has no HEALTHCHECK (or HEALTHCHECK NONE, which switches it off).",
            "add HEALTHCHECK ... CMD [\"python\", \"-m\", \"app.healthcheck\"] to the final stage.")
    missing = layers.healthcheck_program_missing(IMAGE, cfg, lab.labels)
    require(not missing, f"the image's HEALTHCHECK runs {missing}, which the image does not have: it can never pass.",
            "use what the image has: the app's own check, python -m app.healthcheck.")
    require(not layers.installs_in_final_stage(IMAGE, RUNTIME_BASE), "the final image ran `pip install` itself: its pip, wheels and build leftovers are "
            "in its layers, so the build stage is not doing its job.",
            "install the dependencies in the build stage and `COPY --from=build /opt/venv /opt/venv` into the "
            "runtime stage, which starts from a fresh FROM.")
    require("3000/tcp" in (cfg.get("ExposedPorts") or {}), "the image does not expose port 3000.", "add EXPOSE 3000.")
    env = dict(e.split("=", 1) for e in cfg.get("Env") or [])
    require(env.get("APP_VERSION") == "1.0.0", "APP_VERSION is not set in the image's environment.",
            "ENV APP_VERSION=${APP_VERSION} after the ARG, so the running app knows its version.")
    return f"{IMAGE}: {img.attrs['Size'] / 1e6:.0f} MB, user {cfg['User']}, version {version}, healthcheck set."


def published_port(ctr) -> str | None:
    """The host port the daemon bound to the container's port 3000 (any host port will do)."""
    ports = (ctr.attrs["NetworkSettings"].get("Ports") or {}).get(f"{API_PORT}/tcp") or []
    return next((b["HostPort"] for b in ports if b.get("HostPort")), None)


NON_ROOT_FIX = "run as the non-root user (USER in the Dockerfile; do not pass --user root)."


@checks("running", "lab02-api runs detached, healthy, non-root, with a published port and restart policy")
def running(lab):
    ctr = lab_container(lab, "lab02-api", "run the exercise cell that starts lab02-api (its hints are above it).")
    require(ctr.status == "running", f"lab02-api is {ctr.status}.", "start it: `docker start lab02-api`, or rerun the exercise.")
    require(ctr.image.id == daemon.image(IMAGE).id, f"lab02-api does not run {IMAGE}.", f"run it from the image {IMAGE}.")
    policy = ctr.attrs["HostConfig"]["RestartPolicy"]["Name"]
    require(policy == "unless-stopped", f"the restart policy is {policy or 'no'!r}.",
            "use `--restart unless-stopped`" + (": `always` also restarts a container you stopped on purpose "
                                                "when the daemon restarts." if policy == "always" else "."))
    env = dict(e.split("=", 1) for e in ctr.attrs["Config"]["Env"])
    require(env.get("APP_ENV") == "production", "APP_ENV is not production in the container.",
            "pass `-e APP_ENV=production`.")
    port = env.get("PORT", str(API_PORT))
    require(port == str(API_PORT),
            f"PORT={port} makes the app listen on {port} inside, but port {API_PORT} is the one published and probed.", f"drop `-e PORT=...` (the app listens on {API_PORT}) and publish with -p HOST:{API_PORT}.")
    user = ctr.attrs["Config"].get("User") or ""
    require(user.split(":")[0] not in ("root", "0"), f"lab02-api was started with --user {user}: the API runs as root (uid 0).",
            NON_ROOT_FIX)
    host_port = published_port(ctr)
    require(host_port, f"container port {API_PORT} is not published on the host.",
            f"add `-p {API_PORT}:{API_PORT}` (or `-p 3001:{API_PORT}` if port {API_PORT} is taken on your machine).")
    base = f"http://localhost:{host_port}"
    try:
        daemon.wait_healthy(ctr, timeout=60)
    except LabError as exc:
        try:
            body = requests.get(f"{base}/health", timeout=5).text[:200]
        except requests.RequestException as err:
            body = f"no answer ({type(err).__name__})"
        require(False, f"lab02-api is not healthy: {exc.problem} GET /health answers: {body}",
                "the healthcheck runs the same GET /health: fix what it names (an environment variable "
                "pointing at a service that is not there?), recreate the container and read `docker logs lab02-api`.")
    body = requests.get(f"{base}/", timeout=5).json()
    require(body.get("uid") not in (None, 0), f"the API process runs as uid {body.get('uid')} (root).",
            NON_ROOT_FIX)
    return f"healthy; /health answers 200 on localhost:{host_port}; version {body['version']}, uid {body['uid']}."


def manifest_requests(lab) -> list[tuple[str, str]]:
    """(method, path) of the registry's manifest requests for course/api, oldest first, from its own log."""
    ctr = lab_container(lab, "lab02-registry", "run the cell that starts the registry.")
    found = []
    for line in ctr.logs().decode(errors="replace").splitlines():
        m = re.search(r'"(GET|HEAD|PUT) (/v2/course/api/manifests/\S+) HTTP', line)
        if m:
            found.append((m.group(1), m.group(2)))
    return found


@checks("registry", f"{IMAGE} is in the local registry and was pulled back from it")
def registry(lab):
    lab_container(lab, "lab02-registry", "run the cell that starts the registry.")
    try:
        r = requests.get(f"http://{REGISTRY}/v2/course/api/tags/list", timeout=5)
        catalogue = requests.get(f"http://{REGISTRY}/v2/_catalog", timeout=5).json().get("repositories") or []
    except requests.RequestException:
        r, catalogue = None, []
    require(r is not None, f"nothing answers on {REGISTRY}.", "rerun the cell that starts lab02-registry.")
    require(r.status_code == 200 and "1.0.0" in (r.json().get("tags") or []),
            f"the registry at {REGISTRY} has no course/api:1.0.0"
            + (f" (it holds {', '.join(catalogue)})." if catalogue else " (it holds nothing yet)."),
            f"the repository is the part between the registry and the tag: `docker tag {IMAGE} {PUSHED}`, "
            f"then `docker push {PUSHED}`.")
    # The registry logs every request. A push ends with a PUT of the manifest; a pull asks for it after
    # that: GET the first time, HEAD alone once the daemon knows the digest (a second pull).
    seen = manifest_requests(lab)
    last_put = max((i for i, (method, _) in enumerate(seen) if method == "PUT"), default=-1)
    pulled = any(method in ("GET", "HEAD") for method, _ in seen[last_put + 1:])
    require(pulled, "the image was pushed, but never pulled back: the registry's log has no GET of its "
            "manifest after the push.", f"`docker rmi {PUSHED}`, then `docker pull {PUSHED}`.")
    img = daemon.image(PUSHED, f"pull it back: `docker pull {PUSHED}`.")
    require(img.id == daemon.image(IMAGE, "rebuild it with exercise 1's cells.").id,
            f"what the registry serves as course/api:1.0.0 is not your image {IMAGE} (another image id).",
            f"push your own build: the image you tag for the registry must be {IMAGE}, then pull it back.")
    digests = [d for d in img.attrs.get("RepoDigests") or [] if d.startswith(f"{REGISTRY}/course/api@")]
    require(digests, f"{PUSHED} has no digest from the registry.", f"`docker pull {PUSHED}`.")
    return f"pushed, then pulled back: the registry serves course/api:1.0.0 as {digests[0].split('@')[1][:19]}…"
