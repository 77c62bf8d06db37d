"""Multi-hand training images composed from a single-hand dataset (SMHR's ``artificial`` task,
specs/mesh.md §3.7).

`ComposedMultiHand(dataset)` is a map-style dataset of `Sample`s: image ``index`` pastes up to
``max_hands`` hands (hand 0 from sample ``index``, the others from random samples) onto a
background. Per hand, as SMHR:

1. The source's hand (`data.hands.prepare_hand`: the first hand with enough valid joints, as a
   right hand) is mirrored with probability ``flip_prob`` and then labelled left (SMHR flips
   right-hand FreiHAND images to make its left hands).
2. The square around its keypoint box ± ``pad`` (zero outside the source image) is resized to a
   side s = 160·e^u, u drawn from {0, 0.01, ...} up to log(min(space, 180)/160).
3. Placement fills rows right to left with a left border L (start size − 50) and a top border T
   (start 288): in the first row the patch's right edge is drawn from [max(r − 40, s), r],
   r = min(L + 20, size), its bottom edge from [min(size − 1, size/2 + 1.5 s), size); after each
   paste L = min(L, box left − 20), T = min(T, box top − 20). When L ≤ 160 the current hand is
   dropped, the row is full and L restarts at size − 20; the second row (while L > 160 and
   T > 160) bounds s by min(L, T, 180) and draws the bottom edge from [s, max(s, T)].
4. Only pixels whose mask is set replace the background (binary alpha; a source without a mask
   pastes its whole patch).
5. With probability ``brightness_prob`` the composite's HSV value is scaled by U[0.4, 1.6].

Every pixel constant above is SMHR's at 384 px and scales with ``size / 384``.

**Overlap limit.** After placement, if two hands' keypoint boxes overlap by more than
``max_overlap`` (intersection over the smaller box's area), the whole placement is re-drawn (up
to ``max_tries`` times, then a `SampleError` naming the index). SMHR's rule keeps boxes apart by
construction; the check makes that a guarantee for every size and source.

**3D.** Each hand's 3D comes from its own camera, which the paste does not preserve, so the
composed `Sample` has no K and no camera-frame 3D: ``extras["xyz_root_relative"]`` (N, 21, 3)
meters (wrist at 0, mirrored with the hand) holds it when the source has 3D.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from torch.utils.data import Dataset

from handkit.data.crop import keypoint_box, warp_crop
from handkit.data.hands import mirror_to_right, prepare_hand
from handkit.data.schema import Sample, SampleError
from handkit.data.synth.appearance import sample_background

__all__ = ["ComposedMultiHand", "box_overlap"]

_REF = 384.0  # SMHR's composition size; every pixel constant scales with size / _REF


def box_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection area of boxes (x0, y0, x1, y1) over the smaller box's area (0 if empty)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(w * h / max(smaller, 1e-9))


def _draw_side(rng: np.random.Generator, space: float, lo: float, hi: float) -> int:
    """s = lo·e^u, u ∈ {0, 0.01, ...} ≤ log(min(space, hi)/lo) (SMHR's size draw), px."""
    top = math.log(max(min(space, hi), lo) / lo)
    steps = int(math.floor(top / 0.01 + 1e-9))
    return int(lo * math.exp(0.01 * rng.integers(0, steps + 1)))


def _brightness(image: np.ndarray, factor: float) -> np.ndarray:
    """Scale HSV's V by `factor` (clipped at 255) with H and S kept: rgb · min(f, 255/V)."""
    rgb = image.astype(np.float64)
    v = rgb.max(-1, keepdims=True)
    scale = np.minimum(factor, 255.0 / np.maximum(v, 1e-9))
    return np.clip(np.rint(rgb * scale), 0, 255).astype(np.uint8)


class ComposedMultiHand(Dataset):
    """Multi-hand images pasted from a single-hand dataset (module doc).

    Args:
        dataset: map-style dataset of `Sample`s (FreiHAND, HO3D, a synthetic set...).
        size: output side, px (SMHR: 384).
        max_hands: hands pasted at most (SMHR's ``max_objs`` 5; its targets keep 4).
        length: dataset length (default: the source's).
        seed: the random stream; image ``index`` is a pure function of (seed, index).
        flip_prob: probability of a mirrored, left-labelled hand (SMHR ``--pick_hand``: 0.5;
            0 keeps right hands only).
        brightness_prob: probability of the HSV-V scaling of the composite.
        max_overlap: largest allowed box overlap (intersection / smaller area) between hands.
        max_tries: placements tried before giving up on an image.
        background: ``fn(rng, size) -> (size, size, 3) uint8``; default the synthetic world's
            backgrounds (SMHR's 7 stock photos are not shipped).
        min_valid: joints a source hand needs (`prepare_hand`).
    """

    def __init__(self, dataset: Dataset, *, size: int = 384, max_hands: int = 5,
                 length: int | None = None, seed: int = 0, flip_prob: float = 0.5,
                 brightness_prob: float = 0.5, max_overlap: float = 0.0, max_tries: int = 20,
                 background: Callable[[np.random.Generator, int], np.ndarray] | None = None,
                 min_valid: int = 10) -> None:
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise ValueError("dataset: empty; composition needs single-hand samples.")
        if size < 64:
            raise ValueError(f"size: {size} px is too small to paste hands (>= 64).")
        if max_hands < 1:
            raise ValueError(f"max_hands: expected >= 1, got {max_hands}.")
        self.dataset, self.size, self.max_hands = dataset, int(size), int(max_hands)
        self.length = len(dataset) if length is None else int(length)  # type: ignore[arg-type]
        self.seed, self.flip_prob, self.brightness_prob = seed, flip_prob, brightness_prob
        self.max_overlap, self.max_tries, self.min_valid = max_overlap, max_tries, min_valid
        self.background = background or self._synthetic_background

    def __len__(self) -> int:
        return self.length

    @staticmethod
    def _synthetic_background(rng: np.random.Generator, size: int) -> np.ndarray:
        return np.clip(np.rint(sample_background(rng, size, size) * 255), 0, 255).astype(np.uint8)

    def _px(self, value: float) -> float:
        return value * self.size / _REF

    def _source(self, rng: np.random.Generator, index: int) -> dict:
        sample = self.dataset[index]
        hand = prepare_hand(sample, min_valid=self.min_valid)
        mask = sample.mask
        if mask is not None and not sample.is_right[hand["hand"]]:
            mask = mask[:, ::-1]  # prepare_hand mirrored the image of a left hand
        hand["mask"] = mask
        hand["right"] = True
        if rng.uniform() < self.flip_prob:
            image, uv, xyz, _ = mirror_to_right(hand["image"], hand["uv"], xyz=hand["xyz"])
            hand.update(image=image, uv=uv, xyz=xyz, right=False)
            if mask is not None:
                hand["mask"] = np.ascontiguousarray(mask[:, ::-1])
        return hand

    def _patch_matrix(self, hand: dict, side: int) -> np.ndarray:
        """(3, 3) source px → patch px: the square around the keypoint box ± pad to `side`."""
        box = keypoint_box(hand["uv"], hand["valid"])
        c = (box[:2] + box[2:]) / 2
        k = side / (max(box[2] - box[0], box[3] - box[1]) + 2 * self._px(40))
        return np.array([[k, 0, side / 2 - k * c[0]], [0, k, side / 2 - k * c[1]], [0, 0, 1.0]])

    def _patch(self, hand: dict, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(side, side, 3) image, (side, side) bool alpha, (21, 2) uv in patch px."""
        T = self._patch_matrix(hand, side)
        image = warp_crop(hand["image"], T, side)
        if hand["mask"] is None:  # no mask: the whole patch, as far as the source image reaches
            ones = np.full(hand["image"].shape[:2], 255, np.uint8)
            alpha = warp_crop(ones, T, side) > 127
        else:
            alpha = warp_crop(hand["mask"].astype(np.uint8) * 255, T, side) > 127
        uv = hand["uv"] @ T[:2, :2].T + T[:2, 2]
        return image, alpha, uv

    def _place(self, rng: np.random.Generator, hands: list[dict]) -> list[tuple] | None:
        """One placement: [(hand, side, x0, y0)], or None when nothing fits."""
        size, px = self.size, self._px
        lo, hi = px(160), px(180)
        left, top = size - px(50), px(288)
        row, placed = 0, []
        for hand in hands:
            if row == 0 and left <= lo:
                row, left = 1, size - px(20)
                continue  # SMHR drops the hand that found the row full
            if row == 1 and (left <= lo or top <= lo):
                break
            space = left if row == 0 else min(left, top)
            side = _draw_side(rng, space, lo, hi)
            r = min(left + px(20), size)
            right = rng.uniform(max(r - px(40), side), max(r, side))
            if row == 0:
                bottom = rng.uniform(min(size - 1, size / 2 + 1.5 * side), size)
            else:
                bottom = rng.uniform(side, max(side, top))
            x0, y0 = int(right) - side, int(bottom) - side
            T = self._patch_matrix(hand, side)
            box = keypoint_box(hand["uv"] @ T[:2, :2].T + T[:2, 2] + [x0, y0], hand["valid"])
            placed.append((hand, side, x0, y0, box))
            left = min(left, box[0] - px(20))
            top = min(top, box[1] - px(20))
        return placed or None

    def __getitem__(self, index: int) -> Sample:
        return self.get(index)

    def get(self, index: int, epoch: int = 0) -> Sample:
        """Image `index` as drawn in `epoch` (a pure function of (seed, epoch, index); training
        redraws the composition every epoch, `data.smhr_inputs.SMHRItems`)."""
        index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"composed: index {index} out of range for {self.length}.")
        rng = np.random.default_rng([self.seed, int(epoch), index])
        n = len(self.dataset)  # type: ignore[arg-type]
        ids = [index % n] + [int(rng.integers(n)) for _ in range(self.max_hands - 1)]
        hands = [self._source(rng, i) for i in ids]
        for _ in range(self.max_tries):
            placed = self._place(rng, hands)
            if placed is None:
                continue
            boxes = [p[4] for p in placed]
            worst = max((box_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]),
                        default=0.0)
            if worst <= self.max_overlap:
                return self._compose(rng, index, placed, ids)
        raise SampleError(f"composed[{index}]: no placement of {len(hands)} hands within "
                          f"max_overlap={self.max_overlap} in {self.max_tries} tries; raise "
                          f"max_overlap or max_tries, or lower max_hands.")

    def _compose(self, rng: np.random.Generator, index: int, placed: list[tuple],
                 ids: list[int]) -> Sample:
        size = self.size
        image = np.array(self.background(rng, size), dtype=np.uint8, copy=True)
        if image.shape != (size, size, 3):
            raise ValueError(f"background: expected ({size}, {size}, 3) uint8, got "
                             f"{image.shape}.")
        canvas_mask = np.zeros((size, size), bool)
        uvs, valids, rights, xyzs = [], [], [], []
        for hand, side, x0, y0, _ in placed:
            patch, alpha, uv = self._patch(hand, side)
            # the visible part of the patch (it may stick out at the borders)
            ys = slice(max(y0, 0), min(y0 + side, size))
            xs = slice(max(x0, 0), min(x0 + side, size))
            py = slice(ys.start - y0, ys.stop - y0)
            pxs = slice(xs.start - x0, xs.stop - x0)
            a = alpha[py, pxs]
            image[ys, xs][a] = patch[py, pxs][a]
            canvas_mask[ys, xs] |= a
            uvs.append(uv + [x0, y0])
            valids.append(hand["valid"])
            rights.append(hand["right"])
            if hand["xyz"] is not None:
                xyzs.append(hand["xyz"] - hand["xyz"][:1])
        if rng.uniform() < self.brightness_prob:
            image = _brightness(image, rng.uniform(0.4, 1.6))
        extras = {"sources": [ids[i] for i in range(len(placed))]}
        if len(xyzs) == len(placed):
            extras["xyz_root_relative"] = np.stack(xyzs).astype(np.float32)
        return Sample(image=image, keypoints_2d=np.stack(uvs).astype(np.float32),
                      joint_valid=np.stack(valids), is_right=np.array(rights),
                      mask=canvas_mask, dataset="composed", sample_id=f"composed[{index}]",
                      extras=extras).validate()
