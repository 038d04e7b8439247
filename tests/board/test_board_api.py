"""The board's API as a student and an instructor meet it, on SQLite and PostgreSQL: what must be refused is
tried, and each refusal is one sentence with nothing stored."""
from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy import select

from board_results import result
from labkit.board import store


def post(board, token: str | None, body, raw: bool = False) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if raw:
        return requests.post(f"{board.url}/api/results", data=body, timeout=10,
                             headers={**headers, "Content-Type": "application/json"})
    return requests.post(f"{board.url}/api/results", json=body, headers=headers, timeout=10)


def test_a_student_joins_once_and_posts_their_results(board):
    code = board.students.issue_code("alice")
    joined = requests.post(f"{board.url}/api/join", json={"code": code}, timeout=10)
    assert joined.status_code == 200 and joined.json()["student"] == "alice"
    again = requests.post(f"{board.url}/api/join", json={"code": code}, timeout=10)
    assert again.status_code == 403 and "not valid" in again.json()["error"]
    token = joined.json()["token"]
    first = result()
    answer = post(board, token, {"student": "alice", "results": [first, result(check="dns", passed=True)]})
    assert answer.status_code == 200 and answer.json()["stored"] == 2
    # A result sent twice (its acknowledgement was lost) is stored once.
    again = post(board, token, {"student": "alice", "results": [first]})
    assert again.json() == {"stored": 0, "already_stored": 1, "acked": [first["uid"]]}
    assert board.stored() == 2
    stored = {r.check: r for r in store.all_results(board.engine)}
    assert stored["egress"].student == "alice" and stored["egress"].hint == "allow DNS" and stored["dns"].passed


@pytest.mark.parametrize("case", ["malformed JSON", "unknown lab", "unknown check", "missing field", "no token",
                                  "forged token", "revoked token", "expired token", "another student's name"])
def test_bad_input_is_refused_with_a_clear_status_and_nothing_is_stored(board, case):
    token = board.join("alice")
    body = {"student": "alice", "results": [result()]}
    if case == "revoked token":
        board.students.revoke("alice")
    if case == "expired token":
        store.set_setting(board.engine, "ends_at", str(time.time() - 1))
    answer = {
        "malformed JSON": lambda: post(board, token, '{"student": "alice", "results": [', raw=True),
        "unknown lab": lambda: post(board, token, {"results": [result(lab="99")]}),
        "unknown check": lambda: post(board, token, {"results": [result(), result(check="egres")]}),
        "missing field": lambda: post(board, token, {"results": [{k: v for k, v in result().items() if k != "passed"}]}),
        "no token": lambda: post(board, None, body),
        "forged token": lambda: post(board, token[:-4] + "AAAA", body),
        "revoked token": lambda: post(board, token, body),
        "expired token": lambda: post(board, token, body),
        "another student's name": lambda: post(board, token, {**body, "student": "bob"}),
    }[case]()
    expected, words = {
        "malformed JSON": (400, "not valid JSON"), "unknown lab": (422, "no lab '99'"),
        "unknown check": (422, "Lab 07 has no check 'egres'"), "missing field": (422, "passed"),
        "no token": (401, "Bearer"), "forged token": (401, "does not know that token"),
        "revoked token": (401, "revoked"), "expired token": (401, "ended"),
        "another student's name": (403, "alice's: it cannot send results for bob"),
    }[case]
    assert answer.status_code == expected, answer.text
    error = answer.json()["error"]
    assert words in error and error.count(". ") == 0 and "Traceback" not in error
    assert board.stored() == 0


def test_the_instructors_views_need_the_instructors_login(board):
    for path in ("/api/state", "/events", "/export.csv"):
        assert requests.get(f"{board.url}{path}", timeout=10).status_code == 401
    assert requests.get(f"{board.url}/", allow_redirects=False, timeout=10).headers["location"] == "/login"
    wrong = requests.post(f"{board.url}/login", data={"password": "guess"}, allow_redirects=False, timeout=10)
    assert wrong.status_code == 303 and wrong.headers["location"] == "/login?failed=1"
    assert "board_session" not in wrong.cookies
    # A student's token opens nothing of the instructor's.
    token = board.join("alice")
    assert requests.get(f"{board.url}/api/state", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code == 401


def test_the_state_and_the_csv_say_who_is_stuck_where_with_which_hint(board):
    alice, bob = board.join("alice"), board.join("bob")
    began = time.time() - 600
    post(board, alice, {"results": [result(hint="no DNS", at=began), result(hint="no DNS", at=began + 300, on_check=300)]})
    post(board, bob, {"results": [result(hint="wrong port"), result(passed=True, hint="")]})
    cookies = board.login()
    state = requests.get(f"{board.url}/api/state", cookies=cookies, timeout=10).json()
    assert state["students"] == ["alice", "bob"]
    assert [lab["id"] for lab in state["labs"]] == [f"{n:02}" for n in range(1, 12)]
    cells = {(c["student"], c["lab"], c["check"]): c for c in state["cells"]}
    assert not cells[("alice", "07", "egress")]["passed"]
    assert cells[("alice", "07", "egress")]["stuck_since"] == pytest.approx(began, abs=1)
    assert cells[("bob", "07", "egress")]["passed"] and cells[("bob", "07", "egress")]["stuck_since"] is None
    hints = {(h["lab"], h["check"]): h["hints"] for h in state["hints"]}
    assert hints[("07", "egress")] == [["no DNS", 1], ["wrong port", 1]]
    rows = list(csv.DictReader(io.StringIO(requests.get(f"{board.url}/export.csv", cookies=cookies, timeout=10).text)))
    assert len(rows) == 4 and {r["student"] for r in rows} == {"alice", "bob"}
    assert {r["hint"] for r in rows if r["student"] == "alice"} == {"no DNS"}


def test_a_second_way_in_sits_behind_the_same_interface(tmp_path):
    """What a Kubernetes TokenReview would be: another StudentAuth, tried after the join tokens."""
    from fastapi.testclient import TestClient

    from labkit.board import app, auth

    url = store.sqlite_url(tmp_path / "board.sqlite")
    engine = store.open_engine(url)
    auth.JoinTokens(engine).issue_code("carol")
    with engine.connect() as conn:
        student_id = conn.execute(select(store.students.c.id).where(store.students.c.name == "carol")).scalar()

    class ServiceAccountTokens:
        def student_for(self, token: str) -> auth.Student:
            if token != "sa-token-of-carol":
                raise auth.Refused(401, "The cluster does not know that ServiceAccount token.")
            return auth.Student(student_id, "carol")

    with TestClient(app.create_app(url, ways_in=[auth.JoinTokens(engine), ServiceAccountTokens()])) as client:
        ok = client.post("/api/results", json={"results": [result()]},
                         headers={"Authorization": "Bearer sa-token-of-carol"})
        refused = client.post("/api/results", json={"results": [result()]}, headers={"Authorization": "Bearer nope"})
    assert ok.status_code == 200 and ok.json()["stored"] == 1
    assert refused.status_code == 401 and "does not know that token" in refused.json()["error"]
    assert [r.student for r in store.all_results(engine)] == ["carol"]


def test_adding_students_sets_when_the_class_ends(tmp_path):
    env = {**os.environ, "LABKIT_WORKSPACE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "labkit.cli", "board", "add", "dora"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "ends in 12 hours" in done.stdout and "dora" in done.stdout, done.stderr
    engine = store.open_engine(store.sqlite_url(tmp_path / ".labkit" / "board.sqlite"))
    assert 11.9 * 3600 < float(store.get_setting(engine, "ends_at")) - time.time() <= 12 * 3600
