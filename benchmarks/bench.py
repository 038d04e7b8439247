"""Print timings: with --cold, each stage of a new machine's set-up from nothing, in temporary caches
(the Python environment, Docker Compose, the Debian root filesystem, the cluster's Go programs one by
one, the add-ons); offline image builds (forced and warm), the node image (warm), cluster creation and
its idle memory, each lab's run time and what its answer variants add, check latencies.

Numbers are printed, never asserted: machines differ. Run with `make bench`.
"""
from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time
from pathlib import Path
from unittest import mock  # swaps the caches a cold figure is measured in, and puts them back

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("LABKIT_HEADLESS", "1")

import answer_variants  # noqa: E402
import nbformat  # noqa: E402
from helpers import CHECK_CALL  # noqa: E402
from labkit import catalogue, cleanup, daemon, labs  # noqa: E402
from labkit.provision import images  # noqa: E402
from labkit.lab import Lab  # noqa: E402


def offline_images(cold: bool) -> None:
    """Warm: every image reused. With --cold also a forced rebuild over Docker's layer cache, its
    debootstrap in a temporary cache (the learner's Debian tarball is not rewritten; the images the
    rebuild replaces are removed, images.remove_replaced); official images a learner has pulled are
    never replaced."""
    import tempfile

    if cold and not all(daemon.built_offline(img.ref) for img in catalogue.CATALOGUE):
        print("offline images: forced rebuild skipped (official images present; not replacing them)")
        cold = False
    for label, force in (("forced rebuild", True), ("warm", False)) if cold else (("warm", False),):
        t0 = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()), tempfile.TemporaryDirectory(prefix="bench-offline-") as tmp, \
                mock.patch.object(images, "CACHE", Path(tmp)) if force else contextlib.nullcontext():
            results = images.build_all(force=force)
        print(f"offline images {label}: {time.monotonic() - t0:6.1f} s  "
              + ", ".join(f"{ref} {what} {secs:.1f}s" for ref, what, secs in results))


def cluster_figures(cold: bool) -> None:
    """Offline cluster artefacts (with --cold, the Go programs from empty temporary caches) and
    warm; cluster create time; memory of the idle cluster's node containers."""
    import json
    import subprocess

    from labkit import cluster
    from labkit.provision import addons, node_image

    if cold:
        go_cold_breakdown()
    t0 = time.monotonic()
    times = node_image.build_all(log=lambda *a: None)
    print(f"offline cluster warm: {time.monotonic() - t0:6.1f} s  " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))

    with contextlib.redirect_stdout(io.StringIO()):
        cluster.delete()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):  # kind's own progress lines
        cluster.create(log=lambda *a: None, on_created=lambda: addons.apply(log=lambda *a: None))
    created = time.monotonic() - t0
    addons.make_work(log=lambda *a: None)
    print(f"warm `make cluster` (node image built, cluster absent): {time.monotonic() - t0:5.1f} s to every add-on "
          f"ready (nodes and system pods ready at {created:5.1f} s; budget 60 s)")
    time.sleep(60)  # let start-up settle before measuring idle memory
    names = subprocess.run(["docker", "ps", "--format", "{{.Names}}", "--filter",
                            f"label=io.x-k8s.kind.cluster={cluster.parts.CLUSTER_NAME}"],
                           capture_output=True, text=True).stdout.split()
    stats = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{json .}}", *names],
                           capture_output=True, text=True).stdout.splitlines()
    usage = {json.loads(line)["Name"]: json.loads(line)["MemUsage"].split(" / ")[0] for line in stats}
    total = sum(_bytes(v) for v in usage.values())
    print(f"cluster idle memory: {total / 2**20:6.0f} MiB in all (budget 1,024 MiB; "
          + ", ".join(f"{k} {v}" for k, v in sorted(usage.items())) + ")")


@contextlib.contextmanager
def empty_go_caches(prefix: str):
    """A temporary folder, with Go's build and module caches in it while the block runs: the learner's
    are neither used nor touched. Yields the folder."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        try:
            with mock.patch.dict(os.environ, GOCACHE=f"{tmp}/gocache", GOMODCACHE=f"{tmp}/gomod"):
                yield Path(tmp)
        finally:
            subprocess.run(["chmod", "-R", "u+w", tmp])  # Go's module cache is read-only


def setup_cold() -> None:
    """`make setup`'s two slow parts from nothing, in temporary folders: the Python environment (a new
    venv, pip's cache empty) and the Docker Compose plugin (Go's caches empty). kind and kubectl, the
    third, are timed with the cluster's programs below."""
    import subprocess
    from importlib import metadata

    from labkit import tools

    # What `pip install -e '.[lab,dev]'` installs: the toolkit's requirements, its two extras' included.
    wanted = sorted({r.split(";")[0].strip() for r in metadata.requires("labkit") or []
                     if ";" not in r or any(f'extra == "{e}"' in r for e in ("lab", "dev"))})
    with empty_go_caches("bench-setup-") as tmp:
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
        subprocess.run([str(tmp / "venv" / "bin" / "pip"), "install", "--quiet", "--cache-dir", str(tmp / "pip"),
                        *wanted], check=True)
        print(f"cold Python environment (venv, pip install of {len(wanted)} requirements): {time.monotonic() - t0:6.1f} s")
        t0 = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()):
            tools.build_compose(tmp / "docker-compose")
        print(f"cold Docker Compose {tools.COMPOSE_VERSION} (Go, fetch and compile): {time.monotonic() - t0:6.1f} s")


def go_cold_breakdown() -> None:
    """The cluster's Go programs from nothing: every cache they use (Go's build and module caches,
    the course's artefact cache) is a temporary folder here, so the learner's caches are neither used
    nor touched. Prints fetch and compile seconds per program: the two overlap (gobuild.build_all), so
    the wall time is less than their sum. (The Debian root filesystem's debootstrap is in the forced
    rebuild's debian:bookworm-slim, offline_images.)"""
    from labkit import cluster_parts
    from labkit.provision import gobuild, node_image

    with empty_go_caches("bench-cold-") as tmp, mock.patch.multiple(node_image, BIN=tmp / "bin", SRC=tmp / "src"):
        timings: dict = {}
        t0 = time.monotonic()
        node_image.build_binaries(log=lambda *a: None, timings=timings)
        wall = time.monotonic() - t0
        cpu = sum(t.cpu for t in timings.values())
        print(f"cold Go programs: {wall:6.1f} s wall (fetch {sum(t.fetch for t in timings.values()):.0f} s "
              f"+ compile {sum(t.compile for t in timings.values()):.0f} s, overlapped); compile CPU {cpu:,.0f} s, "
              f"at least {cpu / os.cpu_count():,.0f} s of wall time on {os.cpu_count()} cores")
        for name, t in sorted(timings.items(), key=lambda kv: -(kv[1].fetch + kv[1].compile)):
            print(f"  {name:24} fetch {t.fetch:6.1f} s  compile {t.compile:6.1f} s  CPU {t.cpu:7.1f} s")
        # The add-ons come after the node image (off the cluster's critical path): timed apart.
        t0 = time.monotonic()
        _, spent = gobuild.build_all(cluster_parts.ADDON_PROGRAMS, node_image.BIN, node_image.SRC,
                                     log=lambda *a: None)
        print(f"cold add-on programs, after the node image: {time.monotonic() - t0:6.1f} s wall")
        for name, t in spent.items():
            print(f"  {name:24} fetch {t.fetch:6.1f} s  compile {t.compile:6.1f} s  CPU {t.cpu:7.1f} s")


def _bytes(text: str) -> float:
    units = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


def lab_timings(lab: labs.LabInfo, tmp: Path, keep: bool = False) -> float:
    """The solved lab without, then with its answer variants (as `make test` runs it), each from a clean
    lab; returns what the variants add: the difference of the two runs' cell times."""
    plain = answer_variants.run(lab, tmp, answers=False)
    # The figures of the solved run, in its check cells' own words, as it printed them at its exercise (the same
    # check asked at the end would read a state later exercises changed).
    solved = solved_says(nbformat.read(tmp / f"{lab.slug}.with-variants.ipynb", as_version=4), FIGURES.get(lab.id, ()))
    result = answer_variants.run(lab, tmp)
    added = result.total - plain.total
    by_name = {v.name: v for v in answer_variants.load(lab)}
    ctx = Lab(lab)
    latencies, said = {}, {}
    for name in ctx.check_names():
        samples = []
        for _ in range(3):
            t = time.monotonic()
            said[name] = ctx.result(name).message  # timed whatever the verdict: later exercises change earlier state
            samples.append(time.monotonic() - t)
        latencies[name] = statistics.median(samples)
    slowest = max(latencies, key=latencies.get)
    t0 = time.monotonic()
    if not keep:
        cleanup.remove(lab.id)
    failed = [name for name, o in result.outcomes.items() if o.problems(by_name[name])]
    print(f"lab {lab.id}: run {plain.total:6.1f} s; with its {len(result.seconds)} answer variants {result.total:6.1f} s, "
          f"so they add {added:5.1f} s (their own cells ran {result.cost:5.1f} s)"
          f"{f' ({len(failed)} NOT as expected)' if failed else ''} | checks median {statistics.median(latencies.values()) * 1000:5.0f} ms, "
          f"slowest {slowest} {latencies[slowest] * 1000:5.0f} ms | cleanup {time.monotonic() - t0:4.1f} s")
    for name in failed:  # say which, and why: `make test` would fail on it
        print(f"  NOT as expected: {name}: {'; '.join(result.outcomes[name].problems(by_name[name]))[:300]}")
    for check in FIGURES.get(lab.id, ()):
        # The solved run's figures are in its checks' own words (how fast the HPA scaled out and back, how many
        # requests a rollout answered); each answer's, in what the check said of it (failures counted by kind).
        print(f"  {check}, solved: {solved.get(check) or said[check]}")
        for name, outcome in result.outcomes.items():
            if by_name[name].at == check:
                print(f"  {check}, {name}: {outcome.results[check][1][:200]}")
    return added


def solved_says(nb, names) -> dict[str, str]:
    """What each named check's cell showed in an executed notebook: its card, as text."""
    import html
    import re

    said = {}
    for cell in nb.cells:
        m = CHECK_CALL.search(cell.source) if cell.cell_type == "code" else None
        if m and m.group(1) in names:
            card = " ".join(o.get("data", {}).get("text/html", "") for o in cell.get("outputs", []))
            said[m.group(1)] = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", card)).split())[:300]
    return said


# The checks whose messages carry a lab's figures: lab 10's HPA scaling out and back in under the load Job, lab 11's
# requests answered and failed during a rolling update (solved, without a readiness probe, without a preStop pause).
FIGURES = {"10": ("scaled",), "11": ("zero-downtime",)}


def audit_figures() -> None:
    """`labkit audit` on the chapter's production manifest: its run time and what it finds."""
    from labkit import audit, cluster_parts

    path = Path(__file__).resolve().parents[1] / "tests" / "unit" / "data" / "chapter-production.yaml"
    version = ".".join(cluster_parts.K8S_VERSION.lstrip("v").split(".")[:2])
    t = time.monotonic()
    findings = audit.audit(audit.from_yaml(path.read_text()), version, audit.kube_score_binary())
    n = audit.counts(findings)
    print(f"labkit audit of the chapter's manifest: {time.monotonic() - t:4.1f} s, {n[audit.CRITICAL]} critical, "
          f"{n[audit.WARNING]} warnings, {n[audit.OK]} passed (kube-score {'in' if audit.kube_score_binary() else 'not in'} it)")


def board_figures(seconds: float = 20) -> None:
    """The class board under 30 simulated students and a flooder (labkit.board.simulate), on SQLite, as
    `labkit board serve` runs it; and what recording a result in the learner's journal costs a check."""
    import subprocess
    import tempfile

    import requests

    from labkit import journal
    from labkit.board import auth, simulate, store

    with tempfile.TemporaryDirectory(prefix="bench-board-") as tmp:
        began = time.monotonic()
        for n in range(100):
            journal.record("01", "kernel", n % 2 == 0, "m", "h", where=Path(tmp) / "journal.sqlite")
        print(f"journal: a check result recorded in {(time.monotonic() - began) * 10:.1f} ms")
        url = store.sqlite_url(Path(tmp) / "board.sqlite")
        engine = store.open_engine(url)
        codes = {f"student{n:02}": auth.JoinTokens(engine).issue_code(f"student{n:02}") for n in range(31)}
        server = subprocess.Popen([sys.executable, "-m", "labkit.cli", "board", "serve", "--db", url, "--host",
                                   "127.0.0.1", "--port", "18766"], stdout=subprocess.DEVNULL,
                                  env={**os.environ, "LABKIT_BOARD_PASSWORD": "bench", "LABKIT_WORKSPACE": tmp})
        try:
            base = "http://127.0.0.1:18766"
            for _ in range(100):
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"{base}/health", timeout=1).ok:
                        break
                time.sleep(0.2)
            tokens = {n: requests.post(f"{base}/api/join", json={"code": c}, timeout=10).json()["token"]
                      for n, c in codes.items()}
            cookies = {"board_session": requests.post(f"{base}/login", data={"password": "bench"},
                                                      allow_redirects=False, timeout=10).cookies["board_session"]}
            flood = ("student30", tokens.pop("student30"))
            figures = simulate.run(base, tokens, seconds, cookies, flood=flood)
            lost = len(figures.acked - {r.uid for r in store.all_results(engine)})
            print(f"class board (SQLite): {figures.summary(len(tokens))}; {lost} acknowledged results lost")
        finally:
            server.terminate()
            server.wait()
            engine.dispose()


def lab03_figures() -> None:
    """Lab 03's comparison, measured again here: sizes, layers, cold build and source-only rebuild."""
    from labkit import config, layers
    from labkit.ownership import labels

    work = config.workspace_root() / labs.get("03").slug
    tags = {"bad": work / "bad", "good": work / "api"}
    layers.remove_images([f"course/api:{t}" for t in tags] + [f"course/api:{t}-edit" for t in tags])
    for name, ctx in tags.items():
        with contextlib.redirect_stdout(io.StringIO()):  # the builds' step-by-step output
            cold = layers.build(ctx, f"course/api:{name}", labels("03"), nocache=True)
            layers.edit_source(ctx)
            warm = layers.build(ctx, f"course/api:{name}-edit", labels("03"))
        img = daemon.image(f"course/api:{name}")
        print(f"lab 03 {name:4}: {img.attrs['Size'] / 1e6:6.0f} MB, {len(img.attrs['RootFS']['Layers']):2} layers, "
              f"context {cold.context_bytes / 1e6:5.1f} MB, cold build {cold.seconds:5.1f} s, "
              f"rebuild after a source change {warm.seconds:5.1f} s ({warm.cached}/{len(warm.steps)} steps cached)")


def main() -> None:
    import tempfile

    only = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--labs=")]  # e.g. --labs=03,04: those labs only
    if not only:
        if "--cold" in sys.argv:
            setup_cold()
        offline_images(cold="--cold" in sys.argv)
        cluster_figures(cold="--cold" in sys.argv)
    if not only or "--board" in sys.argv:
        board_figures()
    if "--no-labs" in sys.argv:  # the set-up's figures only (with --cold: a new machine's, about 25 minutes)
        return
    chosen = [labs.get(i) for i in only[0].split(",")] if only else list(labs.LABS.values())
    variants = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for lab in chosen:
            variants += lab_timings(lab, Path(tmp), keep=lab.id == "03")
            if lab.id == "03":
                lab03_figures()
                cleanup.remove("03")
            if lab.id == "11":
                audit_figures()
    print(f"answer variants of every lab add {variants:.0f} s to `make test` (budget: 360 s on 2 cores)")


if __name__ == "__main__":
    main()
