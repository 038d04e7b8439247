"""The site's pages gathered from the labs' notebooks at build time, never copied by hand: every interview
question by topic (answers collapsed, each linked to the lab, and to the exercise that demonstrates it where
the answer names one), and every "what changed since the chapter" entry (the errata), with the version or year
of the change as the entry states it and a link to where the lab teaches the current way."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import nbformat
from markdown.extensions.toc import slugify

from labkit import config, labs

INTERVIEW = "## Interview questions"
CHANGED = "## What changed since the chapter was written"
# The chapter's topics, in its order; a lab belongs to the topic of its section.
TOPICS = {"01": "Containers", "02": "Images and Dockerfiles", "03": "Images and Dockerfiles", "04": "Compose",
          "05": "Kubernetes architecture", "06": "Workloads", "07": "Networking", "08": "Storage",
          "09": "Service discovery", "10": "Scaling", "11": "Production"}
_QUESTION = re.compile(r"<details><summary>(?P<q>.*?)</summary>\s*(?P<a>.*?)\s*</details>", re.S)
_LISTED = re.compile(r"\*(?P<q>.+?)\*\s*—\s*(?P<a>.*)", re.S)
_EXERCISE = re.compile(r"\bexercises? (\d+)", re.I)
# What dates a change: a Kubernetes or tool version, a named release, or a year.
_WHEN = re.compile(r"\b(?:Kubernetes |Docker |Compose |kind )?v?1\.\d{2}\b|\b(?:Docker|Compose|Engine) v?\d{1,2}(?:\.\d+)?\b"
                   r"|\b(?:19|20)\d\d\b")


@dataclass(frozen=True)
class Question:
    lab: str
    question: str
    answer: str
    exercise: str  # the anchor of the exercise it names, or ""


@dataclass(frozen=True)
class Change:
    lab: str
    title: str
    body: str
    when: tuple[str, ...]
    exercise: str


@cache
def _cells(lab_id: str) -> tuple[str, ...]:
    lab = labs.get(lab_id)
    nb = nbformat.read(config.LABS_DIR / lab.notebook, as_version=4)
    return tuple(c.source for c in nb.cells if c.cell_type == "markdown")


def _section(lab_id: str, heading: str) -> str:
    """The text under `heading` up to the next heading of its level."""
    text = "\n\n".join(_cells(lab_id))
    if heading not in text:
        return ""
    after = text.split(heading, 1)[1]
    return re.split(r"(?m)^## ", after, maxsplit=1)[0]


def exercises(lab_id: str) -> dict[str, str]:
    """Exercise number -> its heading's anchor on the lab's page."""
    found = {}
    for source in _cells(lab_id):
        for m in re.finditer(r"(?m)^#{2,3} (Exercise (\d+)\b.*)$", source):
            found.setdefault(m.group(2), slugify(m.group(1), "-"))
    return found


def _exercise_anchor(lab_id: str, text: str) -> str:
    m = _EXERCISE.search(text)
    return exercises(lab_id).get(m.group(1), "") if m else ""


def questions(lab_id: str) -> list[Question]:
    """A lab writes its questions as collapsed blocks (<details><summary>1. Q</summary> A</details>), or as a
    numbered list ("1. *Q* — A")."""
    section = _section(lab_id, INTERVIEW)
    pairs = [(re.sub(r"^\d+\.\s*", "", m["q"]), m["a"]) for m in _QUESTION.finditer(section)]
    if not pairs:
        for item in re.split(r"(?m)^\d+\. ", section)[1:]:
            if m := _LISTED.match(item.strip()):
                pairs.append((m["q"], re.sub(r"\n\s+", "\n", m["a"])))
    return [Question(lab_id, q.strip(), a.strip(), _exercise_anchor(lab_id, a)) for q, a in pairs]


def changes(lab_id: str) -> list[Change]:
    found = []
    for item in re.split(r"(?m)^\* ", _section(lab_id, CHANGED))[1:]:
        item = re.sub(r"\n\s+", " ", item.strip())
        m = re.match(r"\*\*(?P<t>.+?)\*\*[.:]?\s*(?P<b>.*)", item, re.S)
        title, body = (m["t"].rstrip("."), m["b"]) if m else (item.split(". ")[0], item)
        when = tuple(dict.fromkeys(w.strip() for w in _WHEN.findall(item)))[:3]
        found.append(Change(lab_id, title, body, when, _exercise_anchor(lab_id, item)))
    return found


def _page(lab_id: str) -> str:
    return f"labs/{labs.get(lab_id).notebook}"


def _indent(text: str) -> str:
    return "\n".join(("    " + line) if line.strip() else "" for line in text.splitlines())


def interview_page() -> str:
    lines = ["# Interview preparation", "",
             "Every lab's interview questions, by the chapter's topics. Try an answer before opening it; each "
             "links to the lab (and the exercise) where you can see it happen on a real daemon or cluster.", ""]
    by_topic: dict[str, list[Question]] = {}
    for lab_id in labs.LABS:
        by_topic.setdefault(TOPICS.get(lab_id, "Other"), []).extend(questions(lab_id))
    for topic, qs in by_topic.items():
        lines += [f"## {topic}", ""]
        for q in qs:
            lab = labs.get(q.lab)
            where = f"[Lab {q.lab}, {lab.title}]({_page(q.lab)}#interview-questions)"
            if q.exercise:
                where += f" · [the exercise]({_page(q.lab)}#{q.exercise})"
            title = q.question.replace('"', "&quot;")
            lines += [f'??? question "{title}"', "", _indent(q.answer), "", f"    {where}", ""]
    return "\n".join(lines)


def errata_page() -> str:
    lines = ["# What changed since the chapter", "",
             "The chapter is teaching material, and some of it has aged. Each lab teaches the current way and says "
             "what changed; here is every such note in one place, with the version or year the entry gives and "
             "where the lab shows the current way.", "",
             "| Lab | What changed | When | Where the lab teaches it |", "|---|---|---|---|"]
    for lab_id in labs.LABS:
        for c in changes(lab_id):
            where = (f"[exercise]({_page(lab_id)}#{c.exercise})" if c.exercise
                     else f"[lab {lab_id}]({_page(lab_id)}#what-changed-since-the-chapter-was-written)")
            body = c.body.replace("|", "\\|")
            lines.append(f"| {lab_id} | **{c.title}.** {body} | {', '.join(c.when) or '—'} | {where} |")
    return "\n".join(lines) + "\n"
