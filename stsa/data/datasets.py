"""Dataset readers: LRS2 and CMLR split lists -> ``Clip`` records (video path, optional separate audio path).

A missing root or split file raises ``DatasetError``; a clip that is listed but absent is returned anyway and
rejected (with its reason) by preprocessing, so one missing file never sinks a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

from stsa.errors import DatasetError


@dataclass(frozen=True)
class Clip:
    """One clip: ``audio`` is None when the audio track is embedded in ``video``."""

    clip_id: str
    video: Path
    audio: Path | None
    split: str


def _check_root(name: str, root: Path | None) -> Path:
    if root is None or str(root) == "":
        raise DatasetError(None, f"no {name} dataset root given",
                           f"set datasets.{name}.root in the config (or --root) to the {name} directory")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(root, f"{name} dataset root not found",
                           f"set datasets.{name}.root in the config (or --root) to the {name} directory")
    return root


def _split_file(name: str, root: Path, pattern: str, split: str) -> Path:
    path = root / pattern.format(split=split)
    if not path.is_file():
        available = sorted(p.name for p in root.glob(pattern.format(split="*")))
        raise DatasetError(path, f"{name} split file for split '{split}' not found",
                           f"put the split list there or choose one of {available or 'no splits found'} "
                           f"(layout key datasets.{name}.split_pattern)")
    return path


@dataclass(frozen=True)
class LRS2Reader:
    """LRS2: ``<root>/<main_dir>/<videoID>/<NNNNN><video_ext>``; ``<root>/<split>.txt`` lines
    ``videoID/NNNNN [NF|MV]``."""

    root: Path
    main_dir: str = "mvlrs_v1/main"
    video_ext: str = ".mp4"
    split_pattern: str = "{split}.txt"
    name: str = "lrs2"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", _check_root(self.name, self.root))

    def ids(self, split: str) -> list[str]:
        path = _split_file(self.name, self.root, self.split_pattern, split)
        ids = []
        for line in path.read_text().splitlines():
            parts = line.split()
            if parts:
                ids.append(parts[0].removesuffix(self.video_ext))
        return ids

    def clips(self, split: str, limit: int | None = None) -> list[Clip]:
        ids = self.ids(split)[:limit]
        return [Clip(i, self.root / self.main_dir / f"{i}{self.video_ext}", None, split) for i in ids]


_HEADER = re.compile(r"^[A-Za-z_ ]+$")


@dataclass(frozen=True)
class CMLRReader:
    """CMLR: ``<root>/<video_dir>/<id><video_ext>`` + ``<root>/<audio_dir>/<id><audio_ext>``; ids like
    ``s1/20170121/section_1_000.80_002.91``, one per line of ``<root>/<split>.csv`` (first CSV column; a
    header line and extra columns are tolerated). Set ``audio_dir=None`` for videos with embedded audio."""

    root: Path
    video_dir: str = "video"
    audio_dir: str | None = "audio"
    video_ext: str = ".mp4"
    audio_ext: str = ".wav"
    split_pattern: str = "{split}.csv"
    name: str = "cmlr"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", _check_root(self.name, self.root))

    def ids(self, split: str) -> list[str]:
        path = _split_file(self.name, self.root, self.split_pattern, split)
        ids = []
        for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines()):
            first = line.replace("\t", ",").split(",")[0].strip().strip('"')
            if not first or (n == 0 and _HEADER.match(first)):
                continue
            for ext in (self.video_ext, self.audio_ext):
                first = first.removesuffix(ext)
            ids.append(first)
        return ids

    def clips(self, split: str, limit: int | None = None) -> list[Clip]:
        ids = self.ids(split)[:limit]
        return [Clip(i, self.root / self.video_dir / f"{i}{self.video_ext}",
                     None if self.audio_dir is None else self.root / self.audio_dir / f"{i}{self.audio_ext}",
                     split) for i in ids]


READERS = {"lrs2": LRS2Reader, "cmlr": CMLRReader}


def open_dataset(name: str, root: Path, **layout) -> LRS2Reader | CMLRReader:
    """Reader for dataset ``name`` (lrs2|cmlr) at ``root``; ``layout`` overrides its layout fields."""
    key = name.lower()
    if key not in READERS:
        raise DatasetError(None, f"unknown dataset '{name}'", f"use one of {sorted(READERS)}")
    cls = READERS[key]
    allowed = {f.name for f in fields(cls)} - {"root", "name"}
    unknown = sorted(set(layout) - allowed)
    if unknown:
        raise DatasetError(None, f"unknown layout keys {unknown} for datasets.{key}",
                           f"use keys from {sorted(allowed)}")
    return cls(root, **layout)
