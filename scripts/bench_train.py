"""Training throughput: hashtagger's loop against a bare PyTorch loop, measured in the same run.

Both loops train the same model (same architecture and initial weights) on the same photos with
the same batch size, precision, memory layout, optimizer, loss and number of decoding workers;
only the plumbing differs. hashtagger's side is what `hashtagger train` runs: its DataLoader
factory, transforms, `train_one_epoch` (NaN check, progress, Ctrl-C check, LR schedule).
The bare side is the loop from a PyTorch tutorial. Rounds alternate so that a machine getting
busier or quieter affects both; warm-up steps (worker start, kernel selection) are not timed.

    .venv/bin/python scripts/bench_train.py --quick
    .venv/bin/python scripts/bench_train.py --data ../shared/data/clothing-small/labels.csv --steps 30

Target: hashtagger >= 0.9 x the bare loop's images/s.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "clothing-small" / "labels.csv"
TARGET = 0.9


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="dataset or manifest (default: clothing-small)")
    p.add_argument("--backbone", default="resnet18", choices=["resnet18", "efficientnet_lite0"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--workers", type=int, default=None, help="decoding workers (default: hashtagger's)")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=20, help="timed steps per round")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="5 timed steps, 2 warm-up, 2 rounds")
    args = p.parse_args()
    if args.quick:
        args.steps, args.warmup, args.rounds = 5, 2, 2
    return args


class BareDataset:
    """What a tutorial writes: PIL open, torchvision transforms, a multi-hot target."""

    def __init__(self, records, vocabulary, size: int) -> None:  # noqa: ANN001
        from torchvision.transforms import v2

        self.items = [
            (str(r.path), [vocabulary.index(t) for t in r.tags if t in vocabulary]) for r in records
        ]
        self.num_tags = len(vocabulary)
        self.transform = v2.Compose(
            [
                v2.PILToTensor(),
                v2.RandomResizedCrop(size, scale=(0.25, 1.0), antialias=True),
                v2.RandomHorizontalFlip(),
            ]
        )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):  # noqa: ANN204
        import torch
        from PIL import Image

        path, ids = self.items[i]
        with Image.open(path) as im:
            image = self.transform(im.convert("RGB"))
        target = torch.zeros(self.num_tags)
        target[ids] = 1.0
        return image, target


def bare_loop(model, records, vocabulary, args, device: str, precision: str, workers: int, pre) -> float:  # noqa: ANN001
    """images/s of the plain loop over warmup + steps batches."""
    import torch
    from torch.nn import functional as F

    loader = torch.utils.data.DataLoader(
        BareDataset(records, vocabulary, args.image_size),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        pin_memory=device.startswith("cuda"),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(torch.device(device).type) if precision == "fp16" else None
    mean = torch.tensor(pre.mean, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(pre.std, device=device).view(1, 3, 1, 1) * 255
    model.train()
    start = None
    for i, (x, y) in enumerate(loader):
        if i == args.warmup:
            start = time.perf_counter()
        x = ((x.to(device, non_blocking=True).float() - mean) / std).contiguous(
            memory_format=torch.channels_last
        )
        y = y.to(device, non_blocking=True)
        with torch.autocast(
            torch.device(device).type, dtype=dtype or torch.float32, enabled=dtype is not None
        ):
            logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y, reduction="sum") / len(x)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
    _sync(device)
    return args.steps * args.batch_size / (time.perf_counter() - start)


def hashtagger_loop(model, records, vocabulary, args, cfg, device: str, precision: str) -> float:  # noqa: ANN001
    """images/s of hashtagger's own stages, as `hashtagger train` strings them together."""
    from hashtagger.progress import Progress
    from hashtagger.train.distributed import DistInfo
    from hashtagger.train.engine import Amp, TrainingData, train_one_epoch
    from hashtagger.train.losses import build_loss
    from hashtagger.train.setup import (
        Context,
        build_optimizer,
        build_scheduler,
        image_inputs,
        model_preprocessing,
    )
    from hashtagger.train.stopping import Stop

    class Clock(Progress):
        def __init__(self) -> None:
            self.steps, self.start = 0, None

        def __call__(self, stage: str, done: int, total: int | None = None, **status: object) -> None:
            self.steps += 1
            if self.steps == args.warmup:
                _sync(device)
                self.start = time.perf_counter()

    ctx = Context(cfg, DistInfo(), device, precision, Progress(), Stop())
    data = TrainingData(vocabulary, records, [], [])
    inputs = image_inputs(ctx, model, model_preprocessing(cfg), data)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer, len(inputs.train))
    clock = Clock()
    inputs.train.sampler.set_epoch(0)
    train_one_epoch(
        model,
        inputs.train,
        build_loss("bce"),
        optimizer,
        scheduler,
        prepare=inputs.prepare,
        device=device,
        amp=Amp.create(device, precision),
        epoch=0,
        step=0,
        progress=clock,
    )
    _sync(device)
    return args.steps * args.batch_size / (time.perf_counter() - clock.start)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> int:
    args = parse_args()
    if not Path(args.data).exists():
        print(
            f"bench_train: {args.data} not found; pass --data (a dataset folder or manifest)", file=sys.stderr
        )
        return 2
    import torch

    from hashtagger.data import load_dataset
    from hashtagger.data.loader import default_workers
    from hashtagger.models.classifier import build_classifier
    from hashtagger.runtime import configure_threads, resolve_device, resolve_precision
    from hashtagger.train.config import load_config
    from hashtagger.train.setup import model_preprocessing

    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    workers = default_workers() if args.workers is None else args.workers
    configure_threads(workers)
    dataset = load_dataset(args.data, write_split_file=False)
    vocabulary = dataset.vocabulary()
    n = (args.warmup + args.steps) * args.batch_size
    records = dataset.split("train")[:n]
    if len(records) < n:
        print(f"bench_train: need {n} training photos, {args.data} has {len(records)}", file=sys.stderr)
        return 2
    # Plain SGD-free settings shared by both loops: AdamW at a constant-ish small lr, no warm-up drama.
    cfg = load_config(
        None,
        [
            f"data.path={args.data}",
            f"data.workers={workers}",
            f"model.backbone={args.backbone}",
            "model.pretrained=none",
            f"model.image_size={args.image_size}",
            f"train.batch_size={args.batch_size}",
            "train.lr=1e-4",
            "train.backbone_lr_scale=1.0",
            "train.warmup_epochs=0",
            "train.weight_decay=0",
            "model.dropout=0.0",
            "train.augment=standard",
        ],
    )
    torch.manual_seed(0)
    reference = build_classifier(args.backbone, "none", len(vocabulary), 0.0).to(device)
    if torch.device(device).type != "mps":
        reference = reference.to(memory_format=torch.channels_last)
    pre = model_preprocessing(cfg)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"bench_train: {args.backbone}, batch {args.batch_size}, {args.image_size} px, {precision}, "
        "channels_last, "
        f"{workers} workers, {device} ({cores} cores, {torch.get_num_threads()} torch threads), "
        f"{args.warmup} warm-up + {args.steps} timed steps x {args.rounds} rounds",
        flush=True,
    )
    bare, ours = [], []
    for r in range(args.rounds):
        bare.append(
            bare_loop(copy.deepcopy(reference), records, vocabulary, args, device, precision, workers, pre)
        )
        ours.append(
            hashtagger_loop(copy.deepcopy(reference), records, vocabulary, args, cfg, device, precision)
        )
        print(f"round {r + 1}: bare {bare[-1]:.1f} img/s, hashtagger {ours[-1]:.1f} img/s", flush=True)
    b, o = statistics.median(bare), statistics.median(ours)
    ratio = o / b
    print(f"bare PyTorch loop:  {b:.1f} img/s (median)")
    print(f"hashtagger train:   {o:.1f} img/s (median)")
    print(f"ratio: {ratio:.2f} (target >= {TARGET}): {'PASS' if ratio >= TARGET else 'BELOW TARGET'}")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
