"""Tests of handkit.data.augment (batched) against geometry, invariances and the seed-style path."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch

from handkit.data.augment import (
    AugmentConfig,
    apply_augment,
    augment,
    invert_keypoints,
    sample_augment,
)
from handkit.data.augment_reference import apply_reference, reference_params_from, sample_reference
from handkit.losses.contrastive import peclr_transform

OFF = AugmentConfig(color_jitter=False, crop=False, random_crop=False, rotate=False)


def _hands(b: int, size: int = 224, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    """(B, 21, 2) hand-like keypoint clouds well inside a size x size image."""
    g = torch.Generator().manual_seed(seed)
    centre = size / 2 + (torch.rand(b, 1, 2, generator=g) - 0.5) * size * 0.2
    return (centre + (torch.rand(b, 21, 2, generator=g) - 0.5) * size * 0.4).to(dtype)


def _images(b: int, size: int = 224, seed: int = 0) -> torch.Tensor:
    """Smooth random uint8 images (low-frequency, so resampling differences stay small)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(b, 3, 8, 8, generator=g)
    big = torch.nn.functional.interpolate(small, size=(size, size), mode="bicubic",
                                          align_corners=False)
    return (big.clamp(0, 1) * 255).round().to(torch.uint8)


def _identity_setup(size: int = 128):
    """Keypoints whose crop box (margin 1) is exactly the whole image: the geometry is I."""
    kp = torch.full((2, 21, 2), size / 2.0)
    kp[:, 0, 0] = 0.0                         # distance 64 from the centre -> side 64
    kp[:, 1, 0] = size                        # keeps the mean at the centre
    cfg = dataclasses.replace(OFF, crop_margin=1.0, output_size=(size, size))
    return kp, cfg


# ---- geometry -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_augment_then_invert_is_identity_on_keypoints(dtype):
    kp = _hands(16, dtype=dtype)
    params = sample_augment(kp, (224, 224), AugmentConfig(), torch.Generator().manual_seed(1))
    _, out = apply_augment(torch.zeros(16, 3, 224, 224), kp, params)
    assert (invert_keypoints(out, params) - kp).abs().max() <= 1e-4
    assert (out - kp).abs().max() > 1.0


@pytest.mark.parametrize("backend", ["torch", "cv2"])
@pytest.mark.parametrize("size", [224, 480])   # 480: shrink ~2-4, the pooled antialias path
def test_rendered_dot_lands_on_transformed_keypoint(size, backend):
    from handkit.data.augment_cv2 import apply_augment_cv2

    b = 12
    kp = _hands(b, size, seed=3)
    sigma = 2.5 * size / 224
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    j = 9                                       # render joint 9 (middle MCP) of each hand
    u, v = kp[:, j, 0, None, None], kp[:, j, 1, None, None]
    dot = torch.exp(-((xs - u) ** 2 + (ys - v) ** 2) / (2 * sigma ** 2))
    img = dot[:, None].expand(-1, 3, -1, -1).contiguous()
    params = sample_augment(kp, (size, size),
                            dataclasses.replace(AugmentConfig(), color_jitter=False),
                            torch.Generator().manual_seed(5))
    if backend == "torch":
        out, kp_out = apply_augment(img, kp, params)
    else:
        u8 = (img * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        out, kp_out = apply_augment_cv2(u8, kp, params)
    w = out[:, 0].float()
    h_out, w_out = w.shape[-2:]
    oy, ox = torch.meshgrid(torch.arange(h_out) + 0.5, torch.arange(w_out) + 0.5, indexing="ij")
    mass = w.sum(dim=(1, 2))
    centroid = torch.stack([(w * ox).sum((1, 2)) / mass, (w * oy).sum((1, 2)) / mass], dim=1)
    # Measured ~0.01 px; a half-pixel convention slip gives ~0.7 px.
    assert (centroid - kp_out[:, j]).norm(dim=1).max() <= 0.1
    if size > 224:
        shrink = (params.crop_size / 128).amax(dim=1)
        assert shrink.min() > 1.5                     # every image took the pooled path


def test_zero_strength_is_identity_image():
    kp, cfg = _identity_setup()
    img = _images(2, 128)
    params = sample_augment(kp, (128, 128), cfg, torch.Generator().manual_seed(0))
    assert torch.allclose(params.matrix, torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
    out, kp_out = apply_augment(img, kp, params)
    assert torch.equal(out, img) and torch.equal(kp_out, kp)
    # Float images and colour jitter with factors (h, s, a, b) = (1, 1, 1, 0).
    f = img.float() / 255
    neutral = dataclasses.replace(params, hsv=torch.tensor([[1.0, 1.0, 1.0, 0.0]] * 2,
                                                           dtype=torch.float64))
    out_f, _ = apply_augment(f, kp, neutral)
    assert (out_f - f).abs().max() < 1e-4


def test_per_image_parameters_differ_within_batch_and_are_reproducible():
    kp = _hands(8)
    cfg = AugmentConfig(cut_out=True, gaussian_blur=True, gaussian_noise=True)
    p1 = sample_augment(kp, (224, 224), cfg, torch.Generator().manual_seed(2))
    p2 = sample_augment(kp, (224, 224), cfg, torch.Generator().manual_seed(2))
    for name in ("angle_deg", "crop_margin", "jitter_raw", "hsv", "blur_sigma", "cutout_ratio"):
        assert getattr(p1, name).unique(dim=0).shape[0] > 1, name
        assert torch.equal(getattr(p1, name), getattr(p2, name))
    assert p1.cutout.any() and not p1.cutout.all()    # coin flips per image


def test_stored_jitter_semantics_and_clamping():
    kp = _hands(64, seed=4)
    kp[:8] -= 90.0                                   # hands at the top-left border: clamped
    p = sample_augment(kp, (224, 224), AugmentConfig(), torch.Generator().manual_seed(0))
    assert (p.jitter <= 0).all() and (p.jitter_raw >= 0).all() and (p.jitter_raw <= 14).all()
    unclamped = (p.crop_origin > 0).all(dim=1)
    assert torch.equal(p.jitter[unclamped], -p.jitter_raw[unclamped])
    assert (p.jitter[~unclamped] < -p.jitter_raw[~unclamped] + 1e-9).any()
    angles = p.angle_deg
    assert torch.equal(angles, angles.floor()) and angles.min() >= -45 and angles.max() <= 44


# ---- the seed-style reference -------------------------------------------------------------------

def test_reference_same_params_same_keypoints_and_close_pixels():
    kp = _hands(6, seed=6)
    img = _images(6, seed=6)
    cfg = AugmentConfig(color_jitter=False)
    out, kp_out, params = augment(img, kp, cfg, torch.Generator().manual_seed(7))
    for i in range(6):
        ref_img, ref_kp, t, stored = apply_reference(img[i].permute(1, 2, 0).numpy(),
                                                     kp[i].double().numpy(),
                                                     reference_params_from(params, i), cfg)
        assert np.allclose(t, params.matrix[i].numpy(), atol=1e-9)
        assert np.allclose(ref_kp, kp_out[i].numpy(), atol=1e-3)
        assert (stored["jitter_x"], stored["jitter_y"]) == tuple(params.jitter[i].tolist())
        # Resampling differs (INTER_AREA vs supersampled bilinear, the seed's 0.5 px rotation
        # centre): compare on smooth images, in uint8 levels.
        diff = np.abs(ref_img.astype(float) - out[i].permute(1, 2, 0).numpy())
        assert diff.mean() < 2.0


@pytest.mark.parametrize("flags", [("cut_out", "gaussian_blur", "gaussian_noise"),
                                   ("cut_out", "color_drop")])
def test_reference_identity_geometry_pixel_ops_match(flags):
    # Blur may round 1 level differently; colour drop after wrapped noise would amplify that, so
    # the two are checked in separate combinations.
    kp, cfg = _identity_setup()
    cfg = dataclasses.replace(cfg, prob=1.0, **{f: True for f in flags})
    img = torch.randint(0, 256, (2, 3, 128, 128), generator=torch.Generator().manual_seed(1),
                        dtype=torch.uint8)
    out, _, params = augment(img, kp, cfg, torch.Generator().manual_seed(3))
    for i in range(2):
        ref, *_ = apply_reference(img[i].permute(1, 2, 0).numpy(), kp[i].double().numpy(),
                                  reference_params_from(params, i), cfg)
        diff = np.abs(ref.astype(int) - out[i].permute(1, 2, 0).numpy().astype(int))
        diff = np.minimum(diff, 256 - diff)          # noise wraps around at 256
        assert diff.max() <= 2 and diff.mean() < 0.5  # OpenCV's 8-bit blur is fixed-point


def test_reference_colour_jitter_matches_opencv():
    kp, cfg = _identity_setup()
    cfg = dataclasses.replace(cfg, color_jitter=True)
    img = _images(2, 128, seed=9)
    out, _, params = augment(img, kp, cfg, torch.Generator().manual_seed(4))
    for i in range(2):
        ref, *_ = apply_reference(img[i].permute(1, 2, 0).numpy(), kp[i].double().numpy(),
                                  reference_params_from(params, i), cfg)
        diff = np.abs(ref.astype(int) - out[i].permute(1, 2, 0).numpy().astype(int))
        assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 3


def test_batched_and_reference_samplers_draw_the_same_distributions():
    n = 4000
    cfg = AugmentConfig()
    kp = _hands(n, seed=11)
    p = sample_augment(kp, (224, 224), cfg, torch.Generator().manual_seed(0))
    rng = random.Random(0)
    ref = [sample_reference(cfg, rng, (224, 224)) for _ in range(n)]
    pairs = {
        "angle": (p.angle_deg.numpy(), np.array([r["angle"] for r in ref])),
        "margin": (p.crop_margin.numpy(), np.array([r["margin"] for r in ref])),
        "jitter": (p.jitter_raw.numpy().ravel(), np.array([r["jitter_raw"] for r in ref]).ravel()),
        "hsv": (p.hsv.numpy(), np.array([r["hsv"] for r in ref])),
    }
    for name, (a, b) in pairs.items():
        assert a.min(0) == pytest.approx(b.min(0), abs=0.05 * (b.max() - b.min())), name
        assert a.max(0) == pytest.approx(b.max(0), abs=0.05 * (b.max() - b.min())), name
        assert a.mean(0) == pytest.approx(b.mean(0), abs=0.05 * b.std(0).max()), name
    assert set(np.unique(pairs["angle"][0])) == set(np.unique(pairs["angle"][1]))
    assert set(np.unique(pairs["jitter"][0])) == set(range(15))


# ---- PeCLR consistency ----------------------------------------------------------------------------

def test_convention_peclr_apply_rotates_like_the_augmenter():
    # Keypoints whose integer mean is the exact mean, rotation only, square crop not truncated:
    # the augmenter maps kp - c to S R(a)(kp - c); peclr "apply" maps p - c to R(a)(p - c).
    kp = _hands(4, seed=12, dtype=torch.float64)
    kp = kp - kp.mean(dim=1, keepdim=True) + 112.0
    cfg = dataclasses.replace(OFF, rotate=True, crop_margin=1.0)
    params = sample_augment(kp, (224, 224), cfg, torch.Generator().manual_seed(1))
    _, kp_out = apply_augment(torch.zeros(4, 3, 224, 224), kp, params)
    aug = kp_out - kp_out.mean(dim=1, keepdim=True)
    zero = torch.zeros(4, dtype=torch.float64)
    pe = peclr_transform(kp.reshape(4, -1), params.jitter[:, 0] * 0, zero, params.angle_deg,
                         direction="apply").view(4, 21, 2)
    pe = pe - pe.mean(dim=1, keepdim=True)
    assert torch.allclose(aug / aug.norm(dim=(1, 2), keepdim=True),
                          pe / pe.norm(dim=(1, 2), keepdim=True), atol=1e-9)
    back = peclr_transform(pe.reshape(4, -1), zero, zero, params.angle_deg)
    ref = kp - kp.mean(dim=1, keepdim=True)
    assert torch.allclose(back.view(4, 21, 2) - back.view(4, 21, 2).mean(1, keepdim=True),
                          ref / ref.norm(dim=(1, 2), keepdim=True), atol=1e-9)


# ---- bad input ----------------------------------------------------------------------------------

def test_bad_inputs():
    kp = _hands(2)
    with pytest.raises(ValueError, match=r"keypoints: expected \(B, K, 2\)"):
        sample_augment(kp[..., :1], (224, 224), AugmentConfig(), torch.Generator())
    p = sample_augment(kp, (224, 224), AugmentConfig(), torch.Generator())
    with pytest.raises(ValueError, match=r"images: expected \(2, 3, 224, 224\) as sampled"):
        apply_augment(torch.zeros(2, 3, 200, 224), kp, p)
    with pytest.raises(ValueError, match=r"images: expected \(B, 3, H, W\)"):
        apply_augment(torch.zeros(2, 224, 224, 3), kp, p)
    with pytest.raises(ValueError, match="crop_margin_range"):
        AugmentConfig(crop_margin_range=(1.5, 0.9))


def test_opencv_blur_kernel_quirk_on_non_square_images():
    # ksize from (H, W) passed as (width, height): horizontal size from H. H=60 -> 7, W=100 -> 11.
    kp = _hands(1, size=60).double() * torch.tensor([100 / 60, 1.0], dtype=torch.float64)
    p = sample_augment(kp, (60, 100), dataclasses.replace(OFF, gaussian_blur=True),
                       torch.Generator())
    assert p.blur_kernel == (7, 11)


IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def test_normalize_output_is_to_tensor_then_normalize():
    kp, img = _hands(4), _images(4)
    params = sample_augment(kp, (224, 224), AugmentConfig(), torch.Generator().manual_seed(0))
    plain, _ = apply_augment(img, kp, params)
    norm, _ = apply_augment(img, kp, params, normalize=IMAGENET)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in IMAGENET)
    assert norm.dtype == torch.float32
    # plain is rounded to uint8 at the end; the normalised output is not: within half a level.
    assert ((norm * std + mean) * 255 - plain.float()).abs().max() <= 0.5 + 1e-3


@pytest.mark.slow
def test_compiled_colour_stage_matches_eager():
    kp, img = _hands(4), _images(4)
    cfg = AugmentConfig(gaussian_noise=True, color_drop=True, prob=0.5)
    params = sample_augment(kp, (224, 224), cfg, torch.Generator().manual_seed(0))
    eager, _ = apply_augment(img, kp, params, normalize=IMAGENET)
    comp, _ = apply_augment(img, kp, params, normalize=IMAGENET, compiled=True)
    diff = (eager - comp).abs()      # fused arithmetic may round a value to the next uint8 level
    assert diff.max() <= 1 / 255 / 0.224 + 1e-4 and (diff > 1e-4).float().mean() < 1e-3


# ---- OpenCV backend -----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [224, 480])
def test_cv2_backend_matches_torch_path(size):
    from handkit.data.augment_cv2 import apply_augment_cv2

    kp, img = _hands(6, size, seed=13), _images(6, size, seed=13)
    cfg = AugmentConfig(cut_out=True, gaussian_noise=True, color_drop=True)
    params = sample_augment(kp, (size, size), cfg, torch.Generator().manual_seed(8))
    ref, kp_ref = apply_augment(img, kp, params)
    out, kp_out = apply_augment_cv2(img.permute(0, 2, 3, 1).numpy(), kp, params)
    assert out.dtype == torch.uint8 and out.shape == ref.shape
    assert torch.equal(kp_out, kp_ref)
    diff = (out.int() - ref.int()).abs()
    diff = torch.minimum(diff, 256 - diff)          # noise wraps around at 256
    assert diff.float().mean() < 1.0 and (diff > 8).float().mean() < 0.01


def test_cv2_backend_identity_and_bad_input():
    from handkit.data.augment_cv2 import apply_augment_cv2

    kp, cfg = _identity_setup()
    img = _images(2, 128)
    params = sample_augment(kp, (128, 128), cfg, torch.Generator())
    out, _ = apply_augment_cv2(img.permute(0, 2, 3, 1).numpy(), kp, params)
    assert torch.equal(out, img)
    with pytest.raises(ValueError, match=r"images\[0\]: expected \(128, 128, 3\)"):
        apply_augment_cv2(img.numpy(), kp, params)
