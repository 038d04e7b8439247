"""Command-line tools the labs drive, found or installed: the Docker Compose v2 plugin.

Docker Desktop and Docker's own Linux packages ship Compose; Debian's docker.io does not, and
Debian's `docker-compose` package is Compose v1 (Python, end of life since 2023). Where the
plugin is missing and Go is available, it is built from the Go module proxy (a pinned release)
and installed as a CLI plugin for the current user.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from labkit import config
from labkit.errors import LabError

# The newest Compose release whose go.mod accepts this course's Go toolchain (v5.7 needs go >= 1.26.10).
COMPOSE_MODULE = "github.com/docker/compose/v5"
COMPOSE_VERSION = "v5.6.0"
CACHE = config.cache_dir("bin")
PLUGIN_DIR = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "cli-plugins"


def compose_version() -> str | None:
    """The `docker compose` plugin's version (e.g. '5.6.0', '2.29.7'), or None when there is none."""
    if shutil.which("docker") is None:
        return None
    done = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True)
    return done.stdout.strip().lstrip("v") if done.returncode == 0 and done.stdout.strip() else None


def compose_v1_present() -> bool:
    """The retired Python `docker-compose` 1.x on PATH: worth a warning, never used."""
    exe = shutil.which("docker-compose")
    if not exe:
        return False
    out = subprocess.run([exe, "version", "--short"], capture_output=True, text=True).stdout.strip()
    return out.startswith("1.")


def build_compose(dest: Path) -> Path:
    """Build the pinned Compose release with Go. The module is built as its own main module,
    because its go.mod has `exclude` directives that `go install module@version` refuses."""
    if shutil.which("go") is None:
        raise LabError("Docker Compose v2 is not installed, and Go is not available to build it.",
                       "install Docker's compose plugin (Docker Desktop has it; on Linux the "
                       "docker-compose-plugin package from Docker's repository), or install Go and rerun `make setup`.")
    print(f"building docker compose {COMPOSE_VERSION} from the Go module proxy (a minute or two) ...", flush=True)
    began = time.monotonic()
    info = subprocess.run(["go", "mod", "download", "-json", f"{COMPOSE_MODULE}@{COMPOSE_VERSION}"],
                          capture_output=True, text=True)
    if info.returncode != 0:
        raise LabError(f"Go could not download {COMPOSE_MODULE}@{COMPOSE_VERSION} "
                       f"({(info.stderr.strip().splitlines() or ['no output'])[-1]}).",
                       "check that Go can reach its module proxy (GOPROXY), then rerun `make setup`.")
    src = Path(json.loads(info.stdout)["Dir"])
    with tempfile.TemporaryDirectory(prefix="compose-src-") as tmp:
        work = Path(tmp) / "compose"
        shutil.copytree(src, work)
        for p in [work, *work.rglob("*")]:  # the module cache is read-only
            p.chmod(p.stat().st_mode | 0o200)
        dest.parent.mkdir(parents=True, exist_ok=True)
        ldflags = f"-s -w -X {COMPOSE_MODULE}/internal.Version={COMPOSE_VERSION}"
        from labkit.provision import gobuild  # build machinery: not loaded by `labkit doctor`, which imports this module

        done = subprocess.run(["go", "build", *gobuild.BUILD_FLAGS, "-ldflags", ldflags, "-o", str(dest), "./cmd"],
                              cwd=work, env=gobuild.go_env())
        if done.returncode != 0:
            raise LabError(f"Building docker compose {COMPOSE_VERSION} failed (go build exited {done.returncode}).",
                           "read the compiler output above; a Go older than the module's go.mod asks for is the usual cause.")
    print(f"built docker compose {COMPOSE_VERSION} ({time.monotonic() - began:.0f} s)", flush=True)
    return dest


def ensure_compose() -> str:
    """Return the Compose version in use, installing the pinned build when there is none."""
    version = compose_version()
    if version and int(version.split(".")[0]) >= 2:
        return version
    cached = CACHE / f"docker-compose-{COMPOSE_VERSION}"
    if not cached.exists():
        build_compose(cached)
    PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
    target = PLUGIN_DIR / "docker-compose"
    shutil.copy2(cached, target)
    target.chmod(0o755)
    version = compose_version()
    if not version:
        raise LabError(f"Installed {target}, but `docker compose` still does not answer.",
                       "check that your docker CLI reads plugins from ~/.docker/cli-plugins.")
    return version


def ensure_cluster_tools() -> dict[str, str]:
    """kind and kubectl, found on PATH or built (pinned versions) into this environment's bin."""
    import sys

    from labkit import cluster_parts as parts
    from labkit.provision import gobuild, node_image

    found = {}
    for name, program in (("kind", "kind"), ("kubectl", "kubernetes")):
        on_path = shutil.which(name)
        if on_path and (name != "kubectl" or _kubectl_in_skew(on_path, parts.K8S_VERSION)):
            found[name] = on_path
            continue
        if shutil.which("go") is None:
            found[name] = "missing: install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
            continue
        spec = parts.program(program)
        fresh = not (node_image.BIN / spec.key / name).exists()
        if fresh:
            print(f"building {name} {spec.version} from the Go module proxy ...", flush=True)
        began = time.monotonic()
        # The whole program's wrapper module, so the cluster build later reuses it as it is.
        built = gobuild.build(spec, node_image.BIN / spec.key, node_image.SRC, only=[name])[name]
        if fresh:
            print(f"built {name} {spec.version} ({time.monotonic() - began:.0f} s)", flush=True)
        target = Path(sys.executable).parent / name
        shutil.copy2(built, target)
        found[name] = str(target)
    return found


# kube-score (`labkit audit`, lab 11): a well-known auditor of Kubernetes manifests, a single Go program.
KUBE_SCORE_VERSION = "v1.20.0"


def ensure_kube_score() -> str | None:
    """kube-score on PATH, or built from the Go module proxy into the course's cache (45 CPU-s, once); None
    when neither is possible (the audit then says it ran without it)."""
    from labkit import audit
    from labkit.goprogram import GoProgram
    from labkit.provision import gobuild, node_image

    found = audit.kube_score_binary()
    if found:
        return found
    if shutil.which("go") is None:
        print("kube-score is not installed and Go is not available to build it: auditing without it "
              "(install it from https://github.com/zegl/kube-score/releases).", flush=True)
        return None
    spec = GoProgram("kube-score", "github.com/zegl/kube-score", KUBE_SCORE_VERSION,
                     {"kube-score": "github.com/zegl/kube-score/cmd/kube-score"},
                     ldflags=f"-s -w -X main.version={KUBE_SCORE_VERSION}")
    print(f"building kube-score {KUBE_SCORE_VERSION} from the Go module proxy (a minute, once) ...", flush=True)
    began = time.monotonic()
    built = gobuild.build(spec, node_image.BIN / spec.key, node_image.SRC)["kube-score"]
    CACHE.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, CACHE / "kube-score")
    print(f"built kube-score {KUBE_SCORE_VERSION} ({time.monotonic() - began:.0f} s)", flush=True)
    return str(CACHE / "kube-score")


def _kubectl_in_skew(path: str, server: str) -> bool:
    """kubectl is supported within one minor version of the API server (older ones misbehave)."""
    done = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, text=True)
    try:
        minor = int(json.loads(done.stdout)["clientVersion"]["minor"].rstrip("+"))
    except (ValueError, KeyError):
        return False
    return abs(minor - int(server.split(".")[1])) <= 1
