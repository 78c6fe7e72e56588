"""Every allowed-value list of the CLI and the library, defined once: options, config checks, help and tests
import them from here. Standard library only (commands import it at start-up)."""

from __future__ import annotations

#: Where a model runs, and at what precision (runtime.py applies them).
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: What runs a model: auto = ONNX Runtime for built-in models and exports (no torch needed), PyTorch for
#: checkpoints, a custom --vocab, an accelerator or a bf16/fp16 precision.
RUNTIMES = ("auto", "onnx", "openvino", "torch")
#: How `predict` spreads its work (--engine).
ENGINES = ("local", "ray")

#: `predict --format`, `evaluate --format`, and the listing commands' `--format` (models, tags, dataset).
PREDICT_FORMATS = ("text", "json", "jsonl", "csv", "none")
REPORT_FORMATS = ("table", "json", "csv")
LIST_FORMATS = ("text", "json")

#: `export --format` and `export --precision` (the weights an export holds).
EXPORT_FORMATS = ("onnx", "openvino")
EXPORT_WEIGHTS = ("fp32", "int8")

#: A dataset's splits; `evaluate --split` also takes `val` (validation) and `all`.
SPLITS = ("train", "validation", "test")
EVALUATE_SPLITS = ("train", "validation", "val", "test", "all")

#: `--sidecar-name`: full = photo.jpg.xmp (digiKam, darktable, Immich); base = photo.xmp (Lightroom).
SIDECAR_NAMES = ("full", "base")

#: Trainable models' feature extractors (`model.backbone` in a training config).
BACKBONES = ("resnet18", "efficientnet_lite0")
#: Dataset layouts `data.format` names (auto detects one of them).
DATA_FORMATS = ("harrison", "manifest", "folder")
