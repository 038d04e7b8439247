"""Exercises state goals, not recipes (docs/toolkit.md, "Writing an exercise"), and hints come in layers.

A TODO (the text after `# BEGIN SOLUTION:`, which the learner version shows) *dictates* when it names half
or more of the distinctive words of its own solution: identifiers, field names, values, flags; common words
left out. A lab fails when more than a fifth of its TODOs dictate, or when a check's exercise has fewer than
two collapsed hint blocks (`<details><summary>Hint ...`) in its markdown.
"""
import re

import nbformat
import pytest

from helpers import check_cells, source_notebook
from labkit import labs, notebooks

MAX_SHARE = 0.2
HINTS_PER_EXERCISE = 2
# Words every lab's solutions use whatever the exercise, so naming them gives nothing away.
COMMON = set("name the and with from for run get set your own image value key spec kind true false apiversion "
             "metadata labels lab_labels".split())
HINT = re.compile(r"<details>\s*<summary>\s*Hint\b", re.I)


def words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9_.\-/]{2,}|\d+[a-zA-Z]*", text)} - COMMON


def todos(nb) -> list[tuple[str, float]]:
    """(TODO text, share of its solution's distinctive words it names) for every solution region."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        for i, line in enumerate(lines):
            begin = notebooks.BEGIN.match(line)
            if not begin:
                continue
            body = []
            for later in lines[i + 1:]:
                if notebooks.END.match(later):
                    break
                if not later.strip().startswith("#"):
                    body.append(later)
            solution = words(" ".join(body))
            if solution:
                found.append((begin["todo"].strip(), len(solution & words(begin["todo"])) / len(solution)))
    return found


def dictating(nb) -> list[str]:
    return [todo for todo, share in todos(nb) if share >= 0.5]


def hints_per_check(nb) -> dict[str, int]:
    """check name -> hint blocks in the markdown since the previous check cell (its exercise's text)."""
    counts, previous = {}, -1
    for index, name in check_cells(nb):
        text = "\n".join(c.source for c in nb.cells[previous + 1:index] if c.cell_type == "markdown")
        counts[name] = len(HINT.findall(text))
        previous = index
    return counts


# --- the measure itself -------------------------------------------------------------------------
def _notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(c[3:]) if c.startswith("md:") else nbformat.v4.new_code_cell(c)
                for c in cells]
    return nb


def test_a_todo_that_repeats_its_solution_dictates():
    nb = _notebook("# BEGIN SOLUTION: docker run -d --name lab01-sleeper debian:bookworm-slim sleep infinity\n"
                   "docker run -d --name lab01-sleeper $LAB_LABELS debian:bookworm-slim sleep infinity\n"
                   "# END SOLUTION")
    assert dictating(nb) == ["docker run -d --name lab01-sleeper debian:bookworm-slim sleep infinity"]


def test_a_goal_does_not_dictate():
    nb = _notebook("# BEGIN SOLUTION: lab01-sleeper keeps running after this cell returns\n"
                   "docker run -d --name lab01-sleeper $LAB_LABELS debian:bookworm-slim sleep infinity\n"
                   "# END SOLUTION")
    assert todos(nb)[0][1] < 0.5 and dictating(nb) == []


def test_hints_are_counted_per_exercise_and_interview_answers_are_not_hints():
    nb = _notebook("md:<details><summary>Hint 1: namespaces</summary>\n\nx\n\n</details>\n"
                   "<details><summary>Hint 2: the shape</summary>\n\ny\n\n</details>",
                   'lab.check("first")',
                   "md:<details><summary>1. Containers vs VMs?</summary>\n\nanswer\n\n</details>",
                   'lab.check("second")')
    for cell in nb.cells:
        if "lab.check" in cell.source:
            cell.metadata["tags"] = ["check"]
    assert hints_per_check(nb) == {"first": 2, "second": 0}


# --- every lab ----------------------------------------------------------------------------------
@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_exercises_state_goals_not_answers(lab):
    nb = source_notebook(lab)
    found, bad = todos(nb), dictating(nb)
    assert len(bad) <= MAX_SHARE * len(found), (
        f"lab {lab.id}: {len(bad)} of {len(found)} TODOs name half or more of their own solution's words "
        f"(at most a fifth may): {bad[:3]}")


@pytest.mark.parametrize("lab", labs.LABS.values(), ids=lambda l: l.slug)
def test_every_exercise_has_hints_in_layers(lab):
    short = {name: n for name, n in hints_per_check(source_notebook(lab)).items() if n < HINTS_PER_EXERCISE}
    assert not short, (f"lab {lab.id}: checks whose exercise has fewer than {HINTS_PER_EXERCISE} collapsed hints "
                       f"(<details><summary>Hint ...): {short}")
