"""The fine-tuned multi-label classifier: ImageNet backbone -> dropout -> linear head, one sigmoid per tag.

`Classifier` is the nn.Module that `hashtagger train` optimises; `ClassifierTagger` wraps a
trained one behind the `Tagger` interface so `predict --model CHECKPOINT` and `evaluate` use
it exactly like the built-in models. The checkpoint alone rebuilds it: architecture,
vocabulary, preprocessing and (optionally) calibrated thresholds are all inside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hashtagger.errors import CheckpointError
from hashtagger.image.preprocess import Preprocessing
from hashtagger.models.backbones import create_backbone
from hashtagger.models.base import Tagger


class Classifier(nn.Module):
    """backbone (pooled features) -> dropout -> linear head over the vocabulary (logits)."""

    def __init__(
        self,
        backbone: nn.Module,
        num_features: int,
        num_tags: int,
        dropout: float = 0.7,
        freeze_backbone: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(num_features, num_tags)
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self.backbone.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.backbone(x)))

    def train(self, mode: bool = True) -> Classifier:
        """A frozen backbone stays in eval mode: its BatchNorm statistics must not drift either."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def init_head_bias(self, tag_counts: Sequence[int], num_images: int) -> None:
        """Start each tag's logit at its training frequency (log-odds): with hundreds of rare tags,
        the first steps otherwise go to learning that almost every tag is absent."""
        with torch.no_grad():
            for i, count in enumerate(tag_counts):
                p = min(max(count / max(1, num_images), 1e-4), 1 - 1e-4)
                self.head.bias[i] = math.log(p / (1 - p))


class FeatureHead(nn.Module):
    """The classifier's dropout + head alone, for training on cached backbone features (shares weights)."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.dropout = classifier.dropout
        self.head = classifier.head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features))


def build_classifier(
    backbone: str, pretrained: str, num_tags: int, dropout: float, freeze_backbone: bool = False
) -> Classifier:
    """A Classifier from the model config's values (backbone weights per `pretrained`)."""
    module, num_features = create_backbone(backbone, pretrained)
    return Classifier(module, num_features, num_tags, dropout, freeze_backbone)


def architecture(model: Classifier, backbone: str) -> dict[str, Any]:
    """What a checkpoint needs to rebuild the module before loading its weights."""
    return {
        "backbone": backbone,
        "num_features": model.head.in_features,
        "num_tags": model.head.out_features,
        "dropout": float(model.dropout.p),
    }


class ClassifierTagger(Tagger):
    """A trained classifier checkpoint behind the Tagger interface: sigmoid probability per tag."""

    kind = "classifier"

    def __init__(
        self,
        model: Classifier,
        vocabulary: list[str],
        preprocessing: Preprocessing,
        thresholds: list[float] | None = None,
        tag_counts: list[int] | None = None,
    ) -> None:
        self.model = model.eval()
        self.vocabulary = vocabulary
        self.preprocessing = preprocessing
        self.thresholds = thresholds
        self.tag_counts = tag_counts
        self.device = "cpu"
        self.precision = "fp32"

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> ClassifierTagger:
        """Rebuild from a loaded checkpoint dict (see hashtagger.models.checkpoint); one-line errors."""
        arch = ckpt.get("arch")
        state = ckpt.get("state_dict")
        if not isinstance(arch, dict) or not isinstance(state, dict):
            raise CheckpointError("classifier checkpoint lacks 'arch' or 'state_dict'")
        vocabulary = [str(t) for t in ckpt["vocabulary"]]
        try:
            backbone = str(arch["backbone"])
            dropout = float(arch.get("dropout", 0.0))
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"classifier checkpoint has a malformed 'arch' ({e})") from None
        model = build_classifier(backbone, "none", len(vocabulary), dropout)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0][:200]
            raise CheckpointError(
                f"classifier weights do not fit a {backbone} over {len(vocabulary)} tags ({first})"
            ) from None
        thresholds = ckpt.get("thresholds")
        if thresholds is not None:
            thresholds = [
                float(t) for t in (thresholds.tolist() if torch.is_tensor(thresholds) else thresholds)
            ]
            if len(thresholds) != len(vocabulary):
                raise CheckpointError(
                    f"checkpoint has {len(thresholds)} thresholds for {len(vocabulary)} tags"
                )
        counts = ckpt.get("tag_counts")
        return cls(
            model,
            vocabulary,
            Preprocessing.from_dict(ckpt["preprocessing"]),
            thresholds,
            [int(c) for c in counts] if counts is not None else None,
        )

    def to(self, device: str) -> ClassifierTagger:
        self.device = str(device)
        self.model.to(self.device)
        if torch.device(self.device).type != "mps":
            self.model.to(memory_format=torch.channels_last)
        return self

    def set_precision(self, precision: str) -> None:
        self.precision = precision

    def tag(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 NCHW -> (N, V) sigmoid probabilities (float32, on the CPU)."""
        from hashtagger.runtime import autocast, device_type, forward

        with torch.inference_mode():
            x = self.preprocessing.normalize(batch.to(self.device, non_blocking=True))
            if device_type(self.device) != "mps":
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(self.device, self.precision):
                logits = forward(self.model, x, self.device)
            return self.scores_from_logits(logits).cpu()

    def export_head(self) -> tuple[Any, Any, tuple[str, ...]]:
        """The network, then the sigmoid: one `scores` output; thresholds travel in the metadata."""
        from hashtagger.models.exported import OUTPUT

        return self.model, self.scores_from_logits, (OUTPUT,)

    @staticmethod
    def scores_from_logits(logits: torch.Tensor) -> torch.Tensor:
        """Logits -> per-tag probabilities (also what the ONNX export traces)."""
        return torch.sigmoid(logits.float())

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["backbone"] = type(self.model.backbone).__name__
        return info
