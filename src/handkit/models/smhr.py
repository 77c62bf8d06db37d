"""SMHR: single-stage multi-hand mesh reconstruction (Ren et al., CVIU 2023; specs/mesh.md §3).

A CenterNet-style detector-regressor: a ResNet with a CSP-style neck gives one 256-channel map
at stride 4; 3×3-conv heads predict at every cell a centre heat-map (``hm``), 2 hand parameter
sets (``params``: left | right), optionally a per-vertex texture and 27 SH lighting numbers
(``photometric``) and a 2-channel handedness map (``pick_hand``). At each centre the selected
set poses a hand model whose joints are projected with the camera below.

**Parameter sets** (`PARAM_SETS`), per side: ``"axis_angle"`` (SMHR's default, 61 numbers):
[3 root | 45 finger axis-angle, flat, MANO order | 10 β | 3 translation code]; ``"pca"``
(``--using_pca``, 16 + n): [3 root | n PCA | 10 β | 3 code], the code divided by 10 and the
depth offset 0.6 instead of 0.8; the fingers are mean + PCA (MANO's PCA convention). handkit's
root is an axis-angle in both (SMHR's PCA layer wants a rotation matrix there, §1.6).

**Camera** (`CAMERAS`): ``"fixed"`` (SMHR): f = 512 px, principal point (W/2, H/2), dataset K
ignored, so depth is not metric. ``"intrinsics"``: the image's own K (``uses_K``). Translation
at the centre cell with flat index ``ind`` (specs/mesh.md §3.4): c_x = (ind mod w)·4,
c_y = ⌊ind / w⌋·4 (the cell's top-left pixel, no +0.5), t_z = c + 0.8,
t_x = t_z (a + c_x − p_x) / f_x, t_y = t_z (b + c_y − p_y) / f_y; added to the posed hand last.

**Hand model** (`HAND_MODELS`): ``"mano"`` (the user's MANO files, ``mano_dir``; left set through
``MANO_LEFT.pkl``, SMHR's tip vertices) or ``"openhand"`` (licence-free, axis-angle only, in
handkit's joint order; its prior is its own joint box). The weights are never downloaded:
``backbone_weights`` names a local file.

**Decoding** (`decode_peaks`): sigmoid clamped to [1e-4, 1 − 1e-4], 5×5 max-pool NMS, top-K
(``max_hands``; SMHR: 1 at 224 px, 4 at 384 px), then ``score_threshold`` (default 0.5, the value
commented out in SMHR's code). ``score_threshold=None`` is the released behaviour: always K
hands per image, whatever the image.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from handkit.hand.mano import MANO, resolve_mano_dir
from handkit.hand.model import mirror_pose
from handkit.hand.openhand import JOINT_LIMITS, OpenHand, pose_to_angles
from handkit.losses.centernet import clamped_sigmoid, focal_loss
from handkit.losses.smhr import (SMHR_POSE_LIMITS_LEFT, SMHR_POSE_LIMITS_RIGHT, SMHR_WEIGHTS,
                                 bone_direction_loss, joints3d_loss, norm_prior, photometric_loss,
                                 reprojection_loss)
from handkit.models.backbones import (IMAGENET_MEAN, IMAGENET_STD, ResNetBackbone, check_image,
                                      create_backbone)
from handkit.models.prediction import HandPrediction, Prediction
from handkit.models.registry import ModelConfig, register_model
from handkit.render import PinholeCamera, render, sh9_lighting, vertex_colors, vertex_normals
from handkit.utils.check import check_choice, check_shape

__all__ = ["SMHR", "SMHRNet", "CSPNeck", "L2NormScale", "PARAM_SETS", "CAMERAS", "HAND_MODELS",
           "decode_peaks", "decode_translation", "fixed_K", "gather_cells", "SMHR_FOCAL",
           "HM_BIAS", "prediction_head", "stage_channels"]

PARAM_SETS = {"axis_angle": "[3 root | 45 axis-angle | 10 beta | 3 code] per side (SMHR)",
              "pca": "[3 root | n PCA | 10 beta | 3 code/10], depth offset 0.6 (--using_pca)"}
CAMERAS = {"fixed": "f = 512 px, principal point at the image centre (SMHR)",
           "intrinsics": "the image's own K"}
HAND_MODELS = {"mano": "MANO from the user's files (mano_dir or HANDKIT_MANO_DIR)",
               "openhand": "handkit's licence-free OpenHand (axis-angle only)"}
SMHR_FOCAL = 512.0
HM_BIAS = -4.59
"""Last bias of the ``hm`` and ``handmap`` heads (sigmoid ≈ 0.01), specs/mesh.md §3.2."""
_DEPTH_OFFSET = {"axis_angle": 0.8, "pca": 0.6}
_CODE_SCALE = {"axis_angle": 1.0, "pca": 0.1}
TEXTURE_MEAN = (0.45, 0.35, 0.3)
"""Added to the texture head's 778·3 output: the mean albedo (specs/mesh.md §3.3)."""
LIGHT_DC = 0.8
"""Added to the DC coefficient of each colour channel's 9 SH numbers."""


class L2NormScale(nn.Module):
    """CSP's L2Normalization: x / ‖x‖₂ over channels per pixel, times a learnable per-channel
    scale (initialised to 10). (B, C, H, W) → (B, C, H, W)."""

    def __init__(self, channels: int, scale: float = 10.0, eps: float = 1e-10) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        norm = x.pow(2).sum(1, keepdim=True).sqrt() + self.eps
        return x / norm * self.weight[None, :, None, None]


def stage_channels(backbone: ResNetBackbone) -> tuple[int, int, int]:
    """Output channels of layer2, layer3, layer4 (basic or bottleneck blocks)."""
    out = []
    for name in ("layer2", "layer3", "layer4"):
        block = getattr(backbone, name)[-1]
        out.append((block.bn3 if hasattr(block, "bn3") else block.bn2).num_features)
    return tuple(out)  # type: ignore[return-value]


def resnet_backbone(name: str, weights: str | Path | None, model: str) -> ResNetBackbone:
    """A ResNet from `create_backbone` (weights only from a local file), for a `model` whose
    neck reads layer2-4; any other backbone is a clear error."""
    backbone = create_backbone(name, weights=weights)
    if not isinstance(backbone, ResNetBackbone):
        raise ValueError(f"backbone: {model} needs a ResNet (resnet18 ... resnet152), got "
                         f"{name!r}.")
    return backbone


class CSPNeck(nn.Module):
    """SMHR's ``resnet_csp`` neck: layer2/3/4 deconvolved to stride 4 (k4 s2 p1, k4 s4, k8 s8),
    each L2-normalised with a learnable scale, concatenated (768) → conv3×3 (no bias) → BN
    (momentum 0.01) → ReLU. Deconvolutions: Xavier-normal, bias 0.

    Args:
        channels: (c2, c3, c4) of the backbone's layer2-4. out: channels per level (256).
    """

    def __init__(self, channels: tuple[int, int, int], out: int = 256) -> None:
        super().__init__()
        c2, c3, c4 = channels
        self.p3 = nn.ConvTranspose2d(c2, out, 4, stride=2, padding=1)
        self.p4 = nn.ConvTranspose2d(c3, out, 4, stride=4, padding=0)
        self.p5 = nn.ConvTranspose2d(c4, out, 8, stride=8, padding=0)
        for deconv in (self.p3, self.p4, self.p5):
            nn.init.xavier_normal_(deconv.weight)
            nn.init.zeros_(deconv.bias)
        self.n3, self.n4, self.n5 = L2NormScale(out), L2NormScale(out), L2NormScale(out)
        self.feat = nn.Sequential(nn.Conv2d(3 * out, out, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(out, momentum=0.01), nn.ReLU(inplace=True))
        self.out_channels = out

    def forward(self, l2: Tensor, l3: Tensor, l4: Tensor) -> Tensor:
        """l2, l3, l4: stride 8, 16, 32 maps → (B, out, H/4, W/4)."""
        p3, p4, p5 = self.n3(self.p3(l2)), self.n4(self.p4(l3)), self.n5(self.p5(l4))
        return self.feat(torch.cat([p3, p4, p5], dim=1))


def prediction_head(channels: int, out: int, bias: float | None) -> nn.Sequential:
    """conv3×3 → ReLU → conv1×1. bias given: CenterNet's heat-map init (last bias = `bias`);
    None: every conv normal(0, 0.001), bias 0 (CenterNet's ``fill_fc_weights``)."""
    head = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(channels, out, 1))
    if bias is not None:
        nn.init.constant_(head[-1].bias, bias)
    else:
        for conv in (head[0], head[2]):
            nn.init.normal_(conv.weight, std=0.001)
            nn.init.zeros_(conv.bias)
    return head


class SMHRNet(nn.Module):
    """Backbone + neck + heads: images → raw maps (logits for hm/handmap), stride 4.

    Args:
        backbone: a ResNet `create_backbone` name. backbone_weights: optional local file.
        param_channels: 2 × the per-side set size. num_vertices: texture head = 3 × this.
        photometric: build ``texture`` and ``light``. pick_hand: build ``handmap``.
        channels: neck and head width (SMHR: 256).
    """

    def __init__(self, backbone: str, *, param_channels: int, num_vertices: int,
                 photometric: bool, pick_hand: bool, channels: int = 256,
                 backbone_weights: str | Path | None = None) -> None:
        super().__init__()
        self.backbone = resnet_backbone(backbone, backbone_weights, "SMHR's neck")
        self.neck = CSPNeck(stage_channels(self.backbone), channels)
        c = self.neck.out_channels
        heads = {"hm": prediction_head(c, 1, HM_BIAS),
                 "params": prediction_head(c, param_channels, None)}
        if photometric:
            heads["texture"] = prediction_head(c, 3 * num_vertices, None)
            heads["light"] = prediction_head(c, 27, None)
        if pick_hand:
            heads["handmap"] = prediction_head(c, 2, HM_BIAS)
        self.heads = nn.ModuleDict(heads)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """x: (B, 3, H, W) normalised, H and W multiples of 32 → {head: (B, C, H/4, W/4)}."""
        b = self.backbone
        x = b.layer1(b.maxpool(b.relu(b.bn1(b.conv1(x)))))
        l2 = b.layer2(x)
        l3 = b.layer3(l2)
        feat = self.neck(l2, l3, b.layer4(l3))
        return {name: head(feat) for name, head in self.heads.items()}


def gather_cells(maps: Tensor, ind: Tensor) -> Tensor:
    """The vectors of maps at flat cell indices: (B, C, h, w), (B, K) int64 → (B, K, C)."""
    b, c = maps.shape[:2]
    flat = maps.reshape(b, c, -1)
    return flat.gather(2, ind[:, None, :].expand(b, c, ind.shape[1])).transpose(1, 2)


def decode_peaks(heat: Tensor, k: int, *, threshold: float | None = 0.5,
                 kernel: int = 5) -> tuple[Tensor, Tensor, Tensor]:
    """Centre peaks of a probability heat-map: max-pool NMS, top-K, optional threshold.

    Args:
        heat: (B, 1, h, w) probabilities (clamped sigmoid).
        k: peaks per image (SMHR: 1 at 224 px, 4 at 384 px); at most h·w.
        threshold: keep peaks with score ≥ threshold; None keeps all K (SMHR's release).
        kernel: NMS window (5): a cell survives only if it is the maximum of its window.

    Returns:
        scores (B, K) float (descending), ind (B, K) int64 flat cells (y·w + x),
        keep (B, K) bool.
    """
    check_shape(heat, "B 1 H W", name="heat")
    h, w = heat.shape[-2:]
    if not 1 <= k <= h * w:
        raise ValueError(f"max_hands: expected 1 to {h * w} peaks for a {h}x{w} map, got {k}.")
    hmax = F.max_pool2d(heat, kernel, stride=1, padding=(kernel - 1) // 2)
    peaks = heat * (hmax == heat).to(heat.dtype)
    scores, ind = peaks.flatten(1).topk(k, dim=1)
    keep = torch.ones_like(scores, dtype=torch.bool) if threshold is None else scores >= threshold
    return scores, ind, keep


def fixed_K(image_size: tuple[int, int], focal: float = SMHR_FOCAL, *,
            dtype: torch.dtype = torch.float32, device: Any = None) -> Tensor:
    """SMHR's camera: f = `focal` px, principal point (W/2, H/2). (3, 3)."""
    h, w = image_size
    return torch.tensor([[focal, 0.0, w / 2], [0.0, focal, h / 2], [0.0, 0.0, 1.0]],
                        dtype=dtype, device=device)


def decode_translation(code: Tensor, ind: Tensor, K: Tensor, map_width: int, *,
                       stride: int = 4, depth_offset: float = 0.8) -> Tensor:
    """SMHR's translation from the code (a, b, c) at cell `ind` (specs/mesh.md §3.4).

    c_x = (ind mod w)·stride, c_y = ⌊ind / w⌋·stride (the cell's top-left pixel), t_z = c +
    `depth_offset`, t_x = t_z (a + c_x − p_x) / f_x, t_y = t_z (b + c_y − p_y) / f_y.

    Args:
        code: (..., 3) float: (a, b) px, c meters. ind: (...,) int64 flat cells.
        K: (..., 3, 3) or (3, 3) float px (`fixed_K` for SMHR's camera).
        map_width: w, the heat-map width in cells.

    Returns:
        (..., 3) float, meters (for the fixed camera: units of SMHR's non-metric frame).
    """
    check_shape(code, "* 3", name="code")
    K = K.to(code).expand(*code.shape[:-1], 3, 3)
    cx = (ind % map_width).to(code) * stride
    cy = torch.div(ind, map_width, rounding_mode="floor").to(code) * stride
    tz = code[..., 2] + depth_offset
    tx = tz * (code[..., 0] + cx - K[..., 0, 2]) / K[..., 0, 0]
    ty = tz * (code[..., 1] + cy - K[..., 1, 2]) / K[..., 1, 1]
    return torch.stack([tx, ty, tz], dim=-1)


def _project(xyz: Tensor, K: Tensor) -> Tensor:
    """(M, J, 3) camera-frame points, (M, 3, 3) K → (M, J, 2) px."""
    p = xyz @ K.transpose(-1, -2)
    return p[..., :2] / p[..., 2:].clamp_min(1e-6)


class SMHR(nn.Module):
    """The SMHR model behind handkit's contract (module doc for the options).

    Args:
        backbone, image_size: of `ModelConfig` (official resnet50; 224 single-hand, 384 multi).
        param_set: `PARAM_SETS`. n_pca: PCA coefficients (``param_set="pca"``).
        hand_model: `HAND_MODELS`. mano_dir: the MANO folder (None: ``HANDKIT_MANO_DIR``; one missing here
            falls back to it, `hand.mano_file.resolve_mano_dir`).
        camera: `CAMERAS`. pick_hand: predict handedness (else every hand is right).
        photometric: build the texture and light heads.
        max_hands: K of the top-K decoding. score_threshold: see `decode_peaks`.
        backbone_weights: a local ImageNet/torchvision file for the backbone (never downloaded).
        channels: neck and head width (SMHR: 256; CPU twins use less: with ResNet-18 at 256 the
            neck's k8 deconvolution alone has 8.4 M weights).
    """

    frame = "camera"
    unit = "m"
    normalize = (IMAGENET_MEAN, IMAGENET_STD)
    stride = 4

    def __init__(self, backbone: str = "resnet50", image_size: int = 384, *,
                 param_set: Literal["axis_angle", "pca"] = "axis_angle", n_pca: int = 45,
                 hand_model: Literal["mano", "openhand"] = "mano", mano_dir: str | None = None,
                 camera: Literal["fixed", "intrinsics"] = "fixed", pick_hand: bool = True,
                 photometric: bool = False, max_hands: int = 4,
                 score_threshold: float | None = 0.5, channels: int = 256,
                 backbone_weights: str | None = None) -> None:
        super().__init__()
        check_choice(param_set, PARAM_SETS, name="param_set")
        check_choice(hand_model, HAND_MODELS, name="hand_model")
        check_choice(camera, CAMERAS, name="camera")
        if param_set == "pca" and not 1 <= n_pca <= 45:
            raise ValueError(f"n_pca: expected 1 to 45 PCA coefficients, got {n_pca}.")
        if param_set == "pca" and hand_model != "mano":
            raise ValueError("param_set='pca' needs hand_model='mano' (OpenHand has no PCA "
                             "basis); use param_set='axis_angle'.")
        options = {"param_set": param_set, "n_pca": n_pca, "hand_model": hand_model,
                   "mano_dir": mano_dir, "camera": camera, "pick_hand": pick_hand,
                   "photometric": photometric, "max_hands": max_hands,
                   "score_threshold": score_threshold, "channels": channels}
        self.cfg = ModelConfig("smhr", backbone, image_size, options)
        self.param_set, self.n_pca, self.hand_model = param_set, n_pca, hand_model
        self.camera, self.pick_hand, self.photometric = camera, pick_hand, photometric
        self.max_hands, self.score_threshold = max_hands, score_threshold
        self.image_size = image_size
        self.uses_K = camera == "intrinsics"
        self.finger_dim = 45 if param_set == "axis_angle" else n_pca
        self.set_size = 3 + self.finger_dim + 10 + 3
        if hand_model == "mano":
            folder = resolve_mano_dir(mano_dir)
            flat = param_set == "axis_angle"
            self.hands = nn.ModuleDict({
                "right": MANO(folder, side="right", flat_hand_mean=flat, tips="smhr"),
                "left": MANO(folder, side="left", flat_hand_mean=flat, tips="smhr_left")})
        else:
            self.hands = nn.ModuleDict({"right": OpenHand()})
        self.num_vertices = int(next(iter(self.hands.values())).parts.shape[0])
        self.net = SMHRNet(backbone, param_channels=2 * self.set_size,
                           num_vertices=self.num_vertices, photometric=photometric,
                           pick_hand=pick_hand, channels=channels,
                           backbone_weights=backbone_weights)

    # ---- input ----------------------------------------------------------------------------
    def preprocess(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) uint8 RGB → normalised float (ImageNet statistics on RGB; SMHR feeds
        BGR with RGB statistics, a CenterNet habit handkit does not copy)."""
        mean, std = (torch.tensor(v, device=images.device)[:, None, None] for v in self.normalize)
        return (images.float() / 255.0 - mean) / std

    def _check_input(self, image: Tensor) -> None:
        check_image(image, "image")
        h, w = image.shape[-2:]
        if h < 32 or w < 32 or h % 32 or w % 32:
            raise ValueError(f"image: {h}x{w} px; SMHR needs sides that are multiples of 32 "
                             f"(the backbone's stride), e.g. {self.image_size}. Resize or pad "
                             f"the image first.")

    def camera_K(self, image: Tensor, K: Tensor | None) -> Tensor:
        """(B, 3, 3) the camera used: SMHR's fixed one, or the given K (``camera="intrinsics"``)."""
        b, h, w = image.shape[0], image.shape[-2], image.shape[-1]
        if self.camera == "fixed":
            return fixed_K((h, w), dtype=image.dtype, device=image.device).expand(b, 3, 3)
        if K is None:
            raise ValueError("K: camera='intrinsics' needs each image's (B, 3, 3) intrinsics; "
                             "pass K or build the model with camera='fixed'.")
        check_shape(K, f"{b} 3 3", name="K")
        return K.to(image)

    # ---- the network ----------------------------------------------------------------------
    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """Raw maps: {"hm", "params", ["handmap", "texture", "light"]} (B, C, H/4, W/4); hm
        and handmap as clamped sigmoid probabilities."""
        self._check_input(image)
        maps = self.net(image)
        for name in ("hm", "handmap"):
            if name in maps:
                maps[name] = clamped_sigmoid(maps[name])
        return maps

    def split_set(self, vec: Tensor) -> dict[str, Tensor]:
        """One side's set (..., set_size) → root (..., 3), finger (..., finger_dim), beta
        (..., 10), code (..., 3) (already scaled, `_CODE_SCALE`)."""
        d = self.finger_dim
        return {"root": vec[..., :3], "finger": vec[..., 3:3 + d], "beta": vec[..., 3 + d:13 + d],
                "code": vec[..., 13 + d:16 + d] * _CODE_SCALE[self.param_set]}

    def _pose_side(self, side: str, p: dict[str, Tensor], transl: Tensor) -> tuple[Tensor, Tensor]:
        if self.hand_model == "mano":
            model = self.hands[side]
            kw = {"finger_aa": p["finger"]} if self.param_set == "axis_angle" else \
                {"finger_pca": p["finger"]}
            out = model.forward_mano(p["root"], shape=p["beta"], handedness=side, transl=transl,
                                     **kw)
        else:
            out = self.hands["right"](p["root"], p["finger"].unflatten(-1, (15, 3)), p["beta"],
                                      handedness=side, transl=transl)
        return out.joints, out.vertices

    def hands_at(self, vec: Tensor, ind: Tensor, is_right: Tensor, K: Tensor,
                 map_width: int) -> dict[str, Tensor]:
        """Pose the hands at given cells.

        Args:
            vec: (M, 2·set_size) params gathered at the cells. ind: (M,) flat cells.
            is_right: (M,) bool: which set (left = first half). K: (M, 3, 3) px.
            map_width: heat-map width in cells.

        Returns:
            dict: joints (M, 21, 3) and vertices (M, V, 3) meters camera frame, uv (M, 21, 2)
            px, and the selected set's ``root``, ``finger``, ``beta``, ``code``, ``transl``.
        """
        s = self.set_size
        sel = torch.where(is_right[:, None], vec[:, s:], vec[:, :s])
        p = self.split_set(sel)
        transl = decode_translation(p["code"], ind, K, map_width, stride=self.stride,
                                    depth_offset=_DEPTH_OFFSET[self.param_set])
        joints = vertices = None
        for side, flag in (("right", True), ("left", False)):
            rows = (is_right == flag).nonzero()[:, 0]
            if len(rows) == 0:
                continue
            j, v = self._pose_side(side, {k: t[rows] for k, t in p.items()}, transl[rows])
            if joints is None:
                joints = j.new_zeros(len(vec), *j.shape[1:])
                vertices = v.new_zeros(len(vec), *v.shape[1:])
            joints, vertices = joints.index_copy(0, rows, j), vertices.index_copy(0, rows, v)
        if joints is None:  # no hand at all
            joints = vec.new_zeros(0, 21, 3)
            vertices = vec.new_zeros(0, self.num_vertices, 3)
        return {"joints": joints, "vertices": vertices, "uv": _project(joints, K),
                "transl": transl, **p}

    def prior(self, vec: Tensor) -> Tensor:
        """SMHR's norm prior on both sets of each hand: (M, 2·set_size) → (M,) (sum of sides)."""
        s = self.set_size
        total = vec.new_zeros(vec.shape[0])
        for side, half in (("left", vec[:, :s]), ("right", vec[:, s:])):
            p = self.split_set(half)
            if self.hand_model == "openhand":
                finger = p["finger"].unflatten(-1, (15, 3))
                if side == "left":  # OpenHand's left hand is the mirror of its right
                    finger = mirror_pose(finger)
                limits = JOINT_LIMITS.to(vec) * (180.0 / torch.pi)
                total = total + norm_prior(pose_to_angles(finger), p["beta"], limits)
            elif self.param_set == "axis_angle":
                limits = SMHR_POSE_LIMITS_RIGHT if side == "right" else SMHR_POSE_LIMITS_LEFT
                total = total + norm_prior(p["finger"], p["beta"], limits)
            else:  # PCA coefficients have no box: SMHR's PCA path is never trained
                total = total + 0.1 * (p["beta"] ** 2).mean(-1)
        return total

    # ---- inference ------------------------------------------------------------------------
    def read_cells(self, maps: dict[str, Tensor], ind: Tensor, K: Tensor) -> dict[str, Tensor]:
        """The hands at given cells of the maps: decoding (peaks) or SMHR's evaluation at the
        ground-truth centres.

        Args:
            maps: `forward`'s output. ind: (B, S) int64 flat cells. K: (B, 3, 3) px.

        Returns:
            `hands_at`'s dict flattened over (B·S) hands, plus ``is_right`` (B, S) bool (argmax
            of the handedness map at the cell; all True without ``pick_hand``).
        """
        b, k = ind.shape
        vec = gather_cells(maps["params"], ind)  # (B, S, P)
        if "handmap" in maps:
            is_right = gather_cells(maps["handmap"], ind).argmax(-1) == 1
        else:
            is_right = torch.ones_like(ind, dtype=torch.bool)
        flat_K = K[:, None].expand(b, k, 3, 3).reshape(-1, 3, 3)
        out = self.hands_at(vec.reshape(b * k, -1), ind.reshape(-1), is_right.reshape(-1),
                            flat_K, maps["hm"].shape[-1])
        out["is_right"] = is_right
        return out

    def decode_dense(self, image: Tensor, K: Tensor | None = None) -> dict[str, Tensor]:
        """Top-K decoding as fixed-size tensors, without the threshold and without
        data-dependent shapes (what an exported graph computes): both sets are posed for every
        peak and the predicted side selects one (SMHR's ``torch.where``).

        Args:
            image: (B, 3, H, W) normalised. K: (B, 3, 3) with ``camera="intrinsics"``.

        Returns:
            score (B, K), ind (B, K) int64, is_right (B, K) bool, uv (B, K, 21, 2) px,
            xyz (B, K, 21, 3) and vertices (B, K, V, 3) meters, camera frame. A hand is kept
            when score ≥ ``score_threshold`` (`predict` applies it).
        """
        maps = self(image)
        Ks = self.camera_K(image, K)
        score, ind, _ = decode_peaks(maps["hm"], self.max_hands, threshold=None)
        b, k = ind.shape
        vec = gather_cells(maps["params"], ind).reshape(b * k, -1)
        if "handmap" in maps:
            is_right = gather_cells(maps["handmap"], ind).argmax(-1) == 1
        else:
            is_right = torch.ones_like(ind, dtype=torch.bool)
        flat_K = Ks[:, None].expand(b, k, 3, 3).reshape(-1, 3, 3)
        s, w = self.set_size, maps["hm"].shape[-1]
        posed = {}
        for side, half in (("left", vec[:, :s]), ("right", vec[:, s:])):
            p = self.split_set(half)
            transl = decode_translation(p["code"], ind.reshape(-1), flat_K, w, stride=self.stride,
                                        depth_offset=_DEPTH_OFFSET[self.param_set])
            posed[side] = self._pose_side(side, p, transl)
        pick = is_right.reshape(-1)[:, None, None]
        joints = torch.where(pick, posed["right"][0], posed["left"][0])
        vertices = torch.where(pick, posed["right"][1], posed["left"][1])
        return {"score": score, "ind": ind, "is_right": is_right,
                "uv": _project(joints, flat_K).reshape(b, k, 21, 2),
                "xyz": joints.reshape(b, k, 21, 3),
                "vertices": vertices.reshape(b, k, -1, 3)}

    @torch.no_grad()
    def predict(self, image: Tensor, K: Tensor | None = None) -> Prediction:
        """Every detected hand of every image.

        Args:
            image: (B, 3, H, W) float normalised (`preprocess`).
            K: (B, 3, 3) px, only with ``camera="intrinsics"``.

        Returns:
            `Prediction`: per image 0..max_hands hands (score, is_right, uv px, xyz and
            vertices meters camera frame; extras: ``cell`` (x, y) and the selected set's
            ``root``, ``finger``, ``beta``, ``transl``).
        """
        maps = self(image)
        b, w = image.shape[0], maps["hm"].shape[-1]
        scores, ind, keep = decode_peaks(maps["hm"], self.max_hands,
                                         threshold=self.score_threshold)
        out = self.read_cells(maps, ind, self.camera_K(image, K))
        is_right, k = out["is_right"], ind.shape[1]
        hands = []
        for i in range(b):
            row = []
            for j in range(k):
                if not keep[i, j]:
                    continue
                m = i * k + j
                cell = (int(ind[i, j]) % w, int(ind[i, j]) // w)
                row.append(HandPrediction(
                    out["uv"][m], out["joints"][m], self.frame, self.unit,
                    is_right=bool(is_right[i, j]), score=float(scores[i, j]),
                    vertices=out["vertices"][m],
                    extras={"cell": cell, "root": out["root"][m], "finger": out["finger"][m],
                            "beta": out["beta"][m], "transl": out["transl"][m]}))
            hands.append(tuple(row))
        faces = next(iter(self.hands.values())).faces
        return Prediction(tuple(hands), faces=faces)

    # ---- rendering ------------------------------------------------------------------------
    def render_hands(self, maps: dict[str, Tensor], ind: Tensor, slot: Tensor,
                     vertices: Tensor, K: Tensor, size: tuple[int, int]
                     ) -> tuple[Tensor, Tensor]:
        """SMHR's SH-lit render of every image's hands (specs/mesh.md §3.6), hard rasteriser.

        Albedo = texture head + `TEXTURE_MEAN`, lighting = the light head as (3, 9) SH
        coefficients with `LIGHT_DC` added to the DC terms (`render.sh9_lighting`), vertex
        colour = albedo ⊙ lighting, per-vertex normals from the mesh. All slots of an image are
        one mesh with the right hand's faces (as SMHR; empty slots are moved behind the camera).

        Args:
            maps: `forward`'s output (needs ``photometric``). ind: (B, S) cells. slot: (B, S)
                real hands. vertices: (B·S, V, 3) meters, camera frame. K: (B, 3, 3) px.
            size: (H, W) of the render (the network input).

        Returns:
            rgb (B, H, W, 3) in the lit colours' range, silhouette (B, H, W) 0/1 (no gradient).
        """
        if "texture" not in maps:
            raise ValueError("photometric: build the model with photometric=True (texture and "
                             "light heads).")
        b, s = ind.shape
        v = self.num_vertices
        albedo = gather_cells(maps["texture"], ind).reshape(b * s, v, 3)
        albedo = albedo + albedo.new_tensor(TEXTURE_MEAN)
        gamma = gather_cells(maps["light"], ind).reshape(b * s, 3, 9)
        gamma = gamma + torch.nn.functional.pad(gamma.new_full((1, 3, 1), LIGHT_DC), (0, 8))
        faces = next(iter(self.hands.values())).faces
        colors = albedo * sh9_lighting(vertex_normals(vertices, faces), gamma)
        away = vertices.new_tensor([0.0, 0.0, -1.0])  # behind the camera: not drawn
        verts = torch.where(slot.reshape(-1)[:, None, None], vertices, away)
        offsets = torch.arange(s, device=faces.device)[:, None, None] * v
        all_faces = (faces[None] + offsets).reshape(-1, 3)
        out = render(verts.reshape(b, s * v, 3), all_faces, PinholeCamera(K), size,
                     attrs=vertex_colors(colors.reshape(b, s * v, 3), all_faces),
                     outputs=("silhouette", "rgb"), mode="hard")
        return out.rgb, out.silhouette

    # ---- training -------------------------------------------------------------------------
    def loss(self, images: Tensor, *, hm: Tensor, ind: Tensor, slot: Tensor, uv: Tensor,
             valid: Tensor, is_right: Tensor, handmap: Tensor | None = None,
             K: Tensor | None = None, xyz: Tensor | None = None,
             mask: Tensor | None = None, weights: Mapping[str, float] | None = None,
             mask_empty_slots: bool = True, hard_fraction: float | None = None,
             joints3d_align: str = "none") -> dict[str, Tensor]:
        """SMHR's training loss on a batch with centre targets (`data.centers.center_targets`).

        Args:
            images: (B, 3, H, W) normalised. hm: (B, 1, h, w) centre targets.
            ind: (B, S) int64 GT centre cells (training gathers at GT centres, as SMHR).
            slot: (B, S) bool real hands. uv: (B, S, 21, 2) px. valid: (B, S, 21) bool.
            is_right: (B, S) bool (selects the set, and the handedness target's side).
            handmap: (B, 2, h, w) handedness targets (with ``pick_hand``).
            K: (B, 3, 3) with ``camera="intrinsics"``.
            xyz: optional (B, S, 21, 3) meters; the 3D term (root-relative L1 × 1000, weight
                ``joints3d``) is computed only when given and weighted > 0.
            mask: (B, H, W) skin mask in [0, 1]; with ``photometric`` weighted > 0 the SH-lit
                render (`render_hands`) is compared with the input's RGB inside
                rendered mask ⊙ skin mask (`losses.smhr.photometric_loss`).
            weights: term weights (default `SMHR_WEIGHTS["multi"]` if max_hands > 1 else
                ``"single"``, without the photometric term unless the model has its heads).
            mask_empty_slots: True: 2D terms average over real hands only. False: SMHR's
                multi-hand path, empty slots (cell 0, keypoints (0, 0)) included.
            hard_fraction: None: mean over the batch; 0.7: SMHR's hard-example mining (the mean
                of the largest 70 % per-sample totals).
            joints3d_align: ``"none"`` (SMHR) or ``"rotation"`` (`losses.smhr.joints3d_loss`).

        Returns:
            dict with "loss" (scalar) and each term's batch mean (unweighted).
        """
        if weights is None:
            weights = dict(SMHR_WEIGHTS["multi" if self.max_hands > 1 else "single"])
            if not self.photometric:  # the official table's photometric term needs the heads
                weights["photometric"] = 0.0
        weights = dict(weights)
        maps = self(images)
        b, s = ind.shape
        Ks = self.camera_K(images, K)
        vec = gather_cells(maps["params"], ind)  # (B, S, P)
        w = maps["hm"].shape[-1]
        out = self.hands_at(vec.reshape(b * s, -1), ind.reshape(-1), is_right.reshape(-1),
                            Ks[:, None].expand(b, s, 3, 3).reshape(-1, 3, 3), w)
        uv_pred = out["uv"].reshape(b, s, 21, 2)
        slot_w = slot.to(images.dtype) if mask_empty_slots else torch.ones_like(
            slot, dtype=images.dtype)
        joint_w = valid.to(images.dtype) if mask_empty_slots else None

        def per_image(per_hand: Tensor) -> Tensor:  # (B, S) → (B,), mean over counted slots
            return (per_hand * slot_w).sum(1) / slot_w.sum(1).clamp_min(1.0)

        terms = {
            "center": focal_loss(maps["hm"], hm),
            "reprojection": per_image(reprojection_loss(uv_pred, uv, joint_w)),
            "bone": per_image(bone_direction_loss(uv_pred, uv, joint_w)),
            "norm": per_image(self.prior(vec.reshape(b * s, -1)).reshape(b, s)),
        }
        if self.pick_hand:
            if handmap is None:
                raise ValueError("handmap: pick_hand=True trains handedness; pass the (B, 2, h, "
                                 "w) targets of data.centers.center_targets.")
            terms["handedness"] = focal_loss(maps["handmap"], handmap)
        if xyz is not None and weights.get("joints3d", 0) > 0:
            pred = out["joints"].reshape(b, s, 21, 3)
            terms["joints3d"] = per_image(joints3d_loss(pred, xyz, align=joints3d_align))
        if weights.get("photometric", 0) > 0:
            if mask is None:
                raise ValueError("mask: the photometric term needs the (B, H, W) skin mask.")
            size = (images.shape[-2], images.shape[-1])
            rgb, sil = self.render_hands(maps, ind, slot, out["vertices"], Ks, size)
            mean, std = (images.new_tensor(v)[:, None, None] for v in self.normalize)
            target = (images * std + mean).permute(0, 2, 3, 1)
            terms["photometric"] = photometric_loss(rgb, target, sil * mask.to(rgb))
        total = sum(weights.get(name, 0.0) * value for name, value in terms.items())
        if hard_fraction is not None:
            total = total.topk(max(1, int(hard_fraction * b))).values
        result = {"loss": total.mean()}
        result.update({name: value.mean().detach() for name, value in terms.items()})
        return result


register_model("smhr")(SMHR)  # the options are SMHR's keyword arguments
