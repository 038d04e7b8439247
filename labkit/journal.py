"""Every check a learner runs, recorded on their own machine: lab, check, verdict, the hint shown, when, and
how long they had been on that check. `labkit progress` reads it back; a learner who joined a class board
(`labkit join`) also has each result sent there (labkit.board_client), from the queue this journal keeps.

SQLite from the standard library, in the course's data folder. Its schema is migrated in order
(MIGRATIONS, the version in SQLite's own `user_version`): a learner's journal outlives toolkit updates.
Recording must never slow a check down or break it: a journal that cannot be written is skipped silently.
"""
from __future__ import annotations

import sqlite3
import time
import uuid
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path

from labkit import config

# Each step once, in order; a journal at version n runs steps n+1 onwards. Never edit a released step.
MIGRATIONS = (
    """CREATE TABLE results (
         id INTEGER PRIMARY KEY,
         uid TEXT NOT NULL UNIQUE,          -- sent with the result: the board stores each once
         lab TEXT NOT NULL,
         check_name TEXT NOT NULL,
         passed INTEGER NOT NULL,
         message TEXT NOT NULL,
         hint TEXT NOT NULL,
         at REAL NOT NULL,                   -- seconds since the epoch
         on_check REAL NOT NULL,             -- seconds since this check's first try after its last pass
         sent INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX results_check ON results (lab, check_name, at)",
    "CREATE INDEX results_unsent ON results (sent) WHERE sent = 0",
)


def path() -> Path:
    return config.data_dir() / "journal.sqlite"


def connect(where: Path | None = None) -> sqlite3.Connection:
    where = where or path()
    where.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(where, timeout=0.5, isolation_level=None)  # autocommit; a locked journal waits 0.5 s at most
    db.row_factory = sqlite3.Row
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version < len(MIGRATIONS):
        db.execute("BEGIN IMMEDIATE")
        version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated meanwhile
        for step in MIGRATIONS[version:]:
            db.execute(step)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        db.execute("COMMIT")
    return db


@dataclass(frozen=True)
class Entry:
    uid: str
    lab: str
    check: str
    passed: bool
    message: str
    hint: str
    at: float
    on_check: float

    def as_json(self) -> dict:
        """As the board takes it (labkit.board.app.ResultIn)."""
        return {**asdict(self), "on_check": round(self.on_check, 1)}


def record(lab: str, check: str, passed: bool, message: str, hint: str, now: float | None = None,
           where: Path | None = None) -> Entry | None:
    """Append one result; None when the journal cannot be written (the check goes on regardless)."""
    now = time.time() if now is None else now
    try:
        with closing(connect(where)) as db:
            last_pass = db.execute("SELECT max(at) FROM results WHERE lab = ? AND check_name = ? AND passed = 1",
                                   (lab, check)).fetchone()[0] or 0
            since = db.execute("SELECT min(at) FROM results WHERE lab = ? AND check_name = ? AND at > ?",
                               (lab, check, last_pass)).fetchone()[0]
            entry = Entry(uuid.uuid4().hex, lab, check, passed, message, hint, now, now - since if since else 0.0)
            db.execute("INSERT INTO results (uid, lab, check_name, passed, message, hint, at, on_check) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (entry.uid, lab, check, int(passed), message, hint, now, entry.on_check))
            return entry
    except (sqlite3.Error, OSError):
        return None


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(row["uid"], row["lab"], row["check_name"], bool(row["passed"]), row["message"], row["hint"],
                 row["at"], row["on_check"])


def entries(where: Path | None = None) -> list[Entry]:
    with closing(connect(where)) as db:
        return [_entry(r) for r in db.execute("SELECT * FROM results ORDER BY at, id")]


def unsent(limit: int = 200, where: Path | None = None) -> list[Entry]:
    with closing(connect(where)) as db:
        return [_entry(r) for r in db.execute("SELECT * FROM results WHERE sent = 0 ORDER BY id LIMIT ?", (limit,))]


def mark_sent(uids: list[str], where: Path | None = None) -> None:
    with closing(connect(where)) as db:
        db.executemany("UPDATE results SET sent = 1 WHERE uid = ?", [(u,) for u in uids])


# --- what `labkit progress` shows ------------------------------------------------------------------
@dataclass(frozen=True)
class CheckState:
    lab: str
    check: str
    passed: bool          # its latest result
    tries: int
    hint: str             # the latest failure's hint, when it is not passed
    first: float
    last: float


def states(where: Path | None = None) -> dict[tuple[str, str], CheckState]:
    """Each check tried, by (lab, check): where the learner stands on it now."""
    found: dict[tuple[str, str], CheckState] = {}
    for e in entries(where):
        before = found.get((e.lab, e.check))
        found[(e.lab, e.check)] = CheckState(e.lab, e.check, e.passed, (before.tries if before else 0) + 1,
                                             "" if e.passed else (e.hint or e.message),
                                             before.first if before else e.at, e.at)
    return found
