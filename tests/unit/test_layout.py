"""labkit's layout holds: no import cycles (imports inside functions included), and a learner's kernel
never imports the machinery that builds images and clusters."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import labkit

PACKAGE = Path(labkit.__file__).parent
# Build machinery and classroom administration (the class board, downloads of tools): never in a lab's kernel.
MACHINERY = {"labkit.provision", "labkit.cli", "labkit.notebooks", "labkit.site", "labkit.board", "labkit.download",
             "labkit.tools"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, known: set[str]) -> set[str]:
    """labkit modules a file imports anywhere in it (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m in known} - {module_name(path)}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports(path, set(files)) - {"labkit"} for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_labkit_has_no_import_cycle():
    assert cycles(graph()) == []


def test_a_learners_kernel_imports_no_build_machinery():
    labs = [f"labkit.labs.lab{p.stem[3:]}" for p in (PACKAGE / "labs").glob("lab[0-9]*.py")]
    code = ("import sys, importlib\n"
            f"for m in {['labkit.lab', 'labkit.layers', 'labkit.plots', 'labkit.kube', *labs]!r}:\n"
            "    importlib.import_module(m)\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('labkit'))))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    machinery = {m for m in loaded if m in MACHINERY or m.startswith(("labkit.provision.", "labkit.board."))}
    assert not machinery, f"a lab's kernel imports {sorted(machinery)}"


# --- the layer diagram of docs/toolkit.md, held against the imports -------------------------------
DIAGRAM = PACKAGE.parent / "docs" / "toolkit.md"
LAB_MODULE = re.compile(r"labkit\.labs\.lab\d+$")


def diagram(text: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """(module -> its box, box -> boxes its arrows lead to) from the first mermaid block of the text.
    A box is a `subgraph`; its nodes' labels list module names separated by " · " (`labs.labNN`: every
    lab's checks module)."""
    block = text.split("```mermaid", 1)[1].split("```", 1)[0]
    boxes, arrows, box = {}, {}, None
    for line in block.splitlines():
        line = line.strip()
        if m := re.match(r"subgraph (\w+)", line):
            box = m.group(1)
            arrows.setdefault(box, set())
        elif line == "end":
            box = None
        elif m := re.match(r"(\w+) --> (\w+)$", line):
            arrows.setdefault(m.group(1), set()).add(m.group(2))
        elif box and (m := re.search(r'\["([^"]*)"\]', line)):
            for name in m.group(1).split(" · "):
                boxes[f"labkit.{name.strip()}"] = box
    return boxes, arrows


def below(box: str, arrows: dict[str, set[str]]) -> set[str]:
    """The box itself and every box its arrows lead to, however far."""
    seen, todo = {box}, [box]
    while todo:
        for nxt in arrows.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def box_of(module: str, boxes: dict[str, str]) -> str | None:
    return boxes.get("labkit.labs.labNN") if LAB_MODULE.match(module) else boxes.get(module)


def layer_breaks(edges: dict[str, set[str]], boxes: dict[str, str], arrows: dict[str, set[str]]) -> list[str]:
    out = []
    for module, imported in sorted(edges.items()):
        here = box_of(module, boxes)
        for target in sorted(imported):
            there = box_of(target, boxes)
            if here and there and there not in below(here, arrows):
                out.append(f"{module} ({here}) imports {target} ({there})")
    return out


def test_the_diagram_reader_finds_boxes_arrows_and_a_broken_rule():
    boxes, arrows = diagram('```mermaid\nflowchart TB\n  subgraph top["T"]\n    a["a · labs.labNN"]\n  end\n'
                            '  subgraph low["L"]\n    b["b"]\n  end\n  top --> low\n```')
    assert boxes == {"labkit.a": "top", "labkit.labs.labNN": "top", "labkit.b": "low"} and arrows["top"] == {"low"}
    assert layer_breaks({"labkit.labs.lab07": {"labkit.b"}, "labkit.b": {"labkit.a"}}, boxes, arrows) == [
        "labkit.b (low) imports labkit.a (top)"]


def test_every_module_has_one_box_in_the_diagram():
    boxes, _ = diagram(DIAGRAM.read_text())
    missing = sorted(m for m in graph() if m != "labkit" and box_of(m, boxes) is None)
    assert not missing, f"docs/toolkit.md's diagram has no box for {missing}"


def test_every_import_follows_the_diagram():
    boxes, arrows = diagram(DIAGRAM.read_text())
    # `labkit` itself re-exports labkit.start for notebooks: it stands with what a notebook imports.
    edges = {m: e for m, e in graph().items() if m != "labkit"}
    assert not layer_breaks(edges, boxes, arrows), "\n".join(layer_breaks(edges, boxes, arrows))
