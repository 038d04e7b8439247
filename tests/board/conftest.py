"""A real board: `labkit board serve` as its own process (so a test can kill it), on SQLite or on PostgreSQL
(the course's postgres image, offline or official, in a container this suite labels and removes)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from labkit.board import auth, store
from servers import free_port, wait_until_answers

PASSWORD = "instructor-secret"
PG_LABEL = {"dev.containers-course.tests": "board"}


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the suite: the course's postgres image (tests/board only; removed at the end)."""
    import docker
    import psycopg

    from labkit import catalogue

    client = docker.from_env()
    for old in client.containers.list(all=True, filters={"label": "dev.containers-course.tests=board"}):
        old.remove(force=True)
    container = client.containers.run(catalogue.POSTGRES.ref, detach=True, labels=PG_LABEL,
                                      environment={"POSTGRES_PASSWORD": "board"}, ports={"5432/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["5432/tcp"][0]["HostPort"]
        admin = f"postgresql://postgres:board@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(admin, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"PostgreSQL did not accept connections: {container.logs()[-500:]!r}")
                time.sleep(0.5)
        yield port
    finally:
        container.remove(force=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return store.sqlite_url(tmp_path / "board.sqlite")
    import psycopg

    port = request.getfixturevalue("postgres_server")
    name = f"board_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"postgresql://postgres:board@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://postgres:board@127.0.0.1:{port}/{name}"


@dataclass
class Board:
    db_url: str
    workspace: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def __post_init__(self):
        self.engine = store.open_engine(self.db_url)
        self.students = auth.JoinTokens(self.engine)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "LABKIT_WORKSPACE": str(self.workspace), "LABKIT_BOARD_PASSWORD": PASSWORD}
        self.process = subprocess.Popen([sys.executable, "-m", "labkit.cli", "board", "serve", "--db", self.db_url,
                                         "--host", "127.0.0.1", "--port", str(self.port), "--title", "Test class"],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_until_answers(f"{self.url}/health", self.process, "the board")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as when a machine loses power to the process."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def join(self, name: str) -> str:
        """A student added, and their code exchanged for a token through the API (as `labkit join` does)."""
        code = self.students.issue_code(name)
        answer = requests.post(f"{self.url}/api/join", json={"code": code}, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]

    def login(self) -> dict:
        answer = requests.post(f"{self.url}/login", data={"password": PASSWORD}, allow_redirects=False, timeout=10)
        assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
        return {"board_session": answer.cookies["board_session"]}

    def stored(self) -> int:
        return store.count_results(self.engine)

    def uids(self) -> set[str]:
        return {r.uid for r in store.all_results(self.engine)}


@pytest.fixture
def board(db_url, tmp_path):
    running = Board(db_url, tmp_path / "instructor")
    # The instructor's password is set by the first `serve` (LABKIT_BOARD_PASSWORD).
    running.start()
    yield running
    running.stop()
    running.engine.dispose()
