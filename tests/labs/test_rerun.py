"""Labs are idempotent: a source notebook runs with its cleanup cells left out (and its answer
variants run before each exercise, answer_variants.py) and leaves its state behind; then the whole notebook runs again over that state, every cell passing, and its cleanup
leaves nothing labelled. Under `make test` the second run is nbval's (lab_order.py puts it between
these two tests); where nbval does not run a lab, the last test runs the notebook itself."""
import pytest

import answer_variants
from helpers import errors, execute, source_notebook, text
from labkit import cleanup, labs


def _run(nb, tmp_path, label, lab):
    execute(nb, tmp_path)
    failed = [(i, text(c)[-400:]) for i, c in enumerate(nb.cells) if errors(c)]
    assert not failed, f"{label} of {lab.slug} failed: {failed}"


@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_first_run_keeps_its_state(lab, tmp_path_factory):
    run = answer_variants.lab_run(lab, tmp_path_factory)
    assert not run.real_failures, f"first run (no cleanup, with answer variants) of {lab.slug} failed: {run.real_failures}"


@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_solved_run_left_nothing_behind(lab, tmp_path, nbval_runs):
    if lab.id not in nbval_runs:
        _run(source_notebook(lab), tmp_path, "second run", lab)
    assert not any(cleanup.leftovers(lab.id).values()), cleanup.leftovers(lab.id)
