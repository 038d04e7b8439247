"""releases.toml: the pins a learner's machine downloads agree with what the offline path builds, and the
images a pulling cluster runs are named by digest."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from labkit import cluster_parts as parts
from labkit import releases, tools
from labkit.provision import addons


def test_the_node_image_is_the_one_the_pinned_kind_release_names_by_digest():
    """kind's own default (pkg/apis/config/defaults/image.go of the pinned release, from the Go module proxy)."""
    done = subprocess.run(["go", "mod", "download", "-json", f"sigs.k8s.io/kind@{parts.KIND_VERSION}"],
                          capture_output=True, text=True, check=True)
    source = (json.loads(done.stdout)["Dir"] + "/pkg/apis/config/defaults/image.go")
    kinds_default = re.search(r'const Image = "([^"]+)"', open(source).read()).group(1)
    assert releases.node_image() == kinds_default
    assert kinds_default.split("@")[0] == parts.NODE_IMAGE  # the offline build's tag
    assert parts.K8S_VERSION in parts.NODE_IMAGE


def test_one_version_for_the_download_and_the_go_build():
    assert parts.program("kind").version == releases.version("kind")
    assert parts.program("kubernetes").version == releases.version("kubectl")
    assert tools.COMPOSE_VERSION == releases.version("docker-compose")


@pytest.mark.parametrize("on", ["linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"])
def test_every_platform_a_learner_has_gets_its_own_file(on):
    names = {tool: releases.release(tool, on, mirror="").filename for tool in ("kind", "kubectl", "docker-compose")}
    os_name, arch = on.split("/")
    assert names["kind"] == f"kind-{os_name}-{arch}"
    assert names["kubectl"] == "kubectl" and f"/bin/{on}/kubectl" in releases.release("kubectl", on, mirror="").url
    assert names["docker-compose"] == f"docker-compose-{os_name}-{ {'amd64': 'x86_64', 'arm64': 'aarch64'}[arch] }"


def test_a_mirror_serves_each_site_under_its_host_name():
    got = releases.release("kubectl", "linux/amd64", mirror="http://classroom:8080/")
    assert got.url == "http://classroom:8080/dl.k8s.io/release/v1.36.1/bin/linux/amd64/kubectl"
    assert got.checksum_url == got.url + ".sha256"


def test_a_pulling_cluster_names_the_add_ons_images_by_digest_and_leaves_others_alone():
    manifest = """spec:
  containers:
  - name: controller
    image: quay.io/metallb/controller:v0.15.2
  - image: "registry.k8s.io/metrics-server/metrics-server:v0.8.0"
    name: metrics
  - name: other
    image: busybox:1.36
"""
    pinned = addons.by_digest(manifest)
    assert "image: quay.io/metallb/controller:v0.15.2@sha256:417cdb6d" in pinned
    assert 'image: "registry.k8s.io/metrics-server/metrics-server:v0.8.0@sha256:89258156' in pinned
    assert "image: busybox:1.36\n" in pinned
    assert addons.by_digest(pinned) == pinned  # a digest is never added twice


def test_every_pinned_digest_names_an_image_the_cluster_uses():
    used = {*parts.METALLB_IMAGES, parts.LOCAL_PATH_IMAGE, parts.METRICS_SERVER_IMAGE, parts.TRAEFIK_IMAGE,
            parts.VPA_RECOMMENDER_IMAGE}
    pinned = releases._data()["image_digests"]
    assert pinned and set(pinned) <= used
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", d) for d in pinned.values())
