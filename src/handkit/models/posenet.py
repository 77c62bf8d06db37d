"""Single-hand crop models behind one contract: RN_25D_wMLPref and minimal-hand's DetNet.

`PoseNet` is what training, evaluation, prediction and ONNX export see: ``forward(image, K) ->
(uv, xyz)`` on a square crop of a right hand, handkit order with the wrist at 0; ``predict``
wraps that in a `models.prediction.Prediction`; ``loss`` is the model's own training loss.
What differs between the two is said by attributes (``frame``, ``unit``, ``normalize``):

- ``rn25d``: xyz is **absolute** camera-frame 3D in units of the middle MCP–PIP bone (multiply by
  FreiHAND's ``*_scale`` for meters); uv = projection of xyz with K (the model's own 2D for
  joints 1-20; the wrist's = 2 · palm − middle MCP). Input: ImageNet mean/std; official 224 px.
- ``detnet``: xyz is **wrist-relative** 3D in units of the wrist–middle-MCP bone (no depth, no
  K); uv = the heatmap argmax cell centre. Input ``x / 255 − 0.5``; official 128 px.

**Losses.** rn25d: the official recipe was never released (specs/pretrain.md §3.1); handkit
uses ``λ_uv · L1(uv px) + λ_z · L1(z_rel) + λ_xyz · L1(xyz / scale)`` (the weightings of
``cal_l1_loss`` and ``cal_3d_loss``; the 3D term is what trains the root MLP). detnet:
``DetLoss(100, 1, 1)`` (§3.3), its 3D targets turned with the crop's in-plane rotation
(minimal-hand's ``handataset.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from handkit.geometry.camera import project, rotate_about_z
from handkit.geometry.pose25d import to_25d
from handkit.losses.keypoints import detnet_loss, l1_25d_loss, l1_3d_loss
from handkit.models.backbones import IMAGENET_MEAN, IMAGENET_STD
from handkit.models.minimal_hand import DetNet, detnet_targets
from handkit.models.prediction import Prediction, bone_unit
from handkit.models.registry import ModelConfig, register_model
from handkit.models.rn25d import RN25D

__all__ = ["PoseNet", "RN25DPoseNet", "DetNetPoseNet"]

Normalize = tuple[tuple[float, ...], tuple[float, ...]]


class PoseNet(nn.Module):
    """A single-hand crop model (base class; subclasses set the class attributes).

    Attributes:
        frame: "camera" or "root_relative": the frame of ``forward``'s xyz.
        unit: the unit of that xyz (`models.prediction.bone_unit`).
        normalize: (mean, std) per RGB channel in [0, 1] units: input = (x / 255 − mean) / std.
        uses_K: whether ``forward`` reads K (exported graphs take it as an input only then).

    Args:
        model: the wrapped network, stored as ``self.model`` (checkpoint keys ``net.model.*``).
        cfg: how the model was built (stored in checkpoints; `models.registry.build_model`).
    """

    frame: Literal["camera", "root_relative"]
    unit: str
    normalize: Normalize
    uses_K: bool

    def __init__(self, model: nn.Module, cfg: ModelConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def preprocess(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) uint8 RGB → the model's normalised float input."""
        mean, std = (torch.tensor(v, device=images.device)[:, None, None] for v in self.normalize)
        return (images.float() / 255.0 - mean) / std

    def forward(self, image: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
        """Predict keypoints on crops (the exported graph).

        Args:
            image: (B, 3, S, S) float, normalised (`preprocess`).
            K: (B, 3, 3) float intrinsics of the crop, pixels.

        Returns:
            uv: (B, 21, 2) float, crop pixels, handkit order, wrist at 0.
            xyz: (B, 21, 3) float, in `unit`, `frame`.
        """
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, image: Tensor, K: Tensor) -> Prediction:
        """`forward` as a `Prediction`: one right hand per crop, 2D in crop pixels."""
        uv, xyz = self(image, K)
        return Prediction.one_hand_each(uv, xyz, frame=self.frame, unit=self.unit)

    def loss(self, images: Tensor, *, uv: Tensor, xyz: Tensor, K: Tensor, valid: Tensor,
             angle_deg: Tensor, weights: Mapping[str, float]) -> dict[str, Tensor]:
        """Training loss of one augmented batch.

        Args:
            images: (B, 3, S, S) float, normalised crops.
            uv: (B, 21, 2) float, crop pixels (the augmented keypoints).
            xyz: (B, 21, 3) float, meters, camera frame of the original image.
            K: (B, 3, 3) float, crop intrinsics (K' = T K).
            valid: (B, 21) bool.
            angle_deg: (B,) the crop's in-plane rotation, degrees, counter-clockwise.
            weights: term weights by name (the task's loss config).

        Returns:
            dict with "loss" and each weighted term's raw value.
        """
        raise NotImplementedError


class RN25DPoseNet(PoseNet):
    """RN_25D_wMLPref (`models.rn25d.RN25D`): absolute 3D in middle MCP–PIP units."""

    frame = "camera"
    unit = bone_unit("middle_mcp", "middle_pip")
    normalize = (IMAGENET_MEAN, IMAGENET_STD)
    uses_K = True

    def forward(self, image: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
        xyz = self.model(image, K).xyz
        return project(xyz, K), xyz

    def loss(self, images: Tensor, *, uv: Tensor, xyz: Tensor, K: Tensor, valid: Tensor,
             angle_deg: Tensor, weights: Mapping[str, float]) -> dict[str, Tensor]:
        out = self.model(images, K)
        uv_gt, z_gt, scale = to_25d(xyz, K, convention=self.model.zroot_ref.convention)
        v25 = valid.clone()
        v25[:, 0] = valid[:, 0] & valid[:, 9]  # the palm needs the wrist and middle MCP
        t = l1_25d_loss(out.uv, out.z_rel, uv_gt, z_gt, valid=v25, scale=scale)
        l3 = l1_3d_loss(out.xyz, xyz / scale[:, None, None], valid=valid)
        loss = weights["uv"] * t.uv + weights["z"] * t.z + weights["xyz"] * l3
        return {"loss": loss, "uv_px": t.uv, "z": t.z, "xyz": l3}


class DetNetPoseNet(PoseNet):
    """minimal-hand DetNet (`models.minimal_hand.DetNet`): wrist-relative 3D in wrist–middle-MCP
    units; K is accepted and ignored."""

    frame = "root_relative"
    unit = bone_unit("wrist", "middle_mcp")
    normalize = ((0.5, 0.5, 0.5), (1.0, 1.0, 1.0))
    uses_K = False

    def forward(self, image: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
        out = self.model(image)
        return out.uv, out.xyz

    def loss(self, images: Tensor, *, uv: Tensor, xyz: Tensor, K: Tensor, valid: Tensor,
             angle_deg: Tensor, weights: Mapping[str, float]) -> dict[str, Tensor]:
        out = self.model(images)
        tg = detnet_targets(uv, rotate_about_z(xyz, angle_deg), torch.ones_like(valid[:, 0]),
                            image_size=images.shape[-1], map_size=out.heatmaps.shape[-1])
        t = detnet_loss(out.heatmaps, out.delta_maps, out.location_maps, tg.heatmaps,
                        tg.heatmap_valid * valid, tg.delta_maps, tg.location_maps, tg.has_3d,
                        lambda_hm=weights["hm"], lambda_dm=weights["dm"],
                        lambda_lm=weights["lm"])
        return {"loss": t.total, "hm": t.hm, "dm": t.dm, "lm": t.lm}


@register_model("rn25d")
def rn25d(backbone: str = "resnet50", image_size: int = 224,
          root: Literal["palm", "wrist"] = "palm") -> RN25DPoseNet:
    """RN_25D_wMLPref; `root`: what slot 0 of its 2.5D holds ("palm": the released model)."""
    model = RN25D(backbone, root=root)
    # Chosen (official: torchvision's default init): uv regressed in pixels start at the
    # crop centre instead of 0, which saves the first thousands of steps.
    with torch.no_grad():
        bias = model.backend_model.fc.bias
        bias[0:63:3] = image_size / 2
        bias[1:63:3] = image_size / 2
    cfg = ModelConfig("rn25d", backbone, image_size, {"root": root})
    return RN25DPoseNet(model, cfg)


@register_model("detnet")
def detnet(backbone: str = "resnet50", image_size: int = 128) -> DetNetPoseNet:
    """minimal-hand DetNet."""
    return DetNetPoseNet(DetNet(backbone), ModelConfig("detnet", backbone, image_size))
