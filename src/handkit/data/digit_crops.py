"""DIGIT's crops of two-hand samples (specs/digit.md §3.5-3.8): box, augmentation, warp, flip.

One `Sample` of InterHand2.6M layout (hands [right, left], handkit order) becomes the inputs
and raw targets of `losses.digit.encode_25d`:

1. **Box** (`process_bbox`): the annotation box made square (the shorter side grown to the
   longer), × 1.25, about its centre; not clipped.
2. **Augmentation** (train, `sample_digit_augment`, §3.7): the box centre moves by (w·tx, h·ty),
   tx, ty ~ U(−0.15, 0.15); the source box is scaled by clip(N(0, 1), −1, 1)·0.25 + 1; rotated
   with probability 0.6 by clip(N(0, 1), −2, 2)·45°; the image is flipped with probability 0.5
   (before the crop: u → W − u, the hands' blocks, hand_type and the part labels swap sides,
   the former left hand becomes the right one); per-channel colour gains ~ U(0.8, 1.2), then
   clipped to [0, 255]. Evaluation: none of it.
3. **Crop** (`crop_matrix`): the source box (side s = box side · scale, rotated by θ) maps onto
   the P×P patch, centre onto the centre: ``p_src = c + R_θ diag(s_w / P, s_h / P)(p_dst − P/2)``
   with ``R_θ = [[cos, −sin], [sin, cos]]`` (official ``gen_trans_from_patch_cv``). The image
   is warped bilinearly, the part labels by nearest neighbour, then taken at every second pixel
   (the official nearest downsampling to P/2 for the loss).

**Convention:** handkit pixels (centres at i + 0.5): the patch centre is P/2 and a flip maps u to
W − u. The official code does the same maps in OpenCV's integer-centre pixels (centre 128, flip
W − u − 1), which places its patch 0.5 px away from ours; the labels follow each code's own
image, so each is self-consistent.

Randomness comes from a `numpy.random.Generator` the caller seeds per item (the data module
derives it from its checkpointed shuffle generator), never from global state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from handkit.data.crop import warp_crop
from handkit.data.part_masks import NUM_CLASSES, swap_hands, to_digit_classes
from handkit.data.schema import Sample, SampleError
from handkit.hand.skeleton import convert
from handkit.utils.check import check_choice

__all__ = ["DigitAugmentConfig", "DigitAugmentParams", "process_bbox", "sample_digit_augment",
           "crop_matrix", "digit_crop", "official_subset", "HAND_TYPES"]

HAND_TYPES = {"right": (1.0, 0.0), "left": (0.0, 1.0), "interacting": (1.0, 1.0)}
_SUBSETS = {"": None, "smallval": 0.25, "smalltest": 0.25, "smalltrain": 0.10,
            "minival": 1000, "minitest": 1000, "minitrain": 1000}


@dataclass(frozen=True)
class DigitAugmentConfig:
    """§3.7's ranges (official values)."""

    trans: float = 0.15            # tx, ty ~ U(−trans, trans), in box sides
    scale: float = 0.25            # 1 + clip(N, −1, 1) · scale
    rot_deg: float = 45.0          # clip(N, −2, 2) · rot_deg
    rot_prob: float = 0.6
    flip_prob: float = 0.5
    color: tuple[float, float] = (0.8, 1.2)  # per-channel gain range


@dataclass(frozen=True)
class DigitAugmentParams:
    """What one item drew (identity for evaluation)."""

    trans: tuple[float, float] = (0.0, 0.0)
    scale: float = 1.0
    rot_deg: float = 0.0
    flip: bool = False
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)


def process_bbox(bbox: Any) -> np.ndarray:
    """(4,) [x, y, w, h] px → (4,) [cx, cy, side, side]: square, × 1.25 (``process_bbox``).

    Raises:
        SampleError: a box with a non-positive or non-finite side.
    """
    x, y, w, h = (float(v) for v in np.asarray(bbox, np.float64).reshape(4))
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        raise SampleError(f"bbox: expected [x, y, w, h] with w, h > 0, got {[x, y, w, h]}.")
    side = max(w, h) * 1.25
    return np.array([x + w / 2, y + h / 2, side, side])


def sample_digit_augment(rng: np.random.Generator, cfg: DigitAugmentConfig
                         ) -> DigitAugmentParams:
    """Draw §3.7's parameters for one item."""
    trans = rng.uniform(-cfg.trans, cfg.trans, 2)
    scale = float(np.clip(rng.standard_normal(), -1.0, 1.0) * cfg.scale + 1.0)
    rot = float(np.clip(rng.standard_normal(), -2.0, 2.0) * cfg.rot_deg)
    if rng.uniform() >= cfg.rot_prob:
        rot = 0.0
    flip = bool(rng.uniform() < cfg.flip_prob)
    gain = rng.uniform(cfg.color[0], cfg.color[1], 3)
    return DigitAugmentParams((float(trans[0]), float(trans[1])), scale, rot, flip,
                              (float(gain[0]), float(gain[1]), float(gain[2])))


def crop_matrix(center: Any, size: Any, rot_deg: float, patch: int) -> np.ndarray:
    """(3, 3) float64 T, source px → patch px: `center` ↦ (P/2, P/2), the rotated source box of
    (w, h) = `size` onto the P×P patch (the inverse of §3.6's dst → src map)."""
    cx, cy = (float(v) for v in center)
    sw, sh = (float(v) for v in size)
    t = np.deg2rad(rot_deg)
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    inv = np.eye(3)
    inv[:2, :2] = R @ np.diag([sw / patch, sh / patch])
    inv[:2, 2] = np.array([cx, cy]) - inv[:2, :2] @ np.array([patch / 2, patch / 2])
    return np.linalg.inv(inv)


def _swap(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x[21:], x[:21]])


def digit_crop(sample: Sample, params: DigitAugmentParams, *, patch: int = 256,
               bbox: Any = None, process_box: bool = True) -> dict[str, np.ndarray]:
    """One item of DIGIT's loader (§3.8) from an InterHand2.6M-layout sample.

    Args:
        sample: two hands [right, left] with ``keypoints_3d``, ``K`` and ``extras`` hand_type,
            hand_type_valid, bbox (the loader's); ``part_seg`` optional.
        params: `sample_digit_augment`'s draw, or `DigitAugmentParams()` for evaluation.
        patch: P (official 256).
        bbox: [x, y, w, h] px to use instead of ``extras["bbox"]``.
        process_box: make the box square × 1.25 (`process_bbox`; GT boxes); False uses it as
            given (RootNet's boxes at test time, §3.5).

    Returns:
        image (P, P, 3) float32 in [0, 1]; uv (42, 2) patch px, z (42,) m camera depth, valid
        (42,) bool, InterHand order, after the flip; interacting () bool; hand_type (2,) float
        [right, left]; hand_type_valid () float; segm (P/2, P/2) int64 DIGIT classes (zeros
        without a mask) and segm_valid () float; T (3, 3) source px → patch px (of the flipped
        image when flipped); flipped () bool; K (3, 3); abs_depth (2,) m, GT root depths
        [right, left] after the flip.

    Raises:
        SampleError: no 3D, no K, an unknown hand_type, or a bad box (the message names the
            sample).
    """
    sid = sample.sample_id
    if sample.keypoints_3d is None or sample.K is None or sample.keypoints_3d.shape[0] != 2:
        raise SampleError(f"{sid}: DIGIT needs two hands [right, left] with 3D and K.")
    hand_type = sample.extras.get("hand_type")
    if hand_type not in HAND_TYPES:
        raise SampleError(f"{sid}: extras.hand_type: expected one of {sorted(HAND_TYPES)}, got "
                          f"{hand_type!r}.")
    uv = np.concatenate([convert(sample.keypoints_2d[k].astype(np.float64), "handkit",
                                 "interhand") for k in range(2)])
    z = np.concatenate([convert(sample.keypoints_3d[k].astype(np.float64), "handkit",
                                "interhand")[:, 2] for k in range(2)])
    valid = np.concatenate([convert(sample.joint_valid[k][:, None], "handkit",
                                    "interhand")[:, 0] for k in range(2)]).astype(bool)
    raw = np.asarray(sample.extras.get("bbox") if bbox is None else bbox, np.float64).reshape(4)
    try:
        box = process_bbox(raw) if process_box else np.concatenate([raw[:2] + raw[2:] / 2,
                                                                     raw[2:]])
        if not (np.isfinite(box).all() and (box[2:] > 0).all()):
            raise SampleError(f"bbox: expected [x, y, w, h] with w, h > 0, got {raw.tolist()}.")
    except SampleError as err:
        raise SampleError(f"{sid}: {err}") from None
    image = sample.image
    height, width = image.shape[:2]
    ht = np.array(HAND_TYPES[hand_type], np.float32)
    segm = None if sample.part_seg is None else to_digit_classes(sample.part_seg)
    center = box[:2] + box[2:] * np.array(params.trans)
    if params.flip:
        image = image[:, ::-1]
        center = np.array([width - center[0], center[1]])
        uv = _swap(np.stack([width - uv[:, 0], uv[:, 1]], 1))
        z, valid, ht = _swap(z), _swap(valid), ht[::-1].copy()
        if segm is not None:
            segm = swap_hands(segm[:, ::-1])
    T = crop_matrix(center, box[2:] * params.scale, params.rot_deg, patch)
    crop = warp_crop(np.ascontiguousarray(image), T, patch).astype(np.float32)
    crop = np.clip(crop * np.asarray(params.gain, np.float32), 0, 255) / 255.0
    uv_patch = uv @ T[:2, :2].T + T[:2, 2]
    if segm is None:
        labels, segm_valid = np.zeros((patch // 2, patch // 2), np.int64), 0.0
    else:
        full = warp_crop(np.ascontiguousarray(segm), T, patch, interpolation="nearest")
        labels, segm_valid = full[::2, ::2].astype(np.int64), 1.0
        if labels.max(initial=0) >= NUM_CLASSES:  # pragma: no cover - warp keeps labels
            raise SampleError(f"{sid}: part labels out of range after the warp.")
    return {"image": crop.astype(np.float32), "uv": uv_patch.astype(np.float32),
            "z": z.astype(np.float32), "valid": valid,
            "interacting": np.array(hand_type == "interacting"), "hand_type": ht,
            "hand_type_valid": np.float32(sample.extras.get("hand_type_valid", 1)),
            "segm": labels, "segm_valid": np.float32(segm_valid), "T": T, "flipped":
            np.array(params.flip), "K": sample.K.astype(np.float64),
            "abs_depth": z[[20, 41]].astype(np.float32)}


def official_subset(n: int, name: str) -> list[int]:
    """Indices (in ``random.sample``'s order) into n items in data.json order of DIGIT's
    ``small*`` / ``mini*`` subset (§3.11):
    ``small{val,test}`` 25 %, ``smalltrain`` 10 %, ``mini*`` 1,000, ``""`` all. Drawn as the
    official ``downsample``: Python's ``random.seed(1)``, one draw spent on its check
    (``randint(0, 100) == 17``), then ``random.sample``, so the same frames as the official
    subset (``tinytrain``, which the official code silently leaves whole, is not offered).

    Raises:
        ValueError: an unknown subset name.
    """
    check_choice(name, _SUBSETS, name="subset")
    amount = _SUBSETS[name]
    if amount is None:
        return list(range(n))
    rng = random.Random(1)
    rng.randint(0, 100)  # the official assert's draw (== 17), kept so the sample matches
    k = min(n, int(amount * n) if isinstance(amount, float) else amount)
    return rng.sample(list(range(n)), k)
