"""A class of simulated students posting check results to a board for a bounded time, one misbehaving client
flooding it meanwhile, and the instructor's page asked for its state throughout: what the load test and
`make bench` measure. Every result a student sent is counted by the board's answer (acknowledged or not),
so the caller can compare with what the database holds."""
from __future__ import annotations

import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

from labkit import labs


@dataclass
class Figures:
    seconds: float = 0.0
    acked: set[str] = field(default_factory=set)     # uids the board acknowledged
    unacked: int = 0                                 # sent, but answered otherwise (or not at all)
    refused_flood: int = 0                           # the flooder's requests answered 429
    flood_sent: int = 0
    page_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def page_p(self, q: float) -> float:
        if not self.page_ms:
            return float("nan")
        return statistics.quantiles(self.page_ms, n=100)[int(q) - 1] if len(self.page_ms) > 1 else self.page_ms[0]

    def summary(self, students: int) -> str:
        return (f"{students} students for {self.seconds:.0f} s: {len(self.acked)} results acknowledged "
                f"({len(self.acked) / self.seconds:.0f}/s), {self.unacked} not; the flooder sent {self.flood_sent} "
                f"requests, {self.refused_flood} refused (429); the page's state answered in median "
                f"{statistics.median(self.page_ms) if self.page_ms else float('nan'):.0f} ms, p95 {self.page_p(95):.0f} ms "
                f"({len(self.page_ms)} asks)")


def _checks() -> list[tuple[str, str]]:
    return [(lab, check) for lab, info in labs.checks_by_lab().items() for check in info["checks"]]


def student(url: str, name: str, token: str, until: float, figures: Figures, pause: float = 0.5,
            stop: threading.Event | None = None) -> None:
    """One student: a result every `pause` seconds (a person runs a check every minute or so; the default is a
    hundred times that), each acknowledged or counted."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    checks = _checks()
    n = 0
    while time.monotonic() < until and not (stop and stop.is_set()):
        lab, check = checks[(hash(name) + n) % len(checks)]
        result = {"uid": uuid.uuid4().hex, "lab": lab, "check": check, "passed": n % 3 == 2,
                  "message": f"try {n}", "hint": f"hint {n % 4}", "at": time.time(), "on_check": 1.0 * n}
        n += 1
        try:
            answer = session.post(f"{url}/api/results", json={"student": name, "results": [result]}, timeout=10)
            ok = answer.status_code == 200 and result["uid"] in answer.json().get("acked", [])
            if not ok:
                with figures.lock:
                    figures.errors.append(f"HTTP {answer.status_code}")
        except requests.RequestException as exc:
            ok = False
            with figures.lock:
                figures.errors.append(exc.__class__.__name__)
        with figures.lock:
            if ok:
                figures.acked.add(result["uid"])
            else:
                figures.unacked += 1
        time.sleep(pause)


def flooder(url: str, name: str, token: str, until: float, figures: Figures) -> None:
    """A broken client: the same student's results as fast as it can send them, never pausing."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    lab, check = _checks()[0]
    while time.monotonic() < until:
        body = {"student": name, "results": [{"uid": uuid.uuid4().hex, "lab": lab, "check": check, "passed": False,
                                              "message": "flood", "hint": "flood", "at": time.time(), "on_check": 0}]}
        try:
            answer = session.post(f"{url}/api/results", json=body, timeout=10)
        except requests.RequestException:
            continue
        with figures.lock:
            figures.flood_sent += 1
            figures.refused_flood += answer.status_code == 429
            if answer.status_code == 200:
                figures.acked.update(answer.json()["acked"])


def instructor(url: str, cookies: dict, until: float, figures: Figures) -> None:
    session = requests.Session()
    session.cookies.update(cookies)
    while time.monotonic() < until:
        began = time.monotonic()
        answer = session.get(f"{url}/api/state", timeout=30)
        if answer.status_code == 200:
            figures.page_ms.append((time.monotonic() - began) * 1000)
        time.sleep(0.25)


def run(url: str, students: dict[str, str], seconds: float, cookies: dict, flood: tuple[str, str] | None = None,
        pause: float = 0.5) -> Figures:
    """`students`: name -> token. Returns when every thread has finished (each stops at the deadline)."""
    figures = Figures()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=student, args=(url, n, t, until, figures, pause)) for n, t in students.items()]
    if flood:
        threads.append(threading.Thread(target=flooder, args=(url, *flood, until, figures)))
    threads.append(threading.Thread(target=instructor, args=(url, cookies, until, figures)))
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    figures.seconds = time.monotonic() - began
    return figures
