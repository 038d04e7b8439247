"""Optional dependencies: PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).

Each is used only when its variable is set, so the same image runs alone (lab 02)
and inside the Compose stack (lab 04).
"""
from __future__ import annotations

import os
from urllib.parse import urlparse


def _database():
    url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    import pg8000.native  # pure-Python driver: the wheel works on every CPU architecture

    u = urlparse(url)
    return pg8000.native.Connection(
        user=u.username or "postgres", password=u.password, host=u.hostname or "localhost",
        port=u.port or 5432, database=(u.path or "/postgres").lstrip("/"), timeout=3,
    )


def _cache():
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)


def check_all() -> dict:
    checks = {}
    for name, connect, probe in (
        ("database", _database, lambda c: c.run("SELECT 1")),
        ("cache", _cache, lambda c: c.ping()),
    ):
        try:
            client = connect()
            if client is None:
                continue
            probe(client)
            checks[name] = {"ok": True}
        except Exception as exc:  # readiness reports the failure instead of crashing
            checks[name] = {"ok": False, "error": str(exc)[:200]}
    return checks


def count_visit() -> tuple[int, dict]:
    """Count a visit in Redis and record it in PostgreSQL; report both totals."""
    body: dict = {}
    try:
        cache = _cache()
        if cache is not None:
            body["cache_hits"] = int(cache.incr("visits"))
        db = _database()
        if db is not None:
            db.run("CREATE TABLE IF NOT EXISTS visits (id serial PRIMARY KEY, at timestamptz DEFAULT now())")
            db.run("INSERT INTO visits DEFAULT VALUES")
            body["db_rows"] = db.run("SELECT count(*) FROM visits")[0][0]
    except Exception as exc:
        return 503, {"error": str(exc)[:200]}
    return 200, body
