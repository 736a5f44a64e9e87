"""End-to-end fine-tuning: initialised from the two stage checkpoints, lowers its loss on a fixed batch, and the
merged checkpoint (also the w/o fine-tuning ablation) loads for dubbing."""

from __future__ import annotations

import pytest
import torch
from stsa_tiny import make_corpus, tiny_config

from stsa.train.checkpoint import load_checkpoint
from stsa.train.stages import Trainer, TrainOptions, train


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """Corpus + (untrained) guidance and synthesis checkpoints."""
    tmp = tmp_path_factory.mktemp("ft")
    root = make_corpus(tmp / "pre", n_clips=2, n_frames=10)
    torch.set_num_threads(1)
    out = {}
    for stage in ("guidance", "synthesis"):
        tr = Trainer(TrainOptions(stage=stage, data=root, out=tmp / f"{stage}.pt", split=None, batch=1,
                                  progress=False, steps=0), cfg=tiny_config())
        tr.run()
        out[stage] = tmp / f"{stage}.pt"
    return root, tmp, out


@pytest.fixture(autouse=True)
def no_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.set_num_threads(1)


def test_finetune_starts_from_both_stages_and_lowers_loss(stages):
    root, tmp, ckpts = stages
    tr = Trainer(TrainOptions(stage="finetune", data=root, out=tmp / "ft.pt", split=None, batch=1,
                              progress=False, init=[ckpts["guidance"], ckpts["synthesis"]]), cfg=tiny_config())
    g = load_checkpoint(ckpts["guidance"])["models"]["guidance"]
    assert all(torch.equal(v, tr.models["guidance"].state_dict()[k]) for k, v in g.items())
    r = load_checkpoint(ckpts["synthesis"])["models"]["renderer"]
    assert all(torch.equal(v, tr.models["renderer"].state_dict()[k]) for k, v in r.items())
    assert {"heatmap", "keypoint", "velocity", "pyramid_l1", "gan", "feature_matching"} <= set(tr.losses_used)
    for group in tr.optimizers["discriminator"].param_groups:
        group["lr"] = 0.0  # a fixed discriminator, so the generator objective is one function
    batch = tr.next_batch()
    seq = []
    for _ in range(2):
        torch.manual_seed(0)  # same dropout masks and CIL shuffles in both steps
        seq.append(tr.step(batch))
    assert seq[1]["total"] < seq[0]["total"]


def test_no_finetune_ablation_merges_the_stages(stages, tmp_path):
    from stsa.dub import Dubber

    root, _, ckpts = stages
    opts = TrainOptions(stage="finetune", data=root, out=tmp_path / "merged.pt", split=None, progress=False,
                        config=str(_tiny_yaml(tmp_path)), init=[ckpts["guidance"], ckpts["synthesis"]],
                        ablation="no_finetune")
    summary = train(opts)
    assert summary["steps"] == 0
    ckpt = load_checkpoint(tmp_path / "merged.pt")
    assert {"guidance", "renderer"} <= set(ckpt["models"]) and ckpt["ablation"] == "no_finetune"
    d = Dubber.from_checkpoint(tmp_path / "merged.pt", "cpu")
    assert d.cfg.guidance.d_model == 32


def test_finetune_without_init_is_a_clear_error(stages, tmp_path):
    from stsa.errors import StsaBenchError

    root, _, _ = stages
    with pytest.raises(StsaBenchError, match="--init"):
        train(TrainOptions(stage="finetune", data=root, out=tmp_path / "x.pt", split=None, progress=False,
                           config=str(_tiny_yaml(tmp_path))))


def _tiny_yaml(tmp_path):
    """tiny_config() as a YAML config file (exercises --config FILE.yaml)."""
    import yaml

    from stsa.train.checkpoint import config_to_dict

    d = config_to_dict(tiny_config())
    def plain(section):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in section.items()}

    d = {"preset": "demo", "n_ref": d["n_ref"], "guidance": plain(d["guidance"]), "renderer": plain(d["renderer"])}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(d))
    return path
