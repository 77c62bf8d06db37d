"""The one ResNet encoder inside a model: initialise it from a pre-trained file, or write it out
in the torchvision release format (specs/pretrain.md §5).

Key layouts and file reading are `models.weights`; this module adds what needs to know which
module *is* the encoder (`models.backbones.ResNetBackbone`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from handkit.models.backbones import ResNetBackbone
from handkit.models.weights import LoadReport, load_weights
from handkit.utils.check import check_choice
from handkit.utils.files import atomic_path

__all__ = ["load_encoder", "save_torchvision"]

_CONTAINERS = {"state_dict": True, "top": False}


def _find_resnet(module: nn.Module) -> nn.Module:
    if isinstance(module, ResNetBackbone):
        return module
    found = [m for m in module.modules() if isinstance(m, ResNetBackbone)]
    if len(found) != 1:
        raise ValueError(f"module: expected exactly one ResNet backbone inside "
                         f"{type(module).__name__}, found {len(found)}.")
    return found[0]


def load_encoder(module: nn.Module, weights: str | Path | Mapping[str, Tensor]) -> LoadReport:
    """Initialise the one ResNet backbone inside any model from a pre-trained encoder file.

    Accepts every format of `load_weights` (torchvision release files, PeCLR/SiMHand Lightning
    checkpoints, handkit checkpoints). The backbone's ``fc`` (task-specific, e.g. RN25D's 64
    outputs) and PeCLR's ``final_layer`` are neither loaded nor required.

    Raises:
        ValueError: `module` holds no or several ResNet backbones, or the file does not fit.
    """
    return load_weights(_find_resnet(module), weights, skip=("fc.", "final_layer."))


def save_torchvision(
    module: nn.Module,
    path: str | Path,
    *,
    container: Literal["state_dict", "top"] = "state_dict",
    include_fc: bool = False,
) -> dict[str, Tensor]:
    """Write the ResNet encoder of `module` as a plain torchvision state dict (the release format).

    The file loads with ``torchvision.models.resnet50().load_state_dict(sd, strict=False)``
    (only ``fc.*`` missing) and with `load_weights` into any handkit ResNet model.

    Args:
        module: a `ResNetBackbone` or a model holding exactly one (RN25D, DetNet, a pre-training
            task).
        path: output file.
        container: ``"state_dict"`` stores ``{"state_dict": sd}`` as PeCLR's release does;
            ``"top"`` stores ``sd`` itself as SiMHand's hub file does.
        include_fc: keep the backbone's ``fc`` (if it has one; it is task-specific).

    Returns:
        The saved state dict (torchvision keys, CPU tensors, 318 for ResNet-50 without fc).
    """
    check_choice(container, _CONTAINERS, name="container")
    backbone = _find_resnet(module)
    sd = {k: v.detach().cpu().clone() for k, v in backbone.state_dict().items()
          if include_fc or not k.startswith("fc.")}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": sd} if _CONTAINERS[container] else sd, tmp)
    return sd
