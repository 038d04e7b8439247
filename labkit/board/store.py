"""The board's database through SQLAlchemy Core: SQLite (a file, the default) or PostgreSQL (a URL such as
postgresql+psycopg://user:pass@host/db, for a class that outgrows one machine). The schema is migrated in
order (MIGRATIONS, the version in schema_version), the same steps on both.

Why not Alembic: one linear list of steps, run at start-up, needs no revision graph, environment script or
configuration file; Alembic becomes worth it when the schema branches or needs downgrades.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Integer, MetaData, String, Table, Text,
                        UniqueConstraint, create_engine, event, select, update)
from sqlalchemy.engine import Engine

from labkit.journal import Entry

metadata = MetaData()
settings = Table("settings", metadata, Column("key", String(64), primary_key=True), Column("value", Text, nullable=False))
students = Table(
    "students", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("code_hash", String(64), unique=True),    # the join code, until it is exchanged for a token
    Column("token_hash", String(64), unique=True),   # SHA-256 of the token (tokens are random: no slow hash needed)
    Column("joined_at", Float),
    Column("revoked_at", Float))
results = Table(
    "results", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("student_id", Integer, ForeignKey("students.id"), nullable=False),
    Column("uid", String(64), nullable=False),       # the learner's id for it: a result sent twice is stored once
    Column("lab", String(8), nullable=False),
    Column("check_name", String(64), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("message", Text, nullable=False),
    Column("hint", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("on_check", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    UniqueConstraint("student_id", "uid", name="one_result_per_uid"))
sessions = Table("sessions", metadata, Column("token_hash", String(64), primary_key=True),
                 Column("expires_at", Float, nullable=False))
schema_version = Table("schema_version", metadata, Column("version", Integer, primary_key=True))

# Each step once, in order (a function of a connection). Never edit a released step: add one.
MIGRATIONS = (
    lambda conn: metadata.create_all(conn, tables=[settings, students, results, sessions]),
)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def open_engine(url: str) -> Engine:
    """An engine with the schema migrated. SQLite: write-ahead log (a page reads while students write), and
    a synchronous commit per write, so a result acknowledged survives the board being killed."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False}, pool_size=8)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        engine = create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
    migrate(engine)
    return engine


def migrate(engine: Engine) -> int:
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        done = conn.execute(select(schema_version.c.version)).scalar() or 0
        for step in MIGRATIONS[done:]:
            step(conn)
        if done < len(MIGRATIONS):
            conn.execute(schema_version.delete())
            conn.execute(schema_version.insert().values(version=len(MIGRATIONS)))
    return len(MIGRATIONS)


def get_setting(engine: Engine, key: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar()


def set_setting(engine: Engine, key: str, value: str) -> None:
    with engine.begin() as conn:
        if conn.execute(update(settings).where(settings.c.key == key).values(value=value)).rowcount == 0:
            conn.execute(settings.insert().values(key=key, value=value))


@dataclass(frozen=True)
class Stored(Entry):
    """A result as the board holds it: the learner's journal entry, whose it is, and when it arrived."""
    id: int
    student: str
    received_at: float


def add_results(engine: Engine, student_id: int, student: str, batch: list[dict]) -> tuple[list[Stored], int]:
    """Store a batch in one transaction; a result whose uid this student sent before is not stored again.
    Returns (the results stored now, how many were there already)."""
    insert = _insert_ignoring_duplicates(engine)
    now = time.time()
    stored, seen = [], 0
    with engine.begin() as conn:
        for r in batch:
            row = dict(student_id=student_id, uid=r["uid"], lab=r["lab"], check_name=r["check"],
                       passed=r["passed"], message=r["message"], hint=r["hint"], at=r["at"],
                       on_check=r["on_check"], received_at=now)
            new_id = conn.execute(insert(results).values(**row).on_conflict_do_nothing().returning(results.c.id)
                                  ).scalar()
            if new_id is None:
                seen += 1
            else:
                stored.append(Stored(**r, id=new_id, student=student, received_at=now))
    return stored, seen


def _insert_ignoring_duplicates(engine: Engine):
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def all_results(engine: Engine) -> list[Stored]:
    query = (select(results, students.c.name).join(students, students.c.id == results.c.student_id)
             .order_by(results.c.at, results.c.id))
    with engine.connect() as conn:
        return [Stored(r.uid, r.lab, r.check_name, r.passed, r.message, r.hint, r.at, r.on_check, id=r.id,
                       student=r.name, received_at=r.received_at) for r in conn.execute(query)]


def count_results(engine: Engine) -> int:
    from sqlalchemy import func

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(results)).scalar()
