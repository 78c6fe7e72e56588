"""Several processes under torchrun: detect them, set up DDP, and let only rank 0 write.

`torchrun --nproc_per_node N -m hashtagger train ...` sets RANK, WORLD_SIZE and LOCAL_RANK;
without them everything here degrades to a single process and no process group.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from hashtagger.errors import InputError


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints, logs and progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def from_env() -> DistInfo:
    """Read torchrun's environment (single process when absent)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise InputError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (set by torchrun)") from None
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def resolve_device(preference: str, info: DistInfo) -> str:
    """'auto' | 'cpu' | 'cuda' | 'mps' -> a torch device string (cuda:LOCAL_RANK under torchrun)."""
    from hashtagger.runtime import resolve_device as resolve_one

    device = resolve_one(preference)
    if device == "cuda":
        return f"cuda:{info.local_rank % torch.cuda.device_count()}"
    if device == "mps" and info.enabled:
        raise InputError("--device mps: several processes (torchrun) need CUDA GPUs or the CPU")
    return device


def setup(info: DistInfo, device: str) -> None:
    """Join the process group: NCCL between GPUs, gloo on CPUs."""
    if not info.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group(
        backend=backend, rank=info.rank, world_size=info.world_size, timeout=timedelta(minutes=30)
    )


def teardown() -> None:
    """Leave the process group (safe to call when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_max(value: float, device: str) -> float:
    """The largest value over all processes (used to agree on stopping)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([float(value)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def all_reduce_sum(values: list[float], device: str) -> list[float]:
    """Element-wise sums over all processes (losses, counts)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def all_gather(obj: Any) -> list[Any]:
    """Every process's object, in rank order (a one-element list without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: Any) -> Any:
    """Rank 0's object, on every process."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
