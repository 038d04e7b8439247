"""The unsolved learner notebook, run top to bottom against the real daemon:
every check must fail, each with a hint, and nothing may fail with a raw traceback."""
import pytest

from helpers import check_cells, errors, execute, source_notebook, text
from labkit import cleanup, config, labs, notebooks

TIMED_OUT = ("timed out waiting for the condition", "did not happen within")  # kubectl wait's; progress.wait_until's
FRIENDLY = {"CheckFailed", "CommandFailed", "ResourceMissing", "LabError", "DaemonUnavailable", "WaitTimedOut"}


@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_learner_version_fails_every_check_with_a_hint(lab, tmp_path):
    cleanup.remove(lab.id)  # start from nothing, as a new learner would
    nb = notebooks.learner_version(source_notebook(lab))
    execute(nb, tmp_path)
    try:
        for index, name in check_cells(nb):
            errs = errors(nb.cells[index])
            assert errs and errs[0]["ename"] == "CheckFailed", (
                f"check {name!r} (cell {index}) did not fail on the learner version: {text(nb.cells[index])[:300]}")
            assert "How to fix:" in errs[0]["evalue"], f"check {name!r} failed without a hint: {errs[0]['evalue']}"
        for index, cell in enumerate(nb.cells):
            for err in errors(cell):
                assert err["ename"] in FRIENDLY, (
                    f"cell {index} of the learner version failed with a raw {err['ename']}: {err['evalue'][:300]}")
                # A learner who runs a cell before its exercise is told what is missing, not kept waiting for it
                # (labkit.waits): no wait of the unsolved lab may run into its time-out.
                assert err["ename"] != "WaitTimedOut" and not any(t in text(cell) for t in TIMED_OUT), (
                    f"cell {index} of the learner version waited out its time-out for something that could not "
                    f"happen: {text(cell)[-300:]}")
    finally:
        cleanup.remove(lab.id)


@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_every_registered_check_has_a_check_cell(lab):
    names = [name for _, name in check_cells(source_notebook(lab))]
    assert sorted(names) == sorted(lab.module().checks.names())
    assert config.headless()
