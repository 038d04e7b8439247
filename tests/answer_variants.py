"""Answer variants: lazy, wrong and alternative answers to every check, and the run that proves them.

Each lab's variants are data, in tests/variants/labNN.yaml:

    - id: healthcheck-none            # unique within the lab
      kind: wrong                     # lazy | wrong | alternative
      at: hardening                   # the check whose exercise this answer replaces
      says: "HEALTHCHECK NONE ..."    # what the learner did, in one line
      inject: exercise                # where it runs: before the exercise's cells (default), or `check`:
                                      #   after them, just before the check cell (replay off; its `after`
                                      #   cells must put the solved state back)
      before: [code, ...]             # cells run first (e.g. editing a file an earlier exercise wrote)
      replay: true                    # rerun the exercise's cells (default), with ...
      replace: [[old, new], ...]      #   ... these edits (each `old` must occur: variants follow the notebook)
      skip: [text, ...]               #   ... leaving out replayed cells that contain one of these texts
      cells: [code, ...]              # then these cells of its own
      expect:
        fail: {hardening: [words, ...]}   # these checks fail, message + hint containing every word
        pass: [size]                      # these checks pass
      after: [code, ...]              # tidying up what the variant made without the lab's labels
      blind: true                     # written by someone who had read the lab and the chapter, not the
                                      #   checks (docs/toolkit.md, "Writing an exercise")

How it runs, for cost: the lab's solved notebook runs once, top to bottom, keeping its state (this is
test_rerun's first run anyway). Just before the cells of each exercise, the variants of that exercise
run: each replays only its exercise's cells (edited) or its own cells over the state the solved
notebook has reached, then its checks are evaluated and recorded. Then the real cells of the exercise
run and its real check must pass: a learner who first answered wrongly and then correctly passes too.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from helpers import CHECK_CALL, errors, execute, source_notebook, tags, text
from labkit import cleanup, labs, notebooks, site

VARIANTS_DIR = Path(__file__).parent / "variants"
KINDS = ("lazy", "wrong", "alternative")
MARK = "@@variant-result "
VARIANT_CELL_TIMEOUT = 300
SETUP_CALLS = ("labkit.start(", ".prepare(lab)")  # a lab's set-up cells: in no exercise


class VariantError(ValueError):
    """A variant file that does not match its notebook or its lab's checks."""


@dataclass
class Variant:
    lab: str
    id: str
    kind: str
    at: str
    says: str
    inject: str = "exercise"
    before: list[str] = field(default_factory=list)
    replay: bool = True
    replace: list[tuple[str, str]] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)
    fail: dict[str, list[str]] = field(default_factory=dict)
    passes: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    blind: bool = False

    @property
    def name(self) -> str:
        return f"lab{self.lab}/{self.at}/{self.kind}-{self.id}"

    @property
    def checks(self) -> list[str]:
        return [*self.fail, *self.passes]


def load(lab: labs.LabInfo) -> list[Variant]:
    path = VARIANTS_DIR / f"lab{lab.id}.yaml"
    if not path.exists():
        return []
    known = set(lab.module().checks.names())
    out, seen = [], set()
    for raw in yaml.safe_load(path.read_text()) or []:
        expect = raw.get("expect") or {}
        inject = raw.get("inject", "exercise")
        v = Variant(lab.id, raw["id"], raw["kind"], raw["at"], raw.get("says", ""), inject, list(raw.get("before") or []),
                    raw.get("replay", inject == "exercise"),
                    [tuple(pair) for pair in raw.get("replace") or []], list(raw.get("skip") or []),
                    list(raw.get("cells") or []),
                    {check: [str(w) for w in words or []] for check, words in (expect.get("fail") or {}).items()},
                    list(expect.get("pass") or []),
                    list(raw.get("after") or []), bool(raw.get("blind", False)))
        problems = [f"unknown check {c!r}" for c in [v.at, *v.checks] if c not in known]
        if v.kind not in KINDS:
            problems.append(f"kind {v.kind!r} is not one of {KINDS}")
        if not v.checks:
            problems.append("expects nothing")
        if v.inject not in ("exercise", "check"):
            problems.append(f"inject {v.inject!r} is not exercise or check")
        if v.kind == "alternative" and v.at not in v.passes:
            problems.append("an alternative answer must pass its check")
        if v.kind != "alternative" and v.at not in v.fail:
            problems.append(f"a {v.kind} answer must fail its check")
        if any(not words for words in v.fail.values()):
            problems.append("a failure must name words of its hint")
        if v.id in seen:
            problems.append("duplicate id")
        if problems:
            raise VariantError(f"{path.name}: variant {v.id!r}: {'; '.join(problems)}")
        seen.add(v.id)
        out.append(v)
    return out


def exercises(nb) -> dict[str, tuple[list[int], int]]:
    """check name -> (indices of the code cells of its exercise, index of the first check cell after them).
    An exercise is the code cells after the previous run of check cells (or the lab's set-up cells:
    `labkit.start(...)`, `labNN.prepare(lab)`, which variants never replay) up to its own check cell;
    consecutive checks share one exercise."""
    spans, pending, first, group = {}, [], None, None
    for i, cell in enumerate(nb.cells):
        if (cell.cell_type != "code" or any(call in cell.source for call in SETUP_CALLS)
                or "cleanup" in tags(cell)):
            continue
        if "check" in tags(cell):
            group = i if first is not None or group is None else group
            spans[CHECK_CALL.search(cell.source).group(1)] = (pending, group)
            first = None
            continue
        if first is None:
            pending = []
            first = i
        pending.append(i)
    return spans


def _code(source: str, variant: Variant, role: str):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["variant"] = {"name": variant.name, "role": role}
    return cell


def _mask_todo(source: str) -> tuple[str, list[str]]:
    """Hide each `# BEGIN SOLUTION: ...` line and the comment lines right after it (the TODO a learner
    reads, which often quotes the very command a variant edits) from the variant's edits."""
    lines, masked, in_todo = source.split("\n"), [], False
    for n, line in enumerate(lines):
        in_todo = notebooks.BEGIN.match(line) is not None or (in_todo and line.lstrip().startswith("#"))
        if in_todo:
            masked.append(line)
            lines[n] = f"\x00{len(masked) - 1}\x00"
    return "\n".join(lines), masked


def _unmask(source: str, masked: list[str]) -> str:
    for n, line in enumerate(masked):
        source = source.replace(f"\x00{n}\x00", line)
    return source


def variant_cells(nb, variant: Variant, exercise: list[int]) -> list:
    cells = [_code(c, variant, "answer") for c in variant.before]
    if variant.replay:
        unused = [old for old, _ in variant.replace]
        for i in exercise:
            source = nb.cells[i].source
            if any(s in source for s in variant.skip):
                continue
            source, masked = _mask_todo(source)
            for old, new in variant.replace:
                if old in source:
                    source = source.replace(old, new)
                    unused = [u for u in unused if u != old]
            cells.append(_code(_unmask(source, masked), variant, "answer"))
        if unused:
            raise VariantError(f"variant {variant.name}: replace text not found in its exercise's cells: {unused}")
    cells += [_code(c, variant, "answer") for c in variant.cells]
    probe = (f"import json as _json\n"
             f"print({MARK!r} + _json.dumps({{_n: [_r.ok, _r.message, _r.hint] for _n in {variant.checks!r} "
             f"for _r in [lab.result(_n)]}}))")
    cells.append(_code(probe, variant, "probe"))
    cells += [_code(c, variant, "after") for c in variant.after]
    return cells


def with_variants(nb, variants: list[Variant]):
    """The solved notebook without cleanup cells, each exercise preceded by its variants' cells."""
    spans = exercises(nb)
    before: dict[int, list] = {}
    for v in variants:
        span, check_cell = spans.get(v.at, ([], None))
        if not span:
            raise VariantError(f"variant {v.name}: no exercise cells before the check cell of {v.at!r}")
        where = span[0] if v.inject == "exercise" else check_cell
        before.setdefault(where, []).extend(variant_cells(nb, v, span))
    out = nbformat.from_dict(nb)
    out.cells = []
    for i, cell in enumerate(nb.cells):
        if "cleanup" in tags(cell):
            continue
        out.cells.extend(before.get(i, []))
        out.cells.append(cell)
    return out


@dataclass
class Outcome:
    results: dict[str, tuple[bool, str, str]]  # check -> (ok, message, hint)
    cell_errors: list[str]  # errors of the variant's own cells, for the report

    def problems(self, v: Variant) -> list[str]:
        found = []
        for check, words in v.fail.items():
            ok, message, hint = self.results[check]
            said = f"{message} {hint}".lower()
            if ok:
                found.append(f"{check} passed (said: {message})")
            elif missing := [w for w in words if w.lower() not in said]:
                found.append(f"{check} failed without naming {missing}: {message} / How to fix: {hint}")
        for check in v.passes:
            ok, message, hint = self.results[check]
            if not ok:
                found.append(f"{check} failed: {message} / How to fix: {hint}")
        return found


@dataclass
class LabRun:
    outcomes: dict[str, Outcome]
    real_failures: list[str]  # the solved notebook's own cells that failed
    seconds: dict[str, float] = field(default_factory=dict)  # variant -> seconds its cells ran
    total: float = 0.0  # seconds every cell of the run took, the lab's own included
    blind: int = 0  # how many of the variants were written blind

    @property
    def cost(self) -> float:
        """Seconds the variants' cells ran: an upper bound of what they add, since a variant often does
        work (a first build, a first `up`) the exercise's own cells then find done. `make bench` measures
        what they add: this run's total against a run without them."""
        return sum(self.seconds.values())


def cell_seconds(cell) -> float:
    """How long a cell ran, from the timestamps nbclient records in its metadata."""
    from datetime import datetime

    stamps = cell.metadata.get("execution") or {}
    began, ended = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
    if not (began and ended):
        return 0.0
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(ended) - parse(began)).total_seconds()


def run(lab: labs.LabInfo, cwd: Path, answers: bool = True) -> LabRun:
    """The solved notebook (without cleanup) with every variant before its exercise (answers=False:
    none, the baseline `make bench` compares with), from a clean start."""
    cleanup.remove(lab.id)
    variants = load(lab) if answers else []
    nb = with_variants(source_notebook(lab), variants)
    execute(nb, cwd, timeout_func=lambda cell: VARIANT_CELL_TIMEOUT if "variant" in cell.metadata else 0)
    nbformat.write(nb, cwd / f"{lab.slug}.with-variants.ipynb")  # every output, for a failure's post-mortem
    if answers:
        keep_for_the_site(lab, nb)
    outcomes: dict[str, Outcome] = {}
    answer_errors: dict[str, list[str]] = {}
    real, seconds = [], {}
    total = sum(cell_seconds(c) for c in nb.cells if c.cell_type == "code")
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("variant")
        if meta is None:
            if errors(cell):
                real.append(f"cell {i}: {text(cell)[-400:]}")
            continue
        seconds[meta["name"]] = seconds.get(meta["name"], 0.0) + cell_seconds(cell)
        if meta["role"] == "answer" and errors(cell):
            answer_errors.setdefault(meta["name"], []).append(text(cell)[-200:])
        if meta["role"] == "probe":
            line = next((ln for ln in text(cell).splitlines() if ln.startswith(MARK)), None)
            if line is None:
                real.append(f"the probe of {meta['name']} printed no result: {text(cell)[-400:]}")
                continue
            results = {k: tuple(r) for k, r in json.loads(line[len(MARK):]).items()}
            outcomes[meta["name"]] = Outcome(results, answer_errors.get(meta["name"], []))
    return LabRun(outcomes, real, seconds, total, sum(v.blind for v in variants))


def keep_for_the_site(lab: labs.LabInfo, nb) -> None:
    """The solved run as a reader sees it, with its real outputs: the answer variants' cells taken out
    (labkit/site.py shows it instead of the bare source)."""
    reader = nbformat.from_dict(nb)
    reader.cells = [c for c in reader.cells if "variant" not in c.metadata]
    site.EXECUTED.mkdir(parents=True, exist_ok=True)
    nbformat.write(reader, site.EXECUTED / lab.notebook)


RUNS: dict[str, LabRun] = {}  # one run per lab and session, shared by test_rerun, the variant tests, the summary


def lab_run(lab: labs.LabInfo, tmp_path_factory) -> LabRun:
    if lab.id not in RUNS:
        RUNS[lab.id] = run(lab, tmp_path_factory.mktemp(f"variants-{lab.id}"))
    return RUNS[lab.id]


def summary() -> list[str]:
    """One line per lab run in this session: how many variants and what they cost."""
    lines = []
    for lab_id, lab_run in sorted(RUNS.items()):
        slowest = max(lab_run.seconds, key=lab_run.seconds.get, default=None)
        lines.append(f"lab {lab_id}: the cells of {len(lab_run.seconds)} answer variants ({lab_run.blind} written "
                     f"blind) ran {lab_run.cost:.0f} s"
                     + (f" (slowest {slowest}: {lab_run.seconds[slowest]:.0f} s)" if slowest else ""))
    if len(RUNS) > 1:
        lines.append(f"all answer variants' cells: {sum(r.cost for r in RUNS.values()):.0f} s "
                     "(an upper bound of what they add; `make bench` measures it against runs without them)")
    return lines
