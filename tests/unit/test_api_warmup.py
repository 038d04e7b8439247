"""The sample API's warm-up (lab 11): 503 to everything but liveness until it is over, then normal answers.
A real server on loopback, the app's own code."""
import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "apps" / "api"))
from app import server  # noqa: E402


@pytest.fixture()
def base_url():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), server.Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def status(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_warming_up_answers_503_but_stays_alive(base_url, monkeypatch):
    monkeypatch.setattr(server, "WARMUP_SECONDS", 60.0)
    monkeypatch.setattr(server, "STARTED", server.time.time())
    code, body = status(base_url + "/")
    assert code == 503 and body["status"] == "warming up" and 0 < body["seconds_left"] <= 60
    assert status(base_url + "/health/ready")[0] == 503
    assert status(base_url + "/health/live") == (200, {"status": "alive"})


def test_after_the_warm_up_it_serves(base_url, monkeypatch):
    monkeypatch.setattr(server, "WARMUP_SECONDS", 60.0)
    monkeypatch.setattr(server, "STARTED", server.time.time() - 61)
    code, body = status(base_url + "/")
    assert code == 200 and body["service"] == "course-api"
    assert status(base_url + "/health/ready")[0] == 200


def test_no_warm_up_by_default(base_url):
    assert server.WARMUP_SECONDS == 0
    assert status(base_url + "/")[0] == 200
