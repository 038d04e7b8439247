"""Lab 04's requests through nginx right after `docker compose restart nginx`: an nginx started seconds ago
is given until it has been up lab04.STARTING seconds to accept a first connection (a cold CI run, two labs
at once, met it still starting); one up for longer that refuses is reported at once. The network and the
daemon are faked: only the decision is under test; the real restart is lab 04's own test."""
import time

import pytest

from labkit.errors import LabError
from labkit.labs import lab04


class Answer:
    status_code = 200

    def json(self):
        return {"hostname": "api-1"}


def fake(monkeypatch, refusals: int, started_ago: float):
    calls = {"n": 0}
    began = time.monotonic()

    def get():
        calls["n"] += 1
        return None if calls["n"] <= refusals else Answer()

    monkeypatch.setattr(lab04, "_get", get)
    monkeypatch.setattr(lab04, "_starting_for",
                        lambda: max(0.0, lab04.STARTING - started_ago - (time.monotonic() - began)))
    return calls


def test_a_just_restarted_nginx_is_waited_for(monkeypatch):
    fake(monkeypatch, refusals=3, started_ago=1)
    assert [a["hostname"] for a in lab04.through_proxy(2)] == ["api-1", "api-1"]


def test_an_nginx_up_for_long_that_refuses_fails_at_once(monkeypatch):
    calls = fake(monkeypatch, refusals=100, started_ago=600)
    t0 = time.monotonic()
    with pytest.raises(LabError) as err:
        lab04.through_proxy(2)
    assert time.monotonic() - t0 < 1 and calls["n"] == 1
    assert "no connection" in err.value.problem and "8080:80" in err.value.fix


def test_a_just_started_nginx_that_never_listens_fails_when_its_time_is_up(monkeypatch):
    fake(monkeypatch, refusals=10**6, started_ago=lab04.STARTING - 1.5)
    t0 = time.monotonic()
    with pytest.raises(LabError):
        lab04.through_proxy(2)
    assert 1 <= time.monotonic() - t0 < 4
