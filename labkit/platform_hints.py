"""Fixes worded for the learner's platform."""
from __future__ import annotations

import platform
from pathlib import Path


def system() -> str:
    s = platform.system()
    if s == "Linux" and "microsoft" in Path("/proc/version").read_text(errors="ignore").lower():
        return "WSL"
    return s


def start_docker() -> str:
    return {
        "Darwin": "start Docker Desktop (or `colima start`) and wait until it says it is running",
        "Windows": "start Docker Desktop and wait until it says it is running",
        "WSL": "start Docker Desktop on Windows with WSL integration enabled for this distribution",
    }.get(system(), "start the daemon: `sudo systemctl start docker` (or `sudo dockerd &` where there is no systemd)")


def install_tool(tool: str) -> str:
    brew = {"kind": "brew install kind", "kubectl": "brew install kubectl", "docker": "install Docker Desktop"}
    if system() == "Darwin":
        return brew.get(tool, f"brew install {tool}")
    return f"run `make setup`, which installs {tool} into the project's environment, or see docs/setup.md"
