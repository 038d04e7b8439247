"""Locks between processes, for work two of them must not do at once.

The offline cluster build holds CLUSTER_BUILD while it runs: a second `labkit cluster build` waits
instead of writing the same binaries and images, and `labkit cluster up` waits for a build under way
rather than asking a registry for a node image that is minutes from existing (CI starts the build,
then runs the Docker labs while it goes on). flock(2): released by the kernel when the holder exits,
however it exits, so a crashed build never leaves a stale lock.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Callable, Iterator

from labkit import config

CLUSTER_BUILD = config.cache_dir("cluster") / "build.lock"
# Held by `labkit cluster up` and `repair`: two of them at once (two terminals, or the test sessions
# of make test-labs) would both run `kind create cluster` under one name; the second waits, then reuses.
CLUSTER_UP = config.cache_dir("cluster") / "up.lock"


@contextlib.contextmanager
def held(path: Path, on_wait: Callable[[str], None] = lambda holder: None) -> Iterator[None]:
    """Hold the lock at `path`; if another process holds it, say so through on_wait(holder's pid)
    and wait for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            on_wait(handle.read().strip() or "?")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def holder(path: Path) -> str | None:
    """The pid holding the lock at `path`, or None when nobody does."""
    if not path.exists():
        return None
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            return handle.read().strip() or "?"
        return None


def addon_build(ref: str) -> Path:
    """Held while the image `ref` of an add-on is built, after the node image (each add-on's lock is let
    go as soon as its images exist): a lab that needs that add-on waits for it, not for the others."""
    return config.cache_dir("cluster") / ("addon-" + "".join(c if c.isalnum() or c in "-." else "_" for c in ref) + ".lock")
