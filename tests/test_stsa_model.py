"""STSA model on the demo preset: shapes of every component, both audio front ends, the release/paper options,
the ablation switches and the CIL mutual-information bound."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from stsa.config import GuidanceConfig, RendererConfig, STSAConfig
from stsa.model import STSA, FaceRenderer, GuidancePredictor, RendererOutput
from stsa.modules.adaat import AdaAT
from stsa.modules.adain import AdaIN
from stsa.modules.audio_encoder import RendererAudioEncoder, guidance_audio_encoder
from stsa.modules.cil import MINE, cil_bounds, dv_bound
from stsa.modules.discriminator import MultiScaleDiscriminator
from stsa.modules.fusion import fusion_block
from stsa.modules.guidance_transformer import FusionTransformer
from stsa.modules.heatmap_decoder import HeatmapDecoder
from stsa.modules.keypoint_extractor import heatmap_encoder
from stsa.modules.perceptual import PerceptualLoss, gram
from stsa.modules.spade import SPADE
from stsa.modules.spatial_path import HeatmapEncoder, RefImageEncoder, SpatialNetwork
from stsa.modules.temporal_path import TemporalNetwork
from tests.conftest import randomize_bn_stats

B = 2


pytestmark = pytest.mark.usefixtures("single_thread")


def _stage2(cfg: STSAConfig, seed: int = 0, b: int = B):
    g = torch.Generator().manual_seed(seed)
    n, a, w = cfg.n_ref, cfg.audio_dim, cfg.audio_window
    return [torch.rand(b, 1, 3, 128, 128, generator=g), torch.rand(b, 1, 3, 128, 128, generator=g),
            torch.rand(b, n, 3, 128, 128, generator=g), torch.rand(b, n, 3, 128, 128, generator=g),
            torch.randn(b, 1, a, w, generator=g)]


def _stage1(cfg: STSAConfig, seed: int = 0, b: int = B):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, cfg.T, cfg.audio_dim, cfg.audio_window, generator=g),
            torch.rand(b, cfg.T, 1, 128, 128, generator=g), torch.rand(b, cfg.n_ref, 1, 128, 128, generator=g)]


@pytest.fixture(scope="module")
def demo() -> STSA:
    torch.manual_seed(0)
    return STSA(STSAConfig.demo()).eval()


# ---------------------------------------------------------------- config
def test_presets():
    p = STSAConfig.paper()
    assert (p.guidance.T, p.guidance.d_model, p.guidance.nlayers, p.guidance.nhead, p.guidance.dim_feedforward,
            p.guidance.dropout) == (5, 512, 8, 4, 1024, 0.1)
    assert (p.audio_dim, p.audio_window) == (768, 10) and p.n_ref == 5
    assert p.guidance.message_passing == "release" and p.renderer.fusion_kernel == 3
    assert p.renderer.ref_heatmap_mode == "release" and p.use_cil and p.use_spatial and p.use_temporal
    d = STSAConfig.demo()
    assert (d.audio_dim, d.audio_window) == (80, 16) and d.guidance.d_model == 64 and d.guidance.nlayers == 2
    assert STSAConfig(T=3).guidance.T == 3
    with pytest.raises(ValueError, match="use_cil"):
        RendererConfig(use_temporal=False)
    with pytest.raises(ValueError, match="at least one"):
        RendererConfig(use_cil=False, use_spatial=False, use_temporal=False)
    with pytest.raises(ValueError):
        STSAConfig(audio="mfcc")
    with pytest.raises(ValueError):
        GuidanceConfig(message_passing="both")
    ab = d.ablate(use_temporal=False)
    assert not ab.use_temporal and not ab.use_cil and ab.use_spatial and d.use_temporal


# ---------------------------------------------------------------- components
@pytest.mark.parametrize("front", ["wav2vec", "mel"])
def test_audio_encoders_both_front_ends(front):
    cfg = STSAConfig.demo(audio=front)
    x = torch.randn(3, cfg.audio_dim, cfg.audio_window)
    assert guidance_audio_encoder(cfg.audio_dim, cfg.audio_window, (16, 32), 64)(x).shape == (3, 64, 1)
    assert RendererAudioEncoder(cfg.audio_dim, cfg.audio_window, 32)(x).shape == (3, 32, 1)


def test_stage1_components():
    assert heatmap_encoder((8, 16, 32, 48), 64)(torch.rand(3, 1, 128, 128)).shape == (3, 64, 1, 1)
    tr = FusionTransformer(64, 2, 4, 128, 0.0)
    assert tr(torch.randn(2, 5, 64), torch.randn(2, 4, 64), torch.randn(2, 4, 64)).shape == (2, 13, 64)
    lip, jaw = HeatmapDecoder(64, 1)(torch.randn(3, 64, 1, 1), torch.randn(3, 64, 1, 1), torch.rand(3, 1, 128, 128))
    assert lip.shape == jaw.shape == (3, 1, 128, 128) and float(lip.detach().abs().max()) <= 1


def test_stage2_components():
    c = (8, 32, 64)
    feats = RefImageEncoder(5, c, 16)(torch.rand(2, 5, 3, 128, 128))
    assert [tuple(f.shape) for f in feats] == [(2, 8, 128, 128), (2, 32, 64, 64), (2, 64, 32, 32)]
    assert HeatmapEncoder(15, 8)(torch.rand(2, 15, 128, 128)).shape == (2, 8, 32, 32)
    audio = torch.randn(2, 32, 1)
    sp = SpatialNetwork(c, 8, 32, 32)(feats, torch.rand(2, 8, 32, 32), torch.rand(2, 8, 32, 32), audio)
    assert [tuple(f.shape) for f in sp] == [tuple(f.shape) for f in feats]
    te, img = TemporalNetwork(c, 32, 16, 16)(torch.rand(2, 3, 3, 128, 128), torch.rand(2, 3, 3, 128, 128),
                                             torch.rand(2, 3, 128, 128), audio)
    assert [tuple(f.shape) for f in te] == [tuple(f.shape) for f in feats] and img.shape == (2, 3, 128, 128)
    assert AdaAT(16, 8)(torch.rand(2, 8, 20, 20), torch.randn(2, 16)).shape == (2, 8, 20, 20)
    assert AdaIN(8, 32, 16)(torch.rand(2, 8, 16, 16), audio.permute(0, 2, 1)).shape == (2, 8, 16, 16)
    assert SPADE(8, 3, 16)(torch.rand(2, 8, 16, 16), torch.rand(2, 3, 16, 16)).shape == (2, 8, 16, 16)
    for k in (1, 3):
        assert fusion_block(16, 8, k)(torch.rand(2, 16, 32, 32)).shape == (2, 8, 32, 32)
    assert fusion_block(16, 8, 1)[0].conv.kernel_size == (1, 1)
    outs = MultiScaleDiscriminator(3, 8, 3, 2)(torch.rand(2, 3, 128, 128))
    assert len(outs) == 2 and outs[0][-1].shape[:2] == (2, 1) and outs[1][-1].shape[-1] < outs[0][-1].shape[-1]


def test_adaat_identity_transform_and_release_depth_sampling():
    """With zero weights AdaAT has scale 1, angle 0, shift 0; like the release it samples the channel axis with
    align_corners=False at depth c*C/(C-1) - 0.5 (zero outside), so channels blend with their neighbours."""
    at = AdaAT(4, 6)
    with torch.no_grad():
        for p in at.parameters():
            p.zero_()
    x = torch.arange(6.0).view(1, 6, 1, 1).expand(1, 6, 16, 16).contiguous()
    y = at(x, torch.randn(1, 4))
    pos = torch.arange(6.0) * 6 / 5 - 0.5
    lo = pos.floor()
    frac = pos - lo

    def val(i: torch.Tensor) -> torch.Tensor:
        return torch.where((i >= 0) & (i <= 5), i, torch.zeros_like(i))

    expected = (1 - frac) * val(lo) + frac * val(lo + 1)
    torch.testing.assert_close(y[0, :, 8, 8], expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- stage 1
@pytest.mark.parametrize("front", ["mel", "wav2vec"])
def test_guidance_forward_shapes(front):
    torch.manual_seed(0)
    cfg = STSAConfig.demo(audio=front)
    model = GuidancePredictor(cfg)
    assert model.mel_encoder[0].conv_block[0].in_channels == cfg.audio_dim
    hm, lm = model(*_stage1(cfg))
    assert hm.shape == (B * 5, 1, 128, 128) and lm.shape == (B * 5, 2, 57)
    assert float(hm.detach().abs().max()) <= 2


def test_guidance_batch_major_and_independent(demo):
    x = _stage1(demo.cfg)
    with torch.no_grad():
        hm, lm = demo.guidance(*x)
        hm1, lm1 = demo.guidance(*[t[1:] for t in x])
    torch.testing.assert_close(hm[5:], hm1, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(lm[5:], lm1, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("preset", ["demo", "paper"])
def test_guidance_cached_reference_and_pose_codes(preset):
    """encode_references / encode_poses once, gathered per window (as stsa.dub does) == encoding every window."""
    cfg = getattr(STSAConfig, preset)()
    torch.manual_seed(0)
    model = GuidancePredictor(cfg).eval()
    randomize_bn_stats(model, 1)
    audio, pose, ref = _stage1(cfg)
    frames = pose[:, 1:3].flatten(0, 1)                          # 4 distinct "template frames"
    idx = torch.tensor([[0, 1, 2, 3, 0], [3, 3, 2, 1, 0]])       # per window slot, with repeats
    ref = ref[:1]
    with torch.no_grad():
        want_hm, want_lm = model(audio, frames[idx], ref.expand(B, -1, -1, -1, -1))
        codes = model.encode_poses(frames)                       # (4,D)
        hm, lm = model(audio, frames[idx], None, ref_codes=model.encode_references(ref), pose_codes=codes[idx])
    assert (hm - want_hm).abs().max() <= 1e-5 and (lm - want_lm).abs().max() <= 1e-5
    t = idx.size(1)
    audio_codes = model.encode_audio(audio.flatten(0, 1)).unflatten(0, (B, t))   # (B,T,D)
    for slot in (0, 2):
        with torch.no_grad():
            got = model.slot_heatmaps(audio_codes, codes[idx], model.encode_references(ref), frames[idx[:, slot]], slot)
        assert (got - want_hm.unflatten(0, (B, t))[:, slot]).abs().max() <= 1e-5


def test_landmarks_are_jaw_then_lip_xy(demo):
    model = GuidancePredictor(demo.cfg).eval()
    with torch.no_grad():
        for head in (model.jaw_keypoint_map, model.mouse_keypoint_map):
            head.weight.zero_()
        model.jaw_keypoint_map.bias.copy_(torch.arange(34.0))
        model.mouse_keypoint_map.bias.copy_(100 + torch.arange(80.0))
        _, lm = model(*_stage1(demo.cfg, b=1))
    jaw = torch.arange(34.0).view(17, 2).T             # head output is x0, y0, x1, y1, ...
    lip = (100 + torch.arange(80.0)).view(40, 2).T
    assert torch.equal(lm[0, :, :17], jaw) and torch.equal(lm[0, :, 17:], lip)


@pytest.mark.parametrize(("mode", "changes"), [("release", False), ("paper", True)])
def test_message_passing_modes(mode, changes):
    torch.manual_seed(0)
    dec = HeatmapDecoder(64, 1, mode).eval()
    args = (torch.randn(2, 64, 1, 1), torch.randn(2, 64, 1, 1), torch.rand(2, 1, 128, 128))
    with torch.no_grad():
        before = dec(*args)[0]
        for p in dec.message_j2l.parameters():
            p.add_(1.0)
        after = dec(*args)[0]
    assert (not torch.equal(before, after)) is changes


# ---------------------------------------------------------------- stage 2
def test_renderer_forward(demo):
    cfg = demo.cfg
    torch.manual_seed(0)
    r = FaceRenderer(cfg).train()
    out = r(*_stage2(cfg))
    assert isinstance(out, RendererOutput)
    assert out.image.shape == (B, 3, 128, 128)
    assert float(out.image.min()) >= 0 and float(out.image.max()) <= 1
    assert out.mi_lower_bound.shape == () and len(out.mi_per_scale) == 3
    assert [tuple(e.shape) for e in out.spatial_embeddings] == [(B, cfg.renderer.cil_dim)] * 3
    c128, c64, c32 = cfg.renderer.feat_channels
    assert [tuple(f.shape) for f in out.fused_features] == [(B, c128, 128, 128), (B, c64, 64, 64), (B, c32, 32, 32)]
    assert out.warped_reference.shape == (B, 3, 128, 128)
    (out.image.mean() - out.mi_lower_bound).backward()
    assert r.mine.fc1.weight.grad is not None and r.translation.conv_last.weight.grad.abs().sum() > 0
    assert r.temporal_module.conv_4.weight.grad.abs().sum() > 0 and r.spatial_module.adaAT_32.scale[0].weight.grad \
        .abs().sum() > 0


@pytest.mark.parametrize("front", ["wav2vec"])
def test_renderer_wav2vec_front_end(front):
    cfg = STSAConfig.demo(audio=front)
    out = FaceRenderer(cfg).eval()(*_stage2(cfg, b=1))
    assert out.image.shape == (1, 3, 128, 128)


def test_bad_input_shapes_are_named(demo):
    x = _stage2(demo.cfg, b=1)
    with pytest.raises(ValueError, match="audio must have shape"):
        demo.renderer(*x[:4], torch.randn(1, 1, 768, 10))          # wav2vec window into the mel preset
    with pytest.raises(ValueError, match="ref_faces"):
        demo.renderer(x[0], x[1], x[2][:, :3], x[3], x[4])
    a, p, r = _stage1(demo.cfg, b=1)
    with pytest.raises(ValueError, match="pose_heatmaps"):
        demo.guidance(a, p[:, :4], r)


def test_lower_half_of_the_input_face_is_ignored(demo):
    x = _stage2(demo.cfg, b=1)
    y = [t.clone() for t in x]
    y[0][:, :, :, 64:] = torch.rand_like(y[0][:, :, :, 64:])
    with torch.no_grad():
        a = demo.renderer(*x).image
        b = demo.renderer(*y).image
        y[0][:, :, :, :64] += 0.5
        c = demo.renderer(*y).image
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_blend_upper_half_keeps_the_input_rows_above_the_seam():
    cfg = STSAConfig.demo()
    assert not STSAConfig.paper().renderer.blend_upper_half
    on = replace(cfg, renderer=replace(cfg.renderer, blend_upper_half=True, blend_feather=4))
    off = replace(cfg, renderer=replace(cfg.renderer, blend_upper_half=False))
    torch.manual_seed(0)
    r_on = FaceRenderer(on).eval()
    r_off = FaceRenderer(off).eval()
    r_off.load_state_dict(r_on.state_dict())
    x = _stage2(cfg, b=1)
    with torch.no_grad():
        a, b = r_on(*x).image, r_off(*x).image
    face = x[0][:, 0]
    assert torch.equal(a[:, :, :59], face[:, :, :59])       # input rows above the 4-row seam
    assert torch.equal(a[:, :, 64:], b[:, :, 64:])          # generated lower half
    w = torch.tensor([0.2, 0.4, 0.6, 0.8]).view(4, 1)
    torch.testing.assert_close(a[:, :, 60:64], face[:, :, 60:64] * (1 - w) + b[:, :, 60:64] * w)


def test_residual_on_warp_starts_as_the_warped_reference():
    cfg = STSAConfig.demo()
    assert cfg.renderer.residual_on_warp and not STSAConfig.paper().renderer.residual_on_warp
    cfg = replace(cfg, renderer=replace(cfg.renderer, blend_upper_half=False))
    torch.manual_seed(0)
    r = FaceRenderer(cfg).eval()
    with torch.no_grad():
        out = r(*_stage2(cfg, b=1))
    torch.testing.assert_close(out.image, out.warped_reference.clamp(0, 1))
    no_temporal = cfg.ablate(use_temporal=False)   # ignored without the temporal path (Table III ablation)
    with torch.no_grad():
        assert FaceRenderer(no_temporal).eval()(*_stage2(no_temporal, b=1)).image.shape == (1, 3, 128, 128)


@pytest.mark.parametrize(("mode", "changes"), [("release", False), ("paper", True)])
def test_reference_heatmap_mode(mode, changes):
    cfg = STSAConfig.demo()
    cfg = replace(cfg, renderer=replace(cfg.renderer, ref_heatmap_mode=mode))
    torch.manual_seed(0)
    r = FaceRenderer(cfg).eval()
    x = _stage2(cfg, b=1)
    y = list(x)
    y[3] = x[3].clone()
    y[3][:, :-1] = torch.rand_like(y[3][:, :-1])      # all but the last reference heatmap
    with torch.no_grad():
        same = torch.equal(r(*x).image, r(*y).image)
    assert same is not changes


@pytest.mark.parametrize("switch", ["use_temporal", "use_spatial", "use_cil"])
def test_ablation_switches(switch):
    base = STSAConfig.demo()
    cfg = base.ablate(**{switch: False})
    torch.manual_seed(0)
    r = FaceRenderer(cfg).eval()
    keys = r.state_dict().keys()
    full = FaceRenderer(base).state_dict().keys()
    gone = {"use_temporal": ["temporal_module."], "use_spatial": ["spatial_module.", "ref_imgs_encoder.",
                                                                    "heatmap_encoder_ref."],
            "use_cil": ["mine.", "align_layers."]}[switch]
    for prefix in gone:
        assert any(k.startswith(prefix) for k in full) and not any(k.startswith(prefix) for k in keys)
    assert not any(k.startswith(("mine.", "align_layers.")) for k in keys)     # CIL needs both paths
    with torch.no_grad():
        out = r(*_stage2(cfg, b=1))
    assert out.image.shape == (1, 3, 128, 128) and out.mi_lower_bound is None
    if switch != "use_cil":   # one path: the fusion maps that path's width, not two
        assert r.fuse_32[0].conv.in_channels == cfg.renderer.feat_channels[2]


def _check_reference_cache(cfg: STSAConfig, b: int) -> None:
    """FaceRenderer with `encode_references` computed once (batch 1, broadcast; and batch b) == without it."""
    torch.manual_seed(0)
    r = FaceRenderer(cfg).eval()
    randomize_bn_stats(r, 1)   # non-trivial BatchNorm statistics: a cached feature computed wrongly would show
    x = _stage2(cfg, b=b)
    perm = torch.arange(b).flip(0)
    with torch.no_grad():
        shared = [t[:1].expand_as(t) for t in x[2:4]]            # the same references for every frame
        want = r(*x[:2], *shared, x[4], perm=perm)
        once = r.encode_references(x[2][:1], x[3][:1])
        got = r(*x[:2], None, None, x[4], perm=perm, references=once, with_cil=False)
    assert (got.image - want.image).abs().max() <= 1e-5
    assert got.mi_lower_bound is None and not got.spatial_embeddings   # CIL skipped, the image unchanged
    if cfg.use_temporal:
        assert (got.warped_reference - want.warped_reference).abs().max() <= 1e-5
    if b > 1:   # a cache of batch b (each frame its own references), CIL kept
        with torch.no_grad():
            per_sample = r(*x, perm=perm, references=r.encode_references(x[2], x[3]))
            want_per_sample = r(*x, perm=perm)
        assert (per_sample.image - want_per_sample.image).abs().max() <= 1e-5
        if cfg.use_cil:
            assert (per_sample.mi_lower_bound - want_per_sample.mi_lower_bound).abs() <= 1e-5


@pytest.mark.parametrize("variant", ["full", "no_spatial", "no_temporal", "no_cil", "release_heatmaps"])
def test_renderer_reference_cache_equals_recomputation(variant):
    cfg = STSAConfig.demo()
    if variant == "release_heatmaps":
        cfg = replace(cfg, renderer=replace(cfg.renderer, ref_heatmap_mode="release"))
    elif variant != "full":
        cfg = cfg.ablate(**{{"no_spatial": "use_spatial", "no_temporal": "use_temporal",
                             "no_cil": "use_cil"}[variant]: False})
    _check_reference_cache(cfg, b=B)


@pytest.mark.slow
def test_renderer_reference_cache_equals_recomputation_paper():
    _check_reference_cache(STSAConfig.paper(), b=1)   # release heatmap mode, CIL, kept release modules


def test_renderer_reference_cache_needs_references():
    cfg = STSAConfig.demo()
    x = _stage2(cfg, b=1)
    with pytest.raises(ValueError, match="ref_faces and ref_heatmaps are required"):
        FaceRenderer(cfg).eval()(x[0], x[1], None, None, x[4])


def test_perceptual_network_is_never_run_in_forward(monkeypatch):
    cfg = STSAConfig.demo()
    cfg = replace(cfg, renderer=replace(cfg.renderer, keep_perceptual=True))
    r = FaceRenderer(cfg).eval()
    assert any(k.startswith("perceptual.model.network.34.") for k in r.state_dict())

    def boom(*a, **k):
        raise AssertionError("perceptual loss ran inside forward")

    monkeypatch.setattr(r.perceptual, "forward", boom)
    monkeypatch.setattr(r.perceptual.model, "forward", boom)
    with torch.no_grad():
        assert r(*_stage2(cfg, b=1)).image.shape == (1, 3, 128, 128)


def test_vgg19_features_match_torchvision_layout():
    from torchvision.models import vgg

    from stsa.modules.perceptual import vgg19_features

    ours, theirs = vgg19_features(), vgg.make_layers(vgg.cfgs["E"])
    assert [repr(m) for m in ours] == [repr(m) for m in theirs]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}


def test_perceptual_loss_and_gram():
    torch.manual_seed(0)
    loss = PerceptualLoss(input_range="unit")
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert float(loss(a, a)) == 0.0 and float(loss(a, b)) > 0
    f = torch.randn(2, 4, 3, 5)
    flat = f.reshape(2, 4, 15)
    torch.testing.assert_close(gram(f), torch.einsum("bik,bjk->bij", flat, flat) / 60)


# ---------------------------------------------------------------- CIL / MINE
def _direct_dv(mine: MINE, x: torch.Tensor, y: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    joint = torch.stack([mine(x[i:i + 1], y[i:i + 1])[0, 0] for i in range(len(x))])
    marg = torch.stack([mine(x[i:i + 1], y[perm[i]:perm[i] + 1])[0, 0] for i in range(len(x))])
    return joint.mean() - torch.log(torch.exp(marg).mean())


def test_dv_bound_equals_direct_computation():
    torch.manual_seed(0)
    mine = MINE(16, 8)
    for fc in (mine.fc1, mine.fc2, mine.fc3):     # larger weights than the 0.02 init: non-trivial T values
        torch.nn.init.normal_(fc.weight, std=0.7)
    xs = [torch.randn(6, 8) for _ in range(3)]
    ys = [x + 0.1 * torch.randn(6, 8) for x in xs]
    perm = torch.tensor([3, 0, 5, 1, 2, 4])
    got = cil_bounds(mine, xs, ys, perm=perm)
    for g, x, y in zip(got, xs, ys, strict=True):
        ref = _direct_dv(mine, x, y, perm)
        assert abs(float(ref)) > 1e-3
        torch.testing.assert_close(g, ref, rtol=1e-5, atol=1e-6)
    # a seeded generator gives a reproducible shuffle
    a = cil_bounds(mine, xs, ys, generator=torch.Generator().manual_seed(5))
    b = cil_bounds(mine, xs, ys, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    # an identity shuffle pairs the joint with itself: mean T - log mean exp T <= 0 (Jensen)
    same = dv_bound(mine(xs[0], ys[0]), mine(xs[0], ys[0]))
    assert float(same) <= 1e-6


def test_renderer_mi_bound_is_the_summed_dv_bound(demo):
    perm = torch.tensor([1, 0])
    with torch.no_grad():
        out = demo.renderer(*_stage2(demo.cfg), perm=perm)
        refs = [_direct_dv(demo.renderer.mine, x, y, perm)
                for x, y in zip(out.spatial_embeddings, out.temporal_embeddings, strict=True)]
    torch.testing.assert_close(out.mi_lower_bound, torch.stack(refs).sum(), rtol=1e-5, atol=1e-6)
