"""``stsa-bench evaluate`` on two plain folders of videos (bring-your-own) and on a preprocessed dataset dir."""

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
    assert 5 < df.loc[0, "PSNR"] < 40 and 0 < df.loc[0, "SSIM"] < 1
    assert (tmp_path / "c" / "preprocessed").is_dir()
