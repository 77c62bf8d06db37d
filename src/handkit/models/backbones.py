"""The backbone registry: every method builds its image encoder here (STYLE.md R7).

A backbone maps an image batch to one feature map and never downloads anything:

- ``forward(x)``: (B, 3, H, W) float → (B, out_channels, H / stride, W / stride) (rounded as the
  convolutions round; no pooling);
- ``forward_pooled(x)``: (B, out_channels), the global average of that map (what SimCLR/PeCLR/
  SiMHand and RN_25D_wMLPref feed their heads, specs/pretrain.md §1.1, §3.1);
- attributes ``out_channels`` and ``stride``.

Registered names (`list_backbones()`):

- ``resnet18/34/50/101/152``: torchvision ResNets (He et al., CVPR 2016), always ``weights=None``.
  Their children keep torchvision's names (``conv1``, ``bn1``, ``layer1``…``layer4`` and, when
  ``num_classes`` is given, ``fc``), so the state dict *is* a torchvision state dict: the
  PeCLR/SiMHand release files (specs/pretrain.md §5) load without renaming. Stride 32.
- ``hrnet_w18``, ``hrnet_w32``: timm HRNets (Sun et al., CVPR 2019), ``pretrained=False``,
  returning the highest-resolution branch of the last stage (``feature_location=''``), stride 4,
  18 / 32 channels. This is DIGIT's "pose HRNet without its final layer" output
  (specs/digit.md §1.2: (B, 32, 64, 64) for a 256-px input); state-dict keys are timm's, which
  are also the ImageNet ``hrnet_w32-36af842e.pth`` names. The last module fuses into the
  highest-resolution branch only (the pose HRNet's ``multi_scale_output=False``), so hrnet_w32
  has DIGIT's 28,535,552 parameters and none is unused.

Everything is channels-last friendly: ``backbone.to(memory_format=torch.channels_last)`` with a
channels-last input works and gives the same numbers.

timm's HRNet keys live under ``net.``; `models.weights.load_weights` finds that prefix, so timm /
ImageNet files in timm's naming load as they are.

Example:
    >>> net = create_backbone("resnet18")
    >>> net(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2, 512, 2, 2])
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torchvision
from torch import Tensor, nn

from handkit.models.weights import load_weights
from handkit.utils.check import check_shape
from handkit.utils.registry import Registry

__all__ = [
    "Backbone",
    "ResNetBackbone",
    "HRNetBackbone",
    "register_backbone",
    "create_backbone",
    "list_backbones",
    "check_image",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The per-channel RGB mean and std (images in [0, 1]) every ImageNet-style backbone expects."""



class Backbone(nn.Module):
    """Base class: a feature extractor with ``out_channels`` and ``stride``.

    Subclasses implement `forward`. `forward_pooled` is global average pooling of `forward`
    (torchvision's ``AdaptiveAvgPool2d(1)`` + flatten).
    """

    out_channels: int
    stride: int

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """x: (B, 3, H, W) float, normalised image → (B, out_channels, h, w) float."""
        raise NotImplementedError

    def forward_pooled(self, x: Tensor) -> Tensor:
        """x: (B, 3, H, W) float → (B, out_channels) float, the spatial mean of `forward(x)`."""
        return self.forward(x).mean(dim=(2, 3))

    def ignored_weight_keys(self) -> tuple[str, ...]:
        """Key prefixes of known checkpoint formats that this backbone does not use.

        `models.weights.load_weights` drops them quietly (e.g. a torchvision ``fc`` when the
        backbone has none); any other unused key is reported.
        """
        return ()


class ResNetBackbone(Backbone):
    """A torchvision ResNet cut before the pooling, with torchvision's child names.

    Args:
        arch: ``resnet18``, ``resnet34``, ``resnet50``, ``resnet101`` or ``resnet152``.
        num_classes: if given, a ``fc = Linear(out_channels, num_classes)`` is kept (torchvision's
            name), applied by `forward_head`; RN_25D_wMLPref uses it (64 outputs).
    """

    def __init__(self, arch: str, *, num_classes: int | None = None):
        super().__init__()
        net = getattr(torchvision.models, arch)(weights=None)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            self.add_module(name, getattr(net, name))
        self.arch = arch
        self.out_channels = net.fc.in_features
        self.stride = 32
        if num_classes is not None:
            if num_classes < 1:
                raise ValueError(f"num_classes: expected a positive int or None, got {num_classes}.")
            self.fc = nn.Linear(self.out_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: Tensor) -> Tensor:
        """x: (B, 3, H, W) → (B, num_classes): ``fc(forward_pooled(x))``, torchvision's forward."""
        if not hasattr(self, "fc"):
            raise ValueError(f"{self.arch}: built without num_classes, so it has no fc; "
                             f"use create_backbone({self.arch!r}, num_classes=N).")
        return self.fc(self.forward_pooled(x))

    def ignored_weight_keys(self) -> tuple[str, ...]:
        # PeCLR/SiMHand pre-training files also hold the encoder's unused `final_layer`.
        return ("final_layer.",) if hasattr(self, "fc") else ("fc.", "final_layer.")


class HRNetBackbone(Backbone):
    """timm HRNet, highest-resolution branch of the last stage (stride 4), ``pretrained=False``.

    Args:
        arch: a timm HRNet name (``hrnet_w18``, ``hrnet_w32``).
    """

    def __init__(self, arch: str):
        super().__init__()
        import timm  # local: timm import is slow and only HRNet needs it

        self.net = timm.create_model(arch, pretrained=False, features_only=True,
                                     feature_location="", out_indices=(1,))
        # Keep only the fuse into the highest-resolution branch in the last module, as the pose
        # HRNet's `multi_scale_output=False` does: no unused parameters (DDP-safe), and
        # hrnet_w32 then has DIGIT's 28,535,552 parameters.
        last = self.net.stage4[-1]
        self._dropped_fuse = len(last.fuse_layers) - 1
        last.fuse_layers = last.fuse_layers[:1]
        last.multi_scale_output = False
        self._last_fuse = f"stage4.{len(self.net.stage4) - 1}.fuse_layers."
        self.arch = arch
        self.out_channels = int(self.net.feature_info.channels()[0])
        self.stride = int(self.net.feature_info.reduction()[0])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)[0]

    def ignored_weight_keys(self) -> tuple[str, ...]:
        # The classification head of timm's ImageNet files (DIGIT loads those with strict=False).
        return ("incre_modules.", "downsamp_modules.", "final_layer.", "classifier.") + tuple(
            f"{self._last_fuse}{i}." for i in range(1, 1 + self._dropped_fuse))


_BACKBONES: Registry[Backbone] = Registry("backbone", "list_backbones()")


def register_backbone(name: str) -> Callable[[Callable[..., Backbone]], Callable[..., Backbone]]:
    """Decorator: register a builder ``fn(**options) -> Backbone`` under `name`.

    Raises:
        ValueError: `name` is already registered.
    """
    return _BACKBONES.register(name)


def list_backbones(pattern: str | None = None) -> list[str]:
    """Sorted registered names, optionally filtered by a shell pattern (``"resnet*"``)."""
    return _BACKBONES.names(pattern)


def create_backbone(name: str, *, weights: str | Path | None = None, **options) -> Backbone:
    """Build a registered backbone, randomly initialised or from a local weights file.

    Args:
        name: a `list_backbones()` name.
        weights: optional local file (``torch.load(weights_only=True)``): a torchvision-format
            state dict (top level or under ``["state_dict"]``), a PeCLR/SiMHand Lightning checkpoint
            (``encoder.features.N.*``), or any handkit checkpoint holding this backbone under a
            prefix; see `models.weights.load_weights`. Nothing is ever downloaded.
        **options: the builder's keyword options (e.g. ``num_classes`` for ResNets); an unknown
            option is a ValueError listing the accepted ones.

    Raises:
        ValueError: unknown name (with a did-you-mean), unknown option, or a weights file that
            does not fit (missing keys, wrong shapes; the message names the file and key).
        FileNotFoundError: `weights` does not exist.
    """
    backbone = _BACKBONES.build(name, **options)
    if weights is not None:
        load_weights(backbone, weights)
    return backbone


def check_image(x: Tensor, name: str = "x") -> None:
    """Check a (B, 3, H, W) float image batch at a model's public boundary."""
    check_shape(x, "B 3 H W", name=name, hint="Images are (B, 3, H, W) float, normalised.")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a float tensor, got {x.dtype}; convert and normalise "
                         "the image first.")


def _register_resnet(arch: str) -> None:
    def build(num_classes: int | None = None) -> Backbone:
        return ResNetBackbone(arch, num_classes=num_classes)
    build.__doc__ = f"torchvision {arch}, weights=None, stride 32."
    register_backbone(arch)(build)


def _register_hrnet(arch: str) -> None:
    def build() -> Backbone:
        return HRNetBackbone(arch)
    build.__doc__ = f"timm {arch}, pretrained=False, highest-resolution branch, stride 4."
    register_backbone(arch)(build)


for _arch in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
    _register_resnet(_arch)
for _arch in ("hrnet_w18", "hrnet_w32"):
    _register_hrnet(_arch)
