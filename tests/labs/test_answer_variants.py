"""Every answer variant (tests/variants/labNN.yaml) gets the verdict it names: a lazy or wrong answer
fails its check with a hint naming the mistake, an alternative answer passes. The variants run inside
the solved notebook's first run (test_rerun.py, see answer_variants.py); each is one test here."""
import pytest

import answer_variants
from labkit import labs

CASES = [(lab, v) for lab in labs.LABS.values() for v in answer_variants.load(lab)]


@pytest.mark.parametrize("lab,variant", CASES, ids=[v.name for _, v in CASES])
def test_answer_variant(lab, variant, tmp_path_factory):
    run = answer_variants.lab_run(lab, tmp_path_factory)
    outcome = run.outcomes.get(variant.name)
    assert outcome is not None, f"{variant.name} never reached its checks; the run's failures: {run.real_failures}"
    problems = outcome.problems(variant)
    assert not problems, (f"{variant.name} ({variant.says}): " + "; ".join(problems)
                          + (f"\n  its cells failed: {outcome.cell_errors}" if outcome.cell_errors else ""))
