"""S2HAND's network parts (specs/mesh.md §2.2): stacked hourglass + integral keypoints, the
timm encoder with its low-level feature, the MANO-parameter decoder, the texture/light head.

Written from the spec's description (the released repository has no licence); sizes are the
official ones unless a constructor argument says otherwise (CPU tests use smaller hourglasses
and encoders, never a different structure).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from handkit.utils.check import check_shape

__all__ = ["Residual", "Hourglass", "StackedHourglass", "integral_uv", "TimmEncoder",
           "HandDecoder", "TextureLightHead", "TEXTURE_MEAN", "LOW_FEATURE_SIZE"]

TEXTURE_MEAN = (200 / 256, 150 / 256, 150 / 256)
"""The mean face colour the texture head's offsets are added to (before the renderer's tanh)."""
LOW_FEATURE_SIZE = 56
"""Side of the low-level feature at the official 224 px input; the texture head's layout."""


class Residual(nn.Module):
    """The hourglass bottleneck: BN-ReLU-conv1×1 (out/2) → BN-ReLU-conv3×3 → BN-ReLU-conv1×1
    (out), plus the input (through a 1×1 conv when the widths differ). (B, cin, h, w) →
    (B, cout, h, w)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        mid = max(cout // 2, 1)
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, cout, 1))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    """One hourglass of `depth` levels: at each, a full-resolution residual branch plus
    max-pool → residual → (inner hourglass) → residual → nearest ×2 upsampling.
    (B, f, h, w) → (B, f, h, w); h and w must be divisible by 2^depth."""

    def __init__(self, depth: int, feats: int):
        super().__init__()
        self.up1 = Residual(feats, feats)
        self.low1 = Residual(feats, feats)
        self.low2 = Hourglass(depth - 1, feats) if depth > 1 else Residual(feats, feats)
        self.low3 = Residual(feats, feats)

    def forward(self, x: Tensor) -> Tensor:
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2))))
        return self.up1(x) + F.interpolate(low, scale_factor=2, mode="nearest")


class StackedHourglass(nn.Module):
    """S2HAND's 2D branch ``Net_HM_HG(21, num_stages=2, num_modules=2, num_feats=256)``.

    Stem: conv 7×7/2 (3 → 64) BN ReLU → Residual 64 → 128 → max-pool 2 → Residual 128 → 128 →
    Residual 128 → feats (stride 4). Per stack: hourglass of depth 4, `num_modules` residuals,
    a 1×1 conv-BN-ReLU and a 1×1 head to the joints; between stacks the features and heat-maps
    are merged back by 1×1 convs.

    Args:
        num_joints: 21. num_stacks: 2. num_modules: 2. feats: 256 (CPU twins: 32-64).
        depth: hourglass depth, 4.
    """

    def __init__(self, num_joints: int = 21, num_stacks: int = 2, num_modules: int = 2,
                 feats: int = 256, depth: int = 4):
        super().__init__()
        self.depth = depth
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            Residual(64, 128), nn.MaxPool2d(2), Residual(128, 128), Residual(128, feats))
        self.stacks = nn.ModuleList()
        for i in range(num_stacks):
            stack = nn.Module()
            stack.hg = Hourglass(depth, feats)
            stack.res = nn.Sequential(*[Residual(feats, feats) for _ in range(num_modules)])
            stack.lin = nn.Sequential(nn.Conv2d(feats, feats, 1), nn.BatchNorm2d(feats),
                                      nn.ReLU(inplace=True))
            stack.head = nn.Conv2d(feats, num_joints, 1)
            if i < num_stacks - 1:
                stack.merge_feat = nn.Conv2d(feats, feats, 1)
                stack.merge_pred = nn.Conv2d(num_joints, feats, 1)
            self.stacks.append(stack)

    @property
    def multiple(self) -> int:
        """The input side must be a multiple of this (stride 4 · 2^depth = 64)."""
        return 4 * 2 ** self.depth

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """x: (B, 3, P, P) float (S2HAND: the padded image − 0.5) → (heat-maps per stack, each
        (B, 21, P/4, P/4); the features of each stack (B, feats, P/4, P/4))."""
        if x.shape[-1] % self.multiple or x.shape[-2] % self.multiple:
            raise ValueError(f"StackedHourglass: input sides must be multiples of "
                             f"{self.multiple}, got {tuple(x.shape[-2:])}.")
        x = self.stem(x)
        heatmaps, feats = [], []
        for i, stack in enumerate(self.stacks):
            y = stack.lin(stack.res(stack.hg(x)))
            hm = stack.head(y)
            heatmaps.append(hm)
            feats.append(y)
            if i < len(self.stacks) - 1:
                x = x + stack.merge_feat(y) + stack.merge_pred(hm)
        return heatmaps, feats


def integral_uv(heatmaps: Tensor, size: int) -> Tensor:
    """Keypoints by integral regression (``util.compute_uv_from_integral``).

    The heat-maps are bilinearly upsampled (align_corners=True) to size × size, a softmax is
    taken over all size² pixels of each joint, and u, v are the expected column and row
    **indices**. handkit's pixel convention puts the centre of column i at i + 0.5, so 0.5 is
    added: the same pixels as the official code, in handkit's coordinates.

    Args:
        heatmaps: (B, J, h, w) float logits. size: the padded input side P, pixels.

    Returns:
        (B, J, 2) float, pixels of the (padded) input; the padding is right/bottom only, so
        these are also pixels of the unpadded image.
    """
    check_shape(heatmaps, "B J H W", name="heatmaps")
    b, j = heatmaps.shape[:2]
    up = F.interpolate(heatmaps, size=(size, size), mode="bilinear", align_corners=True)
    prob = torch.softmax(up.reshape(b, j, -1), dim=-1).reshape(b, j, size, size)
    idx = torch.arange(size, dtype=prob.dtype, device=prob.device)
    u = (prob.sum(2) * idx).sum(-1)
    v = (prob.sum(3) * idx).sum(-1)
    return torch.stack([u, v], dim=-1) + 0.5


class TimmEncoder(nn.Module):
    """Any timm model by name, randomly initialised (``pretrained=False``; nothing downloaded),
    as S2HAND's EfficientNet-B3 ``from_name``: a pooled global feature and a stride-4 feature.

    Global: timm's ``forward_head(forward_features(x), pre_logits=True)`` (EfficientNet-B3: the
    1536-channel head map averaged, the official AvgPool(7) at 224 px). Low: the output of the
    last stage at stride 4 (EfficientNet-B3: ``blocks.1``, 32 × 56 × 56 at 224 px, the official
    "MBConv block 4" of efficientnet_pytorch's flat numbering).

    Args:
        name: a timm model name (``efficientnet_b3``; small ones for tests, e.g.
            ``mobilenetv3_small_050``).
    """

    def __init__(self, name: str = "efficientnet_b3"):
        super().__init__()
        import timm  # local: importing timm costs seconds and only this encoder needs it

        self.name = name
        try:
            self.net = timm.create_model(name, pretrained=False, num_classes=0)
        except RuntimeError as err:  # timm's unknown-model error
            raise ValueError(f"backbone: {err}") from None
        stride4 = [f for f in self.net.feature_info if f["reduction"] == 4]
        if not stride4:
            raise ValueError(f"backbone {name!r}: no stride-4 stage in timm's feature_info; "
                             f"S2HAND's texture head needs one.")
        self.low_module, self.low_channels = stride4[-1]["module"], int(stride4[-1]["num_chs"])
        self.out_channels = int(getattr(self.net, "head_hidden_size", None)
                                or self.net.num_features)
        self._low: Tensor | None = None
        self.net.get_submodule(self.low_module).register_forward_hook(self._keep_low)

    def _keep_low(self, module, inputs, output) -> None:
        self._low = output

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, 3, S, S) float in [0, 1] → (global (B, out_channels), low (B, low_channels,
        S/4, S/4))."""
        self._low = None
        glob = self.net.forward_head(self.net.forward_features(x), pre_logits=True)
        low, self._low = self._low, None
        return glob, low


def _mlp_head(cin: int, sizes: tuple[int, ...]) -> nn.Sequential:
    """Linear layers of the given widths with ReLU after all but the last two (the official
    ``128 → ReLU → 32 → 3``: no activation between the last two)."""
    layers: list[nn.Module] = []
    widths = (cin,) + sizes
    for i in range(len(sizes)):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i == 0:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HandDecoder(nn.Module):
    """``MyPoseHand``'s regressor: trunk FC cin → 1024 BN ReLU → 512 BN ReLU, and heads pose
    (128 → ReLU → num_pose), shape (128 → ReLU → 10), trans / rot (128 → ReLU → 32 → 3) and
    scale (128 → ReLU → 32 → 1). Scale and trans heads start at normal(0, 0.001) weights with
    last biases 0.95 and (0, 0, 0.65) (m); the others keep PyTorch's defaults.

    Args:
        cin: the encoder's global feature width (1536). num_pose: 30 PCA coefficients.
        num_shape: 10.
    """

    def __init__(self, cin: int, num_pose: int = 30, num_shape: int = 10):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(cin, 1024), nn.BatchNorm1d(1024), nn.ReLU(inplace=True),
                                   nn.Linear(1024, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True))
        self.pose = _mlp_head(512, (128, num_pose))
        self.shape = _mlp_head(512, (128, num_shape))
        self.trans = _mlp_head(512, (128, 32, 3))
        self.rot = _mlp_head(512, (128, 32, 3))
        self.scale = _mlp_head(512, (128, 32, 1))
        for head, bias in ((self.scale, (0.95,)), (self.trans, (0.0, 0.0, 0.65))):
            for m in head:
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, 0.001)
                    nn.init.zeros_(m.bias)
            with torch.no_grad():
                head[-1].bias.copy_(torch.tensor(bias))

    def forward(self, feature: Tensor) -> dict[str, Tensor]:
        """feature: (B, cin) → pose (B, num_pose), shape (B, 10), trans (B, 3) m, rot (B, 3)
        axis-angle rad, scale (B, 1) unitless."""
        h = self.trunk(feature)
        return {"pose": self.pose(h), "shape": self.shape(h), "trans": self.trans(h),
                "rot": self.rot(h), "scale": self.scale(h)}


class TextureLightHead(nn.Module):
    """``texture_light_estimator`` on the low-level feature.

    Base: conv cin → 48 (k10, s4, p1) ReLU → max-pool 3/2 → conv 48 → 64 (k3) ReLU → max-pool
    2/2: 64 × 2 × 2 = 256 at the official 56 × 56 input. Texture: FC 256 → 64 ReLU → F·3
    (init normal(0, 0.001), bias 0), added to `TEXTURE_MEAN`. Light: FC 256 → 64 ReLU → 11,
    no activation, last weights normal(1, 0.001), bias 0 (the first FCs of both heads are
    normal(0, 0.001) too, as ``normal_init`` there).

    Other input sizes (image sides other than 224) are resized bilinearly to 56 × 56 first, so
    the layout and the 256 features are the official ones (chosen: the official code only runs
    at 224).

    Args:
        cin: channels of the low feature (32 for EfficientNet-B3). num_faces: F.
    """

    def __init__(self, cin: int, num_faces: int):
        super().__init__()
        self.num_faces = num_faces
        self.base = nn.Sequential(
            nn.Conv2d(cin, 48, 10, stride=4, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2), nn.Conv2d(48, 64, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2))
        self.texture = nn.Sequential(nn.Linear(256, 64), nn.ReLU(inplace=True),
                                     nn.Linear(64, num_faces * 3))
        self.light = nn.Sequential(nn.Linear(256, 64), nn.ReLU(inplace=True), nn.Linear(64, 11))
        for lin, mean in ((self.texture[0], 0.0), (self.texture[2], 0.0), (self.light[0], 0.0),
                          (self.light[2], 1.0)):
            nn.init.normal_(lin.weight, mean, 0.001)
            nn.init.zeros_(lin.bias)
        self.register_buffer("mean", torch.tensor(TEXTURE_MEAN), persistent=False)

    def forward(self, low: Tensor) -> tuple[Tensor, Tensor]:
        """low: (B, cin, h, w) → textures (B, F, 3) (mean colour + offset, before tanh),
        lights (B, 11) = [I_a, I_d, c_a (3), c_d (3), d (3)]."""
        if low.shape[-2:] != (LOW_FEATURE_SIZE, LOW_FEATURE_SIZE):
            low = F.interpolate(low, size=(LOW_FEATURE_SIZE, LOW_FEATURE_SIZE), mode="bilinear",
                                align_corners=False)
        base = self.base(low).flatten(1)
        textures = self.mean + self.texture(base).reshape(-1, self.num_faces, 3)
        return textures, self.light(base)
