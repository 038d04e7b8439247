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
# Where an interview answer says it is seen: "Seen in exercise 3" (its own lab), "Seen in lab 01, exercise 2", or
# a section that is not an exercise: 'Seen in section "A secret deleted in a later step"'.
_SEEN = re.compile(r'\bSeen in (?:lab (\d\d), )?(?:exercise (\d+)|section "([^"]+)")')
# What dates a change: a Kubernetes or tool version, a named release, or a year.
_WHEN = re.compile(r"\b(?:Kubernetes |Docker |Compose |kind )?v?1\.\d{2}\b|\b(?:Docker|Compose|Engine) v?\d{1,2}(?:\.\d+)?\b"
                   r"|\b(?:19|20)\d\d\b")


@dataclass(frozen=True)
class Question:
    lab: str
    question: str
    answer: str
    exercise: str  # the anchor of the exercise that shows it, or ""
    seen_in: str = ""  # the lab of that exercise (the question's own, or another lab's)


@dataclass(frozen=True)
class Change:
    lab: str
    title: str
    body: str
    text: str  # the entry as the lab writes it
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


def sections(lab_id: str) -> dict[str, str]:
    """A lab's section headings (## and ###) -> their anchors on the lab's page."""
    return {m.group(1).strip(): slugify(m.group(1).strip(), "-")
            for source in _cells(lab_id) for m in re.finditer(r"(?m)^#{2,3} (.+)$", source)}


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
    return [_question(lab_id, q.strip(), a.strip()) for q, a in pairs]


def _question(lab_id: str, question: str, answer: str) -> Question:
    """The place that shows it: the one its "Seen in ..." sentence names (the one rule: docs/toolkit.md)."""
    m = _SEEN.search(answer)
    if m is None:
        return Question(lab_id, question, answer, "", lab_id)
    seen_in = m.group(1) or lab_id
    anchor = exercises(seen_in).get(m.group(2), "") if m.group(2) else sections(seen_in).get(m.group(3), "")
    return Question(lab_id, question, answer, anchor, seen_in)


def changes(lab_id: str) -> list[Change]:
    found = []
    for item in re.split(r"(?m)^\* ", _section(lab_id, CHANGED))[1:]:
        item = re.sub(r"\n\s+", " ", item.strip())
        m = re.match(r"\*\*(?P<t>.+?)\*\*[.:]?\s*(?P<b>.*)", item, re.S)
        title, body = (m["t"].rstrip("."), m["b"]) if m else (item.split(". ")[0], item)
        when = tuple(dict.fromkeys(w.strip() for w in _WHEN.findall(item)))[:3]
        found.append(Change(lab_id, title, body, item, when, _exercise_anchor(lab_id, item)))
    return found


def minutes(lab_id: str) -> str:
    """The estimated time the lab's first cell states ("60 min"), or ""."""
    m = re.search(r"Estimated time:?\**:?\s*(?:about\s+)?(\d+)\s*minutes", _cells(lab_id)[0])
    return f"{m.group(1)} min" if m else ""


# --- the commands the labs use -------------------------------------------------------------------------
# What each command does, in a line: the data behind the reference page. The notebooks say which labs use it;
# tests/unit/test_site_pages.py fails when a lab uses a command with no line here.
COMMANDS = {
    "docker build": "build an image from a Dockerfile and a build context",
    "docker compose down": "stop and remove a Compose project's containers and networks (`-v`: its volumes too)",
    "docker compose exec": "run a command in a running service's container",
    "docker compose logs": "the logs of a project's services, interleaved",
    "docker compose ps": "a project's containers, with their state and health",
    "docker compose restart": "restart a project's services (the same containers)",
    "docker compose up": "create and start a project's services (`-d`: in the background; `--build`: build first)",
    "docker compose version": "which Compose is installed (v2 is a Docker CLI plugin)",
    "docker exec": "run a command inside a running container",
    "docker history": "an image's layers, with the instruction that made each and its size",
    "docker info": "the daemon: version, storage driver, cgroup version, kernel",
    "docker inspect": "everything the daemon knows about an object, as JSON (`--format` picks fields)",
    "docker logs": "what a container wrote to stdout and stderr",
    "docker ps": "containers (`-a`: stopped ones too)",
    "docker pull": "download an image from a registry",
    "docker push": "upload an image to a registry",
    "docker rm": "remove a container (`-f`: stop it first)",
    "docker rmi": "remove an image tag (the image goes with its last tag)",
    "docker run": "create and start a container from an image",
    "docker start": "start a stopped container again",
    "docker stats": "live CPU, memory and I/O of running containers (`--no-stream`: once)",
    "docker stop": "send SIGTERM, then SIGKILL after a grace period (10 s by default)",
    "docker tag": "give an image another name",
    "docker top": "a container's processes as the host sees them (host PIDs)",
    "kubectl annotate": "set or remove annotations (notes for tools; they select nothing)",
    "kubectl apply": "create or update objects from manifests, declaratively",
    "kubectl config get-contexts": "the contexts in a kubeconfig, and which one is current",
    "kubectl create configmap": "a ConfigMap from literals or files",
    "kubectl create secret": "a Secret from literals or files (base64-encoded, not encrypted)",
    "kubectl create service": "a Service from the command line (e.g. an ExternalName)",
    "kubectl delete": "delete objects (by name, file or label selector)",
    "kubectl describe": "an object in human form, with its recent events",
    "kubectl events": "a namespace's events, oldest first (`--for` one object)",
    "kubectl exec": "run a command in a pod's container",
    "kubectl get": "list objects (`-o wide`, `-o yaml`, `-o jsonpath=…` for more)",
    "kubectl label": "set or remove labels (what selectors match)",
    "kubectl logs": "a container's logs (`--previous`: the one before the last restart)",
    "kubectl patch": "change fields of a live object (strategic merge, JSON merge or JSON patch)",
    "kubectl rollout history": "a Deployment's revisions",
    "kubectl rollout restart": "replace every pod of a workload, as a rolling update",
    "kubectl rollout status": "wait until a rollout finishes, or report that it failed",
    "kubectl rollout undo": "go back to the previous revision (its template as it was)",
    "kubectl scale": "set a workload's number of replicas",
    "kubectl set": "change an image, resources or environment of a workload in place",
    "kubectl wait": "wait for a condition on objects (`labkit wait` stops early when waiting cannot help)",
}
_COMMAND = re.compile(r"(?<![\w/.-])(docker compose|docker|kubectl)\s+((?:-[-\w]+(?:[ =][^\s-]\S*)?\s+)*)"
                      r"([a-z][\w-]*)(?:\s+([a-z][\w-]*))?")
_TWO_WORDS = {"docker": {"image", "container", "network", "volume", "buildx", "system", "builder"},
              "kubectl": {"rollout", "config", "auth", "create"}}


def commands_used() -> dict[str, list[str]]:
    """Each docker, docker compose and kubectl command the labs' cells run -> the labs that run it."""
    found: dict[str, set[str]] = {}
    for lab in labs.LABS.values():
        nb = nbformat.read(config.LABS_DIR / lab.notebook, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for line in cell.source.splitlines():
                if line.strip().startswith("#"):
                    continue
                for m in _COMMAND.finditer(line):
                    tool, sub, second = m.group(1), m.group(3), m.group(4)
                    name = f"{tool} {sub} {second}" if second and sub in _TWO_WORDS.get(tool, ()) else f"{tool} {sub}"
                    found.setdefault(name, set()).add(lab.id)
    return {name: sorted(ids) for name, ids in sorted(found.items())}


def commands_page() -> str:
    lines = ["# Commands the labs use", "",
             "Every `docker`, `docker compose` and `kubectl` command run in the labs' cells (found in the notebooks "
             "when the site is built), what it does, and the labs where you run it.", ""]
    used = commands_used()
    for tool, title in (("docker ", "Docker"), ("docker compose ", "Docker Compose"), ("kubectl ", "kubectl")):
        rows = [(n, ids) for n, ids in used.items() if n.startswith(tool) and
                (tool != "docker " or not n.startswith("docker compose "))]
        lines += [f"## {title}", "", "| Command | What it does | Labs |", "|---|---|---|"]
        lines += [f"| `{n}` | {COMMANDS.get(n, '')} | " + ", ".join(f"[{i}]({_page(i)})" for i in ids) + " |"
                  for n, ids in rows]
        lines.append("")
    return "\n".join(lines)


def checklist_page() -> str:
    """The chapter's production checklist, as lab 11 maps it to where each item is proven."""
    section = _section("11", "## The chapter's checklist, item by item, in this course")
    return ("# The production checklist\n\nThe chapter's production checklist, each item with the labs and exercises "
            f"where you proved it (from [lab 11]({_page('11')})).\n{_link_labs(section, '11')}\n")


def _link_labs(text: str, here: str) -> str:
    """"lab 06" links to lab 06; "exercise 2 here" to that exercise of lab `here`, the lab the text is from."""
    text = re.sub(r"\blabs? (\d{2})\b", lambda m: f"[{m.group(0)}]({_page(m.group(1))})", text)
    anchors = exercises(here)
    return re.sub(r"\bexercise (\d+) here\b",
                  lambda m: f"[{m.group(0)}]({_page(here)}#{anchors[m.group(1)]})" if m.group(1) in anchors
                  else m.group(0), text)


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
                where += f" · [where you see it]({_page(q.seen_in)}#{q.exercise})"
            title = q.question.replace('"', "&quot;")
            lines += [f'??? question "{title}"', "", _indent(_link_labs(q.answer, q.lab)), "", f"    {where}", ""]
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
            text = c.text.replace("|", "\\|")
            lines.append(f"| {lab_id} | {text} | {', '.join(c.when) or '—'} | {where} |")
    return "\n".join(lines) + "\n"
