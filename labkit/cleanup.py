"""Remove what a lab created, selected by its labels, and nothing else."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from labkit import config, daemon
from labkit.ownership import compose_project, label_filter

# Images are removed only when labelled AND named in the course's namespaces (or untagged):
# a learner's own image built FROM a lab image inherits its labels and must survive.
OWNED_IMAGE_PREFIXES = ("course/", "localhost:5001/course/")


@dataclass
class Removed:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    persistent_volumes: list[str] = field(default_factory=list)
    priority_classes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{len(v)} {k.replace('_', ' ')}" for k, v in vars(self).items() if v]
        return "removed " + ", ".join(parts) if parts else "nothing to remove"


def _lab_ids(lab: str | None) -> list[str]:
    """The lab itself, or every lab of the course when lab is None."""
    from labkit import labs

    return [lab] if lab else list(labs.LABS)


def _remembered(lab: str, kind: str = "images"):
    return config.data_dir() / f"lab{lab}-{kind}.txt"


def _remember(lab: str, kind: str, names: list[str]) -> None:
    path = _remembered(lab, kind)
    known = set(path.read_text().split()) if path.exists() else set()
    new = [n for n in names if n not in known]
    if new:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write("".join(f"{n}\n" for n in new))


def _recalled(lab: str | None, kind: str) -> list[str]:
    return [n for i in _lab_ids(lab) if (path := _remembered(i, kind)).exists() for n in path.read_text().split()]


def remember_images(lab: str, ids: list[str]) -> None:
    """Record images a lab created that carry no label (build stages of the classic builder)."""
    _remember(lab, "images", ids)


def remember_anonymous_volumes(lab: str) -> None:
    """Record the anonymous volumes attached to the lab's containers right now. Docker labels them with
    nothing of ours, and `docker compose down` (without -v) leaves them behind unattached: this record,
    made after every %%shell cell, is what proves later that they are the lab's."""
    names = [m["Name"] for ctr in _owned("containers", lab) for m in ctr.attrs.get("Mounts") or []
             if m.get("Type") == "volume" and _anonymous(m.get("Name", ""))]
    _remember(lab, "volumes", names)


class BuildWatch:
    """Notes the untagged images that appear while a cell that builds runs: the classic builder's
    earlier stages, and the image a rebuild took a tag from. Docker marks neither as the lab's (no
    label, no name), so this record is what lets the lab's cleanup remove them, and only them.
    Registered on IPython's pre/post_run_cell events, so it sees `%%shell` builds, Compose builds
    and labkit's own alike."""

    WORDS = ("build", "compose")  # a cell that mentions neither builds nothing: no Docker call at all

    def __init__(self, lab: str):
        self.lab = lab
        self.before: set[str] | None = None

    @staticmethod
    def _dangling() -> set[str]:
        return {img.id for img in daemon.client().images.list(filters={"dangling": True})}

    def pre_run_cell(self, info) -> None:
        self.before = None
        if any(w in (getattr(info, "raw_cell", "") or "") for w in self.WORDS):
            try:
                self.before = self._dangling()
            except Exception:  # no daemon: the cell itself will say so
                pass

    def post_run_cell(self, result) -> None:
        if self.before is None:
            return
        try:
            remember_images(self.lab, sorted(self._dangling() - self.before))
        except Exception:  # bookkeeping must never turn a cell's own result into a traceback
            pass
        self.before = None


@contextlib.contextmanager
def builds_recorded(lab: str):
    """The same record around toolkit code that builds (a lab's set-up), outside any watched cell."""
    before = BuildWatch._dangling()
    yield
    remember_images(lab, sorted(BuildWatch._dangling() - before))


def watch_builds(lab: str, ip) -> None:
    """Register (once per lab and kernel) the BuildWatch of a lab on IPython's cell events."""
    for name in ("pre_run_cell", "post_run_cell"):
        for cb in list(ip.events.callbacks[name]):
            if isinstance(getattr(cb, "__self__", None), BuildWatch):
                ip.events.unregister(name, cb)
    watch = BuildWatch(lab)
    ip.events.register("pre_run_cell", watch.pre_run_cell)
    ip.events.register("post_run_cell", watch.post_run_cell)


def _anonymous(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _recorded_volumes(lab: str | None) -> list:
    import docker.errors

    found = []
    for name in _recalled(lab, "volumes"):
        try:
            found.append(daemon.client().volumes.get(name))
        except docker.errors.NotFound:
            pass
    return found


def _dangling_remembered(lab: str | None) -> list[str]:
    """Remembered build stages still present and still untagged (tagged since: someone's own now)."""
    import docker.errors

    out = []
    for image_id in _recalled(lab, "images"):
        try:
            if not daemon.client().images.get(image_id).tags:
                out.append(image_id)
        except docker.errors.NotFound:
            pass
    return out


def owned_image(img) -> bool:
    return not img.tags or all(t.startswith(OWNED_IMAGE_PREFIXES) for t in img.tags)


def _owned(kind: str, lab: str | None) -> list:
    """Containers, networks, volumes or images a lab owns: labelled by it, or in its Compose project
    (lab=None: every lab's)."""
    from labkit import labs

    collection = getattr(daemon.client(), kind)
    extra = {"all": True} if kind == "containers" else {}
    selectors = [label_filter(lab)]
    selectors += [[f"com.docker.compose.project={compose_project(i)}"] for i in _lab_ids(lab)]
    found = {}
    for sel in selectors:
        for x in collection.list(filters={"label": sel}, **extra):
            found[x.id] = x
    if kind == "images":  # tags a lab declares as its own (Compose does not label what it builds)
        for info in map(labs.get, _lab_ids(lab)):
            for ref in info.images:
                for x in collection.list(name=ref):
                    found[x.id] = x
    return list(found.values())


def _labelled(lab: str | None, listing: str, api: str = "CoreV1Api") -> tuple[object, list[str]]:
    """(the API, names) of the cluster objects labs created, listed by `listing` (a method of `api`)
    and found by their labels. Nothing when no cluster lab is concerned or there is no cluster to
    look in."""
    from labkit import cluster, labs
    from labkit.errors import translate

    if not any(labs.get(i).cluster for i in _lab_ids(lab)):
        return None, []
    try:
        if cluster.on_kind() and not cluster.exists():
            return None, []
        from kubernetes import client

        core = getattr(client, api)(cluster.api_client())
        found = getattr(core, listing)(label_selector=",".join(label_filter(lab))).items
    except Exception as exc:  # no kind, no cluster answering: nothing of ours can be found there
        if translate(exc) is None:
            raise
        return None, []
    return core, [x.metadata.name for x in found]


def _namespaces(lab: str | None) -> tuple[object, list[str]]:
    return _labelled(lab, "list_namespace")


def _persistent_volumes(lab: str | None) -> tuple[object, list[str]]:
    """Cluster-wide objects: deleting a lab's namespace leaves them."""
    return _labelled(lab, "list_persistent_volume")


def _priority_classes(lab: str | None) -> tuple[object, list[str]]:
    return _labelled(lab, "list_priority_class", "SchedulingV1Api")


def leftovers(lab: str | None = None) -> dict[str, list[str]]:
    """Names of the resources the course (or one lab) created that are still present."""
    return {
        "containers": [x.name for x in _owned("containers", lab)],
        "networks": [x.name for x in _owned("networks", lab)],
        "volumes": [x.name for x in _owned("volumes", lab)] + [v.name[:12] for v in _recorded_volumes(lab)],
        "images": [x.tags[0] if x.tags else x.short_id for x in _owned("images", lab) if owned_image(x)]
        + [i.split(":")[-1][:12] for i in _dangling_remembered(lab)],
        "namespaces": _namespaces(lab)[1],
        "persistent volumes": _persistent_volumes(lab)[1],
        "priority classes": _priority_classes(lab)[1],
    }


def _remove_namespaces(lab: str | None, done: "Removed") -> None:
    """Delete the lab's namespaces (and so everything in them) and wait until they are gone."""
    from labkit import progress

    core, names = _namespaces(lab)
    for name in names:
        core.delete_namespace(name)
        done.namespaces.append(name)
    if names:
        progress.wait_until(lambda: (not _namespaces(lab)[1], "terminating"), what="namespaces deleted",
                            timeout=180, interval=1,
                            fix="see what holds them with `kubectl get namespace <name> -o yaml` (status).")


def remove(lab: str | None = None) -> Removed:
    import docker.errors

    c = daemon.client()
    f = {"label": label_filter(lab)}
    done = Removed()
    for ctr in _owned("containers", lab):
        ctr.remove(force=True, v=True)  # v: the anonymous volumes this container made
        done.containers.append(ctr.name)
    for kind, removed in (("networks", done.networks), ("volumes", done.volumes)):
        for x in _owned(kind, lab) + (_recorded_volumes(lab) if kind == "volumes" else []):
            try:
                x.remove()
                removed.append(x.name)
            except docker.errors.APIError as exc:  # e.g. a container of yours still attached: left alone
                print(f"kept {kind[:-1]} {x.name}: {exc.explanation}")
    for img in _owned("images", lab):
        if not owned_image(img):
            continue
        for ref in img.tags or [img.id]:
            try:
                c.images.remove(ref, force=True, noprune=False)
            except docker.errors.NotFound:
                pass  # already gone with a sibling tag
        done.images.append(img.tags[0] if img.tags else img.short_id)
    # Untagged leftovers: labelled ones, and unlabelled build stages the lab recorded (only while
    # still untagged: an image someone tagged since is theirs now).
    ids = [img.id for img in c.images.list(filters={**f, "dangling": True})] + _dangling_remembered(lab)
    for image_id in ids:
        try:
            c.images.remove(image_id, force=True)
            done.images.append(image_id.split(":")[-1][:12])
        except docker.errors.APIError:
            pass  # gone already, or still a parent of something else
    for i in _lab_ids(lab):
        for kind in ("images", "volumes"):
            _remembered(i, kind).unlink(missing_ok=True)
    _remove_namespaces(lab, done)
    core, names = _persistent_volumes(lab)  # after their claims' namespaces: a bound volume would wait
    for name in names:
        core.delete_persistent_volume(name)
        done.persistent_volumes.append(name)
    scheduling, names = _priority_classes(lab)
    for name in names:
        scheduling.delete_priority_class(name)
        done.priority_classes.append(name)
    return done
