"""Assemble a training run: seeds, backbone, data, vocabulary, inputs, loss, optimizer, schedule,
DDP and, on --resume, the restored state; the result is one `Run` that `hashtagger.train.run` drives
epoch by epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hashtagger.models.backbones import create_backbone
from hashtagger.models.classifier import Classifier, architecture
from hashtagger.progress import Progress
from hashtagger.train import checkpointing
from hashtagger.train.config import Config, config_to_dict, head_dropout
from hashtagger.train.engine import Amp, EpochState, TrainingData, training_data
from hashtagger.train.losses import build_loss
from hashtagger.train.setup import (
    Context,
    Inputs,
    build_optimizer,
    build_scheduler,
    channels_last,
    choose_inputs,
    load_data,
    model_preprocessing,
)


@dataclass
class Run:
    """Everything one training run holds once assembled; `hashtagger.train.run` drives it epoch by epoch."""

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


def assemble(ctx: Context, ckpt: dict[str, Any] | None) -> Run | None:
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
