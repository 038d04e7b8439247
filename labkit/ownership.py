"""Labels that mark what a lab created, so cleanup can remove exactly that."""
from __future__ import annotations

from labkit.config import COURSE, LABEL_COURSE, LABEL_LAB


def labels(lab: str) -> dict[str, str]:
    return {LABEL_COURSE: COURSE, LABEL_LAB: lab}


def label_filter(lab: str | None = None) -> list[str]:
    """Docker API `label` filters; with lab=None, everything the course created."""
    f = [f"{LABEL_COURSE}={COURSE}"]
    if lab is not None:
        f.append(f"{LABEL_LAB}={lab}")
    return f


def label_flags(lab: str) -> str:
    """The same labels as docker CLI flags, for shell cells: docker run $LAB_LABELS ..."""
    return " ".join(f"--label {k}={v}" for k, v in labels(lab).items())


def compose_project(lab: str) -> str:
    """Compose project name of a lab, set through COMPOSE_PROJECT_NAME: Compose labels every container,
    network and volume of the project with it, which is how cleanup finds them."""
    return f"course-lab{lab}"
