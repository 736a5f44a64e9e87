"""Wav2Lip's SyncNet_color expert: released keys/shapes, shapes, window stacking, loss, learning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from baselines_fixtures import single_thread

from stsa.modules.sync_expert import SyncExpert, SyncExpertConfig, stack_window, sync_bce, sync_probability

_one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)


def test_state_dict_matches_released_expert(shared_dir):
    ref = json.loads((shared_dir / "reference/official_state_dicts/wav2lip.json").read_text())
    expected = ref["state_dicts"]["lipsync_expert.pth"]
    ours = {k: list(v.shape) for k, v in SyncExpert().state_dict().items()}
    assert ours == expected


def test_forward_shapes_and_unit_embeddings():
    torch.manual_seed(0)
    for width, dim in ((1.0, 512), (0.125, 64)):
        model = SyncExpert(SyncExpertConfig(width)).eval()
        a, v = model(torch.randn(3, 1, 80, 16), torch.rand(3, 15, 48, 96))
        assert a.shape == v.shape == (3, dim)
        assert torch.allclose(a.norm(dim=1), torch.ones(3), atol=1e-5)
        assert torch.allclose(v.norm(dim=1), torch.ones(3), atol=1e-5)


def test_stack_window_takes_lower_halves_frame_major():
    faces = torch.arange(2 * 3 * 5 * 4 * 2, dtype=torch.float32).reshape(2, 3, 5, 4, 2)
    x = stack_window(faces)
    assert x.shape == (2, 15, 2, 2)
    # channel 3*t + c is frame t, colour c, rows 2..3 (Wav2Lip: torch.cat([x[:, :, i] for i in range(T)], 1))
    expected = torch.cat([faces[:, :, i] for i in range(5)], dim=1)[:, :, 2:]
    assert torch.equal(x, expected)


def test_bce_is_wav2lip_cosine_loss():
    a = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), dim=1)
    v = torch.nn.functional.normalize(torch.tensor([[1.0, 1.0], [1.0, 0.0]]), dim=1)
    y = torch.tensor([1.0, 0.0])
    cos = np.array([np.cos(np.pi / 4), np.cos(np.pi / 4)])
    p = np.clip(cos, 1e-7, 1 - 1e-7)
    expected = -np.mean([np.log(p[0]), np.log(1 - p[1])])
    assert sync_probability(a, v).numpy() == pytest.approx(p, rel=1e-5)
    assert sync_bce(a, v, y).item() == pytest.approx(expected, rel=1e-4)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = SyncExpert(SyncExpertConfig(0.125))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    mel, faces = torch.randn(4, 1, 80, 16), torch.rand(4, 15, 48, 96)
    y = torch.tensor([1.0, 0.0] * 2)
    losses = []
    for _ in range(5):
        a, v = model(mel, faces)
        loss = sync_bce(a, v, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
