"""Shared fixtures: the project root and the optional ../shared reference material."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STSA_BENCH_SHARED", ROOT.parent / "shared"))

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the project root; tests using it skip when it is absent."""
    if not (SHARED / "reference").is_dir():
        pytest.skip(f"reference material not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def real_clips(shared_dir: Path) -> Path:
    clips = shared_dir / "clips" / "real"
    if not clips.is_dir():
        pytest.skip(f"real clips not found at {clips}")
    return clips


@pytest.fixture(scope="module")
def single_thread():
    """One intra-op torch thread for a module: on a shared 2-core machine two threads oversubscribe (~4x slower)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def dubber(single_thread):
    """A seeded Dubber of the tiny test config (stsa_tiny) on the CPU, chunks of 4 frames."""
    import torch
    from stsa_tiny import tiny_config

    from stsa.dub import Dubber
    from stsa.model import FaceRenderer, GuidancePredictor

    torch.manual_seed(0)
    cfg = tiny_config()
    return Dubber(GuidancePredictor(cfg), FaceRenderer(cfg), cfg, "cpu", chunk=4)


@pytest.fixture
def wdir(tmp_path: Path, monkeypatch) -> Path:
    """An empty weights directory (and torch hub cache) for one test; the packaged manifest."""
    d = tmp_path / "weights"
    d.mkdir()
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(d))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("STSA_BENCH_WEIGHTS_MANIFEST", raising=False)
    return d


def randomize_bn_stats(model, seed: int) -> None:
    """Non-trivial BatchNorm running statistics, so that loading or copying them matters."""
    import torch

    g = torch.Generator().manual_seed(seed)
    for name, buf in model.named_buffers():
        if name.endswith("running_mean"):
            buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
        elif name.endswith("running_var"):
            buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
