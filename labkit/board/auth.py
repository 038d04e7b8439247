"""Who may do what on a board. A student writes only their own results, with the token their join code was
exchanged for; the instructor reads, behind a password. Tokens and codes are stored as SHA-256 (they are
random, so a fast hash is enough); the instructor's password with scrypt (chosen by a person: slow on purpose).

Students are recognised through one interface (StudentAuth), so a second way in can be added beside join
tokens, e.g. a Kubernetes TokenReview of a student's ServiceAccount token on a shared classroom cluster.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from labkit.board import store

SESSION_SECONDS = 12 * 3600
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or copied from a slip of paper


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Student:
    id: int
    name: str


class Refused(Exception):
    """A request the board refuses: `status` for HTTP, `why` as one sentence."""

    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status = status
        self.why = why


class StudentAuth(Protocol):
    def student_for(self, token: str) -> Student:
        """The student a bearer token belongs to; raises Refused."""


class JoinTokens:
    """Join codes issued by the instructor, exchanged once for a personal token that lasts until the class ends."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # --- the instructor's side ---------------------------------------------------------------
    def issue_code(self, name: str) -> str:
        """A new join code for `name` (a student added, or one whose code or token must be replaced: the
        earlier token stops working)."""
        code = "-".join("".join(secrets.choice(_CODE_ALPHABET) for _ in range(4)) for _ in range(3))
        with self.engine.begin() as conn:
            known = conn.execute(select(store.students.c.id).where(store.students.c.name == name)).scalar()
            values = dict(code_hash=digest(code), token_hash=None, revoked_at=None)
            if known is None:
                conn.execute(store.students.insert().values(name=name, **values))
            else:
                conn.execute(update(store.students).where(store.students.c.id == known).values(**values))
        return code

    def revoke(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(update(store.students).where(store.students.c.name == name)
                                .values(revoked_at=time.time(), code_hash=None)).rowcount == 1

    def names(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r.name for r in conn.execute(select(store.students.c.name).order_by(store.students.c.name))]

    # --- the student's side --------------------------------------------------------------------
    def exchange(self, code: str) -> tuple[Student, str]:
        """A join code for a personal token (shown once; the code is spent)."""
        self._class_open()
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            row = conn.execute(select(store.students).where(
                store.students.c.code_hash == digest(code.strip().upper()))).first()
            if row is None:
                raise Refused(403, "That join code is not valid (already used, replaced, or mistyped).")
            conn.execute(update(store.students).where(store.students.c.id == row.id)
                         .values(token_hash=digest(token), code_hash=None, joined_at=time.time()))
        return Student(row.id, row.name), token

    def student_for(self, token: str) -> Student:
        self._class_open()
        with self.engine.connect() as conn:
            row = conn.execute(select(store.students).where(store.students.c.token_hash == digest(token))).first()
        if row is None:
            raise Refused(401, "This board does not know that token: join again with a new code from your instructor.")
        if row.revoked_at is not None:
            raise Refused(401, "Your token was revoked by the instructor.")
        return Student(row.id, row.name)

    def _class_open(self) -> None:
        ends = store.get_setting(self.engine, "ends_at")
        if ends and time.time() > float(ends):
            raise Refused(401, "This class has ended: its tokens have expired.")


class Instructor:
    """The instructor's password (scrypt) and the sessions a login opens (random, stored hashed, 12 hours)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def set_password(self, password: str) -> None:
        salt = secrets.token_bytes(16)
        key = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
        store.set_setting(self.engine, "instructor", f"{salt.hex()}:{key.hex()}")

    def has_password(self) -> bool:
        return store.get_setting(self.engine, "instructor") is not None

    def login(self, password: str) -> str | None:
        saved = store.get_setting(self.engine, "instructor")
        if not saved:
            return None
        salt, key = (bytes.fromhex(x) for x in saved.split(":"))
        if not hmac.compare_digest(hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1), key):
            return None
        session = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(store.sessions.delete().where(store.sessions.c.expires_at < time.time()))
            conn.execute(store.sessions.insert().values(token_hash=digest(session),
                                                        expires_at=time.time() + SESSION_SECONDS))
        return session

    def valid(self, session: str | None) -> bool:
        if not session:
            return False
        with self.engine.connect() as conn:
            expires = conn.execute(select(store.sessions.c.expires_at)
                                   .where(store.sessions.c.token_hash == digest(session))).scalar()
        return expires is not None and expires > time.time()
