"""labkit.loadjob: the load Job's manifest always stops, and its count and window are read back as the checks
of labs 10 and 11 need them. The Job objects are stand-ins; the labs run the real one in every test run."""
from datetime import datetime, timezone
from types import SimpleNamespace

from labkit import loadjob


def when(seconds: float):
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def job(started=None, created=100.0, conditions=()):
    return SimpleNamespace(
        metadata=SimpleNamespace(creation_timestamp=when(created)),
        status=SimpleNamespace(start_time=when(started) if started else None,
                               conditions=[SimpleNamespace(type=t, status=s, last_transition_time=when(at))
                                           for t, s, at in conditions]))


def test_the_manifest_always_stops_and_runs_load_py_with_its_arguments():
    m = loadjob.manifest("http://busy/?ms=10", 60, 2, "loadtools", {"limits": {"cpu": "200m"}},
                         security={"runAsNonRoot": True})
    spec = m["spec"]
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 120  # its own 60 s, and a deadline
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    assert container["command"] == ["python3", "/tools/load.py", "http://busy/?ms=10", "60", "2"]
    assert container["securityContext"] == {"runAsNonRoot": True}
    assert pod["volumes"] == [{"name": "tools", "configMap": {"name": "loadtools"}}]
    plain = loadjob.manifest("http://x/", 5, 1, "t", {})["spec"]["template"]["spec"]["containers"][0]
    assert "securityContext" not in plain and plain["command"][-1] == "1"  # flat out: no pause argument
    paced = loadjob.manifest("http://x/", 5, 4, "t", {}, pause_ms=20)["spec"]["template"]["spec"]["containers"][0]
    assert paced["command"][-2:] == ["4", "20"]


def test_the_window_is_from_its_start_to_its_completion_or_its_deadline():
    assert loadjob.began(job(started=105.0)) == 105.0
    assert loadjob.began(job()) == 100.0  # not started yet: when it was created
    assert loadjob.ended(job(conditions=[("Complete", "True", 170.0)])) == 170.0
    assert loadjob.ended(job(conditions=[("Failed", "True", 180.0)])) == 180.0  # stopped by its deadline
    assert loadjob.ended(job(conditions=[("Complete", "False", 170.0)])) is None
    assert loadjob.ended(None) is None


def test_the_total_line_with_and_without_the_kinds_of_failure():
    m = loadjob.TOTAL.search("  40 s: 900 ok, 3 failed\ntotal: 16063 ok, 7 failed (5 HTTP 503, 2 ConnectionRefusedError)")
    assert m.groups() == ("16063", "7", "5 HTTP 503, 2 ConnectionRefusedError")
    assert loadjob.TOTAL.search("total: 120 ok, 0 failed").groups() == ("120", "0", None)
