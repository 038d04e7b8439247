"""Build Go programs from the Go module proxy, as a small wrapper module per program.

Why a wrapper module and not `go install mod@version`: several of the programs the offline
cluster needs (Kubernetes, etcd) carry `replace` directives that `go install` refuses. A wrapper
module that `require`s the program and lists its commands in a `tool` block builds all of them
the same way; `replaces` maps modules the program expects from its own repository to their
published versions. Outputs land in a directory keyed by version, so a second run reuses them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from labkit.errors import LabError


@dataclass(frozen=True)
class GoProgram:
    name: str                      # what the build is called in progress output and in the cache
    module: str
    version: str
    commands: dict[str, str]       # output file name -> Go package path
    ldflags: str = ""
    tags: str = ""
    replaces: dict[str, str] = field(default_factory=dict)   # module -> version
    requires: dict[str, str] = field(default_factory=dict)   # extra modules to pin (module -> version)
    cgo: bool = False              # runc needs cgo (libseccomp); everything else is static Go

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


def go_env() -> dict[str, str]:
    if shutil.which("go") is None:
        raise LabError("Go is not installed, and the offline cluster is built from Go sources.",
                       "install Go 1.26 (`https://go.dev/dl` or your package manager) and rerun, "
                       "or use the learner path (`make cluster`) with internet access.")
    # No VCS stamping (module sources are not git checkouts); use the local toolchain only.
    return {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local"}


def go_mod_text(program: GoProgram) -> str:
    lines = [f"module course.local/build/{program.name}", "", "go 1.26.0", "",
             f"require {program.module} {program.version}"]
    for mod, ver in program.requires.items():
        lines.append(f"require {mod} {ver}")
    if program.replaces:
        lines += ["", "replace ("] + [f"\t{mod} => {mod} {ver}" for mod, ver in program.replaces.items()] + [")"]
    lines += ["", "tool ("] + [f"\t{pkg}" for pkg in program.commands.values()] + [")", ""]
    return "\n".join(lines)


def module_dir(module: str, version: str) -> Path:
    """Where the module proxy's copy of module@version is unpacked (downloading it if needed)."""
    done = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                          capture_output=True, text=True, env=go_env())
    if done.returncode != 0:
        raise LabError(f"Go could not download {module}@{version}: {_last_line(done.stdout + done.stderr)}",
                       "check that Go reaches its module proxy (`go env GOPROXY`) and that this version is served.")
    import json
    return Path(json.loads(done.stdout)["Dir"])


def build(program: GoProgram, out_dir: Path, src_root: Path, log=print) -> dict[str, Path]:
    """Build every command of `program` into out_dir (skipping outputs already there)."""
    outputs = {name: out_dir / name for name in program.commands}
    missing = {name: pkg for name, pkg in program.commands.items() if not outputs[name].exists()}
    if not missing:
        return outputs
    env = go_env()
    if program.cgo:
        env["CGO_ENABLED"] = "1"
    work = src_root / program.key
    work.mkdir(parents=True, exist_ok=True)
    gomod = work / "go.mod"
    text = go_mod_text(program)
    if not gomod.exists() or gomod.read_text() != text or not (work / "go.sum").exists():
        gomod.write_text(text)
        _run(["go", "mod", "tidy"], work, env, f"resolving {program.key}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, pkg in missing.items():
        started = time.monotonic()
        part = outputs[name].with_name(name + ".part")
        cmd = ["go", "build", "-trimpath", "-o", str(part)]
        if program.ldflags:
            cmd += ["-ldflags", program.ldflags]
        if program.tags:
            cmd += ["-tags", program.tags]
        _run(cmd + [pkg], work, env, f"building {name} ({program.key})")
        part.rename(outputs[name])
        log(f"  built {name} {program.version} in {time.monotonic() - started:.0f} s")
    return outputs


def _run(cmd: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise LabError(f"{what} failed (`{' '.join(cmd[:2])}` exited {done.returncode}):\n{tail}",
                       "read the Go output above; a module version the proxy does not serve, or a Go "
                       "older than the module asks for, are the usual causes.")


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no output"
