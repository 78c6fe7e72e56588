"""The one interface every model kind implements: load once, tag a batch -> scores over a vocabulary."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from hashtagger.image.preprocess import Preprocessing

if TYPE_CHECKING:
    import numpy as np
    import torch


class Tagger(ABC):
    """A loaded model that scores every tag of its vocabulary for a batch of photos.

    Subclasses set `kind`, `vocabulary` (list of tag strings, no '#'), `preprocessing`
    (how the pipeline turns a path into the uint8 tensor `tag` receives) and optionally
    `thresholds` (per-tag score cut-offs fitted by `evaluate --calibrate`).
    """

    kind: str = "base"
    vocabulary: list[str]
    preprocessing: Preprocessing
    thresholds: list[float] | None = None
    name: str = ""
    #: Score at which a tag counts as predicted when no calibrated thresholds exist (sigmoid: 0.5).
    default_threshold: float = 0.5
    #: False for models run by another runtime (ONNX Runtime, OpenVINO): the pipeline never imports torch.
    uses_torch: bool = True
    #: Where it runs once prepared (runtime.prepare): "cpu", "cuda", "mps".
    device: str = "cpu"
    #: What `--precision auto` means for this model on a CPU (None: bf16 where the CPU runs it fast).
    cpu_auto_precision: str | None = None

    @abstractmethod
    def tag(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 NCHW batch (made by `preprocessing.load_array`) -> float (N, V) scores, higher = better."""

    def score(self, batch: np.ndarray) -> np.ndarray:
        """uint8 NCHW numpy batch -> float32 (N, V) numpy scores: what the pipeline calls."""
        import torch

        return self.tag(torch.from_numpy(batch)).float().cpu().numpy()

    def score_explained(self, batch: np.ndarray) -> tuple[np.ndarray, Any]:
        """Scores and, for models that rank with tag statistics, their parts (a hashtagger.rank.Ranked)."""
        return self.score(batch), None

    @property
    def prior_weight(self) -> float | None:
        """Weight of the tag statistics in the ranking (zero-shot models); None: ranked by scores alone."""
        return None

    def set_prior_weight(self, weight: float) -> None:
        """Rank with another weight of the tag statistics (--prior-weight, serve's ?prior_weight=)."""
        from hashtagger.errors import InputError

        raise InputError(
            f"--prior-weight applies to zero-shot models only; {self.kind} ranks by its own scores"
        )

    #: The tag statistics it ranks with (zero-shot models and their exports); None: it ranks by its scores.
    social: Any = None

    def with_social(self, social: Any) -> Tagger:
        """Rank with other tag statistics (a user's --profile); only a model that has `social` can."""
        from hashtagger.errors import InputError

        raise InputError(f"{self.kind} ranks by its own scores, not with tag statistics")

    def export_head(self) -> tuple[Any, Any, tuple[str, ...]] | None:
        """What `hashtagger export` traces: (its network, the head run on the network's output, the output
        names); None for a model with no network graph."""
        return None

    def ranking_metadata(self) -> dict[str, Any]:
        """What an export must carry to rank its `content` output as this model ranks (rules, label
        embeddings, the detector steps' settings); {} for a model that ranks by its own scores."""
        return {}

    def to(self, device: str) -> Tagger:  # noqa: B027 - optional hook
        """Move weights to a device; models without weights ignore it."""
        return self

    def set_precision(self, precision: str) -> None:  # noqa: B027 - optional hook
        """'fp32' | 'bf16' | 'fp16': the autocast dtype used inside `tag`."""

    def describe(self) -> dict[str, Any]:
        """A short summary for `--verbose` output and evaluation tables."""
        return {"kind": self.kind, "name": self.name, "tags": len(self.vocabulary)}
