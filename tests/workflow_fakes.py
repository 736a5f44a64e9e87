"""The paper profile on fake LRS2 and CMLR roots (empty media files + split lists, the layout stsa.data.datasets
reads), to plan the workflow at the real datasets' scale without the data (preprocessing rejects every clip: empty
video), and parsers of a dry run's output. Used by tests/test_workflow_planning.py and
benchmarks/workflow_planning.py."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"
SMOKE = ROOT / "config" / "smoke.yaml"
SLURM = ROOT / "workflow" / "profiles" / "slurm"
PREPROCESSED = re.compile(r"output: \S+/preprocessed/(\w+)/(\w+)/(\S+)/status\.json$")

# LRS2's published split sizes (mvlrs_v1: train 45,839, val 1,082, test 1,243 utterances; pretrain not used)
LRS2_SIZES = {"train": 45839, "val": 1082, "test": 1243}
CLIPS_PER_VIDEO = 40  # utterances per fake programme id


def _ids(n: int, offset: int) -> list[str]:
    """``n`` LRS2-style ids ``<19-digit video id>/<5-digit utterance>``, distinct across splits via ``offset``."""
    return [f"{6000000000000000000 + (offset + i) // CLIPS_PER_VIDEO}/{(offset + i) % CLIPS_PER_VIDEO + 1:05d}"
            for i in range(n)]


def fake_lrs2(root: Path, sizes: dict[str, int]) -> dict[str, list[str]]:
    """``<root>/mvlrs_v1/main/<vid>/<n>.mp4`` (empty) and ``<root>/<split>.txt``; returns split -> clip ids."""
    splits, offset = {}, 0
    for split, n in sizes.items():
        ids = _ids(n, offset)
        offset += n
        for clip in ids:
            path = root / "mvlrs_v1" / "main" / f"{clip}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        (root / f"{split}.txt").write_text("".join(f"{clip} NF\n" for clip in ids))
        splits[split] = ids
    return splits


def fake_cmlr(root: Path, sizes: dict[str, int]) -> dict[str, list[str]]:
    """``<root>/video/<id>.mp4`` + ``<root>/audio/<id>.wav`` (empty) and ``<root>/<split>.csv``."""
    splits, offset = {}, 0
    for split, n in sizes.items():
        ids = [f"s{(offset + i) // 500 + 1}/20170121/section_{(offset + i) % 500:03d}_000.80_002.91" for i in range(n)]
        offset += n
        for clip in ids:
            for sub, ext in (("video", ".mp4"), ("audio", ".wav")):
                path = root / sub / f"{clip}{ext}"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
        (root / f"{split}.csv").write_text("".join(f"{clip}\n" for clip in ids))
        splits[split] = ids
    return splits



def fake_paper_profile(tmp: Path, lrs2_sizes: dict[str, int], cmlr_sizes: dict[str, int], **edits) -> Path:
    """config/paper.yaml on fake roots in ``tmp`` (work and results there too); ``edits``: dataset -> key -> value."""
    fake_lrs2(tmp / "LRS2", lrs2_sizes)
    fake_cmlr(tmp / "CMLR", cmlr_sizes)
    cfg = yaml.safe_load(PAPER.read_text())
    cfg.update(workdir_root=str(tmp / "work"), results_dir=str(tmp / "results"))
    cfg["datasets"]["lrs2"]["root"], cfg["datasets"]["cmlr"]["root"] = str(tmp / "LRS2"), str(tmp / "CMLR")
    return write_config(tmp / "paper.yaml", cfg, **edits)


def write_config(path: Path, cfg: dict, **edits) -> Path:
    """``cfg`` as YAML at ``path``, with ``edits`` (dataset -> key -> value) applied to its datasets."""
    for dataset, keys in edits.items():
        cfg["datasets"][dataset].update(keys)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def listings(config: Path) -> list[str]:
    """The list_clips outputs of the paper profile's splits (written by a real run before a dry run can see the
    clips behind the checkpoint)."""
    cfg = yaml.safe_load(config.read_text())
    work = cfg["workdir_root"]
    return [f"{work}/lists/lrs2/train.tsv", f"{work}/lists/lrs2/test.tsv", f"{work}/lists/cmlr/test.tsv"]


def paper_targets(config: Path) -> list[str]:
    """Tables I-II (rule all) and Table III, whose ablations train on the LRS2 train split."""
    return ["all", f"{yaml.safe_load(config.read_text())['results_dir']}/table3.csv"]


def planned_clips(output: str) -> Counter:
    """(dataset, split) -> preprocess_clip jobs in a dry run's job listing."""
    found = (PREPROCESSED.search(line.strip()) for line in output.splitlines())
    return Counter((m[1], m[2]) for m in found if m)


def slurm_groups(output: str) -> list[Counter]:
    """Per group job of a dry run: rule -> member jobs (the members are the indented job blocks below it)."""
    groups, current = [], None
    for line in output.splitlines():
        if "Group job preprocess" in line:
            current = Counter()
            groups.append(current)
        elif current is not None and re.match(r"^    (rule|checkpoint) \w+:", line):
            current[line.split()[1].rstrip(":")] += 1
        elif re.match(r"^(rule|checkpoint|localrule) \w+:", line):
            current = None
    return groups
