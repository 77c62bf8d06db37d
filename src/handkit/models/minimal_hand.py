"""minimal-hand's DetNet as SiMHand fine-tunes it (specs/pretrain.md §3.3).

Zhou et al., "Monocular Real-time Hand Shape and Motion Capture using Multi-modal Data"
(CVPR 2020); SiMHand's ``minimal-hand/model/detnet/detnet.py`` (from Minimal-Hand-pytorch) with
the "official ResNet" backbone: ResNet features up to layer4 (no pooling), three
``ConvTranspose2d(k4, s2, p1, no bias) + BN + ReLU`` (2048→256→256→256, from I2L-MeshNet), a
2-channel position tile, then three heads (``conv3x3 no bias + BN + ReLU → conv1x1``):

- ``hmap_0``: 258 → 256 → 21, sigmoid: heatmaps (B, 21, h, w);
- ``dmap_0``: 279 → 256 → 63: delta maps (B, 21, 3, h, w), unit bone directions;
- ``lmap_0``: 342 → 256 → 63: location maps (B, 21, 3, h, w), root-relative xyz in units of the
  wrist–middle-MCP bone.

Input 128 × 128 gives 32 × 32 maps (any multiple of 32 works; maps are input / 4). Normalisation
of the official data: ``x / 255 − 0.5``. Keypoints in handkit order (= SNAP/FreiHAND, the order
minimal-hand uses). Any registered backbone works: stride-32 ResNets get the three deconvs,
a stride-4 HRNet none (its channels feed the heads directly).

**Checkpoint keys** mirror the official module: ``encoder.*`` (official ``encoder.features.N.*``,
renamed by `models.weights.load_weights`), ``deconv.{0,1,3,4,6,7}.*``,
``{hmap_0,dmap_0,lmap_0}.project.{0,1}.*`` and ``.prediction.*``.

**Decoding** (official): argmax of each flattened heatmap; the official ``uv`` is
(argmax // w, argmax % w) = **(row, col)**, exposed here as ``rc``. ``uv`` is handkit's (x, y)
in input pixels at the cell centre: ((col + 0.5) · s, (row + 0.5) · s), s = input / map size,
which inverts the target's cell index ``trunc(uv / s)`` to within half a cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from handkit.hand.skeleton import PARENTS
from handkit.models.backbones import check_image, create_backbone
from handkit.models.encoders import load_encoder
from handkit.models.weights import LoadReport, load_weights
from handkit.utils.check import check_shape

__all__ = ["DetNet", "DetNetOutput", "DetNetTargets", "decode_maps", "detnet_targets",
           "position_tile"]


@dataclass(frozen=True)
class DetNetOutput:
    """DetNet predictions (handkit order).

    Attributes:
        heatmaps: (B, 21, h, w) float in (0, 1).
        delta_maps: (B, 21, 3, h, w) float, bone directions (parent → joint), unit-less.
        location_maps: (B, 21, 3, h, w) float, xyz − wrist in wrist–middle-MCP bone lengths.
        rc: (B, 21, 2) int64, (row, col) of each heatmap's argmax (the official ``uv``).
        uv: (B, 21, 2) float, (x, y) input pixels of the argmax cell's centre.
        delta: (B, 21, 3) float, delta maps read at the argmax.
        xyz: (B, 21, 3) float, location maps read at the argmax: root-relative 3D, bone units,
            camera axes (x right, y down, z forward).
    """

    heatmaps: Tensor
    delta_maps: Tensor
    location_maps: Tensor
    rc: Tensor
    uv: Tensor
    delta: Tensor
    xyz: Tensor


@dataclass(frozen=True)
class DetNetTargets:
    """DetNet training targets (``datasets/handataset.py``), the inputs of `detnet_loss`.

    Attributes:
        heatmaps: (B, 21, h, w) float, Gaussian σ in a (6σ+1)² window at trunc(uv / s).
        heatmap_valid: (B, 21) float, the official ``hm_veil``.
        delta_maps, location_maps: (B, 21, 3, h, w) float (zeros where ``has_3d`` is False).
        has_3d: (B,) bool, the official ``flag_3d``.
    """

    heatmaps: Tensor
    heatmap_valid: Tensor
    delta_maps: Tensor
    location_maps: Tensor
    has_3d: Tensor


def position_tile(h: int, w: int, *, like: Tensor) -> Tensor:
    """(1, 2, h, w) float: channel 0 = linspace(−1, 1, w) along x, channel 1 along y."""
    xs = torch.linspace(-1, 1, w, device=like.device, dtype=like.dtype)
    ys = torch.linspace(-1, 1, h, device=like.device, dtype=like.dtype)
    return torch.stack([xs.expand(h, w), ys[:, None].expand(h, w)])[None]


def decode_maps(heatmaps: Tensor, delta_maps: Tensor, location_maps: Tensor,
                image_size: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Official DetNet decoding: argmax of each heatmap, maps read there.

    Args:
        heatmaps: (B, 21, h, w) float.
        delta_maps, location_maps: (B, 21, 3, h, w) float.
        image_size: (H, W) input pixels.

    Returns:
        rc (B, 21, 2) int64 (row, col); uv (B, 21, 2) float (x, y) px at the cell centre;
        delta (B, 21, 3); xyz (B, 21, 3).
    """
    dims = check_shape(heatmaps, "B J H W", name="heatmaps")
    b, j, h, w = dims["B"], dims["J"], dims["H"], dims["W"]
    index = heatmaps.flatten(2).argmax(dim=-1)  # (B, J)
    rc = torch.stack([index // w, index % w], dim=-1)
    cell = heatmaps.new_tensor([image_size[1] / w, image_size[0] / h])
    uv = (rc.flip(-1).to(heatmaps.dtype) + 0.5) * cell

    def read(maps: Tensor) -> Tensor:
        flat = maps.flatten(3)  # (B, J, 3, h*w)
        return flat.gather(3, index[:, :, None, None].expand(b, j, 3, 1))[..., 0]

    return rc, uv, read(delta_maps), read(location_maps)


def detnet_targets(uv: Tensor, xyz: Tensor, has_3d: Tensor, *, image_size: int = 128,
                   map_size: int = 32, sigma: float = 1.0) -> DetNetTargets:
    """Heatmap, delta-map and location-map targets of minimal-hand (specs/pretrain.md §3.3).

    Heatmap: centre ``c = trunc(uv · map_size / image_size)`` (the official ``int()``), value
    ``exp(−‖p − c‖² / 2σ²)`` for cells with |p − c| ≤ 3σ per axis; ``heatmap_valid = 0`` when the
    whole window lies outside (official test: ul ≥ size or br < 0, br = c + 3σ + 1).
    3D: ``jointRS = (xyz − xyz_wrist) / ‖xyz_middle_mcp − xyz_wrist‖`` tiled over the map;
    delta = unit(jointRS_j − jointRS_parent(j)), 0 for the wrist.

    Args:
        uv: (B, 21, 2) float, pixels of the `image_size` crop, handkit order.
        xyz: (B, 21, 3) float, meters, camera frame (already rotated like the crop), handkit
            order; ignored where `has_3d` is False.
        has_3d: (B,) bool.
        image_size, map_size: crop and heatmap sizes (official 128, 32).
        sigma: Gaussian σ in heatmap cells (official 1).
    """
    b = check_shape(uv, "B 21 2", name="uv")["B"]
    if tuple(xyz.shape) != (b, 21, 3):
        raise ValueError(f"xyz: expected ({b}, 21, 3), got {tuple(xyz.shape)}.")
    if tuple(has_3d.shape) != (b,):
        raise ValueError(f"has_3d: expected ({b},), got {tuple(has_3d.shape)}.")
    radius = int(3 * sigma)
    centre = torch.trunc(uv * (map_size / image_size))  # (B, 21, 2) x, y
    grid = torch.arange(map_size, device=uv.device, dtype=uv.dtype)
    dx = grid[None, None, None, :] - centre[..., 0, None, None]  # (B, 21, 1, w)
    dy = grid[None, None, :, None] - centre[..., 1, None, None]  # (B, 21, h, 1)
    inside = (dx.abs() <= radius) & (dy.abs() <= radius)
    heatmaps = torch.exp(-(dx.square() + dy.square()) / (2 * sigma**2)) * inside
    ul, br = centre - radius, centre + radius + 1
    veil = ~((ul >= map_size).any(-1) | (br < 0).any(-1))
    has_3d = has_3d.bool()
    rel = xyz - xyz[:, :1]
    joint_rs = rel / (xyz[:, 9] - xyz[:, 0]).norm(dim=-1).clamp_min(1e-12)[:, None, None]
    parents = torch.tensor([max(p, 0) for p in PARENTS], device=uv.device)
    bone = joint_rs - joint_rs[:, parents]
    delta = bone / bone.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # wrist: 0 / eps = 0
    keep = has_3d[:, None, None]
    delta, joint_rs = (torch.where(keep, t, torch.zeros_like(t)) for t in (delta, joint_rs))
    maps = map_size, map_size
    return DetNetTargets(
        heatmaps=heatmaps, heatmap_valid=veil.to(uv.dtype),
        delta_maps=delta[..., None, None].expand(b, 21, 3, *maps),
        location_maps=joint_rs[..., None, None].expand(b, 21, 3, *maps),
        has_3d=has_3d)


class _MapHead(nn.Module):
    """Official ``net_2d``/``net_3d``: conv3x3 (no bias) + BN + ReLU → conv1x1, `out` channels."""

    def __init__(self, in_channels: int, out: int, hidden: int = 256):
        super().__init__()
        self.project = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, 1, 1, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU())
        self.prediction = nn.Conv2d(hidden, out, 1, 1, 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.prediction(self.project(x))


def _deconvs(dims: list[int]) -> nn.Sequential:
    """I2L-MeshNet ``make_deconv_layers``: ConvTranspose2d(k4, s2, p1, no bias) + BN + ReLU each."""
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-1], dims[1:]):
        layers += [nn.ConvTranspose2d(d_in, d_out, 4, 2, 1, bias=False), nn.BatchNorm2d(d_out),
                   nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class DetNet(nn.Module):
    """minimal-hand's DetNet with a registry backbone.

    Args:
        backbone: a `list_backbones()` name; official ``r50`` = ``resnet50``, ``r152`` =
            ``resnet152``. Its stride must be 4 · 2^k (k deconvs bring the map to input / 4).
    """

    def __init__(self, backbone: str = "resnet50"):
        super().__init__()
        self.encoder = create_backbone(backbone)
        n_up = math.log2(self.encoder.stride / 4)
        if n_up < 0 or n_up != int(n_up):
            raise ValueError(f"backbone: {backbone!r} has stride {self.encoder.stride}; DetNet "
                             "needs 4 · 2^k to reach input / 4 maps.")
        n_up = int(n_up)
        self.deconv = _deconvs([self.encoder.out_channels] + [256] * n_up)
        feat = 256 if n_up else self.encoder.out_channels
        self.hmap_0 = _MapHead(feat + 2, 21)
        self.dmap_0 = _MapHead(feat + 2 + 21, 63)
        self.lmap_0 = _MapHead(feat + 2 + 21 + 63, 63)

    def forward(self, img: Tensor) -> DetNetOutput:
        """img: (B, 3, H, W) float (official: 128 × 128, ``x / 255 − 0.5``)."""
        check_image(img, "img")
        feats = self.deconv(self.encoder(img))
        b, _, h, w = feats.shape
        x = torch.cat([feats, position_tile(h, w, like=feats).expand(b, -1, -1, -1)], dim=1)
        heatmaps = self.hmap_0(x).sigmoid()
        x = torch.cat([x, heatmaps], dim=1)
        dmap = self.dmap_0(x)
        x = torch.cat([x, dmap], dim=1)
        lmap = self.lmap_0(x)
        delta_maps, location_maps = dmap.unflatten(1, (21, 3)), lmap.unflatten(1, (21, 3))
        rc, uv, delta, xyz = decode_maps(heatmaps, delta_maps, location_maps, img.shape[-2:])
        return DetNetOutput(heatmaps=heatmaps, delta_maps=delta_maps,
                            location_maps=location_maps, rc=rc, uv=uv, delta=delta, xyz=xyz)

    def load_encoder(self, weights: str | Path) -> LoadReport:
        """Initialise the backbone from a pre-trained encoder file (torchvision release format,
        PeCLR/SiMHand Lightning checkpoint, handkit checkpoint)."""
        return load_encoder(self, weights)

    def load_checkpoint(self, weights: str | Path) -> LoadReport:
        """Load a full DetNet state dict (official ``encoder.features.N`` naming or ours)."""
        return load_weights(self, weights, skip=())
