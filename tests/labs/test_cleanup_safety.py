"""Cleanup removes what the course made, including what Docker leaves unlabelled (a Compose
project's anonymous volumes), and nothing else: a learner's own container, volume, network and
image survive every cleanup, `labkit clean` for the whole course included."""
import subprocess
import uuid

import docker
import pytest

from labkit import cleanup, config, daemon, ownership

BASE = "debian:bookworm-slim"


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
