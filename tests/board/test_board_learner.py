"""A learner's side: `labkit join` once, then every check result recorded goes to the board; with the board
down, results wait in the journal and go with the next send; a lab's check behaves the same either way."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from labkit import board_client, journal
from labkit.checks import CheckFailed


@pytest.fixture
def learner(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_WORKSPACE", str(tmp_path / "learner"))
    return tmp_path / "learner"


def labkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_results_queue_while_the_board_is_down_and_arrive_later(board, learner):
    code = board.students.issue_code("alice")
    done = labkit("join", board.url, code)
    assert done.returncode == 0 and "as alice" in done.stdout, done.stderr
    assert (learner / ".labkit" / "board.json").stat().st_mode & 0o777 == 0o600
    journal.record("07", "egress", False, "no answer", "allow DNS")
    assert board_client.send_pending() == (1, "")
    board.stop()
    began = time.monotonic()
    journal.record("07", "egress", True, "done", "")
    sent, why = board_client.send_pending()
    assert sent == 0 and "did not answer" in why and time.monotonic() - began < 5
    assert len(journal.unsent()) == 1
    board.start()
    journal.record("07", "dns", False, "NXDOMAIN", "use the full name")
    assert board_client.send_pending() == (2, "")
    assert journal.unsent() == [] and board.stored() == 3
    progress = labkit("progress")
    assert "✔ egress" in progress.stdout and "✘ dns" in progress.stdout and "everything sent" in progress.stdout


def test_a_check_records_its_result_whether_or_not_a_board_listens(learner, monkeypatch):
    """Through a lab's own check cell (lab 01's, on the real daemon: it fails before the exercise is done)."""
    from labkit import labs
    from labkit.lab import Lab

    # Headless (CI, nbval) the failing cell raises; in a learner's kernel it only shows its card. Both record.
    monkeypatch.setenv("LABKIT_HEADLESS", "1")
    lab = Lab(labs.get("01"))
    board_client.membership_file().parent.mkdir(parents=True, exist_ok=True)
    board_client.membership_file().write_text(
        '{"url": "http://127.0.0.1:9", "token": "t", "student": "alice"}')  # a board that is down
    began = time.monotonic()
    with pytest.raises(CheckFailed, match="lab01-kernel"):
        lab.check("kernel")
    spent = time.monotonic() - began
    (entry,) = journal.entries()
    assert (entry.lab, entry.check, entry.passed) == ("01", "kernel", False) and entry.hint
    assert journal.unsent() == [entry]
    print(f"\na check with a board that is down: {spent * 1000:.0f} ms")
