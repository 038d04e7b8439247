"""Command-line tools the labs drive, found or installed: Docker Compose v2, kind and kubectl (and kube-score,
lab 11's auditor).

The order of choice for each, said out loud: a usable one already there (on PATH; for Compose, Docker's own
plugin); else the pinned release (labkit/releases.toml) downloaded for this machine and checked against the
checksum file its release publishes (labkit.download); else, offline, the same version built from the Go
module proxy. What was chosen, from where, and why the earlier ways were not, is recorded beside the
installed tools (ORIGINS), and `labkit doctor` says it.

Compose: Docker Desktop and Docker's own Linux packages ship it; Debian's docker.io does not, and Debian's
`docker-compose` package is Compose v1 (Python, end of life since 2023). A downloaded or built Compose is
installed as a CLI plugin for the current user (~/.docker/cli-plugins), where the docker CLI looks.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labkit import config, releases
from labkit.errors import LabError

COMPOSE_MODULE = "github.com/docker/compose/v5"
COMPOSE_VERSION = releases.version("docker-compose")
CACHE = config.cache_dir("bin")
PLUGIN_DIR = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "cli-plugins"
ORIGINS = ".labkit-tools.json"  # in the environment's bin folder, beside the tools installed there


@dataclass
class Origin:
    """Where a tool in use came from: "on PATH", "downloaded" or "built with Go"."""
    tool: str
    path: str
    how: str
    version: str
    source: str = ""                                        # the URL or Go module
    passed_over: list[str] = field(default_factory=list)   # why each earlier way was not used

    def describe(self) -> str:
        said = f"{self.version}, {self.how}" + (f" from {self.source}" if self.source else "")
        return said + (f". Not used: {'; '.join(self.passed_over)}" if self.passed_over else "")


def origins(bin_dir: Path | None = None) -> dict[str, Origin]:
    try:
        data = json.loads(((bin_dir or _bin_dir()) / ORIGINS).read_text())
    except (OSError, ValueError):
        return {}
    return {name: Origin(**fields) for name, fields in data.items()}


def describe(name: str, path: str) -> str:
    """`labkit doctor`'s words for the tool in use at `path` (for Compose: the plugin's version)."""
    known = origins().get(name)
    if name == "docker-compose":  # `path` is the plugin's version here
        plugin, cached = PLUGIN_DIR / "docker-compose", CACHE / f"docker-compose-{COMPOSE_VERSION}"
        if plugin.exists() and cached.exists() and plugin.read_bytes() == cached.read_bytes():
            return f"{plugin}: " + (known.describe() if known else
                                    f"v{path}, installed by an earlier `make setup` from the course's cache")
        return f"{path}, Docker's own plugin"
    if known and known.path == path:
        return f"{path}: {known.describe()}"
    if Path(path).parent == _bin_dir():
        return f"{path}: installed by an earlier `make setup`"
    return f"{path}: on PATH" if shutil.which(name) == path else f"{path}: built by `labkit cluster build`"


def _record(origin: Origin, bin_dir: Path) -> Origin:
    known = {name: asdict(o) for name, o in origins(bin_dir).items()}
    known[origin.tool] = asdict(origin)
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / ORIGINS).write_text(json.dumps(known, indent=2) + "\n")
    return origin


def _bin_dir() -> Path:
    return Path(sys.executable).parent


def _which(name: str, bin_dir: Path) -> str | None:
    """On PATH, leaving out the folder the course installs into (what is there is recorded already)."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p).resolve() != bin_dir.resolve())
    return shutil.which(name, path=path)


def _semver(text: str) -> tuple[int, ...]:
    found = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text or "")
    return tuple(map(int, found.groups())) if found else ()


# --- what is there already ------------------------------------------------------------------------
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


def _usable_compose(bin_dir: Path) -> tuple[str | None, str, str]:
    version = compose_version()
    if version and int(version.split(".")[0]) >= 2:
        return "docker compose", version, ""
    return None, "", (f"Docker has Compose {version}, older than v2" if version else "Docker has no compose plugin")


def _usable_kind(bin_dir: Path) -> tuple[str | None, str, str]:
    path = _which("kind", bin_dir)
    if not path:
        return None, "", "none on PATH"
    out = subprocess.run([path, "version"], capture_output=True, text=True).stdout
    if _semver(out) >= _semver(releases.version("kind")):
        return path, _semver_text(out), ""
    # kind supports a node image with the release it came with (best effort with others).
    return None, "", f"{path} is kind {_semver_text(out) or '(unknown version)'}, older than {releases.version('kind')}"


def _usable_kubectl(bin_dir: Path) -> tuple[str | None, str, str]:
    path = _which("kubectl", bin_dir)
    if not path:
        return None, "", "none on PATH"
    server = releases.version("kubectl")
    found = _kubectl_version(path)
    if found and abs(found[1] - _semver(server)[1]) <= 1:
        return path, "v" + ".".join(map(str, found)), ""
    return None, "", (f"{path} is kubectl {'v' + '.'.join(map(str, found)) if found else '(unknown version)'}, "
                      f"outside the one minor version of Kubernetes {server} it is supported with")


def _semver_text(text: str) -> str:
    found = _semver(text)
    return "v" + ".".join(map(str, found)) if found else ""


def _kubectl_version(path: str) -> tuple[int, ...]:
    done = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, text=True)
    try:
        return _semver(json.loads(done.stdout)["clientVersion"]["gitVersion"])
    except (ValueError, KeyError):
        return ()


# --- the Go builds (offline) ----------------------------------------------------------------------
def build_compose(dest: Path) -> None:
    """Build the pinned Compose release with Go. The module is built as its own main module,
    because its go.mod has `exclude` directives that `go install module@version` refuses."""
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


def _build_cluster_tool(name: str, dest: Path) -> None:
    from labkit import cluster_parts as parts
    from labkit.provision import gobuild, node_image

    spec = parts.program("kind" if name == "kind" else "kubernetes")
    fresh = not (node_image.BIN / spec.key / name).exists()
    if fresh:
        print(f"building {name} {spec.version} from the Go module proxy ...", flush=True)
    began = time.monotonic()
    # The whole program's wrapper module, so the cluster build later reuses it as it is.
    built = gobuild.build(spec, node_image.BIN / spec.key, node_image.SRC, only=[name])[name]
    if fresh:
        print(f"built {name} {spec.version} ({time.monotonic() - began:.0f} s)", flush=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, dest)


_GO_SOURCE = {"kind": "sigs.k8s.io/kind", "kubectl": "k8s.io/kubernetes", "docker-compose": COMPOSE_MODULE}


# --- the order of choice --------------------------------------------------------------------------
def ensure(name: str, bin_dir: Path | None = None, on: str | None = None, log=print) -> Origin:
    """`name` ("kind", "kubectl" or "docker-compose") usable: already there, else downloaded and verified,
    else built with Go; recorded, and returned with why the earlier ways were not used. `on`: the platform
    to download for (default: this machine's)."""
    bin_dir = bin_dir or _bin_dir()
    there, version, why = {"kind": _usable_kind, "kubectl": _usable_kubectl,
                           "docker-compose": _usable_compose}[name](bin_dir)
    if there:
        return Origin(name, there, "on PATH" if name != "docker-compose" else "Docker's own plugin", version)
    pinned = releases.version(name)
    target = CACHE / f"docker-compose-{pinned}" if name == "docker-compose" else bin_dir / name
    known = origins(bin_dir).get(name)
    if known and known.version == pinned and known.path == str(target) and target.exists():
        origin = known  # installed by an earlier `make setup`
    elif name == "docker-compose" and target.exists():
        # The pinned release in the course's cache (outside this environment: a new clone or .venv reuses it).
        origin = _record(Origin(name, str(target), "from the course's cache", pinned,
                                "an earlier `make setup` (downloaded and verified, or built with Go)", [why]), bin_dir)
    else:
        origin = _obtain(name, target, [why], on, log)
        _record(origin, bin_dir)
    if name == "docker-compose":
        _install_compose_plugin(target)
    return origin


def _obtain(name: str, target: Path, passed_over: list[str], on: str | None, log) -> Origin:
    from labkit import download  # downloads: setup machinery, not loaded by `labkit doctor`

    pinned = releases.version(name)
    allowed, why_not = releases.downloads_allowed()
    if allowed:
        release = releases.release(name, on)
        try:
            sha = download.install(release, target, log=log)
            return Origin(name, str(target), "downloaded", pinned, f"{release.url} (SHA-256 {sha[:12]}… verified)",
                          passed_over)
        except download.DownloadFailed as err:
            if err.mismatch:
                raise
            passed_over.append(err.brief)
    else:
        passed_over.append(why_not)
    if shutil.which("go") is None:
        raise LabError(f"{name} {pinned} could not be installed: {', '.join(passed_over)}, and Go is not "
                       "available to build it.",
                       f"connect to the internet and rerun `make setup` (it downloads the pinned release), or "
                       f"install Go and rerun `make setup` (it builds {name} from the Go module proxy).")
    if name == "docker-compose":
        build_compose(target)
    else:
        _build_cluster_tool(name, target)
    return Origin(name, str(target), "built with Go", pinned, f"{_GO_SOURCE[name]}@{pinned} on the Go module proxy",
                  passed_over)


def _install_compose_plugin(binary: Path) -> None:
    PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
    target = PLUGIN_DIR / "docker-compose"
    shutil.copy2(binary, target)
    target.chmod(0o755)
    if not compose_version():
        raise LabError(f"Installed {target}, but `docker compose` still does not answer.",
                       "check that your docker CLI reads plugins from ~/.docker/cli-plugins.")


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

