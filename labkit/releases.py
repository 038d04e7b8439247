"""The releases a learner's machine downloads, as `releases.toml` pins them: which file for this machine's OS
and architecture, from where, checked against which checksum file; kind's node image and the add-ons'
images by digest."""
from __future__ import annotations

import os
import platform
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from labkit.errors import LabError

DATA = Path(__file__).with_name("releases.toml")
# A base URL that serves every release site's files under <base>/<host>/<path>: a classroom's local copy,
# or the tests' local server standing in for the release sites.
MIRROR_ENV = "LABKIT_RELEASES_MIRROR"
# "never": a tool missing from PATH is built with Go, never downloaded (CI: this machine reaches no release site).
DOWNLOADS_ENV = "LABKIT_DOWNLOADS"


@cache
def _data() -> dict:
    return tomllib.loads(DATA.read_text())


@dataclass(frozen=True)
class Release:
    tool: str
    version: str
    platform: str           # "linux/amd64"
    url: str
    checksum_url: str
    checksum_format: str    # "bare" or "sha256sum"

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}  # what Linux calls them; macOS says arm64 already


def machine() -> str:
    """This machine as release files name it: "linux/amd64", "darwin/arm64". An architecture no table knows
    is passed on as it is (its download then fails with the release site's own 404)."""
    system = platform.system()
    os_name = {"Linux": "linux", "Darwin": "darwin"}.get(system)
    if os_name is None:
        raise LabError(f"The course's tools have no release for {system}.",
                       "on Windows, run the course inside WSL 2 (a Linux distribution), with Docker Desktop's "
                       "WSL integration turned on.")
    arch = platform.machine().lower()
    return f"{os_name}/{_ARCH.get(arch, arch)}"


def version(tool: str) -> str:
    return _data()["tools"][tool]["version"]


def release(tool: str, on: str | None = None, mirror: str | None = None) -> Release:
    """The pinned release of `tool` for the platform `on` (default: this machine)."""
    spec = _data()["tools"][tool]
    on = on or machine()
    os_name, arch = on.split("/")
    fields = {"version": spec["version"], "os": os_name, "arch": spec.get("arch", {}).get(arch, arch)}
    url = spec["url"].format(**fields)
    checksum = spec["checksum"].format(url=url, **fields)
    mirror = os.environ.get(MIRROR_ENV, "") if mirror is None else mirror
    if mirror:
        url, checksum = _mirrored(url, mirror), _mirrored(checksum, mirror)
    return Release(tool, spec["version"], on, url, checksum, spec["checksum_format"])


def _mirrored(url: str, mirror: str) -> str:
    parts = urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"


def downloads_allowed() -> tuple[bool, str]:
    """(may tools be downloaded, and if not, why not in a few words)."""
    if os.environ.get(DOWNLOADS_ENV, "").lower() == "never":
        return False, f"downloads turned off ({DOWNLOADS_ENV}=never)"
    return True, ""


def node_image() -> str:
    """kind's published node image for the course's Kubernetes version, by digest."""
    return _data()["node_image"]["ref"]


def pinned(image: str) -> str:
    """An add-on image as a cluster that pulls it should name it: by digest when releases.toml has one."""
    digest = _data()["image_digests"].get(image)
    return f"{image}@{digest}" if digest else image
