"""Speech-like audio for the demo corpus: formant-synthesised syllables and the mouth state they imply.

An utterance is a sequence of frame-aligned segments (syllables and pauses). Every syllable type (consonant,
vowel, stress) always has the same duration, loudness envelope and articulation, so the per-frame mouth state
(mean of the articulatory tracks over the frame's 40 ms window) is a deterministic function of the sound in that
window: the same syllable gives the same mouth shape. Only pitch (which does not move the mouth) and noise phases
vary between occurrences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
FPS = 25
HOP = SAMPLE_RATE // FPS  # 640 samples per video frame

# vowel -> (F1, F2, F3) Hz
VOWELS: dict[str, tuple[float, float, float]] = {
    "a": (760.0, 1250.0, 2600.0), "e": (500.0, 1850.0, 2600.0), "i": (300.0, 2250.0, 3000.0),
    "o": (480.0, 880.0, 2550.0), "u": (320.0, 800.0, 2400.0),
}
# consonant -> (frames, jaw target, kind, noise centre Hz)
CONSONANTS: dict[str, tuple[int, float, str, float]] = {
    "": (0, 0.0, "none", 0.0), "p": (2, 0.0, "stop", 900.0), "m": (2, 0.0, "nasal", 1100.0),
    "t": (2, 0.12, "stop", 4000.0), "n": (2, 0.12, "nasal", 1600.0), "k": (2, 0.15, "stop", 2200.0),
    "s": (3, 0.10, "fricative", 5500.0), "f": (3, 0.05, "fricative", 3500.0),
}
STRESS_GAIN = (0.7, 1.0)  # loudness of unstressed / stressed vowels
VOWEL_FRAMES = (4, 5)  # vowel length in frames, unstressed / stressed


@dataclass(frozen=True)
class Syllable:
    consonant: str
    vowel: str
    stress: int  # 0 or 1

    @property
    def index(self) -> int:
        """Stable id in 0..79: (consonant, vowel, stress)."""
        return (list(CONSONANTS).index(self.consonant) * len(VOWELS) + list(VOWELS).index(self.vowel)) * 2 \
            + self.stress

    @property
    def name(self) -> str:
        return self.consonant + self.vowel + ("'" if self.stress else "")

    @property
    def n_frames(self) -> int:
        return CONSONANTS[self.consonant][0] + VOWEL_FRAMES[self.stress]


def all_syllables() -> list[Syllable]:
    """The 80 syllable types, ordered by ``Syllable.index``."""
    return [Syllable(c, v, s) for c in CONSONANTS for v in VOWELS for s in (0, 1)]


def vowel_jaw(vowel: str) -> float:
    """Jaw opening of a vowel from its F1 (open vowels have high F1): 0.35 (i) .. 1.0 (a)."""
    f1 = VOWELS[vowel][0]
    return 0.35 + 0.65 * (f1 - 300.0) / (760.0 - 300.0)


def vowel_spread(vowel: str) -> float:
    """Lip spread of a vowel from its F2 (front vowels spread, back vowels round): -1 .. 1."""
    return float(np.clip((VOWELS[vowel][1] - 1400.0) / 850.0, -1.0, 1.0))


def plan_utterance(n_frames: int, rng: np.random.Generator) -> list[Syllable | int]:
    """Segments filling exactly ``n_frames``: Syllables and pauses (int = pause length in frames)."""
    plan: list[Syllable | int] = [int(rng.integers(2, 5))]
    used = plan[0]
    inventory = all_syllables()
    while True:
        word = [inventory[int(rng.integers(len(inventory)))] for _ in range(int(rng.integers(1, 4)))]
        pause = int(rng.integers(0, 4))
        need = sum(s.n_frames for s in word) + pause
        if used + need + 1 > n_frames:  # does not fit: try one short syllable, else end with a pause
            word, pause = [word[0]], 0
            need = word[0].n_frames
            if used + need + 1 > n_frames:
                break
        plan += word + ([pause] if pause else [])
        used += need
    plan.append(n_frames - used)
    return plan


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average with edge padding, same length."""
    pad = np.pad(x, (width // 2, width - 1 - width // 2), mode="edge")
    c = np.cumsum(np.concatenate([[0.0], pad]))
    return (c[width:] - c[:-width]) / width


def syllable_tracks(syl: Syllable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample articulation of one syllable: jaw (L,), spread (L,), vowel loudness envelope (L,)."""
    n_c, jaw_c, _, _ = CONSONANTS[syl.consonant]
    lc, lv = n_c * HOP, VOWEL_FRAMES[syl.stress] * HOP
    t = np.arange(lv) / SAMPLE_RATE
    attack, release = 0.05, 0.08
    env = np.minimum(np.minimum(t / attack, 1.0), np.clip((lv / SAMPLE_RATE - t) / release, 0.05, 1.0))
    env = env * STRESS_GAIN[syl.stress]
    jaw = np.concatenate([np.full(lc, jaw_c), vowel_jaw(syl.vowel) * env])
    spread = np.concatenate([np.full(lc, 0.5 * vowel_spread(syl.vowel)), np.full(lv, vowel_spread(syl.vowel))])
    width = int(0.02 * SAMPLE_RATE)
    return _smooth(jaw, width), _smooth(spread, width), np.concatenate([np.zeros(lc), env])


def _resonator(x: np.ndarray, freq: float, bw: float) -> np.ndarray:
    """Second-order resonator with unity gain at DC (Klatt)."""
    from scipy.signal import lfilter

    r = np.exp(-np.pi * bw / SAMPLE_RATE)
    a1, a2 = -2 * r * np.cos(2 * np.pi * freq / SAMPLE_RATE), r * r
    return lfilter([1 + a1 + a2], [1, a1, a2], x)


def _formants(x: np.ndarray, freqs: tuple[float, ...], bws: tuple[float, ...]) -> np.ndarray:
    for f, b in zip(freqs, bws, strict=True):
        x = _resonator(x, f, b)
    return x


def glottal_source(n: int, f0_base: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) voiced excitation with a slow pitch contour: declination plus two low-frequency sinusoids."""
    t = np.arange(n) / SAMPLE_RATE
    p1, p2 = rng.uniform(0, 2 * np.pi, 2)
    f0 = f0_base * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t + p1) + 0.04 * np.sin(2 * np.pi * 1.9 * t + p2))
    f0 *= 1 - 0.1 * t / max(t[-1], 1e-6)
    phase = np.cumsum(f0 / SAMPLE_RATE) % 1.0
    flow = np.where(phase < 0.65, np.sin(np.pi * phase / 0.65) ** 2, 0.0)
    # flow derivative (lip radiation); its amplitude grows with f0, so scale it out to keep loudness pitch-free
    return np.diff(flow, prepend=0.0) * (1200.0 / f0) + 0.01 * rng.standard_normal(n)


@dataclass
class Utterance:
    """An utterance: audio and its per-frame articulation."""

    audio: np.ndarray  # (T*640,) float32 in [-1, 1]
    jaw_open: np.ndarray  # (T,) in [0, 1]
    lip_spread: np.ndarray  # (T,) in [-1, 1]
    syllable: np.ndarray  # (T,) int syllable index, -1 in pauses
    plan: list[Syllable | int]


def synthesize(plan: list[Syllable | int], f0_base: float, rng: np.random.Generator) -> Utterance:
    """Audio and per-frame mouth state for a plan of frame-aligned segments."""
    n_frames = sum(s if isinstance(s, int) else s.n_frames for s in plan)
    n = n_frames * HOP
    source = glottal_source(n + HOP, f0_base, rng)
    audio = 1e-4 * rng.standard_normal(n)  # room noise floor
    jaw, spread = np.zeros(n), np.zeros(n)
    syl_id = np.full(n_frames, -1, dtype=np.int64)
    pre = 160  # samples of filter warm-up
    pos = 0
    for seg in plan:
        if isinstance(seg, int):
            pos += seg * HOP
            continue
        length = seg.n_frames * HOP
        j, s, env = syllable_tracks(seg)
        jaw[pos:pos + length], spread[pos:pos + length] = j, s
        syl_id[pos // HOP: (pos + length) // HOP] = seg.index
        n_c, _, kind, centre = CONSONANTS[seg.consonant]
        lc = n_c * HOP
        f1, f2, f3 = VOWELS[seg.vowel]
        # vowel: glottal source through the vowel's formants, shaped by the loudness envelope
        lo = max(pos + lc - pre, 0)
        voiced = _formants(source[lo:pos + length], (f1, f2, f3, 3500.0), (80.0, 100.0, 150.0, 250.0))
        voiced = voiced[pos + lc - lo:]
        level = 0.1 * (0.7 + 0.3 * vowel_jaw(seg.vowel))  # open vowels are intrinsically louder
        audio[pos + lc:pos + length] += level / (np.sqrt(np.mean(voiced ** 2)) + 1e-9) * voiced * env[lc:]
        if kind == "stop":  # closure silence, then burst + aspiration in the last 30 ms
            nb = int(0.03 * SAMPLE_RATE)
            burst = _resonator(rng.standard_normal(nb + pre), centre, 1500.0)[pre:]
            audio[pos + lc - nb:pos + lc] += 0.06 * burst * np.exp(-np.arange(nb) / (0.008 * SAMPLE_RATE))
        elif kind == "fricative":
            noise = _resonator(rng.standard_normal(lc + pre), centre, 2000.0)[pre:]
            ramp = np.minimum(1.0, np.minimum(np.arange(lc), lc - np.arange(lc)) / (0.02 * SAMPLE_RATE))
            audio[pos:pos + lc] += (0.05 if seg.consonant == "s" else 0.02) * noise * ramp
        elif kind == "nasal":
            lo = max(pos - pre, 0)
            murmur = _formants(source[lo:pos + lc], (250.0, centre), (80.0, 200.0))[pos - lo:]
            ramp = np.minimum(1.0, np.arange(lc) / (0.02 * SAMPLE_RATE))
            audio[pos:pos + lc] += 0.03 / (np.sqrt(np.mean(murmur ** 2)) + 1e-9) * murmur * ramp
        pos += length
    frames = lambda x: x.reshape(n_frames, HOP).mean(axis=1)  # noqa: E731  per-frame window mean
    return Utterance(np.clip(audio, -1, 1).astype(np.float32), frames(jaw), frames(spread), syl_id, plan)
