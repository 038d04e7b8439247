"""Learner versions of the lab notebooks.

The source notebook (labs/NN-slug.ipynb) holds the solutions between lines
`# BEGIN SOLUTION` and `# END SOLUTION`. The learner version replaces each such region
with a TODO comment at the same indentation (text after `BEGIN SOLUTION` becomes the
TODO), clears outputs, and is written to the workspace, never into the repo.
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import nbformat

from labkit import config, labs

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION\b[:\s]*(?P<todo>.*)$")
END = re.compile(r"^\s*# END SOLUTION\b")
DEFAULT_TODO = "your solution here (see the instructions above)"


class SolutionMarkerError(ValueError):
    pass


def strip_solutions(source: str) -> str:
    # Only Python needs a statement in an emptied block; a cell magic's body (a %%writefile YAML, a
    # %%shell script) is not Python, and a `pass` line would break it.
    python = not source.lstrip().startswith("%%")
    out, inside = [], False
    for n, line in enumerate(source.splitlines(), 1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if inside:
                raise SolutionMarkerError(f"line {n}: BEGIN SOLUTION inside another solution")
            inside = True
            indent, todo = begin["indent"], begin["todo"].strip() or DEFAULT_TODO
            out.append(f"{indent}# TODO: {todo}")
            # An indented region replaced by a comment alone would leave an empty block.
            if indent and python:
                out.append(f"{indent}pass")
        elif end:
            if not inside:
                raise SolutionMarkerError(f"line {n}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SolutionMarkerError("BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out)


def has_solution(source: str) -> bool:
    return any(BEGIN.match(line) for line in source.splitlines())


def learner_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(nb)  # deep copy
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.source = strip_solutions(cell.source)
        cell.outputs, cell.execution_count = [], None
    nb.metadata["labkit"] = {"version": "learner"}
    return nb


def source_path(lab: labs.LabInfo) -> Path:
    return config.LABS_DIR / lab.notebook


def learner_path(lab: labs.LabInfo) -> Path:
    return config.workspace_root() / lab.notebook


def write_learner(lab: labs.LabInfo, overwrite: bool = False, dest: Path | None = None) -> tuple[Path, str]:
    """Generate the learner copy. An existing copy is kept unless overwrite, then backed up first."""
    dest = dest or learner_path(lab)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        if not overwrite:
            return dest, "kept"
        backups = dest.parent / ".backups"
        backups.mkdir(exist_ok=True)
        shutil.copy2(dest, backups / f"{dest.stem}.{time.strftime('%Y%m%d-%H%M%S')}.ipynb")
    nb = nbformat.read(source_path(lab), as_version=4)
    nbformat.write(learner_version(nb), dest)
    return dest, "written"


# JupyterLab as a learner should meet it: no prompt about Jupyter's news over the first lab, no update check
# (a classroom's machines may have no internet). Settings of this environment's JupyterLab only.
JUPYTERLAB_SETTINGS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def write_jupyterlab_settings(prefix: Path | None = None) -> Path:
    import json
    import sys

    path = Path(prefix or sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**current, **JUPYTERLAB_SETTINGS}, indent=2) + "\n")
    return path
