"""A learner whose kubeconfig points at another cluster (say, production) must never have a lab act
there: the labs' kubeconfig holds the course context only, and the toolkit says when kubectl's
current context is elsewhere.

These tests rewrite the labs' kubeconfig (to another context and back), so no cluster lab may run
beside them (tests/run_labs.py)."""
import pytest
import yaml

from labkit import cluster
from labkit import cluster_parts as parts

pytestmark = pytest.mark.disrupts_cluster
PRODUCTION = """apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: admin
  user: {token: not-a-real-token}
contexts:
- name: prod
  context: {cluster: prod, user: admin}
current-context: prod
"""


@pytest.fixture
def production_kubeconfig(tmp_path, monkeypatch):
    path = tmp_path / "config"
    path.write_text(PRODUCTION)
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv(cluster.OPT_IN, raising=False)
    return path


def test_labs_kubeconfig_holds_only_the_course_context(production_kubeconfig):
    config = yaml.safe_load(cluster.kubeconfig(refresh=True).read_text())
    assert [c["name"] for c in config["contexts"]] == [parts.CONTEXT]
    assert config["current-context"] == parts.CONTEXT
    # The learner's own kubeconfig is left as it was.
    assert yaml.safe_load(production_kubeconfig.read_text())["current-context"] == "prod"


def test_current_context_elsewhere_is_reported_with_a_fix(production_kubeconfig):
    with pytest.raises(cluster.WrongContext) as caught:
        cluster.guard_current_context()
    assert "`prod`" in caught.value.problem and "use-context kind-containers-course" in caught.value.fix


def test_the_api_client_talks_to_the_course_cluster(production_kubeconfig):
    from kubernetes import client

    nodes = client.CoreV1Api(cluster.api_client()).list_node().items
    assert {n.metadata.labels["kubernetes.io/hostname"] for n in nodes} == {
        f"{parts.CLUSTER_NAME}-control-plane", f"{parts.CLUSTER_NAME}-worker", f"{parts.CLUSTER_NAME}-worker2"}


def test_opting_in_to_another_context_is_explicit(production_kubeconfig, monkeypatch):
    monkeypatch.setenv(cluster.OPT_IN, "prod")
    config = yaml.safe_load(cluster.kubeconfig(refresh=True).read_text())
    assert [c["name"] for c in config["contexts"]] == ["prod"]
    monkeypatch.delenv(cluster.OPT_IN)
    cluster.kubeconfig(refresh=True)  # back to the course cluster for whatever runs next


def test_creating_the_cluster_left_the_learners_kubeconfig_as_it_was():
    """`make test` created the course cluster with KUBECONFIG pointing at a learner's file (lab_order.py):
    kind must not have added its context or switched the current one."""
    from lab_order import LEARNER_KUBECONFIG, LEARNER_KUBECONFIG_TEXT

    if not LEARNER_KUBECONFIG.exists():
        pytest.fail("run through `make test`: the session that creates the cluster writes "
                    f"{LEARNER_KUBECONFIG} first", pytrace=False)
    assert LEARNER_KUBECONFIG.read_text() == LEARNER_KUBECONFIG_TEXT


@pytest.mark.last  # it cleans up the whole course: nothing may run beside it (tests/run_labs.py)
def test_a_learners_own_namespace_survives_every_cleanup():
    """Cleanup deletes the namespaces the labs labelled, never one of the learner's."""
    import uuid

    from kubernetes import client

    from labkit import cleanup

    core = client.CoreV1Api(cluster.api_client())
    name = f"bystander-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"lab": "05"})))
    try:
        for lab in ("05", None):
            cleanup.remove(lab)
        ns = core.read_namespace(name)
        assert ns.status.phase == "Active" and ns.metadata.deletion_timestamp is None
        assert name not in cleanup.leftovers()["namespaces"]
    finally:
        core.delete_namespace(name)
