"""Training on several processes (``torchrun``): process group, sharding and reductions.

Owns :class:`DistContext` and :func:`init_distributed`. ``procrop train`` started by ``torchrun
--nproc_per_node N`` reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``, joins the process group
(NCCL on CUDA, gloo on CPU) and trains one DistributedDataParallel replica per process:

* every rank draws the same global batch order; rank ``r`` takes items ``r, r + N, ...`` of each
  global batch (``train.batch_size`` is the global batch and must be divisible by N);
* the loss is normalised by the number of target boxes of the *global* batch, so the averaged
  gradients equal one process's on the same global batch;
* rank 0 alone writes checkpoints, logs and evaluations; every rank's RNG state is saved, so a
  resume with the same number of processes continues exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    """This process's place in the run (``world == 1``: a single process, no process group)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where collective tensors live (cuda for NCCL)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sum(self, value: float) -> float:
        """The sum of ``value`` over the ranks."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t.item())

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` of every rank, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def shard(self, indices: Any) -> Any:
        """This rank's items of a global batch."""
        return indices[self.rank :: self.world]

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(use_cuda: bool) -> DistContext:
    """Join the process group described by the environment (``torchrun``), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", rank=rank, world_size=world)
    if use_cuda:
        torch.cuda.set_device(local)
    return DistContext(rank, world, local, f"cuda:{local}" if use_cuda else "cpu")
