"""Batched augmentation of the PeCLR / SiMHand seeds (specs/pretrain.md §1.3).

Whole batches of images `(B, 3, H, W)` (uint8 in [0, 255] or float in [0, 1], any device) with
per-image random parameters from an explicit `torch.Generator`. Style rule R5: `sample_augment`
draws every parameter into a frozen `AugmentParams`, `apply_augment` uses them, and
`invert_keypoints` undoes the geometry on keypoints; nothing is stored on an object.

The seed steps run in the seed order: cut-out, Gaussian blur, rotation, crop (with jitter or a
random margin), resize, colour jitter, Gaussian noise, colour drop. Rotation, crop and resize
are combined into one affine per image and the image is warped once (bilinear, black border,
supersampled when shrinking, which stands in for `cv2.INTER_AREA`). Sobel is not provided (off in
every README recipe).

Pixel convention (handkit): continuous coordinates, pixel corners on integers, centre of column
i at i + 0.5. Keypoints are transformed with exactly the seed's matrix `T` (same numbers), and the
image is warped consistently with them. The seed rotates the image with `cv2.warpAffine`, whose
pixel centres sit on integers, about the same numbers: its image is off by up to 0.5 px against
its own keypoints; ours is not.

Resize is always on (a batch needs one output size), as in every README recipe. The crop always
happens, as in every seed experiment builder: with `crop=False` it is centred (jitter 0).

Label maps (hand masks, part segmentations) follow the images through `warp_labels`: the same
`params.matrix`, nearest-neighbour, 0 (background) outside the input, never colour-jittered.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from handkit.data._augment_color import color_stage
from handkit.utils.check import check_shape

__all__ = ["AugmentConfig", "AugmentParams", "sample_augment", "apply_augment", "augment",
           "invert_keypoints", "transform_keypoints", "warp_labels", "warp_affine",
           "rotation_about"]


@dataclass(frozen=True)
class AugmentConfig:
    """Flags and ranges of the seeds' `SampleAugmenter` (`config/training_config.json`).

    Flag defaults are the README recipe of PeCLR / PeCLR_w / SiMHand
    (`--color_jitter --random_crop --rotate --crop --resize`). Probabilities are the seeds' coin
    flips (`random.getrandbits(1)`), 0.5 each.
    """

    color_jitter: bool = True
    crop: bool = True            # random crop-box jitter; False: centred crop (still cropped)
    random_crop: bool = True     # margin ~ U(crop_margin_range), else crop_margin
    rotate: bool = True
    cut_out: bool = False
    gaussian_blur: bool = False
    gaussian_noise: bool = False
    color_drop: bool = False
    output_size: tuple[int, int] | None = (128, 128)   # (H, W), official resize_shape; None:
    #   the model's input size, filled in by a task that knows it (fine-tuning)
    max_angle_deg: float = 45.0                         # angle = floor(U(-max, max)) degrees
    crop_margin: float = 1.25
    crop_margin_range: tuple[float, float] = (0.9, 1.5)
    crop_box_jitter: int = 15                           # jitter = int(U(0, 15)) in [0, 14] px
    hue_factor_range: tuple[float, float] = (0.01, 1.0)
    sat_factor_range: tuple[float, float] = (0.01, 1.0)
    value_alpha_range: tuple[float, float] = (0.5, 1.0)
    value_beta_range: tuple[float, float] = (5.0, 20.0)  # uint8 levels
    cut_out_fraction: tuple[float, float] = (0.0, 0.16)
    cut_out_transposed: bool = True   # official bug: keypoint x used as the row; False fixes it
    blur_sigma_range: tuple[float, float] = (0.1, 2.0)
    noise_std: float = 25.0           # uint8 levels; negative draws saturate to 0 (official)
    prob: float = 0.5                 # coin flip of cut-out, blur, noise, colour drop
    antialias: bool = True

    def __post_init__(self) -> None:
        ranges = {k: getattr(self, k) for k in ("crop_margin_range", "hue_factor_range",
                                                 "sat_factor_range", "value_alpha_range",
                                                 "value_beta_range", "cut_out_fraction",
                                                 "blur_sigma_range")}
        for name, (lo, hi) in ranges.items():
            if not lo <= hi:
                raise ValueError(f"{name}: expected (low, high) with low <= high, got {(lo, hi)}.")
        if self.output_size is not None and min(self.output_size) < 1:
            raise ValueError(f"output_size: expected positive (H, W), got {self.output_size}.")
        if self.crop_box_jitter < 0 or self.max_angle_deg < 0 or not 0 <= self.prob <= 1:
            raise ValueError("crop_box_jitter/max_angle_deg: must be >= 0; prob: in [0, 1].")


@dataclass(frozen=True)
class AugmentParams:
    """Every parameter `sample_augment` drew for a batch of B images.

    Geometric fields are float64 on the keypoints' device; pixels of the input image unless said.
    """

    matrix: Tensor        # (B, 3, 3) input px -> output px (the seed's T; K' = T K)
    angle_deg: Tensor     # (B,) degrees, integer-valued, + = counter-clockwise on screen (y down)
    rot_center: Tensor    # (B, 2) px, integer keypoint mean before rotation (x, y)
    crop_origin: Tensor   # (B, 2) px of the rotated image, top-left of the crop box
    crop_size: Tensor     # (B, 2) px (w, h) after truncation at the right/bottom border
    crop_margin: Tensor   # (B,) margin used (1.25 or ~U(0.9, 1.5))
    jitter: Tensor        # (B, 2) px pre-resize, the seed's STORED jitter_x/y (<= 0); PeCLR input
    jitter_raw: Tensor    # (B, 2) px, the drawn jitter int(U(0, 15)) (>= 0), before clamping
    input_size: tuple[int, int]    # (H, W)
    output_size: tuple[int, int]   # (H, W)
    cutout: Tensor        # (B,) bool, cut-out applied
    cutout_box: Tensor    # (B, 4) long (row0, row1, col0, col1) of the input image, clipped
    cutout_ratio: Tensor  # (B,) ratio ~ U(0, 0.16) (raw draw)
    cutout_joint: Tensor  # (B,) long, keypoint index in [0, 19] (raw draw)
    cutout_value: Tensor  # (B,) fill level in [0, 254] uint8 units
    blur: Tensor          # (B,) bool, Gaussian blur applied
    blur_sigma: Tensor    # (B,) px of the input image
    blur_kernel: tuple[int, int]   # (kx, ky) odd sizes (official quirk: kx from H, ky from W)
    hsv: Tensor | None    # (B, 4) (h, s, a, b) colour-jitter factors, None when off
    noise: Tensor         # (B,) bool, noise applied
    noise_field: Tensor | None     # (B, 3, Ho, Wo) uint8 levels in [0, 255], None when off
    color_drop: Tensor    # (B,) bool


def _uniform(g: Tensor | torch.Generator, b: int, lo: float, hi: float) -> Tensor:
    return lo + (hi - lo) * torch.rand(b, generator=g, dtype=torch.float64, device=g.device)


def _coin(g: torch.Generator, b: int, on: bool, p: float) -> Tensor:
    flips = torch.rand(b, generator=g, device=g.device) < p
    return flips & on


def _rotation(angle_deg: Tensor, center: Tensor) -> Tensor:
    """(B, 3, 3) `cv2.getRotationMatrix2D(center, angle, 1)` with a last row [0, 0, 1]."""
    a = torch.deg2rad(angle_deg)
    c, s = torch.cos(a), torch.sin(a)
    cx, cy = center.unbind(-1)
    m = torch.zeros(angle_deg.shape[0], 3, 3, dtype=torch.float64, device=angle_deg.device)
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = c, s, (1 - c) * cx - s * cy
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = -s, c, s * cx + (1 - c) * cy
    m[:, 2, 2] = 1.0
    return m


def transform_keypoints(uv: Tensor, matrix: Tensor) -> Tensor:
    """Apply (B, 3, 3) affines to (B, K, 2) pixel keypoints; returns uv's dtype."""
    m = matrix.to(torch.float64)
    out = uv.to(torch.float64) @ m[:, :2, :2].transpose(1, 2) + m[:, None, :2, 2]
    return out.to(uv.dtype)


def sample_augment(keypoints: Tensor, image_size: tuple[int, int], cfg: AugmentConfig,
                   generator: torch.Generator) -> AugmentParams:
    """Draw every random parameter of the seed augmenter for a batch (spec §1.3).

    Args:
        keypoints: (B, K, 2) float, pixels of the input images (K >= 20 for cut-out; 21 in
            handkit order). The crop box is computed from them, as in the seeds.
        image_size: (H, W) of the input images.
        cfg: flags and ranges.
        generator: the only source of randomness (its device is where draws happen).

    Returns:
        AugmentParams on the keypoints' device.
    """
    if cfg.output_size is None:
        raise ValueError("augment.output_size: None; the task sets it from the model's input "
                         "size (dataclasses.replace) before augmenting.")
    dims = check_shape(keypoints, "B K 2", name="keypoints")
    b, dev = dims["B"], keypoints.device
    h_in, w_in = int(image_size[0]), int(image_size[1])
    g = generator

    def to(t: Tensor) -> Tensor:
        return t.to(dev)

    kp = keypoints.detach().to(torch.float64)
    # Cut-out (before any geometry): ratio, keypoint 0..19, fill value 0..254.
    cut = to(_coin(g, b, cfg.cut_out, cfg.prob))
    ratio = to(_uniform(g, b, *cfg.cut_out_fraction))
    joint = to(torch.randint(0, min(20, dims["K"]), (b,), generator=g, device=g.device))
    value = to(torch.randint(0, 255, (b,), generator=g, device=g.device).double())
    centre = kp[torch.arange(b, device=dev), joint]                       # (B, 2) x, y
    c0, c1 = (centre[:, 0], centre[:, 1]) if cfg.cut_out_transposed else (centre[:, 1],
                                                                          centre[:, 0])
    d0, d1 = torch.trunc(h_in * ratio), torch.trunc(w_in * ratio)
    top0, top1 = torch.trunc(c0 - d0 / 2), torch.trunc(c1 - d1 / 2)
    box = torch.stack([top0.clamp(0, h_in), (top0 + d0).clamp(0, h_in),
                       top1.clamp(0, w_in), (top1 + d1).clamp(0, w_in)], dim=1).long()
    blur = to(_coin(g, b, cfg.gaussian_blur, cfg.prob))
    sigma = to(_uniform(g, b, *cfg.blur_sigma_range))
    # Rotation about the integer keypoint mean; angle = floor(U(-45, 45)).
    angle = to(torch.floor(_uniform(g, b, -cfg.max_angle_deg, cfg.max_angle_deg)))
    if not cfg.rotate:
        angle = torch.zeros_like(angle)
    rot_c = torch.trunc(kp.mean(dim=1))
    rot = _rotation(angle, rot_c)
    kp_rot = transform_keypoints(kp, rot)
    # Crop box around the rotated keypoints (get_crop_size), no padding.
    margin = to(_uniform(g, b, *cfg.crop_margin_range)) if cfg.random_crop else torch.full(
        (b,), float(cfg.crop_margin), dtype=torch.float64, device=dev)
    jit_raw = to(torch.floor(_uniform(g, 2 * b, 0.0, float(cfg.crop_box_jitter))).view(b, 2))
    if not cfg.crop:
        jit_raw = torch.zeros_like(jit_raw)
    c = torch.trunc(kp_rot.mean(dim=1))
    side = torch.trunc(((kp_rot - c[:, None]) ** 2).sum(-1).amax(dim=1).sqrt() * margin)
    origin = (c - side[:, None] + jit_raw).clamp(min=0)
    jitter = c - side[:, None] - origin
    limit = torch.tensor([w_in, h_in], dtype=torch.float64, device=dev)
    size = (torch.minimum(origin + 2 * side[:, None], limit) - origin).clamp(min=1)
    h_out, w_out = int(cfg.output_size[0]), int(cfg.output_size[1])
    scale = torch.tensor([w_out, h_out], dtype=torch.float64, device=dev) / size
    crop = torch.zeros_like(rot)
    crop[:, 0, 0], crop[:, 1, 1], crop[:, 2, 2] = scale[:, 0], scale[:, 1], 1.0
    crop[:, :2, 2] = -origin * scale
    hsv = None
    if cfg.color_jitter:
        hsv = torch.stack([_uniform(g, b, *r) for r in (
            cfg.hue_factor_range, cfg.sat_factor_range, cfg.value_alpha_range,
            cfg.value_beta_range)], dim=1).to(dev)
    noise = to(_coin(g, b, cfg.gaussian_noise, cfg.prob))
    field = None
    if cfg.gaussian_noise:
        raw = torch.randn(b, 3, h_out, w_out, generator=g, device=g.device) * cfg.noise_std
        field = to(raw.round().clamp(0, 255).to(torch.uint8))   # cv2.randn into a uint8 buffer
    drop = to(_coin(g, b, cfg.color_drop, cfg.prob))
    k = tuple(int(0.1 * n) + (1 - int(0.1 * n) % 2) for n in (h_in, w_in))
    return AugmentParams(
        matrix=crop @ rot, angle_deg=angle, rot_center=rot_c, crop_origin=origin,
        crop_size=size, crop_margin=margin, jitter=jitter, jitter_raw=jit_raw,
        input_size=(h_in, w_in), output_size=(h_out, w_out), cutout=cut, cutout_box=box,
        cutout_ratio=ratio, cutout_joint=joint, cutout_value=value, blur=blur, blur_sigma=sigma,
        blur_kernel=(k[0], k[1]), hsv=hsv, noise=noise, noise_field=field, color_drop=drop)


def _cutout(img: Tensor, p: AugmentParams, value: Tensor | None = None) -> Tensor:
    """(B, C, H, W) with each sampled cut-out box filled with `value` (B,) (default: the drawn
    fill level)."""
    value = p.cutout_value if value is None else value
    h, w = img.shape[-2:]
    rows = torch.arange(h, device=img.device)
    cols = torch.arange(w, device=img.device)
    bx = p.cutout_box
    in_r = (rows[None] >= bx[:, 0:1]) & (rows[None] < bx[:, 1:2])           # (B, H)
    in_c = (cols[None] >= bx[:, 2:3]) & (cols[None] < bx[:, 3:4])           # (B, W)
    mask = (in_r[:, :, None] & in_c[:, None, :] & p.cutout[:, None, None])[:, None]
    return torch.where(mask, value.to(img.device, img.dtype)[:, None, None, None], img)


def _gaussian_blur(img: Tensor, p: AugmentParams) -> Tensor:
    """cv2.GaussianBlur(ksize=blur_kernel, sigma) per image, BORDER_REFLECT_101."""
    idx = p.blur.nonzero().squeeze(1)
    if idx.numel() == 0:
        return img
    sub = img[idx]
    n, ch, h, w = sub.shape
    out = sub.reshape(1, n * ch, h, w)
    sigma = p.blur_sigma[idx].to(img.dtype)
    for axis, k in ((3, p.blur_kernel[0]), (2, p.blur_kernel[1])):
        if k <= 1:
            continue
        x = torch.arange(k, device=img.device, dtype=img.dtype) - (k - 1) / 2
        kern = torch.exp(-(x[None] ** 2) / (2 * sigma[:, None] ** 2))
        kern = (kern / kern.sum(1, keepdim=True)).repeat_interleave(ch, dim=0)  # (n*ch, k)
        r = k // 2
        if axis == 3:
            out = F.conv2d(F.pad(out, (r, r, 0, 0), mode="reflect"), kern[:, None, None, :],
                           groups=n * ch)
        else:
            out = F.conv2d(F.pad(out, (0, 0, r, r), mode="reflect"), kern[:, None, :, None],
                           groups=n * ch)
    img = img.clone()
    img[idx] = out.reshape(n, ch, h, w)
    return img


def _affine_grid(theta: Tensor, h: int, w: int) -> Tensor:
    """`F.affine_grid(theta, align_corners=False)` by broadcasting (several times faster on CPU)."""
    xs = (torch.arange(w, device=theta.device, dtype=theta.dtype) * 2 + 1) / w - 1
    ys = (torch.arange(h, device=theta.device, dtype=theta.dtype) * 2 + 1) / h - 1
    grid = theta.new_empty(theta.shape[0], h, w, 2)
    for k in range(2):
        row = theta[:, k, None, :]                                          # (n, 1, 3)
        torch.add((row[..., 0] * xs)[:, None, :], (row[..., 1] * ys + row[..., 2])[:, :, None],
                  out=grid[..., k])
    return grid


def _warp(img: Tensor, p: AugmentParams, antialias: bool) -> Tensor:
    """Resample every image through its own affine `p.matrix` (bilinear, zeros outside).

    With `antialias` (an INTER_AREA stand-in), an image shrunk by s >= 1.5 is first box-filtered
    and decimated by f = round(s) (avg-pool, exact in continuous coordinates: u -> u / f), then
    warped; images are grouped by f so each group is pooled once.
    """
    b, ch, h_in, w_in = img.shape
    h_out, w_out = p.output_size
    out_wh = torch.tensor([w_out, h_out], dtype=torch.float64, device=img.device)
    factors = torch.ones(b, dtype=torch.long, device=img.device)
    if antialias:
        factors = (p.crop_size / out_wh).amax(dim=1).round().clamp(1, 8).long()
    inv = torch.linalg.inv(p.matrix)
    out = img.new_empty(b, ch, h_out, w_out)
    for f in factors.unique().tolist():
        idx = (factors == f).nonzero().squeeze(1)
        src = img if idx.numel() == b else img[idx]
        if f > 1:
            src = F.avg_pool2d(src, f, ceil_mode=True)
        shrink = torch.diag(torch.tensor([1.0 / f, 1.0 / f, 1.0], dtype=torch.float64,
                                         device=img.device))
        res = _resample(src, shrink @ inv[idx], (h_out, w_out))
        if idx.numel() == b:
            return res
        out[idx] = res
    return out


def _resample(src: Tensor, inv: Tensor, output_size: tuple[int, int]) -> Tensor:
    """Bilinear resampling (zeros outside) of (n, C, h, w) `src` at the source pixels
    `inv` (n, 3, 3) float64 maps output pixels to."""
    h_out, w_out = output_size
    # theta maps normalised output coords to normalised source coords (align_corners=False:
    # -1 and +1 are the outer pixel edges, i.e. handkit's continuous pixel coordinates).
    theta = (_to_norm(*src.shape[-2:], src.device) @ inv
             @ torch.linalg.inv(_to_norm(h_out, w_out, src.device)))[:, :2].to(src.dtype)
    return F.grid_sample(src, _affine_grid(theta, h_out, w_out), mode="bilinear",
                         padding_mode="zeros", align_corners=False)


def warp_affine(images: Tensor, matrix: Tensor, output_size: tuple[int, int] | None = None
                ) -> Tensor:
    """Warp every image by its own affine map (bilinear, zeros outside, no anti-aliasing).

    Args:
        images: (B, C, H, W) float. matrix: (B, 3, 3) input px → output px (handkit's
            continuous pixel convention; K' = matrix · K). output_size: (H', W'); None = (H, W).

    Returns:
        (B, C, H', W') float, `images`' dtype.
    """
    check_shape(images, "B C H W", name="images")
    check_shape(matrix, f"{images.shape[0]} 3 3", name="matrix")
    size = tuple(images.shape[-2:]) if output_size is None else tuple(output_size)
    return _resample(images, torch.linalg.inv(matrix.to(torch.float64)), size)


def rotation_about(angle_deg: Tensor, center: Tensor) -> Tensor:
    """(B, 3, 3) float64 in-plane rotations by `angle_deg` (B,) degrees, counter-clockwise on
    screen (y down), about `center` (B, 2) px: ``cv2.getRotationMatrix2D(center, angle, 1)``."""
    return _rotation(angle_deg.to(torch.float64), center.to(torch.float64))


def _to_norm(h: int, w: int, device: torch.device) -> Tensor:
    """(3, 3) continuous pixel coords of an h x w image -> grid_sample's [-1, 1] coords."""
    return torch.tensor([[2.0 / w, 0, -1], [0, 2.0 / h, -1], [0, 0, 1]], dtype=torch.float64,
                        device=device)


_COMPILED: dict[str, object] = {}   # lazily built torch.compile of the pointwise stage


def _color_stage(compiled: bool):
    if not compiled:
        return color_stage
    if "fn" not in _COMPILED:
        _COMPILED["fn"] = torch.compile(color_stage, dynamic=None)
    return _COMPILED["fn"]


def apply_augment(images: Tensor, keypoints: Tensor | None, params: AugmentParams,
                  *, antialias: bool = True, normalize: tuple[tuple[float, ...],
                                                               tuple[float, ...]] | None = None,
                  compiled: bool = False) -> tuple[Tensor, Tensor | None]:
    """Apply sampled parameters to a batch (spec §1.3 order).

    Args:
        images: (B, 3, H, W) uint8 in [0, 255] or float in [0, 1], RGB, any device.
        keypoints: (B, K, 2) float pixels of the input images, or None.
        params: from `sample_augment` for the same batch and (H, W).
        antialias: box-filter before the warp when shrinking by >= 1.5 (like INTER_AREA);
            False: plain bilinear.
        normalize: (mean, std) per RGB channel, in [0, 1] units: return float32
            `(x / 255 - mean) / std`, the seeds' ToTensor + Normalize (ImageNet in pre-training).
            None: return the input dtype and range.
        compiled: run the pointwise colour stage through `torch.compile` (same result; the
            first call per shape compiles, about 20 s on 2 CPU cores).

    Returns:
        images (B, 3, Ho, Wo); keypoints (B, K, 2) in output pixels (None if None was given).
    """
    dims = check_shape(images, "B 3 H W", name="images", hint="channels first, RGB.")
    if (dims["H"], dims["W"]) != params.input_size or dims["B"] != params.matrix.shape[0]:
        raise ValueError(f"images: expected ({params.matrix.shape[0]}, 3, "
                         f"{params.input_size[0]}, {params.input_size[1]}) as sampled, "
                         f"got {tuple(images.shape)}.")
    is_uint8 = images.dtype == torch.uint8

    def q(t: Tensor) -> Tensor:  # uint8 input: every seed step writes a uint8 buffer
        return t.round().clamp(0, 255) if is_uint8 else t
    x = images.float() if is_uint8 else images * 255.0
    if bool(params.cutout.any()):
        x = _cutout(x, params)
    if bool(params.blur.any()):
        x = q(_gaussian_blur(x, params))
    x = _warp(x, params, antialias)
    mean = std = None
    if normalize is not None:
        mean, std = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in normalize)
    x = _color_stage(compiled)(q(x), params.hsv, params.noise, params.noise_field,
                               params.color_drop, is_uint8, mean, std)
    if normalize is None:
        x = x.round().clamp(0, 255).to(torch.uint8) if is_uint8 else x / 255.0
    kp = None if keypoints is None else transform_keypoints(keypoints, params.matrix)
    return x, kp


def augment(images: Tensor, keypoints: Tensor, cfg: AugmentConfig, generator: torch.Generator,
            *, normalize: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
            compiled: bool = False) -> tuple[Tensor, Tensor, AugmentParams]:
    """`sample_augment` then `apply_augment`; returns (images, keypoints, params)."""
    params = sample_augment(keypoints, tuple(images.shape[-2:]), cfg, generator)
    out, kp = apply_augment(images, keypoints, params, antialias=cfg.antialias,
                            normalize=normalize, compiled=compiled)
    return out, kp, params


def invert_keypoints(uv: Tensor, params: AugmentParams) -> Tensor:
    """Map (B, K, 2) output-pixel keypoints back to input pixels (inverse of `params.matrix`)."""
    check_shape(uv, f"{params.matrix.shape[0]} K 2", name="uv")
    return transform_keypoints(uv, torch.linalg.inv(params.matrix))


def warp_labels(labels: Tensor, params: AugmentParams, *, fill: int = 0,
                cutout: bool = False) -> Tensor:
    """Warp integer label maps with the geometry the images got (nearest neighbour).

    Output pixel (i, j) takes the label of the input pixel that contains
    ``inverse(params.matrix) @ (j + 0.5, i + 0.5)`` (handkit pixel convention, the point the
    bilinear image warp samples), so no label is ever interpolated; outside the input it gets
    `fill`. Blur, noise and colour steps do not apply to labels. The image warp's
    anti-aliasing (box filter before shrinking) is exact in continuous coordinates, so it
    samples the same points.

    Args:
        labels: (B, H, W) or (B, C, H, W) integer or bool label maps of the input images (hand
            masks; part maps with 0 = background), any device.
        params: from `sample_augment` for these images (H, W = `params.input_size`).
        fill: label of pixels that come from outside the input (0 = background).
        cutout: also set the labels under each applied cut-out box to `fill` (for masks of
            visible pixels; off by default: the hand is still there, only occluded).

    Returns:
        Labels of the output images, (B, Ho, Wo) or (B, C, Ho, Wo), the input's dtype.
    """
    if labels.ndim not in (3, 4):
        raise ValueError(f"labels: expected (B, H, W) or (B, C, H, W), got {tuple(labels.shape)}.")
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"labels: expected an integer or bool label map, got {labels.dtype}; "
                         "images go through apply_augment.")
    x = labels[:, None] if labels.ndim == 3 else labels
    b, c, h, w = x.shape
    if (h, w) != params.input_size or b != params.matrix.shape[0]:
        raise ValueError(f"labels: expected (B={params.matrix.shape[0]}, ..., "
                         f"{params.input_size[0]}, {params.input_size[1]}) as sampled, got "
                         f"{tuple(labels.shape)}.")
    if cutout and bool(params.cutout.any()):
        x = _cutout(x, params, torch.full((b,), fill, dtype=x.dtype, device=x.device))
    h_out, w_out = params.output_size
    inv = torch.linalg.inv(params.matrix.to(x.device, torch.float64))
    cols = (torch.arange(w_out, device=x.device, dtype=torch.float64) + 0.5)[None, None, :]
    rows = (torch.arange(h_out, device=x.device, dtype=torch.float64) + 0.5)[None, :, None]
    src = [inv[:, k, 0, None, None] * cols + inv[:, k, 1, None, None] * rows
           + inv[:, k, 2, None, None] for k in range(2)]  # (B, Ho, Wo) input x, y
    col, row = (torch.floor(v).long() for v in src)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    index = (row.clamp(0, h - 1) * w + col.clamp(0, w - 1)).reshape(b, 1, -1).expand(b, c, -1)
    out = torch.gather(x.reshape(b, c, h * w), 2, index).reshape(b, c, h_out, w_out)
    out = torch.where(inside[:, None], out, torch.full((), fill, dtype=x.dtype, device=x.device))
    return out[:, 0] if labels.ndim == 3 else out
