"""Build Go programs from the Go module proxy, as a small wrapper module per program.

Why a wrapper module and not `go install mod@version`: several of the programs the offline
cluster needs (Kubernetes, etcd) carry `replace` directives that `go install` refuses. A wrapper
module that `require`s the program and lists its commands in a `tool` block builds all of them
the same way; `replaces` maps modules the program expects from its own repository to their
published versions, or copies the program's own go.mod replaces with forks (a dependency's
replace directives do not apply to the module that requires it). Outputs land in a directory keyed by version, so a second run reuses them.
A program may bring its own main package instead (`main_go`, CoreDNS with only the plugins the
cluster uses): the wrapper module holds it as main.go, and its key (so its folders) carries a hash
of that source.

A build has two halves that want different things: fetching (`go mod tidy` downloads the module
graph: the network works, the cores wait) and compiling (the cores work, the network waits).
`build_all` overlaps them: every program's modules are fetched concurrently while the programs
already fetched compile one at a time, each in one `go build` so its commands link in parallel.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabError
from labkit.goprogram import GoProgram, wrapper_module


@dataclass
class Timing:
    """Seconds one program spent fetching its modules and compiling (0 where nothing was to do), and
    the CPU seconds of its compile (the compiler and linker processes, all cores): on a machine whose
    cores the build keeps busy, the wall time no scheduling can beat is the CPU seconds / cores."""
    fetch: float = 0.0
    compile: float = 0.0
    cpu: float = 0.0


# Every program is linked with -s -w (no symbol table, no DWARF), so the compiler need not make
# DWARF in the first place; the binaries are the same size either way. With GOGC=400 (go_env), the
# same crictl compiled in 99 s instead of 110 on 2 cores (two cold runs each; a noisy machine).
BUILD_FLAGS = ("-trimpath", "-gcflags=all=-dwarf=false")


def go_env() -> dict[str, str]:
    if shutil.which("go") is None:
        raise LabError("Go is not installed, and the offline cluster is built from Go sources.",
                       "install Go 1.26 (`https://go.dev/dl` or your package manager) and rerun, "
                       "or use the learner path (`make cluster`) with internet access.")
    # No VCS stamping (module sources are not git checkouts); use the local toolchain only.
    # GOGC=400: the compiler collects garbage less often (its heap stays small next to 24 GiB).
    return {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local",
            "GOGC": os.environ.get("GOGC", "400")}


def go_mod_text(program: GoProgram, pins: dict[str, str] | None = None) -> str:
    """The wrapper's go.mod; `pins` (module -> version) are required too: the build list of the program it is
    aligned with (fetch), which `go mod tidy` then trims to the modules this program uses."""
    wrapper = wrapper_module(program.name)
    lines = [f"module {wrapper}", "", "go 1.26.0", "",
             f"require {program.module} {program.version}"]
    for mod, ver in program.requires.items():
        lines.append(f"require {mod} {ver}")
    own = {program.module, *program.requires}
    for mod, ver in sorted((pins or {}).items()):
        if mod not in own:
            lines.append(f"require {mod} {ver}")
    if program.replaces:
        lines += ["", "replace ("] + [f"\t{mod} => {ver if ' ' in ver else f'{mod} {ver}'}"
                                      for mod, ver in program.replaces.items()] + [")"]
    # The wrapper's own packages (a main_go) are built as they are; the tool block names the others.
    tools = [pkg for pkg in program.commands.values() if pkg != wrapper and not pkg.startswith(wrapper + "/")]
    if tools:
        lines += ["", "tool ("] + [f"\t{pkg}" for pkg in tools] + [")"]
    lines.append("")
    return "\n".join(lines)


def exec_name(package: str) -> str:
    """The file name `go build -o DIR/` gives a main package: its last path element, or the one
    before a major-version suffix (go.etcd.io/etcd/etcdctl/v3 -> etcdctl), as cmd/go does."""
    parent, _, last = package.rpartition("/")
    if parent and re.fullmatch(r"v[1-9][0-9]*", last):
        return parent.rpartition("/")[2]
    return last


def module_dir(module: str, version: str) -> Path:
    """Where the module proxy's copy of module@version is unpacked (downloading it if needed)."""
    done = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                          capture_output=True, text=True, env=go_env())
    if done.returncode != 0:
        raise LabError(f"Go could not download {module}@{version}: {_last_line(done.stdout + done.stderr)}",
                       "check that Go reaches its module proxy (`go env GOPROXY`) and that this version is served.")
    return Path(json.loads(done.stdout)["Dir"])


def _missing(program: GoProgram, out_dir: Path, only=None) -> list[str]:
    return [name for name in program.commands if (only is None or name in only) and not (out_dir / name).exists()]


_FETCHING: dict[str, threading.Lock] = {}  # one tidy at a time per wrapper: an aligned program fetches its peer too
_FETCHING_LOCK = threading.Lock()


def build_list(work: Path) -> dict[str, str]:
    """module -> version of a tidied wrapper module: its requirements, a replacement by a published version
    winning (the Kubernetes wrapper replaces its staging modules so)."""
    done = subprocess.run(["go", "mod", "edit", "-json"], cwd=work, capture_output=True, text=True, env=go_env())
    if done.returncode != 0:
        raise LabError(f"Go could not read {work / 'go.mod'}: {_last_line(done.stderr)}",
                       f"remove {work} and rerun: the build fetches it again.")
    mod = json.loads(done.stdout)
    found = {r["Path"]: r["Version"] for r in mod.get("Require") or []}
    for r in mod.get("Replace") or []:
        if r["New"].get("Version") and r["New"]["Path"] == r["Old"]["Path"]:
            found[r["Old"]["Path"]] = r["New"]["Version"]
    return found


def fetch(program: GoProgram, src_root: Path) -> Path:
    """Write the wrapper module (and its main.go, if the program brings one) and download its module
    graph; returns the wrapper's folder. The go.mod holds every command of the program, whichever are
    built, so one tidy serves all. A program aligned with another requires that one's build list."""
    pins = None
    if peer := program.aligned_with:  # its libraries' versions, not the peer program itself
        pins = {mod: ver for mod, ver in build_list(fetch(peer, src_root)).items() if mod != peer.module}
    with _FETCHING_LOCK:
        lock = _FETCHING.setdefault(program.key, threading.Lock())
    with lock:
        work = src_root / program.key
        work.mkdir(parents=True, exist_ok=True)
        # What was tidied: the tidy rewrites go.mod, so the text it started from is kept beside it.
        source = work / "go.mod.in"
        text = go_mod_text(program, pins)
        changed = not source.exists() or source.read_text() != text or not (work / "go.sum").exists()
        if program.main_go:  # written before the tidy, which resolves its imports
            main = work / "main.go"
            if not main.exists() or main.read_text() != program.main_go:
                main.write_text(program.main_go)
                changed = True
        if changed:
            (work / "go.mod").write_text(text)
            _run(["go", "mod", "tidy"], work, go_env(), f"resolving {program.key}")
            source.write_text(text)
    return work


def compile_commands(program: GoProgram, work: Path, out_dir: Path, names: list[str]) -> float:
    """One `go build` for the named commands (their links run in parallel), moved into out_dir.
    Returns its CPU seconds."""
    env = go_env()
    if program.cgo:
        env["CGO_ENABLED"] = "1"
    packages = [program.commands[name] for name in names]
    if len({exec_name(p) for p in packages}) != len(packages):
        raise LabError(f"Two commands of {program.key} would build to the same file name.",
                       "give them distinct package paths in cluster_parts.PROGRAMS.")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".part-", dir=out_dir) as tmp:
        cmd = ["go", "build", *BUILD_FLAGS, "-o", tmp + "/"]
        if program.ldflags:
            cmd += ["-ldflags", program.ldflags]
        if program.tags:
            cmd += ["-tags", program.tags]
        cpu = _run(cmd + packages, work, env, f"building {', '.join(names)} ({program.key})")
        for name, package in zip(names, packages):
            os.replace(Path(tmp) / exec_name(package), out_dir / name)
    return cpu


def build(program: GoProgram, out_dir: Path, src_root: Path, only=None) -> dict[str, Path]:
    """Fetch and build the program's commands (or `only` those named) into out_dir, skipping
    outputs already there."""
    names = _missing(program, out_dir, only)
    if names:
        compile_commands(program, fetch(program, src_root), out_dir, names)
    return {name: out_dir / name for name in program.commands}


def build_all(programs, bin_root: Path, src_root: Path, log=print, fetchers: int = 4,
              prefetch=()) -> tuple[dict[str, Path], dict[str, Timing]]:
    """Every program into bin_root/<key>/, fetches overlapping compiles (see the module's doc), and the
    modules of `prefetch` (programs built later) fetched too, not built. Returns output name -> path,
    and each program's timing."""
    timings = {p.name: Timing() for p in programs}
    outputs: dict[str, Path] = {}
    todo = []
    for program in programs:
        outputs.update({name: bin_root / program.key / name for name in program.commands})
        if _missing(program, bin_root / program.key):
            todo.append(program)
    later = [p for p in prefetch if _missing(p, bin_root / p.key)]
    if not todo and not later:
        return outputs, timings
    lock = threading.Lock()

    def fetch_one(program: GoProgram, ahead: bool = False) -> Path:
        started = time.monotonic()
        work = fetch(program, src_root)
        spent = time.monotonic() - started
        if not ahead:  # a program fetched ahead is timed by its own build
            timings[program.name].fetch = spent
        with lock:
            log(f"  fetched {program.key}{' ahead' if ahead else ''} ({spent:.0f} s)")
        return work

    def prefetch_one(program: GoProgram) -> None:
        try:
            fetch_one(program, ahead=True)
        except LabError as err:  # its own build fetches again, and says what failed then
            log(f"  fetching {program.key} ahead failed: {err.problem}")

    def compile_one(program: GoProgram, fetched: Future) -> None:
        work = fetched.result()
        started = time.monotonic()
        spent = timings[program.name]
        spent.cpu = compile_commands(program, work, bin_root / program.key, _missing(program, bin_root / program.key))
        spent.compile = time.monotonic() - started
        with lock:
            log(f"  built {program.key} ({spent.compile:.0f} s, {spent.cpu:,.0f} CPU-s)")

    # One compiler at a time: `go build` already keeps both cores busy, and two builds at once
    # would compile the same shared packages twice before either reached the build cache.
    with ThreadPoolExecutor(fetchers, thread_name_prefix="go-fetch") as fetch_pool, \
         ThreadPoolExecutor(1, thread_name_prefix="go-build") as build_pool:
        fetches = {fetch_pool.submit(fetch_one, p): p for p in todo}
        for program in later:  # queued behind the programs built now
            fetch_pool.submit(prefetch_one, program)
        pending: set[Future] = set(fetches)
        try:
            while pending:  # a program compiles as soon as its fetch is done
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # a failed fetch or build stops everything here
                    if future in fetches:
                        pending.add(build_pool.submit(compile_one, fetches[future], future))
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return outputs, timings


def _run(cmd: list[str], cwd: Path, env: dict[str, str], what: str) -> float:
    """Run a Go command; returns the CPU seconds (user + system) of it and of every process it waited
    for (go build's compilers and linkers), which os.wait4 reports and subprocess.run does not."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise LabError(f"{what} failed (`{' '.join(cmd[:2])}` exited {proc.returncode}):\n{tail}",
                       "read the Go output above; a module version the proxy does not serve, or a Go "
                       "older than the module asks for, are the usual causes.")
    return usage.ru_utime + usage.ru_stime


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no output"
