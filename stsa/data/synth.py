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

LAYOUT_FRAME_SIZE = {"lrs2": 160, "cmlr": 224}  # real LRS2 is 160x160
LRS2_VIDEO_ID_BASE = 5535415699068794046
SPLITS = ("train", "val", "test")


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


def head_motion(n_frames: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Smooth small head motion: sums of low-frequency sinusoids with random phases."""
    t = np.arange(n_frames) / 25.0

    def wave(amplitude: float) -> np.ndarray:
        f1, f2 = rng.uniform(0.15, 0.35), rng.uniform(0.4, 0.7)
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        return amplitude * (0.7 * np.sin(2 * np.pi * f1 * t + p1) + 0.3 * np.sin(2 * np.pi * f2 * t + p2))

    return {"rotation": wave(3.0), "tx": wave(3.0), "ty": wave(2.0), "scale": 1.0 + wave(0.02)}


def blinks(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(T,) eyelid closure in [0, 1]: 5-frame blinks every 2-4 s."""
    closure = np.zeros(n_frames, np.float32)
    t = int(rng.integers(10, 50))
    while t + 5 < n_frames:
        closure[t:t + 5] = (0.4, 0.9, 1.0, 0.7, 0.3)
        t += int(rng.integers(50, 100))
    return closure


def render_clip(plan: ClipPlan, identity, out_root: Path, n_frames: int, seed: int, with_audio_track: bool) -> None:
    """Synthesise one clip: audio, mouth/eye/head controls, frames; write video (+ wav) and controls."""
    import soundfile as sf

    from stsa.data.synth_face import render_frame
    from stsa.data.synth_speech import SAMPLE_RATE, plan_utterance, synthesize
    from stsa.data.video import write_video

    rng = np.random.default_rng([seed, plan.index])
    utt = synthesize(plan_utterance(n_frames, rng), f0_base=float(rng.uniform(100, 220)), rng=rng)
    motion, closure = head_motion(n_frames, rng), blinks(n_frames, rng)
    frames = np.stack([
        render_frame(identity, utt.jaw_open[i], utt.lip_spread[i], closure[i], motion["rotation"][i],
                     (motion["tx"][i], motion["ty"][i]), motion["scale"][i])
        for i in range(n_frames)
    ])
    video = out_root / plan.video
    video.parent.mkdir(parents=True, exist_ok=True)
    wav = out_root / plan.audio if plan.audio else video.with_suffix(".wav")
    wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(wav, utt.audio, SAMPLE_RATE, subtype="PCM_16")
    write_video(video, frames, fps=25, audio=wav if with_audio_track else None)
    if plan.audio is None:
        wav.unlink()  # LRS2 keeps its audio inside the mp4
    np.savez(video.with_suffix(".controls.npz"), jaw_open=utt.jaw_open.astype(np.float32),
             lip_spread=utt.lip_spread.astype(np.float32), blink=closure, syllable=utt.syllable,
             identity=np.int64(plan.identity), **{k: v.astype(np.float32) for k, v in motion.items()})


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
    from stsa.data.synth_face import STYLES, make_identity

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    size = LAYOUT_FRAME_SIZE[layout]
    counts = {"train": n_train, "val": n_val, "test": n_test}
    plans = plan_clips(layout, counts, len(STYLES), seconds, seed)
    n_frames = max(25, int(round(seconds * 25)))
    with FaceMeshDetector() as detector:
        identities = [make_identity(style, size, detector) for style in STYLES]
    for plan in tqdm(plans, desc=f"synth {layout}", unit="clip", disable=not progress):
        render_clip(plan, identities[plan.identity], out, n_frames, seed, with_audio_track=layout == "lrs2")
    write_split_files(out, layout, plans)
    return {split: [p.clip_id for p in plans if p.split == split] for split in SPLITS}


def _split_counts(args: argparse.Namespace) -> tuple[int, int, int]:
    if args.train is None and args.test is None and args.val is None:
        n_test = max(1, round(0.2 * args.clips))
        return args.clips - n_test, 0, n_test
    return args.train or 0, args.val or 0, args.test if args.test is not None else 8


def _cmd_synth(args: argparse.Namespace) -> int:
    import time

    n_train, n_val, n_test = _split_counts(args)
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
    p.add_argument("--train", type=int, help="train clips (overrides --clips)")
    p.add_argument("--val", type=int, help="val clips")
    p.add_argument("--test", type=int, help="test clips")
    p.add_argument("--seconds", type=float, default=3.0, help="clip length")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_synth)
