"""Audio: loading as 16 kHz mono, Wav2Lip's mel spectrogram, and per-video-frame feature windows."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from stsa.errors import MediaError

SAMPLE_RATE = 16000
# Wav2Lip / IP-LAP hparams
N_FFT, HOP, WIN, N_MELS, FMIN, FMAX = 800, 200, 800, 80, 55.0, 7600.0
PREEMPHASIS, REF_LEVEL_DB, MIN_LEVEL_DB, MAX_ABS = 0.97, 20.0, -100.0, 4.0
MEL_STEP = 16  # mel frames per video-frame window
W2V_STEP = 10  # wav2vec vectors per video-frame window


def extract_wav(src: str | Path, dst: str | Path, sample_rate: int = SAMPLE_RATE) -> None:
    """Decode any audio (or a video's audio track) to mono 16-bit PCM wav at ``sample_rate``."""
    from stsa.data.video import probe, run_ffmpeg

    if not probe(src).has_audio:
        raise MediaError(src, "no audio stream", "pass a file with an audio track or a separate wav")
    run_ffmpeg(["-i", str(src), "-vn", "-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le", str(dst)], src)


def load_wav(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a wav/flac as float32 mono at ``sample_rate`` (channels averaged, polyphase resampling)."""
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise MediaError(path, f"unreadable audio ({exc})", "convert it to a 16 kHz mono wav") from exc
    wav = data.mean(axis=1)
    if sr != sample_rate:
        from scipy.signal import resample_poly  # slow import (seconds on a loaded machine): only when needed

        g = np.gcd(int(sr), sample_rate)
        wav = resample_poly(wav, sample_rate // g, int(sr) // g).astype(np.float32)
    return wav


@cache
def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = FMIN, fmax: float = FMAX) -> np.ndarray:
    """(n_mels, n_fft//2+1) Slaney-scale, Slaney-normalised triangular filters (librosa's default)."""

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        lin = f / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log, lin)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        lin = m * (200.0 / 3)
        log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
        return np.where(m >= 15.0, log, lin)

    fft_freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def melspectrogram(wav: np.ndarray, pad_mode: str = "reflect") -> np.ndarray:
    """Wav2Lip's normalised log-mel spectrogram: (80, len // 200 + 1) float32 in [-4, 4].

    Pre-emphasis 0.97, centred STFT (n_fft 800, hop 200, Hann; 400 samples of ``pad_mode`` padding each side),
    amplitude -> dB (-20 ref), symmetric normalisation to [-4, 4]. ``reflect`` is what the librosa==0.7.0 pinned by
    Wav2Lip's requirements.txt pads with: ``librosa.stft``'s default ``pad_mode`` was ``reflect`` up to 0.8.x and is
    ``constant`` since 0.9.0, so Wav2Lip's audio.py on a current librosa changes the first two and the last two mel
    columns (the windows of the first frame and of the last chunk).
    """
    wav = np.asarray(wav, dtype=np.float32)
    emphasised = np.append(wav[:1], wav[1:] - PREEMPHASIS * wav[:-1]) if len(wav) else wav
    padded = np.pad(emphasised, N_FFT // 2, mode=pad_mode)
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, as scipy.signal.get_window
    spec = np.abs(np.fft.rfft(padded[idx] * window, axis=1)).T  # (401, n_frames)
    mel = mel_filterbank() @ spec
    db = 20 * np.log10(np.maximum(1e-5, mel)) - REF_LEVEL_DB
    norm = (2 * MAX_ABS) * ((db - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS
    return np.clip(norm, -MAX_ABS, MAX_ABS).astype(np.float32)


def mel_windows(mel: np.ndarray, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """Per video frame i the 16 mel columns starting at int(80 * i / fps): (T, 80, 16), end padded by edge."""
    starts = (80.0 * np.arange(n_frames) / fps).astype(np.int64)
    need = int(starts.max(initial=0)) + MEL_STEP
    if mel.shape[1] < need:
        mel = np.pad(mel, ((0, 0), (0, need - mel.shape[1])), mode="edge")
    idx = starts[:, None] + np.arange(MEL_STEP)[None, :]
    return np.ascontiguousarray(mel[:, idx].transpose(1, 0, 2))


def mel_chunks(mel: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """Wav2Lip inference.py's windows: chunk i = columns int(i * 80 / fps) onwards while 16 fit, then one last chunk
    clamped to the final 16 columns; (N, 80, 16). One output frame is made per chunk."""
    n_cols = mel.shape[1]
    if n_cols < MEL_STEP:
        raise ValueError(f"{n_cols} mel columns: at least {MEL_STEP} (0.19 s of audio) are needed")
    step = 80.0 / fps
    n_full = 0  # chunks whose 16 columns fit: int(i * step) + 16 <= n_cols
    while int(n_full * step) + MEL_STEP <= n_cols:
        n_full += 1
    starts = [int(i * step) for i in range(n_full)] + [n_cols - MEL_STEP]
    idx = np.asarray(starts)[:, None] + np.arange(MEL_STEP)[None, :]
    return np.ascontiguousarray(mel[:, idx].transpose(1, 0, 2))


def wav2vec_windows(features: np.ndarray, n_frames: int, fps: float = 25.0) -> np.ndarray:
    """Release windows: frame i takes 10 vectors from int((i - 2) * 50 / fps), zero padded: (T, 768, 10)."""
    n, dim = features.shape
    padded = np.concatenate([np.zeros((W2V_STEP, dim), features.dtype), features,
                             np.zeros((W2V_STEP + int(n_frames * 50 / fps), dim), features.dtype)])
    starts = ((np.arange(n_frames) - 2) * (50.0 / fps)).astype(np.int64) + W2V_STEP
    idx = starts[:, None] + np.arange(W2V_STEP)[None, :]
    return np.ascontiguousarray(padded[idx].transpose(0, 2, 1))


# wav2vec 2.0 feature encoder: (kernel, stride) of its 7 conv layers (facebook/wav2vec2-base-960h's config)
W2V_CONV_LAYERS = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))


def wav2vec_length(n_samples: int) -> int:
    """Number of wav2vec 2.0 vectors (50 Hz) for ``n_samples`` of 16 kHz audio (its conv arithmetic, no padding)."""
    n = int(n_samples)
    for kernel, stride in W2V_CONV_LAYERS:
        n = (n - kernel) // stride + 1 if n >= kernel else 0
    return n


def wav2vec_chunk_count(n_vectors: int, fps: float = 25.0) -> int:
    """Output frames of the STSA release for ``n_vectors`` wav2vec vectors: its chunk loop in inference.py keeps
    window i while ``n_vectors - max(0, int((i - 2) * 50 / fps)) >= 2 * 50 / fps`` (one video frame per chunk)."""
    step = 50.0 / fps
    count = 0
    while n_vectors - max(0, int((count - 2) * step)) >= 2 * step:
        count += 1
    return count


def output_frame_count(n_samples: int, fps: float = 25.0) -> int:
    """Video frames STSA dubbing makes for ``n_samples`` of 16 kHz audio (the release's rule, for both audio
    front ends): the wav2vec chunk count. A clip of n frames (n * 640 samples) gives n."""
    return wav2vec_chunk_count(wav2vec_length(n_samples), fps)
