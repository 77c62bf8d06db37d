"""Random appearance: skin tones and texture, lights, backgrounds, occluders, camera artefacts.

Every sampler takes an explicit `numpy.random.Generator` and returns plain arrays; nothing is
stored between calls except a per-process cache of the bundled scikit-image photographs.
Images are float32 RGB in [0, 1] until `finish_image` turns them into uint8.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from handkit.utils.check import check_choice

__all__ = ["Domain", "DOMAINS", "domain", "Look", "sample_look", "vertex_colors",
           "sample_background", "sample_occluder", "finish_image", "PHOTO_NAMES", "preload_photos"]

# Skin tones from very light to very dark (linear-ish RGB), interpolated; covers the human range.
_SKIN = np.array([[0.98, 0.84, 0.74], [0.93, 0.74, 0.61], [0.82, 0.60, 0.46],
                  [0.66, 0.45, 0.32], [0.48, 0.31, 0.21], [0.30, 0.19, 0.13]], dtype=np.float32)
PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "page",
               "text", "hubble_deep_field", "immunohistochemistry", "colorwheel", "retina",
               "grass", "gravel", "brick", "cell", "clock")
"""Photographs bundled with scikit-image (no download) used as background crops."""


@dataclass(frozen=True)
class Domain:
    """An appearance distribution: the ranges every appearance sampler draws from.

    Attributes:
        skin: range of the skin-tone position along the light→dark palette `_SKIN` (0 .. 5).
        light: range of the light's intensity. tint: (std, max deviation) of its colour tint.
        ambient: range of the ambient light term.
        photo_prob: probability that a background is a photograph (else a procedural texture).
        occluder_scale: multiplies each scene's occluder probability.
        blur_prob: probability of a Gaussian blur. noise: maximum sensor-noise std.
    """

    skin: tuple[float, float]
    light: tuple[float, float]
    tint: tuple[float, float]
    ambient: tuple[float, float]
    photo_prob: float
    occluder_scale: float
    blur_prob: float
    noise: float


DOMAINS: dict[str, Domain] = {
    # every range of the synthetic world (the draws the writers have always made)
    "default": Domain(skin=(0.0, 5.0), light=(0.55, 1.0), tint=(0.08, 0.25), ambient=(0.25, 0.55),
                      photo_prob=0.5, occluder_scale=1.0, blur_prob=0.5, noise=0.03),
    # a held-out look: darker skin only, dimmer and more coloured light, photographs only,
    # 1.5x the occluders, blurrier and noisier (a test set unlike the training distribution)
    "shifted": Domain(skin=(3.0, 5.0), light=(0.35, 0.75), tint=(0.2, 0.45), ambient=(0.15, 0.4),
                      photo_prob=1.0, occluder_scale=1.5, blur_prob=0.8, noise=0.05),
}
"""Named appearance distributions (`handkit synth --appearance NAME`); docs/synth.md."""


def domain(name: str) -> Domain:
    """The `DOMAINS` entry `name` (ValueError listing the choices otherwise)."""
    check_choice(name, DOMAINS, name="appearance")
    return DOMAINS[name]


@dataclass(frozen=True)
class Look:
    """Appearance of one hand under one light (all sampled once per hand/video)."""

    skin: np.ndarray  # (3,) albedo in [0, 1]
    texture: np.ndarray  # (4, 5) low-frequency texture: 4 waves × (kx, ky, kz, phase, amp)
    nail: np.ndarray  # (3,) nail albedo
    light_dir: np.ndarray  # (3,) unit, towards the light, camera frame
    light_rgb: np.ndarray  # (3,) color × intensity
    ambient: float
    specular: float
    shininess: float


def sample_look(rng: np.random.Generator, dom: Domain = DOMAINS["default"]) -> Look:
    """Random skin tone, texture, nail color and light from the ranges of `dom`."""
    t = rng.uniform(*dom.skin)
    i = min(int(t), len(_SKIN) - 2)
    skin = _SKIN[i] * (1 - (t - i)) + _SKIN[i + 1] * (t - i)
    skin = np.clip(skin * rng.uniform(0.9, 1.1, 3) * rng.uniform(0.85, 1.1), 0, 1)
    waves = np.concatenate([rng.normal(0, 1, (4, 3)) * rng.uniform(60, 250, (4, 1)),
                            rng.uniform(0, 2 * np.pi, (4, 1)), rng.uniform(0.01, 0.06, (4, 1))], 1)
    nail = np.clip(skin * 0.55 + np.array([0.45, 0.38, 0.38]) * rng.uniform(0.8, 1.1), 0, 1)
    light = rng.normal(0, 1, 3)
    light[2] = -abs(light[2]) - 0.3  # mostly from the camera's side
    tint = np.clip(1 + rng.normal(0, dom.tint[0], 3), 1 - dom.tint[1], 1 + dom.tint[1])
    return Look(skin=skin.astype(np.float32), texture=waves, nail=nail.astype(np.float32),
                light_dir=light / np.linalg.norm(light), light_rgb=tint * rng.uniform(*dom.light),
                ambient=float(rng.uniform(*dom.ambient)), specular=float(rng.uniform(0.02, 0.18)),
                shininess=float(rng.uniform(8, 40)))


def vertex_colors(look: Look, rest_vertices: np.ndarray, nail: np.ndarray) -> np.ndarray:
    """Per-vertex albedo: skin × low-frequency texture (in rest coordinates), nails blended in.

    Args:
        rest_vertices: (V, 3) meters, the model's rest frame (so texture sticks to the skin).
        nail: (V,) in [0, 1], the model's nail region.

    Returns:
        (V, 3) float32 albedo in [0, 1].
    """
    k, phase, amp = look.texture[:, :3], look.texture[:, 3], look.texture[:, 4]
    mod = 1 + (np.sin(rest_vertices @ k.T + phase) * amp).sum(1)
    color = look.skin[None] * mod[:, None]
    color = color * (1 - nail[:, None]) + look.nail[None] * nail[:, None]
    return np.clip(color, 0, 1).astype(np.float32)


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    scale = 512 / max(img.shape[:2])
    if scale < 1:  # keep crops cheap to resize
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                         interpolation=cv2.INTER_AREA)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy.flags.writeable = xx.flags.writeable = False
    return yy, xx


def preload_photos() -> None:
    """Load every bundled photograph into this process's cache (before forking workers)."""
    for name in PHOTO_NAMES:
        _photo(name)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, channels: int) -> np.ndarray:
    small = rng.uniform(0, 1, (cells, cells, channels)).astype(np.float32)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return out.reshape(h, w, channels)


def sample_background(rng: np.random.Generator, height: int, width: int,
                      dom: Domain = DOMAINS["default"]) -> np.ndarray:
    """A background image (H, W, 3) float32 in [0, 1]: a random crop of a bundled photograph
    (with probability ``dom.photo_prob``) or a procedural texture (gradient + smooth noise +
    stripes)."""
    if rng.uniform() < dom.photo_prob:
        photo = _photo(PHOTO_NAMES[rng.integers(len(PHOTO_NAMES))])
        ph, pw = photo.shape[:2]
        side = int(rng.uniform(0.3, 1.0) * min(ph, pw))
        y0, x0 = rng.integers(0, ph - side + 1), rng.integers(0, pw - side + 1)
        crop = photo[y0:y0 + side, x0:x0 + side]
        if rng.uniform() < 0.5:
            crop = crop[:, ::-1]
        img = cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=cv2.INTER_LINEAR)
        img = img.astype(np.float32) / 255.0
        return np.clip(img * rng.uniform(0.6, 1.2) + rng.uniform(-0.1, 0.1, 3), 0, 1).astype(np.float32)
    # procedural textures are smooth: draw them at half resolution and upsample (4x cheaper)
    h, w = (height + 1) // 2, (width + 1) // 2
    base = rng.uniform(0, 1, 3).astype(np.float32)
    yy, xx = _grid(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)[..., None]
    img = base + ramp * rng.uniform(-0.4, 0.4, 3).astype(np.float32)
    img = img + (_smooth_noise(rng, h, w, int(rng.integers(3, 12)), 3) - 0.5) * 0.5
    if rng.uniform() < 0.4:
        freq = rng.uniform(0.1, 0.8)  # radians per half-resolution pixel
        stripes = np.sin((xx * np.cos(angle + 1) + yy * np.sin(angle + 1)) * freq)[..., None]
        img = img + stripes * rng.uniform(0.05, 0.2, 3).astype(np.float32)
    img = cv2.resize(np.clip(img, 0, 1), (width, height), interpolation=cv2.INTER_LINEAR)
    return img.astype(np.float32, copy=False)


def sample_occluder(rng: np.random.Generator, height: int, width: int,
                    box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A random object in front of the hand: an ellipse or polygon overlapping `box`.

    Args:
        box: (4,) [x1, y1, x2, y2] pixels, the hand's box (the occluder overlaps its border).

    Returns:
        mask (H, W) bool, colors (H, W, 3) float32 (valid where `mask`).
    """
    x1, y1, x2, y2 = box
    bw, bh = max(x2 - x1, 4.0), max(y2 - y1, 4.0)
    cx = rng.uniform(x1, x2) + rng.choice([-1, 1]) * bw * rng.uniform(0.3, 0.7)
    cy = rng.uniform(y1, y2) + rng.choice([-1, 1]) * bh * rng.uniform(0.3, 0.7)
    mask = np.zeros((height, width), np.uint8)
    shift = 4  # sub-pixel precision of cv2 drawing
    if rng.uniform() < 0.5:
        axes = (int(bw * rng.uniform(0.15, 0.4) * 16), int(bh * rng.uniform(0.15, 0.4) * 16))
        cv2.ellipse(mask, (int(cx * 16), int(cy * 16)), axes, float(rng.uniform(0, 180)), 0, 360,
                    1, -1, cv2.LINE_8, shift)
    else:
        n = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.15, 0.45, n) * max(bw, bh)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1) * 16
        cv2.fillPoly(mask, [pts.astype(np.int32)], 1, cv2.LINE_8, shift)
    color = rng.uniform(0, 1, 3).astype(np.float32)
    shading = _smooth_noise(rng, height, width, 4, 1) * 0.4 + 0.8
    return mask.astype(bool), np.clip(color * shading, 0, 1).astype(np.float32)


def finish_image(rng: np.random.Generator, img: np.ndarray,
                 dom: Domain = DOMAINS["default"]) -> np.ndarray:
    """Camera artefacts: random Gaussian blur and sensor noise (rates of `dom`); float [0, 1]
    → uint8. JPEG artefacts come from the writers' JPEG encoding (random quality per image)."""
    if rng.uniform() < dom.blur_prob:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 1.2)))
    sigma = rng.uniform(0.0, dom.noise)  # luminance noise (one draw per pixel, shared by channels)
    noise = rng.standard_normal((*img.shape[:2], 1), dtype=np.float32) * np.float32(sigma)
    return np.clip((img + noise) * 255.0 + 0.5, 0, 255).astype(np.uint8)
