"""labkit: the toolkit behind the Containers & Orchestration labs."""
from labkit.checks import CheckFailed, require
from labkit.errors import LabError
from labkit.lab import Lab, start

__all__ = ["start", "Lab", "require", "CheckFailed", "LabError"]
