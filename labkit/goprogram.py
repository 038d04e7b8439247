"""What a Go program of the course is: its module, version and commands (data only).

Kept apart from labkit.provision.gobuild, which builds them, so the pinned versions (labkit.cluster_parts)
can be read by the labs without importing the build machinery.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GoProgram:
    name: str                      # what the build is called in progress output and in the cache
    module: str
    version: str
    commands: dict[str, str]       # output file name -> Go package path
    ldflags: str = ""
    tags: str = ""
    replaces: dict[str, str] = field(default_factory=dict)   # module -> version, or -> "other/module version"
    requires: dict[str, str] = field(default_factory=dict)   # extra modules to pin (module -> version)
    cgo: bool = False              # runc needs cgo (libseccomp); everything else is static Go

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"
