"""Lab 04's first check reads the learner's compose.yaml before it asks the daemon anything:
bad files get one sentence and a fix (no daemon needed for these cases)."""
from types import SimpleNamespace

import pytest

from labkit.labs.lab04 import checks


@pytest.mark.parametrize("text, expected", [
    ("services:\n  api:\n\timage: x\n", "not valid YAML at line 3, column 1: found character '\\t'"),
    ("# TODO: write it\n", "defines no services"),
    ("version: '3.8'\nservices:\n  api:\n    image: x\n", "`version:` key"),
])
def test_bad_compose_files_are_explained(tmp_path, text, expected):
    (tmp_path / "compose.yaml").write_text(text)
    result = checks.run("healthy", SimpleNamespace(workdir=tmp_path, id="04"))
    assert not result.ok and expected in result.message and result.hint


def test_missing_compose_file_is_explained(tmp_path):
    result = checks.run("healthy", SimpleNamespace(workdir=tmp_path, id="04"))
    assert not result.ok and "no compose.yaml" in result.message
