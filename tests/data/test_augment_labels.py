"""Label maps (masks, part maps) warped with the images' parameters: `warp_labels`."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from handkit.data.augment import AugmentConfig, apply_augment, augment, sample_augment, warp_labels

GEOMETRY_ONLY = AugmentConfig(color_jitter=False, output_size=(64, 64))


def _hands(b: int, size: int = 96, seed: int = 0) -> torch.Tensor:
    """(B, 21, 2) keypoints inside a size x size image; joint 9 on a pixel centre near the middle."""
    g = torch.Generator().manual_seed(seed)
    kp = size / 2 + (torch.rand(b, 21, 2, generator=g) - 0.5) * size * 0.5
    kp[:, 9] = torch.floor(size / 2 + (torch.rand(b, 2, generator=g) - 0.5) * 8) + 0.5
    return kp


def _discs(kp: torch.Tensor, size: int, radius: float, label: int) -> torch.Tensor:
    """(B, size, size) uint8: `label` at pixels whose centre is within `radius` of joint 9."""
    centres = torch.arange(size) + 0.5
    dx = centres[None, None, :] - kp[:, 9, 0, None, None]
    dy = centres[None, :, None] - kp[:, 9, 1, None, None]
    return ((dx ** 2 + dy ** 2 <= radius ** 2) * label).to(torch.uint8)


def test_disc_stays_centred_on_the_warped_keypoint():
    kp = _hands(8)
    masks = _discs(kp, 96, radius=9.0, label=3)
    images = torch.zeros(8, 3, 96, 96, dtype=torch.uint8)
    _, kp_out, params = augment(images, kp, GEOMETRY_ONLY, torch.Generator().manual_seed(2))
    out = warp_labels(masks, params)
    assert out.shape == (8, 64, 64) and out.dtype == torch.uint8
    centres = torch.arange(64, dtype=torch.float64) + 0.5
    for i in range(8):
        ys, xs = torch.nonzero(out[i] == 3, as_tuple=True)
        assert len(ys) > 50  # the disc (radius >= 9 · 64 / 96 · 0.7 px) is in view
        centroid = torch.stack([centres[xs].mean(), centres[ys].mean()])
        # The sampled region differs from the true (symmetric) one only in a band of one pixel
        # along its rim, so its centroid stays within one output pixel of the disc's centre.
        assert (centroid - kp_out[i, 9].double()).norm() < 1.0


def test_labels_stay_in_the_original_set_and_dtype():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 7, 200, 1000], dtype=torch.int64)
    blobs = F.interpolate(torch.rand(4, 1, 6, 6, generator=g), size=(96, 96), mode="bicubic",
                          align_corners=False)[:, 0]
    masks = labels[(blobs.clamp(0, 0.999) * 4).long()]
    kp = _hands(4)
    params = sample_augment(kp, (96, 96), AugmentConfig(output_size=(40, 40)), g)
    out = warp_labels(masks, params)
    assert out.dtype == torch.int64 and set(out.unique().tolist()) <= set(labels.tolist())
    assert len(set(out.unique().tolist())) >= 3  # several labels survive the warp
    as_bool = warp_labels(masks > 0, params)
    assert as_bool.dtype == torch.bool
    torch.testing.assert_close(as_bool, out > 0)  # channels-last-free: a mask is a label map


def test_identity_params_leave_labels_unchanged_and_fill_outside():
    kp = _hands(3)
    params = sample_augment(kp, (96, 96), GEOMETRY_ONLY, torch.Generator().manual_seed(0))
    masks = torch.randint(0, 17, (3, 96, 96), generator=torch.Generator().manual_seed(1),
                          dtype=torch.uint8)
    eye = dataclasses.replace(params, matrix=torch.eye(3, dtype=torch.float64).expand(3, 3, 3),
                              output_size=(96, 96))
    torch.testing.assert_close(warp_labels(masks, eye), masks, rtol=0, atol=0)
    stacked = torch.stack([masks, 16 - masks], 1)  # (B, C, H, W) works channel by channel
    torch.testing.assert_close(warp_labels(stacked, eye), stacked, rtol=0, atol=0)
    # Shift right by 10.0 px: the first 10 columns come from outside -> fill.
    shift = eye.matrix.clone()
    shift[:, 0, 2] = 10.0
    moved = warp_labels(masks, dataclasses.replace(eye, matrix=shift), fill=99)
    assert (moved[:, :, :10] == 99).all()
    torch.testing.assert_close(moved[:, :, 10:], masks[:, :, :-10], rtol=0, atol=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_image_of_the_label_map_warps_like_the_mask_away_from_edges(seed):
    """The label map as an image, warped bilinear by apply_augment, equals the warped mask
    wherever some bilinear source pixel has a 3x3 neighbourhood of one label inside the image
    (the image warp mixes in zeros beyond its border): the four bilinear sources form a 2x2
    block around that pixel, the nearest pixel is one of them, so all share its label."""
    cfg = dataclasses.replace(GEOMETRY_ONLY, antialias=False, output_size=(80, 80))
    g = torch.Generator().manual_seed(10 + seed)
    blobs = F.interpolate(torch.rand(6, 1, 5, 5, generator=g), size=(96, 96), mode="bicubic",
                          align_corners=False)[:, 0]
    masks = (blobs.clamp(0, 0.999) * 3).long().to(torch.uint8) * 60  # labels 0, 60, 120
    kp = _hands(6, seed=seed)
    images = masks[:, None].expand(6, 3, 96, 96).contiguous()
    out, _, params = augment(images, kp, cfg, torch.Generator().manual_seed(seed))
    again = sample_augment(kp, (96, 96), cfg, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(again.matrix, params.matrix)  # same generator state, same warp
    warped = warp_labels(masks, again)
    m = masks[:, None].float()
    uniform = (F.max_pool2d(m, 3, 1, 1) == -F.max_pool2d(-m, 3, 1, 1)).to(torch.uint8) * 255
    uniform[..., :1, :] = uniform[..., -1:, :] = uniform[..., :1] = uniform[..., -1:] = 0
    interior, _ = apply_augment(uniform.expand(6, 3, 96, 96).contiguous(), None, params,
                                antialias=False)
    away = interior[:, 0] > 0
    assert away.float().mean() > 0.5  # most of the output is tested
    torch.testing.assert_close(out[:, 0][away], warped[away], rtol=0, atol=0)
    assert (out[:, 0] != warped).any()  # ...and the edges do differ (bilinear vs nearest)


def test_cutout_option_clears_the_box():
    kp = _hands(4)
    cfg = dataclasses.replace(GEOMETRY_ONLY, cut_out=True, prob=1.0, cut_out_fraction=(0.3, 0.3),
                              rotate=False)
    params = sample_augment(kp, (96, 96), cfg, torch.Generator().manual_seed(0))
    ones = torch.ones(4, 96, 96, dtype=torch.uint8)
    r0, r1, c0, c1 = params.cutout_box[0].tolist()
    assert r1 > r0 and c1 > c0
    kept = warp_labels(ones, dataclasses.replace(params, matrix=torch.eye(3).double().expand(4, 3, 3),
                                                 output_size=(96, 96)), cutout=True)
    assert (kept[0, r0:r1, c0:c1] == 0).all() and kept[0].sum() == 96 * 96 - (r1 - r0) * (c1 - c0)
    assert (warp_labels(ones, params) == 1).sum() > 0  # default: the box is left alone


@pytest.mark.parametrize("labels, message", [
    (torch.zeros(2, 96, 96), r"labels: expected an integer or bool label map, got torch\.float32"),
    (torch.zeros(2, 96, 90, dtype=torch.long), r"labels: expected \(B=2, \.\.\., 96, 96\)"),
    (torch.zeros(96, 96, dtype=torch.long), r"labels: expected \(B, H, W\) or \(B, C, H, W\)"),
])
def test_bad_labels_name_the_argument(labels, message):
    params = sample_augment(_hands(2), (96, 96), GEOMETRY_ONLY, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=message):
        warp_labels(labels, params)
