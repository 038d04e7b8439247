"""A pinned release (labkit.releases) downloaded and installed as one file: progress shown, a transfer that
stalls or breaks resumed once from where it stopped, and the file checked against the checksum file the
release publishes beside it before it takes its place. Whatever goes wrong, nothing is installed, and
the error is one sentence.

requests does the HTTP and tqdm the progress bar: both are dependencies the labs use already.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import requests
from tqdm import tqdm

from labkit.errors import LabError
from labkit.releases import Release

CONNECT_TIMEOUT = 15.0
STALL_TIMEOUT = 30.0  # seconds without a byte: the transfer has stalled
CHUNK = 1 << 16
_SHA256 = re.compile(r"[0-9a-f]{64}")


class DownloadFailed(LabError):
    """A release that could not be installed. `mismatch`: it arrived but is not what the release published
    (never fall back silently: a network that alters downloads is something to know)."""

    def __init__(self, problem: str, fix: str, brief: str, mismatch: bool = False):
        super().__init__(problem, fix)
        self.brief = brief  # a few words for a list of what was tried ("no connection to dl.k8s.io")
        self.mismatch = mismatch


def install(release: Release, dest: Path, stall_timeout: float = STALL_TIMEOUT, log=print) -> str:
    """Download `release` to `dest` (a file path, made executable), verified; returns its SHA-256."""
    what = f"{release.tool} {release.version} ({release.platform})"
    expected = expected_sha256(_text(release.checksum_url, what, stall_timeout), release)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.part")
    part.unlink(missing_ok=True)
    try:
        _fetch(release.url, part, what, stall_timeout, log)
        actual = _sha256(part)
        if actual != expected:
            raise DownloadFailed(
                f"The download of {what} does not match the checksum its release publishes "
                f"({actual[:12]}… instead of {expected[:12]}…), so nothing was installed.",
                "rerun `make setup`; if it happens again, something between you and the release site alters "
                "downloads (a proxy or a captive portal): download from another network.", "its checksum did not match", mismatch=True)
        part.chmod(0o755)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    log(f"installed {what} at {dest} (SHA-256 {expected[:12]}… verified against {release.checksum_url})")
    return expected


def expected_sha256(text: str, release: Release) -> str:
    """The file's hash from its checksum file: the hash alone ("bare"), or the line naming the file in
    `sha256sum` format ("<hash>  <file>", or "<hash> *<file>" for binary mode)."""
    found = ""
    if release.checksum_format == "bare":
        found = (text.split() or [""])[0]
    else:
        for line in text.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[1].lstrip("*") == release.filename:
                found = fields[0]
                break
    if not _SHA256.fullmatch(found.lower()):
        raise DownloadFailed(f"The checksum file {release.checksum_url} holds no SHA-256 for {release.filename}, "
                             "so nothing was installed.",
                             "check the version and URLs in labkit/releases.toml against the release's page.",
                             f"no checksum for it in {release.checksum_url}")
    return found.lower()


def _text(url: str, what: str, stall_timeout: float) -> str:
    try:
        answer = requests.get(url, timeout=(CONNECT_TIMEOUT, stall_timeout))
    except requests.RequestException as exc:
        raise _unreachable(url, what, exc) from None
    _refuse_status(answer, url, what)
    return answer.text


def _fetch(url: str, part: Path, what: str, stall_timeout: float, log) -> None:
    for attempt in (1, 2):
        have = part.stat().st_size if part.exists() else 0
        try:
            with requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT, stall_timeout),
                              headers={"Range": f"bytes={have}-"} if have else {}) as answer:
                _refuse_status(answer, url, what)
                if have and answer.status_code != 206:  # the server ignored the range: start again
                    have = 0
                size = int(answer.headers.get("Content-Length", 0))
                total = have + size if size else None
                with open(part, "ab" if have else "wb") as out, \
                        tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=what, disable=None) as bar:
                    for chunk in answer.iter_content(CHUNK):
                        out.write(chunk)
                        bar.update(len(chunk))
            if total is None or part.stat().st_size >= total:
                return
            reason = f"the connection closed after {part.stat().st_size} of {total} bytes"
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            if (part.stat().st_size if part.exists() else 0) == have and not _stalled(exc):
                raise _unreachable(url, what, exc) from None  # refused or unresolved: no network, no retry
            reason = f"no data for {stall_timeout:g} s" if _stalled(exc) else "the connection closed early"
        if attempt == 1:
            log(f"the download of {what} was interrupted ({reason}): resuming once, from byte "
                f"{part.stat().st_size if part.exists() else 0}")
    raise DownloadFailed(f"The download of {what} from {url} broke off twice ({reason}), so nothing was installed.",
                         "check your connection (a slow or flaky network: try again later) and rerun `make setup`.",
                         f"the download from {_host(url)} broke off twice ({reason})")


def _stalled(exc: Exception) -> bool:
    return isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower()


def _refuse_status(answer: requests.Response, url: str, what: str) -> None:
    if answer.status_code == 404:
        raise DownloadFailed(f"There is no {what} at {url} (HTTP 404): the release publishes no file for "
                             "this platform, or the URL in labkit/releases.toml is wrong.",
                             "on a platform the release does not cover, install the tool yourself, or install "
                             "Go and rerun `make setup` to build it.", f"no file for it at {url} (HTTP 404)")
    if answer.status_code >= 400:
        raise DownloadFailed(f"The release site answered HTTP {answer.status_code} for {url}, so {what} was not "
                             "installed.", "try again later, then rerun `make setup`.",
                             f"HTTP {answer.status_code} from {_host(url)}")


def _unreachable(url: str, what: str, exc: Exception) -> DownloadFailed:
    host = _host(url)
    cause = "time-out" if _stalled(exc) else "no connection"
    return DownloadFailed(f"Could not reach {host} to download {what} ({cause}).",
                          "connect to the internet and rerun `make setup`.", f"{cause} to {host}")


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()
