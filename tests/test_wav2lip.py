"""Native Wav2Lip: released keys/shapes, checkpoint loading, forward, training (loss goes down, deterministic
resume), and the adapter on a fixture clip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from baselines_fixtures import make_clip, make_root, single_thread

from baselines.wav2lip.checkpoint import load_into, unwrap_state_dict
from baselines.wav2lip.model import Wav2LipConfig, Wav2LipGenerator, masked_input
from stsa.errors import WeightsError

_one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)


def test_state_dict_matches_released_generator(shared_dir):
    ref = json.loads((shared_dir / "reference/official_state_dicts/wav2lip.json").read_text())
    ours = {k: list(v.shape) for k, v in Wav2LipGenerator().state_dict().items()}
    assert ours == ref["state_dicts"]["wav2lip.pth"]


def test_forward_shapes_and_masking():
    torch.manual_seed(0)
    g = Wav2LipGenerator(Wav2LipConfig(0.125)).eval()
    target, ref = torch.rand(2, 3, 96, 96), torch.rand(2, 3, 96, 96)
    x = masked_input(target, ref)
    assert x.shape == (2, 6, 96, 96)
    assert torch.all(x[:, :3, 48:] == 0) and torch.equal(x[:, :3, :48], target[:, :, :48])
    assert torch.equal(x[:, 3:], ref)
    out = g(torch.randn(2, 1, 80, 16), x)
    assert out.shape == (2, 3, 96, 96) and out.min() >= 0 and out.max() <= 1


def test_released_format_loads_with_prefix_and_wrapper(tmp_path):
    torch.manual_seed(1)
    src = Wav2LipGenerator(Wav2LipConfig(0.125))
    path = tmp_path / "wav2lip_like.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}, "global_step": 5}, path)
    dst = Wav2LipGenerator(Wav2LipConfig(0.125))
    load_into(dst, path)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    assert set(unwrap_state_dict({"module.a": 1, "b": 2})) == {"a", "b"}
    with pytest.raises(WeightsError, match="do not fit"):
        load_into(Wav2LipGenerator(Wav2LipConfig(0.25)), path)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "obj": np.random.default_rng(0)}, path)
    with pytest.raises(WeightsError, match="weights_only"):
        load_into(Wav2LipGenerator(Wav2LipConfig(0.125)), path)


def test_a_few_generator_steps_lower_l1_on_a_fixed_batch():
    torch.manual_seed(0)
    g = Wav2LipGenerator(Wav2LipConfig(0.125))
    opt = torch.optim.Adam(g.parameters(), lr=1e-2)
    gt = (0.85 + 0.05 * torch.rand(2, 3, 96, 96))  # learnable: a bright face, sigmoid starts near 0.5
    ref, mel = torch.rand(2, 3, 96, 96), torch.randn(2, 1, 80, 16)
    losses = []
    for _ in range(3):
        loss = torch.nn.functional.l1_loss(g(mel, masked_input(gt, ref)), gt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > losses[1] > losses[2] and losses[2] < losses[0] - 0.01, losses


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_root(tmp_path_factory.mktemp("w2l_corpus"), ["a/00001", "b/00002"], n_frames=20)


def test_training_checkpoints_resume_identically_and_adapter_dubs(corpus, tmp_path):
    from baselines.base import ClipJob
    from baselines.run import run_method
    from baselines.wav2lip.train import load_checkpoint, train_expert, train_wav2lip
    from stsa.data.video import probe, read_frames

    straight, resumed = tmp_path / "e1.pt", tmp_path / "e2.pt"
    r = train_expert(corpus, straight, preset="demo", steps=2, progress=False, batch=2)
    assert r["step"] == 2 and (tmp_path / "e1.pt.csv").is_file()
    train_expert(corpus, resumed, preset="demo", steps=1, progress=False, batch=2)
    train_expert(corpus, resumed, preset="demo", steps=2, progress=False, batch=2)
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    assert a["step"] == b["step"] == 2 and a["kind"] == "expert" and a["config"]["width"] == 0.125
    for k, v in a["state_dict"].items():
        assert torch.allclose(v.float(), b["state_dict"][k].float(), atol=1e-6), k
    log = (tmp_path / "e2.pt.csv").read_text().splitlines()
    assert log[0] == "step,loss" and [ln.split(",")[0] for ln in log[1:]] == ["1", "2"]

    gen = tmp_path / "g.pt"
    res = train_wav2lip(corpus, gen, preset="demo", steps=1, expert=straight, progress=False, batch=1)
    assert res["step"] == 1 and np.isfinite(res["sync"]) and res["sync"] > 0  # the expert's loss was computed
    assert load_checkpoint(gen)["config"]["mel_shift"] == -2

    clip = corpus / "a/00001"
    job = ClipJob("a/00001", clip, clip / "audio.wav", tmp_path / "out" / "a/00001.mp4")
    missing = ClipJob("zz/404", corpus / "zz/404", corpus / "zz/404/audio.wav", tmp_path / "out" / "zz/404.mp4")
    df = run_method("wav2lip", {"checkpoint": str(gen)}, [job, missing])
    assert list(df["status"]) == ["ok", "failed"], df
    assert "zz/404" in df.loc[1, "reason"] and "stsa-bench preprocess" in df.loc[1, "reason"]
    info = probe(job.out_path)
    gt = probe(clip / "video.mp4")
    assert (info.width, info.height) == (gt.width, gt.height) and abs(info.fps - 25) < 1e-6 and info.has_audio
    assert len(read_frames(job.out_path)) == 20
    meta = json.loads(job.meta_path.read_text())
    assert meta["status"] == "ok" and str(gen) in meta["checkpoints"]
    assert (meta["frames_generated"], meta["frames_gt"], meta["frames_padded"]) == (17, 20, 3)  # one per mel chunk
    assert "preset=trained" in meta["version"] and "resize=crop" in meta["version"]


def test_released_weights_path_through_the_weights_registry(tmp_path, monkeypatch):
    """A released-format wav2lip.pth (random, paper size, `module.` keys in `state_dict`) found by name."""
    from baselines.base import ClipJob
    from baselines.registry import get_adapter

    wdir = tmp_path / "weights"
    wdir.mkdir()
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(wdir))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert not get_adapter("wav2lip", {}).status().ready
    torch.manual_seed(0)
    state = {f"module.{k}": v for k, v in Wav2LipGenerator().state_dict().items()}
    torch.save({"state_dict": state, "global_step": 1}, wdir / "wav2lip.pth")
    adapter = get_adapter("wav2lip", {})
    assert adapter.status().ready, adapter.status()
    clip = make_clip(tmp_path / "c" / "00003", n_frames=6)
    job = ClipJob("c/00003", clip, clip / "audio.wav", tmp_path / "out" / "c/00003.mp4")
    written = {}
    monkeypatch.setattr("stsa.data.video.write_video", lambda path, frames, audio=None: written.setdefault("f", frames))
    [row] = adapter.dub([job])
    assert row["status"] == "ok", row
    assert row["version"] == ("native-wav2lip width=1.0 step=released preset=official paste=box resize=box "
                              "quantise=truncate frames=mel pads=0,10,0,0 smooth=5")
    assert row["frames_generated"] == 3 and row["frames_gt"] == 6  # 20 mel columns: chunks at 0, 3 and the last 16
    frames = written["f"]
    assert frames.shape == (6, 120, 160, 3) and all(np.array_equal(f, frames[2]) for f in frames[3:])


def test_a_manifest_checksum_is_checked_through_stsa_weights(tmp_path, monkeypatch):
    import yaml

    from baselines.base import ClipJob
    from baselines.registry import get_adapter
    from stsa import weights

    wdir = tmp_path / "weights"
    wdir.mkdir()
    torch.save({"state_dict": Wav2LipGenerator(Wav2LipConfig(0.125)).state_dict()}, wdir / "wav2lip.pth")
    entries = yaml.safe_load(weights.MANIFEST.read_text())
    entries["weights"]["wav2lip"]["sha256"] = "0" * 64
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump(entries))
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(wdir))
    monkeypatch.setenv("STSA_BENCH_WEIGHTS_MANIFEST", str(manifest))
    clip = make_clip(tmp_path / "c" / "00004", n_frames=6)
    job = ClipJob("c/00004", clip, clip / "audio.wav", tmp_path / "out" / "c/00004.mp4")
    [row] = get_adapter("wav2lip", {}).dub([job])
    assert row["status"] == "failed" and "checksum mismatch" in row["reason"], row


def test_demo_generator_schedule_l1_alone_first_then_sync_with_the_lr_decayed_to_zero():
    from baselines.wav2lip.train import TrainConfig

    demo = TrainConfig.preset("wav2lip", "demo")
    lrs = [demo.lr_at(step) for step in range(demo.steps)]
    assert demo.sync_after == 0.5 and demo.lr_schedule == "cosine" and lrs[0] == demo.lr
    assert all(a > b for a, b in zip(lrs[:-1], lrs[1:], strict=True))  # decays every step...
    assert lrs[demo.steps // 2] == pytest.approx(demo.lr / 2) and lrs[-1] < 1e-3 * demo.lr  # ...to ~0 at the end
    for key in [("wav2lip", "paper"), ("expert", "paper"), ("expert", "demo")]:  # as the original Wav2Lip
        tcfg = TrainConfig.preset(*key)
        assert tcfg.sync_after == 0.0 and tcfg.lr_schedule == "constant", key
        assert tcfg.lr_at(0) == tcfg.lr_at(tcfg.steps - 1) == tcfg.lr, key
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(steps=10, batch=1, lr=1e-3, lr_schedule="step")


def test_generator_resumes_identically_with_the_sync_loss_switched_on_mid_run(corpus, tmp_path, monkeypatch):
    """A run interrupted after step 2 of 4 and resumed makes the same updates, at the schedule's learning rates, with
    the sync loss off for the first half (the demo preset's ``sync_after``) and on for the second."""
    from dataclasses import replace

    from baselines.wav2lip import train

    expert = tmp_path / "e.pt"
    train.train_expert(corpus, expert, steps=1, progress=False, batch=2)
    monkeypatch.setattr(train, "EXPERT_GOOD_ENOUGH", 10.0)  # use the 1-step expert anyway
    demo = train.TrainConfig.preset("wav2lip", "demo")
    monkeypatch.setattr(train.TrainConfig, "preset", classmethod(lambda cls, m, n: replace(demo, ckpt_every=1)))
    straight, resumed = tmp_path / "g1.pt", tmp_path / "g2.pt"
    train.train_wav2lip(corpus, straight, steps=4, expert=expert, progress=False, batch=1)

    write = train._LossLog.write

    def interrupt(self, step, values):
        if step == 3:
            raise KeyboardInterrupt
        write(self, step, values)

    with monkeypatch.context() as m:
        m.setattr(train._LossLog, "write", interrupt)
        with pytest.raises(KeyboardInterrupt):
            train.train_wav2lip(corpus, resumed, steps=4, expert=expert, progress=False, batch=1)
    assert train.load_checkpoint(resumed)["step"] == 2
    train.train_wav2lip(corpus, resumed, steps=4, expert=expert, progress=False, batch=1)
    a, b = train.load_checkpoint(straight), train.load_checkpoint(resumed)
    assert a["step"] == b["step"] == 4 and a["train"]["sync_after"] == 0.5 and a["syncnet_wt"] == demo.syncnet_wt
    for k, v in a["state_dict"].items():
        assert torch.allclose(v.float(), b["state_dict"][k].float(), atol=1e-6), k
    tcfg = replace(demo, steps=4)
    assert [g["lr"] for g in a["optimizer"]["param_groups"]] == [tcfg.lr_at(3)] and tcfg.lr_at(3) < 0.2 * tcfg.lr
    log = (tmp_path / "g1.pt.csv").read_text()
    assert log == (tmp_path / "g2.pt.csv").read_text()
    rows = [[float(x) for x in ln.split(",")] for ln in log.splitlines()[1:]]  # step, loss, l1, sync
    assert [r[0] for r in rows] == [1, 2, 3, 4] and all(r[3] > 0.1 for r in rows)
    for step, loss, l1, sync in rows:
        w = 0.0 if step <= 2 else demo.syncnet_wt
        assert loss == pytest.approx((1 - w) * l1 + w * sync, abs=2e-6), step
