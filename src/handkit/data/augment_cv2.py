"""OpenCV backend of `handkit.data.augment.apply_augment` for CPU data workers.

Same parameters (`sample_augment`, drawn once per batch), same keypoints, same pixel convention
as the torch path; the pixels are produced per image with OpenCV's uint8 SIMD kernels, which on a
CPU beat float tensor ops. Differences from the seed pipeline it replaces: one `cv2.warpAffine`
per image straight to the output size (rotation, crop and resize combined; the seed warps the
full image, slices, then resizes), preceded by an exact `INTER_AREA` decimation by round(s) when
the image shrinks by s >= 1.5; and the warp is consistent with continuous keypoint coordinates
(the seed's rotation is 0.5 px off, see `handkit.data.augment`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from handkit.data.augment import AugmentParams, transform_keypoints
from handkit.utils.check import check_shape

__all__ = ["apply_augment_cv2"]

# handkit continuous coords (pixel centre at i + 0.5) <-> OpenCV's (pixel centre at i).
_TO_CV = np.array([[1.0, 0, -0.5], [0, 1.0, -0.5], [0, 0, 1.0]])
_FROM_CV = np.array([[1.0, 0, 0.5], [0, 1.0, 0.5], [0, 0, 1.0]])


def _one(img: np.ndarray, i: int, p: AugmentParams, antialias: bool) -> np.ndarray:
    h_out, w_out = p.output_size
    if bool(p.cutout[i]):
        r0, r1, c0, c1 = (int(v) for v in p.cutout_box[i])
        img = img.copy()
        img[r0:r1, c0:c1] = int(p.cutout_value[i])
    if bool(p.blur[i]):
        img = cv2.GaussianBlur(img, p.blur_kernel, float(p.blur_sigma[i]))
    m = p.matrix[i].cpu().numpy()
    shrink = float((p.crop_size[i].cpu() / torch.tensor([w_out, h_out])).max())
    f = int(min(max(round(shrink), 1), 8)) if antialias else 1
    if f > 1:
        h, w = img.shape[:2]
        nw, nh = -(-w // f), -(-h // f)
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
        m = m @ np.diag([w / nw, h / nh, 1.0])          # resized px -> input px -> output px
    m = _TO_CV @ m @ _FROM_CV
    img = cv2.warpAffine(img, m[:2], (w_out, h_out), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if p.hsv is not None:
        hf, sf, af, bf = (float(v) for v in p.hsv[i])
        hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))  # RGB read as BGR: seed
        hue = np.clip(hue * np.float32(hf), 0, 255).astype(np.uint8)
        sat = np.clip(sat * np.float32(sf), 0, 255).astype(np.uint8)
        val = np.clip(val * np.float32(af) + np.float32(bf), 0, 255).astype(np.uint8)
        img = cv2.cvtColor(cv2.merge([hue, sat, val]), cv2.COLOR_HSV2BGR)
    if p.noise_field is not None and bool(p.noise[i]):
        img = img + p.noise_field[i].permute(1, 2, 0).cpu().numpy()     # uint8 wrap-around
    if bool(p.color_drop[i]):
        img = np.repeat(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None], 3, axis=2)
    return img


def apply_augment_cv2(images: np.ndarray | list[np.ndarray], keypoints: Tensor | None,
                      params: AugmentParams, *, antialias: bool = True,
                      normalize: tuple[tuple[float, ...], tuple[float, ...]] | None = None
                      ) -> tuple[Tensor, Tensor | None]:
    """Apply sampled parameters image by image with OpenCV (uint8 RGB, HWC).

    Args:
        images: (B, H, W, 3) uint8 RGB array, or a list of B such (H, W, 3) arrays.
        keypoints: (B, K, 2) float pixels of the input images, or None.
        params: from `sample_augment` for this batch.
        antialias: INTER_AREA decimation before the warp when shrinking by >= 1.5.
        normalize: (mean, std) in [0, 1] units: float32 `(x / 255 - mean) / std` output.

    Returns:
        images (B, 3, Ho, Wo) torch uint8 (float32 if normalize); keypoints (B, K, 2).

    Geometry and parameters are identical to the torch path; pixels differ by resampling detail
    (OpenCV's fixed-point bilinear and INTER_AREA) and rounding, a level or two.
    """
    b = params.matrix.shape[0]
    if len(images) != b:
        raise ValueError(f"images: expected {b} images as sampled, got {len(images)}.")
    for i, img in enumerate(images):
        check_shape(img, f"{params.input_size[0]} {params.input_size[1]} 3", name=f"images[{i}]",
                    hint="HWC uint8 RGB of the size given to sample_augment.")
        if img.dtype != np.uint8:
            raise ValueError(f"images[{i}]: expected uint8, got {img.dtype}.")
    out = np.stack([_one(np.ascontiguousarray(img), i, params, antialias)
                    for i, img in enumerate(images)])
    x = torch.from_numpy(out).permute(0, 3, 1, 2)
    if normalize is not None:
        mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in normalize)
        x = (x.float() / 255.0 - mean) / std
    x = x.contiguous()
    kp = None if keypoints is None else transform_keypoints(keypoints, params.matrix)
    return x, kp
