"""What a Go program of the course is: its module, version and commands (data only).

Kept apart from labkit.provision.gobuild, which builds them, so the pinned versions (labkit.cluster_parts)
can be read by the labs without importing the build machinery.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


def wrapper_module(name: str) -> str:
    """The module path of the wrapper module labkit.provision.gobuild writes for the program called
    name: a program with its own main (`main_go`) names this package as its command."""
    return f"course.local/build/{name}"


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
    # Go source of a package main the wrapper module holds itself (main.go), built in place of the
    # program's own main; its command is then the wrapper's package, wrapper_module(name).
    main_go: str = ""
    # Built against another program's module graph (labkit.provision.gobuild.fetch): its wrapper requires every
    # module version that program's build resolved, so the packages both use compile once and come from Go's cache.
    aligned_with: "GoProgram | None" = None

    @property
    def key(self) -> str:
        """Names the program's source and output folders: a changed main_go, or another module graph, is
        another build."""
        key = f"{self.name}-{self.version}"
        if self.main_go:
            key += f"-{hashlib.sha256(self.main_go.encode()).hexdigest()[:8]}"
        if self.aligned_with is not None:
            key += f"-on-{self.aligned_with.key}"
        return key
