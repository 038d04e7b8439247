"""Cleanup removes what the course made, including what Docker leaves unlabelled (a Compose
project's anonymous volumes), and nothing else: a learner's own container, volume, network and
image survive every cleanup, `labkit clean` for the whole course included. Marked `alone`: cleaning
up the whole course, they must not run beside a lab (tests/run_labs.py runs them first, by themselves)."""
import subprocess
import uuid

import docker
import pytest

from labkit import catalogue, cleanup, config, daemon, ownership

BASE = "debian:bookworm-slim"
pytestmark = pytest.mark.alone


@pytest.fixture
def bystanders():
    """A learner's own resources, some with names much like the course's."""
    c = daemon.client()
    tag = f"bystander-{uuid.uuid4().hex[:6]}"
    c.images.get(BASE).tag(f"{tag}/app", "1")
    made = {
        "image": f"{tag}/app:1",
        "volume": c.volumes.create(f"{tag}-data").name,
        "network": c.networks.create(f"{tag}-net").name,
        "container": c.containers.run(BASE, "sleep infinity", name=f"{tag}-lab04-api", detach=True,
                                      volumes={f"{tag}-data": {"bind": "/data"}}).name,
    }
    yield made
    subprocess.run(["docker", "rm", "-f", made["container"]], capture_output=True)
    subprocess.run(["docker", "volume", "rm", made["volume"]], capture_output=True)
    subprocess.run(["docker", "network", "rm", made["network"]], capture_output=True)
    subprocess.run(["docker", "rmi", made["image"]], capture_output=True)


def test_an_anonymous_volume_left_by_compose_down_is_counted_and_removed(bystanders):
    """What `docker compose down` (no -v) leaves when a service's named volume is missing: the
    image's VOLUME becomes an anonymous volume, unlabelled, orphaned once the container is gone."""
    c = daemon.client()
    project = ownership.compose_project("04")
    ctr = c.containers.run(BASE, "sleep infinity", detach=True, volumes=["/var/lib/data"],
                           labels={"com.docker.compose.project": project, "com.docker.compose.service": "db"})
    try:
        ctr.reload()
        anonymous = next(m["Name"] for m in ctr.attrs["Mounts"] if m["Type"] == "volume")
        cleanup.remember_anonymous_volumes("04")  # what every %%shell cell of the lab does
    finally:
        ctr.remove(force=True)  # like `docker compose down`: the volume stays
    assert c.volumes.get(anonymous)
    assert anonymous[:12] in cleanup.leftovers("04")["volumes"]
    cleanup.remove("04")
    with pytest.raises(docker.errors.NotFound):
        c.volumes.get(anonymous)
    assert not any(cleanup.leftovers("04").values())


def test_a_learners_own_resources_survive_every_cleanup(bystanders):
    for lab in (None, "01", "04"):
        cleanup.remove(lab)
    c = daemon.client()
    assert c.containers.get(bystanders["container"]).status == "running"
    assert c.volumes.get(bystanders["volume"]) and c.networks.get(bystanders["network"])
    assert c.images.get(bystanders["image"])
    leftovers = cleanup.leftovers()
    assert not any(name.startswith("bystander") for names in leftovers.values() for name in names)


def test_the_course_labels_are_what_cleanup_selects():
    assert ownership.label_filter() == [f"{config.LABEL_COURSE}={config.COURSE}"]


def _build_cell(context, tag: str | None, step: str) -> str:
    (context / "Dockerfile").write_text(f"FROM {BASE} AS stage\nRUN {step}\nFROM {BASE}\n"
                                        "COPY --from=stage /step /step\n")
    args = ["docker", "build", "-q", *(["-t", tag] if tag else []), str(context)]
    return f"import subprocess\nsubprocess.run({args!r}, check=True, capture_output=True)\n"


def test_untagged_images_a_lab_cell_builds_are_removed_and_no_one_elses(tmp_path):
    """The classic builder leaves each earlier stage as an untagged, unlabelled image, and a rebuild
    leaves the image it took the tag from: a cell that builds records them (cleanup.BuildWatch); an
    untagged image built outside the lab's cells is a learner's and stays."""
    from IPython.core.interactiveshell import InteractiveShell

    c = daemon.client()
    ip = InteractiveShell.instance()
    cleanup.remove("02")
    own = subprocess.run(["docker", "build", "-q", "-"], input=f"FROM {BASE}\nRUN echo {uuid.uuid4().hex} >/own\n",
                         capture_output=True, text=True, check=True).stdout.strip()
    cleanup.watch_builds("02", ip)
    tag = "course/watch-test:1"
    try:
        for step in ("echo one > /step", "echo two > /step"):  # the second build takes the tag from the first
            assert ip.run_cell(_build_cell(tmp_path, tag, step)).success
        recorded = cleanup.leftovers("02")["images"]
        assert recorded, "the image the second build took the tag from was not recorded"
        assert all(not c.images.get(i).tags for i in recorded)
        cleanup.remove("02")
        assert not any(cleanup.leftovers("02").values())
        assert c.images.get(tag) and c.images.get(own)  # tagged, or built outside a lab cell: untouched
    finally:
        for name in ("pre_run_cell", "post_run_cell"):
            for cb in list(ip.events.callbacks[name]):
                if isinstance(getattr(cb, "__self__", None), cleanup.BuildWatch):
                    ip.events.unregister(name, cb)
        subprocess.run(["docker", "rmi", tag, own], capture_output=True)
        InteractiveShell.clear_instance()


def test_a_forced_rebuild_removes_only_the_offline_builds_it_untagged(tmp_path):
    """`labkit images build --force` (and `make bench --cold`) left each replaced offline image untagged,
    about 2 GB. Removed: the one the rebuild untagged. Kept: the new build, and a replaced one that a
    container still uses."""
    import io
    import tarfile

    from labkit.provision import images

    c = daemon.client()
    refs = [f"course-test-{uuid.uuid4().hex[:6]}/offline:{n}" for n in ("free", "in-use")]

    def build(ref: str, content: bytes) -> str:  # an offline build: `docker import` of a one-file tree
        tar = tmp_path / "rootfs.tar"
        with tarfile.open(tar, "w") as t:
            info = tarfile.TarInfo("marker")
            info.size = len(content)
            t.addfile(info, io.BytesIO(content))
        subprocess.run(["docker", "import", "--change", f"LABEL {catalogue.OFFLINE_LABEL}={ref}", str(tar), ref],
                       check=True, capture_output=True)
        return c.images.get(ref).id

    old = [build(ref, b"old " + ref.encode()) for ref in refs]
    user = c.containers.create(old[1], "true")
    new = [build(ref, b"new " + ref.encode()) for ref in refs]
    try:
        assert set(old).isdisjoint(new) and not c.images.get(old[0]).tags
        assert images.remove_replaced([*old, new[0]]) == [old[0]]
        with pytest.raises(docker.errors.ImageNotFound):
            c.images.get(old[0])
        assert c.images.get(old[1]) and [c.images.get(ref).id for ref in refs] == new
    finally:
        user.remove(force=True)
        for image_id in (*new, old[1]):
            subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True)
