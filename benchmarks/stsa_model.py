"""STSA model forward cost: the release's own model code vs stsa.model, same random weights, side by side.

    .venv/bin/python benchmarks/stsa_model.py --threads 1 --repeats 3

Reads the release's models/*.py from the fetched mirror (STSA_RELEASE_MIRROR, default
/work/.mirror/SCAILab-USTC+STSA/repo) at run time. Per output frame the release runs stage 1 on a 5-frame window
and the renderer on one frame, including its VGG19 perceptual loss inside forward; stsa.model never runs the VGG
and computes the temporal path's SPADE scale/shift maps once instead of once per reference. Outputs are checked
to agree (max |diff|) before any time is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import torch
from torch import nn

MIRROR = Path(os.environ.get("STSA_RELEASE_MIRROR", "/work/.mirror/SCAILab-USTC+STSA/repo"))


def release_module(path: str) -> types.ModuleType:
    src = subprocess.run(["git", "-C", str(MIRROR), "show", f"HEAD:{path}"], capture_output=True, text=True,
                         check=True).stdout
    mod = types.ModuleType("release_" + Path(path).stem)
    exec(compile(src, f"<release {path}>", "exec"), mod.__dict__)  # noqa: S102 - reference code
    return mod


def timed(fn, repeats: int) -> tuple[float, object]:
    out, best = None, float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        with torch.no_grad():
            out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import torchvision

    from stsa.config import STSAConfig
    from stsa.model import FaceRenderer, GuidancePredictor
    from stsa.modules.perceptual import vgg19_features

    sys.modules["sync_batchnorm"] = types.SimpleNamespace(SynchronizedBatchNorm2d=nn.BatchNorm2d)
    torchvision.models.vgg19 = lambda weights=None, **kw: types.SimpleNamespace(features=vgg19_features())
    hg = release_module("models/heatmap_generator.py")
    vr = release_module("models/video_renderer.py")
    torch.manual_seed(0)
    rel_g = hg.Heatmap_generator(T=5, d_model=512, nlayers=8, nhead=4, dim_feedforward=1024, dropout=0.1).eval()
    rel_r = vr.Face_renderer().eval()
    cfg = STSAConfig.paper()
    our_g, our_r = GuidancePredictor(cfg).eval(), FaceRenderer(cfg).eval()
    our_g.load_state_dict(rel_g.state_dict())
    our_r.load_state_dict(rel_r.state_dict())

    g = torch.Generator().manual_seed(1)
    s1 = (torch.randn(1, 5, 768, 10, generator=g), torch.rand(1, 5, 1, 128, 128, generator=g),
          torch.rand(1, 5, 1, 128, 128, generator=g))
    face, tar = torch.rand(1, 1, 3, 128, 128, generator=g), torch.rand(1, 1, 3, 128, 128, generator=g)
    refs = torch.rand(1, 5, 3, 128, 128, generator=g)
    ref_hm = torch.rand(1, 1, 3, 128, 128, generator=g).expand(1, 5, 3, 128, 128).contiguous()
    audio = torch.randn(1, 1, 768, 10, generator=g)

    t_rg, (hm_r, _) = timed(lambda: rel_g(*s1), args.repeats)
    t_og, (hm_o, _) = timed(lambda: our_g(*s1), args.repeats)
    t_rr, rel_out = timed(lambda: rel_r(face, tar, refs, ref_hm, audio), args.repeats)
    t_or, our_out = timed(lambda: our_r(face, tar, refs, ref_hm, audio), args.repeats)
    rel_r.perceptual.forward = lambda *a, **k: torch.zeros(())       # the release minus its VGG loss
    t_rn, _ = timed(lambda: rel_r(face, tar, refs, ref_hm, audio), args.repeats)
    res = {
        "threads": args.threads, "repeats(best of)": args.repeats,
        "stage1_release_s": round(t_rg, 3), "stage1_ours_s": round(t_og, 3),
        "renderer_release_incl_vgg_s": round(t_rr, 3), "renderer_release_without_vgg_s": round(t_rn, 3),
        "renderer_ours_s": round(t_or, 3),
        "per_frame_release_s": round(t_rg + t_rr, 3), "per_frame_ours_s": round(t_og + t_or, 3),
        "speedup_per_frame": round((t_rg + t_rr) / (t_og + t_or), 2),
        "max_abs_diff_heatmap": float((hm_r - hm_o).abs().max()),
        "max_abs_diff_image": float((rel_out[0][:, :, 0] - our_out.image).abs().max()),
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
