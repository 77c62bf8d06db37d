"""A toy method in a file of its own: what "adding a method" takes (docs/architecture.md).

Registering it is the whole integration: finetune, evaluate and predict find it by name.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from handkit.models.posenet import PoseNet
from handkit.models.registry import ModelConfig, register_model

NAME = "toy_test_pose"


class ToyPoseNet(PoseNet):
    """Global-pooled conv features → 21 crop-pixel keypoints and wrist-relative 3D in meters."""

    frame = "root_relative"
    unit = "m"
    normalize = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    uses_K = False

    def forward(self, image: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
        out = self.model(image)
        size = image.shape[-1]
        uv = size / 2 + size * out[:, :42].reshape(-1, 21, 2)
        return uv, 0.1 * out[:, 42:].reshape(-1, 21, 3)

    def loss(self, images, *, uv, xyz, K, valid, angle_deg, weights):
        uv_pred, xyz_pred = self(images, K)
        size = images.shape[-1]
        l2d = ((uv_pred - uv).abs().sum(-1) * valid).sum() / valid.sum().clamp_min(1) / size
        rel = xyz - xyz[:, :1]
        l3d = ((xyz_pred - rel).abs().sum(-1) * valid).sum() / valid.sum().clamp_min(1)
        return {"loss": l2d + l3d, "uv": l2d, "xyz": l3d}


@register_model(NAME)
def toy(backbone: str = "none", image_size: int = 32) -> ToyPoseNet:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 21 * 5))
    with torch.no_grad():
        net[-1].weight.mul_(0.01)
    return ToyPoseNet(net, ModelConfig(NAME, backbone, image_size))
