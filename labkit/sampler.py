"""Samples of something that changes over time (an autoscaler's replicas, a workload's CPU), taken every few
seconds until a condition says stop, and shown as they come: a picture redrawn in place in Jupyter, a line per
change elsewhere (CI logs, a terminal).

The reading and the stopping rule are the caller's: `read()` returns the values of one moment by name,
`stop(history)` returns a sentence when the watch should end (done, or it cannot get there). Labs 10 and 11
watch an HPA scale and a rollout go by with it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class History:
    """Every sample, and when it was taken (seconds since the watch began)."""
    began: float = field(default_factory=time.time)
    times: list[float] = field(default_factory=list)
    values: list[dict[str, float | None]] = field(default_factory=list)

    def add(self, at: float, values: dict[str, float | None]) -> None:
        self.times.append(at - self.began)
        self.values.append(dict(values))

    def series(self, name: str) -> list[tuple[float, float]]:
        """(seconds, value) of one quantity, the samples where it was unknown (None) left out."""
        return [(t, v[name]) for t, v in zip(self.times, self.values) if v.get(name) is not None]

    def last(self, name: str) -> float | None:
        return self.values[-1].get(name) if self.values else None

    def changes(self) -> list[str]:
        """One line per sample that differs from the one before (the first sample included)."""
        lines, before = [], None
        for t, v in zip(self.times, self.values):
            if v != before:
                lines.append(f"{t:5.0f} s  " + "  ".join(f"{k} {_fmt(x)}" for k, x in v.items()))
            before = v
        return lines


def _fmt(x: float | None) -> str:
    return "?" if x is None else f"{x:g}"


def watch(read: Callable[[], dict[str, float | None]], stop: Callable[[History], str | None], timeout: float,
          interval: float = 3.0, draw: Callable[[History], object] | None = None,
          clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> tuple[History, str]:
    """Sample until stop() says why (or `timeout` seconds pass). Returns the history and the reason it ended.
    `draw(history)` makes a picture of it, redrawn after each sample in a notebook; without a notebook each
    changed sample is printed."""
    from labkit import render

    history = History(began=clock())
    live = _Live(draw) if draw is not None and render.in_notebook() else None
    printed = 0
    while True:
        history.add(clock(), read())
        reason = stop(history)
        if reason is None and clock() - history.began >= timeout:
            reason = f"stopped watching after {timeout:.0f} s"
        if live is not None:
            live.show(history)
        else:
            lines = history.changes()
            for line in lines[printed:]:
                print(line, flush=True)
            printed = len(lines)
        if reason is not None:
            return history, reason
        sleep(interval)


class _Live:
    """A picture redrawn in place: one display, replaced after each sample through IPython's display handle.
    Not an ipywidgets Output: a widget's outputs travel as comm messages, and nbclient (which runs every notebook
    in the tests) mimics the widget by sending them back on the shell channel, which can leave it waiting for a
    cell the kernel has finished (jupyter/nbclient#312: lab 10's watch hung a test run 900 s)."""

    def __init__(self, draw):
        self.draw, self.handle = draw, None

    def show(self, history: History) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        fig = self.draw(history)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)
