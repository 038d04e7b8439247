"""The course's kind cluster: create, reuse, delete, and the one safe way to reach it.

Safety first: the labs never use the learner's current kube context. Each lab gets a kubeconfig
of its own that holds exactly one context, the course cluster's (or, when the learner opts in
with LABKIT_KUBE_CONTEXT, the context they named), so a lab cannot create or delete anything in a
production cluster a learner's kubeconfig happens to point at.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from labkit import config, locks, progress, releases
from labkit import cluster_parts as parts
from labkit.errors import LabError, why_unreachable

CONFIG_FILE = config.REPO / "kind-config.yaml"
OPT_IN = "LABKIT_KUBE_CONTEXT"


class ClusterMissing(LabError):
    pass


class WrongContext(LabError):
    pass


class ClusterBroken(LabError):
    pass


BROKEN_FIX = ("run `make cluster-repair`: it starts node containers a Docker restart stopped and keeps the cluster "
              "if it then answers; otherwise it recreates it (a few minutes with the node image present; your "
              "notebooks are kept, and rerunning a lab's cells makes its objects again). After a Docker or "
              "machine restart kind's nodes can come back with other addresses; the node images rewrite "
              "them where Kubernetes keeps them, and when that is not enough the repair recreates.")


# --- tools --------------------------------------------------------------------------------------
def tool(name: str) -> str:
    """kind or kubectl: next to this Python (where `make setup` puts pinned builds), on PATH, or
    built by `labkit cluster build`."""
    candidates = [str(Path(sys.executable).parent / name), shutil.which(name)]
    program = "kind" if name == "kind" else "kubernetes"
    candidates.append(str(parts.BIN / parts.program(program).key / name))
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    raise LabError(f"`{name}` is not installed.",
                   f"run `make setup`: it downloads {name} {parts.KIND_VERSION if name == 'kind' else parts.K8S_VERSION} "
                   "and checks it against the release's checksum, or builds it with Go where there is no network.")


def kind(*args: str, capture: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([tool("kind"), *args], capture_output=capture, text=True)


# --- state --------------------------------------------------------------------------------------
def exists(name: str = parts.CLUSTER_NAME) -> bool:
    done = kind("get", "clusters")
    return name in done.stdout.split()


def offline_node_image() -> bool:
    from labkit import daemon

    return daemon.built_offline(parts.NODE_IMAGE)


def chosen_context() -> str:
    return os.environ.get(OPT_IN) or parts.CONTEXT


def on_kind() -> bool:
    """The labs act on the course's kind cluster (not on a cluster the learner opted in to)."""
    return chosen_context() == parts.CONTEXT


def current_context() -> str | None:
    done = subprocess.run([tool("kubectl"), "config", "current-context"], capture_output=True, text=True)
    return done.stdout.strip() or None


_written: set[Path] = set()


def kubeconfig_path() -> Path:
    """Where the labs' kubeconfig is (kubeconfig() writes it)."""
    path = config.data_dir() / "kubeconfig"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def kubeconfig(refresh: bool = False) -> Path:
    """A kubeconfig with the one context the labs may use; written under the workspace, once per
    process (a cluster recreated since an earlier run has new certificates)."""
    path = kubeconfig_path()
    if path in _written and path.exists() and not refresh:
        return path
    context = chosen_context()
    if context == parts.CONTEXT:
        if not exists():
            raise ClusterMissing("The course cluster (kind `containers-course`) is not running.",
                                 "run `make cluster` (a few minutes the first time), then rerun this cell.")
        done = kind("get", "kubeconfig", "--name", parts.CLUSTER_NAME)
    else:
        # The learner opted in to another cluster: copy just that context.
        done = subprocess.run([tool("kubectl"), "config", "view", "--minify", "--flatten", "--context", context],
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise WrongContext(f"Could not read the kube context `{context}`: {done.stderr.strip()[-200:]}",
                           f"check `kubectl config get-contexts`, or unset {OPT_IN} to use the course cluster.")
    write_kubeconfig(path, done.stdout)
    _written.add(path)
    return path


def write_kubeconfig(path: Path, text: str) -> None:
    """Write a kubeconfig (owner-only) beside `path` and rename it over: another lab's kernel, or
    another test session, may be reading it at this moment."""
    fresh = path.with_name(f".{path.name}.{os.getpid()}")
    fresh.write_text(text)
    fresh.chmod(0o600)
    fresh.replace(path)


def guard_current_context() -> str:
    """For commands a learner types in their own terminal: say when kubectl points elsewhere."""
    current = current_context()
    if current != chosen_context():
        raise WrongContext(f"kubectl's current context is `{current}`, not the course cluster `{chosen_context()}`.",
                           f"run `kubectl config use-context {chosen_context()}` (labs use their own kubeconfig "
                           f"and never act on `{current}`).")
    return current


def api_client():
    """A kubernetes.client.ApiClient bound to the course context, never the current one."""
    from kubernetes import config as kconfig

    return kconfig.new_client_from_config(config_file=str(kubeconfig()), context=None)


# --- lifecycle ----------------------------------------------------------------------------------
def create(log=print, on_created=None) -> str:
    """Create the course cluster unless it exists; wait until every node and system pod is ready.
    on_created() runs as soon as a new cluster's API server answers, before that wait (the add-ons'
    manifests go in meanwhile, and their pods start as soon as the nodes are ready)."""
    if exists():
        log(f"kind cluster {parts.CLUSTER_NAME} already exists: reusing it")
        kubeconfig(refresh=True)
        # Its containers running says nothing of the API server: ask it (a restarted cluster's
        # API server takes a little while to answer; a broken one never does).
        try:
            progress.wait_until(_api_answers, what="an answer from the cluster's API server", timeout=60, interval=3)
        except progress.WaitTimedOut:
            raise ClusterBroken(f"The course cluster's containers are running, but its API server has not answered "
                                f"for a minute ({api_health()[2]}).", BROKEN_FIX) from None
        wait_ready()
        return "reused"
    wait_for_node_image_build(log)
    # --kubeconfig: kind writes the new context to the labs' own file, not to the learner's kubeconfig,
    # whose current context stays whatever the learner chose.
    cmd = [tool("kind"), "create", "cluster", "--config", str(CONFIG_FILE), "--kubeconfig", str(kubeconfig_path())]
    if offline_node_image():
        cmd += ["--image", parts.NODE_IMAGE]
        log(f"using the locally built node image {parts.NODE_IMAGE} (no registry needed)")
    else:  # kind's published image, by digest (a tag can be pushed again), whichever kind release runs it
        cmd += ["--image", releases.node_image()]
        log(f"using kind's node image {releases.node_image()} (pulled once: a few hundred MB)")
    done = subprocess.run(cmd)
    if done.returncode != 0:
        raise LabError(f"`kind create cluster` failed (exit {done.returncode}); its output is above.",
                       "run `labkit doctor`; `kind export logs` shows the nodes' logs. `make cluster-down` "
                       "removes a half-created cluster.")
    kubeconfig(refresh=True)
    if on_created is not None:
        on_created()
    wait_ready()
    return "created"


def wait_for_node_image_build(log=print, timeout: float = 3600) -> None:
    """An offline node image build under way (`labkit cluster build`, e.g. started by CI before the
    Docker labs): wait for it, since the image it makes is the one to create the cluster from."""
    wait_for_build(locks.CLUSTER_BUILD, "the offline node image build", log, timeout)


def wait_for_build(lock, what: str, log=print, timeout: float = 3600) -> None:
    """Wait while a `labkit cluster build` holds `lock` (nothing to do when none does)."""
    pid = locks.holder(lock)
    if pid is None:
        return
    log(f"{what} is under way (`labkit cluster build`, pid {pid}): waiting for it to finish")
    progress.wait_until(lambda: (locks.holder(lock) is None, f"pid {pid} building"),
                        what=what, timeout=timeout, interval=5,
                        fix=f"see how the build is doing in its terminal, or stop it (`kill {pid}`) and rerun.")


def repair(log=print) -> str:
    """The one command for a cluster that does not work (e.g. after a Docker restart): keep it when its
    API server answers within a minute and its nodes get Ready, else delete it and create it again."""
    if exists():
        try:
            _start_stopped_nodes(log)
            kubeconfig(refresh=True)
            progress.wait_until(_api_answers, what="an answer from the cluster's API server", timeout=60, interval=3)
            _wait_kubelets_renewed(timeout=120)
            wait_ready(timeout=120)
            return "answers: kept"
        except LabError as err:
            log(f"the cluster does not work ({err.problem}): recreating it")
        delete(log)
    create(log)
    return "recreated"


def _start_stopped_nodes(log=print) -> None:
    """Start the cluster's node containers a Docker restart stopped (kind gives them no restart policy
    that survives `systemctl restart docker`): control plane first, so it gets its address back first."""
    from labkit import daemon

    nodes = daemon.client().containers.list(all=True, filters={"label": f"io.x-k8s.kind.cluster={parts.CLUSTER_NAME}"})
    stopped = sorted((n for n in nodes if n.status != "running"), key=lambda n: "control-plane" not in n.name)
    for node in stopped:
        log(f"starting node container {node.name} ({node.status})")
        node.start()


def _wait_kubelets_renewed(timeout: float) -> None:
    """Every node's kubelet has renewed its lease since its container last started. A node's Ready
    condition lags by up to 40 s (the controller marks it NotReady only then), so right after a
    restart it still says Ready for a kubelet that cannot reach the API server; the lease is the
    kubelet's own heartbeat (renewed every 10 s), newer than the start only if it got through."""
    from kubernetes import client

    from labkit import daemon

    nodes = daemon.client().containers.list(filters={"label": f"io.x-k8s.kind.cluster={parts.CLUSTER_NAME}"})
    started = {n.name: daemon.parse_time(n.attrs["State"]["StartedAt"]) for n in nodes}
    leases = client.CoordinationV1Api(api_client())

    def state():
        try:
            items = leases.list_namespaced_lease("kube-node-lease", _request_timeout=5).items
        except Exception as exc:  # a control plane that just started can drop a request: ask again
            return False, f"the API server does not answer: {why_unreachable(exc)}"
        renewed = {lease.metadata.name: lease.spec.renew_time for lease in items}
        behind = sorted(name for name, at in started.items() if not renewed.get(name) or renewed[name] < at)
        return not behind, f"{len(started) - len(behind)}/{len(started)} kubelets back" + (
            f" (not yet: {', '.join(behind)})" if behind else "")

    progress.wait_until(state, what="every node's kubelet to report since its restart", timeout=timeout, interval=2,
                        fix="`docker exec <node> journalctl -u kubelet` shows why a kubelet cannot reach the API server.")


def delete(log=print) -> bool:
    if not exists():
        log(f"no kind cluster {parts.CLUSTER_NAME}: nothing to delete")
        return False
    path = kubeconfig_path()
    kind("delete", "cluster", "--name", parts.CLUSTER_NAME, "--kubeconfig", str(path), capture=False)
    path.unlink(missing_ok=True)
    return True


def _addon_pod(pod) -> bool:
    """A pod of an add-on's workload (metrics-server's, in kube-system): offline its image may still be
    building, and a lab that needs the add-on waits for it (cluster_addons.ensure), not the cluster."""
    return any(pod.metadata.namespace == ns and pod.metadata.name.startswith(f"{name}-")
               for addon in parts.ADDONS.values() for ns, _, name in addon.workloads)


def wait_ready(timeout: float = 600) -> None:
    """Nodes Ready and every kube-system pod ready (but the add-ons'), with a progress bar."""
    from kubernetes import client

    core = client.CoreV1Api(api_client())

    def state():
        nodes = core.list_node().items
        ready_nodes = sum(has_condition(n, "Ready") for n in nodes)
        pods = [p for p in core.list_namespaced_pod("kube-system").items if not _addon_pod(p)]
        ready_pods = sum(has_condition(p, "Ready") for p in pods)
        done = bool(nodes) and ready_nodes == len(nodes) and bool(pods) and ready_pods == len(pods)
        return done, f"nodes {ready_nodes}/{len(nodes)} ready, system pods {ready_pods}/{len(pods)}"

    progress.wait_until(state, timeout=timeout, what="cluster ready",
                        fix="see what is not ready with `kubectl get nodes` and `kubectl get pods -A`; "
                            "`kind export logs --name containers-course` collects the nodes' logs.")


def api_health(timeout: float = 5) -> tuple[bool, bool, str]:
    """What the API server answers now: (answers, every node Ready, a sentence). Never raises:
    `labkit doctor` and `cluster up` report what the cluster says, not what its containers look like."""
    from kubernetes import client

    try:
        nodes = client.CoreV1Api(api_client()).list_node(_request_timeout=timeout).items
    except LabError as err:
        return False, False, err.problem
    except Exception as exc:  # refused, timed out, TLS: the API server is not answering
        status = getattr(exc, "status", None)
        if isinstance(status, int) and status >= 400:  # an ApiException: it answered, with a refusal
            return False, False, (f"the API server answers but refused the request: HTTP {status} "
                                  f"{getattr(exc, 'reason', '') or ''}".rstrip()
                                  + (" (right after a start it refuses everyone until its authorization rules are "
                                     "loaded)" if status == 403 else ""))
        return False, False, f"the API server does not answer: {why_unreachable(exc)}"
    ready = sum(has_condition(n, "Ready") for n in nodes)
    return True, bool(nodes) and ready == len(nodes), f"the API server answers; {ready}/{len(nodes)} nodes Ready"


def _api_answers() -> tuple[bool, str]:
    answers, _, detail = api_health()
    return answers, detail


def read_or_none(call, *args):
    """An object read from the API server (call(*args)), or None when there is no such object."""
    from kubernetes import client

    try:
        return call(*args)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def has_condition(obj, kind: str) -> bool:
    """A node's or pod's status condition `kind` (Ready, PodScheduled...) is True."""
    return any(c.type == kind and c.status == "True" for c in obj.status.conditions or [])


# --- images -------------------------------------------------------------------------------------
REGISTRY_ENV = "LABKIT_REGISTRY"


def has_local_image(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def load_images(*refs: str, log=print) -> list[str]:
    """Make local images available to the cluster's nodes. On kind: one `kind load` (no registry; the
    layers images share are sent once). On another cluster the learner opted in to: push each to the
    registry named in LABKIT_REGISTRY and return the pushed references, which manifests must then use."""
    for ref in refs:
        if not has_local_image(ref):
            raise LabError(f"The image {ref} is not in your local Docker, so it cannot be given to the cluster.",
                           f"build or pull it first (`docker pull {ref}`; offline: `make offline-images`), then rerun.")
    if on_kind():
        # kind skips the nodes that have an image already, so loading again is cheap.
        done = kind("load", "docker-image", *refs, "--name", parts.CLUSTER_NAME)
        if done.returncode != 0:
            raise LabError(f"`kind load docker-image {' '.join(refs)}` failed: {done.stderr.strip()[-300:]}",
                           "check that the images exist (`docker image ls`) and the cluster runs (`make cluster`).")
        log(f"{', '.join(refs)} loaded into the kind nodes")
        return list(refs)
    return [_push(ref, log) for ref in refs]


def _push(ref: str, log=print) -> str:
    registry = os.environ.get(REGISTRY_ENV)
    if not registry:
        raise LabError(f"The cluster `{chosen_context()}` is not kind, so local images must go through a registry.",
                       f"set {REGISTRY_ENV} to a registry that cluster pulls from (e.g. ghcr.io/you) and rerun.")
    target = f"{registry.rstrip('/')}/{ref.split('/')[-1]}"
    for cmd in (["docker", "tag", ref, target], ["docker", "push", target]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise LabError(f"`{' '.join(cmd)}` failed: {done.stderr.strip()[-300:]}",
                           f"log in to the registry (`docker login {registry.split('/')[0]}`) and rerun.")
    log(f"{ref} pushed as {target}")
    return target
