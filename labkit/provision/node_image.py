"""Build the course cluster with no container registry: binaries, images, a kind node image.

Three stages, each cached outside the checkout and keyed by version, so a second run is quick:
1. Go programs from the module proxy (cluster_parts.PROGRAMS) -> ~/.cache/containers-course/cluster/<k8s>/bin
2. the images a node preloads, FROM scratch or FROM the offline Debian image, classic builder
3. the node image: a Debian bookworm root filesystem with systemd, our containerd/kubelet set-up
   (labkit/offline/kind-node), the binaries, and every image from stage 2 imported into
   containerd's k8s.io namespace, committed as cluster_parts.NODE_IMAGE.
Then the add-ons' programs and images (cluster_parts.ADDON_PROGRAMS, ADDON_IMAGES: MetalLB, local-path,
Traefik, metrics-server), which a lab loads into the nodes when it needs them (cluster_addons.ensure); and
4. the node image once more, with the add-ons' images preloaded too, for the next cluster made from it.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from labkit import catalogue, cluster_addons, config, daemon, locks
from labkit.provision import gobuild, images
from labkit import cluster_parts as parts
from labkit.errors import LabError

RECIPES = Path(__file__).parents[1] / "offline" / "cluster"
NODE_FILES = Path(__file__).parents[1] / "offline" / "kind-node"
CACHE = parts.BUILD_CACHE
BIN = parts.BIN
SRC = config.cache_dir("cluster") / "src"   # the wrapper modules (go.mod, go.sum)
# A label on everything built here, so `labkit cluster images` can tell it from the real thing.
BUILT_LABEL = catalogue.OFFLINE_LABEL
# What an image was built from (a hash): a changed recipe means a rebuild, even over a cached image.
RECIPE_LABEL = "dev.containers-course.recipe"


def build_binaries(log=print, timings: dict | None = None) -> dict[str, Path]:
    """Every Go program the cluster needs; returns output name -> path. Each program's fetch and
    compile seconds go into `timings` when given (the benchmark prints them)."""
    # The add-ons' modules are fetched meanwhile (the network is idle while the node's programs compile).
    found, spent = gobuild.build_all(parts.PROGRAMS, BIN, SRC, log=log, prefetch=parts.ADDON_PROGRAMS)
    if timings is not None:
        timings.update(spent)
    found["pause"] = build_pause(log)
    return found


def build_pause(log=print) -> Path:
    """The sandbox ("pause") binary is C, shipped in the Kubernetes module; link it statically."""
    out = BIN / f"pause-{parts.PAUSE_VERSION}" / "pause"
    if out.exists():
        return out
    if shutil.which("gcc") is None:
        raise LabError("gcc is missing, and the pause container's binary is a small C program.",
                       "install it (`sudo apt-get install gcc libc6-dev`) and rerun.")
    src = gobuild.module_dir("k8s.io/kubernetes", parts.K8S_VERSION) / "build/pause/linux/pause.c"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-Os", "-Wall", "-Werror", "-static", "-DVERSION=v" + parts.PAUSE_VERSION,
                    "-o", str(out), str(src)], check=True)
    subprocess.run(["strip", str(out)], check=True)
    log(f"pause {parts.PAUSE_VERSION}: ready")
    return out


def _dockerfile(image: parts.ClusterImage) -> str:
    lines = ["FROM scratch"] if not image.packages else [
        "FROM debian:bookworm-slim",
        "RUN apt-get update -q && apt-get install -y -q --no-install-recommends "
        + " ".join(image.packages) + " && rm -rf /var/lib/apt/lists/*"]
    lines += [f"COPY bin/ {image.dest}/",
              "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"]
    if image.entrypoint:
        lines.append(f'ENTRYPOINT ["{image.entrypoint}"]')
    return "\n".join(lines) + "\n"


def build_images(binaries: dict[str, Path], force: bool = False, log=print,
                 wanted: tuple[parts.ClusterImage, ...] = parts.CLUSTER_IMAGES) -> list[str]:
    """The images every node preloads (or the add-ons' images), under the names kubeadm and the
    manifests use."""
    import hashlib

    for image in wanted:
        # The recipe: the Dockerfile and the versioned paths of the binaries it copies.
        dockerfile = _dockerfile(image)
        recipe = hashlib.sha256((dockerfile + repr([str(binaries[b]) for b in image.binaries])).encode())
        dockerfile += f"LABEL {RECIPE_LABEL}={recipe.hexdigest()[:16]}\n"
        if not force and daemon.built_offline(image.ref) and _label(image.ref) == recipe.hexdigest()[:16]:
            continue
        if daemon.present(image.ref) and not daemon.built_offline(image.ref):
            log(f"{image.ref}: the real image is present, kept")
            continue
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="cluster-image-") as tmp:
            context = Path(tmp)
            (context / "bin").mkdir()
            for name in image.binaries:
                shutil.copy2(binaries[name], context / "bin" / name)
            (context / "Dockerfile").write_text(dockerfile)
            images.classic_build(context, image.ref, image.ref)
        log(f"{image.ref}: built ({time.monotonic() - started:.0f} s)")
    # The storage helper pod runs the Debian image the course already has.
    return [i.ref for i in wanted] + [catalogue.DEBIAN.ref]


NODE_BASE = "course/kind-node-base:" + parts.K8S_VERSION


def recipe_hash() -> str:
    """What the node image is made of: its files and every pin. A change means a rebuild, even
    where an older node image with the same tag is cached."""
    import hashlib

    digest = hashlib.sha256(repr((parts.PROGRAMS, parts.CLUSTER_IMAGES)).encode())
    for path in sorted(NODE_FILES.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(NODE_FILES)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _image_id(ref: str) -> str | None:
    done = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True)
    return done.stdout.strip() or None


def _drop_replaced(old_id: str | None, ref: str) -> None:
    """The image a rebuild replaced, now untagged: remove it unless a container still uses it
    (a running cluster's nodes do; docker then refuses, and that is fine)."""
    if old_id and old_id != _image_id(ref):
        subprocess.run(["docker", "rmi", old_id], capture_output=True)


def _label(ref: str) -> str | None:
    return _label_of(ref, RECIPE_LABEL)


def _label_of(ref: str, label: str) -> str | None:
    import docker.errors

    try:
        return (daemon.client().images.get(ref).labels or {}).get(label)
    except docker.errors.ImageNotFound:
        return None


def _current(ref: str) -> bool:
    return _label(ref) == recipe_hash()


NODE_BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "crictl", "kubeadm", "kubelet", "kubectl")
CNI_BINARIES = ("host-local", "loopback", "ptp", "portmap")


def build_node_base(binaries: dict[str, Path], force: bool = False, log=print) -> None:
    """Stage 3a: root filesystem, systemd units, containerd and Kubernetes binaries."""
    if not force and _current(NODE_BASE):
        return
    started = time.monotonic()
    old = _image_id(NODE_BASE)
    with tempfile.TemporaryDirectory(prefix="kind-node-") as tmp:
        context = Path(tmp)
        shutil.copytree(NODE_FILES, context, dirs_exist_ok=True)
        for folder, names in (("bin", NODE_BINARIES), ("cni", CNI_BINARIES)):
            (context / folder).mkdir()
            for name in names:
                shutil.copy2(binaries[name], context / folder / name)
        with (context / "Dockerfile").open("a") as dockerfile:
            dockerfile.write(f"LABEL {RECIPE_LABEL}={recipe_hash()}\n")
        images.classic_build(context, NODE_BASE, parts.NODE_IMAGE,
                              {"KIND_VERSION_FILE": parts.K8S_VERSION})
    _drop_replaced(old, NODE_BASE)
    log(f"{NODE_BASE}: built ({time.monotonic() - started:.0f} s)")


def build_node_image(refs: list[str], force: bool = False, log=print) -> None:
    """Stage 3b: start the base privileged (as kind will), import every image into containerd's
    k8s.io namespace without unpacking (the CRI unpacks on first use, on the node's own /var),
    then commit the result as the node image kind is told to use."""
    if not force and daemon.built_offline(parts.NODE_IMAGE) and _current(parts.NODE_IMAGE):
        return
    started = time.monotonic()
    old = _image_id(parts.NODE_IMAGE)
    _commit_with_images(NODE_BASE, refs)
    _drop_replaced(old, parts.NODE_IMAGE)
    log(f"{parts.NODE_IMAGE}: built with {len(refs)} images preloaded ({time.monotonic() - started:.0f} s)")


def _commit_with_images(base: str, refs: list[str], labels: dict[str, str] | None = None) -> None:
    """Start `base` privileged (as kind will), import `refs` into its containerd's k8s.io namespace without
    unpacking (the CRI unpacks on first use, on the node's own /var), commit the result as the node image."""
    name = "course-kind-node-build"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    subprocess.run(["docker", "run", "-d", "--name", name, "--privileged", "--entrypoint", "sleep",
                    base, "infinity"], check=True, capture_output=True)
    try:
        subprocess.run(["docker", "exec", "-d", name, "sh", "-c",
                        "containerd >/var/log/containerd-build.log 2>&1"], check=True)
        _exec(name, "for i in $(seq 50); do ctr version >/dev/null 2>&1 && exit 0; sleep 0.2; done; "
                    "cat /var/log/containerd-build.log; exit 1")
        for ref in refs:
            save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE)
            subprocess.run(["docker", "exec", "-i", name, "ctr", "--namespace=k8s.io", "images", "import",
                            "--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack",
                            "--digests", "-"], stdin=save.stdout, check=True, capture_output=True)
            if save.wait() != 0:
                raise LabError(f"`docker save {ref}` failed.", "rerun `labkit cluster build`.")
        listed = _exec(name, "ctr --namespace=k8s.io images list -q")
        missing = [r for r in refs if _containerd_name(r) not in listed.split()]
        if missing:
            raise LabError(f"containerd in the node image does not list {', '.join(missing)}.",
                           "rerun `labkit cluster build --force`.")
        _exec(name, "pkill containerd; while pgrep -x containerd >/dev/null; do sleep 0.2; done; "
                    "rm -f /var/log/containerd-build.log")
        changes = ['ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]', "CMD []",
                   f"LABEL {BUILT_LABEL}={parts.NODE_IMAGE}"]
        changes += [f"LABEL {k}={v}" for k, v in (labels or {}).items()]
        subprocess.run(["docker", "commit", *(arg for c in changes for arg in ("--change", c)), name, parts.NODE_IMAGE],
                       check=True, capture_output=True)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def add_addons_to_node_image(log=print) -> None:
    """Stage 4 (once every add-on's image is built): the node image with them preloaded too."""
    key = cluster_addons.images_key()
    if _label_of(parts.NODE_IMAGE, cluster_addons.PRELOADED_LABEL) == key:
        return
    started = time.monotonic()
    old = _image_id(parts.NODE_IMAGE)
    base = parts.NODE_IMAGE
    if _label_of(base, cluster_addons.PRELOADED_LABEL):  # older add-ons inside: start again from the image without them
        base = subprocess.run(["docker", "image", "inspect", "-f", "{{.Parent}}", base],
                              capture_output=True, text=True).stdout.strip() or base
    refs = [i.ref for i in parts.ADDON_IMAGES]
    _commit_with_images(base, refs, {cluster_addons.PRELOADED_LABEL: key})
    _drop_replaced(old, parts.NODE_IMAGE)
    log(f"{parts.NODE_IMAGE}: the add-ons' {len(refs)} images preloaded too ({time.monotonic() - started:.0f} s)")


def _containerd_name(ref: str) -> str:
    """The name containerd gives a `docker save`d image: fully qualified, like kubeadm's."""
    first = ref.split("/", 1)[0]
    if "/" not in ref:
        ref = f"docker.io/library/{ref}"
    elif "." not in first and ":" not in first and first != "localhost":
        ref = f"docker.io/{ref}"
    return ref


def _exec(container: str, script: str) -> str:
    done = subprocess.run(["docker", "exec", container, "sh", "-c", script], capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"Preparing the node image failed: {(done.stdout + done.stderr).strip()[-600:]}",
                       "rerun `labkit cluster build --force`; if it fails again, run `labkit doctor`.")
    return done.stdout


def build_all(force: bool = False, log=print) -> dict[str, float]:
    """All three stages, then the add-ons' images; returns seconds per stage. One build at a time
    (locks.CLUSTER_BUILD). The add-ons come last, each under a lock of its own (locks.addon_build) taken
    before the node image's is let go and let go as soon as its images exist: `cluster up` waits for the
    node image only, a lab for the add-on it needs (MetalLB, built first, before the others)."""
    with contextlib.ExitStack() as node:
        node.enter_context(locks.held(locks.CLUSTER_BUILD,
                                      lambda pid: log(f"another cluster build (pid {pid}) is running: waiting for it")))
        times = _build_all(force, log)
        addon_locks = {image.ref: contextlib.ExitStack() for image in parts.ADDON_IMAGES}
        try:
            for ref, stack in addon_locks.items():
                stack.enter_context(locks.held(locks.addon_build(ref)))
            node.close()
            _normal_priority(log)
            started = time.monotonic()
            for program in parts.ADDON_PROGRAMS:
                found, _ = gobuild.build_all([program], BIN, SRC, log=log)
                mine = tuple(i for i in parts.ADDON_IMAGES if set(i.binaries) <= set(program.commands))
                build_images(found, force, log, wanted=mine)
                for image in mine:
                    addon_locks[image.ref].close()
            times["add-ons"] = time.monotonic() - started
            started = time.monotonic()
            add_addons_to_node_image(log)
            times["node image with add-ons"] = time.monotonic() - started
        finally:
            for stack in addon_locks.values():
                stack.close()
    return times


def _normal_priority(log) -> None:
    """CI starts the build at a lower priority (nice 10) so the Docker labs tested meanwhile keep their
    pace. Once the node image exists, an add-on's build is what a lab waits for (lab 07 for Traefik),
    and the cluster labs beside it would starve it: the first cold run with lab 07 saw Traefik still
    compiling 22 minutes on, and lab 07's set-up cell timed out. Raising priority needs root; elsewhere
    the build keeps the priority it was given."""
    if os.getpriority(os.PRIO_PROCESS, 0) > 0:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, 0)  # this thread: the add-ons' compile threads start from it
            log("add-ons: building at normal priority (a lab waits for them)")
        except PermissionError:
            pass


def _build_all(force: bool, log) -> dict[str, float]:
    times = {}
    started = time.monotonic()
    binaries = build_binaries(log)
    times["binaries"] = time.monotonic() - started
    started = time.monotonic()
    images.build_all(refs=[catalogue.DEBIAN.ref])
    refs = build_images(binaries, force, log)
    times["images"] = time.monotonic() - started
    started = time.monotonic()
    build_node_base(binaries, force, log)
    build_node_image(refs, force, log)
    times["node image"] = time.monotonic() - started
    return times


def export(folder: str) -> Path:
    """The node image and the add-ons' images as a compressed archive an instructor hands out: `docker
    load -i` it, then `make cluster` uses it with no registry (every other cluster image is inside the
    node image)."""
    out = Path(folder).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"kind-node-{parts.K8S_VERSION}.tar.gz"
    with archive.open("wb") as sink:
        save = subprocess.Popen(["docker", "save", parts.NODE_IMAGE, *(i.ref for i in parts.ADDON_IMAGES)],
                                stdout=subprocess.PIPE)
        subprocess.run(["gzip", "-1"], stdin=save.stdout, stdout=sink, check=True)
        if save.wait() != 0:
            raise LabError(f"`docker save {parts.NODE_IMAGE}` failed.", "run `labkit cluster build` first.")
    return archive


if __name__ == "__main__":
    print(build_all())
