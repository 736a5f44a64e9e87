"""Data-parallel training over processes started by ``torchrun`` (NCCL on CUDA, gloo on CPU).

Every process draws the same global batch of a step and trains on its contiguous share; before each optimiser
step the gradients are averaged over the processes (what DistributedDataParallel computes, done explicitly: the GAN
steps toggle the discriminator's ``requires_grad`` and call it three times per step, which DDP's reducer does not
follow) and BatchNorm uses the statistics of the global batch (``GlobalBatchNorm``), so N processes make the update
one process makes on the whole batch. A single process (no ``WORLD_SIZE`` > 1 in the environment) never touches
``torch.distributed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, items: list) -> list:
        """This rank's contiguous share of a global batch (its length must divide by the world size)."""
        if len(items) % self.size:
            raise ValueError(f"the batch ({len(items)}) must be divisible by the number of processes ({self.size})")
        n = len(items) // self.size
        return items[self.rank * n:(self.rank + 1) * n]


def current() -> World:
    """The world of an initialised process group, else a single process."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return World()


def setup(device: str | None) -> tuple[World, str | None]:
    """Join the process group when launched by torchrun with WORLD_SIZE > 1: NCCL and ``cuda:LOCAL_RANK`` when the
    device is CUDA (or auto with CUDA present), else gloo on the CPU. Returns (world, device to use)."""
    size = int(os.environ.get("WORLD_SIZE", 1))
    if size <= 1 or dist.is_initialized():
        return current(), device
    local = int(os.environ.get("LOCAL_RANK", 0))
    cuda = torch.cuda.is_available() and (device in (None, "", "auto") or str(device).startswith("cuda"))
    if cuda:
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    dist.init_process_group("nccl" if cuda else "gloo")
    return current(), device


def relaunch(nproc: int | None) -> int | None:
    """With ``nproc`` > 1 in a process not started by torchrun: run this command line again as ``nproc``
    processes under ``torchrun --standalone`` and return its exit code; else None (this process trains)."""
    if not nproc or nproc <= 1 or "LOCAL_RANK" in os.environ:
        return None
    import subprocess
    import sys

    args, skip = [], False
    for a in sys.argv[1:]:  # without --nproc (torchrun's parser takes it for an abbreviation of its own option)
        if skip or a == "--nproc" or a.startswith("--nproc="):
            skip = a == "--nproc"
            continue
        args.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "stsa.cli", *args]
    return subprocess.run(cmd, check=False).returncode


def process_cores(cores: int | None) -> int | None:
    """The CPU cores of this process: the job's ``cores`` shared by its training processes."""
    return None if cores is None else max(cores // int(os.environ.get("LOCAL_WORLD_SIZE", 1)), 1)


def teardown(completed: bool) -> None:
    """Leave the process group; after a ``completed`` run only once every process is done (a process leaving while
    another still talks to it can abort with "terminate called without an active exception"). A failed process
    leaves at once, so torchrun stops the others instead of all waiting at the barrier."""
    if dist.is_available() and dist.is_initialized():
        if completed:
            dist.barrier()
        dist.destroy_process_group()


def average_gradients(params: list[nn.Parameter], world: World) -> None:
    """Replace each gradient by its mean over the processes (one flat all-reduce)."""
    if world.size == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def mean_values(values: dict[str, float], world: World) -> dict[str, float]:
    """Loss values averaged over the processes (equal shares: the mean of the global batch)."""
    if world.size == 1 or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / world.size for k, v in zip(values, t.tolist(), strict=True)}


def broadcast_module(module: nn.Module, world: World) -> None:
    """Parameters and buffers of rank 0 on every process (identical starting points)."""
    if world.size == 1:
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, 0)


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm(1d/2d/3d) whose training statistics are those of the global batch over all processes, on any
    device and backend (torch's SyncBatchNorm is CUDA-only). Same parameters, buffers and state-dict keys as the
    BatchNorm it replaces; computed in float32 (two all-reduces: mean, then centred sum of squares; autograd flows
    through both)."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()
        count = torch.tensor([xf.numel() // xf.shape[1]], dtype=torch.float32, device=x.device)
        stats = all_reduce(torch.cat([xf.sum(dims), count]))
        n = stats[-1]
        mean = stats[:-1] / n
        centred = xf - mean.view(shape)
        var = all_reduce(centred.square().sum(dims)) / n
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1).clamp(min=1), alpha=m)
        return y.to(x.dtype)


def global_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm replaced in place by a GlobalBatchNorm holding the same tensors."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            bn = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                 child.track_running_stats)
            if child.affine:
                bn.weight, bn.bias = child.weight, child.bias
            if child.track_running_stats:
                bn.running_mean, bn.running_var = child.running_mean, child.running_var
                bn.num_batches_tracked = child.num_batches_tracked
            bn.train(child.training)
            setattr(module, name, bn)
        else:
            global_batchnorm(child)
    return module
