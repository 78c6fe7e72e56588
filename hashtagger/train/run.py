"""Build a training run from a config and drive it: data -> vocabulary -> inputs -> model -> loop.

Each stage is a small function (the set-up stages live in `hashtagger.train.setup`, putting them
together in `hashtagger.train.assemble`, what --resume stores in `hashtagger.train.checkpointing`);
`run_training` strings them together and owns what spans the whole run: resume, Ctrl-C, NaN stops,
the metrics CSV and TensorBoard, and, under torchrun, DDP with only rank 0 writing. `hashtagger train`
is a thin wrapper around `run_training`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from hashtagger.errors import ConfigError
from hashtagger.models.entries import resolve
from hashtagger.models.registry import get_model
from hashtagger.progress import Progress
from hashtagger.train import checkpointing, distributed
from hashtagger.train.assemble import Run, assemble
from hashtagger.train.config import Config, dump_config
from hashtagger.train.distributed import DistInfo
from hashtagger.train.engine import (
    EpochState,
    StepResult,
    TrainResult,
    Validation,
    evaluate,
    is_better,
    train_one_epoch,
    write_checkpoints,
)
from hashtagger.train.rundir import prepare_run_folder
from hashtagger.train.runlog import RunLog, epoch_line, epoch_row
from hashtagger.train.setup import Context, resolve_config, resume_checkpoint
from hashtagger.train.stopping import stop_on_signals
from hashtagger.words import plural

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
    is_main = distributed.from_env().is_main
    prepare_run_folder(cfg.out, data=cfg.data.path, resume=resume, overwrite=overwrite, is_main=is_main)
    trainer = resolve(get_model(cfg.model.kind, role="trainable").trainer or "")
    result = trainer(cfg, ckpt=ckpt, device=device, progress=progress)
    if result.is_main and not result.interrupted and (result.run_dir / "best.pt").exists():
        result.export = export_best(result.run_dir)
    return result


def export_best(run_dir: Path) -> str:
    """best.onnx beside best.pt (weights, vocabulary, thresholds inside), so that the trained model tags
    on a core install (ONNX Runtime, no PyTorch): `predict --model RUN_FOLDER` finds it. One line back."""
    from hashtagger.errors import HashtaggerError
    from hashtagger.export.run import export_model

    try:
        export_model(str(run_dir / "best.pt"), "onnx", run_dir / "best.onnx")
    except HashtaggerError as e:
        return f"no best.onnx ({e})"
    except ImportError as e:  # export needs onnx: 'hashtagger[onnx]'
        return f"no best.onnx (export needs {e.name}: pip install 'hashtagger[onnx]')"
    return f"{run_dir / 'best.onnx'} (runs without PyTorch)"


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


def _train(
    cfg: Config, ckpt: dict[str, Any] | None, info: DistInfo, device: str, progress: Progress, stop: Any
) -> TrainResult:
    from hashtagger.runtime import resolve_precision

    precision = resolve_precision(cfg.train.precision, torch.device(device).type)
    ctx = Context(cfg, info, device, precision, progress, stop)
    run = assemble(ctx, ckpt)
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
        f"training {cfg.model.backbone} ({mode}) for {plural(cfg.train.epochs, 'epoch')}, {ctx.precision}, "
        f"{ctx.device}{procs} -> {run.run_dir}"
    )
    if run.start_epoch >= cfg.train.epochs:
        run.progress.message(
            f"{run.run_dir / 'last.pt'} already has all {plural(cfg.train.epochs, 'epoch')}; "
            f"--set train.epochs=N (N > {cfg.train.epochs}) trains on"
        )


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
    checked = _validate(run)
    val = checked.metrics if checked is not None else {}
    row = epoch_row(epoch, run.step, out, val, run.ctx.device)
    value = val.get(cfg.train.best_metric) if val else None
    improved = is_better(cfg.train.best_metric, value, run.best) if val else True
    if improved and value is not None:
        run.best = value
    fitted, line = _thresholds(checked) if run.ctx.info.is_main else ({}, None)
    _save(run, epoch + 1, {"metrics": row, **fitted}, None, best=improved)
    if improved:
        result.thresholds = line
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


def _validate(run: Run) -> Validation | None:
    if run.inputs.val is None:
        return None
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


def _thresholds(checked: Validation | None) -> tuple[dict[str, Any], str]:
    """Per-tag thresholds fitted on this epoch's validation scores, as checkpoint keys (thresholds,
    calibration), so that predict shows a photo's likely tags and not its top 10; and the line the
    CLI reports about them (or why there are none)."""
    from hashtagger.evaluate.calibrate import describe_thresholds, fit_validation

    if checked is None:
        thresholds, info = None, {"reason": "the data has no validation split"}
    else:
        thresholds, info = fit_validation(checked.scores, checked.targets)
    if thresholds is None:
        return {}, f"none fitted ({info['reason']}); predict shows each photo's top -k tags, or -t's"
    line = f"{describe_thresholds(thresholds, info)}; stored in best.pt"
    return {"thresholds": thresholds, "calibration": info}, line


def _save(run: Run, epoch: int, extra: dict[str, Any], partial: EpochState | None, *, best: bool) -> None:
    """last.pt (and best.pt) from rank 0; every process joins, since the RNG states are gathered.

    `extra`: the epoch's metrics row (key metrics) and its fitted thresholds and calibration, if any.
    """
    row = extra.get("metrics", {})
    payload = {
        **run.base,
        **{k: v for k, v in extra.items() if k != "metrics"},
        "state_dict": checkpointing.weights(run.model),
        "epoch": epoch,
        "metrics": {k: v for k, v in row.items() if isinstance(v, (int, float))},
        "train_state": checkpointing.train_state(
            epoch, run.step, run.optimizer, run.scheduler, run.amp, run.best, partial
        ),
    }
    if run.ctx.info.is_main:
        write_checkpoints(run.run_dir, payload, best=best)
