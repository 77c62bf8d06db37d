"""RN_25D_wMLPref: PeCLR's fine-tuning model (specs/pretrain.md §3.1).

A ResNet whose fc regresses 2.5D keypoints directly (no heatmaps), the analytic root depth of
Iqbal et al. (ECCV 2018, "Hand pose estimation via latent 2.5D heatmap regression", Eq. 6/7),
refined by an MLP (Spurr et al., ECCV 2020, arXiv:2003.09282), and the 3D keypoints
``x̂ · (z_rel + Z_root)`` in scale-normalised camera coordinates (meters / scale-bone length).

**Checkpoint compatibility.** Module attributes mirror the official ``RN_25D_wMLPref``
(``dahiyaaneesh/peclr`` ``src/models/rn_25D_wMLPref.py``, identical in ``ut-vision/SiMHand``),
so the released ``rn{50,152}_peclr_yt3d-fh_pt_fh_ft.pth`` (``["state_dict"]``) load with
`RN25D.load_checkpoint`. The targeted keys are:

- ``backend_model.{conv1,bn1,layer1..layer4}.*``: the torchvision ResNet (`ResNetBackbone`
  keeps torchvision's child names);
- ``backend_model.fc.{weight,bias}``: (64, 2048) / (64,), 21 × (u, v, z_rel) + 1 unused;
- ``zroot_ref.zroot_ref.{0,3,6}.{weight,bias}`` (Linear 64→128→128→1) and
  ``zroot_ref.zroot_ref.{1,4}.{weight,bias,running_mean,running_var,num_batches_tracked}``
  (BatchNorm1d);
- ``K_default`` and ``eps`` are non-persistent buffers there: not in the files, not here.

**Keypoint order.** Internally everything is the official AIT order (grouped by level, root at
0) so checkpoints and the MLP's input layout stay official. The outputs (`RN25DOutput`) are in
handkit order via `skeleton.convert`. The released FreiHAND model puts the **palm**
((wrist + middle MCP) / 2, the test script's definition) at slot 0: ``root="palm"`` (default)
turns it back into the wrist in ``xyz``; ``root="wrist"`` is for models trained with the wrist.

**Root depth** reuses `geometry.pose25d.root_depth` with the ``rn25d`` convention: bone middle
MCP–PIP (AIT (3, 8)), floors 1e-8, detached, clamped to [4, 50] bone lengths.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from handkit.geometry.camera import pixel_rays
from handkit.geometry.pose25d import CONVENTIONS, from_25d, root_depth
from handkit.hand.skeleton import convert
from handkit.models.backbones import ResNetBackbone, check_image, create_backbone
from handkit.models.heads import ZRootRefinementHead
from handkit.models.encoders import load_encoder
from handkit.models.weights import LoadReport, load_weights
from handkit.utils.check import check_choice, check_shape

__all__ = ["RN25D", "RN25DOutput", "ZRootRefiner", "K_DEFAULT", "RN25D_BACKBONES"]

K_DEFAULT = ((388.9018310596544, 0.0, 112.0), (0.0, 388.71231836584275, 112.0), (0.0, 0.0, 1.0))
"""The official default intrinsics (pixels) for a 224-px input."""

RN25D_BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
"""Official: resnet50 (``"rn50"``) and resnet152 (``"rn152"``); 18/34/101 for CPU runs / ablations."""
_ROOTS = {"palm": "palm", "wrist": "wrist"}


@dataclass(frozen=True)
class RN25DOutput:
    """What `RN25D` predicts, in handkit order.

    Attributes:
        xyz: (B, 21, 3) float, scale-normalised camera coordinates (meters / scale bone),
            handkit order, wrist at 0 (``root="palm"``: wrist = 2·palm − middle MCP). Multiply by
            the scale bone's metric length (FreiHAND ``*_scale.json``) for meters.
        uv: (B, 21, 2) float, pixels of the input image; slot 0 is the root (the palm for
            ``root="palm"``), as `geometry.pose25d.to_25d` writes targets.
        z_rel: (B, 21) float, depth relative to the root in bone lengths; 0 at slot 0.
        z_root: (B,) float, refined root depth, bone lengths.
        z_root_analytic: (B,) float, the detached, clamped analytic root depth before the MLP.
        kp25d_ait: (B, 21, 3) float, the official ``kp25d`` (AIT order, z_rel[:, 0] = 0).
    """

    xyz: Tensor
    uv: Tensor
    z_rel: Tensor
    z_root: Tensor
    z_root_analytic: Tensor
    kp25d_ait: Tensor


class ZRootRefiner(nn.Module):
    """Official ``ZrootMLP_ref``: Z_root = analytic(uv, z_rel, K) + MLP([z_rel, x̂_xy, Z_root]).

    The MLP input is in the official layout: z_rel (21, AIT order), then the rays' (X, Y) per
    joint (42, AIT order, joint-major), then the analytic Z_root (1).
    """

    def __init__(self, root: Literal["palm", "wrist"] = "palm"):
        super().__init__()
        check_choice(root, _ROOTS, name="root")
        self.zroot_ref = ZRootRefinementHead()
        self.convention = dataclasses.replace(CONVENTIONS["rn25d"], root=root)

    def forward(self, uv_ait: Tensor, z_rel_ait: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
        """uv_ait: (B, 21, 2) px; z_rel_ait: (B, 21); K: (3, 3) or (B, 3, 3).

        Returns (refined, analytic), each (B,) bone lengths.
        """
        uv = convert(uv_ait, "ait", "handkit")
        z_rel = convert(z_rel_ait[..., None], "ait", "handkit")[..., 0]
        analytic = root_depth(uv, z_rel, K, convention=self.convention)
        rays = pixel_rays(uv_ait, K)
        mlp_in = torch.cat([z_rel_ait, rays[..., :2].flatten(1), analytic[:, None]], dim=1)
        return analytic + self.zroot_ref(mlp_in)[:, 0], analytic


class RN25D(nn.Module):
    """RN_25D_wMLPref with handkit-order outputs and official checkpoint keys.

    Args:
        backbone: one of `RN25D_BACKBONES` (official ``rn50`` = ``resnet50``, ``rn152`` =
            ``resnet152``), built by the backbone registry, randomly initialised.
        root: ``"palm"`` (the released FreiHAND model) or ``"wrist"``: what slot 0 holds.

    Input: (B, 3, H, W) float, ImageNet-normalised RGB; the official input is 224 × 224 with
    `K_DEFAULT`. At any other size pass the crop's K.
    """

    def __init__(self, backbone: str = "resnet50", *, root: Literal["palm", "wrist"] = "palm"):
        super().__init__()
        check_choice(backbone, RN25D_BACKBONES, name="backbone")
        self.backend_model: ResNetBackbone = create_backbone(backbone, num_classes=3 * 21 + 1)
        self.zroot_ref = ZRootRefiner(root)
        self.register_buffer("K_default", torch.tensor(K_DEFAULT), persistent=False)

    def forward(self, img: Tensor, K: Tensor | None = None) -> RN25DOutput:
        """img: (B, 3, H, W) float; K: None (`K_DEFAULT`), (3, 3) or (B, 3, 3) pixels."""
        check_image(img, "img")
        return self.decode(self.backend_model.forward_head(img), K)

    def decode(self, raw: Tensor, K: Tensor | None = None) -> RN25DOutput:
        """The head after the fc: (B, 64) raw outputs → `RN25DOutput`.

        Args:
            raw: (B, 64) float: 21 × (u px, v px, z_rel) in AIT order, then one unused value.
            K: None (`K_DEFAULT`), (3, 3) or (B, 3, 3) float intrinsics, pixels.
        """
        b = check_shape(raw, "B 64", name="raw")["B"]
        K = self.K_default if K is None else K.to(raw)
        kp25d = raw[:, :63].reshape(b, 21, 3)
        uv_ait = kp25d[..., :2]
        z_rel_ait = torch.cat([torch.zeros_like(kp25d[:, :1, 2]), kp25d[:, 1:, 2]], dim=1)
        kp25d = torch.cat([uv_ait, z_rel_ait[..., None]], dim=-1)  # official zrel[:, 0] = 0
        z_root, analytic = self.zroot_ref(uv_ait, z_rel_ait, K)
        uv = convert(uv_ait, "ait", "handkit")
        z_rel = convert(z_rel_ait[..., None], "ait", "handkit")[..., 0]
        xyz = from_25d(uv, z_rel, K, root_depth=z_root, convention=self.zroot_ref.convention)
        return RN25DOutput(xyz=xyz, uv=uv, z_rel=z_rel, z_root=z_root,
                           z_root_analytic=analytic, kp25d_ait=kp25d)

    def load_encoder(self, weights: str | Path) -> LoadReport:
        """Initialise the ResNet from a pre-trained encoder file (torchvision release format,
        PeCLR/SiMHand Lightning checkpoint, or a handkit checkpoint); the fc stays as is."""
        return load_encoder(self, weights)

    def load_checkpoint(self, weights: str | Path) -> LoadReport:
        """Load a full RN_25D_wMLPref state dict (a released fine-tuned file or our own)."""
        return load_weights(self, weights, skip=())
