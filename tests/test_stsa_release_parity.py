"""Our paper preset against the public release's own model code (read from the fetched mirror at test time,
never copied into the project): the release's random weights load strictly into ours and both compute the same.

Skips when the mirror is absent (set STSA_RELEASE_MIRROR to a checkout's git dir to run it elsewhere).
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from stsa.config import STSAConfig
from stsa.model import FaceRenderer, GuidancePredictor
from stsa.modules.cil import MINE, cil_bounds
from stsa.modules.perceptual import vgg19_features
from tests.conftest import randomize_bn_stats

MIRROR = Path(os.environ.get("STSA_RELEASE_MIRROR", "/work/.mirror/SCAILab-USTC+STSA/repo"))


pytestmark = pytest.mark.usefixtures("single_thread")


def _release_module(path: str) -> types.ModuleType:
    if not MIRROR.exists():
        pytest.skip(f"release mirror not found at {MIRROR}")
    try:
        src = subprocess.run(["git", "-C", str(MIRROR), "show", f"HEAD:{path}"], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot read {path} from {MIRROR}: {e}")
    mod = types.ModuleType("release_" + Path(path).stem)
    exec(compile(src, f"<release {path}>", "exec"), mod.__dict__)  # noqa: S102 - reference code under test
    return mod


def test_guidance_matches_release_heatmap_generator():
    rel = _release_module("models/heatmap_generator.py")
    torch.manual_seed(0)
    theirs = rel.Heatmap_generator(T=5, d_model=512, nlayers=8, nhead=4, dim_feedforward=1024, dropout=0.1)
    randomize_bn_stats(theirs, 1)
    ours = GuidancePredictor(STSAConfig.paper())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    theirs.eval(), ours.eval()
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(2, 5, 768, 10, generator=g), torch.rand(2, 5, 1, 128, 128, generator=g),
         torch.rand(2, 5, 1, 128, 128, generator=g))
    with torch.no_grad():
        hm_t, lm_t = theirs(*x)
        hm_o, lm_o = ours(*x)
    assert hm_o.shape == (10, 1, 128, 128) and lm_o.shape == (10, 2, 57)
    torch.testing.assert_close(hm_o, hm_t, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(lm_o, lm_t, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_renderer_matches_release_face_renderer(monkeypatch):
    import torchvision

    sync_bn = types.ModuleType("sync_batchnorm")
    sync_bn.SynchronizedBatchNorm2d = nn.BatchNorm2d     # same parameters and eval behaviour on one device
    monkeypatch.setitem(sys.modules, "sync_batchnorm", sync_bn)
    # no download (the release asks for ImageNet weights) and no classifier: the same 37-layer `features`
    monkeypatch.setattr(torchvision.models, "vgg19",
                        lambda weights=None, **kw: types.SimpleNamespace(features=vgg19_features()))
    rel = _release_module("models/video_renderer.py")
    torch.manual_seed(0)
    theirs = rel.Face_renderer()
    randomize_bn_stats(theirs, 1)
    # the release runs its VGG loss inside forward; it does not touch the image, so skip it here for speed
    monkeypatch.setattr(theirs.perceptual, "forward", lambda *a, **k: torch.zeros(()))
    ours = FaceRenderer(STSAConfig.paper())              # ref_heatmap_mode="release"
    ours.load_state_dict(theirs.state_dict(), strict=True)
    theirs.eval(), ours.eval()

    g = torch.Generator().manual_seed(2)
    face, tar = torch.rand(1, 1, 3, 128, 128, generator=g), torch.rand(1, 1, 3, 128, 128, generator=g)
    refs, ref_hm = torch.rand(1, 5, 3, 128, 128, generator=g), torch.rand(1, 5, 3, 128, 128, generator=g)
    audio = torch.randn(1, 1, 768, 10, generator=g)
    # release inference hands its renderer the last reference's heatmap five times
    release_ref_hm = ref_hm[:, -1:].expand_as(ref_hm).contiguous()
    with torch.no_grad():
        torch.manual_seed(7)
        img_t, _, sp_t, te_t, mine_t = theirs(face, tar, refs, release_ref_hm, audio)
        torch.manual_seed(7)                              # same three batch permutations for the MI bound
        out = ours(face, tar, refs, ref_hm, audio)
    assert img_t.shape == (1, 3, 1, 128, 128) and out.image.shape == (1, 3, 128, 128)
    torch.testing.assert_close(out.image, img_t[:, :, 0], rtol=1e-4, atol=1e-5)
    for a, b in zip(out.spatial_embeddings + out.temporal_embeddings, sp_t + te_t, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(-out.mi_lower_bound / 3, mine_t[0], rtol=1e-4, atol=1e-6)  # B=1: both 0


def test_mi_bound_matches_release_mine(monkeypatch):
    """Release loss = -(mean over the 3 scales of the DV bound), one torch.randperm per scale."""
    monkeypatch.setitem(sys.modules, "sync_batchnorm", types.SimpleNamespace(SynchronizedBatchNorm2d=nn.BatchNorm2d))
    rel = _release_module("models/video_renderer.py")
    torch.manual_seed(0)
    theirs = rel.MINE(16, 8)
    ours = MINE(16, 8)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    for fc in (ours.fc1, ours.fc2, ours.fc3):
        torch.nn.init.normal_(fc.weight, std=0.7)
    theirs.load_state_dict(ours.state_dict())
    xs = [torch.randn(6, 8) for _ in range(3)]
    ys = [x + 0.1 * torch.randn(6, 8) for x in xs]
    torch.manual_seed(11)
    loss = 0.0
    for x, y in zip(xs, ys, strict=True):          # the release's loop in Face_renderer.forward
        joint = theirs(x, y)
        marginal = theirs(x, y[torch.randperm(y.size(0))])
        loss += theirs.mine_loss(joint, marginal)
    loss = loss / 3
    torch.manual_seed(11)
    bound = torch.stack(cil_bounds(ours, xs, ys)).sum()
    assert abs(float(loss)) > 1e-3
    torch.testing.assert_close(-bound / 3, loss, rtol=1e-5, atol=1e-6)
