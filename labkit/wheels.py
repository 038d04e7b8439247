"""The sample apps' wheelhouse: dependencies downloaded on the host, installed offline in the image.

Why: `pip install` inside `docker build` needs the network from inside a container, which
fails air-gapped and behind TLS-inspecting proxies. Downloading pinned wheels where pip
already works (the host) makes the image build hermetic and identical everywhere.
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from labkit.errors import LabError

STAMP = ".requirements.sha256"


def pinned(requirements: Path) -> list[str]:
    """`name==version` lines, markers dropped: the image's Python may need what the host's does not."""
    pins = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            pins.append(re.split(r"\s*;", line, maxsplit=1)[0].strip())
    return pins


def ensure(app_dir: Path) -> Path:
    req = app_dir / "requirements.txt"
    wheelhouse = app_dir / "wheels"
    if not req.exists():
        return wheelhouse
    digest = hashlib.sha256(req.read_bytes()).hexdigest()
    stamp = wheelhouse / STAMP
    if stamp.exists() and stamp.read_text() == digest:
        return wheelhouse
    wheelhouse.mkdir(exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as tmp:
        tmp.write("\n".join(pinned(req)) + "\n")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--dest", str(wheelhouse), "-r", tmp.name]
    done = subprocess.run(cmd, capture_output=True, text=True)
    Path(tmp.name).unlink()
    if done.returncode != 0:
        raise LabError(f"Could not download the Python wheels for {app_dir.name} "
                       f"({(done.stderr.strip().splitlines() or ['pip failed'])[-1]}).",
                       "check that pip can reach PyPI (or your index) from this machine and rerun `make setup`.")
    stamp.write_text(digest)
    return wheelhouse
