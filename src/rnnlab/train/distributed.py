"""Data-parallel training with `torchrun`, devices and threads.

    torchrun --standalone --nproc-per-node 2 -m rnnlab train lm --data shakespeare --out runs/ddp
    torchrun --nnodes 2 --node-rank R --master-addr HOST --nproc-per-node 8 -m rnnlab train lm ...

Each rank reads its own B/N of the B streams (`data.batch_size` is the *global* batch), DDP averages
the gradients, so a step equals a single-process step over the same B streams up to floating-point
summation order. The backend is gloo on CPUs and NCCL on GPUs. Only rank 0 writes checkpoints, logs
and plots; the other ranks' hidden states and RNG states are gathered into rank 0's checkpoints,
so a run resumes with the same number of ranks exactly, and with a different number correctly (the
global streams and their states are re-split; only dropout masks differ). Multi-node runs need the
run folder on a shared filesystem (rollbacks read the last checkpoint on every rank).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import UserError


@dataclass
class Distributed:
    """This process's place in a (possibly single-process) data-parallel job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, value: float) -> float:
        """The mean of a Python float over all ranks."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t) / self.world_size

    def broadcast(self, value: float) -> float:
        """Rank 0's value of a float on every rank (keeps decisions in lockstep)."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(t, 0)
        return float(t)

    def gather(self, tensor: torch.Tensor, dim: int) -> torch.Tensor:
        """Concatenate every rank's tensor along `dim` (same shapes on all ranks), on every rank."""
        if not self.enabled:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=dim)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group that torchrun described in the environment (or run alone)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return Distributed(rank, world_size, local_rank, local_world)


def shutdown(d: Distributed) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def pick_device(name: str) -> torch.device:
    """"auto" -> the GPU of this local rank if there is one, else the CPU."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UserError("train.device is cuda but no GPU is visible; use --set train.device=cpu.")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise UserError(f"train.device must be auto, cpu or cuda (got {name!r}).")
    return torch.device("cpu")


def default_threads() -> int:
    """CPU threads per process: the cores, shared among the ranks on this machine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, cores // max(1, local_world))
