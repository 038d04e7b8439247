import pytest

from labkit.errors import explain_docker_error


@pytest.mark.parametrize("raw, expected", [
    ("docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
     "The Docker daemon is not reachable."),
    ("Unable to find image 'pyton:3.11' locally\ndocker: Error response from daemon: pull access denied for pyton, "
     "repository does not exist or may require 'docker login'", "The image pyton does not exist"),
    ('docker: Error response from daemon: Conflict. The container name "/lab02-api" is already in use by container',
     "A container named lab02-api already exists."),
    ("Error response from daemon: No such image: course/api:1.0.0", "There is no image course/api:1.0.0"),
    ("Unable to find image 'course/api:good' locally\ndocker: Error response from daemon: Get "
     "\"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host.",
     "The image course/api:good is not on this machine, and no registry can be reached"),
    ("Bind for 0.0.0.0:3000 failed: port is already allocated", "The host port is already used"),
    ("Error response from daemon: No such container: lab02-apii", "There is no container named lab02-apii."),
    ("Error response from daemon: dockerfile parse error line 3: unknown instruction: RUNN", "(RUNN)"),
    ("Error response from daemon: the Dockerfile (Dockerfile) cannot be empty", "There is no Dockerfile"),
    ("Error response from daemon: file with no instructions", "There is no Dockerfile"),
])
def test_known_docker_errors_become_one_sentence_with_a_fix(raw, expected):
    err = explain_docker_error(raw)
    assert err is not None and expected in err.problem
    assert err.fix


def test_unknown_text_is_not_explained():
    assert explain_docker_error("everything is fine") is None


@pytest.mark.parametrize("raw, local, suggestion", [
    ("Unable to find image 'course/apii:1.0.0' locally\ndocker: Error response from daemon: Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host",
     ["course/api:1.0.0", "debian:bookworm-slim"], "did you mean course/api:1.0.0?"),
    ("Error response from daemon: No such image: course/api:2.0.0", ["course/api:1.0.0"], "did you mean course/api:1.0.0?"),
    ("Error response from daemon: pull access denied for debain, repository does not exist",
     ["debian:bookworm-slim", "python:3.11-slim-bookworm"], "did you mean debian:bookworm-slim?"),
])
def test_an_image_one_typo_away_is_suggested(raw, local, suggestion):
    err = explain_docker_error(raw, images=lambda: local)
    assert err.fix.startswith(suggestion)


def test_no_suggestion_for_an_image_nothing_resembles():
    err = explain_docker_error("Error response from daemon: No such image: redis:7", images=lambda: ["course/api:1.0.0"])
    assert "did you mean" not in err.fix


def test_an_api_server_that_refuses_connections_gets_one_sentence_not_a_urllib3_repr():
    """A real refused connection (nothing listens on port 9 of this machine), through the kubernetes client."""
    from kubernetes import client

    from labkit.errors import translate

    conf = client.Configuration()
    conf.host = "https://127.0.0.1:9"
    conf.retries = 0
    with pytest.raises(Exception) as caught:
        client.CoreV1Api(client.ApiClient(conf)).list_node(_request_timeout=2)
    err = translate(caught.value)
    assert err is not None and "nothing listens on its port" in err.problem, err
    assert "MaxRetryError" not in err.problem and "object at 0x" not in err.problem


def test_an_api_server_that_drops_the_tls_handshake_gets_a_phrase_not_a_class_name():
    """A real server that accepts and hangs up (an API server restarting after a Docker restart does this):
    the client's SSLError must read as a phrase, not as `SSLError` or `str`."""
    import socket
    import threading

    from kubernetes import client

    from labkit.errors import translate

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def hang_up():
        for _ in range(3):
            conn, _ = server.accept()
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    conf = client.Configuration()
    conf.host = f"https://127.0.0.1:{server.getsockname()[1]}"
    conf.retries = 0
    with pytest.raises(Exception) as caught:
        client.CoreV1Api(client.ApiClient(conf)).list_node(_request_timeout=2)
    server.close()
    err = translate(caught.value)
    assert err is not None and "dropped the connection before answering" in err.problem, err


def test_an_api_server_that_answers_403_while_it_starts_is_not_said_to_be_silent(monkeypatch):
    """After a Docker restart, `labkit cluster status` said "the API server does not answer: Forbidden":
    it had answered, refusing everyone until its authorization rules were loaded."""
    from kubernetes import client

    from labkit import cluster

    def refuse(*args, **kwargs):
        raise client.ApiException(status=403, reason="Forbidden")

    monkeypatch.setattr(cluster, "api_client", lambda: None)
    monkeypatch.setattr(client.CoreV1Api, "list_node", refuse)
    answers, ready, said = cluster.api_health()
    assert (answers, ready) == (False, False)
    assert said.startswith("the API server answers but refused the request: HTTP 403 Forbidden (right after a start")
    assert "does not answer" not in said
