"""``stsa-bench evaluate`` on two plain folders of videos (bring-your-own) and on a preprocessed dataset dir; the
``stsa-bench`` command failing loudly when a subcommand module cannot be imported."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from metrics_data import make_gt

from metrics import evaluator


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    evaluator.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_preprocessed_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(tmp_path / "none"))
    root, pred = tmp_path / "gt", tmp_path / "pred"
    make_gt(root, "a", n=8)
    pred.mkdir()
    (pred / "a.mp4").symlink_to(root / "a" / "video.mp4")
    pd.DataFrame([{"clip": "a", "status": "ok"}]).to_csv(root / "manifest.csv", index=False)
    out = tmp_path / "out" / "scores.csv"
    assert _run(["evaluate", "--gt", str(root), "--pred", str(pred), "--metrics", "ssim", "lse",
                 "--out", str(out), "--device", "cpu", "--cache-dir", str(tmp_path / "c")]) == 0
    df = pd.read_csv(out)
    assert df.loc[0, "SSIM"] == pytest.approx(1.0) and np.isnan(df.loc[0, "LSE-D"])
    agg = json.loads(out.with_suffix(".json").read_text())
    assert "syncnet_v2" in agg["unavailable"]["lse"]


def test_bring_your_own_folders(real_clips, tmp_path):
    from stsa.data.audio import extract_wav
    from stsa.data.video import read_frames, write_video

    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    wav = tmp_path / "a.wav"
    extract_wav(real_clips / "00002.mp4", wav)
    frames = read_frames(real_clips / "00002.mp4")[:30]
    write_video(gt / "spk1.mp4", frames, audio=wav)
    write_video(pred / "spk1.mp4", frames[:, :, ::-1].copy(), audio=wav)  # mirrored "method output"
    out = tmp_path / "scores.csv"
    assert _run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--metrics", "psnr", "ssim",
                 "--out", str(out), "--device", "cpu", "--cache-dir", str(tmp_path / "c")]) == 0
    df = pd.read_csv(out)
    assert list(df["clip"]) == ["spk1"] and df.loc[0, "status"] == "ok" and df.loc[0, "n_frames"] == 30
    # the values: skimage per frame on the prediction cropped with the boxes preprocessing found for the GT
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from stsa.data.clip import ClipData
    from stsa.data.crops import crop_faces

    (clip_dir,) = (tmp_path / "c" / "preprocessed").glob("gt-*/spk1")
    clip = ClipData.load(clip_dir)
    g = clip.crops / 255.0
    p = crop_faces(read_frames(pred / "spk1.mp4"), clip.boxes) / 255.0
    assert len(clip.crops) == 30 and clip.detected.mean() > 0.9  # a real face was found, not a fallback
    ref_psnr = np.mean([peak_signal_noise_ratio(a, b, data_range=1) for a, b in zip(g, p, strict=True)])
    ref_ssim = np.mean([structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                              data_range=1, channel_axis=-1) for a, b in zip(g, p, strict=True)])
    assert df.loc[0, "PSNR"] == pytest.approx(ref_psnr, abs=1e-9)
    assert df.loc[0, "SSIM"] == pytest.approx(ref_ssim, abs=1e-9)
    agg = json.loads(out.with_suffix(".json").read_text())
    assert agg["PSNR"] == pytest.approx(ref_psnr, abs=1e-9) and agg["n_ok"] == 1


def test_cli_fails_loudly_when_a_subcommand_cannot_be_imported(monkeypatch):
    from stsa import cli

    assert "evaluate" in cli.build_parser().format_help()
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", (*cli.SUBCOMMAND_MODULES, "stsa.no_such_subcommand"))
    with pytest.raises(ImportError, match="stsa.no_such_subcommand failed to import"):
        cli.build_parser()
