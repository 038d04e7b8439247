"""A lab run with no Docker daemon answering (the client pointed at a socket nobody listens on):
the first cell says why in one sentence, and every later cell repeats that the lab did not start,
never a raw NameError (`lab`) or UsageError (`%%shell` not found)."""
import pytest

from helpers import errors, execute, source_notebook, text
from labkit import labs

FRIENDLY = {"DaemonUnavailable", "LabNotStarted", "CheckFailed", "LabError", "CommandFailed", "ResourceMissing"}


@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_a_lab_without_a_daemon_says_why_in_every_cell(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")  # the kernel inherits it
    monkeypatch.setenv("LABKIT_WORKSPACE", str(tmp_path / "workspace"))
    nb = source_notebook(lab)
    nb.cells = [c for c in nb.cells if c.cell_type == "code"]
    execute(nb, tmp_path, timeout=120)
    first = errors(nb.cells[0])
    assert first and first[0]["ename"] == "DaemonUnavailable", text(nb.cells[0])[:300]
    for index, cell in enumerate(nb.cells[1:], start=1):
        for err in errors(cell):
            assert err["ename"] in FRIENDLY, f"code cell {index} failed raw: {err['ename']}: {err['evalue'][:200]}"
        if "lab.check(" in cell.source or cell.source.lstrip().startswith("%%shell"):
            assert errors(cell) and errors(cell)[0]["ename"] == "LabNotStarted", text(cell)[:300]
            assert f'labkit.start("{lab.id}")' in errors(cell)[0]["evalue"]
