"""handkit's hand finder: a small CenterNet-style detector of every hand in a whole image.

The design is SMHR's centre heat-map (specs/mesh.md §3.2, `losses.centernet`) cut down to what
a finder needs: a ResNet's layer2-4 fused at stride 8, and four heads per cell, the centre
heat-map ``hm`` (1), the box size ``size`` (2: log of the keypoint box's width and height in
cells), the sub-cell centre ``offset`` (2, CenterNet's ``reg``) and the handedness ``side`` (1
logit, right = 1). Decoding: `models.smhr.decode_peaks` (5×5 max-pool NMS, top-K, a score
threshold), then each box is the peak cell + offset, times the stride, with the decoded size.

Box convention: a hand's box is the bounding box of its labelled 2D keypoints (the finder's
caller grows it into a crop, `infer.pipeline`), its centre the box centre (SMHR's single-hand
rule, `data.centers`). Input: the whole image letterboxed into S×S (`data.smhr_inputs`
``whole_matrix``), uint8 RGB normalised with ImageNet statistics inside `preprocess`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from handkit.losses.centernet import clamped_sigmoid, focal_loss
from handkit.models.backbones import IMAGENET_MEAN, IMAGENET_STD
from handkit.models.registry import register_model
from handkit.models.smhr import (HM_BIAS, decode_peaks, gather_cells, prediction_head,
                                 resnet_backbone, stage_channels)
from handkit.utils.check import check_shape

__all__ = ["HandDetector", "DETECTOR_WEIGHTS", "detector_targets"]

STRIDE = 8
DETECTOR_WEIGHTS = {"center": 1.0, "size": 0.1, "offset": 1.0, "side": 0.1}
"""CenterNet's weights (hm 1, wh 0.1, reg 1); the handedness term is weighted like the size."""


class FusedStride8(nn.Module):
    """layer2 (stride 8) + layer3 and layer4 upsampled to it, each through a 1×1 conv, summed,
    then conv3×3 → BN → ReLU: one (B, channels, H/8, W/8) map."""

    def __init__(self, in_channels: tuple[int, int, int], channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.smooth = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                    nn.BatchNorm2d(channels), nn.ReLU(inplace=True))

    def forward(self, levels: list[Tensor]) -> Tensor:
        size = levels[0].shape[-2:]
        fused = sum(F.interpolate(conv(x), size=size, mode="nearest") if i else conv(x)
                    for i, (conv, x) in enumerate(zip(self.lateral, levels)))
        return self.smooth(fused)


class HandDetector(nn.Module):
    """Every hand of a whole image: boxes, scores and handedness (module docstring).

    Args:
        backbone: a ResNet `create_backbone` name (resnet18 ... resnet152).
        image_size: S, the letterboxed input side (multiple of 32).
        max_hands: peaks decoded per image. threshold: the default score threshold.
        channels: width of the fused map and the heads.
        backbone_weights: optional local file of backbone weights (nothing is downloaded).
    """

    stride = STRIDE

    def __init__(self, backbone: str = "resnet18", image_size: int = 256, *, max_hands: int = 4,
                 threshold: float = 0.3, channels: int = 64,
                 backbone_weights: str | Path | None = None) -> None:
        super().__init__()
        self.backbone = resnet_backbone(backbone, backbone_weights, "the hand detector")
        self.image_size, self.max_hands, self.threshold = image_size, max_hands, threshold
        self.neck = FusedStride8(stage_channels(self.backbone), channels)
        self.heads = nn.ModuleDict({"hm": prediction_head(channels, 1, HM_BIAS),
                                    "size": prediction_head(channels, 2, None),
                                    "offset": prediction_head(channels, 2, None),
                                    "side": prediction_head(channels, 1, 0.0)})
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN)[:, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD)[:, None, None], persistent=False)

    def preprocess(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) uint8 RGB → normalised float."""
        return (images.float() / 255.0 - self.mean) / self.std

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """x: (B, 3, S, S) normalised → raw maps {hm, size, offset, side}: (B, C, S/8, S/8)."""
        b = self.backbone
        x = b.layer1(b.maxpool(b.relu(b.bn1(b.conv1(x)))))
        l2 = b.layer2(x)
        l3 = b.layer3(l2)
        feat = self.neck([l2, l3, b.layer4(l3)])
        return {name: head(feat) for name, head in self.heads.items()}

    def decode(self, maps: dict[str, Tensor], *, max_hands: int | None = None,
               threshold: float | None = -1.0) -> dict[str, Tensor]:
        """Peaks → boxes in input pixels.

        Args:
            maps: `forward`'s output. max_hands: peaks per image (default the model's).
            threshold: keep scores ≥ it; −1 (default) uses the model's, None keeps all.

        Returns:
            ``boxes`` (B, K, 4) float x0, y0, x1, y1 px of the S×S input, ``scores`` (B, K)
            descending, ``right`` (B, K) probability of a right hand, ``keep`` (B, K) bool.
        """
        heat = clamped_sigmoid(maps["hm"])
        k = min(max_hands or self.max_hands, heat.shape[-2] * heat.shape[-1])
        scores, ind, keep = decode_peaks(heat, k, threshold=self.threshold if threshold == -1.0
                                         else threshold)
        w = heat.shape[-1]
        cell = torch.stack([ind % w, ind // w], dim=-1).to(heat.dtype)
        centre = (cell + gather_cells(maps["offset"], ind)) * self.stride
        half = gather_cells(maps["size"], ind).exp() * self.stride / 2
        return {"boxes": torch.cat([centre - half, centre + half], dim=-1), "scores": scores,
                "right": torch.sigmoid(gather_cells(maps["side"], ind)[..., 0]), "keep": keep}

    @torch.inference_mode()
    def detect(self, images: Tensor, **decode_options) -> dict[str, Tensor]:
        """(B, 3, S, S) uint8 RGB letterboxed inputs → `decode`'s dict."""
        return self.decode(self(self.preprocess(images)), **decode_options)

    def loss(self, images: Tensor, *, hm: Tensor, ind: Tensor, slot: Tensor, uv: Tensor,
             valid: Tensor, is_right: Tensor,
             weights: dict[str, float] | None = None) -> dict[str, Tensor]:
        """The weighted training terms on one batch (`data.smhr_inputs.SMHRItems` at stride 8,
        centre rule "box").

        Args:
            images: (B, 3, S, S) normalised. hm: (B, 1, S/8, S/8) Gaussian targets.
            ind, slot: (B, M) cells and real-hand flags. uv: (B, M, 21, 2) px of the input.
            valid: (B, M, 21) bool. is_right: (B, M) bool.
            weights: `DETECTOR_WEIGHTS` keys.

        Returns:
            ``loss`` and each unweighted term (``center``, ``size``, ``offset``, ``side``).
        """
        weights = {**DETECTOR_WEIGHTS, **(weights or {})}
        maps = self(images)
        size_t, offset_t = detector_targets(uv, valid, ind, maps["hm"].shape[-1], self.stride)
        real = slot.to(images.dtype)
        n = real.sum().clamp(min=1)

        def at_slots(name: str) -> Tensor:
            return gather_cells(maps[name], ind)

        terms = {"center": focal_loss(clamped_sigmoid(maps["hm"]), hm, per_sample=False),
                 "size": ((at_slots("size") - size_t).abs().sum(-1) * real).sum() / n,
                 "offset": ((at_slots("offset") - offset_t).abs().sum(-1) * real).sum() / n,
                 "side": (F.binary_cross_entropy_with_logits(
                     at_slots("side")[..., 0], is_right.to(images.dtype), reduction="none")
                     * real).sum() / n}
        terms["loss"] = sum(weights[k] * v for k, v in terms.items())
        return terms


def detector_targets(uv: Tensor, valid: Tensor, ind: Tensor, map_width: int,
                     stride: int = STRIDE) -> tuple[Tensor, Tensor]:
    """Size and offset targets of each slot's hand.

    Args:
        uv: (B, M, 21, 2) px. valid: (B, M, 21) bool. ind: (B, M) flat cells of the box
            centres (`data.centers.center_targets`, rule "box"). map_width: w of the map.

    Returns:
        size (B, M, 2): log of the keypoint box's (width, height) in cells (at least 1 px);
        offset (B, M, 2): box centre / stride − the cell's integer (x, y). Empty slots get
        finite values (they are masked by the caller).
    """
    check_shape(uv, "B M 21 2", name="uv")
    big = torch.finfo(uv.dtype).max
    ok = valid[..., None]
    lo = torch.where(ok, uv, torch.full_like(uv, big)).amin(dim=2)
    hi = torch.where(ok, uv, torch.full_like(uv, -big)).amax(dim=2)
    has = valid.any(dim=2, keepdim=True)
    lo, hi = torch.where(has, lo, torch.zeros_like(lo)), torch.where(has, hi, torch.ones_like(hi))
    size = ((hi - lo).clamp(min=1.0) / stride).log()
    cell = torch.stack([ind % map_width, ind // map_width], dim=-1).to(uv.dtype)
    return size, (lo + hi) / (2 * stride) - cell


register_model("hand_detector")(HandDetector)
