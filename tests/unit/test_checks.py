import pytest

from labkit import checks
from labkit.errors import ResourceMissing


def make():
    c = checks.Checks()

    @c("ok", "A passing check")
    def ok(ctx):
        return "fine"

    @c("bad", "A failing check")
    def bad(ctx):
        checks.require(ctx["value"] == 1, f"value is {ctx['value']}", "set it to 1")
        return "value is 1"

    @c("env", "An environment problem")
    def env(ctx):
        raise ResourceMissing("There is no container named x.", "run the cell that creates it.")

    return c


def test_results_carry_message_and_hint():
    c = make()
    assert c.run("ok", {}).ok
    r = c.run("bad", {"value": 2})
    assert (r.ok, r.message, r.hint) == (False, "value is 2", "set it to 1")
    assert c.run("bad", {"value": 1}).ok
    r = c.run("env", {})
    assert not r.ok and r.hint == "run the cell that creates it."


def test_headless_report_raises_with_hint_and_interactive_does_not(capsys):
    r = make().run("bad", {"value": 2})
    with pytest.raises(checks.CheckFailed, match="How to fix: set it to 1"):
        checks.report(r, raise_on_fail=True)
    assert checks.report(r, raise_on_fail=False) is r
    assert "NOT YET" in capsys.readouterr().out


def test_card_html_escapes_and_shows_hint():
    r = make().run("bad", {"value": "<b>"})
    html = r._repr_html_()
    assert "&lt;b&gt;" in html and "How to fix" in html


def test_unknown_and_duplicate_checks_are_errors():
    c = make()
    with pytest.raises(Exception, match="no check called"):
        c.get("nope")
    with pytest.raises(ValueError):
        c("ok", "again")(lambda ctx: "")


def test_a_gateway_no_controller_has_answered_yet_is_told_apart_from_one_it_refused():
    """Right after `kubectl apply`, a Gateway carries the CRD's default status (Unknown, Pending): the
    hint says to wait for the controller, not to debug the Gateway; a refusal keeps the reason it gave."""
    from labkit.labs import lab07

    pending = [{"type": "Accepted", "status": "Unknown", "reason": "Pending", "message": "Waiting for controller"}]
    with pytest.raises(checks.CheckFailed) as failed:
        lab07._require_true(pending, "Accepted", "Gateway shop", "read `kubectl -n $NS describe gateway shop`.")
    assert "no controller has answered yet" in str(failed.value) and "kubectl -n $NS wait gateway/shop" in str(failed.value)
    refused = [{"type": "Accepted", "status": "False", "reason": "InvalidParameters", "message": "bad listener"}]
    with pytest.raises(checks.CheckFailed) as failed:
        lab07._require_true(refused, "Accepted", "Gateway shop", "read `kubectl -n $NS describe gateway shop`.")
    assert "InvalidParameters, bad listener" in str(failed.value) and "describe gateway shop" in str(failed.value)
    assert "no controller" not in str(failed.value)
    lab07._require_true([{"type": "Accepted", "status": "True"}], "Accepted", "Gateway shop", "")


def test_a_route_written_seconds_ago_gets_traefik_s_reload_time_and_an_old_one_none(monkeypatch):
    """Traefik loads a changed route up to 2 s later: a check right after `kubectl apply` waits for
    the rest of TRAEFIK_SETTLE (told, never longer), and one long after does not wait at all."""
    import time
    from datetime import datetime, timezone

    from labkit.labs import lab07

    def written(seconds_ago, manager="kubectl-client-side-apply", subresource=None):
        when = datetime.fromtimestamp(time.time() - seconds_ago, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        entry = {"manager": manager, "time": when} | ({"subresource": subresource} if subresource else {})
        return entry

    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    fresh = {"metadata": {"managedFields": [written(600), written(2)]}}
    status_only = {"metadata": {"managedFields": [written(600), written(0, "traefik", "status")]}}
    assert lab07._let_traefik_load(fresh, status_only) and 1.5 < slept[0] <= lab07.TRAEFIK_SETTLE
    assert not lab07._let_traefik_load(status_only) and len(slept) == 1
    ahead = {"metadata": {"managedFields": [written(-3600)]}}  # a node clock an hour ahead
    assert lab07._let_traefik_load(ahead) and slept[1] == lab07.TRAEFIK_SETTLE
