"""%%shell's runner: output echoed as it arrives (a progress bar redraws its line without a newline), and a
failure explained in one sentence."""
from __future__ import annotations

import contextlib
import io
import time

import pytest

from labkit import shell
from labkit.errors import CommandFailed


class Timed(io.StringIO):
    """stdout that notes when each piece was written."""

    def __init__(self):
        super().__init__()
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((time.monotonic(), text))
        return super().write(text)


def test_a_progress_line_without_a_newline_is_shown_while_the_command_still_runs():
    out = Timed()
    with contextlib.redirect_stdout(out):
        began = time.monotonic()
        shell.run("printf 'waiting for pod/api: 1/90s\\r'; sleep 1.5; printf 'pod/api ready\\n'")
        ended = time.monotonic()
    bar = next(when for when, text in out.writes if "waiting for pod/api" in text)
    assert bar - began < 1.0 and ended - bar > 1.0, "the bar only appeared when the command ended"
    assert out.getvalue() == "waiting for pod/api: 1/90s\rpod/api ready\n"


def test_a_labkit_error_after_a_cleared_bar_is_the_sentence_the_learner_gets():
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(CommandFailed) as err:
        shell.run("printf 'waiting: 3/90s\\r          \\r'; echo '✘ The pod api is crash-looping. Fix: read its logs.'; exit 2")
    assert err.value.problem == "The pod api is crash-looping." and err.value.fix == "read its logs."


def test_text_split_across_reads_is_decoded_whole():
    with contextlib.redirect_stdout(io.StringIO()) as out:
        shell.run("printf '\\xe2\\x9c'; sleep 0.2; printf '\\x94 passed\\n'")
    assert out.getvalue() == "✔ passed\n"
