"""The paper preset's state dicts against the release's checkpoints (keys, shapes, sizes) and strict loading."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from stsa.config import STSAConfig
from stsa.errors import WeightsError
from stsa.model import STSA, load_release_weights
from tests.conftest import randomize_bn_stats

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def paper_model() -> STSA:
    torch.manual_seed(0)
    return STSA(STSAConfig.paper()).eval()


def _release(shared_dir) -> dict[str, dict[str, list[int]]]:
    return json.loads((shared_dir / "reference/official_state_dicts/stsa.json").read_text())["state_dicts"]


@pytest.mark.shared
def test_paper_state_dicts_match_release_keys_and_shapes(shared_dir, paper_model):
    release = _release(shared_dir)
    for name, module in (("heatmap_weight.pth", paper_model.guidance), ("face_weight.pth", paper_model.renderer)):
        ours = {k: list(v.shape) for k, v in module.state_dict().items()}
        theirs = release[name]
        assert sorted(set(theirs) - set(ours)) == [], f"{name}: keys missing"
        assert sorted(set(ours) - set(theirs)) == [], f"{name}: extra keys"
        assert {k: ours[k] for k in theirs} == theirs, f"{name}: shape mismatch"
        # sizes as stated in FACTS.md (state-dict elements: incl. the positional tables and shared modules)
        assert sum(math.prod(s) for s in ours.values()) == sum(math.prod(s) for s in theirs.values())
    assert round(sum(v.numel() for v in paper_model.guidance.state_dict().values()) / 1e6, 1) == 48.6
    assert round(sum(v.numel() for v in paper_model.renderer.state_dict().values()) / 1e6, 1) == 68.2


def _inputs(cfg: STSAConfig, b: int = 1):
    g = torch.Generator().manual_seed(1)
    a, w = cfg.audio_dim, cfg.audio_window
    stage1 = (torch.randn(b, cfg.T, a, w, generator=g), torch.rand(b, cfg.T, 1, 128, 128, generator=g),
              torch.rand(b, cfg.n_ref, 1, 128, 128, generator=g))
    stage2 = (torch.rand(b, 1, 3, 128, 128, generator=g), torch.rand(b, 1, 3, 128, 128, generator=g),
              torch.rand(b, cfg.n_ref, 3, 128, 128, generator=g), torch.rand(b, cfg.n_ref, 3, 128, 128, generator=g),
              torch.randn(b, 1, a, w, generator=g))
    return stage1, stage2


def test_load_release_weights_roundtrip(tmp_path, paper_model):
    """A random paper-preset model saved like the release ({"state_dict": {"module." + k: v}}) loads strictly
    into another model, which then computes exactly the same outputs."""
    randomize_bn_stats(paper_model, 3)
    heat, face = tmp_path / "heatmap_weight.pth", tmp_path / "face_weight.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in paper_model.guidance.state_dict().items()}}, heat)
    torch.save({"state_dict": {"module." + k: v for k, v in paper_model.renderer.state_dict().items()}}, face)

    fresh = copy.deepcopy(paper_model)            # cheaper than a second init; then scramble everything
    with torch.no_grad():
        for p in fresh.parameters():
            p.normal_(0, 0.02)
    randomize_bn_stats(fresh, 4)
    s1, s2 = _inputs(paper_model.cfg)
    perm = torch.tensor([0])
    with torch.no_grad():
        hm_src, lm_src = paper_model.guidance(*s1)
        assert not torch.equal(fresh.guidance(*s1)[0], hm_src)
        load_release_weights(fresh, heat, face)
        hm_dst, lm_dst = fresh.guidance(*s1)
        im_src = paper_model.renderer(*s2, perm=perm).image
        im_dst = fresh.renderer(*s2, perm=perm).image
    assert torch.equal(hm_src, hm_dst) and torch.equal(lm_src, lm_dst)
    assert torch.equal(im_src, im_dst)
    assert im_src.shape == (1, 3, 128, 128) and float(im_src.min()) >= 0 and float(im_src.max()) <= 1


def test_load_release_weights_errors(tmp_path, paper_model):
    with pytest.raises(WeightsError, match="not found"):
        load_release_weights(paper_model, tmp_path / "absent.pth", None)
    from stsa.model import GuidancePredictor

    wrong = tmp_path / "demo_heat.pth"
    torch.save(GuidancePredictor(STSAConfig.demo(audio="wav2vec")).state_dict(), wrong)  # bare, wrong sizes
    with pytest.raises(WeightsError, match="does not match"):
        load_release_weights(paper_model, wrong, None)
    partial = tmp_path / "partial.pth"
    sd = paper_model.guidance.state_dict()
    sd.pop("Norm.weight")
    torch.save({"state_dict": sd}, partial)                # strict: a missing key is an error
    with pytest.raises(WeightsError):
        load_release_weights(paper_model, partial, None)
