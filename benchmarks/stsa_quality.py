"""Crop-level quality of a trained STSA checkpoint vs Reference-copy on one split, for choosing demo settings on a
held-out part of the training split (never the test split):

    .venv/bin/python benchmarks/stsa_quality.py --ckpt finetune.pt --data PREPROCESSED_ROOT --split val --frames 30

Each clip is dubbed with its own audio (`Dubber.dub_faces`, template = the whole clip, first ``--frames`` outputs);
PSNR (mean per frame, frames identical to the ground truth capped at 48 dB), lower-half PSNR and LipLMD (FaceMesh on
the 128 crops) against the ground-truth crops, for STSA, Reference-copy and ``STSA, GT heatmaps`` (the renderer fed
each frame's ground-truth face heatmap instead of stage 1's prediction: an upper bound of what a better stage 1 buys).
No video codec or paste, so the numbers are a proxy of `stsa-bench evaluate`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the metrics package, not benchmarks/metrics.py


def main() -> None:
    from baselines.trivial import reference_copy_crops, reference_index
    from metrics.liplmd import PAD, lip_landmarks, liplmd
    from metrics.psnr import psnr_frames
    from stsa.data.clip import ClipData
    from stsa.data.facemesh import FaceMeshDetector
    from stsa.data.heatmaps import render_heatmaps
    from stsa.data.landmarks import select_references
    from stsa.dub import Dubber, to_uint8
    from stsa.model import FaceRenderer, GuidancePredictor
    from stsa.train.checkpoint import config_from_dict, load_checkpoint
    from stsa.train.data import audio_windows, find_clips

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", type=Path, required=True, help="finetune checkpoint (or synthesis + --guidance)")
    ap.add_argument("--guidance", type=Path, help="guidance checkpoint when --ckpt holds only the renderer")
    ap.add_argument("--data", type=Path, required=True, help="preprocessed root with manifest.csv")
    ap.add_argument("--split", default="val")
    ap.add_argument("--frames", type=int, default=30, help="output frames per clip")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    ckpt = load_checkpoint(args.ckpt)
    cfg = config_from_dict(ckpt["config"])
    models = dict(ckpt["models"])
    if "guidance" not in models:
        models["guidance"] = load_checkpoint(args.guidance)["models"]["guidance"]
    guidance, renderer = GuidancePredictor(cfg), FaceRenderer(cfg)
    guidance.load_state_dict(models["guidance"])
    renderer.load_state_dict(models["renderer"])
    dubber = Dubber(guidance, renderer, cfg, "cpu")
    detector = FaceMeshDetector(pad=PAD)

    def psnr(pred: np.ndarray, gt: np.ndarray) -> float:
        return float(np.minimum(psnr_frames(np.ascontiguousarray(pred), np.ascontiguousarray(gt)), 48.0).mean())

    def render_gt_heatmaps(crops: np.ndarray, lm: np.ndarray, openness: np.ndarray, audio: np.ndarray, n: int,
                           chunk: int = 8) -> np.ndarray:
        """Stage 2 on frames 0..n-1 with their ground-truth face heatmaps -> (n,128,128,3) uint8 RGB."""
        refs = select_references(openness, cfg.n_ref)
        face_hm = torch.from_numpy(render_heatmaps(lm[:n], "face"))[:, None].expand(-1, 3, -1, -1)  # (n,3,128,128)
        ref_hm = torch.from_numpy(render_heatmaps(lm[refs], "face"))[None, :, None].expand(-1, -1, 3, -1, -1)
        bgr = np.ascontiguousarray(crops[..., ::-1])  # the networks see BGR
        faces = torch.from_numpy(bgr[:n]).permute(0, 3, 1, 2).float() / 255.0                      # (n,3,128,128)
        ref_faces = torch.from_numpy(bgr[refs]).permute(0, 3, 1, 2).float()[None] / 255.0          # (1,N,3,..)
        out = []
        with torch.inference_mode():
            references = renderer.encode_references(ref_faces, ref_hm)  # once per clip, as Dubber.dub_faces
            for s in range(0, n, chunk):
                img = renderer(faces[s:s + chunk, None], face_hm[s:s + chunk, None], None, None,
                               torch.from_numpy(audio[s:s + chunk, None]), references=references,
                               with_cil=False).image
                out.append(to_uint8(img, cfg.inference.quantise)[..., ::-1])
        return np.concatenate(out)

    scores: dict[str, dict[str, list[float]]] = {m: {"psnr": [], "psnr_lower": [], "liplmd": []}
                                                 for m in ("STSA", "STSA, GT heatmaps", "Reference-copy")}
    for cid in find_clips(args.data, args.split):
        clip = ClipData.load(args.data / cid)
        n = min(args.frames, clip.n_frames)
        crops, lm = np.asarray(clip.crops), np.asarray(clip.landmarks, np.float32)
        audio = audio_windows(clip.mel, clip.wav2vec, clip.n_frames, cfg.audio)[:n]
        preds = {"STSA": dubber.dub_faces(crops, lm, clip.openness, audio),
                 "STSA, GT heatmaps": render_gt_heatmaps(crops, lm, clip.openness, audio, n),
                 "Reference-copy": reference_copy_crops(crops, reference_index(clip.openness))[:n]}
        gt = crops[:n]
        gt_lips, gt_found = lip_landmarks(detector, gt)
        for name, pred in preds.items():
            lips, found = lip_landmarks(detector, pred)
            scores[name]["psnr"].append(psnr(pred, gt))
            scores[name]["psnr_lower"].append(psnr(pred[:, 64:], gt[:, 64:]))
            scores[name]["liplmd"].append(liplmd(lips, gt_lips, found, gt_found)[0])
    summary = {m: {k: round(float(np.nanmean(v)), 4) for k, v in d.items()} for m, d in scores.items()}
    print(json.dumps({"ckpt": str(args.ckpt), "split": args.split, "frames": args.frames, **summary}))


if __name__ == "__main__":
    main()
