"""Image builds measured: per-step cache hits, build time, context size, layer history.

Builds go through the Engine API (the classic builder) on every machine, so the step
list and the cached/not-cached flags read the same on a laptop and offline in CI, and
each step leaves an intermediate image whose ID proves whether it was reused.
"""
from __future__ import annotations

import io
import json
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors

from labkit import cleanup, daemon
from labkit.config import LABEL_LAB
from labkit.errors import LabError, explain_docker_error

STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
BUILDS: dict[str, "Build"] = {}  # the builds of this session by tag, for comparisons


@dataclass
class Step:
    number: int
    instruction: str
    cached: bool = False


@dataclass
class Build:
    tag: str
    seconds: float
    context_bytes: int
    steps: list[Step] = field(default_factory=list)
    stage_images: list[str] = field(default_factory=list)  # untagged results of earlier stages
    _last_id: str = ""

    @property
    def cached(self) -> int:
        return sum(s.cached for s in self.steps)


def dockerignore_patterns(context: Path) -> list[str]:
    f = context / ".dockerignore"
    if not f.exists():
        return []
    return [l.strip() for l in f.read_text().splitlines() if l.strip() and not l.lstrip().startswith("#")]


def context_files(context: Path, use_dockerignore: bool = True) -> set[str]:
    """Paths the daemon would receive, with Docker's own .dockerignore matching (docker-py's)."""
    from docker.utils.build import exclude_paths

    return set(exclude_paths(str(context), dockerignore_patterns(context) if use_dockerignore else []))


def context_bytes(context: Path, use_dockerignore: bool = True) -> int:
    """Size of the build context tarball the client sends to the daemon."""
    from docker.utils.build import tar

    excludes = dockerignore_patterns(context) if use_dockerignore else []
    fileobj = tar(str(context), exclude=excludes)
    fileobj.seek(0, io.SEEK_END)
    return fileobj.tell()


def build(context: Path, tag: str, labels: dict[str, str], nocache: bool = False,
          buildargs: dict[str, str] | None = None, dockerfile: str = "Dockerfile") -> Build:
    """Build `context` into `tag`, printing each step and whether it came from the cache."""
    context = Path(context)
    if not (context / dockerfile).exists():
        raise LabError(f"There is no {dockerfile} in {context}.", "write it in the exercise cell above first.")
    result = Build(tag, 0.0, context_bytes(context))
    print(f"building {tag} from {context.name}/ (context {result.context_bytes / 1e6:.1f} MB"
          f"{', no cache' if nocache else ''})", flush=True)
    t0 = time.monotonic()
    try:
        for chunk in daemon.client().api.build(path=str(context), tag=tag, labels=labels, nocache=nocache, rm=True,
                                               forcerm=True, decode=True, buildargs=buildargs, dockerfile=dockerfile):
            if "error" in chunk:
                raise _build_failed(tag, chunk["error"])
            _record(result, chunk.get("stream", "").strip())
    except docker.errors.APIError as exc:  # refused outright, e.g. an empty Dockerfile
        raise _build_failed(tag, str(exc.explanation or exc)) from None
    result.seconds = time.monotonic() - t0
    BUILDS[tag] = result
    # The classic builder leaves each earlier stage as an untagged, unlabelled image: note them so
    # the lab's cleanup can remove them too (they are ours, but nothing else marks them as ours).
    lab_id = labels.get(LABEL_LAB)
    if lab_id and result.stage_images:
        cleanup.remember_images(lab_id, result.stage_images)
    print(f"built {tag} in {result.seconds:.1f} s; {result.cached}/{len(result.steps)} steps from cache", flush=True)
    return result


def _build_failed(tag: str, text: str) -> LabError:
    return explain_docker_error(text, images=daemon.image_names) or LabError(f"Building {tag} failed: {text.strip()[-300:]}",
                                                  "fix the Dockerfile and rerun the build.")


def _record(result: Build, line: str) -> None:
    """Follow the classic builder's output: a line per step, then whether it came from the cache."""
    m = STEP.match(line)
    if m:
        if m[3].upper().startswith("FROM ") and result._last_id:
            result.stage_images.append(result._last_id)  # the stage that just ended
        result.steps.append(Step(int(m[1]), m[3]))
        print(f"  {m[1]:>2}/{m[2]} {m[3][:90]}", flush=True)
    elif re.match(r"^---> [0-9a-f]{12}$", line):
        result._last_id = line.split()[-1]
    elif line.startswith("---> Using cache") and result.steps:
        result.steps[-1].cached = True
        print("        ↳ from cache", flush=True)


def history(ref: str) -> list[dict]:
    """Build steps of an image, oldest first: step image id, instruction, bytes added."""
    daemon.image(ref, "run the build cells above first.")  # a missing image is a sentence, not a 404
    rows = []
    for h in reversed(daemon.client().api.history(ref)):
        created_by = re.sub(r"^/bin/sh -c (#\(nop\)\s*)?", "", h.get("CreatedBy") or "").strip()
        rows.append({"id": h.get("Id", "<missing>"), "instruction": created_by or "(base image)", "bytes": h.get("Size", 0)})
    return rows


def healthcheck(config: dict) -> list[str]:
    """The command an image's HEALTHCHECK runs (from its inspected Config); empty when it has none or
    has `HEALTHCHECK NONE`, which switches checking off."""
    test = (config.get("Healthcheck") or {}).get("Test") or ["NONE"]
    return [] if test[0] == "NONE" else test[1:]


def in_image(ref: str, script: str, labels: dict[str, str], user: str | None = None) -> str:
    """What a shell script prints in a throwaway container of `ref` (its entrypoint bypassed; as its own
    USER unless `user` is given)."""
    return daemon.client().containers.run(ref, ["sh", "-c", script], entrypoint=[], user=user, remove=True,
                                          labels=labels).decode()


def healthcheck_program_missing(ref: str, config: dict, labels: dict[str, str]) -> str | None:
    """The program an image's HEALTHCHECK runs when the image does not have it (the chapter's `curl` in a
    slim image): such a healthcheck can never pass. None when it is there, or there is no healthcheck."""
    import shlex

    test = (config.get("Healthcheck") or {}).get("Test") or ["NONE"]
    if test[0] not in ("CMD", "CMD-SHELL"):
        return None
    words = shlex.split(test[1]) if test[0] == "CMD-SHELL" and len(test) > 1 else test[1:]
    if not words:
        return None
    found = in_image(ref, f"command -v {shlex.quote(words[0])} >/dev/null && echo found || true", labels)
    return None if "found" in found else words[0]


def own_steps(ref: str, base: str) -> list[str]:
    """The instructions `ref`'s own Dockerfile added on top of its final stage's base image `base`;
    nothing when `ref` is not built on `base` (its history does not start with base's)."""
    inherited = [row["instruction"] for row in history(base)]
    mine = [row["instruction"] for row in history(ref)]
    return mine[len(inherited):] if mine[:len(inherited)] == inherited else []


def installs_in_final_stage(ref: str, base: str) -> list[str]:
    """Steps of the final stage that ran pip install: a multi-stage build copies the venv instead."""
    return [step for step in own_steps(ref, base) if re.search(r"\bpip3? install\b", step)]


def step_layer(ref: str, pattern: str) -> dict | None:
    """The build step of `ref` whose instruction matches `pattern`, with the digest of the layer it added."""
    for row in history(ref):
        if re.search(pattern, row["instruction"]):
            if row["id"] == "<missing>":
                return {**row, "layer": None}
            layers = daemon.client().images.get(row["id"]).attrs["RootFS"]["Layers"]
            return {**row, "layer": layers[-1]}
    return None


def edit_source(app_dir: Path) -> str:
    """A source-only change: a new line at the end of app/server.py. Returns the marker written."""
    marker = f"# edited at {time.strftime('%H:%M:%S')}"
    with open(app_dir / "app" / "server.py", "a") as f:
        f.write(f"\n{marker}\n")
    return marker


def plant_leaks(app_dir: Path) -> list[str]:
    """What a real project folder holds and an image must not: a secret, git history, a local venv."""
    planted = []
    (app_dir / ".env").write_text("DATABASE_PASSWORD=hunter2  # a secret that must never reach an image\n")
    planted.append(".env")
    if not (app_dir / ".venv").exists():
        subprocess.run([sys.executable, "-m", "venv", str(app_dir / ".venv")], check=True)
    planted.append(".venv/")
    if shutil.which("git") and not (app_dir / ".git").exists():
        git = ["git", "-C", str(app_dir), "-c", "user.name=lab", "-c", "user.email=lab@example.invalid"]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "project history"], check=True)
    if (app_dir / ".git").exists():
        planted.append(".git/")
    return planted


def copy_project(src: Path, dst: Path, without: tuple[str, ...] = ("Dockerfile", ".dockerignore")) -> Path:
    """A fresh second copy of a project folder (e.g. the 'bad' variant), minus the given files."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(*without))
    return dst


def remove_images(refs: list[str]) -> None:
    """Forget earlier builds of these tags, so a cold build cannot pick up their cached steps."""
    for ref in refs:
        try:
            daemon.client().images.remove(ref, force=True)
        except docker.errors.ImageNotFound:
            pass


def comparison(refs: list[str]) -> list[list]:
    """Rows of: image, size, layers, build seconds, steps from cache (for the builds of this session)."""
    rows = []
    for ref in refs:
        img = daemon.image(ref, "run the build cells above first.")
        b = BUILDS.get(ref)
        rows.append([ref, f"{img.attrs['Size'] / 1e6:.0f} MB", len(img.attrs["RootFS"]["Layers"]),
                     f"{b.seconds:.1f} s" if b else "?", f"{b.cached}/{len(b.steps)}" if b else "?",
                     f"{b.context_bytes / 1e6:.1f} MB" if b else "?"])
    return rows


COMPARISON_HEADERS = ["image", "size", "layers", "build time", "steps from cache", "context sent"]


def layer_sizes(ref: str) -> list[tuple[str, float]]:
    """(instruction, MB) per step that added bytes, oldest first: what the chart draws."""
    return [(row["instruction"].split(" in ")[0][:40], row["bytes"] / 1e6) for row in history(ref) if row["bytes"]]


def file_in_layers(ref: str, path: str) -> list[list[str]]:
    """Where `path` is in each layer of the image as `docker save` hands it to anyone who has it: rows of
    [layer, the step that made it, what that layer holds of the file]. A later `RUN rm` adds a whiteout
    (`.wh.<name>`), a marker that hides the file from containers; the earlier layer keeps every byte."""
    image = daemon.image(ref, "run the build cell above first.")
    path = path.strip("/")
    folder, name = posixpath.split(path)
    whiteout = posixpath.join(folder, ".wh." + name)
    rows = []
    with tempfile.TemporaryFile() as saved:
        for chunk in image.save(named=True):
            saved.write(chunk)
        saved.seek(0)
        with tarfile.open(fileobj=saved) as archive:
            manifest = json.load(archive.extractfile("manifest.json"))[0]
            config = json.load(archive.extractfile(manifest["Config"]))
            steps = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
            for i, layer in enumerate(manifest["Layers"]):
                step = re.sub(r"^/bin/sh -c (#\(nop\)\s*)?|file:[0-9a-f]{64} in ", "",
                              steps[i] if i < len(steps) else "").strip()
                held = "nothing"
                with tarfile.open(fileobj=archive.extractfile(layer), mode="r:*") as files:
                    for member in files:
                        member_path = member.name.removeprefix("./")
                        if member_path == path and member.isfile():
                            first = files.extractfile(member).read(200).decode(errors="replace").splitlines()[:1]
                            held = f"the file, {member.size} bytes: {first[0] if first else ''}"
                        elif member_path == whiteout:
                            held = f"a whiteout ({whiteout}): hides {path} from the layers below"
                rows.append([f"{i + 1} of {len(manifest['Layers'])}", step[:60] or "(base image)", held])
    return rows

