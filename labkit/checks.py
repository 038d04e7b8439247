"""Checker API. A lab module registers checks; a notebook cell runs one by name.

A check is a function of the lab's context. It returns a short success message, or
raises `CheckFailed(message, hint)` (usually through `require`). Every check must be
able to fail: the test suite runs it against the unsolved learner notebook.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from labkit import config, daemon, render
from labkit.config import LABEL_LAB
from labkit.errors import LabError, translate


class CheckFailed(AssertionError):
    """A check that found the learner's work not done yet. Carries what is wrong and a hint."""

    def __init__(self, message: str, hint: str = ""):
        self.message, self.hint = message, hint
        super().__init__(f"{message}\n  How to fix: {hint}" if hint else message)


def require(condition: Any, message: str, hint: str = "") -> None:
    if not condition:
        raise CheckFailed(message, hint)


def lab_container(lab, name: str, hint: str):
    """A container this lab created, or a failure saying how to create it (labels included)."""
    ctr = daemon.container(name, hint)
    require(ctr.labels.get(LABEL_LAB) == lab.id,
            f"{name} exists but does not carry this lab's labels, so cleanup would not find it.",
            f"remove it (`docker rm -f {name}`) and recreate it with $LAB_LABELS in the docker command.")
    return ctr


def api_object(read: Callable[[], Any], missing: str, hint: str):
    """An object read from the API server, or a failure saying it is missing and how to create it."""
    from kubernetes import client

    try:
        return read()
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        raise CheckFailed(missing, hint) from None


def ready_pod(lab, name: str, hint: str, namespace: str | None = None):
    """A pod of the lab's cluster, Running and Ready, or a failure saying which it is not (hint: how to create it)."""
    from labkit import cluster

    ns = namespace or lab.kube.namespace
    pod = lab.kube.pod(name, ns)
    require(pod is not None, f"there is no pod {name} in namespace {ns}.", hint)
    require(pod.status.phase == "Running" and cluster.has_condition(pod, "Ready"),
            f"pod {name} is {pod.status.phase} and not Ready.",
            f"read why at the bottom of `kubectl -n {ns} describe pod {name}` (its events: a claim Pending? an image? "
            "a probe?).")
    return pod


@dataclass
class Check:
    name: str
    title: str
    func: Callable[[Any], str]


@dataclass
class Result:
    check: Check
    ok: bool
    message: str
    hint: str = ""

    def _repr_html_(self) -> str:
        return render.card_html(self.check.title, self.message, self.hint, self.ok)

    def __str__(self) -> str:
        return render.card_text(self.check.title, self.message, self.hint, self.ok)


class Checks:
    """The ordered set of checks of one lab."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def __call__(self, name: str, title: str):
        def register(func: Callable[[Any], str]) -> Callable[[Any], str]:
            if name in self._checks:
                raise ValueError(f"check {name!r} registered twice")
            self._checks[name] = Check(name, title, func)
            return func

        return register

    def names(self) -> list[str]:
        return list(self._checks)

    def get(self, name: str) -> Check:
        try:
            return self._checks[name]
        except KeyError:
            raise LabError(f"This lab has no check called {name!r}.", f"use one of: {', '.join(self._checks)}.") from None

    def run(self, name: str, ctx: Any) -> Result:
        check = self.get(name)
        try:
            message = check.func(ctx) or "done"
            return Result(check, True, message)
        except CheckFailed as failed:
            return Result(check, False, failed.message, failed.hint)
        except Exception as exc:
            # The environment, not the learner's work, is wrong (daemon down, cluster gone...): same
            # card, its fix as hint. Anything else is a bug in the check and keeps its traceback.
            err = translate(exc)
            if err is None:
                raise
            return Result(check, False, err.problem, err.fix)


def report(result: Result, raise_on_fail: bool | None = None) -> Result:
    """Show a result; in headless runs a failure raises so the notebook run fails."""
    render.show_card(result.check.title, result.message, result.hint, result.ok)
    if raise_on_fail is None:
        raise_on_fail = config.headless()
    if not result.ok and raise_on_fail:
        raise CheckFailed(f"[{result.check.name}] {result.message}", result.hint)
    return result
