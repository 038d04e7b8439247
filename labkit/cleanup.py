"""Remove what a lab created, selected by its labels, and nothing else."""
from __future__ import annotations

from dataclasses import dataclass, field

from labkit import daemon
from labkit.ownership import label_filter

# Images are removed only when labelled AND named in the course's namespaces (or untagged):
# a learner's own image built FROM a lab image inherits its labels and must survive.
OWNED_IMAGE_PREFIXES = ("course/", "localhost:5001/course/")


@dataclass
class Removed:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def total(self) -> int:
        return len(self.containers) + len(self.networks) + len(self.volumes) + len(self.images)

    def __str__(self) -> str:
        parts = [f"{len(v)} {k}" for k, v in vars(self).items() if v]
        return "removed " + ", ".join(parts) if parts else "nothing to remove"


def owned_image(img) -> bool:
    return not img.tags or all(t.startswith(OWNED_IMAGE_PREFIXES) for t in img.tags)


def leftovers(lab: str | None = None) -> dict[str, list[str]]:
    """Names of labelled resources still present (lab=None: the whole course)."""
    c = daemon.client()
    f = {"label": label_filter(lab)}
    return {
        "containers": [x.name for x in c.containers.list(all=True, filters=f)],
        "networks": [x.name for x in c.networks.list(filters=f)],
        "volumes": [x.name for x in c.volumes.list(filters=f)],
        "images": [x.tags[0] if x.tags else x.short_id for x in c.images.list(filters=f) if owned_image(x)],
    }


def remove(lab: str | None = None) -> Removed:
    import docker.errors

    c = daemon.client()
    f = {"label": label_filter(lab)}
    done = Removed()
    for ctr in c.containers.list(all=True, filters=f):
        ctr.remove(force=True, v=True)  # v: the anonymous volumes this container made
        done.containers.append(ctr.name)
    for net in c.networks.list(filters=f):
        net.remove()
        done.networks.append(net.name)
    for vol in c.volumes.list(filters=f):
        vol.remove(force=True)
        done.volumes.append(vol.name)
    for img in c.images.list(filters=f):
        if not owned_image(img):
            continue
        for ref in img.tags or [img.id]:
            try:
                c.images.remove(ref, force=True, noprune=False)
            except docker.errors.NotFound:
                pass  # already gone with a sibling tag
        done.images.append(img.tags[0] if img.tags else img.short_id)
    # Dangling build intermediates labelled by the lab (multi-stage build stages).
    for img in c.images.list(filters={**f, "dangling": True}):
        try:
            c.images.remove(img.id, force=True)
            done.images.append(img.short_id)
        except docker.errors.APIError:
            pass
    return done
