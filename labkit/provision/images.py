"""Build the catalogue's offline equivalents from Debian packages (no container registry needed).

The Debian base comes from debootstrap (run on the host, as root) and `docker import`; every
other image is a plain Dockerfile FROM that base, built with the classic builder so nothing
is fetched from a registry. Images already built are reused; `force=True` rebuilds.
The root filesystem tarball is cached outside the checkout (~/.cache/containers-course).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from labkit import catalogue, config, daemon
from labkit.errors import LabError

RECIPES = Path(__file__).parents[1] / "offline"
MIRROR = os.environ.get("LABKIT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CACHE = config.cache_dir("offline")


def _rootfs_tarball(force: bool) -> Path:
    tarball = CACHE / "debian-bookworm-minbase.tar"
    if tarball.exists() and not force:
        return tarball
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed, so the Debian base image cannot be built.",
                       "install it (`sudo apt-get install debootstrap`) and rerun `make offline-images`.")
    if os.geteuid() != 0:
        raise LabError("Building the Debian base image needs root (debootstrap creates device files).",
                       "run `sudo make offline-images`.")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        print(f"debootstrap bookworm from {MIRROR} ...", flush=True)
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(root), MIRROR], check=True,
                       stdout=subprocess.DEVNULL)
        # Same trimming as the official slim image: no package cache, no apt lists.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        (root / "etc/apt/sources.list").write_text(
            f"deb {MIRROR} bookworm main\ndeb {MIRROR} bookworm-updates main\n"
            f"deb {MIRROR.replace('/debian', '/debian-security')} bookworm-security main\n")
        part = tarball.with_suffix(".part")
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(part), "."], check=True)
        part.rename(tarball)
    return tarball


def _label(img: catalogue.Image) -> str:
    return f"{catalogue.OFFLINE_LABEL}={img.ref}"


def build_one(img: catalogue.Image, force: bool = False) -> str:
    """Build one image unless an offline build of it is already there. Returns what happened."""
    if not force and daemon.built_offline(img.ref):
        return "reused"
    if img.recipe == "rootfs":
        tarball = _rootfs_tarball(force)
        subprocess.run(["docker", "import", "--change", f"LABEL {_label(img)}", "--change", 'CMD ["bash"]',
                        "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        str(tarball), img.ref], check=True, stdout=subprocess.DEVNULL)
        return "built"
    classic_build(RECIPES / img.recipe, img.ref, img.ref)
    return "built"


def classic_build(context: Path, ref: str, equivalent_of: str, build_args: dict[str, str] | None = None) -> None:
    """`docker build` with the classic builder: BuildKit would want a frontend image from a
    registry for some syntax. The image is labelled as the offline equivalent of `equivalent_of`."""
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    cmd = ["docker", "build", "--label", f"{catalogue.OFFLINE_LABEL}={equivalent_of}", "-t", ref]
    for key, value in (build_args or {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    proc = subprocess.run(cmd + [str(context)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(f"Building the offline {ref} failed: {proc.stdout[-600:]}{proc.stderr[-400:]}",
                       "check that containers can reach the Debian mirror over HTTP, then rerun.")


def build_all(force: bool = False, refs: list[str] | None = None) -> list[tuple[str, str, float]]:
    """Build the whole catalogue (base first). Returns (ref, built|reused, seconds) per image."""
    daemon.client()
    results = []
    unknown = sorted(set(refs or ()) - {i.ref for i in catalogue.CATALOGUE})
    if unknown:
        raise LabError(f"The course's image catalogue has no {', '.join(unknown)}.",
                       "see `labkit images` for the references it builds.")
    images = [i for i in catalogue.CATALOGUE if refs is None or i.ref in refs]
    if any(i.recipe != "rootfs" for i in images) and catalogue.DEBIAN not in images:
        images.insert(0, catalogue.DEBIAN)
    replaced = []
    for img in images:
        t0 = time.monotonic()
        if daemon.present(img.ref) and not daemon.built_offline(img.ref):  # never replace a real official image
            results.append((img.ref, "official image present, kept", 0.0))
            continue
        if force and daemon.present(img.ref):
            replaced.append(daemon.image(img.ref).id)
        what = build_one(img, force)
        results.append((img.ref, what, time.monotonic() - t0))
        print(f"  {img.ref:32} {what:8} {time.monotonic() - t0:6.1f}s", flush=True)
    remove_replaced(replaced)
    return results


def remove_replaced(image_ids: list[str]) -> list[str]:
    """A forced rebuild leaves the offline build it replaced untagged (about 2 GB for the catalogue):
    remove each of `image_ids` that is now untagged, the later ones first (they are built FROM the
    earlier ones). One still tagged, used by a container or by an image built FROM it (a lab's) is kept.
    Returns the ids removed."""
    import docker.errors

    c, removed = daemon.client(), []
    for image_id in reversed(image_ids):
        try:
            if not c.images.get(image_id).tags:
                c.images.remove(image_id)  # no force: a container using it keeps it
                removed.append(image_id)
        except docker.errors.APIError:  # gone already, or in use (Docker refuses: 409)
            continue
    return removed
