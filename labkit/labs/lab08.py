"""Lab 08 checks: volumes, a PersistentVolume and its claim, data that outlives its pod, dynamic
provisioning, and a PostgreSQL StatefulSet whose rows survive its pod, on the course cluster.

The checks read the API server (volumes, claims, bindings, events) and the containers themselves
(`exec`: the files and rows really there, and when they were written), never the YAML the learner wrote.
"""
from __future__ import annotations

from datetime import datetime, timezone

from labkit import cluster, cluster_addons
from labkit.checks import Checks, api_object, ready_pod, require
from labkit.errors import friendly

checks = Checks()

DEBIAN_IMAGE = "docker.io/library/debian:bookworm-slim"
POSTGRES_IMAGE = "docker.io/library/postgres:15-bookworm"
# postgres:15's PGDATA, which its image also declares as a VOLUME: the runtime mounts a volume of its own
# there unless the pod mounts one at that very path (postgres:18 moved both, see the lab).
PGDATA = "/var/lib/postgresql/data"
PV = "lab08-pv"
# In-tree volume sources of clouds (the chapter's awsElasticBlockStore among them): on a cloud they work
# through CSI migration where that cloud's CSI driver is installed; a kind cluster has none.
CLOUD_SOURCES = ("aws_elastic_block_store", "gce_persistent_disk", "azure_disk", "azure_file", "cinder", "vsphere_volume")


# --- set-up -------------------------------------------------------------------------------------
@friendly
def prepare(lab) -> None:
    """The images the lab's pods run, loaded into the nodes (no registry needed), and the default
    StorageClass's provisioner (local-path) working."""
    cluster.load_images(DEBIAN_IMAGE, POSTGRES_IMAGE)
    cluster_addons.ensure("local-path")


# --- reading state ------------------------------------------------------------------------------
def _claim(lab, name: str, hint: str):
    return api_object(lambda: lab.kube.core.read_namespaced_persistent_volume_claim(name, lab.kube.namespace),
                      f"there is no PersistentVolumeClaim {name} in {lab.kube.namespace}.", hint)


def _volume_at(pod, container: str, path: str):
    """The pod volume mounted at `path` in a container, or None."""
    c = next((c for c in pod.spec.containers if c.name == container), None)
    mount = next((m for m in (c.volume_mounts or []) if m.mount_path.rstrip("/") == path), None) if c else None
    return next((v for v in pod.spec.volumes or [] if v.name == mount.name), None) if mount else None


def _sh(lab, pod: str, container: str | None, script: str) -> str | None:
    code, out, _ = lab.kube.exec(pod, ["sh", "-c", script], container=container)
    return out.strip() if code == 0 else None


def _pending_reason(lab, claim) -> str:
    """Why a claim is Pending, in the words of its newest event."""
    events = [e for e in lab.kube.events_for(claim.metadata.name) if e.involved_object.kind == "PersistentVolumeClaim"]
    return events[-1].message if events else "no event yet"


def _class_exists(lab, name: str) -> bool:
    from kubernetes import client

    try:
        client.StorageV1Api(lab.kube.client).read_storage_class(name)
        return True
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        return False


def _epoch(ts: datetime) -> float:
    return ts.replace(tzinfo=ts.tzinfo or timezone.utc).timestamp()


# --- checks -------------------------------------------------------------------------------------
@checks("volumes", "Pod app-with-volumes: an emptyDir both containers share, a ConfigMap as files")
@friendly
def volumes(lab):
    pod = ready_pod(lab, "app-with-volumes", "kubectl -n $NS apply -f volumes.yaml")
    names = {c.name for c in pod.spec.containers}
    require({"app", "reader"} <= names, f"app-with-volumes has the containers {', '.join(sorted(names))}.",
            "two containers, app and reader, both mounting the volume cache at /cache.")
    cache = _volume_at(pod, "app", "/cache")
    require(cache is not None, "app mounts nothing at /cache.", "volumeMounts: [{name: cache, mountPath: /cache}]")
    require(cache.host_path is None,
            "cache is a hostPath volume: a folder of the node, shared with every pod that names it, outliving "
            "the pod, and forbidden by Pod Security's baseline and restricted profiles.",
            "use emptyDir: {} for scratch space that lives and dies with the pod.")
    require(cache.empty_dir is not None, "cache is not an emptyDir volume.", "volumes: [{name: cache, emptyDir: {}}]")
    shared = _volume_at(pod, "reader", "/cache")
    require(shared is not None and shared.name == cache.name,
            "reader does not mount app's cache volume at /cache" + (f" (it mounts {shared.name})." if shared else "."),
            "mount the same volume (by its name, cache) in both containers.")
    stamp = _sh(lab, pod.metadata.name, "app", "cat /cache/stamp")
    seen = _sh(lab, pod.metadata.name, "reader", "cat /cache/stamp")
    require(stamp and seen == stamp, f"app wrote /cache/stamp = {stamp!r}; reader reads {seen!r}.",
            "app's command writes the stamp at start: `date +%s%N > /cache/stamp`; recreate the pod.")
    config = _volume_at(pod, "app", "/etc/config")
    app = next(c for c in pod.spec.containers if c.name == "app")
    copies = [m.sub_path for m in app.volume_mounts or [] if m.sub_path and any(
        v.name == m.name and v.config_map is not None for v in pod.spec.volumes or [])]
    require(config is not None or not copies,
            f"app mounts app-config's {', '.join(copies)} one file at a time (subPath): a subPath mount is a copy "
            "made when the container starts, and never follows a change of the ConfigMap.",
            "mount the whole ConfigMap volume at /etc/config: each key becomes a file the kubelet keeps up to date.")
    require(config is not None and config.config_map is not None and config.config_map.name == "app-config",
            "app has no ConfigMap app-config mounted at /etc/config.",
            "volumes: [{name: config, configMap: {name: app-config}}] and mount it at /etc/config (readOnly).")
    cm = lab.kube.core.read_namespaced_config_map("app-config", lab.kube.namespace)
    want = (cm.data or {}).get("GREETING")
    got = _sh(lab, pod.metadata.name, "app", "cat /etc/config/GREETING")
    require(got == want, f"/etc/config/GREETING holds {got!r}; the ConfigMap says {want!r}.",
            "wait a minute (the kubelet refreshes ConfigMap volumes periodically) and rerun the check.")
    return (f"app and reader share one emptyDir (both read stamp {stamp}); app-config's keys are files in "
            f"/etc/config (GREETING={got}).")


@checks("static", "PersistentVolume lab08-pv, made by you, bound to the claim data")
@friendly
def static(lab):
    pv = api_object(lambda: lab.kube.core.read_persistent_volume(PV), f"there is no PersistentVolume {PV}.",
                    "kubectl apply -f pv.yaml (PersistentVolumes belong to the cluster, not to a namespace).")
    require((pv.metadata.labels or {}).get("dev.containers-course.lab") == lab.id,
            f"{PV} does not carry this lab's labels, so the lab's cleanup would not find it.",
            "add the labels of pv.yaml's template (dev.containers-course.course and .lab) and apply again.")
    cloud = next((name for name in CLOUD_SOURCES if getattr(pv.spec, name, None) is not None), None)
    require(cloud is None, f"{PV}'s storage is {cloud} (the chapter's example): a disk of a cloud this cluster does "
            "not run in, with no CSI driver for it. A claim may still bind to it (binding never touches the "
            "storage), but no pod could ever mount it.",
            "give the volume storage the nodes really have: a folder on a node (hostPath, or local with a "
            "nodeAffinity).")
    require(pv.spec.persistent_volume_reclaim_policy == "Retain",
            f"{PV}'s reclaim policy is {pv.spec.persistent_volume_reclaim_policy}.",
            "persistentVolumeReclaimPolicy: Retain: the data stays when its claim is deleted.")
    claim = _claim(lab, "data", "kubectl -n $NS apply -f pvc.yaml")
    if claim.status.phase != "Bound":
        want = claim.spec.resources.requests.get("storage")
        has = (pv.spec.capacity or {}).get("storage")
        cls, pv_cls = claim.spec.storage_class_name, pv.spec.storage_class_name or ""
        reasons = []
        if (cls or "") != pv_cls:
            reasons.append(f"it asks for the class {cls!r}, {PV} has {pv_cls!r}")
        from kubernetes.utils import parse_quantity

        if want and has and parse_quantity(want) > parse_quantity(has):
            reasons.append(f"it asks for {want}, {PV} holds {has}")
        if not set(claim.spec.access_modes or []) <= set(pv.spec.access_modes or []):
            reasons.append(f"it asks for {', '.join(claim.spec.access_modes)}, {PV} offers "
                           f"{', '.join(pv.spec.access_modes or [])}")
        if pv.status.phase == "Released":
            reasons.append(f"{PV} is Released: it still remembers its previous claim (spec.claimRef)")
        if pv.status.phase == "Released":
            fix = "clear it: kubectl patch pv lab08-pv --type json -p '[{\"op\":\"remove\",\"path\":\"/spec/claimRef\"}]'"
        elif (cls or "") != pv_cls:
            fix = (f"storageClassName: \"\" (no class: static volumes only) and volumeName: {PV} bind the claim to "
                   "your volume (a claim that names no class is given the default one, and binds only to a volume of "
                   "its own class); delete the claim and apply it again (its spec cannot change)")
        else:
            fix = "match the volume's size and access modes in pvc.yaml; delete the claim and apply it again"
        require(False, f"claim data is {claim.status.phase}: " + ("; ".join(reasons) or _pending_reason(lab, claim)) + ".",
                fix + ".")
    ref = pv.spec.claim_ref
    require(claim.spec.volume_name == PV and ref is not None and ref.uid == claim.metadata.uid,
            f"claim data is bound to {claim.spec.volume_name}, not to {PV}.",
            f"bind it to yours: volumeName: {PV} (or a selector on its labels), storageClassName: \"\".")
    return (f"data is Bound to {PV} ({pv.spec.capacity.get('storage')}, {', '.join(pv.spec.access_modes)}, "
            f"Retain); the PV's claimRef is this claim (uid {claim.metadata.uid[:8]}).")


@checks("survives", "A marker written by pod writer, read back by a new pod reader on the same claim")
@friendly
def survives(lab):
    reader = ready_pod(lab, "reader", "kubectl -n $NS apply -f reader.yaml")
    vol = _volume_at(reader, "reader", "/data")
    require(vol is not None and vol.persistent_volume_claim is not None and vol.persistent_volume_claim.claim_name == "data",
            "reader does not mount the claim data at /data.",
            "volumes: [{name: data, persistentVolumeClaim: {claimName: data}}], mounted at /data.")
    require(lab.kube.pod("writer") is None, "pod writer still exists: nothing has shown that the data outlives it.",
            "delete it (kubectl -n $NS delete pod writer), then read the marker from reader.")
    marker = _sh(lab, "reader", "reader", "cat /data/marker")
    require(marker, "there is no /data/marker on the claim.",
            "write it from writer before deleting it: kubectl -n $NS exec writer -- sh -c 'date > /data/marker'")
    written = float(_sh(lab, "reader", "reader", "stat -c %Y /data/marker") or 0)
    started = reader.status.container_statuses[0].state.running.started_at
    require(written < _epoch(started),
            f"/data/marker was written {written - _epoch(started):.0f} s after reader started: by reader, not by "
            "an earlier pod.", "write it from writer, delete writer, then create reader and read it.")
    return (f"reader, started {_epoch(started) - written:.0f} s after the marker was written, reads {marker!r} "
            "from the claim: the data outlived the pod that wrote it.")


@checks("dynamic", "Claim cache provisioned by the default StorageClass once a pod used it")
@friendly
def dynamic(lab):
    from kubernetes import client

    claim = _claim(lab, "cache", "kubectl -n $NS apply -f cache-claim.yaml")
    cls = claim.spec.storage_class_name
    require(cls != "" or claim.status.phase != "Bound",
            f"claim cache names no class (storageClassName: \"\"): it bound to {claim.spec.volume_name}, a volume "
            "that was already there, and no provisioner made one.",
            "leave storageClassName out, so the claim gets the default class and its provisioner makes the volume.")
    if claim.status.phase != "Bound":
        require(not cls or _class_exists(lab, cls), f"claim cache asks for the StorageClass {cls!r}, and there is "
                f"no StorageClass {cls}: no provisioner makes a volume for it, so it stays Pending unless an available "
                f"PersistentVolume of class {cls!r} turns up.",
                "leave storageClassName out to get the default class (kubectl get storageclass shows it), "
                "delete the claim and apply it again.")
        require(False, f"claim cache is {claim.status.phase}: {_pending_reason(lab, claim)}",
                "with volumeBindingMode WaitForFirstConsumer nothing is provisioned until a pod uses the claim: "
                "kubectl -n $NS apply -f cache-user.yaml")
    sc = client.StorageV1Api(lab.kube.client).read_storage_class(cls)
    pv = lab.kube.core.read_persistent_volume(claim.spec.volume_name)
    by = (pv.metadata.annotations or {}).get("pv.kubernetes.io/provisioned-by")
    require(by == sc.provisioner, f"{pv.metadata.name} was not made by {sc.provisioner} (provisioned-by: {by}).",
            "leave storageClassName out so the default class's provisioner makes the volume.")
    user = ready_pod(lab, "cache-user", "kubectl -n $NS apply -f cache-user.yaml")
    terms = pv.spec.node_affinity.required.node_selector_terms if pv.spec.node_affinity else []
    nodes = {v for t in terms for e in t.match_expressions or [] for v in e.values or []}
    return (f"{sc.provisioner} made {pv.metadata.name} for cache ({sc.metadata.name}, {sc.volume_binding_mode}) "
            f"on {', '.join(sorted(nodes)) or 'a node'}, where the scheduler had put cache-user ({user.spec.node_name}).")


def keeps_data(mount: str, pgdata: str) -> bool:
    """Does a claim mounted at `mount` hold PGDATA? Only when PGDATA is at or below it, and the image's own
    volume (a folder the runtime mounts over anything the pod mounts above it) does not shadow it."""
    inside = lambda path, folder: path == folder or path.startswith(folder + "/")  # noqa: E731
    shadowed = PGDATA.startswith(mount + "/") and inside(pgdata, PGDATA)
    return inside(pgdata, mount) and not shadowed


@checks("statefulset", "StatefulSet postgres: rows that outlived pod postgres-0, and a claim kept on scale-down")
@friendly
def statefulset(lab):
    sts = api_object(lambda: lab.kube.apps.read_namespaced_stateful_set("postgres", lab.kube.namespace),
                     f"there is no StatefulSet postgres in {lab.kube.namespace}.", "kubectl -n $NS apply -f statefulset.yaml")
    policy = sts.spec.persistent_volume_claim_retention_policy
    require(policy is not None and policy.when_scaled == "Retain" and policy.when_deleted == "Delete",
            f"persistentVolumeClaimRetentionPolicy is whenScaled {policy.when_scaled if policy else 'Retain'}, "
            f"whenDeleted {policy.when_deleted if policy else 'Retain'}.",
            "persistentVolumeClaimRetentionPolicy: {whenScaled: Retain, whenDeleted: Delete}: keep a replica's "
            "data when scaling down, drop it with the StatefulSet.")
    templates = [t.metadata.name for t in sts.spec.volume_claim_templates or []]
    require("data" in templates, "postgres has no volumeClaimTemplates named data: its pods share or lose storage.",
            "volumeClaimTemplates: [{metadata: {name: data}, spec: {accessModes: [ReadWriteOnce], resources: "
            "{requests: {storage: 1Gi}}}}]")
    container = next((c for c in sts.spec.template.spec.containers if c.name == "postgres"),
                     sts.spec.template.spec.containers[0])
    pgdata = next((e.value for e in container.env or [] if e.name == "PGDATA" and e.value), PGDATA).rstrip("/")
    on_claim = [m.mount_path.rstrip("/") for m in container.volume_mounts or [] if m.name == "data"]
    require(any(keeps_data(path, pgdata) for path in on_claim),
            f"postgres keeps its data in {pgdata}, and the claim data is mounted "
            + (f"at {', '.join(on_claim)}" if on_claim else "nowhere in the container")
            + (f": the image's own volume {PGDATA} is mounted over it, and goes with the pod." if any(
                PGDATA.startswith(path + "/") for path in on_claim) else ": the rows go to a volume that dies with the pod."),
            f"mount the claim at PGDATA itself ({PGDATA} in postgres:15: `docker image inspect` shows its Env and "
            "its Volumes).")
    require(sts.spec.replicas == 1, f"postgres asks for {sts.spec.replicas} replicas, not 1.",
            "scale it down after the restart: kubectl -n $NS scale statefulset postgres --replicas 1")
    require(lab.kube.pod("postgres-1") is None, "pod postgres-1 is still shutting down.",
            "wait for it (kubectl -n $NS wait --for=delete pod/postgres-1) and rerun the check.")
    claims = {c.metadata.name: c for c in lab.kube.core.list_namespaced_persistent_volume_claim(lab.kube.namespace).items}
    require("data-postgres-1" in claims,
            "claim data-postgres-1 is gone: postgres-1's data went with the scale-down.",
            "whenScaled: Retain keeps it (scale up again and postgres-1 gets its data back).")
    pod = ready_pod(lab, "postgres-0", "kubectl -n $NS rollout status statefulset postgres")
    vol = next((v for v in pod.spec.volumes or [] if v.persistent_volume_claim), None)
    require(vol is not None and vol.persistent_volume_claim.claim_name == "data-postgres-0",
            "postgres-0 does not use the claim data-postgres-0.", "mount the claim template data at PGDATA: "
            "/var/lib/postgresql/data in postgres:15 (from postgres:18, the image's volume /var/lib/postgresql).")
    # The server's start time, to the microsecond, settles what the pod's creation time (whole seconds) cannot:
    # a pod deleted and recreated within the second its row was written.
    out = _sh(lab, "postgres-0", None, "psql -U postgres -tAc \"SELECT count(*), coalesce(extract(epoch FROM "
              "min(at)), 0), extract(epoch FROM pg_postmaster_start_time()) FROM notes\"")
    require(out, "postgres-0 has no table notes.", "run the cell that creates it and inserts a row "
            "(in postgres-0). If you did, the table did not outlive the pod: the claim is not mounted where "
            "postgres:15 keeps its data (PGDATA: docker image inspect shows it).")
    count, first, server = (float(v) for v in out.split("|"))
    born = _epoch(pod.metadata.creation_timestamp)
    require(count >= 1 and first < born + 1 and server > first,
            f"notes has {count:.0f} row(s), the first written {first - born:.0f} s after pod postgres-0 was created: "
            "no row has outlived a pod yet." if count else "notes is empty.",
            "insert a row, then delete pod postgres-0 (kubectl -n $NS delete pod postgres-0), wait for it, and "
            "count again.")
    return (f"postgres-0 (its server started {server - first:.1f} s after the first row) found {count:.0f} row(s) on "
            "data-postgres-0; data-postgres-1 is kept after the scale-down.")
