"""Errors that name the file at fault and the fix."""

from __future__ import annotations

from pathlib import Path


class StsaBenchError(Exception):
    """Base class: a problem the user can fix, with the file and the fix in the message."""

    def __init__(self, path: str | Path | None, problem: str, fix: str = ""):
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}" + (f" (fix: {fix})" if fix else ""))


class MediaError(StsaBenchError):
    """A video or audio file that cannot be read or is unusable."""


class NoFaceError(StsaBenchError):
    """No face found where one is required."""


class DatasetError(StsaBenchError):
    """A dataset root, split file or clip is missing or malformed."""


class WeightsError(StsaBenchError):
    """Pretrained weights are missing or do not match their checksum."""
