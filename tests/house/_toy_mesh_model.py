"""A toy mesh method in a file of its own: its `Prediction` carries vertices and faces.

The vertices are OpenHand's rest mesh, wrist-relative, placed at the model's own predicted
wrist: whatever the weights, the mesh relative to the wrist is known exactly, so evaluation's
mesh scores and predict's mesh files can be checked by hand.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from _toy_model import ToyPoseNet
from handkit.hand.openhand import OpenHand
from handkit.models.prediction import HandPrediction, Prediction
from handkit.models.registry import ModelConfig, register_model

NAME = "toy_test_mesh"


def rest_mesh() -> tuple[Tensor, Tensor]:
    """OpenHand at rest: (V, 3) float32 meters relative to its wrist, and (F, 3) int64 faces."""
    out = OpenHand()(torch.zeros(1, 3), torch.zeros(1, 15, 3))
    return (out.vertices[0] - out.joints[0, :1]).detach(), out.faces


class ToyMeshNet(ToyPoseNet):
    """ToyPoseNet's keypoints plus the rest mesh at the predicted wrist (root-relative, m)."""

    def __init__(self, model: nn.Module, cfg: ModelConfig):
        super().__init__(model, cfg)
        verts, faces = rest_mesh()
        self.register_buffer("rest_verts", verts, persistent=False)  # never in checkpoints
        self.register_buffer("faces", faces, persistent=False)

    @torch.no_grad()
    def predict(self, image: Tensor, K: Tensor) -> Prediction:
        uv, xyz = self(image, K)
        verts = self.rest_verts + xyz[:, :1]  # (B, V, 3): same unit and frame as xyz
        return Prediction(tuple((HandPrediction(uv[i], xyz[i], self.frame, self.unit,
                                                vertices=verts[i]),)
                                for i in range(len(uv))), faces=self.faces)


@register_model(NAME)
def toy_mesh(backbone: str = "none", image_size: int = 32) -> ToyMeshNet:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 21 * 5))
    with torch.no_grad():
        net[-1].weight.mul_(0.01)
    return ToyMeshNet(net, ModelConfig(NAME, backbone, image_size))
