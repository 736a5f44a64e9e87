"""Ground-truth feature cache shared by evaluate jobs: ``<cache_dir>/<dataset>/<kind>/<clip>-<hash>.npz``.

Safe for concurrent processes: each writer saves to its own temporary file in the target directory and renames it
into place (atomic), so a reader sees either no entry or a complete one; two writers of one entry write the same
arrays. An unreadable entry (e.g. left by an older version) is recomputed and replaced.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


class FeatureCache:
    """Per-dataset cache of ground-truth features (nothing is kept when ``cache_dir`` is None)."""

    def __init__(self, cache_dir: Path | None = None, dataset: str = "default"):
        self.root = None if cache_dir is None else Path(cache_dir) / dataset

    def path(self, kind: str, gt) -> Path | None:
        """Entry file of (kind, ground truth ``gt``: anything with ``clip_id`` and a content ``key``)."""
        if self.root is None:
            return None
        return self.root / kind / f"{gt.clip_id.replace('/', '__')}-{gt.key}.npz"

    def has(self, kind: str, gt) -> bool:
        path = self.path(kind, gt)
        return path is not None and path.is_file()

    def get(self, kind: str, gt, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The cached arrays of (kind, gt), computing ``compute() -> {name: array}`` and storing it when absent."""
        path = self.path(kind, gt)
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    return {k: z[k] for k in z.files}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile):
                pass  # unreadable: recompute and replace below
        value = compute()
        if path is not None:
            write_npz_atomic(path, value)
        return value


def write_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` to a unique temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
