"""The built-in demo corpus (`stsa-bench synth`): deterministic talking faces in the LRS2 or CMLR layout.

Audio comes from ``synth_speech`` (formant-synthesised syllables; the mouth state of a frame is a deterministic
function of the sound in its window), faces from ``synth_face`` (real photos warped around their FaceMesh
landmarks). Beside each clip, ``<stem>.controls.npz`` keeps the ground-truth per-frame controls for tests.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stsa.errors import NoFaceError

LAYOUT_FRAME_SIZE = {"lrs2": 160, "cmlr": 224}  # real LRS2 is 160x160
LRS2_VIDEO_ID_BASE = 5535415699068794046
SPLITS = ("train", "val", "test")
N_IDENTITIES = 6  # 2 photos x (original, mirrored, recoloured/background variants)


@dataclass(frozen=True)
class ClipPlan:
    """Where one clip goes and which identity speaks it."""

    index: int
    split: str
    identity: int
    clip_id: str
    video: Path  # relative to the corpus root
    audio: Path | None  # separate wav (CMLR) or None (embedded track, LRS2)


def plan_clips(layout: str, counts: dict[str, int], n_identities: int, seconds: float, seed: int) -> list[ClipPlan]:
    """Clip ids and paths in the real layout, identities round-robin over the clips."""
    plans, per_identity = [], [0] * n_identities
    index = 0
    for split in SPLITS:
        for _ in range(counts.get(split, 0)):
            ident = index % n_identities
            per_identity[ident] += 1
            k = per_identity[ident]
            if layout == "lrs2":
                vid = f"{(LRS2_VIDEO_ID_BASE + 7919 * ident + 104729 * seed) % 10**19:019d}"
                clip_id = f"{vid}/{k:05d}"
                plans.append(ClipPlan(index, split, ident, clip_id, Path("mvlrs_v1/main") / f"{clip_id}.mp4", None))
            elif layout == "cmlr":
                start = 0.8 + (k - 1) * (seconds + 1.1)
                stem = f"section_{k}_{start:06.2f}_{start + seconds:06.2f}"
                clip_id = f"s{ident + 1}/{20170101 + seed:08d}/{stem}"
                plans.append(ClipPlan(index, split, ident, clip_id, Path("video") / f"{clip_id}.mp4",
                                      Path("audio") / f"{clip_id}.wav"))
            else:
                raise ValueError(f"unknown layout {layout!r} (use lrs2 or cmlr)")
            index += 1
    return plans


def render_clip(plan: ClipPlan, rig, f0: float, out_root: Path, n_frames: int, seed: int,
                with_audio_track: bool) -> None:
    """Synthesise one clip: audio, mouth/eye/head controls, frames; write video (+ wav) and controls."""
    import soundfile as sf

    from stsa.data.synth_face import head_motion, render_frame
    from stsa.data.synth_speech import SAMPLE_RATE, plan_utterance, synthesize
    from stsa.data.video import write_video

    rng = np.random.default_rng([seed, plan.index])
    utt = synthesize(plan_utterance(n_frames, rng), f0_base=f0 * float(rng.uniform(0.93, 1.07)), rng=rng)
    motion = head_motion(n_frames, rig.size, rng)
    frames = np.stack([
        render_frame(rig, utt.jaw_open[i], utt.lip_spread[i], motion.blink[i], motion.rotation[i],
                     motion.translation[i], motion.scale[i])
        for i in range(n_frames)
    ])  # (T, S, S, 3)
    video = out_root / plan.video
    video.parent.mkdir(parents=True, exist_ok=True)
    wav = out_root / plan.audio if plan.audio else video.with_suffix(".wav")
    wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(wav, utt.audio, SAMPLE_RATE, subtype="PCM_16")
    write_video(video, frames, fps=25, audio=wav if with_audio_track else None)
    if plan.audio is None:
        wav.unlink()  # LRS2 keeps its audio inside the mp4
    np.savez(video.with_suffix(".controls.npz"), jaw_open=utt.jaw_open.astype(np.float32),
             lip_spread=utt.lip_spread.astype(np.float32), blink=motion.blink.astype(np.float32),
             rotation=motion.rotation.astype(np.float32), translation=motion.translation.astype(np.float32),
             scale=motion.scale.astype(np.float32), syllable=utt.syllable, identity=np.int64(plan.identity))


def write_split_files(out: Path, layout: str, plans: list[ClipPlan]) -> None:
    """LRS2: train.txt / val.txt (`vid/utt`) and test.txt (`vid/utt NF`); CMLR: train.csv / val.csv / test.csv."""
    for split in SPLITS:
        ids = [p.clip_id for p in plans if p.split == split]
        if layout == "lrs2":
            lines = [f"{c} NF" if split == "test" else c for c in ids]
            (out / f"{split}.txt").write_text("".join(f"{line}\n" for line in lines))
        else:
            (out / f"{split}.csv").write_text("".join(f"{c}\n" for c in ids))


def generate_corpus(out: Path, layout: str = "lrs2", n_train: int = 32, n_val: int = 0, n_test: int = 8,
                    seconds: float = 3.0, seed: int = 0, progress: bool = False) -> dict[str, list[str]]:
    """Write a deterministic demo corpus; returns split -> clip ids."""
    from tqdm import tqdm

    from stsa.data.facemesh import FaceMeshDetector
    from stsa.data.synth_face import build_rig, identity_specs, load_photo

    if layout not in LAYOUT_FRAME_SIZE:
        raise ValueError(f"unknown layout {layout!r}; use one of {sorted(LAYOUT_FRAME_SIZE)}")
    if min(n_train, n_val, n_test) < 0 or seconds <= 0:
        raise ValueError("clip counts must be >= 0 and seconds > 0")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    size = LAYOUT_FRAME_SIZE[layout]
    counts = {"train": n_train, "val": n_val, "test": n_test}
    plans = plan_clips(layout, counts, N_IDENTITIES, seconds, seed)
    n_frames = max(25, int(round(seconds * 25)))
    specs = identity_specs(N_IDENTITIES, seed)
    photos, meshes = {}, {}
    with FaceMeshDetector() as detector:  # FaceMesh runs once per photo
        for name in sorted({s.photo for s in specs}):
            photos[name] = load_photo(name)
            meshes[name] = detector.detect(photos[name])
            if meshes[name] is None:
                raise NoFaceError(name, "FaceMesh found no face in the bundled photo",
                                  "reinstall scikit-image / matplotlib (their sample photos are used)")
    rigs: dict[int, object] = {}
    for plan in tqdm(plans, desc=f"synth {layout}", unit="clip", disable=not progress):
        spec = specs[plan.identity]
        if plan.identity not in rigs:
            rigs[plan.identity] = build_rig(photos[spec.photo], meshes[spec.photo], spec, size)
        render_clip(plan, rigs[plan.identity], spec.f0, out, n_frames, seed, with_audio_track=layout == "lrs2")
    write_split_files(out, layout, plans)
    return {split: [p.clip_id for p in plans if p.split == split] for split in SPLITS}


def split_counts(clips: int, train: int | None = None, val: int | None = None,
                 test: int | None = None) -> tuple[int, int, int]:
    """(train, val, test): ``clips`` total split 80 % / 20 % train / test unless counts are given; val defaults to 0."""
    if train is None and test is None:
        test = max(1, round(0.2 * clips)) if clips > 1 else 0
        train = clips - test
    elif train is None:
        train = max(clips - test, 0)
    elif test is None:
        test = max(clips - train, 0)
    return train, val or 0, test


def _cmd_synth(args: argparse.Namespace) -> int:
    import time

    n_train, n_val, n_test = split_counts(args.clips, args.train, args.val, args.test)
    start = time.perf_counter()
    ids = generate_corpus(args.out, args.layout, n_train, n_val, n_test, args.seconds, args.seed, progress=True)
    total = sum(len(v) for v in ids.values())
    print(f"{total} clips ({', '.join(f'{k} {len(v)}' for k, v in ids.items())}) in {args.layout} layout "
          f"-> {args.out} ({time.perf_counter() - start:.1f} s)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("synth", help="write the built-in demo talking-face corpus (no download)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--layout", choices=sorted(LAYOUT_FRAME_SIZE), default="lrs2")
    p.add_argument("--clips", type=int, default=40, help="total clips, 80%% train / 20%% test")
    p.add_argument("--train", type=int, help="train clips (default: the rest of --clips)")
    p.add_argument("--val", type=int, default=0, help="val clips (default 0)")
    p.add_argument("--test", type=int, help="test clips (default: 20%% of --clips, or the rest of it)")
    p.add_argument("--seconds", type=float, default=3.0, help="clip length")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_synth)
