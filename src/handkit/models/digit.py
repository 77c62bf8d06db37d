"""DIGIT (Fan et al., 3DV 2021): two interacting hands via probabilistic per-pixel part
segmentation (specs/digit.md §1).

An image feature map (HRNet-W32, stride 4, 32 channels) feeds a segmentation branch (33 part
classes at stride 2); the branch's **raw logits** (no softmax, §1.4) are encoded by
``conv_segm_feat`` and concatenated with the image features; a U-Net (``merge_layer``) mixes
them; 1×1 convolutions give per-joint 2D heat-maps and depth maps for the 42 joints (right
0-20, left 21-41, InterHand order, `losses.digit`); a global head gives the relative root depth
(a 1-D soft-argmax over 64 bins) and the handedness logits [right, left].

Decoding (§1.5): ``p_j = softmax(β · hm_j)`` over the h×w cells (β = 1); ``x = Σ p (c + 0.5)``,
``y = Σ p (r + 0.5)`` (cell centres, hm units); ``z = Σ p · depth_j`` (bins); the root depth
``Σ softmax_i · i`` with **no** +0.5 (`soft_argmax_2d`, `soft_argmax_1d`).

**Input:** RGB in [0, 1], no mean/std normalisation (the official code; its ImageNet HRNet sees
raw [0, 1] images too). **Names:** the network is ``DigitModel.pose_reg`` with the official
child names (``backbone``, ``hand_segm.segm_head.upsampler.up1.conv.double_conv``,
``conv_segm_feat``, ``merge_layer.{inc,down1-3,up1-3,outc}``, ``conv_hm``, ``conv_depth``,
``conv_head``, ``root_fc``, ``hand_fc``), so a released state dict loads after
`convert_released_state_dict` (which only moves the HRNet keys under timm's ``net.``).

Sizes (``size="official"``, §1.7): backbone 28,535,552 parameters, hand_segm 43,005,
conv_segm_feat 314,496, merge_layer 4,631,264, conv_hm / conv_depth 22,890 each, conv_head
6,582,208, root_fc 295,488, hand_fc 263,682; total 40,711,475. ``size="small"`` narrows every
layer after the backbone for CPU tests and the synthetic twin (use it with the ``stem4``
or ``resnet18_s4`` backbones registered here; the latter loads a ResNet-18 file).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from handkit.losses.digit import (DigitLossTerms, DigitTargets, decode_depth, digit_loss,
                                  from_interhand42, lift_42)
from handkit.models.backbones import (IMAGENET_MEAN, IMAGENET_STD, Backbone, check_image,
                                      create_backbone, register_backbone)
from handkit.models.prediction import HandPrediction, Prediction
from handkit.models.registry import ModelConfig, register_model
from handkit.models.weights import LoadReport, load_weights
from handkit.utils.check import check_choice, check_shape

__all__ = ["SIZES", "SEGMENTATION", "DigitSizes", "DigitOutput", "DIGITNet", "DigitModel",
           "soft_argmax_2d", "soft_argmax_1d", "convert_released_state_dict", "StemBackbone",
           "ResNetStride4"]

NUM_JOINTS, NUM_CLASSES = 42, 33


@dataclass(frozen=True)
class DigitSizes:
    """Channel widths after the backbone (official values in `SIZES["official"]`)."""

    segm_mid: int = 64         # upsampler output (its first conv has in // 2 channels)
    segm_feat_mid: int = 64    # conv_segm_feat: 33 → mid → out
    segm_feat: int = 512
    unet: int = 64             # MiniUNet base width w: w, 2w, 4w, 4w, then 2w, w, w
    head: int = 64             # conv_head: h, 2h | 4h, 8h | 8h, 8h (pool after each pair)
    fc_hidden: int = 512       # root_fc / hand_fc hidden width
    root_bins: int = 64        # relative root depth bins (output_root_hm_shape)


SEGMENTATION = {"fused": "DIGIT: part logits fused with the image features (official)",
                "auxiliary": "the segmentation branch is trained, the pose path does not see it",
                "none": "no segmentation branch and no segmentation loss"}

SIZES = {"official": DigitSizes(),
         "small": DigitSizes(segm_mid=16, segm_feat_mid=16, segm_feat=32, unet=16, head=8,
                             fc_hidden=32)}


class DoubleConv(nn.Module):
    """(conv3×3 → BN → ReLU) × 2 (the milesial U-Net block, names kept)."""

    def __init__(self, cin: int, cout: int, mid: int | None = None):
        super().__init__()
        mid = mid or cout
        self.double_conv = nn.Sequential(
            nn.Conv2d(cin, mid, 3, padding=1), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        return self.double_conv(x)


class _Down(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cout))

    def forward(self, x: Tensor) -> Tensor:
        return self.maxpool_conv(x)


class _Up(nn.Module):
    """Bilinear ×2 (align_corners=True), pad to the skip, concat [skip, up], DoubleConv."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = DoubleConv(cin, cout, cin // 2)

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        x = self.up(x)
        if skip is None:
            return self.conv(x)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class _OutConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class MiniUNet(nn.Module):
    """DIGIT's ``merge_layer`` (§1.4 table): 3 downs, 3 ups, 1×1 out; (B, C, H, W) → same."""

    def __init__(self, channels: int, width: int = 64):
        super().__init__()
        w = width
        self.inc = DoubleConv(channels, w)
        self.down1, self.down2 = _Down(w, 2 * w), _Down(2 * w, 4 * w)
        self.down3 = _Down(4 * w, 4 * w)
        self.up1, self.up2, self.up3 = _Up(8 * w, 2 * w), _Up(4 * w, w), _Up(2 * w, w)
        self.outc = _OutConv(w, channels)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x = self.up1(self.down3(x3), x3)
        return self.outc(self.up3(self.up2(x, x2), x1))


class _UpSampler(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up1 = _Up(cin, cout)

    def forward(self, x: Tensor) -> Tensor:
        return self.up1(x)


class _SegmHead(nn.Module):
    """Bilinear ×2 + DoubleConv(cin → cin/2 → mid), then conv(mid → 33) BN ReLU conv(33 → 33)."""

    def __init__(self, cin: int, mid: int, classes: int = NUM_CLASSES):
        super().__init__()
        self.upsampler = _UpSampler(cin, mid)
        segm_net = DoubleConv(mid, classes)
        segm_net.double_conv = segm_net.double_conv[:4]  # no final BN / ReLU: logits
        self.segm_net = segm_net

    def forward(self, x: Tensor) -> Tensor:
        return self.segm_net(self.upsampler(x))


class _SegmNet(nn.Module):
    def __init__(self, cin: int, mid: int):
        super().__init__()
        self.segm_head = _SegmHead(cin, mid)

    def forward(self, x: Tensor) -> Tensor:
        return self.segm_head(x)


def _conv_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU(inplace=True)]


def _mlp(cin: int, hidden: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, cout))


def soft_argmax_2d(heatmaps: Tensor, depth: Tensor | None = None, *, beta: float = 1.0
                   ) -> tuple[Tensor, Tensor, Tensor | None]:
    """DIGIT's spatial soft-argmax (``hm2xy``/``softargmax_kd``) and depth expectation.

    Args:
        heatmaps: (B, J, h, w) float logits.
        depth: optional (B, J, h, w) float per-cell depth (bins).
        beta: softmax temperature factor (official 1).

    Returns:
        xy: (B, J, 2) float, (x, y) in hm units with cell (r, c) centred at (c + 0.5, r + 0.5);
        prob: (B, J, h, w) the normalised heat-maps; z: (B, J) Σ prob · depth, or None.
    """
    b, j, h, w = check_shape(heatmaps, "B J H W", name="heatmaps").values()
    prob = F.softmax(beta * heatmaps.reshape(b, j, h * w), dim=-1).reshape(b, j, h, w)
    cols = torch.arange(w, device=heatmaps.device, dtype=prob.dtype) + 0.5
    rows = torch.arange(h, device=heatmaps.device, dtype=prob.dtype) + 0.5
    x = (prob.sum(2) * cols).sum(-1)
    y = (prob.sum(3) * rows).sum(-1)
    z = None if depth is None else (prob * depth).reshape(b, j, -1).sum(-1)
    return torch.stack([x, y], dim=-1), prob, z


def soft_argmax_1d(logits: Tensor) -> Tensor:
    """(B, n) logits → (B,) Σ softmax_i · i, i = 0…n−1 (no +0.5: the official root depth)."""
    check_shape(logits, "B N", name="logits")
    index = torch.arange(logits.shape[1], device=logits.device, dtype=logits.dtype)
    return (F.softmax(logits, dim=1) * index).sum(1)


@dataclass(frozen=True)
class DigitOutput:
    """`DIGITNet.forward` (§1.6). h = w = S / 4 for an S×S input."""

    joints: Tensor       # (B, 42, 3) float, 2.5D: x, y hm units, z bins (InterHand order)
    hm_2d: Tensor        # (B, 42, h, w) heat-map logits
    hm_norm: Tensor      # (B, 42, h, w) spatial softmax
    hm_depth: Tensor     # (B, 42, h, w) per-cell depth, bins
    rel_root: Tensor     # (B,) float, bins: left root minus right root
    root_logits: Tensor  # (B, root_bins)
    hand_logits: Tensor  # (B, 2) [right, left]
    segm_logits: Tensor | None  # (B, 33, 2h, 2w) raw part logits; None without the branch


class DIGITNet(nn.Module):
    """The official ``DIGIT`` module (``Model.pose_reg``), child names kept.

    Args:
        backbone: a registered backbone name with stride 4 (official ``hrnet_w32``).
        sizes: the widths after the backbone.
        beta: heat-map softmax factor (official 1.0).
        segmentation: ``"fused"`` (DIGIT: the branch's logits feed the pose path),
            ``"auxiliary"`` (the branch is trained but the pose path sees the image features
            only) or ``"none"`` (no branch; `DigitOutput.segm_logits` is None): the paper's
            ablation (`SEGMENTATION`).
    """

    def __init__(self, backbone: str = "hrnet_w32", sizes: DigitSizes = SIZES["official"],
                 beta: float = 1.0, segmentation: str = "fused"):
        super().__init__()
        check_choice(segmentation, SEGMENTATION, name="segmentation")
        self.segmentation = segmentation
        self.backbone: Backbone = create_backbone(backbone)
        if self.backbone.stride != 4:
            raise ValueError(f"backbone: DIGIT needs stride-4 features (hrnet_w32, stem4, resnet18_s4), "
                             f"{backbone!r} has stride {self.backbone.stride}.")
        c_img, s = self.backbone.out_channels, sizes
        fused = segmentation == "fused"
        c = c_img + s.segm_feat if fused else c_img
        if segmentation != "none":
            self.hand_segm = _SegmNet(c_img, s.segm_mid)
        if fused:
            self.conv_segm_feat = nn.Sequential(*_conv_relu(NUM_CLASSES, s.segm_feat_mid),
                                                *_conv_relu(s.segm_feat_mid, s.segm_feat),
                                                nn.MaxPool2d(2, 2))
        self.merge_layer = MiniUNet(c, s.unet)
        self.conv_hm = nn.Conv2d(c, NUM_JOINTS, 1)
        self.conv_depth = nn.Conv2d(c, NUM_JOINTS, 1)
        h = s.head
        self.conv_head = nn.Sequential(
            *_conv_relu(c, h), *_conv_relu(h, 2 * h), nn.MaxPool2d(2, 2),
            *_conv_relu(2 * h, 4 * h), *_conv_relu(4 * h, 8 * h), nn.MaxPool2d(2, 2),
            *_conv_relu(8 * h, 8 * h), *_conv_relu(8 * h, 8 * h), nn.MaxPool2d(2, 2))
        self.root_fc = _mlp(8 * h, s.fc_hidden, s.root_bins)
        self.hand_fc = _mlp(8 * h, s.fc_hidden, 2)
        self.beta = beta

    def forward(self, image: Tensor) -> DigitOutput:
        """image: (B, 3, S, S) float RGB in [0, 1], S a multiple of 32 (official 256)."""
        check_image(image, "image")
        feat = self.backbone(image)
        segm_logits = None if self.segmentation == "none" else self.hand_segm(feat)
        x = feat if self.segmentation != "fused" else torch.cat(
            [feat, self.conv_segm_feat(segm_logits)], dim=1)
        x = self.merge_layer(x)
        hm_2d, hm_depth = self.conv_hm(x), self.conv_depth(x)
        xy, prob, z = soft_argmax_2d(hm_2d, hm_depth, beta=self.beta)
        pooled = self.conv_head(x).mean(dim=(2, 3))
        root_logits = self.root_fc(pooled)
        return DigitOutput(joints=torch.cat([xy, z[..., None]], dim=-1), hm_2d=hm_2d,
                           hm_norm=prob, hm_depth=hm_depth, rel_root=soft_argmax_1d(root_logits),
                           root_logits=root_logits, hand_logits=self.hand_fc(pooled),
                           segm_logits=segm_logits)


def _init_backbone_official(backbone: nn.Module) -> None:
    """The pose HRNet's init (§1.2): convs normal(std 0.001) (biases 0), BN weight 1, bias 0."""
    for m in backbone.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=0.001)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class DigitModel(nn.Module):
    """DIGIT behind handkit's model contract: ``predict`` returns both hands of each crop.

    Attributes:
        frame, unit: "camera", "m": `predict`'s 3D (lifted with a root depth, §4.1).
        normalize: ((0, 0, 0), (1, 1, 1)): the input is RGB / 255, nothing else.
        uses_K: True (the lifting to 3D needs K).
        assumed_root_depth: meters, the right root's depth when `predict` is given none.

    Args:
        net: the `DIGITNet` (stored as ``pose_reg``, the official name).
        cfg: how it was built.
        depth_range: D of `losses.digit.encode_depth` (official 0.4 m for joints and root).
        depth_bins: d, the joints' relative-depth bins (official 64, the heat-map side at
            256 px: ``output_hm_shape = (64, 64, 64)``); the root head keeps its
            `DigitSizes.root_bins`.
    """

    frame = "camera"
    unit = "m"
    normalize = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    uses_K = True
    assumed_root_depth = 0.7

    def __init__(self, net: DIGITNet, cfg: ModelConfig, depth_range: float = 0.4,
                 depth_bins: int = 64):
        super().__init__()
        self.pose_reg, self.cfg, self.depth_range = net, cfg, depth_range
        self.depth_bins = depth_bins

    @property
    def image_size(self) -> int:
        return self.cfg.image_size

    @property
    def stride(self) -> int:
        """Input pixels per heat-map cell (the backbone's stride, 4)."""
        return self.pose_reg.backbone.stride

    def preprocess(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) uint8 RGB → float in [0, 1] (§1.1: no mean/std)."""
        return images.float() / 255.0

    def forward(self, image: Tensor, K: Tensor | None = None) -> DigitOutput:
        """image: (B, 3, S, S) float in [0, 1]; K is not used by the network."""
        return self.pose_reg(image)

    def load_backbone(self, path: str | Path) -> LoadReport:
        """Backbone weights from a local file the user names: ImageNet HRNet (timm's / the
        official ``hrnet_w32-36af842e.pth`` names; its classifier keys are skipped, §1.2), or
        for ``resnet18_s4`` any ResNet-18 file `load_weights` reads (the shipped packed
        ``rn25d_r18_synth.pt`` included)."""
        return load_weights(self.pose_reg.backbone, path)

    def loss(self, images: Tensor, *, target: DigitTargets, hand_type: Tensor,
             hand_type_valid: Tensor, segm: Tensor, segm_valid: Tensor,
             weights: Mapping[str, float] | None = None) -> dict[str, Tensor]:
        """DIGIT's training loss of a batch (`losses.digit.digit_loss`; arguments as there,
        `segm` at the logits' resolution S/2). Returns "loss" and the five raw terms."""
        out = self(images)
        t: DigitLossTerms = digit_loss(out.joints, out.rel_root, out.hand_logits,
                                       out.segm_logits, target=target, hand_type=hand_type,
                                       hand_type_valid=hand_type_valid, segm=segm,
                                       segm_valid=segm_valid,
                                       weights=None if weights is None else dict(weights))
        return {"loss": t.total, "joint": t.joint, "rel_root_depth": t.rel_root_depth,
                "hand_type": t.hand_type, "segm": t.segm, "bone": t.bone}

    def decode(self, out: DigitOutput, K: Tensor, root_depth: Tensor) -> tuple[Tensor, Tensor]:
        """2.5D → crop pixels and camera-frame 3D of both hands (§2.1 inverse, §4.1).

        Args:
            out: `forward`'s output.
            K: (B, 3, 3) float, intrinsics of the crop, pixels.
            root_depth: (B, 2) float, meters, the right and left roots' absolute depths.

        Returns:
            uv: (B, 2, 21, 2) crop pixels; xyz: (B, 2, 21, 3) meters, camera frame; hands
            [right, left], handkit order.
        """
        stride = self.stride
        xyz = lift_42(out.joints, K, root_depth, px_per_hm=stride, depth_range=self.depth_range,
                      depth_bins=self.depth_bins)
        return from_interhand42(out.joints[..., :2] * stride), from_interhand42(xyz)

    @torch.no_grad()
    def predict(self, image: Tensor, K: Tensor, root_depth: Tensor | None = None) -> Prediction:
        """Both hands of each crop (right then left), 2D in crop pixels, 3D in meters.

        Args:
            image: (B, 3, S, S) float in [0, 1] (`preprocess`).
            K: (B, 3, 3) float crop intrinsics.
            root_depth: optional (B,) meters, the right root's depth (GT or RootNet). The left
                root is placed at right + the predicted relative root depth (§4.1's
                interacting rule). Without it, `assumed_root_depth` is used and the hands'
                ``extras["root_depth"]`` says "assumed".

        Returns:
            `Prediction` with two hands per image; ``score`` = the handedness head's sigmoid
            for that hand (a hand with score < 0.5 is predicted absent); extras: "rel_root_m".
        """
        out = self(image)
        b = image.shape[0]
        source = "given" if root_depth is not None else "assumed"
        right = (torch.full((b,), self.assumed_root_depth, device=image.device)
                 if root_depth is None else root_depth.to(image.device).reshape(b))
        rel = decode_depth(out.rel_root, depth_range=self.depth_range)
        uv, xyz = self.decode(out, K, torch.stack([right, right + rel], dim=1))
        prob = torch.sigmoid(out.hand_logits)
        hands = tuple(tuple(HandPrediction(
            uv[i, k], xyz[i, k], "camera", "m", is_right=k == 0, score=float(prob[i, k]),
            extras={"root_depth": source, "rel_root_m": float(rel[i])}) for k in range(2))
            for i in range(b))
        return Prediction(hands)


def convert_released_state_dict(state: Mapping[str, Tensor], model: nn.Module
                                ) -> dict[str, Tensor]:
    """The released ``db7cba8c1.pt`` state dict → `model`'s keys (§1.7).

    Every ``"model."`` is removed (as the official ``--load_from``); a backbone key
    ``pose_reg.backbone.X`` becomes ``pose_reg.backbone.net.X`` when `model` keeps its backbone
    under ``net.`` (timm's HRNet inside handkit's `HRNetBackbone`); every other key is the
    same. Load the result with ``strict=True``.
    """
    own = set(model.state_dict())
    out = {}
    for key, value in state.items():
        key = key.replace("model.", "")
        prefix = "pose_reg.backbone."
        if key.startswith(prefix) and key not in own:
            timm_key = prefix + "net." + key[len(prefix):]
            key = timm_key if timm_key in own else key
        out[key] = value
    return out


class StemBackbone(Backbone):
    """A small stride-4 encoder for CPU runs: the HRNet stem (two 3×3 stride-2 convs) and two
    3×3 convs, ``width`` channels (default 32, HRNet-W32's width). Not a published model."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.out_channels, self.stride = width, 4
        layers: list[nn.Module] = []
        for cin, stride in ((3, 2), (width, 2), (width, 1), (width, 1)):
            layers += [nn.Conv2d(cin, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


@register_backbone("stem4")
def stem4(width: int = 32) -> Backbone:
    """`StemBackbone`: stride 4, `width` channels (CPU-scale DIGIT)."""
    return StemBackbone(width)


class ResNetStride4(Backbone):
    """A torchvision ResNet cut after ``layer3`` and fused to stride 4, for CPU-size DIGIT runs
    that start from a ResNet checkpoint (the shipped ``rn25d_r18_synth.pt``). Not a published
    model.

    ``layer1`` (stride 4), ``layer2`` (8) and ``layer3`` (16) are bilinearly upsampled to
    stride 4, concatenated and mixed by ``fuse`` (conv1×1 → BN → ReLU, ``width`` channels).
    The input is DIGIT's RGB in [0, 1]; the ImageNet mean/std the ResNet checkpoints were
    trained with is applied inside (`IMAGENET_MEAN`, `IMAGENET_STD`). Child names are
    torchvision's (``conv1``, ``bn1``, ``layer1``-``layer3``), so `models.weights.load_weights`
    finds them in any ResNet file; its ``layer4`` and ``fc`` are not used and ``fuse`` stays
    randomly initialised (`ignored_weight_keys`).

    Args:
        arch: ``resnet18`` or ``resnet34`` (basic blocks: 64, 128, 256 channels).
        width: output channels.
    """

    def __init__(self, arch: str = "resnet18", width: int = 64):
        super().__init__()
        check_choice(arch, ("resnet18", "resnet34"), name="arch")
        net = getattr(torchvision.models, arch)(weights=None)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3"):
            self.add_module(name, getattr(net, name))
        self.arch, self.out_channels, self.stride = arch, width, 4
        self.fuse = nn.Sequential(nn.Conv2d(64 + 128 + 256, width, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN)[:, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD)[:, None, None], persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, 3, S, S) RGB in [0, 1] → (B, width, S/4, S/4)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1((x - self.mean) / self.std))))
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        size = c1.shape[-2:]
        up = [F.interpolate(c, size=size, mode="bilinear", align_corners=False) for c in (c2, c3)]
        return self.fuse(torch.cat([c1, *up], dim=1))

    def ignored_weight_keys(self) -> tuple[str, ...]:
        return ("layer4.", "fc.", "final_layer.", "fuse.")


@register_backbone("resnet18_s4")
def resnet18_s4(width: int = 64) -> Backbone:
    """`ResNetStride4` over torchvision resnet18: stride 4, `width` channels (CPU-scale DIGIT
    initialised from a ResNet-18 file, e.g. the shipped ``rn25d_r18_synth.pt``)."""
    return ResNetStride4("resnet18", width)


@register_model("digit")
def digit(backbone: str = "hrnet_w32", image_size: int = 256,
          size: Literal["official", "small"] = "official",
          segmentation: Literal["fused", "auxiliary", "none"] = "fused",
          depth_bins: int = 64) -> DigitModel:
    """DIGIT; official: hrnet_w32, 256 px, ``size="official"``, ``segmentation="fused"``,
    ``depth_bins=64`` (§1.7); the other `segmentation` values are the ablation's baselines.
    `depth_bins` is the joints' relative-depth range in bins; the official 64 equals its
    heat-map side, and a smaller crop keeps that ratio with ``depth_bins = image_size // 4``
    (the CPU twin: else z, in bins 4× the hm units of x and y, dominates the joint loss and
    pulls the heat-maps, whose softmax also weights the depth maps; docs/digit.md)."""
    check_choice(size, SIZES, name="size")
    if not isinstance(depth_bins, int) or depth_bins < 1:
        raise ValueError(f"depth_bins: expected a positive int, got {depth_bins!r}.")
    net = DIGITNet(backbone, SIZES[size], segmentation=segmentation)
    if backbone.startswith("hrnet"):
        _init_backbone_official(net.backbone)
    options: dict = {"size": size}
    if segmentation != "fused":
        options["segmentation"] = segmentation
    if depth_bins != 64:
        options["depth_bins"] = depth_bins
    return DigitModel(net, ModelConfig("digit", backbone, image_size, options),
                      depth_bins=depth_bins)
