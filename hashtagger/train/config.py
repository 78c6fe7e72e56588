"""Training configuration: frozen dataclasses, YAML defaults, `--set key=value` overrides.

Layering (like timm's train.py): dataclass defaults < YAML file < `--set` overrides. Every key
is checked: an unknown key or a value of the wrong type fails with the full dotted key name,
so a typo never trains silently with a default. The resolved config is written next to the run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hashtagger.choices import BACKBONES
from hashtagger.data.formats import FORMATS
from hashtagger.errors import ConfigError
from hashtagger.image.preprocess import MAX_SIZE
from hashtagger.models.registry import list_models, model_names
from hashtagger.train.config_values import check_value, parse_override
from hashtagger.train.config_yaml import read_yaml, show

#: Upper bounds of the size-like keys: past them a run only exhausts memory or processes, never trains better.
MAX_WORKERS = 64
MAX_BATCH = 4096
MAX_LR = 10.0  # also bounds backbone_lr_scale: their product must stay a float32
#: `model.kind` choices: the trainable kinds of the model registry.
MODEL_KINDS = model_names("trainable")


def _opt(default: Any, doc: str, **checks: Any) -> Any:
    """A dataclass field with its one-line documentation and value checks (choices, min, max)."""
    return field(default=default, metadata={"doc": doc, **checks})


@dataclass(frozen=True)
class DataConfig:
    """Where the photos and tags come from and how they are decoded."""

    path: str = _opt("", "dataset folder (HARRISON, folder per tag) or manifest (.csv/.tsv/.jsonl)")
    format: str = _opt(
        "auto",
        "the dataset's layout: auto (told by its files), harrison, manifest or folder (a named one is "
        "checked; a missing HARRISON folder says how to download it)",
        choices=("auto", *FORMATS),
    )
    val_fraction: float = _opt(
        0.1, "share of the non-test images kept for validation when the data has no split", min=0.0, max=0.9
    )
    test_size: int | None = _opt(
        None, "test images held out when the data has no split (None: the loader's default)", min=0
    )
    min_tag_count: int = _opt(1, "a tag needs this many training images to enter the vocabulary", min=1)
    workers: int | None = _opt(
        None,
        "DataLoader worker processes per training process (None: min(8, CPU cores))",
        min=0,
        max=MAX_WORKERS,
    )
    cache_dir: str | None = _opt(
        None,
        "frozen-backbone feature and SIFT descriptor cache "
        "(None: $HASHTAGGER_CACHE or ~/.cache/hashtagger/features)",
    )


@dataclass(frozen=True)
class ModelConfig:
    """The model kind and, for the classifier, its network: an ImageNet backbone, dropout, and a new
    linear head with one sigmoid per tag."""

    kind: str = _opt(
        "classifier",
        "; ".join(f"{e.name}: {e.description}" for e in list_models("trainable")),
        choices=MODEL_KINDS,
    )
    backbone: str = _opt("resnet18", "feature extractor", choices=BACKBONES)
    pretrained: str = _opt(
        "imagenet", "backbone weights: imagenet, none (random, on purpose) or a weights file"
    )
    dropout: float | None = _opt(
        None,
        "dropout before the head (null: 0.7 when fine-tuning, as in the HARRISON paper; 0.5 on a frozen "
        "backbone)",
        min=0.0,
        max=0.99,
    )
    freeze_backbone: bool = _opt(False, "train the head only (the paper's feature extractor + classifier)")
    image_size: int | None = _opt(
        None, "square input side in pixels (None: the backbone's 224)", min=16, max=MAX_SIZE
    )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, loss, augmentation, precision and checkpoint choice."""

    epochs: int = _opt(13, "passes over the training split (13 in the HARRISON paper)", min=1)
    batch_size: int = _opt(64, "images per step and per process", min=1, max=MAX_BATCH)
    lr: float | None = _opt(
        None,
        "peak learning rate of the head (null: 0.001 when fine-tuning, 0.003 on a frozen backbone)",
        min=0.0,
        max=MAX_LR,
    )
    backbone_lr_scale: float = _opt(
        0.1, "backbone learning rate = lr * this (fine-tuning only)", min=0.0, max=MAX_LR
    )
    optimizer: str = _opt("adamw", "adamw or sgd (with momentum, nesterov)", choices=("adamw", "sgd"))
    momentum: float = _opt(0.9, "SGD momentum", min=0.0, max=1.0)
    weight_decay: float = _opt(
        1e-4, "decoupled (AdamW) or L2 (SGD) decay; never on biases and norms", min=0.0, max=1.0
    )
    warmup_epochs: float = _opt(1.0, "linear warm-up from lr/100, then cosine decay", min=0.0, max=1e6)
    min_lr_ratio: float = _opt(0.01, "the cosine ends at lr * this", min=0.0, max=1.0)
    loss: str = _opt(
        "bce",
        "bce (sigmoid + binary cross-entropy) or asl (asymmetric loss, for long tails)",
        choices=("bce", "asl"),
    )
    asl_gamma_neg: float = _opt(4.0, "ASL focusing of negatives", min=0.0, max=100.0)
    asl_gamma_pos: float = _opt(0.0, "ASL focusing of positives", min=0.0, max=100.0)
    asl_clip: float = _opt(0.05, "ASL probability margin shifted off easy negatives", min=0.0, max=1.0)
    augment: str = _opt(
        "auto",
        "auto (none when the backbone is frozen, so the feature cache applies; standard when fine-tuning), "
        "standard (random resized crop + flip), flip, or none (the eval geometry)",
        choices=("auto", "standard", "flip", "none"),
    )
    feature_cache: bool = _opt(
        True, "frozen backbone + augment none (or auto): compute features once, cache them on disk"
    )
    precision: str = _opt(
        "auto",
        "auto (bf16 where supported, fp16 on older GPUs), fp32, bf16 or fp16",
        choices=("auto", "fp32", "bf16", "fp16"),
    )
    channels_last: bool = _opt(True, "NHWC memory layout (faster convolutions on CPUs and tensor cores)")
    grad_clip: float = _opt(0.0, "clip the gradient norm to this (0: off)", min=0.0)
    best_metric: str = _opt(
        "map",
        "validation metric that picks best.pt",
        choices=("map", "accuracy@1", "accuracy@5", "precision@1", "recall@5", "loss"),
    )
    tensorboard: bool | None = _opt(
        None,
        "TensorBoard events: null writes them when tensorboard is installed, true also says when it is not, "
        "false never",
    )
    deterministic: bool = _opt(False, "deterministic GPU kernels (slower); CPU runs are reproducible anyway")


@dataclass(frozen=True)
class BovwConfig:
    """The classic baseline (model.kind bovw_svm): SIFT -> k-means visual words -> histograms -> SVMs."""

    clusters: int = _opt(100, "visual words K, fitted by k-means (100 in the paper)", min=2, max=100_000)
    kmeans: str = _opt(
        "auto",
        "auto (full k-means up to 50,000 sampled descriptors, mini-batch above), full or minibatch",
        choices=("auto", "full", "minibatch"),
    )
    kmeans_sample: int = _opt(
        200_000, "descriptors drawn (seeded) from the training photos to fit k-means (0: all)", min=0
    )
    max_descriptors_per_image: int = _opt(
        500, "SIFT keeps this many strongest keypoints per photo (0: all it finds)", min=0, max=100_000
    )
    image_size: int = _opt(
        256, "side of the centre square SIFT sees, in pixels (the photo's shorter side)", min=32, max=MAX_SIZE
    )
    histogram: str = _opt(
        "hellinger",
        "l1 (word frequencies) or hellinger (their square roots: linear SVMs then compare histograms "
        "with the Bhattacharyya kernel)",
        choices=("l1", "hellinger"),
    )
    svm_c: float = _opt(
        1.0, "regularisation C of each tag's linear SVM (smaller: wider margin)", min=1e-6, max=1e6
    )
    workers: int | None = _opt(
        None,
        "descriptor extraction processes (None: one per core, at most 8; 0: in the training process)",
        min=0,
        max=MAX_WORKERS,
    )


@dataclass(frozen=True)
class Config:
    """A whole training run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    bovw: BovwConfig = field(default_factory=BovwConfig)
    out: str = _opt(
        "runs/train",
        "run folder: config.yaml, metrics.csv, last.pt, best.pt; never one holding another run (--overwrite)",
    )
    seed: int = _opt(
        0, "seeds weights, data order, augmentation and dropout (0 to 2^32-1)", min=0, max=2**32 - 1
    )


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "bovw": BovwConfig,
}


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    base: dict[str, Any] | None = None,
) -> Config:
    """Defaults, then the YAML file (may be partial) or `base` (a resumed run's config), then
    `--set a.b=value` overrides."""
    import copy

    tree: dict[str, Any] = copy.deepcopy(base) if base is not None else {}
    if path is not None:
        tree = read_yaml(Path(path))
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(tree, key, value)
    return config_from_dict(tree)


#: Defaults measured on clothing-small (README, "Training your own model"): a head trained alone on
#: cached features wants a higher learning rate and lighter dropout than one trained with its backbone.
HEAD_LR = {"fine-tuning": 1e-3, "frozen": 3e-3}
HEAD_DROPOUT = {"fine-tuning": 0.7, "frozen": 0.5}


def _regime(config: Config) -> str:
    return "frozen" if config.model.freeze_backbone else "fine-tuning"


def head_lr(config: Config) -> float:
    """train.lr, or its default for this kind of run (null)."""
    return config.train.lr if config.train.lr is not None else HEAD_LR[_regime(config)]


def head_dropout(config: Config) -> float:
    """model.dropout, or its default for this kind of run (null)."""
    return config.model.dropout if config.model.dropout is not None else HEAD_DROPOUT[_regime(config)]


def augmentation(config: Config) -> str:
    """train.augment with 'auto' resolved: none for a frozen backbone (cached features), else standard."""
    if config.train.augment != "auto":
        return config.train.augment
    return "none" if config.model.freeze_backbone else "standard"


def uses_feature_cache(config: Config) -> bool:
    """Whether the epochs train the head on cached features (frozen backbone, no augmentation, cache on)."""
    return config.model.freeze_backbone and augmentation(config) == "none" and config.train.feature_cache


def config_from_dict(tree: dict[str, Any]) -> Config:
    """Build and check a Config from a nested plain dict (a YAML file or a checkpoint's `config`)."""
    if not isinstance(tree, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {type(tree).__name__}")
    top_fields = {f.name: f for f in dataclasses.fields(Config)}
    kwargs: dict[str, Any] = {}
    for key, value in tree.items():
        if key not in top_fields:
            raise ConfigError(f"unknown config key '{key}' (valid top-level keys: {', '.join(top_fields)})")
        if key in SECTIONS:
            kwargs[key] = _build_section(key, SECTIONS[key], value)
        else:
            kwargs[key] = check_value(key, top_fields[key], value, Config)
    return Config(**kwargs)


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain nested dict (YAML- and weights_only-safe) in declaration order."""
    return dataclasses.asdict(config)


def dump_config(config: Config, path: str | Path) -> Path:
    """Write the resolved config as YAML, atomically."""
    from hashtagger.files import atomic_write

    text = yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=False)

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    atomic_write(Path(path), write)
    return Path(path)


def describe_keys() -> list[tuple[str, Any, str]]:
    """(dotted key, default, doc) for every key: for help text and the docs in configs/."""
    rows: list[tuple[str, Any, str]] = []
    for f in dataclasses.fields(Config):
        if f.name in SECTIONS:
            for sf in dataclasses.fields(SECTIONS[f.name]):
                rows.append((f"{f.name}.{sf.name}", sf.default, sf.metadata.get("doc", "")))
        else:
            rows.append((f.name, f.default, f.metadata.get("doc", "")))
    return rows


# ---- internals ----


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    if len(parts) > 2:
        raise ConfigError(f"unknown config key '{key}' (keys are section.name, e.g. train.lr, or out, seed)")
    if len(parts) == 2:
        section, name = parts
        if section not in SECTIONS:
            if section in {f.name for f in dataclasses.fields(Config)}:
                raise ConfigError(
                    f"unknown config key '{key}' ('{section}' is a plain value, use --set {section}=...)"
                )
            raise ConfigError(f"unknown config key '{key}' (sections: {', '.join(SECTIONS)})")
        node = tree.setdefault(section, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key '{section}' must be a mapping of keys, got {show(node)}")
        node[name] = value
    else:
        tree[key] = value


def _build_section(section: str, cls: type, value: Any) -> Any:
    if value is None:
        return cls()
    if not isinstance(value, dict):
        raise ConfigError(f"config key '{section}' must be a mapping of keys, got {show(value)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, v in value.items():
        if name not in fields:
            raise ConfigError(
                f"unknown config key '{section}.{name}' (valid keys in {section}: {', '.join(fields)})"
            )
        kwargs[name] = check_value(f"{section}.{name}", fields[name], v, cls)
    return cls(**kwargs)
