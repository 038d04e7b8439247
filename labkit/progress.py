"""Waiting with a timeout and visible progress (a widget in Jupyter, a text bar elsewhere)."""
from __future__ import annotations

import time
from typing import Callable

from labkit import config
from labkit.errors import LabError


class WaitTimedOut(LabError):
    pass


DOCKER_FIX = "look at `docker ps -a` and `docker logs <name>`, fix the cause and rerun."


def wait_until(probe: Callable[[], tuple[object, str]], what: str, timeout: float = 60, interval: float = 0.5,
               fix: str = DOCKER_FIX, abort_fix: str = "look at its logs (`docker logs <name>`) to see why.") -> str:
    """Poll `probe` until it returns (True, detail). Return the last detail.

    `probe` returns (done, detail): done is True when finished, a string to abort with that reason
    (e.g. "exited"), anything else to keep waiting. The bar's total is the timeout in seconds.
    """
    from tqdm.auto import tqdm

    start = time.monotonic()
    detail = ""
    import sys

    quiet = config.headless() and not sys.stderr.isatty()  # no bar spam in CI logs
    with tqdm(total=int(timeout), desc=f"waiting for {what}", unit="s", leave=False, disable=quiet,
              bar_format="{desc}: {n_fmt}/{total_fmt}s {postfix}") as bar:
        while True:
            done, detail = probe()
            bar.set_postfix_str(str(detail))
            bar.n = min(int(time.monotonic() - start), int(timeout))
            bar.refresh()
            if done is True:
                return detail
            if isinstance(done, str):
                raise LabError(f"Stopped waiting for {what}: it is {done} ({detail}).", abort_fix)
            if time.monotonic() - start > timeout:
                raise WaitTimedOut(f"{what} did not happen within {timeout:.0f}s (last state: {detail}).", fix)
            time.sleep(interval)
