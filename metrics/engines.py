"""Per-metric engines used by the evaluator: built once per run (weights loaded and verified once; a missing
file raises WeightsError -> the metric is unavailable), then ``video(pred, gt, pred_path) -> {column: value}``
for each video. ``pred`` is the prediction's (n, 128, 128, 3) crops, ``gt`` the full ground-truth clip (its
first n frames are compared). Engines with dataset-level results (FID) also have ``aggregate(gt_clips)``.
Engines with background work (LipLMD: FaceMesh in worker processes) also have ``submit(pred, gt, pred_path)``,
which starts it and returns the function that collects the row values.
Ground-truth features (Inception, lip landmarks, flows) are computed once per clip and cached."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


class PSNREngine:
    def __init__(self, device, cache, options):
        self.device = device

    def video(self, pred: np.ndarray, gt, pred_path: Path) -> dict[str, Any]:
        from metrics.psnr import psnr_video

        return {"PSNR": psnr_video(pred, gt.crops[:len(pred)], self.device)}


class SSIMEngine:
    def __init__(self, device, cache, options):
        self.device = device

    def video(self, pred: np.ndarray, gt, pred_path: Path) -> dict[str, Any]:
        from metrics.ssim import ssim_video

        return {"SSIM": ssim_video(pred, gt.crops[:len(pred)], self.device)}


class LPIPSEngine:
    def __init__(self, device, cache, options):
        from metrics.lpips_metric import build_lpips

        self.device = device
        self.model = build_lpips(device=device)

    def video(self, pred: np.ndarray, gt, pred_path: Path) -> dict[str, Any]:
        from metrics.lpips_metric import lpips_frames

        return {"LPIPS": float(np.mean(lpips_frames(self.model, pred, gt.crops[:len(pred)], self.device)))}


class FIDEngine:
    """Inception features of every predicted frame; GT features per clip (cached); FID in ``aggregate``."""

    def __init__(self, device, cache, options):
        from metrics.fid import build_inception

        self.device, self.cache = device, cache
        self.model = build_inception(device=device)
        self.pred: list[np.ndarray] = []

    def video(self, pred: np.ndarray, gt, pred_path: Path) -> dict[str, Any]:
        from metrics.fid import inception_features

        self.pred.append(inception_features(self.model, pred, self.device))
        return {}

    def aggregate(self, gt_clips: list) -> dict[str, float]:
        from metrics.fid import frechet_distance, inception_features, statistics

        if not self.pred or not gt_clips:
            return {"FID": math.nan}

        def gt_stats() -> dict[str, np.ndarray]:
            feats = [self.cache.get("inception", c, lambda c=c: {
                "features": inception_features(self.model, c.crops, self.device)})["features"] for c in gt_clips]
            mu, sigma = statistics(np.concatenate(feats))
            return {"mu": mu, "sigma": sigma, "n": np.array(sum(len(f) for f in feats))}

        stats = self.cache.get_dataset("fid_stats", gt_clips, gt_stats)
        pred = np.concatenate(self.pred)
        if len(pred) < 2 or int(stats["n"]) < 2:
            return {"FID": math.nan}
        return {"FID": frechet_distance(*statistics(pred), stats["mu"], stats["sigma"])}


class LipLMDEngine:
    """FaceMesh on the prediction (and on the ground truth when not cached) in ``options["workers"]`` worker
    processes (default: all cores; 0 = in this process), reused across runs of the process."""

    def __init__(self, device, cache, options):
        from metrics.facemesh_pool import detector_for
        from metrics.liplmd import PAD

        self.cache = cache
        self.detector = detector_for(options.get("workers"), PAD)  # workers start building their graphs now

    def submit(self, pred: np.ndarray, gt, pred_path: Path) -> Callable[[], dict[str, Any]]:
        from metrics.liplmd import liplmd, lips_from_points

        gt_job = None if self.cache.has("liplmd", gt) else self.detector.submit(gt.crops)
        pred_job = self.detector.submit(pred)

        def gt_lips() -> dict[str, np.ndarray]:
            assert gt_job is not None
            pts, found = gt_job.result()
            return {"lips": lips_from_points(pts, gt.crops.shape), "found": found}

        def finish() -> dict[str, Any]:
            g = self.cache.get("liplmd", gt, gt_lips)
            pts, pf = pred_job.result()
            n = len(pred)
            value, failed = liplmd(lips_from_points(pts, pred.shape), g["lips"][:n], pf, g["found"][:n])
            return {"LipLMD": value, "liplmd_failed_frames": failed}

        return finish

    def video(self, pred: np.ndarray, gt, pred_path: Path) -> dict[str, Any]:
        return self.submit(pred, gt, pred_path)()


class LSEEngine:
    def __init__(self, device, cache, options):
        self.device = device
        self.full = options.get("lse_pipeline", "crops") == "full"
        if self.full:
            from stsa.weights import resolve

            resolve("sfd_face")
            resolve("syncnet_v2")
        else:
            from metrics.lse import build_syncnet

            self.net = build_syncnet(device=device)

    def video(self, pred: np.ndarray, gt, pred_path: Path) -> dict[str, Any]:
        from metrics.lse import lse_full_pipeline, lse_scores, read_wav_int16
        from stsa.errors import MediaError

        wav = gt.dir / "audio.wav"
        if self.full:
            return lse_full_pipeline(pred_path, wav, self.device)
        audio, rate = read_wav_int16(wav)
        if rate != 16000:
            raise MediaError(wav, f"audio at {rate} Hz, LSE needs 16 kHz", "re-run preprocessing")
        return lse_scores(self.net, pred, audio, rate, self.device)


class DMEEngine:
    backend = "raft"
    column = "DME"

    def __init__(self, device, cache, options):
        from metrics.dme import DME

        self.cache = cache
        from metrics.dme import RAFT_ITERS

        self.metric = DME(self.backend, device=device, raft_iters=int(options.get("raft_iters", RAFT_ITERS)))

    def video(self, pred: np.ndarray, gt, pred_path: Path) -> dict[str, Any]:
        from metrics.dme import dme_from_flows

        g = self.cache.get(f"flow_{self.backend}", gt, lambda: {"flow": self.metric.flows(gt.crops)})
        gt_flow = g["flow"][:max(len(pred) - 1, 0)]  # (n-1, 2, H, W) float32
        pred_flow = self.metric.flows(pred)
        value, _ = dme_from_flows(gt_flow, pred_flow)
        return {self.column: value}


class DMEDisEngine(DMEEngine):
    backend = "dis"
    column = "DME[dis]"


ENGINES: dict[str, type] = {"psnr": PSNREngine, "ssim": SSIMEngine, "lpips": LPIPSEngine, "fid": FIDEngine,
                            "liplmd": LipLMDEngine, "lse": LSEEngine, "dme": DMEEngine, "dme_dis": DMEDisEngine}


def build(name: str, device, cache, options: dict[str, Any]):
    """Engine for metric ``name``; raises (e.g. WeightsError) when it cannot run."""
    return ENGINES[name](device, cache, options)
