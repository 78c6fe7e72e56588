"""Zero-shot tagging: ConSE (Norouzi et al., 2014) blended with how people tag photos.

visual:  an ImageNet classifier's top-T class probabilities weight the classes' text embeddings;
         the mean embedding's cosine similarity with each tag's embedding is the visual score s_t.
blend:   q = softmax(s / tau)                              what the photo shows, as a distribution
         c = q @ P(t | v)                                   tags people use alongside those tags
         pi = tag popularity                                tags people use on any photo
         score = (1 - w) * q + w * (beta * c + (1 - beta) * pi)
w (prior_weight) = 0 is plain ConSE. The defaults and how they were chosen are in BLEND below and
scripts/tune_blend.py. HierSE differs only in the label embeddings (see hierse.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hashtagger.errors import InputError
from hashtagger.image.preprocess import EFFICIENTNET_LITE, Preprocessing
from hashtagger.models.base import Tagger
from hashtagger.models.labels import load_npz
from hashtagger.models.tagstats import load_tag_stats

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Blend:
    """Blend parameters; see scripts/tune_blend.py for how the defaults were chosen."""

    top_classes: int = 10  # T in ConSE
    tau: float = 0.25  # softmax temperature on cosine similarities
    prior_weight: float = 0.25  # w: share of the social (tag statistics) part
    cooc_share: float = 0.5  # beta: co-occurrence vs plain popularity inside the social part


BLEND = Blend()


class ZeroShotTagger(Tagger):
    """ImageNet classifier + label embeddings + tag statistics; no training needed."""

    def __init__(
        self,
        classifier: torch.nn.Module,
        class_embeddings: np.ndarray,
        vocabulary: list[str],
        label_embeddings: np.ndarray,
        blend: Blend = BLEND,
        preprocessing: Preprocessing = EFFICIENTNET_LITE,
        kind: str = "zeroshot",
    ) -> None:
        import torch

        self.kind = kind
        self.name = kind
        self.vocabulary = vocabulary
        self.preprocessing = preprocessing
        self.blend = blend
        self.thresholds = None
        # scores form a distribution over the vocabulary: a tag counts as predicted at twice the uniform share
        self.default_threshold = 2.0 / len(vocabulary)
        self.classifier = classifier.eval().to(memory_format=torch.channels_last)
        self.device = "cpu"
        self.precision = "fp32"
        self._class_emb = torch.from_numpy(_unit(class_embeddings))
        self._label_emb = torch.from_numpy(_unit(label_embeddings))
        prior, cond = load_tag_stats().restrict(vocabulary)
        self._prior = torch.from_numpy(prior)
        self._cond = torch.from_numpy(cond)

    def to(self, device: str) -> ZeroShotTagger:
        self.device = device
        self.classifier.to(device)
        for name in ("_class_emb", "_label_emb", "_prior", "_cond"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def set_precision(self, precision: str) -> None:
        self.precision = precision

    def visual_scores(self, batch: torch.Tensor) -> torch.Tensor:
        """ConSE cosine similarity of each photo with each label, (N, V) in [-1, 1]."""
        import torch

        from hashtagger.runtime import autocast

        x = self.preprocessing.normalize(batch.to(self.device)).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(self.device, self.precision):
            logits = self.classifier(x)
        return self.conse(logits)

    def conse(self, logits: torch.Tensor) -> torch.Tensor:
        """ImageNet logits -> ConSE similarities; plain tensor ops, so the ONNX export traces this code."""
        import torch

        probs = logits.float().softmax(dim=-1)
        top_p, top_i = probs.topk(self.blend.top_classes, dim=-1)
        mixed = (top_p.unsqueeze(-1) * self._class_emb[top_i]).sum(1)
        mixed = torch.nn.functional.normalize(mixed, dim=-1)
        return mixed @ self._label_emb.T

    def tag(self, batch: torch.Tensor) -> torch.Tensor:
        return self.blend_scores(self.visual_scores(batch))

    def blend_scores(self, sims: torch.Tensor) -> torch.Tensor:
        """Mix visual similarities with tag statistics into one score per tag (a distribution)."""
        b = self.blend
        q = (sims / b.tau).softmax(dim=-1)
        if b.prior_weight <= 0:
            return q
        social = b.cooc_share * (q @ self._cond) + (1.0 - b.cooc_share) * self._prior
        return (1.0 - b.prior_weight) * q + b.prior_weight * social

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "prior_weight": self.blend.prior_weight}


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def load_conse(*, vocabulary: list[str] | None = None, prior_weight: float | None = None) -> ZeroShotTagger:
    """The registry's `zeroshot`: ConSE with plain label embeddings, optionally over your own tags."""
    return load_builtin("zeroshot", vocabulary=vocabulary, prior_weight=prior_weight)


def load_hierse(*, vocabulary: list[str] | None = None, prior_weight: float | None = None) -> ZeroShotTagger:
    """The registry's `hierse`: label embeddings summed over the WordNet hierarchy."""
    return load_builtin("hierse", vocabulary=vocabulary, prior_weight=prior_weight)


def load_builtin(
    name: str,
    *,
    vocabulary: list[str] | None = None,
    prior_weight: float | None = None,
) -> ZeroShotTagger:
    """The shipped zero-shot models ('zeroshot' = ConSE, 'hierse' = HierSE), optionally on your vocabulary."""
    from dataclasses import replace

    from hashtagger.models.backbones import efficientnet_lite0_imagenet

    if prior_weight is not None and not 0.0 <= prior_weight <= 1.0:
        raise InputError(f"--prior-weight {prior_weight}: must be between 0 and 1")
    blend = BLEND if prior_weight is None else replace(BLEND, prior_weight=float(prior_weight))
    if name == "hierse":
        from hashtagger.models.hierse import hierse_embeddings

        class_emb, vocabulary, label_emb = hierse_embeddings(vocabulary)
    else:
        data = load_npz("conse_embeddings.npz")
        class_emb = data["class_embeddings"]
        if vocabulary is None:
            vocabulary = [str(t) for t in data["vocabulary"]]
            label_emb = data["vocab_embeddings"]
        else:
            from hashtagger.models.textembed import embed_vocabulary_cached

            vocabulary = list(vocabulary)
            label_emb = embed_vocabulary_cached(vocabulary)
    return ZeroShotTagger(efficientnet_lite0_imagenet(), class_emb, vocabulary, label_emb, blend, kind=name)
