"""Hand finders: where the hands are in a person's image, each with a score.

Every finder has ``name``, ``threshold`` (hands scoring below it are not returned), ``passes``
(how many crop passes `predict` runs on its boxes; see docs/predict.md for the measurement
behind each default: on real photos the second pass made the error larger for every finder,
so each defaults to 1) and ``find_hands(image) -> list[Box]``, best first.

- `MediaPipeFinder` ("mediapipe", the optional extra ``handkit[mediapipe]``): MediaPipe
  Hands' palm detector + landmark model in this process (`external.mediapipe`). The box is
  the landmarks' bounding box, the score the palm detector's, the handedness MediaPipe's
  (swapped to the unmirrored view); its 2D and 3D landmarks come with the box
  (`Box.keypoints`), and `predict` answers with them by default (docs/predict.md: on real
  photos they are far closer than handkit's network on the same box). `find_in_box` searches
  a box the user gives, zoomed so that small hands are found (``predict --box``).
- `HandkitFinder` ("handkit", no extra needed): handkit's own pose network on a centred square
  crop, scored by whether its prediction follows the image or the crop (`crop_following`).
  This is the old centred-crop logic with a measured score, **not** a trained detector: it
  looks only at the centre of the image and finds at most one hand. Its box is the centred
  square it scored, and its prediction there comes with the box, so `predict` does not run
  the network on that crop again. A detector trained on the
  synthetic world (issue 18, item 1a) is still to come.
- `DetectorFinder` ("trained", no extra needed): handkit's trained hand detector
  (`models.hand_detector`, `handkit train detector`) on the whole image: every hand's box,
  score and side. It needs a detector checkpoint (``--detector-ckpt``); none ships yet.
- `CentreFinder` ("centre"): the centred square box, no score, always one "hand": for a user
  who knows the hand is in the middle (like ``--box``).

`make_finder("auto", net)` is MediaPipe when it is installed, else the trained detector when
a checkpoint is given, else handkit's crop-scoring finder.
Every finder returns no hand for an image that holds nothing to find (`holds_nothing`): a blank
one (`is_blank`) or pixel noise without spatial structure (`is_noise`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from handkit.data.crop import box_crop_matrix, centre_box, warp_crop
from handkit.data.smhr_inputs import whole_matrix
from handkit.eval.multihand import box_iou
from handkit.external.mediapipe import (MediaPipeHand, MediaPipeHands, mediapipe_available,
                                        shared_hands)
from handkit.infer.pipeline import DEFAULT_FILL, CropPrediction, photo_K, run_crops
from handkit.models.posenet import PoseNet
from handkit.utils.check import check_choice, check_shape

__all__ = ["Box", "FinderKeypoints", "HandFinder", "MediaPipeFinder", "HandkitFinder",
           "DetectorFinder", "CentreFinder", "make_finder", "load_detector", "is_blank",
           "is_noise", "holds_nothing", "crop_following", "FINDERS", "BLANK_STD",
           "NOISE_CORRELATION", "BOX_CONTEXT", "BOX_SEARCH_SIDE"]

FINDERS = ("auto", "mediapipe", "handkit", "trained", "centre")
BLANK_STD = 1.0
"""An image whose every channel varies by less than this (std over pixels, 8-bit levels) is
blank: it holds no hand, whatever its colour."""
NOISE_CORRELATION = 0.3
"""An image whose neighbouring pixels' grey levels correlate below this, along both axes, is
noise: nothing in it has a shape. Photos sit far above (0.73-0.99 on the 27 real development
photos, 0.92-0.97 on scikit-image's), independent pixel noise at ~0.0."""


BOX_CONTEXT = 2.0
"""`MediaPipeFinder.find_in_box` searches a square this many times the given box's longer side:
the scale MediaPipe's own graph puts around a hand's landmark box for its next search (its
landmarks-to-ROI rectangle transformation, scale 2.0)."""
BOX_SEARCH_SIDE = 256
"""The side in pixels that `MediaPipeFinder.find_in_box` resamples its square to (MediaPipe's
palm detector reads 192 px, its landmark model 224 px crops of that)."""


@dataclass(frozen=True)
class FinderKeypoints:
    """A finder's own keypoints for the hand it found.

    Attributes:
        uv: (21, 2) float32 pixels of the image searched, handkit order.
        xyz_m: (21, 3) float32 meters, root-relative or not, in the camera's axes (x right,
            y down, z away from the camera) up to a translation; None without 3D.
        source: what produced them (e.g. "mediapipe 0.10.21 landmarks").
    """

    uv: np.ndarray
    xyz_m: np.ndarray | None
    source: str


@dataclass(frozen=True)
class Box:
    """One hand a finder found.

    Attributes:
        x0, y0, x1, y1: float, the hand's box in pixels of the image searched.
        score: confidence in [0, 1] (its meaning is the finder's), or None (`CentreFinder`).
        is_right: True / False, or None when the finder does not say.
        source: the finder's name.
        prediction: the pose network's one-pass prediction on this box's crop (the pipeline's
            fill, unmirrored) when the finder already ran it (`HandkitFinder`), else None;
            `predict` uses it instead of computing the same crop again.
        keypoints: the finder's own keypoints for this hand (`MediaPipeFinder`), else None.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float | None
    is_right: bool | None
    source: str
    prediction: CropPrediction | None = None
    keypoints: FinderKeypoints | None = None

    @property
    def xyxy(self) -> np.ndarray:
        """(4,) float64 (x0, y0, x1, y1) pixels."""
        return np.array([self.x0, self.y0, self.x1, self.y1], dtype=np.float64)

    @property
    def handedness(self) -> str:
        """"right", "left" or "unknown"."""
        return "unknown" if self.is_right is None else ("right" if self.is_right else "left")


class HandFinder(Protocol):
    name: str
    threshold: float | None
    passes: int

    def find_hands(self, image: np.ndarray) -> list[Box]: ...


def is_blank(image: np.ndarray, tol: float = BLANK_STD) -> bool:
    """True when every channel of an (H, W, 3) image is spatially (almost) constant.

    The std is taken over pixels, channel by channel: a single-colour image is blank whatever
    its colour (the std over all values at once counts the difference between the channels).
    """
    check_shape(image, "H W 3", name="image")
    return float(image.reshape(-1, 3).astype(np.float64).std(0).max()) < tol


def is_noise(image: np.ndarray, tol: float = NOISE_CORRELATION) -> bool:
    """True when an (H, W, 3) image has no spatial structure: the correlation of horizontally
    and of vertically neighbouring pixels' grey levels is below `tol` along both axes (an axis
    without variation, or an image under 2 × 2 px, does not count as noise)."""
    check_shape(image, "H W 3", name="image")
    grey = image.astype(np.float64).mean(2)
    corr = []
    for a, b in ((grey[:, :-1], grey[:, 1:]), (grey[:-1], grey[1:])):
        if a.size == 0:
            return False
        a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
        den = float(np.sqrt((a * a).sum() * (b * b).sum()))
        if den == 0.0:
            return False
        corr.append(float((a * b).sum()) / den)
    return max(corr) < tol


def holds_nothing(image: np.ndarray) -> str | None:
    """Why (H, W, 3) `image` holds no hand to find ("blank (a single colour)", "noise (no
    spatial structure)"), or None when it may hold one."""
    if is_blank(image):
        return "blank (a single colour)"
    if is_noise(image):
        return "noise (no spatial structure)"
    return None


def _box(xyxy: np.ndarray, score: float | None, is_right: bool | None, source: str) -> Box:
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    return Box(x0, y0, x1, y1, None if score is None else float(score), is_right, source)


class MediaPipeFinder:
    """MediaPipe Hands' palm detector + landmarks (the optional extra).

    Args:
        threshold: the palm detector's score threshold (MediaPipe's default 0.5).
        max_hands: at most this many hands.
        passes: crop passes `predict` runs on these boxes.

    Raises:
        ValueError: mediapipe is not installed (the message says how to install it).
    """

    name = "mediapipe"

    def __init__(self, threshold: float = 0.5, *, max_hands: int = 1, passes: int = 1):
        self.threshold, self.max_hands, self.passes = float(threshold), int(max_hands), passes
        self.hands: MediaPipeHands = shared_hands(max_hands=self.max_hands,
                                                  min_detection=self.threshold)

    def find_hands(self, image: np.ndarray) -> list[Box]:
        """Boxes of (H, W, 3) uint8 RGB `image`, most confident first."""
        if holds_nothing(image):
            return []
        found = [self._box_of(h, h.keypoints, "landmarks") for h in self.hands.hands(image)]
        return sorted((b for b in found if b.score >= self.threshold), key=lambda b: -b.score)

    def _box_of(self, hand: MediaPipeHand, uv: np.ndarray, what: str) -> Box:
        """A `Box` for MediaPipe's `hand` with landmarks `uv` (21, 2) px of the image searched:
        their bounding box, the palm score, the side, the keypoints."""
        kp = FinderKeypoints(uv, hand.world_m, f"mediapipe {self.hands.version} {what}")
        side = {"right": True, "left": False}.get(hand.handedness)
        return replace(_box(np.concatenate([uv.min(0), uv.max(0)]), hand.score, side,
                            self.name), keypoints=kp)

    def find_in_box(self, image: np.ndarray, box: np.ndarray) -> Box | None:
        """The hand in a box given by the user (``predict --box``). First MediaPipe on the
        square of `BOX_CONTEXT` times the box's longer side about its centre, resampled to
        `BOX_SEARCH_SIDE` px, so that a small hand reaches the palm detector at a size it
        finds; when it finds none there, MediaPipe on the whole image (on the real development
        photos each view found hands the other missed, docs/predict.md).

        Args:
            image: (H, W, 3) uint8 RGB. box: (4,) (x0, y0, x1, y1) pixels of `image`.

        Returns:
            The found hand (score >= threshold) whose landmark box overlaps `box` most, in
            pixels of `image` with its keypoints; None when no found hand overlaps `box`.
        """
        box = np.asarray(box, np.float64)
        if box.shape != (4,) or not np.isfinite(box).all() or not (
                box[2] > box[0] and box[3] > box[1]):
            raise ValueError(f"box: expected finite (x0, y0, x1, y1) with x1 > x0 and y1 > y0, "
                             f"got {box.tolist()}.")
        to_crop = box_crop_matrix(box, BOX_SEARCH_SIDE, 1.0 / BOX_CONTEXT)
        views = ((warp_crop(image, to_crop, BOX_SEARCH_SIDE), to_crop), (image, np.eye(3)))
        for view, T in views:  # T: image px -> px of the view
            if holds_nothing(view):
                continue
            found = [self._box_of(h, ((h.keypoints - T[:2, 2]) / T[0, 0]).astype(np.float32),
                                  "landmarks in the given box")
                     for h in self.hands.hands(view)]
            found = [(float(box_iou(b.xyxy, box)[0, 0]), b) for b in found
                     if b.score >= self.threshold]
            overlap, best = max(found, key=lambda f: f[0], default=(0.0, None))
            if overlap > 0:
                return best
        return None


def crop_following(uv: np.ndarray, shifts: np.ndarray) -> float:
    """How much a prediction moves with its crop rather than staying on the image: the
    least-squares slope of the predicted keypoints' displacement on the crop's displacement.

    Args:
        uv: (N, 21, 2) float, the predictions of N crops, pixels of the image.
        shifts: (N, 2) float, each crop's centre displacement, pixels of the image (not all
            equal).

    Returns:
        float: 0 when every crop gives the same image keypoints (the prediction follows what is
        in the image), 1 when the keypoints move rigidly with the crop (they ignore it);
        unbounded in between and beyond.
    """
    uv = np.asarray(uv, np.float64)
    n = check_shape(uv, "N 21 2", name="uv")["N"]
    d = np.asarray(shifts, np.float64)
    check_shape(d, f"{n} 2", name="shifts")
    d = d - d.mean(0)
    den = float((d ** 2).sum())
    if den <= 0:
        raise ValueError("shifts: the crops must not all be at the same place.")
    du = uv - uv.mean(0)
    return float(np.einsum("njc,nc->", du, d) / (uv.shape[1] * den))


class HandkitFinder:
    """handkit's pose network on the image's central square, scored by `crop_following`.

    The candidate is the centred square that, cropped with the pipeline's fill, covers the
    central min(H, W) square. The network runs on it and on `around` copies shifted by `shift`
    of its side in directions evenly spaced on the circle, starting straight up (one batch;
    4 = ±x and ±y). score = clip(1 − crop_following, 0, 1): 1 when the predictions agree on
    the image (something the network recognises is there), 0 when they move with the crop
    (what a network does on an image it cannot read). The box is the candidate, with the
    network's prediction on it (`Box.prediction`): on the real development photos that crop's
    prediction was closer than a new crop around the predictions' keypoint box
    (docs/predict.md), and it costs no further network run.

    Args:
        net: the single-hand pose network `predict` uses.
        threshold: hands scoring below it are not returned. 0.5 is the midpoint of the two
            cases above, chosen by that definition, not fitted to photos.
        shift: crop displacement as a fraction of the candidate's side.
        around: shifted copies (>= 3), one network input each (docs/predict.md: the latency
            and the no-hand scores of 3 and 4).
        passes: crop passes `predict` runs on the box.
    """

    name = "handkit"

    def __init__(self, net: PoseNet, threshold: float = 0.5, *, shift: float = 0.1,
                 around: int = 4, passes: int = 1):
        if not shift > 0:
            raise ValueError(f"shift: expected > 0, got {shift}.")
        if around < 3:
            raise ValueError(f"around: expected >= 3 shifted crops (both image axes), got "
                             f"{around}.")
        self.net, self.threshold, self.shift, self.passes = net, float(threshold), shift, passes
        angle = np.pi / 2 + 2 * np.pi * np.arange(around) / around
        self.unit_shifts = np.concatenate([np.zeros((1, 2)), np.stack(
            [np.cos(angle), np.sin(angle)], 1)])  # (1 + around, 2): the candidate first

    def score_box(self, image: np.ndarray, box: np.ndarray) -> tuple[float, CropPrediction]:
        """(score, the prediction on `box`'s own unshifted crop) of the network around `box`
        (4,) px."""
        side = max(box[2] - box[0], box[3] - box[1])
        shifts = self.unit_shifts * self.shift * side
        boxes = [box + np.tile(s, 2) for s in shifts]
        size = self.net.cfg.image_size
        T = np.stack([box_crop_matrix(b, size, DEFAULT_FILL) for b in boxes])
        K = np.repeat(photo_K(*image.shape[:2])[None], len(boxes), 0)
        _, pred, crops = run_crops(self.net, [image] * len(boxes), T, K)
        uv = pred.stack("uv").double().cpu().numpy()
        score = float(np.clip(1.0 - crop_following(uv, shifts), 0.0, 1.0))
        own = CropPrediction(replace(pred, hands=pred.hands[:1]), T[:1], crops[:1])
        return score, own

    def find_hands(self, image: np.ndarray) -> list[Box]:
        """At most one box (the central hand) for (H, W, 3) uint8 RGB `image`."""
        if holds_nothing(image):
            return []
        h, w = image.shape[:2]
        box = centre_box(h, w, DEFAULT_FILL)
        score, own = self.score_box(image, box)
        if score < self.threshold:
            return []
        return [replace(_box(box, score, None, self.name), prediction=own)]


class DetectorFinder:
    """handkit's trained hand detector on the whole image (`models.hand_detector`).

    Args:
        net: a `HandDetector` in eval mode (`load_detector`) or an `infer.export.OnnxDetector`.
            threshold: score threshold (None: the model's). max_hands: at most this many hands. passes: crop passes of `predict`.
    """

    name = "trained"

    def __init__(self, net, threshold: float | None = None, *, max_hands: int = 4,
                 passes: int = 1):
        self.net = net
        self.threshold = float(net.threshold if threshold is None else threshold)
        self.max_hands, self.passes = int(max_hands), passes

    def find_hands(self, image: np.ndarray) -> list[Box]:
        """Boxes (keypoint boxes, px of `image`) of (H, W, 3) uint8 RGB `image`, best first."""
        check_shape(image, "H W 3", name="image")
        if holds_nothing(image):
            return []
        size = self.net.image_size
        T = whole_matrix(*image.shape[:2], size)  # letterbox: x_in = k·x + t
        letterboxed = torch.from_numpy(np.ascontiguousarray(warp_crop(image, T, size)))
        out = self.net.detect(letterboxed.permute(2, 0, 1)[None], max_hands=self.max_hands,
                              threshold=self.threshold)
        k, shift = T[0, 0], np.array([T[0, 2], T[1, 2]] * 2)
        found = [_box((box - shift) / k, score, bool(right > 0.5), self.name)
                 for box, score, right, keep in zip(out["boxes"][0].double().numpy(),
                                                    out["scores"][0].tolist(),
                                                    out["right"][0].tolist(),
                                                    out["keep"][0].tolist()) if keep]
        return sorted(found, key=lambda b: -b.score)


def load_detector(path: str | Path):
    """A `HandDetector` from a `handkit train detector` checkpoint (weights-only load)."""
    from handkit.models.checkpoint import load_model
    from handkit.models.hand_detector import HandDetector

    net = load_model(path)[0]
    if not isinstance(net, HandDetector):
        raise ValueError(f"{path}: a {type(net).__name__} checkpoint, not a hand detector's "
                         "(handkit train detector).")
    return net


class CentreFinder:
    """The centred square box (no score, always one hand unless the image is blank)."""

    name = "centre"
    threshold = None

    def __init__(self, *, passes: int = 1):
        self.passes = passes

    def find_hands(self, image: np.ndarray) -> list[Box]:
        if holds_nothing(image):
            return []
        h, w = image.shape[:2]
        return [_box(centre_box(h, w, DEFAULT_FILL), None, None, self.name)]


def make_finder(name: str, net: PoseNet | None = None, *, threshold: float | None = None,
                max_hands: int = 1, detector_ckpt: str | Path | None = None) -> HandFinder:
    """A finder by name: "auto" (MediaPipe if installed, else the trained detector when
    `detector_ckpt` is given, else handkit), "mediapipe", "handkit" (needs `net`), "trained"
    (needs `detector_ckpt`) or "centre". `threshold` None keeps the finder's default."""
    check_choice(name, FINDERS, name="detector")
    if name == "auto":
        name = ("mediapipe" if mediapipe_available()
                else "trained" if detector_ckpt is not None else "handkit")
    kw = {} if threshold is None else {"threshold": threshold}
    if name == "mediapipe":
        return MediaPipeFinder(max_hands=max_hands, **kw)
    if name == "trained":
        if detector_ckpt is None:
            raise ValueError("detector: 'trained' needs a detector checkpoint (--detector-ckpt "
                             "FILE, from `handkit train detector`).")
        return DetectorFinder(load_detector(detector_ckpt), max_hands=max_hands, **kw)
    if name == "handkit":
        if net is None:
            raise ValueError("detector: 'handkit' needs the pose network (net=...).")
        return HandkitFinder(net, **kw)
    return CentreFinder()
