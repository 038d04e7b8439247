"""The Go build pipeline's own logic (no Go run): binary names, and fetches overlapping compiles.
fetch and compile_commands are replaced by recorders here; the real ones run in CI's cluster build."""
import os
import re
import sys
import threading
import time
from pathlib import Path

import pytest

from labkit import cluster_parts
from labkit.provision import gobuild
from labkit.errors import LabError


def test_exec_names_follow_go_build_dash_o_dir():
    assert gobuild.exec_name("k8s.io/kubernetes/cmd/kubelet") == "kubelet"
    assert gobuild.exec_name("go.etcd.io/etcd/etcdctl/v3") == "etcdctl"
    assert gobuild.exec_name("go.etcd.io/etcd/server/v3") == "server"
    assert gobuild.exec_name("sigs.k8s.io/kind") == "kind"
    assert gobuild.exec_name("github.com/containernetworking/plugins/plugins/ipam/host-local") == "host-local"


def test_no_program_builds_two_commands_to_one_file_name():
    for program in cluster_parts.PROGRAMS + cluster_parts.ADDON_PROGRAMS:
        names = [gobuild.exec_name(p) for p in program.commands.values()]
        assert len(set(names)) == len(names), program.key


def _programs(*names):
    return [gobuild.GoProgram(n, f"example.com/{n}", "v1.0.0", {n: f"example.com/{n}"}) for n in names]


def _fake(monkeypatch, fetch_seconds, fail=None):
    events = []
    lock = threading.Lock()
    building = threading.Semaphore(1)

    def fetch(program, src_root):
        with lock:
            events.append(("fetch-start", program.name, time.monotonic()))
        time.sleep(fetch_seconds[program.name])
        if program.name == fail:
            raise LabError(f"resolving {program.key} failed", "fix it")
        with lock:
            events.append(("fetched", program.name, time.monotonic()))
        return src_root / program.key

    def compile_commands(program, work, out_dir, names):
        assert building.acquire(blocking=False), "two compiles ran at once"
        try:
            with lock:
                events.append(("compile", program.name, time.monotonic()))
            time.sleep(0.05)
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in names:
                (out_dir / name).write_text("binary")
            return 0.5
        finally:
            building.release()

    monkeypatch.setattr(gobuild, "fetch", fetch)
    monkeypatch.setattr(gobuild, "compile_commands", compile_commands)
    return events


def test_programs_compile_in_the_order_their_fetches_finish_while_others_still_fetch(monkeypatch, tmp_path: Path):
    events = _fake(monkeypatch, {"big": 0.6, "small": 0.05, "medium": 0.2})
    outputs, timings = gobuild.build_all(_programs("big", "small", "medium"), tmp_path / "bin", tmp_path / "src",
                                         log=lambda *a: None)
    compiled = [name for kind, name, _ in events if kind == "compile"]
    assert compiled == ["small", "medium", "big"]
    big_fetched = next(t for kind, name, t in events if (kind, name) == ("fetched", "big"))
    small_compiled = next(t for kind, name, t in events if (kind, name) == ("compile", "small"))
    assert small_compiled < big_fetched, "the first compile waited for every fetch"
    assert all(path.read_text() == "binary" for path in outputs.values())
    assert timings["big"].fetch >= 0.6 and timings["small"].compile >= 0.05 and timings["small"].cpu == 0.5


def test_built_programs_are_neither_fetched_nor_compiled_again(monkeypatch, tmp_path: Path):
    _fake(monkeypatch, {"a": 0, "b": 0})
    gobuild.build_all(_programs("a", "b"), tmp_path / "bin", tmp_path / "src", log=lambda *a: None)
    events = _fake(monkeypatch, {"a": 0, "b": 0})
    gobuild.build_all(_programs("a", "b"), tmp_path / "bin", tmp_path / "src", log=lambda *a: None)
    assert events == []


def test_a_failed_fetch_fails_the_build_with_its_own_sentence(monkeypatch, tmp_path: Path):
    _fake(monkeypatch, {"a": 0.01, "b": 0.01}, fail="b")
    with pytest.raises(LabError, match="resolving b-v1.0.0 failed"):
        gobuild.build_all(_programs("a", "b"), tmp_path / "bin", tmp_path / "src", log=lambda *a: None)


def test_a_go_commands_cpu_seconds_include_the_processes_it_waited_for(tmp_path: Path):
    """go build does its work in child processes (compile, link): their CPU counts, not just go's own."""
    child = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    cpu = gobuild._run([sys.executable, "-c", parent], tmp_path, dict(os.environ), "burning CPU")
    assert 0.4 <= cpu < 5


def test_a_failing_go_command_says_what_failed_with_the_end_of_its_output(tmp_path: Path):
    with pytest.raises(LabError) as err:
        gobuild._run([sys.executable, "-c", "import sys; print('no required module provides x'); sys.exit(1)"],
                     tmp_path, dict(os.environ), "resolving x")
    assert "resolving x failed" in err.value.problem and "exited 1" in err.value.problem
    assert "no required module provides x" in err.value.problem


# --- the wrapper module: go.mod, and a main package of the course's own (main_go) -------------------
def test_a_programs_wrapper_go_mod_requires_it_and_lists_its_commands_as_tools():
    etcd = cluster_parts.program("etcd")
    assert etcd.key == f"etcd-{cluster_parts.ETCD_VERSION}"
    assert gobuild.go_mod_text(etcd) == (
        "module course.local/build/etcd\n\ngo 1.26.0\n\n"
        f"require go.etcd.io/etcd/server/v3 {cluster_parts.ETCD_VERSION}\n"
        f"require go.etcd.io/etcd/etcdctl/v3 {cluster_parts.ETCD_VERSION}\n\n"
        "tool (\n\tgo.etcd.io/etcd/server/v3\n\tgo.etcd.io/etcd/etcdctl/v3\n)\n")
    kubernetes = cluster_parts.program("kubernetes")
    text = gobuild.go_mod_text(kubernetes)
    assert "\nreplace (\n\tk8s.io/api => k8s.io/api v0." in text
    assert text.endswith(")\n\ntool (\n" + "".join(f"\t{p}\n" for p in kubernetes.commands.values()) + ")\n")


MAIN_GO = 'package main\n\nimport "example.com/dns/coremain"\n\nfunc main() { coremain.Run() }\n'


def _own_main(main_go=MAIN_GO):
    return gobuild.GoProgram("dns", "example.com/dns", "v1.0.0", {"dns": "course.local/build/dns"},
                             ldflags="-s -w", main_go=main_go)


def test_a_program_with_its_own_main_requires_the_program_and_lists_no_tool():
    program = _own_main()
    assert program.commands["dns"] == gobuild.wrapper_module("dns")
    assert gobuild.go_mod_text(program) == "module course.local/build/dns\n\ngo 1.26.0\n\nrequire example.com/dns v1.0.0\n"
    assert gobuild.exec_name(program.commands["dns"]) == "dns"


def test_a_changed_main_is_another_build_and_other_programs_keep_their_key():
    assert _own_main().key.startswith("dns-v1.0.0-") and _own_main().key == _own_main().key
    assert _own_main(MAIN_GO + "// more\n").key != _own_main().key
    assert [p.key for p in _programs("a", "b")] == ["a-v1.0.0", "b-v1.0.0"]


def _tidies(monkeypatch):
    runs = []
    monkeypatch.setattr(gobuild, "go_env", lambda: {})
    monkeypatch.setattr(gobuild, "_run", lambda cmd, cwd, env, what: runs.append((cmd, sorted(p.name for p in cwd.iterdir()))))
    return runs


def test_fetch_writes_the_main_before_tidying_and_tidies_again_when_it_changes(monkeypatch, tmp_path: Path):
    runs = _tidies(monkeypatch)
    program = _own_main()
    work = gobuild.fetch(program, tmp_path)
    assert work == tmp_path / program.key
    assert (work / "main.go").read_text() == MAIN_GO
    assert (work / "go.mod").read_text() == gobuild.go_mod_text(program)
    assert runs == [(["go", "mod", "tidy"], ["go.mod", "main.go"])]
    (work / "go.sum").write_text("")  # what the tidy leaves
    gobuild.fetch(program, tmp_path)
    assert len(runs) == 1, "an unchanged wrapper was tidied again"
    (work / "main.go").write_text("package main\n")
    gobuild.fetch(program, tmp_path)
    assert len(runs) == 2 and (work / "main.go").read_text() == MAIN_GO


def test_fetch_writes_no_main_for_a_program_without_one(monkeypatch, tmp_path: Path):
    runs = _tidies(monkeypatch)
    work = gobuild.fetch(cluster_parts.program("etcd"), tmp_path)
    assert runs == [(["go", "mod", "tidy"], ["go.mod"])]
    assert work.name == f"etcd-{cluster_parts.ETCD_VERSION}"


def test_corednss_own_main_imports_a_plugin_for_every_directive_it_lists():
    """A directive without its plugin's package fails at start ("no action found for directive")."""
    coredns = cluster_parts.program("coredns")
    assert coredns.main_go == cluster_parts.COREDNS_MAIN
    assert coredns.commands == {"coredns": "course.local/build/coredns"}
    directives = re.findall(r'^\t"(\w+)",$', coredns.main_go, re.M)
    imported = set(re.findall(r'_ "github.com/coredns/coredns/plugin/(\w+)"', coredns.main_go))
    packages = {"prometheus": "metrics"}  # plugin.cfg's name -> package, where they differ
    assert {packages.get(d, d) for d in directives} == imported
    assert {"kubernetes", "forward", "cache", "loop", "reload", "health", "ready", "errors", "prometheus",
            "loadbalance"} <= set(directives), "kind's Corefile needs every plugin it names"


def test_an_aligned_program_requires_the_build_list_of_the_program_it_is_aligned_with(monkeypatch, tmp_path: Path):
    """Its wrapper is fetched after the other's (whose tidied go.mod, replacements included, is the build list),
    requires every version in it but its own module's, and is another build than the unaligned program."""
    runs = _tidies(monkeypatch)
    monkeypatch.setattr(gobuild, "go_env", lambda: dict(os.environ, GOFLAGS="-mod=mod"))
    base = gobuild.GoProgram("base", "example.com/base", "v1.0.0", {"base": "example.com/base"},
                             replaces={"example.com/lib": "v0.36.1"})
    addon = gobuild.GoProgram("addon", "example.com/addon", "v0.8.0", {"addon": "example.com/addon"},
                              aligned_with=base)
    base_work = tmp_path / base.key
    base_work.mkdir()
    (base_work / "go.sum").write_text("")
    tidied = gobuild.go_mod_text(base) + "require (\n\texample.com/lib v0.0.0\n\texample.com/addon v0.7.0\n" \
                                         "\tgolang.org/x/net v0.49.0 // indirect\n)\n"
    (base_work / "go.mod.in").write_text(gobuild.go_mod_text(base))
    (base_work / "go.mod").write_text(tidied)  # as its tidy left it
    assert gobuild.build_list(base_work)["example.com/lib"] == "v0.36.1"
    work = gobuild.fetch(addon, tmp_path)
    assert [r[0] for r in runs] == [["go", "mod", "tidy"]], "the base was tidied again, or the add-on not at all"
    text = (work / "go.mod").read_text()
    assert "require example.com/lib v0.36.1\n" in text and "require golang.org/x/net v0.49.0\n" in text
    assert "example.com/base" not in text and "example.com/addon v0.7.0" not in text
    assert addon.key == "addon-v0.8.0-on-base-v1.0.0"
    assert cluster_parts.program("local-path-provisioner").aligned_with is cluster_parts.program("kubernetes")
