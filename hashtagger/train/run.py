"""Build a training run from a config and drive it: data -> vocabulary -> inputs -> model -> loop.

Each stage is a small function; `run_training` strings them together and owns what spans the
whole run: resume, Ctrl-C, NaN stops, the metrics CSV and TensorBoard, and, under torchrun,
DDP with only rank 0 writing. `hashtagger train` is a thin wrapper around `run_training`.
"""

from __future__ import annotations

import math
import os
import random
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hashtagger.data.loader import TensorBatches, default_workers, make_image_loader, tag_indices
from hashtagger.errors import CheckpointError, ConfigError, DatasetError
from hashtagger.image.preprocess import Preprocessing
from hashtagger.image.transforms import eval_transform, train_transform
from hashtagger.models.backbones import backbone_preprocessing, create_backbone
from hashtagger.models.checkpoint import load_checkpoint
from hashtagger.models.classifier import Classifier, FeatureHead, architecture
from hashtagger.train import distributed
from hashtagger.train.config import Config, config_to_dict, dump_config, load_config
from hashtagger.train.distributed import DistInfo
from hashtagger.train.engine import (
    Amp,
    EpochState,
    Progress,
    TrainResult,
    evaluate,
    is_better,
    train_one_epoch,
    training_data,
    write_checkpoints,
)
from hashtagger.train.losses import build_loss
from hashtagger.train.runlog import METRIC_COLUMNS, RunLog

# ---- entry point ----


def run_training(
    config: Config | str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    resume: str | os.PathLike[str] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> TrainResult:
    """Train from a Config (or a YAML path + `--set` overrides), or resume from a last.pt.

    Resuming restores model, optimizer, scheduler, epoch, step and random state, so the run ends
    with the same weights as an uninterrupted one; `overrides` may still change keys (e.g. more epochs).
    """
    info = distributed.from_env()
    dev = distributed.resolve_device(device, info)
    ckpt: dict[str, Any] | None = None
    if resume is not None:
        if config is not None:
            raise ConfigError(
                "--resume continues with the checkpoint's own config; "
                "drop --config (use --set to change keys)"
            )
        ckpt = load_checkpoint(resume)
        if ckpt.get("kind") == "bovw_svm":
            raise CheckpointError(
                f"{resume}: a bovw_svm run has no epochs to resume; train it again with --config "
                "(its SIFT descriptors are cached, so only k-means and the SVMs run again)"
            )
        if ckpt.get("kind") != "classifier" or not isinstance(ckpt.get("train_state"), dict):
            raise CheckpointError(
                f"{resume}: has no training state to resume from (resume from a run's last.pt)"
            )
        cfg = load_config(None, overrides, base=ckpt["config"])
        if not any(o.split("=", 1)[0].strip() == "out" for o in overrides):
            cfg = replace(cfg, out=str(Path(resume).parent))
    elif isinstance(config, Config):
        cfg = load_config(None, overrides, base=config_to_dict(config)) if overrides else config
    else:
        cfg = load_config(config, overrides)
    if not cfg.data.path:
        raise ConfigError(
            "config key 'data.path' is not set: give it in the YAML file or --set data.path=..."
        )
    cfg = replace(cfg, data=replace(cfg.data, path=os.path.abspath(os.path.expanduser(cfg.data.path))))
    if cfg.model.kind == "bovw_svm":
        return _run_bovw(cfg, info, progress)
    progress = progress if (progress is not None and info.is_main) else Progress()
    distributed.setup(info, dev)
    try:
        with _stop_on_signals() as stop:
            return _train(cfg, ckpt, info, dev, progress, stop)
    finally:
        distributed.teardown()


def _run_bovw(cfg: Config, info: DistInfo, progress: Progress | None) -> TrainResult:
    """model.kind bovw_svm: one pass in one process (hashtagger.train.bovw), same run folder and Ctrl-C."""
    if info.enabled:
        raise ConfigError(
            "model.kind bovw_svm trains in one process (its SIFT pass has its own workers): run it "
            "without torchrun"
        )
    from hashtagger.train.bovw import train_bovw

    with _stop_on_signals() as stop:
        return train_bovw(cfg, progress=progress, should_stop=lambda: stop.requested)


# ---- stages ----


def load_data(cfg: Config, info: DistInfo) -> Any:
    """The dataset with its splits; rank 0 first, since it may write the split file."""
    from hashtagger.data import load_dataset

    def load(write: bool) -> Any:
        return load_dataset(
            cfg.data.path,
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


def build_optimizer(cfg: Config, model: Classifier) -> torch.optim.Optimizer:
    """AdamW or SGD; the backbone at lr * backbone_lr_scale; no weight decay on biases and norms."""
    t = cfg.train
    groups: list[dict[str, Any]] = []
    parts = [(model.head, t.lr)]
    if not cfg.model.freeze_backbone:
        parts.append((model.backbone, t.lr * t.backbone_lr_scale))
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
        return torch.optim.SGD(groups, lr=t.lr, momentum=t.momentum, nesterov=t.momentum > 0)
    return torch.optim.AdamW(groups, lr=t.lr)


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


@dataclass
class Inputs:
    """Training and validation batches plus how a batch's inputs reach the model."""

    train: Any
    val: Any | None
    prepare: Callable[[torch.Tensor], torch.Tensor]
    trainable: nn.Module  # what the optimizer's forward runs: the Classifier, or its FeatureHead
    features: bool
    skipped: int = 0


def image_inputs(
    cfg: Config,
    model: Classifier,
    pre: Preprocessing,
    train_records: list,
    val_records: list,
    vocab: list[str],
    device: str,
    info: DistInfo,
) -> Inputs:
    """DataLoaders of decoded photos: augmentation for training, the predict geometry for validation."""
    common = {
        "seed": cfg.seed,
        "workers": cfg.data.workers,
        "device": device,
        "rank": info.rank,
        "world_size": info.world_size,
    }
    train = make_image_loader(
        train_records,
        vocab,
        train_transform(pre, cfg.train.augment),
        batch_size=cfg.train.batch_size,
        train=True,
        **common,
    )
    val = (
        make_image_loader(
            val_records, vocab, eval_transform(pre), batch_size=cfg.train.batch_size, train=False, **common
        )
        if val_records
        else None
    )
    memory_format = torch.channels_last if _channels_last(cfg, device) else torch.contiguous_format

    def prepare(x: torch.Tensor) -> torch.Tensor:
        return pre.normalize(x.to(device, non_blocking=True)).contiguous(memory_format=memory_format)

    return Inputs(train, val, prepare, model, features=False)


def feature_inputs(
    cfg: Config,
    model: Classifier,
    pre: Preprocessing,
    train_records: list,
    val_records: list,
    vocab: list[str],
    device: str,
    precision: str,
    info: DistInfo,
    progress: Progress,
    stop: _Stop,
    should_stop: Callable[[], bool],
) -> Inputs | None:
    """Frozen backbone, no augmentation: one backbone pass into the on-disk cache, then batches of features.

    Returns None when interrupted during the pass (what was computed stays cached).
    """
    from hashtagger.train.features import (
        FeatureCache,
        default_cache_dir,
        digests,
        extract_missing,
        load_features,
        weights_digest,
    )

    root = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else default_cache_dir()
    cache = FeatureCache(root, cfg.model.backbone, weights_digest(model.backbone), pre, precision)
    records = list(train_records) + list(val_records)
    workers = default_workers(info.world_size) if cfg.data.workers is None else cfg.data.workers
    keys = digests(records, workers=max(1, workers))
    todo = sum(1 for k in set(keys) if k is not None and not cache.path(k).exists())
    progress.message(f"feature cache: {cache.folder} ({len(records) - todo} of {len(records)} photos cached)")
    skipped = 0
    if todo:
        progress.start("features", total=-(-todo // info.world_size), unit="img")
        amp = Amp.create(device, precision)
        seen = [0]

        def tick(done: int, total: int) -> None:
            progress.update(done - seen[0])
            seen[0] = done

        skipped = extract_missing(
            records,
            keys,
            cache,
            model.backbone,
            pre,
            device=device,
            autocast_dtype=amp.dtype,
            channels_last=_channels_last(cfg, device),
            batch_size=max(cfg.train.batch_size, 64),
            workers=workers,
            rank=info.rank,
            world_size=info.world_size,
            progress=tick,
            should_stop=lambda: stop.requested,
        )
        progress.close()
    distributed.barrier()  # every share is written before anyone reads the cache
    if should_stop():  # every process calls this once: they agree whether to go on
        return None

    def batches(part: list, keys_part: list, train: bool) -> TensorBatches:
        feats, kept = load_features(keys_part, cache)
        ids, n_true = tag_indices([part[i] for i in kept], vocab)
        return TensorBatches(
            torch.from_numpy(feats),
            ids,
            n_true,
            len(vocab),
            batch_size=cfg.train.batch_size,
            train=train,
            seed=cfg.seed,
            rank=info.rank,
            world_size=info.world_size,
        )

    n = len(train_records)
    train = batches(train_records, keys[:n], True)
    val = batches(val_records, keys[n:], False) if val_records else None
    missing = len(records) - len(train.features) - (len(val.features) if val is not None else 0)
    return Inputs(
        train,
        val,
        lambda x: x.to(device, non_blocking=True),
        FeatureHead(model),
        features=True,
        skipped=max(skipped, missing),
    )


# ---- the run ----


@dataclass
class Run:
    """Everything one training run holds once assembled; `_fit` drives it epoch by epoch."""

    cfg: Config
    info: DistInfo
    device: str
    precision: str
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
    progress: Progress
    should_stop: Callable[[], bool]
    steps_per_epoch: int = 0
    resumed: bool = False
    start_epoch: int = 0
    step: int = 0
    partial: EpochState | None = None
    best: float | None = None


def _train(
    cfg: Config, ckpt: dict[str, Any] | None, info: DistInfo, device: str, progress: Progress, stop: _Stop
) -> TrainResult:
    run = _assemble(cfg, ckpt, info, device, progress, stop)
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


def _assemble(
    cfg: Config, ckpt: dict[str, Any] | None, info: DistInfo, device: str, progress: Progress, stop: _Stop
) -> Run | None:
    """Seeds, backbone, data, vocabulary, inputs, loss, optimizer, schedule, DDP, resumed state."""
    from hashtagger.runtime import configure_threads, resolve_precision

    _seed_everything(cfg.seed)  # the same initial weights in every process (the feature cache keys on them)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = not cfg.train.deterministic
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    configure_threads(default_workers(info.world_size) if cfg.data.workers is None else cfg.data.workers)
    precision = resolve_precision(cfg.train.precision, torch.device(device).type)
    should_stop = _stop_checker(stop, device, info)

    # Backbone first: missing ImageNet weights should fail in a second, not after reading 57k labels.
    # A resumed run needs no weights file (the checkpoint has them all).
    backbone, num_features = create_backbone(cfg.model.backbone, "none" if ckpt else cfg.model.pretrained)

    # Data and vocabulary (a resumed run keeps the checkpoint's vocabulary, in its order).
    vocab, train_records, val_records, tag_counts = training_data(
        cfg, load_data(cfg, info), progress, [str(t) for t in ckpt["vocabulary"]] if ckpt else None
    )

    pre = model_preprocessing(cfg)
    model = Classifier(backbone, num_features, len(vocab), cfg.model.dropout, cfg.model.freeze_backbone)
    if ckpt:
        _load_weights(model, ckpt)
    else:
        model.init_head_bias(tag_counts, len(train_records))
    model.to(device)
    if _channels_last(cfg, device):
        model.to(memory_format=torch.channels_last)

    _seed_everything(cfg.seed + info.rank)  # from here on each process draws its own dropout masks
    if cfg.model.freeze_backbone and cfg.train.augment == "none" and cfg.train.feature_cache:
        inputs = feature_inputs(
            cfg,
            model,
            pre,
            train_records,
            val_records,
            vocab,
            device,
            precision,
            info,
            progress,
            stop,
            should_stop,
        )
        if inputs is None:
            return None
    else:
        inputs = image_inputs(cfg, model, pre, train_records, val_records, vocab, device, info)
    if inputs.skipped:
        progress.message(
            f"{inputs.skipped} photo{'s' if inputs.skipped != 1 else ''} could not be decoded and "
            f"{'are' if inputs.skipped != 1 else 'is'} left out"
        )
    if len(inputs.train) == 0:
        raise DatasetError(
            f"{cfg.data.path}: too few training photos for one batch of {cfg.train.batch_size}"
        )

    optimizer = build_optimizer(cfg, model)
    trainable = inputs.trainable
    if info.enabled:
        trainable = nn.parallel.DistributedDataParallel(
            trainable, device_ids=[torch.device(device).index] if device.startswith("cuda") else None
        )
    run = Run(
        cfg=cfg,
        info=info,
        device=device,
        precision=precision,
        amp=Amp.create(device, precision),
        model=model,
        inputs=inputs,
        trainable=trainable,
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
            "vocabulary": vocab,
            "preprocessing": pre.to_dict(),
            "config": config_to_dict(cfg),
            "tag_counts": tag_counts,
        },
        run_dir=Path(cfg.out),
        progress=progress,
        should_stop=should_stop,
        steps_per_epoch=len(inputs.train),
        resumed=ckpt is not None,
    )
    if ckpt:
        run.start_epoch, run.step, run.partial, run.best = _restore_train_state(
            ckpt["train_state"], optimizer, run.scheduler, run.amp, info, progress
        )
    return run


def _fit(run: Run) -> TrainResult:
    """The epoch loop: train, validate, checkpoint, log; stop cleanly on Ctrl-C."""
    cfg, progress = run.cfg, run.progress
    run_log = RunLog(
        run.run_dir,
        enabled=run.info.is_main,
        tensorboard=cfg.train.tensorboard,
        keep_epochs=run.start_epoch,
        progress=progress,
        resumed=run.resumed,
    )
    if run.info.is_main:
        dump_config(cfg, run.run_dir / "config.yaml")
    mode = (
        "cached features"
        if run.inputs.features
        else ("head only" if cfg.model.freeze_backbone else "fine-tuning")
    )
    procs = f" x{run.info.world_size} processes" if run.info.enabled else ""
    progress.message(
        f"training {cfg.model.backbone} ({mode}) for {cfg.train.epochs} epochs, {run.precision}, "
        f"{run.device}{procs} -> {run.run_dir}"
    )
    result = TrainResult(
        run.run_dir,
        run.start_epoch,
        cfg.train.epochs,
        cfg.train.best_metric,
        run.best,
        is_main=run.info.is_main,
    )
    last = run.run_dir / "last.pt"
    if run.start_epoch >= cfg.train.epochs:
        progress.message(
            f"{last} already has all {cfg.train.epochs} epochs; "
            f"--set train.epochs=N (N > {cfg.train.epochs}) trains on"
        )
    try:
        for epoch in range(run.start_epoch, cfg.train.epochs):
            out = _train_epoch(run, epoch)
            if out.interrupted:
                _save(run, epoch, {}, out.state, best=False)
                progress.message(
                    f"interrupted: saved {last} (epoch {epoch + 1}, batch {out.state.batches}/"
                    f"{run.steps_per_epoch}); resume with "
                    f"hashtagger train --resume {last}"
                )
                result.interrupted = True
                return result
            val = _validate(run)
            row = _epoch_row(epoch, run.step, out, val, run.device)
            value = val.get(cfg.train.best_metric) if val else None
            improved = is_better(cfg.train.best_metric, value, run.best) if val else True
            if improved and value is not None:
                run.best = value
            _save(run, epoch + 1, row, None, best=improved)
            if run.info.is_main:
                run_log.write(row)
            progress.epoch_end(row)
            progress.message(_epoch_line(row, cfg, improved and bool(val)))
            result.history.append(row)
            result.epochs_done, result.best_value = epoch + 1, run.best
            distributed.barrier()
            if run.should_stop() and epoch + 1 < cfg.train.epochs:
                progress.message(
                    f"interrupted after epoch {epoch + 1}: resume with hashtagger train --resume {last}"
                )
                result.interrupted = True
                return result
    finally:
        progress.close()
        run_log.close()
    return result


def _train_epoch(run: Run, epoch: int) -> Any:
    """One epoch (or its remainder after a mid-epoch resume) under a progress bar."""
    state = run.partial or EpochState()
    run.partial = None
    batch_size = run.cfg.train.batch_size
    run.inputs.train.sampler.set_epoch(epoch, start=state.batches * batch_size)
    run.progress.start(f"epoch {epoch + 1}/{run.cfg.train.epochs}", total=len(run.inputs.train) * batch_size)
    out = train_one_epoch(
        run.trainable,
        run.inputs.train,
        run.loss_fn,
        run.optimizer,
        run.scheduler,
        prepare=run.inputs.prepare,
        device=run.device,
        amp=run.amp,
        epoch=epoch,
        step=run.step,
        state=state,
        grad_clip=run.cfg.train.grad_clip,
        progress=run.progress,
        should_stop=run.should_stop,
    )
    run.progress.close()
    run.step = out.step
    return out


def _validate(run: Run) -> dict[str, float]:
    if run.inputs.val is None:
        return {}
    run.progress.start("validation", total=len(run.inputs.val.sampler))
    val = evaluate(
        run.evaluated,
        run.inputs.val,
        run.loss_fn,
        prepare=run.inputs.prepare,
        device=run.device,
        amp=run.amp,
        progress=run.progress,
    )
    run.progress.close()
    return val


def _save(run: Run, epoch: int, row: dict[str, Any], partial: EpochState | None, *, best: bool) -> None:
    """last.pt (and best.pt) from rank 0; every process joins, since the RNG states are gathered."""
    payload = {
        **run.base,
        "state_dict": _weights(run.model),
        "epoch": epoch,
        "metrics": {k: v for k, v in row.items() if isinstance(v, (int, float))},
        "train_state": _train_state(
            epoch, run.step, run.optimizer, run.scheduler, run.amp, run.best, partial
        ),
    }
    if run.info.is_main:
        write_checkpoints(run.run_dir, payload, best=best)


# ---- pieces of the run ----


def _channels_last(cfg: Config, device: str) -> bool:
    return cfg.train.channels_last and torch.device(device).type != "mps"


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def _load_weights(model: nn.Module, ckpt: dict[str, Any]) -> None:
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except (RuntimeError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"checkpoint weights do not fit the configured model ({first})") from None


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
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


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _train_state(
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
        "rng": distributed.all_gather(_rng_state()),
    }


def _restore_train_state(
    ts: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    amp: Amp,
    info: DistInfo,
    progress: Progress,
) -> tuple[int, int, EpochState | None, float | None]:
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
        _set_rng_state(rngs[info.rank])
    else:
        progress.message(
            f"note: the run was saved with {len(rngs)} processes, not {info.world_size}; "
            "random streams restart (data order is unaffected)"
        )
    partial = EpochState(**ts["epoch_state"]) if ts.get("epoch_state") else None
    best = ts.get("best")
    return epoch, step, partial, (float(best) if best is not None else None)


def _epoch_row(epoch: int, step: int, out: Any, val: dict[str, float], device: str) -> dict[str, Any]:
    state = out.state
    row: dict[str, Any] = {
        "epoch": epoch + 1,
        "step": step,
        "lr": out.lr,
        "train_loss": state.loss,
        "train_images": state.images,
        "skipped": state.skipped,
        "images_per_s": state.images / state.seconds if state.seconds > 0 else 0.0,
        "seconds": state.seconds,
    }
    for k in METRIC_COLUMNS:
        if k in val:
            row[f"val_{k}"] = val[k]
    # Under DDP the train loss above is rank 0's; average it over all processes.
    total = distributed.all_reduce_sum([state.loss_sum, float(state.images)], device)
    if total[1] > 0:
        row["train_loss"] = total[0] / total[1]
        row["train_images"] = int(total[1])
        row["images_per_s"] = total[1] / state.seconds if state.seconds > 0 else 0.0
    return row


def _epoch_line(row: dict[str, Any], cfg: Config, best: bool) -> str:
    parts = [f"epoch {row['epoch']}/{cfg.train.epochs}", f"loss {row['train_loss']:.4f}"]
    for key, label in (
        ("val_loss", "val_loss"),
        ("val_map", "mAP"),
        ("val_accuracy@1", "acc@1"),
        ("val_accuracy@5", "acc@5"),
    ):
        if key in row:
            parts.append(f"{label} {row[key]:.4f}")
    parts.append(f"{row['images_per_s']:.0f} img/s")
    parts.append(f"{row['seconds']:.1f}s")
    return "  ".join(parts) + ("  *best" if best else "")


# ---- Ctrl-C ----


class _Stop:
    """Set by the first Ctrl-C (or SIGTERM): finish the step, save, exit. A second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.requested = False


@contextmanager
def _stop_on_signals() -> Iterator[_Stop]:
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.requested = True

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _stop_checker(stop: _Stop, device: str, info: DistInfo) -> Callable[[], bool]:
    """All processes agree to stop at the same step (one of them getting the signal is enough)."""
    if not info.enabled:
        return lambda: stop.requested

    def check() -> bool:
        return distributed.all_reduce_max(1.0 if stop.requested else 0.0, device) > 0

    return check
