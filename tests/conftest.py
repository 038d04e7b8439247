import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# Every lab test runs headless (failed checks raise) in a workspace of its own, never the learner's.
os.environ["LABKIT_HEADLESS"] = "1"
os.environ.setdefault("LABKIT_WORKSPACE", str(Path(__file__).resolve().parents[1] / ".test-workspace"))

import pytest  # noqa: E402

from lab_order import LabOrder  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--labs", default=None, metavar="IDS",
                     help="run only these labs' tests (comma-separated ids, e.g. 05,06; `none`: only the tests "
                          "that run no lab); tests/run_labs.py runs one session per group")


def pytest_configure(config):
    config.pluginmanager.register(LabOrder(config.getoption("labs")), "lab-order")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/labs" in str(item.fspath):
            item.add_marker(pytest.mark.docker)


@pytest.fixture
def nbval_runs(request) -> set[str]:
    """The labs whose solved notebook nbval runs in this session (see lab_order.py)."""
    return request.config.pluginmanager.get_plugin("lab-order").nbval_labs
