"""The lock between a cluster build and `cluster up` (or a second build): real flock, two processes."""
import os
import subprocess
import sys
import time
from pathlib import Path

from labkit import locks

HOLD = """
import sys, time
from pathlib import Path
from labkit import locks
with locks.held(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder_process(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_holder_names_the_process_holding_the_lock_and_none_once_it_exits(tmp_path: Path):
    path = tmp_path / "build.lock"
    assert locks.holder(path) is None
    proc = _holder_process(path, 30)
    try:
        assert locks.holder(path) == str(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert locks.holder(path) is None  # the kernel released it: no stale lock after a crash


def test_a_second_holder_is_told_who_it_waits_for_and_gets_the_lock_after(tmp_path: Path):
    path = tmp_path / "build.lock"
    proc = _holder_process(path, 1.0)
    told = []
    started = time.monotonic()
    with locks.held(path, told.append):
        waited = time.monotonic() - started
        assert locks.holder(path) == str(os.getpid())
    proc.wait()
    assert told == [str(proc.pid)] and waited >= 0.5


def test_the_add_on_build_leaves_a_lower_priority_once_the_node_image_is_done():
    """CI starts `make cluster-images` at nice 10; the add-ons (which a lab waits for) build at 0,
    where raising priority is allowed (root, as in CI); elsewhere the build keeps its nice value."""
    probe = ("import os; from labkit.provision import node_image; node_image._normal_priority(lambda m: None); "
             "import subprocess; print(subprocess.run(['nice'], capture_output=True, text=True).stdout.strip())")
    done = subprocess.run(["nice", "-n", "10", sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ("0" if os.geteuid() == 0 else "10")
