"""The training loop's named stages: `train_one_epoch`, `evaluate`, and when checkpoints are written.

Like torchvision's references/classification: each stage is a plain function over a model, an
iterable of batches and a few callables, testable without the CLI. Progress goes to a
`hashtagger.progress.Progress` (the CLI's draws a bar on stderr); the library never prints.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hashtagger.data.loader import Batch
from hashtagger.errors import DatasetError, HashtaggerError
from hashtagger.files import is_regular_file
from hashtagger.models.checkpoint import save_checkpoint
from hashtagger.progress import Progress
from hashtagger.runtime import autocast_dtype
from hashtagger.train.config import Config

EVAL_KS = (1, 5, 10)


class NonFiniteLossError(HashtaggerError):
    """The loss became NaN or infinite: training stops instead of writing broken weights."""


# ---- precision ----


@dataclass
class Amp:
    """Mixed precision for one device: autocast dtype (None = fp32) and, for fp16, a gradient scaler."""

    device_type: str
    dtype: torch.dtype | None = None
    scaler: Any = None

    @classmethod
    def create(cls, device: str, precision: str) -> Amp:
        device_type = torch.device(device).type
        dtype = autocast_dtype(precision)
        scaler = torch.amp.GradScaler(device_type) if precision == "fp16" else None
        return cls(device_type, dtype, scaler)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


# ---- training ----


@dataclass
class EpochState:
    """Running totals of one epoch; saved on Ctrl-C so a resumed epoch continues where it stopped."""

    batches: int = 0
    loss_sum: float = 0.0
    images: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def loss(self) -> float:
        return self.loss_sum / self.images if self.images else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "loss_sum": self.loss_sum,
            "images": self.images,
            "skipped": self.skipped,
            "seconds": self.seconds,
        }


@dataclass
class StepResult:
    """What one call of `train_one_epoch` did."""

    state: EpochState
    step: int
    interrupted: bool = False
    lr: float = 0.0


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[Batch],
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    device: str,
    amp: Amp,
    epoch: int,
    step: int,
    state: EpochState | None = None,
    grad_clip: float = 0.0,
    progress: Progress | None = None,
    stage: tuple[str, int | None] = ("train", None),
    should_stop: Callable[[], bool] | None = None,
) -> StepResult:
    """One pass over the training batches (or what is left of it after a resume).

    Stops early, between two steps, when should_stop() turns true (Ctrl-C); raises
    NonFiniteLossError before a NaN/inf loss can reach the weights. `stage`: the progress label and
    its total in photos; `state.images + state.skipped` photos of it are done already (a resumed epoch).
    """
    progress = progress or Progress()
    state = state or EpochState()
    model.train()
    lr = optimizer.param_groups[0]["lr"]
    started = time.perf_counter()
    interrupted = False
    label, total = stage
    done = state.images + state.skipped
    try:
        for batch in batches:
            state.skipped += batch.skipped
            n = len(batch.inputs)
            if n:
                x = prepare(batch.inputs)
                y = batch.targets.to(device, non_blocking=True)
                loss, value = _finite_loss(model, loss_fn, x, y, amp, (epoch, step))
                optimizer.zero_grad(set_to_none=True)
                _backward_step(loss, optimizer, model, amp, grad_clip)
                lr = optimizer.param_groups[0]["lr"]
                scheduler.step()
                step += 1
                state.loss_sum += value * n
                state.images += n
            state.batches += 1
            done += n + batch.skipped
            progress(label, done, total, loss=state.loss, lr=lr)
            if should_stop is not None and should_stop():
                interrupted = True
                break
    finally:
        state.seconds += time.perf_counter() - started
    return StepResult(state, step, interrupted, lr)


def _finite_loss(
    model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: Amp, at: tuple[int, int]
) -> tuple[torch.Tensor, float]:
    """The batch's loss and its value; a NaN/inf raises NonFiniteLossError (naming at: epoch, step)
    before it can reach the weights."""
    with amp.autocast():
        logits = model(x)
    loss = loss_fn(logits, y)
    value = float(loss.detach())
    if not math.isfinite(value):
        epoch, step = at
        raise NonFiniteLossError(
            f"the loss became {value} at epoch {epoch + 1}, step {step + 1}; training stopped "
            "(try a lower train.lr, train.grad_clip=1.0 or train.precision=fp32; the last "
            "complete epoch is in last.pt)"
        )
    return loss, value


def _backward_step(
    loss: torch.Tensor, optimizer: torch.optim.Optimizer, model: nn.Module, amp: Amp, grad_clip: float
) -> None:
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if amp.scaler is not None:
        amp.scaler.scale(loss).backward()
        if grad_clip > 0:
            amp.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        amp.scaler.step(optimizer)
        amp.scaler.update()
    else:
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()


# ---- evaluation ----


@dataclass
class Validation:
    """One validation pass: its metrics, and the scores and truth they came from (for the thresholds)."""

    metrics: dict[str, float]
    scores: np.ndarray  # (photos, tags) sigmoid scores, every process's share, in dataset order
    targets: np.ndarray  # (photos, tags) bool


def evaluate(
    model: nn.Module,
    batches: Iterable[Batch],
    loss_fn: nn.Module,
    *,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    device: str,
    amp: Amp,
    progress: Progress | None = None,
    stage: tuple[str, int | None] = ("validation", None),
) -> Validation:
    """Validation loss and ranking metrics (mAP, Precision/Recall/Accuracy@1,5,10) over all processes.

    Metrics come from hashtagger.metrics, the same code `hashtagger evaluate` uses. Under DDP every
    process scores its share and the scores are gathered, so each image counts exactly once.
    """
    from hashtagger.metrics import ranking_metrics
    from hashtagger.train import distributed

    progress = progress or Progress()
    model.eval()
    scores: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    n_true: list[np.ndarray] = []
    index: list[np.ndarray] = []
    loss_sum, skipped, done = 0.0, 0, 0
    with torch.inference_mode():
        for batch in batches:
            skipped += batch.skipped
            if len(batch.inputs):
                x = prepare(batch.inputs)
                y = batch.targets.to(device, non_blocking=True)
                with amp.autocast():
                    logits = model(x)
                loss_sum += float(loss_fn(logits, y)) * len(x)
                scores.append(torch.sigmoid(logits.float()).cpu().numpy())
                targets.append(batch.targets.numpy() > 0.5)
                n_true.append(batch.n_true.numpy())
                index.append(batch.index.numpy())
            done += len(batch.inputs) + batch.skipped
            progress(stage[0], done, stage[1])
    local = (_cat(scores), _cat(targets), _cat(n_true), _cat(index), loss_sum, skipped)
    parts = distributed.all_gather(local)
    s = (
        np.concatenate([p[0] for p in parts if len(p[0])])
        if any(len(p[0]) for p in parts)
        else np.zeros((0, 0))
    )
    if len(s) == 0:
        empty = np.zeros((0, 0))
        return Validation({"images": 0.0, "skipped": float(sum(p[5] for p in parts))}, empty, empty > 0)
    t = np.concatenate([p[1] for p in parts if len(p[1])])
    nt = np.concatenate([p[2] for p in parts if len(p[2])])
    order = np.argsort(np.concatenate([p[3] for p in parts if len(p[3])]), kind="stable")
    s, t = s[order], t[order]
    metrics = ranking_metrics(s, t, n_true=nt[order], ks=EVAL_KS)
    summary = {
        "loss": sum(p[4] for p in parts) / len(s),
        **metrics,
        "images": float(len(s)),
        "skipped": float(sum(p[5] for p in parts)),
    }
    return Validation(summary, s, t)


def _cat(chunks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(chunks) if chunks else np.zeros((0,))


# ---- checkpoint cadence ----


def is_better(metric: str, value: float | None, best: float | None) -> bool:
    """Whether an epoch's validation value beats the best so far (loss: lower; others: higher)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return best is None
    if best is None:
        return True
    return value < best if metric == "loss" else value > best


def write_checkpoints(run_dir: Path, payload: dict[str, Any], *, best: bool) -> list[Path]:
    """last.pt every epoch (with train_state, for --resume); best.pt, without it, when the epoch is best.

    Both are written atomically (temporary file + rename): a crash never leaves half a checkpoint.
    """
    written = [save_checkpoint(run_dir / "last.pt", payload)]
    if best:
        slim = {k: v for k, v in payload.items() if k != "train_state"}
        written.append(save_checkpoint(run_dir / "best.pt", slim))
    return written


@dataclass
class TrainResult:
    """What a run ended with; the CLI prints it."""

    run_dir: Path
    epochs_done: int
    epochs: int
    best_metric: str
    best_value: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    thresholds: str | None = None  # the summary line of best.pt's per-tag thresholds (or why there are none)
    export: str | None = None  # where best.onnx went (or why there is none)
    is_main: bool = True  # under torchrun, only rank 0 reports


@dataclass
class TrainingData:
    """The vocabulary and the photos a run trains and validates on, with each tag's training count."""

    vocab: list[str]
    train: list[Any]
    val: list[Any]
    tag_counts: list[int]

    @property
    def records(self) -> list[Any]:
        """Training then validation records: the order per-photo caches are filled and read in."""
        return list(self.train) + list(self.val)


def _without_missing_files(
    train: list[Any], val: list[Any], cfg: Config, progress: Progress
) -> tuple[list[Any], list[Any]]:
    """Leave out listed photos whose file is not there, saying so (they are missing, not undecodable)."""
    gone = {id(r) for r in (*train, *val) if not is_regular_file(r.path)}
    if gone:
        first = next(r.path for r in (*train, *val) if id(r) in gone)
        n = len(gone)
        progress.message(
            f"warning: {n} photo{'s' if n != 1 else ''} listed in {cfg.data.path} "
            f"{'are' if n != 1 else 'is'} missing and left out (first: {first})"
        )
    return [r for r in train if id(r) not in gone], [r for r in val if id(r) not in gone]


def training_data(
    cfg: Config, dataset: Any, progress: Progress, vocabulary: list[str] | None = None
) -> TrainingData:
    """Vocabulary (the train split's, or a resumed run's), training and validation records, tag counts.

    Training keeps only photos with at least one vocabulary tag; every model kind uses this stage.
    """
    for w in getattr(dataset, "warnings", []):
        progress.message(f"warning: {w}")
    vocab = vocabulary or dataset.vocabulary(cfg.data.min_tag_count)
    if not vocab:
        raise DatasetError(f"{cfg.data.path}: no tag has {cfg.data.min_tag_count}+ training images")
    known = set(vocab)
    train_records = [r for r in dataset.split("train") if known.intersection(r.tags)]
    val_records = dataset.split("validation") if "validation" in dataset.splits() else []
    train_records, val_records = _without_missing_files(train_records, val_records, cfg, progress)
    if not train_records:
        raise DatasetError(f"{cfg.data.path}: no training image has a tag of the vocabulary")
    counts = dataset.tag_counts("train")
    progress.message(
        f"data: {len(train_records)} training / {len(val_records)} validation photos, "
        f"{len(vocab)} tags ({cfg.data.path})"
    )
    return TrainingData(vocab, train_records, list(val_records), [int(counts.get(t, 0)) for t in vocab])
