"""The download path of `make setup` (a learner's laptop without Go), against a local HTTP server standing in
for the release sites: it serves the kind and kubectl built here, with checksum files in each release's own
format, under the URLs releases.toml pins (LABKIT_RELEASES_MIRROR points at it). Each bad case ends in one
sentence with nothing installed."""
from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from labkit import cluster, download, releases, tools
from labkit.errors import LabError


class ReleaseSite(http.server.ThreadingHTTPServer):
    """Files by path; `mode` misbehaves: "corrupt" serves other bytes than the checksum file says, "break"
    closes the first transfer halfway, "stall" sends half and then nothing, every time."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.mode = ""
        self.requests: list[tuple[str, str]] = []  # (path, Range header)
        self.release_stall = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def publish(self, release: releases.Release, body: bytes, listed_as: str | None = None) -> None:
        """The binary at its URL and its checksum file beside it, in the release's format."""
        digest = hashlib.sha256(body).hexdigest()
        self.files[urlsplit(release.url).path] = body
        line = digest if release.checksum_format == "bare" else f"{digest}  {listed_as or release.filename}"
        self.files[urlsplit(release.checksum_url).path] = (line + "\n").encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        site: ReleaseSite = self.server
        site.requests.append((self.path, self.headers.get("Range", "")))
        body = site.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        is_binary = not self.path.endswith((".sha256", ".sha256sum", ".txt"))
        if is_binary and site.mode == "corrupt":
            body = body[:-1] + bytes([body[-1] ^ 1])
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if is_binary and site.mode in ("break", "stall") and (site.mode == "stall" or not start):
            self.wfile.write(body[start:len(body) // 2])
            self.wfile.flush()
            if site.mode == "stall":
                site.release_stall.wait(10)
            return  # the connection closes short of Content-Length
        self.wfile.write(body[start:])


@pytest.fixture
def site(monkeypatch):
    server = ReleaseSite()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(releases.MIRROR_ENV, server.base)
    monkeypatch.delenv(releases.DOWNLOADS_ENV, raising=False)
    yield server
    server.release_stall.set()
    server.shutdown()


@pytest.fixture
def laptop(tmp_path, monkeypatch):
    """A throwaway environment's bin folder, and a PATH with no kind, no kubectl and no Go on it."""
    bare = tmp_path / "path"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    return tmp_path / "env" / "bin"


def _built_here(name: str) -> bytes:
    return Path(cluster.tool(name)).read_bytes()


def test_kind_and_kubectl_are_downloaded_verified_and_run_from_the_environment(site, laptop):
    for name in ("kind", "kubectl"):
        site.publish(releases.release(name), _built_here(name))
        origin = tools.ensure(name, bin_dir=laptop, log=lambda *_: None)
        assert origin.how == "downloaded" and origin.path == str(laptop / name)
        assert origin.passed_over == ["none on PATH"]
        assert f"{site.base}/" in origin.source and "verified" in origin.source
    kind = subprocess.run([laptop / "kind", "version"], capture_output=True, text=True, check=True).stdout
    assert kind.startswith(f"kind {releases.version('kind')}")
    kubectl = subprocess.run([laptop / "kubectl", "version", "--client"], capture_output=True, text=True, check=True)
    assert f"Client Version: {releases.version('kubectl')}" in kubectl.stdout
    # What `labkit doctor` says about them comes from the record beside them.
    recorded = tools.origins(laptop)
    assert {recorded[n].how for n in ("kind", "kubectl")} == {"downloaded"}
    # A second `make setup` downloads nothing.
    asked = len(site.requests)
    assert tools.ensure("kind", bin_dir=laptop).how == "downloaded"
    assert len(site.requests) == asked


def test_compose_checksums_list_every_file_and_mark_binaries_with_a_star(site, tmp_path):
    release = releases.release("docker-compose", "darwin/arm64")
    body = b"compose for macOS on Apple silicon"
    site.publish(release, body, listed_as="*" + release.filename)
    other = hashlib.sha256(b"another file").hexdigest()
    site.files[urlsplit(release.checksum_url).path] = (
        f"{other} *docker-compose-linux-x86_64\n".encode() + site.files[urlsplit(release.checksum_url).path])
    assert release.filename == "docker-compose-darwin-aarch64"
    download.install(release, tmp_path / "docker-compose", log=lambda *_: None)
    assert (tmp_path / "docker-compose").read_bytes() == body


def test_a_transfer_that_breaks_resumes_from_where_it_stopped(site, tmp_path):
    release = releases.release("kind")
    body = os.urandom(300_000)
    site.publish(release, body)
    site.mode = "break"
    said = []
    download.install(release, tmp_path / "kind", log=said.append)
    assert (tmp_path / "kind").read_bytes() == body
    first, second = [r for path, r in site.requests if path == urlsplit(release.url).path]
    # The second request asks for the rest of what the first kept (whole chunks of what arrived).
    kept = int(second.removeprefix("bytes=").rstrip("-"))
    assert first == "" and 0 < kept <= len(body) // 2
    assert any(f"resuming once, from byte {kept}" in s for s in said)


def _nothing_installed(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def test_a_corrupted_download_is_refused_in_one_sentence_and_go_is_not_tried_instead(site, laptop, monkeypatch):
    site.publish(releases.release("kind"), _built_here("kind"))
    site.mode = "corrupt"
    # Go on PATH: a checksum that does not match must still stop here, not fall back to a build.
    monkeypatch.setenv("PATH", f"{os.environ['PATH']}{os.pathsep}/usr/local/go/bin{os.pathsep}/usr/lib/go/bin")
    with pytest.raises(download.DownloadFailed) as err:
        tools.ensure("kind", bin_dir=laptop, log=lambda *_: None)
    assert err.value.mismatch
    assert "does not match the checksum" in err.value.problem and "nothing was installed" in err.value.problem
    assert err.value.problem.count(". ") == 0  # one sentence
    assert _nothing_installed(laptop)


def test_an_architecture_the_release_does_not_publish_is_a_404_named_as_such(site, tmp_path):
    site.publish(releases.release("kind", "linux/amd64"), b"kind for amd64")
    with pytest.raises(download.DownloadFailed) as err:
        download.install(releases.release("kind", "linux/riscv64"), tmp_path / "bin" / "kind")
    assert "HTTP 404" in err.value.problem and "kind-linux-riscv64" in err.value.problem
    assert _nothing_installed(tmp_path / "bin")


def test_a_download_that_stalls_is_resumed_once_then_given_up_with_a_clear_sentence(site, tmp_path):
    release = releases.release("kubectl")
    site.publish(release, os.urandom(200_000))
    site.mode = "stall"
    with pytest.raises(download.DownloadFailed) as err:
        download.install(release, tmp_path / "bin" / "kubectl", stall_timeout=0.5, log=lambda *_: None)
    assert "broke off twice (no data for 0.5 s)" in err.value.problem
    first, second = [r for p, r in site.requests if p == urlsplit(release.url).path]
    assert first == "" and second.startswith("bytes=") and second != "bytes=0-"
    assert _nothing_installed(tmp_path / "bin")


def test_no_network_and_no_go_names_both_ways_out(laptop, monkeypatch):
    closed = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there: connection refused, as with no network
    monkeypatch.setenv(releases.MIRROR_ENV, f"http://127.0.0.1:{port}")
    monkeypatch.delenv(releases.DOWNLOADS_ENV, raising=False)
    with pytest.raises(LabError) as err:
        tools.ensure("kind", bin_dir=laptop, log=lambda *_: None)
    problem, fix = err.value.problem, err.value.fix
    assert problem == (f"kind {releases.version('kind')} could not be installed: none on PATH, no connection to "
                       f"127.0.0.1:{port}, and Go is not available to build it.")
    assert "connect to the internet" in fix and "install Go" in fix
    assert _nothing_installed(laptop)


def test_with_downloads_turned_off_nothing_is_asked_of_a_release_site(site, laptop, monkeypatch):
    """CI's way (.ci/run): the Go build or nothing."""
    monkeypatch.setenv(releases.DOWNLOADS_ENV, "never")
    site.publish(releases.release("kind"), _built_here("kind"))
    with pytest.raises(LabError) as err:
        tools.ensure("kind", bin_dir=laptop)
    assert "downloads turned off" in err.value.problem
    assert site.requests == []


def test_checksum_files_in_each_format():
    kind = releases.release("kind", "linux/amd64", mirror="")
    digest = "ab" * 32
    assert download.expected_sha256(f"{digest}  kind-linux-amd64\n", kind) == digest
    assert download.expected_sha256(f"{'cd' * 32}  kind-linux-arm64\n{digest} *kind-linux-amd64", kind) == digest
    assert download.expected_sha256(f"{digest.upper()}\n", releases.release("kubectl", mirror="")) == digest
    with pytest.raises(download.DownloadFailed, match="holds no SHA-256 for kind-linux-amd64"):
        download.expected_sha256(f"{digest}  kind-darwin-amd64\n", kind)
