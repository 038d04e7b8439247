"""cluster_addons' own logic: which add-on a build is still making (real flock, two processes), and which
pods are restarted after an image was loaded (the Kubernetes API faked: only the selection is under test)."""
import subprocess
import sys
from types import SimpleNamespace as NS

from labkit import cluster, cluster_addons, locks
from labkit import cluster_parts as parts

HOLD = """
import sys, time
from pathlib import Path
from labkit import locks
with locks.held(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(30)
"""


def test_every_addon_image_has_a_lock_of_its_own_with_a_plain_file_name():
    refs = [ref for addon in parts.ADDONS.values() for ref in addon.images]
    paths = {locks.addon_build(ref) for ref in refs}
    assert len(paths) == len(refs)
    assert all(set(p.name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-._") for p in paths)


def test_an_addon_whose_image_is_being_built_cannot_work_yet(tmp_path, monkeypatch):
    monkeypatch.setattr(locks, "addon_build", lambda ref: tmp_path / (ref.replace("/", "_") + ".lock"))
    monkeypatch.setattr(cluster, "offline_node_image", lambda: True)
    monkeypatch.setattr(cluster, "has_local_image", lambda ref: True)
    speaker = parts.ADDONS["metallb"].images[1]
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(locks.addon_build(speaker))], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert cluster_addons.building("metallb") == [speaker]
        assert not cluster_addons.can_work_now("metallb")
        assert cluster_addons.building("traefik") == [] and cluster_addons.can_work_now("traefik")
    finally:
        proc.kill()
        proc.wait()
    assert cluster_addons.can_work_now("metallb")
    # Offline with the build over but an image missing (the build failed): not either.
    monkeypatch.setattr(cluster, "has_local_image", lambda ref: ref != speaker)
    assert not cluster_addons.can_work_now("metallb")


def _pod(name, *waiting):
    statuses = [NS(state=NS(waiting=NS(reason=r) if r else None)) for r in waiting]
    return NS(metadata=NS(name=name), status=NS(container_statuses=statuses))


def test_only_pods_that_gave_up_pulling_are_restarted(monkeypatch):
    from kubernetes import client

    deleted, selectors = [], []
    pods = [_pod("speaker-a", "ImagePullBackOff"), _pod("speaker-b", "ErrImagePull"), _pod("speaker-c", None),
            _pod("speaker-d", "ContainerCreating"), NS(metadata=NS(name="speaker-e"), status=NS(container_statuses=None))]

    class Core:
        def __init__(self, api): pass

        def list_namespaced_pod(self, namespace, label_selector):
            selectors.append((namespace, label_selector))
            return NS(items=pods)

        def delete_namespaced_pod(self, name, namespace, grace_period_seconds):
            deleted.append((namespace, name))

    class Apps:
        def __init__(self, api): pass

        def read_namespaced_daemon_set(self, name, namespace):
            return NS(spec=NS(selector=NS(match_labels={"app": "metallb", "component": name})))

        def read_namespaced_deployment(self, name, namespace):
            return self.read_namespaced_daemon_set(name, namespace)

    monkeypatch.setattr(cluster, "api_client", lambda: None)
    monkeypatch.setattr(client, "CoreV1Api", Core)
    monkeypatch.setattr(client, "AppsV1Api", Apps)
    cluster_addons._restart_failed_pulls(parts.ADDONS["metallb"], log=lambda *a: None)
    # Each workload's own pods (its selector), and of them only those waiting on a failed pull.
    assert selectors == [("metallb-system", "app=metallb,component=controller"),
                         ("metallb-system", "app=metallb,component=speaker")]
    assert deleted == [("metallb-system", "speaker-a"), ("metallb-system", "speaker-b")] * 2
