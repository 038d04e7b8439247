"""The learner's journal of checks: SQLite in the data folder, migrated in order, never in a check's way."""
from __future__ import annotations

import sqlite3
import time

import pytest

from labkit import journal


@pytest.fixture
def where(tmp_path):
    return tmp_path / "journal.sqlite"


def test_time_on_a_check_runs_from_its_first_try_after_its_last_pass(where):
    t0 = 1_000_000.0
    first = journal.record("07", "egress", False, "no DNS", "allow port 53", now=t0, where=where)
    second = journal.record("07", "egress", False, "no DNS", "allow port 53", now=t0 + 120, where=where)
    passed = journal.record("07", "egress", True, "ok", "", now=t0 + 300, where=where)
    again = journal.record("07", "egress", False, "broke", "a later exercise", now=t0 + 1000, where=where)
    other = journal.record("07", "dns", False, "NXDOMAIN", "full name", now=t0 + 1001, where=where)
    assert [e.on_check for e in (first, second, passed, again, other)] == [0, 120, 300, 0, 0]
    states = journal.states(where)
    assert states[("07", "egress")].tries == 4 and not states[("07", "egress")].passed
    assert states[("07", "egress")].hint == "a later exercise"
    assert journal.unsent(where=where) == journal.entries(where)


def test_sent_results_leave_the_queue(where):
    entries = [journal.record("01", c, True, "ok", "", where=where) for c in ("kernel", "pid1", "limits")]
    journal.mark_sent([entries[0].uid, entries[2].uid], where=where)
    assert [e.uid for e in journal.unsent(where=where)] == [entries[1].uid]


def test_a_journal_of_an_older_toolkit_is_migrated_and_keeps_its_results(where):
    old = sqlite3.connect(where)
    old.execute(journal.MIGRATIONS[0])
    old.execute("INSERT INTO results (uid, lab, check_name, passed, message, hint, at, on_check) "
                "VALUES ('a' , '02', 'image', 0, 'm', 'h', 1.0, 0)")
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    journal.record("02", "image", True, "ok", "", where=where)
    db = sqlite3.connect(where)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(journal.MIGRATIONS)
    assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")} >= {"results_check", "results_unsent"}
    assert [e.passed for e in journal.entries(where)] == [False, True]


def test_a_journal_that_cannot_be_written_never_breaks_the_check(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    began = time.monotonic()
    assert journal.record("01", "kernel", True, "ok", "", where=blocked / "journal.sqlite") is None
    locked = tmp_path / "locked.sqlite"
    journal.record("01", "kernel", True, "ok", "", where=locked)
    holder = sqlite3.connect(locked, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing for ever
    assert journal.record("01", "pid1", True, "ok", "", where=locked) is None
    holder.close()
    assert time.monotonic() - began < 3  # the lock is waited for half a second, no more

