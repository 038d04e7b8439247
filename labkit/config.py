"""Where things live and what they are called: paths, label keys, environment switches."""
from __future__ import annotations

import os
from pathlib import Path

COURSE = "containers-course"
# Every resource a lab creates carries these labels; cleanup selects on them and on nothing else.
LABEL_COURSE = "dev.containers-course.course"
LABEL_LAB = "dev.containers-course.lab"

REPO = Path(os.environ.get("LABKIT_REPO", Path(__file__).resolve().parents[1]))
APPS = REPO / "apps"
LABS_DIR = REPO / "labs"


def workspace_root() -> Path:
    """Learner copies of notebooks and each lab's working files. Never tracked by git."""
    return Path(os.environ.get("LABKIT_WORKSPACE", REPO / "workspace")).resolve()


def data_dir() -> Path:
    """The course's own files in the workspace: the labs' kubeconfig, the journal of checks, a class board's token."""
    return workspace_root() / ".labkit"


def cache_dir(kind: str) -> Path:
    """Where built artefacts are kept between runs, outside the checkout (offline images, tools)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / COURSE / kind


def headless() -> bool:
    """True in CI, under nbval/nbclient test runs and in the CLI: failed checks raise."""
    return os.environ.get("LABKIT_HEADLESS", "") not in ("", "0") or os.environ.get("CI", "") == "true"

