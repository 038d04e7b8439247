"""Where each student stands on each check, folded from the results as they arrive: the board's page is drawn
from this, and each new result sends the cell it changed (and that check's hint counts) to the open pages."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from functools import cache

from labkit import labs
from labkit.board.store import Stored


@cache
def course_checks() -> dict[str, dict]:
    """Every lab's checks: the board refuses a result for a lab or check not in here."""
    return labs.checks_by_lab()


@dataclass
class Cell:
    student: str
    lab: str
    check: str
    passed: bool
    tries: int
    hint: str            # the latest failure's hint ("" once passed)
    stuck_since: float | None   # when the current run of failures began (None: passed)
    last_at: float


class Summary:
    def __init__(self, results: list[Stored] = ()):
        self.cells: dict[tuple[str, str, str], Cell] = {}
        self.students: set[str] = set()
        # (lab, check) -> hint -> the students who met it
        self.hints: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for r in results:
            self.add(r)

    def add(self, r: Stored) -> dict:
        """Fold one result in; returns the update the open pages need."""
        self.students.add(r.student)
        key = (r.student, r.lab, r.check)
        cell = self.cells.get(key)
        if not r.passed:
            self.hints[(r.lab, r.check)][r.hint or r.message].add(r.student)
        if cell is None:
            cell = self.cells[key] = Cell(r.student, r.lab, r.check, r.passed, 0, "", None, r.at)
            cell.stuck_since = None if r.passed else r.at - r.on_check
            cell.hint = "" if r.passed else (r.hint or r.message)
        elif r.at >= cell.last_at:  # a result queued offline and sent late never overrides a newer one
            if not r.passed and cell.stuck_since is None:
                cell.stuck_since = r.at - r.on_check
            cell.passed, cell.last_at = r.passed, r.at
            cell.hint = "" if r.passed else (r.hint or r.message)
            if r.passed:
                cell.stuck_since = None
        cell.tries += 1
        return {"cell": asdict(cell), "hints": self.hint_counts(r.lab, r.check)}

    def hint_counts(self, lab: str, check: str) -> dict:
        met = self.hints.get((lab, check), {})
        return {"lab": lab, "check": check,
                "hints": sorted(([h, len(s)] for h, s in met.items()), key=lambda x: (-x[1], x[0]))}

    def as_json(self) -> dict:
        # A list: a JavaScript object would put the keys "10" and "11" before "01".
        labs_in_order = [{"id": lab, "title": info["title"], "checks": list(info["checks"].items())}
                         for lab, info in course_checks().items()]
        return {"students": sorted(self.students), "labs": labs_in_order,
                "cells": [asdict(c) for c in self.cells.values()],
                "hints": [self.hint_counts(lab, check) for (lab, check) in self.hints]}
