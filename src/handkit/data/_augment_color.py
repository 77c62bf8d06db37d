"""Colour steps of the seed augmenter in OpenCV's 8-bit HSV, batched (specs/pretrain.md §1.3).

Images here are float (B, 3, H, W) RGB in uint8 units [0, 255]. The seeds call
`cv2.cvtColor(img, COLOR_BGR2HSV)` on an RGB image, so OpenCV reads channel 0 as blue: the hue is
computed with R and B swapped. Kept (official behaviour): channel 2 plays "red" below.
OpenCV 8-bit HSV: H = degrees / 2 in [0, 180), S and V in [0, 255].
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["hsv_jitter", "color_drop", "color_stage"]


def _bgr_to_hsv(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    b, g, r = x.unbind(1)                        # OpenCV's reading of an RGB array as BGR
    v = x.amax(dim=1)
    diff = v - x.amin(dim=1)
    s = 255.0 * diff / v.clamp(min=1e-12)        # 0 where v == 0 (then diff == 0 too)
    inv = 60.0 / diff.clamp(min=1e-12)
    h = torch.where(v == r, (g - b) * inv,
                    torch.where(v == g, (b - r) * inv + 120.0, (r - g) * inv + 240.0))
    h = torch.where(h < 0, h + 360.0, h) * 0.5   # 0 where diff == 0 (all differences are 0)
    return h, s, v


_SECTORS = torch.tensor([1.0, 3.0, 5.0])


def _hsv_to_bgr(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    n = _SECTORS.to(device=h.device, dtype=h.dtype)[None, :, None, None]
    k = torch.remainder(n + (h / 30.0)[:, None], 6.0)          # h is degrees / 2
    w = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    vs = (v * s / 255.0)[:, None]
    return v[:, None] - vs * w                                 # channels (B, G, R), OpenCV order


def hsv_jitter(x: Tensor, hsv: Tensor, *, quantize: bool) -> Tensor:
    """Seed colour jitter: H *= h, S *= s, V = V * a + b, each clipped to [0, 255].

    Args:
        x: (B, 3, H, W) float RGB, uint8 units.
        hsv: (B, 4) factors (h, s, a, b); b in uint8 levels.
        quantize: mimic the uint8 buffers (round after BGR2HSV, truncate after scaling, as
            `astype(np.uint8)`); use for uint8 images.

    Returns:
        (B, 3, H, W) float RGB, uint8 units.
    """
    h, s, v = _bgr_to_hsv(x)
    if quantize:
        h, s, v = h.round().clamp(0, 179), s.round(), v.round()
    f = hsv.to(x.dtype)[:, :, None, None]
    h = (h * f[:, 0]).clamp(0, 255)
    s = (s * f[:, 1]).clamp(0, 255)
    v = (v * f[:, 2] + f[:, 3]).clamp(0, 255)
    if quantize:
        h, s, v = h.trunc(), s.trunc(), v.trunc()
    return _hsv_to_bgr(h, s, v)


def color_drop(x: Tensor, *, quantize: bool) -> Tensor:
    """`cv2.cvtColor(img, COLOR_BGR2GRAY)` on an RGB image, copied into 3 channels."""
    gray = 0.114 * x[:, 0] + 0.587 * x[:, 1] + 0.299 * x[:, 2]
    if quantize:
        gray = gray.round()
    return gray[:, None].expand(-1, 3, -1, -1)


def color_stage(x: Tensor, hsv: Tensor | None, noise_on: Tensor, noise_field: Tensor | None,
                drop_on: Tensor, quantize: bool, mean: Tensor | None, std: Tensor | None
                ) -> Tensor:
    """The seed steps after the resize, pointwise, in one function (so it can be compiled).

    Args:
        x: (B, 3, H, W) float RGB, uint8 units.
        hsv: (B, 4) colour-jitter factors or None.
        noise_on: (B,) bool; noise_field: (B, 3, H, W) uint8 levels or None.
        drop_on: (B,) bool, colour drop.
        quantize: uint8 semantics (round to a uint8 buffer after every step).
        mean, std: (3,) float; when given, return (x / 255 - mean) / std as float32
            (ToTensor + Normalize), else x in uint8 units (rounded if quantize).

    Returns:
        (B, 3, H, W) float.
    """
    def q(t: Tensor) -> Tensor:
        return t.round().clamp(0, 255) if quantize else t
    if hsv is not None:
        x = q(hsv_jitter(x, hsv, quantize=quantize))
    if noise_field is not None:
        noisy = x + noise_field.to(x.dtype)
        noisy = torch.where(noisy >= 256, noisy - 256, noisy)              # uint8 wrap-around
        x = torch.where(noise_on[:, None, None, None], noisy, x)
    x = torch.where(drop_on[:, None, None, None], q(color_drop(x, quantize=False)), x)
    if mean is not None and std is not None:
        return (x / 255.0 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    return x
