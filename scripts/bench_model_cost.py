"""Figure k of scripts/bench.py: what the default model costs per photo, against the model it replaced.

The reference is the former default, EfficientNet-Lite0 at 224 px with ConSE over HARRISON's 997 tags,
run by PyTorch bf16 as `predict` ran it. It is rebuilt here from the same code (ZeroShotTagger without
the class-name view), so both sides are timed in this run, on the same decoded photos, in turn A B A B.
Cost = 1 / photos per second of scoring (forward pass, content and ranking) on decoded tensors.
Target (issue "say what is in the photo"): at most 2x the former default's per-photo cost.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
from bench_timing import line


def former_default():  # noqa: ANN201 - a ZeroShotTagger
    """Lite0 + ConSE over HARRISON's tags, as the default model was before the open vocabulary."""
    from hashtagger.image.preprocess import EFFICIENTNET_LITE
    from hashtagger.models.backbones import efficientnet_lite_imagenet
    from hashtagger.models.labels import load_npz
    from hashtagger.models.tagstats import load_tag_stats
    from hashtagger.models.zeroshot import ZeroShotTagger, class_embeddings

    data = load_npz("conse_embeddings.npz")
    n = len(load_tag_stats().vocabulary)  # the first 997 tags are HARRISON's
    vocab = [str(t) for t in data["vocabulary"][:n]]
    tagger = ZeroShotTagger(
        efficientnet_lite_imagenet("lite0"), class_embeddings(data), vocab, data["vocab_embeddings"][:n],
        preprocessing=EFFICIENTNET_LITE,
    )  # fmt: skip
    tagger.set_precision("bf16")
    return tagger


def photos_per_s(tagger, photos: list[Path], batch: int) -> float:  # noqa: ANN001
    """Scoring rate on photos decoded beforehand at the model's own input size."""
    x = np.stack([tagger.preprocessing.load_array(p) for p in photos])
    tagger.score(x[:batch])  # warm-up
    t = time.perf_counter()
    for i in range(0, len(x), batch):
        tagger.score(x[i : i + batch])
    return len(x) / (time.perf_counter() - t)


def bench_model_cost(folder: Path, work: Path, repeat: int, batch: int) -> None:
    from hashtagger.models import ModelSpec, open_tagger
    from hashtagger.runtime import RunOptions

    photos = sorted(folder.rglob("*.jpg"))[:128]
    runs = {
        "former default (Lite0 ConSE, PyTorch bf16)": former_default(),
        "default, ONNX Runtime": open_tagger(ModelSpec(), RunOptions(device="cpu", workers=0)),
        "default, PyTorch bf16": open_tagger(
            ModelSpec(), RunOptions(device="cpu", precision="bf16", workers=0, runtime="torch")
        ),
    }
    rates: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(max(repeat, 3)):
        for name, tagger in runs.items():
            rates[name].append(photos_per_s(tagger, photos, batch))
    med = {k: statistics.median(v) for k, v in rates.items()}
    ref_name = next(iter(med))
    for name, rate in list(med.items())[1:]:
        cost = med[ref_name] / rate
        line(
            f"k. per-photo cost, {name.split(', ')[1]}",
            f"{rate:6.1f} photos/s, former default {med[ref_name]:6.1f} ({len(photos)} photos)",
            cost,
            "<=2",
            cost <= 2.0,
        )
