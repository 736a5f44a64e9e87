"""Training at scale: weights independent of the job's cores (loader workers), mixed precision close to fp32, two
gloo processes making the update one process makes on the global batch, and a killed run resuming from its last
periodic checkpoint into the weights of an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from baselines_fixtures import make_root
from stsa_tiny import make_corpus, tiny_config

from stsa.train.checkpoint import config_to_dict, load_checkpoint
from stsa.train.stages import Trainer, TrainOptions
from tests.conftest import ROOT

# passive OpenMP waiting: same numerics, much faster with several processes on a busy machine
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("pre"), n_clips=2, n_frames=12)


@pytest.fixture(scope="module")
def w2l_corpus(tmp_path_factory):
    return make_root(tmp_path_factory.mktemp("w2l"), ["a/00001", "b/00002"], n_frames=20)


@pytest.fixture(scope="module")
def tiny_yaml(tmp_path_factory):
    """tiny_config() without dropout as a YAML config: with no randomness in a step, two processes must agree with
    one exactly (up to summation order)."""
    d = config_to_dict(tiny_config())

    def plain(section):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in section.items()}

    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text(yaml.safe_dump({"preset": "demo", "n_ref": d["n_ref"],
                                    "guidance": {**plain(d["guidance"]), "dropout": 0.0},
                                    "renderer": plain(d["renderer"])}))
    return path


@pytest.fixture(scope="module")
def expert(tmp_path_factory):
    from stsa.modules.sync_expert import SyncExpert, SyncExpertConfig

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("expert") / "expert.pt"
    torch.save({"state_dict": SyncExpert(SyncExpertConfig(width=0.125)).state_dict()}, path)
    return path


@pytest.fixture(autouse=True)
def no_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    ENV.update(STSA_BENCH_WEIGHTS=str(tmp_path / "weights"), TORCH_HOME=str(tmp_path / "torch"))
    torch.set_num_threads(1)


def cli(*args, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "stsa.cli", *map(str, args)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def stsa_cmd(stage: str, config: Path, data: Path, out: Path, expert: Path, *extra) -> list:
    cmd = ["train", "--stage", stage, "--config", config, "--data", data, "--split", "all", "--out", out,
           "--device", "cpu", "--threads", "1", *extra]
    return cmd + (["--expert", expert] if stage == "synthesis" else [])


def states(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The model state dicts of an STSA checkpoint (``models``) or of a Wav2Lip one (``state_dict``)."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    return obj["models"] if "models" in obj else {"model": obj["state_dict"]}


def assert_same(a: dict, b: dict) -> None:
    for name, state in a.items():
        for k, v in state.items():
            assert torch.equal(v, b[name][k]), f"{name}.{k} differs"


def loss_rows(path: Path) -> list[list[float]]:
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [[float(v) for k, v in r.items() if k not in ("step", "time_s")] for r in rows]


# ------------------------------------------------------------------------------------------ cores
def test_weights_do_not_depend_on_the_jobs_cores(corpus, tiny_yaml, expert, w2l_corpus, tmp_path):
    """The rules pass a fixed --threads and --cores {threads}: the extra cores become loader workers."""
    for cores in (1, 3):  # 0 and 2 workers
        cli(*stsa_cmd("synthesis", tiny_yaml, corpus, tmp_path / f"syn{cores}.pt", expert, "--steps", "2", "--batch",
                      "2", "--cores", cores), cwd=tmp_path)
        cli("baselines", "train", "--model", "expert", "--data", w2l_corpus, "--out", tmp_path / f"e{cores}.pt",
            "--steps", "3", "--batch", "4", "--device", "cpu", "--threads", "1", "--cores", cores, cwd=tmp_path)
    assert_same(states(tmp_path / "syn1.pt"), states(tmp_path / "syn3.pt"))
    assert_same(states(tmp_path / "e1.pt"), states(tmp_path / "e3.pt"))
    assert (tmp_path / "syn1.losses.csv").read_text().split("\n")[1].split(",")[2:] == \
        (tmp_path / "syn3.losses.csv").read_text().split("\n")[1].split(",")[2:]


def test_the_training_rules_pass_the_same_threads_at_any_core_count(tmp_path):
    smk = Path(sys.executable).parent / "snakemake"
    commands = {}
    for cores in (1, 4):
        proc = subprocess.run([str(smk), "-n", "-p", "--cores", str(cores), f"{tmp_path}/work/models/wav2lip.pt",
                               f"{tmp_path}/work/models/stsa/full/finetune.pt", "--configfile",
                               str(ROOT / "config/smoke.yaml"), "--config", f"workdir_root={tmp_path}/work",
                               f"results_dir={tmp_path}/results"], cwd=ROOT, env=ENV, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        lines = [ln for ln in proc.stdout.splitlines() if " train " in ln and "--threads" in ln]
        assert len(lines) == 5, proc.stdout[-3000:]
        assert all(f"--threads 1 --precision fp32 --keep 3 --cores {cores} --nproc 0 --checkpoint-dir" in ln
                   for ln in lines), lines
        commands[cores] = sorted(ln.replace(f"--cores {cores}", "--cores N") for ln in lines)
    assert commands[1] == commands[4]


# ------------------------------------------------------------------------------------------ precision
@pytest.mark.parametrize("stage", ["guidance", "synthesis"])
def test_bf16_and_fp16_steps_stay_close_to_fp32(corpus, stage, tmp_path):
    """One step from the same weights on the same batch: losses within 2 % of fp32; the renderer's bf16 gradients
    (left on its parameters by the step) within 25 % and not identical (autocast changed the arithmetic). Not the
    tiny guidance network's: at initialisation they are ill-conditioned in fp32 already (1e-4 relative noise on its
    inputs moves them by ~25 %, BENCHMARKS.md). fp16: steps whose scaled gradients overflow are skipped (weights
    untouched) until the scaler's scale fits; checked on the guidance stage only (the same autocast and scaler code):
    with no oneDNN fp16 kernels on this CPU one renderer step takes ~140 s (fp32: ~10 s)."""
    trained = "guidance" if stage == "guidance" else "renderer"
    precisions = ("fp32", "bf16", "fp16") if stage == "guidance" else ("fp32", "bf16")
    out = {}
    for precision in precisions:
        tr = Trainer(TrainOptions(stage=stage, data=corpus, out=tmp_path / f"{precision}.pt", split=None, batch=4,
                                  progress=False, precision=precision), cfg=tiny_config())
        batch = tr.next_batch()
        model = tr.models[trained]
        before = [p.detach().clone() for p in model.parameters()]
        torch.manual_seed(0)
        losses = tr.step(batch)
        grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        out[precision] = (losses, grad)
        for _ in range(30):
            if torch.isfinite(grad).all():
                break
            assert precision == "fp16" and all(torch.equal(a, b) for a, b in zip(before, model.parameters(),
                                                                                 strict=True))
            tr.step(batch)
            grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        assert torch.isfinite(grad).all(), precision
    ref, ref_grad = out["fp32"]
    for precision in precisions[1:]:
        losses = out[precision][0]
        assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses
        assert abs(losses["total"] - ref["total"]) < 0.02 * abs(ref["total"]), (precision, losses, ref)
    if stage == "synthesis":
        rel = float((out["bf16"][1] - ref_grad).norm() / ref_grad.norm())
        assert 0 < rel < 0.25, rel


# ------------------------------------------------------------------------------------------ processes
def test_global_batchnorm_gives_the_whole_batchs_statistics_and_gradients(tmp_path):
    script = tmp_path / "bn.py"
    script.write_text('''
import os, sys, torch, torch.distributed as dist
from stsa.train.distributed import global_batchnorm, teardown
dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
x = torch.randn(6, 3, 4, 5) * 3 + 1
bn = torch.nn.Sequential(torch.nn.BatchNorm2d(3))
bn[0].weight.data.uniform_(0.5, 1.5)
ref = torch.nn.BatchNorm2d(3)
ref.load_state_dict(bn[0].state_dict())
global_batchnorm(bn)
xs = x[rank * 3:(rank + 1) * 3].clone().requires_grad_(True)
w = torch.arange(6 * 3 * 4 * 5, dtype=torch.float32).reshape(6, 3, 4, 5).sin()
(bn(xs) * w[rank * 3:(rank + 1) * 3]).sum().backward()
xr = x.clone().requires_grad_(True)
(ref(xr) * w).sum().backward()
torch.testing.assert_close(xs.grad, xr.grad[rank * 3:(rank + 1) * 3], atol=1e-5, rtol=1e-5)
g = bn[0].weight.grad.clone(); dist.all_reduce(g)
torch.testing.assert_close(g, ref.weight.grad, atol=1e-4, rtol=1e-5)
torch.testing.assert_close(bn[0].running_mean, ref.running_mean)
torch.testing.assert_close(bn[0].running_var, ref.running_var)
print("ok", rank)
teardown(completed=True)
''')
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script)], env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # two processes print into one pipe: their words can interleave, so count the ranks' reports
    assert proc.stdout.count("ok") == 2 and sorted(c for c in proc.stdout if c.isdigit()) == ["0", "1"], proc.stdout


@pytest.mark.parametrize("job", ["guidance", "synthesis", "wav2lip_expert"])
def test_two_processes_make_the_update_of_one_on_the_global_batch(job, corpus, tiny_yaml, expert, w2l_corpus,
                                                                 tmp_path):
    """One step on the same global batch with 1 and 2 gloo processes (`--nproc 2`, torchrun): the same losses (the
    forward with global-batch BatchNorm) and the same weights (the averaged gradient). Adam's first update is
    lr * g / (|g| + eps), so the few elements whose gradient is at the level of the summation-order noise may move
    differently, by up to 2 lr; all others agree to 1e-6. Synthesis without CIL: its MI bound shuffles within each
    process's share."""
    for nproc in (1, 2):
        out = tmp_path / f"{nproc}.pt"
        if job == "wav2lip_expert":
            cmd = ["baselines", "train", "--model", "expert", "--data", w2l_corpus, "--out", out, "--steps", "1",
                   "--batch", "4", "--device", "cpu", "--threads", "1"]
        else:
            cmd = stsa_cmd(job, tiny_yaml, corpus, out, expert, "--steps", "1", "--batch", "2",
                           *(["--ablation", "no_cil"] if job == "synthesis" else []))
        proc = cli(*cmd, "--nproc", nproc, cwd=tmp_path)
        if job != "wav2lip_expert":
            assert f'"processes": {nproc}' in proc.stdout
    log = ".pt.csv" if job == "wav2lip_expert" else ".losses.csv"
    one, two = loss_rows(tmp_path / f"1{log}"), loss_rows(tmp_path / f"2{log}")
    assert len(one) == len(two) == 1
    torch.testing.assert_close(torch.tensor(two), torch.tensor(one), rtol=1e-5, atol=1e-6)
    single, double = states(tmp_path / "1.pt"), states(tmp_path / "2.pt")
    for name, state in single.items():
        diff = torch.cat([(v.double() - double[name][k].double()).abs().flatten() for k, v in state.items()
                          if v.is_floating_point()])
        assert diff.max() <= 2 * 2e-3 + 1e-6, name  # demo learning rates <= 2e-3
        assert (diff > 1e-6).double().mean() < 0.02, (name, float((diff > 1e-6).double().mean()))


# ------------------------------------------------------------------------------------------ resume
def kill_after_checkpoint(cmd: list, directory: Path, step: int, cwd: Path) -> int:
    """Start ``cmd``, SIGKILL it once ``directory/step-<step>.pt`` exists; the newest checkpoint step left."""
    proc = subprocess.Popen([sys.executable, "-m", "stsa.cli", *map(str, cmd)], cwd=cwd, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (directory / f"step-{step}.pt").is_file():
        assert proc.poll() is None, "the run ended before its checkpoint"
        assert time.time() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return max(int(p.stem.split("-")[1]) for p in directory.glob("step-*.pt"))


def test_a_killed_wav2lip_run_resumes_from_its_last_checkpoint(w2l_corpus, tmp_path):
    base = ["baselines", "train", "--model", "expert", "--data", w2l_corpus, "--steps", "40", "--batch", "4",
            "--device", "cpu", "--threads", "1", "--save-every", "4", "--keep", "2"]
    cli(*base, "--out", tmp_path / "straight.pt", cwd=tmp_path)
    ckdir = tmp_path / "ck"
    killed_at = kill_after_checkpoint([*base, "--out", tmp_path / "resumed.pt", "--checkpoint-dir", ckdir], ckdir, 8,
                                      tmp_path)
    assert not (tmp_path / "resumed.pt").exists() and 8 <= killed_at < 40
    proc = cli(*base, "--out", tmp_path / "resumed.pt", "--checkpoint-dir", ckdir, cwd=tmp_path)
    assert f"resuming expert from step {killed_at}" in proc.stderr
    assert_same(states(tmp_path / "straight.pt"), states(tmp_path / "resumed.pt"))
    assert (tmp_path / "straight.pt.csv").read_text() == (tmp_path / "resumed.pt.csv").read_text()
    assert sorted(int(p.stem.split("-")[1]) for p in ckdir.glob("step-*.pt")) == [32, 36]


def test_periodic_checkpoints_leave_out_the_frozen_vgg_and_resume_identically(corpus, tmp_path):
    """A renderer holding the release's VGG19 under `perceptual.` (keep_perceptual): periodic files leave it out
    (it never trains, and is rebuilt from the seed), the resumed run ends with the weights of the uninterrupted one."""
    import dataclasses

    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, renderer=dataclasses.replace(cfg.renderer, keep_perceptual=True))

    def trainer(name, steps, **kw):
        return Trainer(TrainOptions(stage="synthesis", data=corpus, out=tmp_path / f"{name}.pt", split=None,
                                    batch=1, steps=steps, progress=False, save_every=2, **kw), cfg=cfg)

    trainer("straight", 3).run()
    first = trainer("resumed", 2, checkpoint_dir=tmp_path / "ck")
    first.total_steps = 3
    first.step_no = 0
    for _ in range(2):
        first.step()
    first.save_periodic()  # what run() writes at step 2
    periodic = load_checkpoint(tmp_path / "ck" / "step-2.pt")["models"]["renderer"]
    full = first.payload()["models"]["renderer"]
    assert not any(k.startswith("perceptual.") for k in periodic)
    assert {k for k in full if k.startswith("perceptual.")} and set(full) - set(periodic) == \
        {k for k in full if k.startswith("perceptual.")}
    again = trainer("resumed", 3, checkpoint_dir=tmp_path / "ck")
    assert again.step_no == 2 and again.resumed_from.endswith("step-2.pt")
    again.run()
    assert_same(load_checkpoint(tmp_path / "straight.pt")["models"], load_checkpoint(tmp_path / "resumed.pt")["models"])
