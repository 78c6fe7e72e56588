"""A Tagger's scoring path as one torch module, ready to trace: uint8 images in, scores out.

The module calls the tagger's own code (`Preprocessing.normalize`, the network, `ZeroShotTagger.conse`
and `blend_scores`, `ClassifierTagger.scores_from_logits`), so the export and PyTorch share one
scoring path; thresholds are never baked in.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hashtagger.errors import ExportError
from hashtagger.image.preprocess import Preprocessing
from hashtagger.models.base import Tagger
from hashtagger.models.exported import OUTPUT


class ScoringGraph(nn.Module):
    """uint8 NCHW `images` -> float32 (N, V) `scores` (and for zero-shot models (N, V) `content`)."""

    def __init__(
        self, net: nn.Module, preprocessing: Preprocessing, head: Callable[[torch.Tensor], torch.Tensor]
    ) -> None:
        super().__init__()
        self.net = net
        self.preprocessing = preprocessing
        self.head = head
        self.outputs: tuple[str, ...] = (OUTPUT,)
        # The exporter restores the module's own mode afterwards: it must be eval, or the shared
        # network (the loaded tagger's) would be left in training mode (dropout on).
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return self.head(self.net(self.preprocessing.normalize(images)))


def scoring_graph(tagger: Tagger) -> ScoringGraph:
    """The traceable module of a loaded (fp32, CPU) tagger, from what it declares (`Tagger.export_head`);
    ExportError for kinds with no graph."""
    parts = tagger.export_head()
    if parts is not None:
        net, head, outputs = parts
        graph = ScoringGraph(net, tagger.preprocessing, head)
        graph.outputs = outputs
        return graph
    raise ExportError(
        f"{tagger.name}: a {tagger.kind} model cannot be exported (only zero-shot models and trained "
        "classifiers have a network graph; bovw_svm runs SIFT in OpenCV)"
    )
