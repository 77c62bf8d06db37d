"""One interface over the fine-tuning models (RN_25D_wMLPref and minimal-hand's DetNet).

`PoseNet` wraps either model so that training, evaluation, prediction and ONNX export see the
same thing: ``forward(image, K) -> (uv, xyz)`` on a square crop, right hands, handkit order with
the wrist at 0. What differs is said by attributes, not by flags that change meanings:

- ``rn25d``: xyz is **absolute** camera-frame 3D in units of the middle MCP–PIP bone (multiply by
  FreiHAND's ``*_scale`` for meters); uv = projection of xyz with K (the model's own 2D for
  joints 1-20; the wrist's = 2 · palm − middle MCP). Input: ImageNet mean/std; official 224 px.
- ``detnet``: xyz is **wrist-relative** 3D in units of the wrist–middle-MCP bone (no depth, no
  K); uv = the heatmap argmax cell centre. Input ``x / 255 − 0.5``; official 128 px.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from handkit.geometry.camera import project
from handkit.hand.skeleton import JOINT_NAMES
from handkit.models.backbones import IMAGENET_MEAN, IMAGENET_STD
from handkit.utils.check import check_choice

__all__ = ["ModelConfig", "PoseNet", "build_posenet", "MODEL_KINDS", "IMAGENET_MEAN",
           "IMAGENET_STD"]


@dataclass(frozen=True)
class _Kind:
    normalize: tuple[tuple[float, ...], tuple[float, ...]]
    bone: tuple[str, str]      # the unit of xyz
    absolute: bool             # xyz is camera-frame (True) or wrist-relative (False)


MODEL_KINDS: dict[str, _Kind] = {
    "rn25d": _Kind((IMAGENET_MEAN, IMAGENET_STD), ("middle_mcp", "middle_pip"), True),
    "detnet": _Kind(((0.5, 0.5, 0.5), (1.0, 1.0, 1.0)), ("wrist", "middle_mcp"), False),
}


@dataclass
class ModelConfig:
    """Attributes:
        name: "rn25d" (RN_25D_wMLPref) or "detnet" (minimal-hand DetNet).
        backbone: a registry name; official rn25d resnet50/resnet152, detnet resnet50.
        image_size: square input side in pixels (official rn25d 224, detnet 128).
        root: rn25d only: what slot 0 of its 2.5D holds, "palm" (released FreiHAND model)
            or "wrist".
    """

    name: Literal["rn25d", "detnet"] = "rn25d"
    backbone: str = "resnet50"
    image_size: int = 224
    root: Literal["palm", "wrist"] = "palm"


class PoseNet(nn.Module):
    """A fine-tuning model behind the common ``(image, K) -> (uv, xyz)`` interface.

    Args:
        model: an `RN25D` or a `DetNet`, stored as ``self.model``.
        cfg: which model it is and its input size.
    """

    def __init__(self, model: nn.Module, cfg: ModelConfig):
        super().__init__()
        check_choice(cfg.name, MODEL_KINDS, name="model.name")
        self.model, self.cfg = model, cfg
        self.kind = MODEL_KINDS[cfg.name]
        self.bone_index = tuple(JOINT_NAMES.index(j) for j in self.kind.bone)

    @property
    def normalize(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) per RGB channel in [0, 1] units: input = (x / 255 − mean) / std."""
        return self.kind.normalize

    def preprocess(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) uint8 RGB → the model's normalised float input."""
        mean, std = (torch.tensor(v, device=images.device)[:, None, None] for v in self.normalize)
        return (images.float() / 255.0 - mean) / std

    def forward(self, image: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
        """Predict keypoints on crops.

        Args:
            image: (B, 3, S, S) float, normalised (`preprocess`).
            K: (B, 3, 3) float intrinsics of the crop, pixels (ignored by detnet).

        Returns:
            uv: (B, 21, 2) float, crop pixels, handkit order, wrist at 0.
            xyz: (B, 21, 3) float in bone units (see the module docstring for each kind).
        """
        if self.cfg.name == "rn25d":
            xyz = self.model(image, K).xyz
            return project(xyz, K), xyz
        out = self.model(image)
        return out.uv, out.xyz


def build_posenet(cfg: ModelConfig) -> PoseNet:
    """A randomly initialised `PoseNet` (rn25d's fc bias starts at the crop centre)."""
    check_choice(cfg.name, MODEL_KINDS, name="model.name")
    if cfg.image_size < 32 or cfg.image_size % 32:
        raise ValueError(f"model.image_size: must be a multiple of 32 (>= 32), got "
                         f"{cfg.image_size}.")
    if cfg.name == "rn25d":
        from handkit.models.rn25d import RN25D

        model = RN25D(cfg.backbone, root=cfg.root)
        # Chosen (official: torchvision's default init): uv regressed in pixels start at the
        # crop centre instead of 0, which saves the first thousands of steps.
        with torch.no_grad():
            bias = model.backend_model.fc.bias
            bias[0:63:3] = cfg.image_size / 2
            bias[1:63:3] = cfg.image_size / 2
    else:
        from handkit.models.minimal_hand import DetNet

        model = DetNet(cfg.backbone)
    return PoseNet(model, cfg)
