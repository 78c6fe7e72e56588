"""What --resume needs besides the weights: optimizer, schedule, epoch, step and every random generator.

Everything is stored as tensors, lists and numbers, so `weights_only=True` loads it back; a resumed run
then ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch import nn

from hashtagger.errors import CheckpointError
from hashtagger.progress import Progress
from hashtagger.train import distributed
from hashtagger.train.distributed import DistInfo
from hashtagger.train.engine import Amp, EpochState


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU, contiguous (what a checkpoint stores)."""
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def load_weights(model: nn.Module, ckpt: dict[str, Any]) -> None:
    """Load a checkpoint's weights strictly; a mismatch is one CheckpointError line."""
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except (RuntimeError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"checkpoint weights do not fit the configured model ({first})") from None


def seed_everything(seed: int) -> None:
    """Python, numpy and torch generators from one seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Random generators as tensors and lists only, so weights_only=True can load them back."""
    version, words, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": {"version": version, "state": torch.tensor(words, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train_state(
    epoch: int,
    step: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    amp: Amp,
    best: float | None,
    partial: EpochState | None,
) -> dict[str, Any]:
    """Everything --resume needs besides the weights; the RNG states of every process, in rank order."""
    return {
        "epoch": epoch,
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": amp.scaler.state_dict() if amp.scaler is not None else None,
        "best": best,
        "epoch_state": partial.to_dict() if partial is not None else None,
        "rng": distributed.all_gather(rng_state()),
    }


def restore_train_state(
    ts: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    amp: Amp,
    info: DistInfo,
    progress: Progress,
) -> tuple[int, int, EpochState | None, float | None]:
    """Load a `train_state` back: (epoch, step, the interrupted epoch's totals, best value so far)."""
    try:
        optimizer.load_state_dict(ts["optimizer"])
        scheduler.load_state_dict(ts["scheduler"])
        if amp.scaler is not None and ts.get("scaler"):
            amp.scaler.load_state_dict(ts["scaler"])
        epoch, step = int(ts["epoch"]), int(ts["step"])
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"the checkpoint's training state does not fit this run ({first})") from None
    rngs = ts.get("rng") or []
    if len(rngs) == info.world_size:
        set_rng_state(rngs[info.rank])
    else:
        progress.message(
            f"note: the run was saved with {len(rngs)} processes, not {info.world_size}; "
            "random streams restart (data order is unaffected)"
        )
    partial = EpochState(**ts["epoch_state"]) if ts.get("epoch_state") else None
    best = ts.get("best")
    return epoch, step, partial, (float(best) if best is not None else None)
