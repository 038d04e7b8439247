"""Shared by the test suites: reading lab notebooks and executing them for real."""
from __future__ import annotations

import re
from pathlib import Path

import nbclient
import nbformat

from labkit import labs, notebooks

CHECK_CALL = re.compile(r"""lab\.check\(\s*["']([\w-]+)["']\s*\)""")


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def source_notebook(lab: labs.LabInfo) -> nbformat.NotebookNode:
    return nbformat.read(notebooks.source_path(lab), as_version=4)


def check_cells(nb) -> list[tuple[int, str]]:
    """(cell index, check name) for every cell tagged `check`."""
    found = []
    for i, cell in enumerate(nb.cells):
        if "check" in tags(cell):
            m = CHECK_CALL.search(cell.source)
            assert m, f"cell {i} is tagged check but calls no lab.check(...)"
            found.append((i, m.group(1)))
    return found


def execute(nb, cwd: Path, timeout: int = 900, timeout_func=None) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel, continuing past errors; outputs land in nb.
    timeout_func(cell) may give some cells a timeout of their own (seconds)."""
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(cwd)}})
    if timeout_func is not None:
        client.timeout_func = lambda cell: timeout_func(cell) or timeout
    client.execute()
    return nb


def errors(cell) -> list[dict]:
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif o.get("output_type") == "error":
            parts.append(f"{o['ename']}: {o['evalue']}")
        else:
            parts.extend(str(v) for v in o.get("data", {}).values())
    return "".join(parts)
