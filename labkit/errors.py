"""Expected problems, each said in one sentence with a fix, never as a traceback.

`LabError` is the base: its message is what the learner reads. In a notebook the
handler installed by `install_handler` prints just that message; headless runs
(tests, CI, the CLI) see a normal exception carrying the same text.
"""
from __future__ import annotations

import re
from typing import Callable

from labkit.render import ipython, show_error


class LabError(Exception):
    """An expected problem the learner can fix. str(e) is the whole message."""

    def __init__(self, problem: str, fix: str = ""):
        self.problem, self.fix = problem, fix
        super().__init__(f"{problem} Fix: {fix}" if fix else problem)


class DaemonUnavailable(LabError):
    pass


class ResourceMissing(LabError):
    pass


class CommandFailed(LabError):
    pass


class LabNotStarted(LabError):
    """A cell run after the lab's first cell failed: says why the lab did not start, once more."""


# Docker CLI / API error text -> (one-sentence problem, fix). Order matters: first match wins.
_DOCKER_ERRORS: list[tuple[str, str, str]] = [
    (r"Cannot connect to the Docker daemon|docker\.sock.*(connection refused|no such file)|Error while fetching server API version",
     "The Docker daemon is not reachable.",
     "start Docker (Docker Desktop on macOS/Windows, `sudo systemctl start docker` on Linux), then rerun this cell."),
    (r"permission denied.*docker\.sock",
     "You are not allowed to talk to the Docker daemon.",
     "add yourself to the docker group (`sudo usermod -aG docker $USER`), log out and in, then rerun."),
    (r"No such image: ([^\s]+)",
     "There is no image {0} on this machine.",
     "build it (or pull it) first, and check the name and tag for typos."),
    (r"Unable to find image '([^']+)' locally[\s\S]*(?:dial tcp|lookup |i/o timeout|connection refused|no such host)",
     "The image {0} is not on this machine, and no registry can be reached to pull it.",
     "if this lab builds it, run the build cells above first; if it is an official image, run "
     "`make offline-images` (no registry here) or check your network."),
    (r"pull access denied for ([^\s,]+)|manifest for ([^\s]+) not found|repository ([^\s]+) not found",
     "The image {0} does not exist locally and could not be pulled.",
     "check the spelling and tag of the image name; offline (no registry) run `make offline-images` first."),
    (r"(?:dial tcp|lookup) .*(?:no such host|i/o timeout|connection refused)|net/http: request canceled",
     "The registry could not be reached to pull an image.",
     "check your network, or work offline with `make offline-images` (see the set-up guide)."),
    (r'container name "/?([^"]+)" is already in use',
     "A container named {0} already exists.",
     "remove it first (`docker rm -f {0}`) or rerun the lab's cleanup cell."),
    (r"port is already allocated|address already in use|Bind for [^ ]+:(\d+) failed",
     "The host port is already used by another container or program.",
     "stop whatever uses it (`docker ps` shows containers and their ports) or publish a different host port."),
    (r"No such container: ([^\s]+)",
     "There is no container named {0}.",
     "run the exercise cell that starts it first (check the name for typos)."),
    (r"unknown instruction: (\S+)",
     "The Dockerfile has an instruction Docker does not know ({0}).",
     "check its spelling: FROM, RUN, COPY, WORKDIR, ENV, ARG, USER, EXPOSE, HEALTHCHECK, CMD ..."),
    (r"dockerfile parse error (line \d+)",
     "The Dockerfile cannot be parsed ({0}).",
     "look at that line: a missing backslash at the end of a continued line is the usual cause."),
    (r"the Dockerfile \(.*\) cannot be empty|file with no instructions|Cannot locate specified Dockerfile|failed to read dockerfile",
     "There is no Dockerfile to build (it is missing or empty).",
     "write the Dockerfile in the exercise cell above and run that cell, then build again."),
]


_IMAGE_PROBLEMS = ("There is no image", "The image")


def explain_docker_error(text: str, images: Callable[[], list[str]] | None = None) -> LabError | None:
    """Turn raw docker output into a LabError, or None when it is nothing we recognise.
    `images` lists the local image names: an unknown image one typo away from one of them gets a
    "did you mean ...?" (asked only when the error is about an image)."""
    for pattern, problem, fix in _DOCKER_ERRORS:
        m = re.search(pattern, text, re.IGNORECASE)
        if m:
            groups = [g for g in m.groups() if g] or ["(unknown)"]
            fix = fix.format(*groups)
            if images is not None and problem.startswith(_IMAGE_PROBLEMS):
                close = similar_image(groups[0], images())
                if close:
                    fix = f"did you mean {close}? " + fix
            return LabError(problem.format(*groups), fix)
    return None


def _repository(ref: str) -> str:
    """An image reference without its tag or digest and without Docker Hub's implicit prefix."""
    ref = ref.split("@")[0]
    head, _, tail = ref.rpartition(":")
    ref = head if head and "/" not in tail else ref
    return re.sub(r"^(docker\.io/)?(library/)?", "", ref)


def similar_image(wanted: str, present: list[str]) -> str | None:
    """The local image whose repository is closest to `wanted`'s, when one typo or so apart."""
    import difflib

    repos: dict[str, list[str]] = {}
    for ref in present:
        repos.setdefault(_repository(ref), []).append(ref)
    target = _repository(wanted)
    if target in repos:  # the repository exists: the tag is what is wrong
        return ", ".join(sorted(repos[target])[:3])
    match = difflib.get_close_matches(target, list(repos), n=1, cutoff=0.8)
    return ", ".join(sorted(repos[match[0]])[:3]) if match else None


def why_unreachable(exc: BaseException) -> str:
    """One phrase for why an HTTP client got no answer (urllib3's MaxRetryError wraps the cause in a
    long repr that means nothing to a learner)."""
    text = f"{exc!r} {getattr(exc, 'reason', '')}"
    for needles, phrase in ((("Connection refused",), "nothing listens on its port (its node container is stopped, "
                                                        "or Docker restarted and the cluster did not come back)"),
                            (("timed out", "Timeout"), "it accepted no connection in time (still starting, or its "
                                                       "node is stuck)"),
                            (("CERTIFICATE_VERIFY_FAILED",), "its certificate is not the one your kubeconfig trusts "
                                                             "(the cluster was recreated: refresh the kubeconfig)"),
                            (("Name or service not known",), "its host name does not resolve"),
                            (("No route to host",), "there is no route to its address"),
                            (("SSLError", "EOF occurred", "UNEXPECTED_EOF", "Connection reset", "RemoteDisconnected"),
                             "it dropped the connection before answering (it is still starting, or restarting)")):
        if any(n in text for n in needles):
            return phrase
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason.strip():  # some errors carry their cause as plain text
        return reason.strip()[:160]
    return type(reason or exc).__name__


def translate(exc: BaseException) -> LabError | None:
    """A LabError for exceptions the environment causes (cluster API errors, a cluster that does
    not answer), or None for anything else, which is a bug and keeps its traceback."""
    if isinstance(exc, LabError):
        return exc
    names = {kind.__name__ for kind in type(exc).__mro__}  # kubernetes raises subclasses (NotFoundException...)
    if "ApiException" in names:
        return explain_api_error(exc)
    if names & {"MaxRetryError", "NewConnectionError", "ProtocolError"}:
        return LabError(f"The course cluster's API server does not answer: {why_unreachable(exc)}.",
                        "start the cluster with `make cluster` (`docker ps` should list its node containers), "
                        "then rerun this cell.")
    return None


def friendly(func):
    """For toolkit functions notebook cells call: environment errors (a cluster API error, a cluster
    that does not answer) leave as one LabError, in headless runs too, where no IPython handler is."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except LabError:
            raise
        except Exception as exc:
            err = translate(exc)
            if err is None:
                raise
            raise err from None
    return wrapper


def _translatable() -> tuple[type, ...]:
    kinds: list[type] = [LabError]
    try:
        from kubernetes.client import ApiException
        from urllib3.exceptions import MaxRetryError, ProtocolError

        kinds += [ApiException, MaxRetryError, ProtocolError]
    except ImportError:
        pass
    return tuple(kinds)


def install_handler() -> None:
    """In IPython, show LabError (and cluster errors, translated) as one message, not a traceback."""
    ip = ipython()
    if ip is None:
        return

    def _show(shell, etype, value, tb, tb_offset=None):
        error = translate(value) or value
        show_error(error)
        return ["LabError: " + str(error)]

    ip.set_custom_exc(_translatable(), _show)


_API_FIXES = {
    401: "your kubeconfig's credentials were refused: recreate the cluster (`make cluster-down cluster`).",
    403: "the course context lacks permission for this: use the kind cluster's admin context.",
    404: "create it first (see the cell above), or check the name and namespace.",
    409: "it exists already: delete it first or use another name.",
    422: "fix the field it names and apply again.",
}


def explain_api_error(exc) -> LabError:
    """A Kubernetes API error (kubernetes.client.ApiException) as one sentence and a fix: the API
    server's own reason, field by field for a rejected object, never the raw Status dump."""
    import json

    try:
        status = json.loads(exc.body)
    except (TypeError, ValueError):
        status = {}
    message = status.get("message") or exc.reason or ""
    causes = [c for c in (status.get("details") or {}).get("causes") or [] if c.get("field") or c.get("message")]
    if causes:
        details = status["details"]
        what = " ".join(x for x in (details.get("kind"), details.get("name")) if x) or "the object"
        said = "; ".join(f"{c.get('field', '')}: {c.get('message', '')}".strip(": ") for c in causes[:4])
        message = f"it rejected {what}: {said}"
    # Decoding errors quote the object as a Go map: keep the sentence before the dump.
    message = re.split(r"\s*(?:map\[|&\w+\{)", message, maxsplit=1)[0].rstrip(" :,")
    return LabError(f"The Kubernetes API said {exc.status}: {message}.",
                    _API_FIXES.get(exc.status, "check `kubectl get events -A` and rerun."))
