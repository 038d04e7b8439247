"""Name lookups and HTTP requests made from inside a pod (through the API server's exec), each failure
named the way a learner must tell them apart: no such name (NXDOMAIN), no answer from the name server,
a refused connection, a time-out.

The probe is a short Python program run by the pod's own `python3`: its lookups go through the pod's
resolver (glibc, /etc/resolv.conf: the search list, ndots), exactly as the pod's applications' do.
Lab 09 reads names and services with it; any lab whose pods have Python can.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

# Runs inside the pod: `python3 -c PROBE resolve NAME` or `python3 -c PROBE get URL`. Prints one JSON object.
PROBE = r"""
import json, socket, sys, urllib.request
what, target = sys.argv[1], sys.argv[2]
def failure(exc):
    reason = getattr(exc, "reason", None)
    exc = reason if isinstance(reason, BaseException) else exc
    if isinstance(exc, socket.gaierror):
        return {socket.EAI_NONAME: "no-such-name", socket.EAI_AGAIN: "no-answer"}.get(exc.errno, "lookup-failed")
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    return "error"
try:
    if what == "resolve":
        found = socket.getaddrinfo(target, None, socket.AF_INET, socket.SOCK_STREAM)
        print(json.dumps({"ok": True, "addresses": sorted({a[4][0] for a in found})}))
    else:
        with urllib.request.urlopen(target, timeout=3) as reply:
            print(json.dumps({"ok": True, "status": reply.status, "body": reply.read().decode().strip()}))
except Exception as exc:
    print(json.dumps({"ok": False, "failure": failure(exc), "detail": str(exc)[:200]}))
"""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    addresses: tuple[str, ...] = ()
    status: int = 0
    body: str = ""
    failure: str = ""   # no-such-name, no-answer, lookup-failed, refused, timeout, error
    detail: str = ""

    def said(self) -> str:
        """The failure in the words a learner sees in a terminal."""
        return {"no-such-name": "no such name (NXDOMAIN)",
                "no-answer": "no answer from the name server",
                "lookup-failed": "the lookup failed",
                "refused": "connection refused",
                "timeout": "timed out"}.get(self.failure, self.detail or self.failure)


def parse(output: str) -> Outcome:
    """The probe's JSON line, as an Outcome (anything else: an error carrying the output)."""
    try:
        data = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Outcome(False, failure="error", detail=output.strip()[-200:] or "no output")
    return Outcome(bool(data.get("ok")), tuple(data.get("addresses", ())), int(data.get("status", 0)),
                   data.get("body", ""), data.get("failure", ""), data.get("detail", ""))


def _run(kube, pod: str, namespace: str | None, what: str, target: str) -> Outcome:
    code, out, err = kube.exec(pod, ["python3", "-c", PROBE, what, target], namespace=namespace, timeout=30)
    return parse(out) if out.strip() else Outcome(False, failure="error", detail=(err or f"exit {code}").strip()[-200:])


def resolve(kube, pod: str, name: str, namespace: str | None = None) -> Outcome:
    """The IPv4 addresses `name` has for the pod's resolver."""
    return _run(kube, pod, namespace, "resolve", name)


def get(kube, pod: str, url: str, namespace: str | None = None) -> Outcome:
    """An HTTP GET of `url` from the pod (3 s time-out): its status and body."""
    return _run(kube, pod, namespace, "get", url)
