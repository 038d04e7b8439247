"""A load generator that always stops, for labs 10 and 11: WORKERS loops each send GET URL, one request after
another (PAUSE_MS apart, 0 by default), for SECONDS; every 5 s it prints how many requests were answered and how
many failed.

Usage: python3 load.py URL SECONDS [WORKERS [PAUSE_MS]]. The last line is the total: "total: OK ok, FAILED failed",
then what the failures were when there were any: " (3 HTTP 503, 2 ConnectionRefusedError)".
Exits 0 when every request was answered, 1 otherwise (a rolling update that drops requests shows as failures).
"""
import sys
import threading
import time
import urllib.error
import urllib.request

url, seconds = sys.argv[1], float(sys.argv[2])
workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
pause = int(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.0
end = time.monotonic() + seconds
counts = {"ok": 0, "failed": 0}
errors: dict[str, int] = {}
lock = threading.Lock()


def kind(exc: Exception) -> str:
    """What went wrong, in words that tell causes apart: "HTTP 503" (a pod answered that it cannot serve),
    "ConnectionRefusedError" (nothing listened at the address), "ConnectionResetError", "TimeoutError"..."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = getattr(exc, "reason", None)  # URLError wraps the socket's own error
    return type(reason).__name__ if isinstance(reason, BaseException) else type(exc).__name__


def loop():
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                resp.read()
            outcome = "ok"
        except Exception as exc:  # refused, reset, timed out, an HTTP error: each one a failed request
            outcome = "failed"
            with lock:
                errors[kind(exc)] = errors.get(kind(exc), 0) + 1
        with lock:
            counts[outcome] += 1
        if pause:
            time.sleep(pause)


threads = [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
for t in threads:
    t.start()
began, last = time.monotonic(), dict(counts)
while any(t.is_alive() for t in threads):
    time.sleep(min(5, max(0.1, end - time.monotonic() + 0.1)))
    with lock:
        now = dict(counts)
    print(f"{time.monotonic() - began:5.0f} s: {now['ok'] - last['ok']} ok, {now['failed'] - last['failed']} failed",
          flush=True)
    last = now
detail = f" ({', '.join(f'{n} {k}' for k, n in sorted(errors.items()))})" if errors else ""
print(f"total: {counts['ok']} ok, {counts['failed']} failed{detail}", flush=True)
sys.exit(1 if counts["failed"] else 0)
