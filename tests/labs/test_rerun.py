"""Labs are idempotent: run a source notebook with its state left behind, then again in full.
Both runs must pass every cell, and cleanup must leave nothing labelled behind."""
import pytest

from helpers import errors, execute, source_notebook, tags, text
from labkit import cleanup, labs


@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_lab_runs_twice_in_a_row_and_cleans_up(lab, tmp_path):
    first = source_notebook(lab)
    first.cells = [c for c in first.cells if "cleanup" not in tags(c)]
    for label, nb in (("first run (no cleanup)", first), ("second run", source_notebook(lab))):
        execute(nb, tmp_path)
        failed = [(i, text(c)[-400:]) for i, c in enumerate(nb.cells) if errors(c)]
        assert not failed, f"{label} of {lab.slug} failed: {failed}"
    assert not any(cleanup.leftovers(lab.id).values()), cleanup.leftovers(lab.id)
