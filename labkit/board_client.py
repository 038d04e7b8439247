"""A learner's side of a class board: `labkit join URL CODE` once, then every check result recorded in the
journal is sent to the board in the background. With no board joined, or the board unreachable, nothing
changes for the learner: results wait in the journal's queue and go with the next one that gets through.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from labkit import config, journal
from labkit.errors import LabError

SEND_TIMEOUT = (2.0, 5.0)  # connect, read: a background send, never waited for by a check
_sending = threading.Lock()


def membership_file() -> Path:
    return config.data_dir() / "board.json"


def membership() -> dict | None:
    try:
        return json.loads(membership_file().read_text())
    except (OSError, ValueError):
        return None


def join(url: str, code: str) -> dict:
    """Exchange an instructor's join code for this learner's token, kept in the data folder (mode 600)."""
    import requests

    url = url.rstrip("/")
    try:
        answer = requests.post(f"{url}/api/join", json={"code": code}, timeout=10)
    except requests.RequestException as exc:
        raise LabError(f"Could not reach the board at {url} ({exc.__class__.__name__}).",
                       "check the address your instructor gave (with http:// and the port) and that you are on "
                       "the class's network, then run `labkit join` again.") from None
    if answer.status_code != 200:
        raise LabError(f"The board refused the code: {_why(answer)}", "ask your instructor for a new join code.")
    joined = {"url": url, **answer.json()}
    path = membership_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(json.dumps(joined, indent=2))
    return joined


def leave() -> bool:
    try:
        membership_file().unlink()
        return True
    except FileNotFoundError:
        return False


def send_pending(joined: dict | None = None, batch: int = 100) -> tuple[int, str]:
    """Send what the journal holds unsent; returns (how many the board acknowledged, why it stopped or "")."""
    import requests

    joined = joined or membership()
    if not joined:
        return 0, "no board joined"
    sent = 0
    with _sending:
        while pending := journal.unsent(batch):
            try:
                answer = _post(joined, pending)
                if answer.status_code == 422:
                    # One of them names a check this board does not know (an older toolkit there): each alone,
                    # and those it refuses are skipped, not resent for ever.
                    for entry in pending:
                        alone = _post(joined, [entry])
                        if alone.status_code not in (200, 422):
                            return sent, _why(alone)
                        journal.mark_sent([entry.uid])
                        sent += alone.status_code == 200
                    continue
            except requests.RequestException as exc:
                return sent, f"the board did not answer ({exc.__class__.__name__})"
            if answer.status_code != 200:
                return sent, _why(answer)
            journal.mark_sent(answer.json()["acked"])
            sent += len(pending)
    return sent, ""


def _post(joined: dict, entries: list[journal.Entry]):
    import requests

    return requests.post(f"{joined['url']}/api/results", timeout=SEND_TIMEOUT,
                         headers={"Authorization": f"Bearer {joined['token']}"},
                         json={"student": joined["student"], "results": [e.as_json() for e in entries]})


def send_soon() -> None:
    """Send in a background thread, if a board is joined and no send is under way: a check never waits."""
    joined = membership()
    if joined and not _sending.locked():
        threading.Thread(target=send_pending, args=(joined,), daemon=True, name="labkit-board-send").start()


def _why(answer) -> str:
    try:
        return answer.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {answer.status_code}"
