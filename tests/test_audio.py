"""stsa.data.audio: Wav2Lip mel vs librosa with Wav2Lip's hparams, loading/resampling, and per-frame windows
vs the reference loops of Wav2Lip's and the STSA release's inference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stsa.data.audio import (
    extract_wav,
    load_wav,
    mel_filterbank,
    mel_windows,
    melspectrogram,
    wav2vec_windows,
)

librosa = pytest.importorskip("librosa")


def _wav2lip_mel(wav: np.ndarray, pad_mode: str) -> np.ndarray:
    """Wav2Lip audio.melspectrogram (hparams: 16 kHz, n_fft 800, hop 200, win 800, 80 mels 55-7600 Hz,
    preemphasis 0.97, ref 20 dB, min -100 dB, symmetric max_abs 4) written with librosa + scipy, float64."""
    from scipy.signal import lfilter

    y = lfilter([1, -0.97], [1], wav.astype(np.float64))
    d = librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800, pad_mode=pad_mode)
    mel = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600) @ np.abs(d)
    s = 20 * np.log10(np.maximum(np.exp(-100 / 20 * np.log(10)), mel)) - 20
    return np.clip(8 * ((s + 100) / 100) - 4, -4, 4)


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    wav = env * (0.3 * np.sin(2 * np.pi * 180 * t) + 0.1 * np.sin(2 * np.pi * 1200 * t))
    return (wav + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_filterbank_matches_librosa() -> None:
    ref = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    np.testing.assert_allclose(mel_filterbank(), ref, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
@pytest.mark.parametrize("n", [16000, 12345, 4000])
def test_melspectrogram_matches_librosa(pad_mode: str, n: int) -> None:
    wav = _speechlike(n / 16000, seed=n)[:n]
    ours = melspectrogram(wav, pad_mode=pad_mode)
    ref = _wav2lip_mel(wav, pad_mode)
    assert ours.shape == ref.shape == (80, n // 200 + 1) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_reflect_and_constant_padding_differ_at_edges_only() -> None:
    wav = _speechlike(1.0)
    a, b = melspectrogram(wav, "reflect"), melspectrogram(wav, "constant")
    assert np.abs(a[:, 0] - b[:, 0]).max() > 0.05
    np.testing.assert_array_equal(a[:, 3:-3], b[:, 3:-3])


def test_default_padding_is_the_reflect_of_wav2lips_pinned_librosa() -> None:
    """Wav2Lip pins librosa==0.7.0, whose stft centres frame 0 on np.pad(y, n_fft // 2, mode="reflect") (its
    default pad_mode then; "constant" since librosa 0.9.0): the first column from that padding, written out."""
    from scipy.signal import get_window, lfilter

    wav = _speechlike(0.5, seed=3)
    y = lfilter([1, -0.97], [1], wav.astype(np.float64))
    frame0 = np.pad(y, 400, mode="reflect")[:800] * get_window("hann", 800, fftbins=True)
    mel0 = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600) @ np.abs(np.fft.rfft(frame0))
    ref = np.clip(8 * ((20 * np.log10(np.maximum(1e-5, mel0)) - 20 + 100) / 100) - 4, -4, 4)
    np.testing.assert_allclose(melspectrogram(wav)[:, 0], ref, atol=2e-3)
    assert np.abs(_wav2lip_mel(wav, "constant")[:, 0] - ref).max() > 0.05  # Wav2Lip's audio.py on librosa >= 0.9


def test_load_wav_mixes_and_resamples(tmp_path: Path) -> None:
    t = np.arange(44100) / 44100
    left, right = 0.4 * np.sin(2 * np.pi * 300 * t), 0.2 * np.sin(2 * np.pi * 300 * t)
    sf.write(str(tmp_path / "s.wav"), np.stack([left, right], 1), 44100, subtype="FLOAT")
    wav = load_wav(tmp_path / "s.wav")
    assert wav.dtype == np.float32 and len(wav) == 16000
    ref = librosa.resample((left + right) / 2, orig_sr=44100, target_sr=16000, res_type="polyphase")
    np.testing.assert_allclose(wav[100:-100], ref[100:-100], atol=1e-3)
    extract_wav(tmp_path / "s.wav", tmp_path / "m.wav")
    info = sf.info(str(tmp_path / "m.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    np.testing.assert_allclose(load_wav(tmp_path / "m.wav")[200:-200], wav[200:-200], atol=5e-3)


def test_mel_windows_match_wav2lip_loop() -> None:
    mel = np.random.default_rng(1).standard_normal((80, 3 * 40 + 9)).astype(np.float32)  # 40 frames, 129 cols
    n_frames = 40
    win = mel_windows(mel, n_frames)
    assert win.shape == (40, 80, 16)
    for i in range(n_frames):  # Wav2Lip: start_idx = int(i * 80 / fps), mel[:, start:start+16]
        start = int(i * 80.0 / 25)
        if start + 16 <= mel.shape[1]:
            np.testing.assert_array_equal(win[i], mel[:, start:start + 16])
        else:  # past the end: edge padded
            cols = np.minimum(np.arange(start, start + 16), mel.shape[1] - 1)
            np.testing.assert_array_equal(win[i], mel[:, cols])


def test_wav2vec_windows_match_release_loop() -> None:
    w2v = np.random.default_rng(2).standard_normal((61, 768)).astype(np.float32)  # ~1.2 s at 50 Hz
    chunks, i = [], 0
    while True:  # the STSA release's loop (inference.py), fps 25
        start = int((i - 2) * 2.0)
        end = start + 10
        a, b = max(0, start), min(end, len(w2v))
        if len(w2v) - a < 4:
            break
        chunks.append(np.concatenate([np.zeros((max(0, -start), 768)), w2v[a:b],
                                      np.zeros((max(0, end - len(w2v)), 768))]))
        i += 1
    n = len(chunks) + 3  # a video longer than the audio: the extra windows run into zero padding
    for i in range(len(chunks), n):
        start = int((i - 2) * 2.0)
        part = w2v[max(0, start):start + 10]
        chunks.append(np.concatenate([part, np.zeros((10 - len(part), 768))]))
    ours = wav2vec_windows(w2v, n)
    assert ours.shape == (n, 768, 10)
    for i, chunk in enumerate(chunks):
        np.testing.assert_array_equal(ours[i], chunk.T.astype(np.float32))
