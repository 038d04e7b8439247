"""A small JSON web service built on the standard library.

It stays dependency-free at its core so the image builds stay fast and readable; the
optional database and cache clients (used from the Compose lab on) come from the wheels
in requirements.txt.

Endpoints
  GET /                 service name, version, hostname (which replica answered)
  GET /health           overall status (used by HEALTHCHECK and the labs)
  GET /health/live      liveness: the process is up and serving
  GET /health/ready     readiness: the dependencies that are configured answer, and the warm-up is over

WARMUP_SECONDS (default 0) makes it behave like a service that loads data before it can serve: for that long
after it starts it answers every request but /health/live with 503 (lab 11's rolling update shows what a missing
readiness probe costs).

Each request is logged on stdout ("CLIENT-IP GET PATH -> STATUS host=HOST") and, when LOG_FILE is set,
appended to that file too (lab 06's sidecar forwards it).
"""
from __future__ import annotations

import json
import os
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from app import deps

STARTED = time.time()
WARMUP_SECONDS = float(os.environ.get("WARMUP_SECONDS") or 0)


def warming_up() -> bool:
    return time.time() - STARTED < WARMUP_SECONDS


def info() -> dict:
    return {
        "service": "course-api",
        "version": os.environ.get("APP_VERSION", "dev"),
        "environment": os.environ.get("APP_ENV", "development"),
        "hostname": socket.gethostname(),
        "uid": os.getuid(),
        "uptime_seconds": round(time.time() - STARTED, 1),
    }


def readiness() -> tuple[bool, dict]:
    checks = deps.check_all()
    return all(c["ok"] for c in checks.values()), checks


class Handler(BaseHTTPRequestHandler):
    server_version = "course-api"

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/health/live":
            self._send(200, {"status": "alive"})
        elif warming_up():
            self._send(503, {"status": "warming up", "seconds_left": round(WARMUP_SECONDS - (time.time() - STARTED), 1)})
        elif path == "/":
            self._send(200, info())
        elif path in ("/health", "/health/ready"):
            ok, checks = readiness()
            self._send(200 if ok else 503, {"status": "ok" if ok else "degraded", "checks": checks})
        elif path == "/visits":
            self._send(*deps.count_visit())
        else:
            self._send(404, {"error": f"no route {path}"})

    def log_message(self, fmt: str, *args) -> None:
        # One line per request on stdout, so `docker logs` shows traffic: who connected, and the address
        # the client asked for (its Host header: a Service's name or virtual IP, a node port, a pod's IP).
        status = args[1] if len(args) > 1 else ""
        headers = getattr(self, "headers", None)  # none yet when the request line itself was malformed
        host = headers.get("Host", "-") if headers else "-"
        line = f"{self.address_string()} {self.command} {self.path} -> {status} host={host}"
        print(line, flush=True)
        if path := os.environ.get("LOG_FILE"):
            try:
                with open(path, "a") as log:
                    print(line, file=log)
            except OSError as exc:  # a log file it cannot write must never fail the request
                print(f"cannot append to LOG_FILE {path}: {exc}", flush=True)


def serve() -> None:
    port = int(os.environ.get("PORT", "3000"))
    httpd = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"course-api {info()['version']} listening on :{port} as uid {os.getuid()}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
