"""Per-sample reference augmenter written the way the seeds do it (specs/pretrain.md §1.3).

One image at a time, numpy HWC uint8 RGB, OpenCV ops, Python `random` draws, in the order of
`SampleAugmenter.transform_sample`. It exists for two reasons: the data-pipeline benchmark's
"official-style" path (per-image OpenCV work inside DataLoader workers) and a cross-check of
`handkit.data.augment`, which must sample the same distributions and give the same keypoints for
the same parameters. Unlike the seed it keeps nothing on `self`: `sample_reference` returns a
plain dict and `apply_reference` takes it (so the batched sampler's draws can be replayed here).
"""

from __future__ import annotations

import random

import cv2
import numpy as np

from handkit.data.augment import AugmentConfig, AugmentParams

__all__ = ["sample_reference", "apply_reference", "reference_params_from"]


def sample_reference(cfg: AugmentConfig, rng: random.Random,
                     image_shape: tuple[int, int]) -> dict:
    """Seed-style draws for one image (Python `random`, as the seeds)."""
    h, w = image_shape
    p: dict = {"cut": None, "sigma": None, "hsv": None, "noise": None, "drop": False}
    if cfg.cut_out and rng.getrandbits(1):
        p["cut"] = (rng.uniform(*cfg.cut_out_fraction), rng.randrange(0, 20), rng.randrange(0, 255))
    if cfg.gaussian_blur and rng.getrandbits(1):
        p["sigma"] = rng.uniform(*cfg.blur_sigma_range)
    p["angle"] = rng.uniform(cfg.max_angle_deg, -cfg.max_angle_deg) // 1 if cfg.rotate else None
    p["margin"] = rng.uniform(*cfg.crop_margin_range) if cfg.random_crop else cfg.crop_margin
    p["jitter_raw"] = ([int(rng.uniform(0, cfg.crop_box_jitter)) for _ in range(2)]
                       if cfg.crop else [0, 0])
    if cfg.color_jitter:
        p["hsv"] = tuple(rng.uniform(*r) for r in (cfg.hue_factor_range, cfg.sat_factor_range,
                                                    cfg.value_alpha_range, cfg.value_beta_range))
    if cfg.gaussian_noise and rng.getrandbits(1):
        seed = rng.getrandbits(32)
        cv2.setRNGSeed(seed)
        ho, wo = cfg.output_size
        p["noise"] = cv2.randn(np.zeros((ho, wo, 3), np.uint8), 0, (cfg.noise_std,) * 3)
    p["drop"] = bool(cfg.color_drop and rng.getrandbits(1))
    return p


def _crop_box(kp: np.ndarray, margin: float, jitter: list[int]) -> tuple[int, int, int, int, int]:
    """The seed's `get_crop_size`: (origin_x, origin_y, full side, stored jitter_x, jitter_y)."""
    cx, cy = int(np.mean(kp[:, 0])), int(np.mean(kp[:, 1]))
    side = int(np.max((kp[:, 1] - cy) ** 2 + (kp[:, 0] - cx) ** 2) ** 0.5 * margin)
    ox, oy = max(cx - side + jitter[0], 0), max(cy - side + jitter[1], 0)
    return ox, oy, 2 * side, cx - side - ox, cy - side - oy


def apply_reference(image: np.ndarray, keypoints: np.ndarray, p: dict, cfg: AugmentConfig
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Augment one image the seed way.

    Args:
        image: (H, W, 3) uint8 RGB.
        keypoints: (K, 2) float64 pixels (K >= 20).
        p: draws from `sample_reference` (or `reference_params_from`).
        cfg: flags and ranges.

    Returns:
        image (Ho, Wo, 3) uint8; keypoints (K, 2) output pixels; T (3, 3) input px -> output px;
        dict with the seed's stored `angle`, `jitter_x`, `jitter_y`.
    """
    img, kp = image.copy(), keypoints.astype(np.float64).copy()
    t = np.eye(3)
    if p["cut"] is not None:
        ratio, joint, value = p["cut"]
        h, w = img.shape[:2]
        d0, d1 = int(h * ratio), int(w * ratio)
        c0, c1 = (kp[joint, 0], kp[joint, 1]) if cfg.cut_out_transposed else (kp[joint, 1],
                                                                              kp[joint, 0])
        t0, t1 = int(c0 - d0 / 2), int(c1 - d1 / 2)
        r0, r1 = np.clip([t0, t0 + d0], 0, h)
        q0, q1 = np.clip([t1, t1 + d1], 0, w)
        img[r0:r1, q0:q1] = np.uint8(value)
    if p["sigma"] is not None:
        ksize = tuple(i + 1 if i % 2 == 0 else i for i in (np.array(img.shape[:2]) * 0.1)
                      .astype(int))
        img = cv2.GaussianBlur(img, ksize, p["sigma"])
    angle = p["angle"]
    if angle is not None:
        cx, cy = int(np.mean(kp[:, 0])), int(np.mean(kp[:, 1]))
        m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
        img = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]))
        kp = np.c_[kp, np.ones(len(kp))] @ m.T
        t = np.vstack([m, [0, 0, 1]])
    ox, oy, side, jx, jy = _crop_box(kp, p["margin"], p["jitter_raw"])
    img = img[oy:oy + side, ox:ox + side]
    kp = kp - [ox, oy]
    t[0, 2] -= ox
    t[1, 2] -= oy
    ch, cw = img.shape[:2]
    ho, wo = cfg.output_size
    img = cv2.resize(img, (wo, ho), interpolation=cv2.INTER_AREA)
    fx, fy = wo / cw, ho / ch
    kp = kp * [fx, fy]
    t[0] *= fx
    t[1] *= fy
    if p["hsv"] is not None:
        h, s, a, b = p["hsv"]
        hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
        hue = np.clip(hue * h, 0, 255)
        sat = np.clip(sat * s, 0, 255)
        val = np.clip(val * a + b, 0, 255)
        img = cv2.cvtColor(cv2.merge([hue, sat, val]).astype(np.uint8), cv2.COLOR_HSV2BGR)
    if p["noise"] is not None:
        img += p["noise"]                      # uint8 wrap-around, as the seed
    if p["drop"]:
        img[:, :, :] = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
    return img, kp, t, {"angle": angle, "jitter_x": jx, "jitter_y": jy}


def reference_params_from(params: AugmentParams, i: int) -> dict:
    """Replay image `i` of a batched draw in `apply_reference` (for cross-checks)."""
    cut = None
    if bool(params.cutout[i]):
        cut = (float(params.cutout_ratio[i]), int(params.cutout_joint[i]),
               int(params.cutout_value[i]))
    noise = None
    if params.noise_field is not None and bool(params.noise[i]):
        noise = params.noise_field[i].permute(1, 2, 0).cpu().numpy().copy()
    return {
        "cut": cut,
        "sigma": float(params.blur_sigma[i]) if bool(params.blur[i]) else None,
        "angle": float(params.angle_deg[i]),
        "margin": float(params.crop_margin[i]),
        "jitter_raw": [int(v) for v in params.jitter_raw[i].tolist()],
        "hsv": None if params.hsv is None else tuple(params.hsv[i].tolist()),
        "noise": noise,
        "drop": bool(params.color_drop[i]),
    }
