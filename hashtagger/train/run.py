"""Build a training run from a config and drive it: data -> vocabulary -> inputs -> model -> loop.

Each stage is a small function (the set-up stages live in `hashtagger.train.setup`, what --resume
stores in `hashtagger.train.checkpointing`); `run_training` strings them together and owns what spans
the whole run: resume, Ctrl-C, NaN stops, the metrics CSV and TensorBoard, and, under torchrun,
DDP with only rank 0 writing. `hashtagger train` is a thin wrapper around `run_training`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hashtagger.errors import ConfigError
from hashtagger.models.backbones import create_backbone
from hashtagger.models.classifier import Classifier, architecture
from hashtagger.models.registry import get_model, resolve
from hashtagger.progress import Progress
from hashtagger.train import checkpointing, distributed
from hashtagger.train.config import Config, config_to_dict, dump_config, head_dropout
from hashtagger.train.distributed import DistInfo
from hashtagger.train.engine import (
    Amp,
    EpochState,
    StepResult,
    TrainingData,
    TrainResult,
    evaluate,
    is_better,
    train_one_epoch,
    training_data,
    write_checkpoints,
)
from hashtagger.train.losses import build_loss
from hashtagger.train.rundir import prepare_run_folder
from hashtagger.train.runlog import RunLog, epoch_line, epoch_row
from hashtagger.train.setup import (
    Context,
    Inputs,
    build_optimizer,
    build_scheduler,
    channels_last,
    choose_inputs,
    load_data,
    model_preprocessing,
    resolve_config,
    resume_checkpoint,
)
from hashtagger.train.stopping import stop_on_signals

# ---- entry point ----


def run_training(
    config: Config | str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    resume: str | os.PathLike[str] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train from a Config (or a YAML path + `--set` overrides), or resume from a last.pt.

    Resuming restores model, optimizer, scheduler, epoch, step and random state, so the run ends
    with the same weights as an uninterrupted one; `overrides` may still change keys (e.g. more epochs).
    A fresh run never replaces another run in its folder unless overwrite (see train.rundir).
    """
    ckpt = resume_checkpoint(resume, config) if resume is not None else None
    cfg = resolve_config(config, overrides, ckpt, resume)
    prepare_run_folder(cfg.out, resume=resume, overwrite=overwrite, is_main=distributed.from_env().is_main)
    trainer = resolve(get_model(cfg.model.kind, role="trainable").trainer or "")
    return trainer(cfg, ckpt=ckpt, device=device, progress=progress)


def train_network(
    cfg: Config, *, ckpt: dict[str, Any] | None, device: str, progress: Progress | None
) -> TrainResult:
    """model.kind classifier: epochs of SGD/AdamW, on one process or under torchrun (DDP)."""
    info = distributed.from_env()
    dev = distributed.resolve_device(device, info)
    progress = progress if (progress is not None and info.is_main) else Progress()
    distributed.setup(info, dev)
    try:
        with stop_on_signals(dev, info) as stop:
            return _train(cfg, ckpt, info, dev, progress, stop)
    finally:
        distributed.teardown()


def train_bovw_kind(
    cfg: Config, *, ckpt: dict[str, Any] | None, device: str, progress: Progress | None
) -> TrainResult:
    """model.kind bovw_svm: one pass in one process (hashtagger.train.bovw), same run folder and Ctrl-C."""
    if distributed.from_env().enabled:
        raise ConfigError(
            "model.kind bovw_svm trains in one process (its SIFT pass has its own workers): run it "
            "without torchrun"
        )
    from hashtagger.train.bovw import train_bovw

    with stop_on_signals() as stop:
        return train_bovw(cfg, progress=progress, should_stop=lambda: stop.requested)


# ---- the run ----


@dataclass
class Run:
    """Everything one training run holds once assembled; `_fit` drives it epoch by epoch."""

    ctx: Context
    amp: Amp
    model: Classifier
    inputs: Inputs
    trainable: nn.Module  # the module the optimizer's steps run (DDP-wrapped under torchrun)
    evaluated: nn.Module  # the module validation runs (never DDP-wrapped)
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    base: dict[str, Any]  # the checkpoint's self-description: kind, arch, vocabulary, preprocessing, config
    run_dir: Path
    steps_per_epoch: int = 0
    resumed: bool = False
    start_epoch: int = 0
    step: int = 0
    partial: EpochState | None = None
    best: float | None = None

    @property
    def cfg(self) -> Config:
        return self.ctx.cfg

    @property
    def progress(self) -> Progress:
        return self.ctx.progress

    def should_stop(self) -> bool:
        """Collective under DDP: every process stops at the same step."""
        return self.ctx.stop.agreed()


def _train(
    cfg: Config, ckpt: dict[str, Any] | None, info: DistInfo, device: str, progress: Progress, stop: Any
) -> TrainResult:
    from hashtagger.runtime import resolve_precision

    precision = resolve_precision(cfg.train.precision, torch.device(device).type)
    ctx = Context(cfg, info, device, precision, progress, stop)
    run = _assemble(ctx, ckpt)
    if run is None:
        progress.message(
            "interrupted during the feature pass; computed features stay cached, run again to go on"
        )
        return TrainResult(
            Path(cfg.out),
            0,
            cfg.train.epochs,
            cfg.train.best_metric,
            None,
            interrupted=True,
            is_main=info.is_main,
        )
    return _fit(run)


def _assemble(ctx: Context, ckpt: dict[str, Any] | None) -> Run | None:
    """Seeds, backbone, data, vocabulary, inputs, loss, optimizer, schedule, DDP, resumed state."""
    cfg = ctx.cfg
    _configure_torch(ctx)
    model, data = _model_and_data(ctx, ckpt)
    pre = model_preprocessing(cfg)
    checkpointing.seed_everything(cfg.seed + ctx.info.rank)  # each process draws its own dropout masks
    inputs = choose_inputs(ctx, model, pre, data)
    if inputs is None:
        return None
    optimizer = build_optimizer(cfg, model)
    run = Run(
        ctx=ctx,
        amp=Amp.create(ctx.device, ctx.precision),
        model=model,
        inputs=inputs,
        trainable=_parallel(ctx, inputs.trainable),
        evaluated=inputs.trainable,
        loss_fn=build_loss(
            cfg.train.loss,
            gamma_neg=cfg.train.asl_gamma_neg,
            gamma_pos=cfg.train.asl_gamma_pos,
            clip=cfg.train.asl_clip,
        ),
        optimizer=optimizer,
        scheduler=build_scheduler(cfg, optimizer, len(inputs.train)),
        base={
            "kind": "classifier",
            "arch": architecture(model, cfg.model.backbone),
            "vocabulary": data.vocab,
            "preprocessing": pre.to_dict(),
            "config": config_to_dict(cfg),
            "tag_counts": data.tag_counts,
        },
        run_dir=Path(cfg.out),
        steps_per_epoch=len(inputs.train),
        resumed=ckpt is not None,
    )
    if ckpt:
        run.start_epoch, run.step, run.partial, run.best = checkpointing.restore_train_state(
            ckpt["train_state"], optimizer, run.scheduler, run.amp, ctx.info, ctx.progress
        )
    return run


def _configure_torch(ctx: Context) -> None:
    """Seeds (the same initial weights in every process: the feature cache keys on them), cuDNN, threads."""
    from hashtagger.runtime import configure_threads

    checkpointing.seed_everything(ctx.cfg.seed)
    if ctx.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = not ctx.cfg.train.deterministic
    if ctx.cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    configure_threads(ctx.workers)


def _model_and_data(ctx: Context, ckpt: dict[str, Any] | None) -> tuple[Classifier, TrainingData]:
    """Backbone first (missing ImageNet weights fail in a second, not after reading 57k labels), then data.

    A resumed run needs no weights file (the checkpoint has them all) and keeps its vocabulary, in order.
    """
    cfg = ctx.cfg
    backbone, num_features = create_backbone(cfg.model.backbone, "none" if ckpt else cfg.model.pretrained)
    data = training_data(
        cfg, load_data(cfg, ctx.info), ctx.progress, [str(t) for t in ckpt["vocabulary"]] if ckpt else None
    )
    model = Classifier(backbone, num_features, len(data.vocab), head_dropout(cfg), cfg.model.freeze_backbone)
    if ckpt:
        checkpointing.load_weights(model, ckpt)
    else:
        model.init_head_bias(data.tag_counts, len(data.train))
    model.to(ctx.device)
    if channels_last(cfg, ctx.device):
        model.to(memory_format=torch.channels_last)
    return model, data


def _parallel(ctx: Context, module: nn.Module) -> nn.Module:
    """The module DDP-wrapped under torchrun, as it is otherwise."""
    if not ctx.info.enabled:
        return module
    device = ctx.device
    return nn.parallel.DistributedDataParallel(
        module, device_ids=[torch.device(device).index] if device.startswith("cuda") else None
    )


def _fit(run: Run) -> TrainResult:
    """The epoch loop: train, validate, checkpoint, log; stop cleanly on Ctrl-C."""
    cfg, progress, info = run.cfg, run.progress, run.ctx.info
    run_log = RunLog(
        run.run_dir,
        enabled=info.is_main,
        tensorboard=cfg.train.tensorboard,
        keep_epochs=run.start_epoch,
        progress=progress,
        resumed=run.resumed,
    )
    if info.is_main:
        dump_config(cfg, run.run_dir / "config.yaml")
    _announce(run)
    result = TrainResult(
        run.run_dir, run.start_epoch, cfg.train.epochs, cfg.train.best_metric, run.best, is_main=info.is_main
    )
    try:
        for epoch in range(run.start_epoch, cfg.train.epochs):
            if not _epoch(run, epoch, run_log, result):
                result.interrupted = True
                return result
    finally:
        progress.close()
        run_log.close()
    return result


def _announce(run: Run) -> None:
    cfg, ctx = run.cfg, run.ctx
    mode = (
        "cached features"
        if run.inputs.features
        else ("head only" if cfg.model.freeze_backbone else "fine-tuning")
    )
    procs = f" x{ctx.info.world_size} processes" if ctx.info.enabled else ""
    run.progress.message(
        f"training {cfg.model.backbone} ({mode}) for {_epochs(cfg.train.epochs)}, {ctx.precision}, "
        f"{ctx.device}{procs} -> {run.run_dir}"
    )
    if run.start_epoch >= cfg.train.epochs:
        run.progress.message(
            f"{run.run_dir / 'last.pt'} already has all {_epochs(cfg.train.epochs)}; "
            f"--set train.epochs=N (N > {cfg.train.epochs}) trains on"
        )


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def _epoch(run: Run, epoch: int, run_log: RunLog, result: TrainResult) -> bool:
    """Train, validate, save and log one epoch; False when Ctrl-C stopped the run (saved for --resume)."""
    cfg, progress = run.cfg, run.progress
    last = run.run_dir / "last.pt"
    out = _train_epoch(run, epoch)
    if out.interrupted:
        _save(run, epoch, {}, out.state, best=False)
        progress.message(
            f"interrupted: saved {last} (epoch {epoch + 1}, batch {out.state.batches}/"
            f"{run.steps_per_epoch}); resume with hashtagger train --resume {last}"
        )
        return False
    val = _validate(run)
    row = epoch_row(epoch, run.step, out, val, run.ctx.device)
    value = val.get(cfg.train.best_metric) if val else None
    improved = is_better(cfg.train.best_metric, value, run.best) if val else True
    if improved and value is not None:
        run.best = value
    _save(run, epoch + 1, row, None, best=improved)
    if run.ctx.info.is_main:
        run_log.write(row)
    progress.epoch_end(row)
    progress.message(epoch_line(row, cfg, improved and bool(val)))
    result.history.append(row)
    result.epochs_done, result.best_value = epoch + 1, run.best
    distributed.barrier()
    if run.should_stop() and epoch + 1 < cfg.train.epochs:
        progress.message(f"interrupted after epoch {epoch + 1}: resume with hashtagger train --resume {last}")
        return False
    return True


def _train_epoch(run: Run, epoch: int) -> StepResult:
    """One epoch (or its remainder after a mid-epoch resume) under a progress bar."""
    state = run.partial or EpochState()
    run.partial = None
    batch_size = run.cfg.train.batch_size
    run.inputs.train.sampler.set_epoch(epoch, start=state.batches * batch_size)
    out = train_one_epoch(
        run.trainable,
        run.inputs.train,
        run.loss_fn,
        run.optimizer,
        run.scheduler,
        prepare=run.inputs.prepare,
        device=run.ctx.device,
        amp=run.amp,
        epoch=epoch,
        step=run.step,
        state=state,
        grad_clip=run.cfg.train.grad_clip,
        progress=run.progress,
        stage=(f"epoch {epoch + 1}/{run.cfg.train.epochs}", len(run.inputs.train) * batch_size),
        should_stop=run.should_stop,
    )
    run.progress.close()
    run.step = out.step
    return out


def _validate(run: Run) -> dict[str, float]:
    if run.inputs.val is None:
        return {}
    val = evaluate(
        run.evaluated,
        run.inputs.val,
        run.loss_fn,
        prepare=run.inputs.prepare,
        device=run.ctx.device,
        amp=run.amp,
        progress=run.progress,
        stage=("validation", len(run.inputs.val.sampler)),
    )
    run.progress.close()
    return val


def _save(run: Run, epoch: int, row: dict[str, Any], partial: EpochState | None, *, best: bool) -> None:
    """last.pt (and best.pt) from rank 0; every process joins, since the RNG states are gathered."""
    payload = {
        **run.base,
        "state_dict": checkpointing.weights(run.model),
        "epoch": epoch,
        "metrics": {k: v for k, v in row.items() if isinstance(v, (int, float))},
        "train_state": checkpointing.train_state(
            epoch, run.step, run.optimizer, run.scheduler, run.amp, run.best, partial
        ),
    }
    if run.ctx.info.is_main:
        write_checkpoints(run.run_dir, payload, best=best)
