"""The stages that set a training run up: data, preprocessing, inputs, optimizer and schedule.

Each is a small function of the run's `Context` (config, process, device, precision, progress, Ctrl-C),
so `hashtagger.train.run` reads as a list of stages and scripts can build one piece alone.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hashtagger.data.loader import TensorBatches, default_workers, make_image_loader, tag_indices
from hashtagger.errors import CheckpointError, ConfigError, DatasetError
from hashtagger.image.preprocess import Preprocessing
from hashtagger.image.transforms import eval_transform, train_transform
from hashtagger.models.backbones import backbone_preprocessing
from hashtagger.models.checkpoint import load_checkpoint
from hashtagger.models.classifier import Classifier, FeatureHead
from hashtagger.progress import Progress
from hashtagger.train import distributed
from hashtagger.train.config import (
    Config,
    augmentation,
    config_to_dict,
    head_lr,
    load_config,
    uses_feature_cache,
)
from hashtagger.train.distributed import DistInfo
from hashtagger.train.engine import Amp, TrainingData
from hashtagger.train.rundir import check_resume_keys
from hashtagger.train.stopping import Stop


@dataclass(frozen=True)
class Context:
    """What every stage of one run reads: the config, this process, its device and precision."""

    cfg: Config
    info: DistInfo
    device: str
    precision: str
    progress: Progress
    stop: Stop

    @property
    def workers(self) -> int:
        """data.workers, or the default share of the cores for this process."""
        d = self.cfg.data
        return default_workers(self.info.world_size) if d.workers is None else d.workers


@dataclass
class Inputs:
    """Training and validation batches plus how a batch's inputs reach the model."""

    train: Any
    val: Any | None
    prepare: Callable[[torch.Tensor], torch.Tensor]
    trainable: nn.Module  # what the optimizer's forward runs: the Classifier, or its FeatureHead
    features: bool
    skipped: int = 0


def resume_checkpoint(resume: str | os.PathLike[str], config: Any) -> dict[str, Any]:
    """The last.pt to resume from, refused with one line when it cannot be resumed."""
    if config is not None:
        raise ConfigError(
            "--resume continues with the checkpoint's own config; drop --config (use --set to change keys)"
        )
    from hashtagger.models.registry import get_model

    ckpt = load_checkpoint(resume)
    entry = get_model(str(ckpt.get("kind")), role="trainable")
    if not entry.resumable:
        raise CheckpointError(
            f"{resume}: a {entry.name} run has no epochs to resume; train it again with --config "
            "(its cached work, such as SIFT descriptors, is reused)"
        )
    if not isinstance(ckpt.get("train_state"), dict):
        raise CheckpointError(f"{resume}: has no training state to resume from (resume from a run's last.pt)")
    return ckpt


def resolve_config(
    config: Config | str | os.PathLike[str] | None,
    overrides: Sequence[str],
    ckpt: dict[str, Any] | None,
    resume: str | os.PathLike[str] | None,
) -> Config:
    """The run's Config: the checkpoint's (resume), the given one, or the YAML file, plus overrides."""
    if ckpt is not None:
        cfg = load_config(None, overrides, base=ckpt["config"])
        check_resume_keys(ckpt["config"], config_to_dict(cfg))
        if not any(o.split("=", 1)[0].strip() == "out" for o in overrides):
            cfg = replace(cfg, out=str(Path(str(resume)).parent))
    elif isinstance(config, Config):
        cfg = load_config(None, overrides, base=config_to_dict(config)) if overrides else config
    else:
        cfg = load_config(config, overrides)
    if not cfg.data.path:
        raise ConfigError(
            "config key 'data.path' is not set: give it in the YAML file or --set data.path=..."
        )
    return replace(cfg, data=replace(cfg.data, path=os.path.abspath(os.path.expanduser(cfg.data.path))))


def load_data(cfg: Config, info: DistInfo) -> Any:
    """The dataset with its splits; rank 0 first, since it may write the split file."""
    from hashtagger.data import load_dataset

    def load(write: bool) -> Any:
        return load_dataset(
            cfg.data.path,
            layout=cfg.data.format,
            seed=cfg.seed,
            val_fraction=cfg.data.val_fraction,
            test_size=cfg.data.test_size,
            write_split_file=write,
        )

    dataset = load(True) if info.is_main else None
    distributed.barrier()
    return dataset if dataset is not None else load(False)


def model_preprocessing(cfg: Config) -> Preprocessing:
    """The backbone's ImageNet preprocessing at the configured size (stored in every checkpoint)."""
    pre = backbone_preprocessing(cfg.model.backbone)
    return replace(pre, size=cfg.model.image_size) if cfg.model.image_size else pre


def channels_last(cfg: Config, device: str) -> bool:
    """train.channels_last, except on MPS (where it is slower)."""
    return cfg.train.channels_last and torch.device(device).type != "mps"


def build_optimizer(cfg: Config, model: Classifier) -> torch.optim.Optimizer:
    """AdamW or SGD; the backbone at lr * backbone_lr_scale; no weight decay on biases and norms."""
    t, lr = cfg.train, head_lr(cfg)
    groups: list[dict[str, Any]] = []
    parts = [(model.head, lr)]
    if not cfg.model.freeze_backbone:
        parts.append((model.backbone, lr * t.backbone_lr_scale))
    for module, lr in parts:
        params = [p for p in module.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups += [
            {"params": decay, "lr": lr, "weight_decay": t.weight_decay},
            {"params": no_decay, "lr": lr, "weight_decay": 0.0},
        ]
    groups = [g for g in groups if g["params"]]
    if t.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=t.momentum, nesterov=t.momentum > 0)
    return torch.optim.AdamW(groups, lr=lr)


def build_scheduler(cfg: Config, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> Any:
    """Linear warm-up from lr/100, then cosine decay to lr * min_lr_ratio, stepped every batch."""
    t = cfg.train
    total = max(1, t.epochs * steps_per_epoch)
    warmup = min(total - 1, int(round(t.warmup_epochs * steps_per_epoch)))

    def factor(step: int) -> float:
        if step < warmup:
            return 0.01 + 0.99 * step / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return t.min_lr_ratio + (1 - t.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def choose_inputs(ctx: Context, model: Classifier, pre: Any, data: TrainingData) -> Inputs | None:
    """Cached features when the backbone is frozen and unaugmented, decoded photos otherwise."""
    cfg = ctx.cfg
    if uses_feature_cache(cfg):
        inputs = feature_inputs(ctx, model, pre, data)
        if inputs is None:
            return None
    else:
        if cfg.model.freeze_backbone:
            ctx.progress.message(_no_cache_note(cfg))
        inputs = image_inputs(ctx, model, pre, data)
    if inputs.skipped:
        ctx.progress.message(
            f"{inputs.skipped} photo{'s' if inputs.skipped != 1 else ''} could not be decoded and "
            f"{'are' if inputs.skipped != 1 else 'is'} left out"
        )
    if len(inputs.train) == 0:
        raise DatasetError(
            f"{cfg.data.path}: too few training photos for one batch of {cfg.train.batch_size}"
        )
    return inputs


def _no_cache_note(cfg: Config) -> str:
    """Why a frozen backbone still runs on every photo in every epoch, and which key changes that."""
    keys = []
    if augmentation(cfg) != "none":
        keys.append(f"train.augment={cfg.train.augment} augments every photo")
    if not cfg.train.feature_cache:
        keys.append("train.feature_cache=false")
    fix = " --set ".join(
        (["train.augment=none"] if augmentation(cfg) != "none" else [])
        + (["train.feature_cache=true"] if not cfg.train.feature_cache else [])
    )
    return (
        f"note: the backbone is frozen but {' and '.join(keys)}, so it runs on every photo in every epoch; "
        f"--set {fix} trains the head on cached features instead (one backbone pass, ever)"
    )


def image_inputs(ctx: Context, model: Classifier, pre: Preprocessing, data: TrainingData) -> Inputs:
    """DataLoaders of decoded photos: augmentation for training, the predict geometry for validation."""
    cfg, device, info = ctx.cfg, ctx.device, ctx.info
    common = {
        "seed": cfg.seed,
        "workers": cfg.data.workers,
        "device": device,
        "rank": info.rank,
        "world_size": info.world_size,
        "batch_size": cfg.train.batch_size,
    }
    train = make_image_loader(
        data.train, data.vocab, train_transform(pre, augmentation(cfg)), train=True, **common
    )
    val = (
        make_image_loader(data.val, data.vocab, eval_transform(pre), train=False, **common)
        if data.val
        else None
    )
    memory_format = torch.channels_last if channels_last(cfg, device) else torch.contiguous_format

    def prepare(x: torch.Tensor) -> torch.Tensor:
        return pre.normalize(x.to(device, non_blocking=True)).contiguous(memory_format=memory_format)

    return Inputs(train, val, prepare, model, features=False)


def feature_inputs(ctx: Context, model: Classifier, pre: Preprocessing, data: TrainingData) -> Inputs | None:
    """Frozen backbone, no augmentation: one backbone pass into the on-disk cache, then batches of features.

    Returns None when interrupted during the pass (what was computed stays cached).
    """
    from hashtagger.train.features import BackbonePass, fill_cache

    cache = _feature_cache(ctx.cfg, model, pre, ctx.precision)
    compute = BackbonePass(
        cache,
        model.backbone,
        pre,
        device=ctx.device,
        autocast_dtype=Amp.create(ctx.device, ctx.precision).dtype,
        channels_last=channels_last(ctx.cfg, ctx.device),
        batch_size=max(ctx.cfg.train.batch_size, 64),
        workers=ctx.workers,
    )
    keys, filled = fill_cache(
        "feature",
        data.records,
        cache,
        compute,
        ctx.progress,
        workers=ctx.workers,
        should_stop=lambda: ctx.stop.requested,
        rank=ctx.info.rank,
        world_size=ctx.info.world_size,
    )
    distributed.barrier()  # every share is written before anyone reads the cache
    if ctx.stop.agreed():  # every process calls this once: they agree whether to go on
        return None
    n = len(data.train)
    train = _feature_batches(ctx, data.train, keys[:n], cache, data.vocab, train=True)
    val = _feature_batches(ctx, data.val, keys[n:], cache, data.vocab, train=False) if data.val else None
    missing = len(keys) - len(train.features) - (len(val.features) if val is not None else 0)
    device = ctx.device
    return Inputs(
        train,
        val,
        lambda x: x.to(device, non_blocking=True),
        FeatureHead(model),
        features=True,
        skipped=max(filled.failed, missing),
    )


def _feature_cache(cfg: Config, model: Classifier, pre: Preprocessing, precision: str) -> Any:
    from hashtagger.cache import default_cache_dir
    from hashtagger.train.features import FeatureCache, weights_digest

    root = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else default_cache_dir()
    return FeatureCache(root, cfg.model.backbone, weights_digest(model.backbone), pre, precision)


def _feature_batches(
    ctx: Context, part: list, keys: list, cache: Any, vocab: list[str], *, train: bool
) -> TensorBatches:
    from hashtagger.train.features import load_features

    feats, kept = load_features(keys, cache)
    ids, n_true = tag_indices([part[i] for i in kept], vocab)
    return TensorBatches(
        torch.from_numpy(feats),
        ids,
        n_true,
        len(vocab),
        batch_size=ctx.cfg.train.batch_size,
        train=train,
        seed=ctx.cfg.seed,
        rank=ctx.info.rank,
        world_size=ctx.info.world_size,
    )
