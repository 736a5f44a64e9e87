"""Logging for workflow jobs: everything a job prints (Python and native libraries) goes to its log file."""

from __future__ import annotations

import logging
import os
import sys


def log_to_file(path: str) -> None:
    """Send Python logging, stderr and native (C++) stderr writes of this process to ``path``."""
    handle = open(path, "a", buffering=1)  # noqa: SIM115  kept open for the life of the job
    os.dup2(handle.fileno(), 2)
    sys.stderr = handle
    logging.basicConfig(stream=handle, level=logging.INFO, force=True)
