"""labkit.inpod: the probe program runs here for real (this machine's resolver and sockets, as a pod's would
be), and its failures come back named the way the labs' hints tell them apart."""
import http.server
import socket
import subprocess
import sys
import threading

import pytest

from labkit import inpod


def run_probe(what: str, target: str) -> inpod.Outcome:
    done = subprocess.run([sys.executable, "-c", inpod.PROBE, what, target], capture_output=True, text=True, timeout=30)
    return inpod.parse(done.stdout)


@pytest.fixture
def server():
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"pod-1\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_get_answered_returns_status_and_body(server):
    got = run_probe("get", f"http://127.0.0.1:{server}/orders")
    assert got.ok and got.status == 200 and got.body == "pod-1"


def test_nothing_listening_is_refused():
    got = run_probe("get", f"http://127.0.0.1:{free_port()}/")
    assert not got.ok and got.failure == "refused" and got.said() == "connection refused"


def test_a_name_resolves_to_its_addresses():
    got = run_probe("resolve", "localhost")
    assert got.ok and "127.0.0.1" in got.addresses


def test_a_name_that_cannot_exist_is_a_lookup_failure_not_a_connection_one():
    # .invalid never exists (RFC 6761): no such name, or no answer where this machine has no name server at all.
    got = run_probe("resolve", "no-such-service.invalid")
    assert not got.ok and got.failure in ("no-such-name", "no-answer")


def test_output_that_is_not_the_probes_is_an_error_carrying_it():
    got = inpod.parse("Traceback (most recent call last):\n  boom")
    assert not got.ok and got.failure == "error" and "boom" in got.detail
    assert inpod.parse("").detail == "no output"
