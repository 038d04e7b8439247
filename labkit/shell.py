"""The %%shell cell magic: run a bash script as a learner would in a terminal.

Why not IPython's %%bash: we want strict mode (stop at the first failing command),
the lab's labels in $LAB_LABELS, output streamed live, and a failed docker command
explained in one sentence instead of a CalledProcessError traceback.
"""
from __future__ import annotations

import codecs
import os
import subprocess

from labkit import daemon
from labkit.errors import CommandFailed, explain_docker_error
from labkit.render import ipython


LABKIT_ERROR = "✘ "  # how the labkit command line prints a LabError (cli.main)


def run(script: str, env: dict[str, str] | None = None, cwd: str | None = None) -> str:
    """Run `script` under `bash -euo pipefail`, echoing its output as it comes; return the output.

    Echoed as it arrives, not line by line: a progress bar (`labkit wait`) redraws its line with a carriage
    return and no newline, and line by line a learner would see nothing until the wait was over."""
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=cwd, bufsize=0)
    assert proc.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    chunks = []
    while data := os.read(proc.stdout.fileno(), 65536):
        if text := decoder.decode(data):
            print(text, end="", flush=True)
            chunks.append(text)
    chunks.append(decoder.decode(b"", final=True))
    proc.stdout.close()
    code = proc.wait()
    output = "".join(chunks)
    if code != 0:
        tail = output.splitlines(keepends=True)[-40:]  # \r ends a line too: a cleared bar is not the last line
        text = "".join(tail)
        known = explain_docker_error(text, images=daemon.image_names)
        if known is not None:
            raise CommandFailed(known.problem, known.fix)
        last = next((l.strip() for l in reversed(tail) if l.strip()), "no output")
        if last.startswith(LABKIT_ERROR):  # `labkit wait` and friends already said it in one sentence
            problem, _, fix = last[len(LABKIT_ERROR):].partition(" Fix: ")
            raise CommandFailed(problem, fix or "read the output above, fix and rerun the cell.")
        raise CommandFailed(f"A command in this cell failed (exit code {code}): {last}",
                            "read the output above, fix the command and rerun the cell.")
    return output


def register_magic(env: dict[str, str], after=None) -> None:
    """%%shell in this IPython; `after()` runs once each cell has finished, failed or not."""
    ip = ipython()
    if ip is None:
        return

    def shell(line: str, cell: str) -> None:
        try:
            run(cell, env=env)
        finally:
            if after is not None:
                try:
                    after()
                except Exception:  # bookkeeping must never turn a cell's own result into a traceback
                    pass

    ip.register_magic_function(shell, magic_kind="cell", magic_name="shell")
