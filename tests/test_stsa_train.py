"""STSA training: loss functions against hand computations, one step of stage 1/2 lowering its loss on a fixed
batch, checkpoints that record their provenance and resume into identical next steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stsa_tiny import make_corpus, tiny_config

from stsa.train import losses as L
from stsa.train.data import TrainingData, content_landmarks
from stsa.train.stages import Trainer, TrainOptions


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("pre"), n_clips=2, n_frames=12)


@pytest.fixture(autouse=True)
def no_weights(monkeypatch, tmp_path):
    """No pretrained files (as on this machine), whatever the user's cache holds."""
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.set_num_threads(1)


def _trainer(corpus, tmp_path, stage, **kw):
    opts = TrainOptions(stage=stage, data=corpus, out=tmp_path / f"{stage}.pt", split=None, batch=1,
                        progress=False, **kw)
    return Trainer(opts, cfg=tiny_config())


# ------------------------------------------------------------------------------------------ pieces
def test_content_landmarks_are_jaw_then_lip():
    lm = np.arange(131 * 2, dtype=np.float32).reshape(1, 131, 2)
    c = content_landmarks(lm)
    assert c.shape == (1, 2, 57)
    assert c[0, 0, 0] == lm[0, 4, 0] and c[0, 1, 17] == lm[0, 91, 1]  # jaw starts at 4, lips at 91


def test_guidance_losses_by_hand():
    p = torch.zeros(2 * 3, 2, 57)
    g = torch.zeros(2 * 3, 2, 57)
    g[1::3] = 0.1  # middle frame of each window offset by 0.1 -> velocities +-0.1
    hm = torch.zeros(6, 1, 4, 4)
    terms = L.guidance_losses(hm, hm + 0.5, p, g, T=3)
    assert terms["heatmap"].item() == pytest.approx(0.25)
    assert terms["keypoint"].item() == pytest.approx(0.01 / 3, rel=1e-5)
    assert terms["velocity"].item() == pytest.approx(0.01, rel=1e-5)


def test_pyramid_loss_on_constant_images():
    a = torch.full((1, 3, 128, 128), 0.2)
    assert L.PyramidL1Loss()(a + 0.1, a).item() == pytest.approx(0.1, rel=1e-5)  # flat: no gradient term
    ramp = torch.linspace(0, 1, 128).view(1, 1, 1, 128).expand(1, 3, 128, 128)
    # horizontal gradient differs by 1/127 per pixel; pyramid L1 of the mean-zero ramp difference adds to it
    assert L.PyramidL1Loss()(ramp, torch.zeros_like(ramp)).item() > 1 / 127


def test_perceptual_uses_vgg19_when_weights_exist(monkeypatch):
    import stsa.weights

    state, cin, idx = {}, 3, 0
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512):
        if v == "M":
            idx += 1
            continue
        state[f"features.{idx}.weight"] = torch.randn(v, cin, 3, 3) * 0.05
        state[f"features.{idx}.bias"] = torch.zeros(v)
        cin, idx = v, idx + 2
    monkeypatch.setattr(stsa.weights, "load_state_dict", lambda name, path=None: state)
    loss, name = L.build_reconstruction_loss()
    assert name == "vgg19_perceptual_gram"
    w = loss.model.network[0].weight
    assert torch.equal(w, state["features.0.weight"])
    x = torch.rand(1, 3, 64, 64)
    assert loss(x, x).item() == 0.0 and loss(x, 1 - x).item() > 0


def test_sync_input_is_wav2lip_lower_half_in_the_renderer_order():
    """The renderer already works in BGR (Wav2Lip's expert order too): channels pass through unchanged."""
    frames = torch.zeros(1, 5, 3, 128, 128)
    frames[:, :, 2] = 1.0  # red everywhere (third channel in BGR)
    frames[:, 2, 0, 64:] = 0.5  # frame 2: blue in the lower half
    x = L.sync_input(frames)
    assert x.shape == (1, 15, 48, 96)
    assert torch.allclose(x[0, 2], torch.ones(48, 96))
    assert torch.allclose(x[0, 6], torch.full((48, 96), 0.5))  # frame 2 blue -> channel 2*3+0


def test_training_data_batch_shapes(corpus):
    data = TrainingData(corpus, "mel", split=None)
    b = data.batch(data.draw(np.random.default_rng(0), 3))
    assert b["audio"].shape == (3, 5, 80, 16) and b["sync_mel"].shape == (3, 1, 80, 16)
    assert b["pose_hm"].shape == b["face_hm"].shape == b["ref_hm"].shape == (3, 5, 1, 128, 128)
    assert b["faces"].shape == b["ref_faces"].shape == (3, 5, 3, 128, 128)
    assert b["content"].shape == (3, 5, 2, 57)
    assert b["faces"].min() >= 0 and b["faces"].max() <= 1 and b["face_hm"].max() > 0.9


# ------------------------------------------------------------------------------------------ steps
def _fixed_batch_losses(trainer, n, key):
    batch = trainer.next_batch()
    return [trainer.step(batch)[key] for _ in range(n)]


def test_guidance_step_lowers_loss(corpus, tmp_path):
    tr = _trainer(corpus, tmp_path, "guidance")
    tr.batch_size = 4
    seq = _fixed_batch_losses(tr, 4, "total")
    assert seq[-1] < seq[0]


def test_synthesis_step_lowers_loss_with_sync_expert(corpus, tmp_path):
    from stsa.modules.sync_expert import SyncExpert, SyncExpertConfig

    torch.manual_seed(0)
    expert_path = tmp_path / "expert.pt"
    torch.save({"state_dict": SyncExpert(SyncExpertConfig(0.125)).state_dict()}, expert_path)
    tr = _trainer(corpus, tmp_path, "synthesis", expert=expert_path)
    assert set(tr.losses_used) == {"pyramid_l1", "gan", "feature_matching", "sync", "mi"}
    for group in tr.optimizers["discriminator"].param_groups:
        group["lr"] = 0.0  # a fixed discriminator, so the generator objective is one function
    batch = tr.next_batch()
    seq = []
    for _ in range(3):
        torch.manual_seed(0)  # same CIL shuffles in every step
        seq.append(tr.step(batch))
    assert seq[-1]["perceptual"] < seq[0]["perceptual"]
    assert seq[-1]["total"] < seq[0]["total"]
    assert all(np.isfinite(s["sync"]) for s in seq)


def test_checkpoint_records_provenance_and_resumes_identically(corpus, tmp_path):
    from stsa.train.checkpoint import load_checkpoint

    tr = _trainer(corpus, tmp_path, "guidance", ablation="no_sync")
    tr.total_steps = 2
    tr.run()
    ckpt = load_checkpoint(tmp_path / "guidance.pt")
    assert ckpt["step"] == 2 and ckpt["stage"] == "guidance" and ckpt["ablation"] == "no_sync"
    assert ckpt["losses"] == ["heatmap", "keypoint", "velocity"]
    assert len(ckpt["data_hash"]) == 64 and ckpt["config"]["guidance"]["d_model"] == 32
    assert (tmp_path / "guidance.losses.csv").read_text().count("\n") == 3  # header + 2 steps
    cont = [tr.step()["total"] for _ in range(2)]  # the uninterrupted run's steps 3-4

    resumed = _trainer(corpus, tmp_path, "guidance", ablation="no_sync", resume=True)
    assert resumed.step_no == 2
    again = [resumed.step()["total"] for _ in range(2)]
    assert again == cont

    other = _trainer(corpus, tmp_path, "guidance", ablation="none")
    other.opts.resume = True
    with pytest.raises(Exception, match="another config"):
        other.resume(tmp_path / "guidance.pt")


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    from stsa.errors import WeightsError
    from stsa.train.checkpoint import load_checkpoint

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="bad.pt"):
        load_checkpoint(bad)
    with pytest.raises(WeightsError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
