import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Every lab test runs headless (failed checks raise) in a workspace of its own, never the learner's.
os.environ["LABKIT_HEADLESS"] = "1"
os.environ.setdefault("LABKIT_WORKSPACE", str(Path(__file__).resolve().parents[1] / ".test-workspace"))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/labs" in str(item.fspath):
            item.add_marker(pytest.mark.docker)
