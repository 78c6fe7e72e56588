"""Multi-label losses over sigmoid outputs: one independent yes/no per tag, never a softmax.

Both losses sum over the tags of an image and average over images, so their scale does not
shrink as the vocabulary grows (a mean over 997 tags would make every gradient 997x smaller).
They compute in float32 even under autocast: log-sigmoid in bf16 loses the small margins
that rare tags live on.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class MultiLabelBCE(nn.Module):
    """Binary cross-entropy with logits, summed over tags, averaged over images."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="sum")
        return loss / max(1, logits.shape[0])


class AsymmetricLoss(nn.Module):
    """ASL (Ridnik et al., ICCV 2021): focus on hard negatives and discard the easiest ones.

    With hundreds of tags an image has a handful of positives and hundreds of negatives; plain
    BCE lets the easy negatives dominate. ASL down-weights negatives by p**gamma_neg, shifts
    their probability by `clip` (so negatives with p < clip cost nothing) and keeps positives
    at gamma_pos (0: plain log-likelihood).
    """

    def __init__(self, gamma_neg: float = 4.0, gamma_pos: float = 0.0, clip: float = 0.05, eps: float = 1e-8):
        super().__init__()
        self.gamma_neg = gamma_neg
        self.gamma_pos = gamma_pos
        self.clip = clip
        self.eps = eps

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, targets = logits.float(), targets.float()
        p = torch.sigmoid(logits)
        p_neg = 1.0 - p
        if self.clip > 0:
            p_neg = (p_neg + self.clip).clamp(max=1.0)
        loss = targets * torch.log(p.clamp(min=self.eps)) + (1 - targets) * torch.log(
            p_neg.clamp(min=self.eps)
        )
        if self.gamma_neg > 0 or self.gamma_pos > 0:
            pt = p * targets + p_neg * (1 - targets)
            gamma = self.gamma_pos * targets + self.gamma_neg * (1 - targets)
            loss = loss * torch.pow(1 - pt, gamma)
        return -loss.sum() / max(1, logits.shape[0])


def build_loss(name: str, *, gamma_neg: float = 4.0, gamma_pos: float = 0.0, clip: float = 0.05) -> nn.Module:
    """The loss named by `train.loss`."""
    if name == "asl":
        return AsymmetricLoss(gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip)
    return MultiLabelBCE()
