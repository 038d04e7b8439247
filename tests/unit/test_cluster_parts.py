"""The offline cluster's own logic, without building anything: wrapper modules, image names,
manifests, the CI runc wrapper, error translation."""
import importlib.machinery
import importlib.util
import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from labkit import cluster, cluster_addons, cluster_parts, errors
from labkit.errors import LabError
from labkit.provision import addons, gobuild, node_image

REPO = Path(__file__).resolve().parents[2]


def test_kubernetes_wrapper_module_pins_every_staging_module_to_the_release():
    text = gobuild.go_mod_text(cluster_parts.program("kubernetes"))
    assert "require k8s.io/kubernetes v1.36.1" in text
    assert "\tk8s.io/client-go => k8s.io/client-go v0.36.1" in text
    assert text.count("=> k8s.io/") == len(cluster_parts._STAGING) == 33
    assert "\tk8s.io/kubernetes/cmd/kubeadm" in text.split("tool (", 1)[1]


def test_kubernetes_binaries_report_the_real_version():
    flags = cluster_parts.program("kubernetes").ldflags
    assert flags.startswith("all=")
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion=v1.36.1" in flags and f"-X {pkg}.gitMinor=36" in flags


def test_every_image_binary_is_built_by_some_program():
    built = {name for p in cluster_parts.PROGRAMS for name in p.commands} | {"pause"}
    for image in cluster_parts.CLUSTER_IMAGES:
        assert set(image.binaries) <= built, image
    # An add-on is built after the node image, from its own programs.
    for image in cluster_parts.ADDON_IMAGES:
        assert set(image.binaries) <= {name for p in cluster_parts.ADDON_PROGRAMS for name in p.commands}, image


def test_a_program_can_replace_a_module_with_a_fork():
    text = gobuild.go_mod_text(cluster_parts.program("traefik"))
    assert "\tgithub.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59" in text
    assert "require github.com/traefik/traefik/v3 v3.6.12" in text


def test_traefik_manifest_runs_the_pinned_image_and_serves_both_apis():
    docs = list(yaml.safe_load_all(addons.traefik_manifest()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "docker.io/library/traefik:v3.6.12"
    assert {"--providers.kubernetesgateway", "--providers.kubernetesingress"} <= set(container["args"])
    gateway_class = next(d for d in docs if d["kind"] == "GatewayClass")
    assert gateway_class["spec"]["controllerName"] == "traefik.io/gateway-controller"


def test_images_are_named_as_kubeadm_and_containerd_name_them():
    refs = {i.ref for i in cluster_parts.CLUSTER_IMAGES}
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        assert f"registry.k8s.io/{component}:v1.36.1" in refs
    assert {"registry.k8s.io/pause:3.10.2", "registry.k8s.io/etcd:3.6.8-0",
            "registry.k8s.io/coredns/coredns:v1.14.2"} <= refs
    assert node_image._containerd_name("debian:bookworm-slim") == "docker.io/library/debian:bookworm-slim"
    assert node_image._containerd_name("course/kind-podnet:1") == "docker.io/course/kind-podnet:1"
    assert node_image._containerd_name("quay.io/metallb/speaker:v0.15.2") == "quay.io/metallb/speaker:v0.15.2"


def test_scratch_and_debian_dockerfiles():
    pause = next(i for i in cluster_parts.CLUSTER_IMAGES if "pause" in i.ref)
    text = node_image._dockerfile(pause)
    assert text.startswith("FROM scratch") and 'ENTRYPOINT ["/pause"]' in text
    proxy = next(i for i in cluster_parts.CLUSTER_IMAGES if "kube-proxy" in i.ref)
    text = node_image._dockerfile(proxy)
    assert text.startswith("FROM debian:bookworm-slim") and "iptables" in text and "ENTRYPOINT" not in text


def test_network_tools_layer_is_one_for_every_node_image_that_installs_packages():
    """Identical install lines: Docker's build cache gives the images one layer, unpacked once per node."""
    installs = {node_image._dockerfile(i).splitlines()[1] for i in cluster_parts.CLUSTER_IMAGES if i.packages}
    assert len(installs) == 1 and len([i for i in cluster_parts.CLUSTER_IMAGES if i.packages]) == 3


def test_every_addon_image_is_built_and_named_by_one_addon():
    named = [ref for addon in cluster_parts.ADDONS.values() for ref in addon.images]
    assert sorted(named) == sorted(i.ref for i in cluster_parts.ADDON_IMAGES)
    # Built after the node image, so the node image must not need them (see the next test).
    assert not set(named) & {i.ref for i in cluster_parts.CLUSTER_IMAGES}
    # ADDONS lists them in the order they are built (tests/lab_order.py runs the labs in that order).
    program_of = {name: i for i, p in enumerate(cluster_parts.ADDON_PROGRAMS) for name in p.commands}
    binaries = {i.ref: i.binaries for i in cluster_parts.ADDON_IMAGES}
    built_at = [max(program_of[b] for ref in addon.images for b in binaries[ref])
                for addon in cluster_parts.ADDONS.values()]
    assert built_at == sorted(built_at) and list(cluster_parts.ADDONS)[0] == "metallb"


def test_every_lab_names_only_known_addons():
    from labkit import labs

    for lab in labs.LABS.values():
        assert set(lab.addons) <= set(cluster_parts.ADDONS), lab.id


def test_node_manifests_use_only_preloaded_images_or_an_addons():
    preloaded = {node_image._containerd_name(i.ref) for i in cluster_parts.CLUSTER_IMAGES}
    preloaded.add("docker.io/library/debian:bookworm-slim")
    # kind's storage manifest runs the local-path add-on, whose image cluster_addons.ensure("local-path") loads.
    preloaded.update(node_image._containerd_name(ref) for ref in cluster_parts.ADDONS["local-path"].images)
    manifests = REPO / "labkit/offline/kind-node/files/kind/manifests"
    for path in manifests.glob("*.yaml"):
        text = path.read_text()
        for line in text.splitlines():
            if line.strip().startswith("image:"):
                assert node_image._containerd_name(line.split("image:")[1].strip()) in preloaded, (path, line)
        # kind templates the CNI manifest; the rest must be plain YAML.
        docs = list(yaml.safe_load_all(text.replace("{{ .PodSubnet }}", "10.244.0.0/16")))
        assert all(d.get("kind") for d in docs if d)


def test_metrics_server_gets_insecure_kubelet_tls_and_a_10_s_resolution_once():
    manifest = yaml.safe_dump_all([
        {"kind": "ServiceAccount", "metadata": {"name": "metrics-server"}},
        {"kind": "Deployment", "metadata": {"name": "metrics-server"},
         "spec": {"template": {"spec": {"containers": [{"name": "m", "args": [
             "--secure-port=10250", "--metric-resolution=15s"]}]}}}}])
    once = addons.metrics_server_for_kind(manifest)
    twice = addons.metrics_server_for_kind(once)
    args = list(yaml.safe_load_all(twice))[1]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["--secure-port=10250", "--kubelet-insecure-tls", "--metric-resolution=10s",
                    "--kubelet-request-timeout=8s"]


def test_metrics_api_is_left_out_of_the_manifest_only_while_it_is_the_expected_one():
    """install applies metrics-server's manifest without its APIService (cluster_addons.ensure registers it once
    metrics-server runs); a release that registers another API must be noticed, not silently dropped."""
    deployment = {"kind": "Deployment", "metadata": {"name": "metrics-server"}}
    kept = list(yaml.safe_load_all(addons.without_metrics_api(
        yaml.safe_dump_all([deployment, cluster_addons.METRICS_API]))))
    assert kept == [deployment]
    other = {**cluster_addons.METRICS_API, "spec": {**cluster_addons.METRICS_API["spec"], "version": "v1"}}
    with pytest.raises(LabError, match="different API"):
        addons.without_metrics_api(yaml.safe_dump_all([deployment, other]))


def test_readiness_skips_only_the_add_ons_pods(monkeypatch):
    """A new offline cluster is ready before metrics-server's image is built (its pod waits for ensure)."""
    def pod(name, namespace="kube-system"):
        return SimpleNamespace(metadata=SimpleNamespace(name=name, namespace=namespace))

    assert cluster._addon_pod(pod("metrics-server-6d9f5b7c-x2x4k"))
    assert not cluster._addon_pod(pod("coredns-7db6d8ff4d-abcde"))
    assert not cluster._addon_pod(pod("metrics-server-6d9f5b7c-x2x4k", namespace="lab-10"))


def _runc_wrapper():
    path = REPO / ".ci/runc-drop-missing-caps"
    loader = importlib.machinery.SourceFileLoader("runc_wrapper", str(path))
    spec = importlib.util.spec_from_loader("runc_wrapper", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_runc_wrapper_drops_only_capabilities_the_host_lacks(tmp_path, monkeypatch):
    wrapper = _runc_wrapper()
    assert wrapper.CAPS[24] == "SYS_RESOURCE" and len(wrapper.CAPS) == 41
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]
    config = {"process": {"capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(wrapper, "bounding_set", lambda: {"CAP_CHOWN", "CAP_SYS_ADMIN"})
    wrapper.rewrite(str(tmp_path / "config.json"), process_only=False)
    kept = json.loads((tmp_path / "config.json").read_text())["process"]["capabilities"]
    assert all(v == ["CAP_CHOWN", "CAP_SYS_ADMIN"] for v in kept.values())
    assert wrapper.option(["exec", "--process", "/p.json", "id"], "--process") == "/p.json"
    assert wrapper.option(["create", "--bundle=/b", "id"], "--bundle") == "/b"


def test_kubernetes_api_errors_become_one_sentence_with_a_fix():
    from kubernetes.client import ApiException

    exc = ApiException(status=404, reason="Not Found")
    exc.body = json.dumps({"message": 'pods "web" not found'})
    err = errors.translate(exc)
    assert err.problem == 'The Kubernetes API said 404: pods "web" not found.' and "create it first" in err.fix
    assert errors.translate(ValueError("a bug")) is None


def test_a_rejected_object_is_explained_field_by_field():
    from kubernetes.client import ApiException

    # The Status the API server returns for an invalid Service (kubectl apply of a typo'd port).
    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body = json.dumps({
        "kind": "Status", "status": "Failure", "reason": "Invalid", "code": 422,
        "message": 'Service "web" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
        "details": {"name": "web", "kind": "Service", "causes": [
            {"reason": "FieldValueInvalid", "message": "Invalid value: 0: must be between 1 and 65535, inclusive",
             "field": "spec.ports[0].port"}]}})
    err = errors.translate(exc)
    assert err.problem == ("The Kubernetes API said 422: it rejected Service web: spec.ports[0].port: "
                           "Invalid value: 0: must be between 1 and 65535, inclusive.")
    assert "fix the field" in err.fix


def test_a_decoding_error_loses_its_go_map_dump():
    from kubernetes.client import ApiException

    exc = ApiException(status=400, reason="Bad Request")
    exc.body = json.dumps({"kind": "Status", "code": 400, "message":
                           'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go '
                           'struct field PodSpec.spec.containers of type []v1.Container: map[string]interface {}'
                           '{"apiVersion":"v1","kind":"Pod"}'})
    err = errors.translate(exc)
    assert "map[" not in err.problem and "cannot unmarshal string" in err.problem


def test_readiness_is_asked_promptly_and_liveness_left_alone():
    manifest = """
kind: Deployment
metadata: {name: controller}
spec:
  template:
    spec:
      containers:
      - name: controller
        readinessProbe: {httpGet: {path: /metrics, port: 7472}, initialDelaySeconds: 10, periodSeconds: 10}
        livenessProbe: {httpGet: {path: /metrics, port: 7472}, initialDelaySeconds: 10, periodSeconds: 10}
      - name: sidecar
"""
    from labkit.provision import addons

    containers = yaml.safe_load(addons.probed_promptly(manifest))["spec"]["template"]["spec"]["containers"]
    assert containers[0]["readinessProbe"]["initialDelaySeconds"] == 1
    assert containers[0]["readinessProbe"]["periodSeconds"] == 2
    assert containers[0]["livenessProbe"]["initialDelaySeconds"] == 10
    assert "readinessProbe" not in containers[1]


def _vpa_release(tmp_path, image):
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "vpa-v1-crd-gen.yaml").write_text("kind: CustomResourceDefinition\n")
    (deploy / "vpa-rbac.yaml").write_text("kind: ClusterRole\n")
    (deploy / "recommender-deployment.yaml").write_text(yaml.safe_dump(
        {"kind": "Deployment", "metadata": {"name": "vpa-recommender"},
         "spec": {"template": {"spec": {"containers": [{"name": "recommender", "image": image,
                                                        "readinessProbe": {"periodSeconds": 10}}]}}}}))
    return tmp_path


def test_the_vpa_recommender_looks_every_5_s_at_the_pods_a_vpa_names_only(tmp_path, monkeypatch):
    """The release's deploy/ files, the recommender given the course's two flags (and prompt readiness)."""
    monkeypatch.setattr(addons, "_module_copy", lambda *_: _vpa_release(tmp_path, cluster_parts.VPA_RECOMMENDER_IMAGE))
    crds, rest = addons.vpa_manifests()
    assert crds == "kind: CustomResourceDefinition\n"
    docs = [d for d in yaml.safe_load_all(rest) if d]
    assert [d["kind"] for d in docs] == ["ClusterRole", "Deployment"]
    container = docs[1]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--recommender-interval=5s", "--memory-saver"]
    assert container["readinessProbe"]["periodSeconds"] == 2


def test_a_vpa_release_running_another_image_is_noticed(tmp_path, monkeypatch):
    monkeypatch.setattr(addons, "_module_copy", lambda *_: _vpa_release(tmp_path, "registry.k8s.io/autoscaling/vpa-recommender:9.9.9"))
    with pytest.raises(LabError, match="update cluster_parts.VPA_RECOMMENDER_IMAGE"):
        addons.vpa_manifests()


def test_the_kind_config_keeps_kinds_own_controller_manager_argument_beside_the_hpa_period():
    """kind applies kubeadmConfigPatches as JSON merge patches: a list in the patch replaces kind's whole list, so
    the course's extraArgs must repeat every argument kind's template (of the pinned release) gives an IPv4
    cluster without feature gates."""
    done = subprocess.run(["go", "mod", "download", "-json", f"sigs.k8s.io/kind@{cluster_parts.KIND_VERSION}"],
                          capture_output=True, text=True, check=True)
    template = Path(json.loads(done.stdout)["Dir"], "pkg/cluster/internal/kubeadm/config.go").read_text()
    v1beta4 = template[template.index("apiVersion: kubeadm.k8s.io/v1beta4"):]
    block = v1beta4[v1beta4.index("controllerManager:"):].split("\n# ", 1)[0]
    block = re.sub(r"\{\{ if \.(FeatureGates|IPv6) \}\}.*?\{\{- end ?\}\}", "", block, flags=re.S)
    kinds = set(re.findall(r'- name: "([^"]+)"', block))
    config = yaml.safe_load(cluster.CONFIG_FILE.read_text())
    patch = next(yaml.safe_load(p) for p in config["kubeadmConfigPatches"] if "controllerManager" in p)
    ours = {a["name"]: a["value"] for a in patch["controllerManager"]["extraArgs"]}
    assert kinds == {"enable-hostpath-provisioner"} and kinds <= set(ours)
    assert ours["horizontal-pod-autoscaler-sync-period"] == "5s"
