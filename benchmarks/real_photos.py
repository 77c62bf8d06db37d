"""Real photos: PCK@0.1 of the hand box and mean pixel error per source, side by side in one run,
for every hand finder (the handkit network on its box, 1 and 2 crop passes), MediaPipe's own
landmarks (on the whole image, and searching the labelled box as ``predict --box`` does), the
network on the labelled box, and the mean-pose baseline (docs/predict.md).

Run alone, with the development set's folder (never copied into the repository; README there):

    flock /tmp/handkit-bench.lock nice -n 10 .venv/bin/python benchmarks/real_photos.py \\
        --realdata ../shared/realdata

(or set $HANDKIT_REALDATA). **Do not tune on these photos**: 27 images, 35 hands, read them as
counts and as "look at the overlay"; the result is checked on other photos.

Scoring, per labelled hand: PCK@0.1 = the fraction of its labelled joints within
0.1 · max(box width, box height) of the label, with the source's own box; error = the mean
distance in pixels of its labelled joints. A finder's detection is matched to a labelled hand
by the largest box IoU > 0 (each detection used once per image); a hand with no matched
detection scores 0 on every joint in PCK and is left out of the mean error (the `found` column
counts matched hands). Left hands are mirrored for the network (trained on right hands): with
the label's handedness on the labelled box (right when unknown), with the finder's otherwise.
The mean pose is the mean 2D pose of synthetic FreiHAND-layout hands (seed 0), each scaled to
its keypoint box, placed in a box (mirrored for a left hand): it ignores the image.

A second table gives the in-domain reference: the same network (and the mean pose) on 300
synthetic hands of its own world, scored the same way, so the real-photo cells can be read
against what the network does where it was trained.

A third table scores 3D on the hands labelled with it (InterHand2.6M, RHD): PA-MPJPE in mm
(similarity-aligned, so neither the unknown hand size nor the camera matters) of the network on
the labelled box, of MediaPipe's 3D landmarks (what `predict` answers with when MediaPipe is
the finder), and of the generalised-Procrustes mean of the synthetic hands' 3D poses (mirrored
for a left hand), the reference any 3D must beat.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from handkit.data.crop import keypoint_box
from handkit.data.formats.freihand import FreiHAND
from handkit.data.synth.runner import synthesize
from handkit.eval.metrics import pa_mpjpe, procrustes_mean
from handkit.external.mediapipe import mediapipe_available
from handkit.infer.finders import (CentreFinder, DetectorFinder, HandkitFinder, MediaPipeFinder,
                                   load_detector)
from handkit.infer.pipeline import DEFAULT_FILL
from handkit.infer.predict import predict_hand
from handkit.models.checkpoint import load_model

SOURCES = ("freihand", "onehand10k", "panoptic", "interhand26m", "coco_wholebody", "rhd")
MEAN_POSE_3D = "mean pose (Procrustes mean of synthetic 3D)"
SYNTHETIC_LOOKS = ("transfer", "default")  # the shipped file's training look, and the plain one


@dataclass
class Hand:
    box: np.ndarray        # (4,) px, the source's box
    kp: np.ndarray         # (21, 2) px, NaN where unlabelled
    is_right: bool | None  # None: unknown
    xyz: np.ndarray | None = None  # (21, 3) m, camera frame, where the source labels 3D


@dataclass
class Photo:
    source: str
    file: str
    image: np.ndarray      # (H, W, 3) uint8 RGB
    hands: list[Hand]


def load_realdata(root: Path) -> list[Photo]:
    """Every image of `root`/<source>.json (format handkit-realdata-v1), read unchanged."""
    photos = []
    for source in SOURCES:
        spec = json.loads((root / f"{source}.json").read_text())
        if spec.get("format") != "handkit-realdata-v1":
            raise ValueError(f"{root / source}.json: format {spec.get('format')!r}, expected "
                             "'handkit-realdata-v1'.")
        for img in spec["images"]:
            image = np.asarray(Image.open(root / img["file"]).convert("RGB"))
            hands = [Hand(np.asarray(h["box"], np.float64),
                          np.array([[np.nan, np.nan] if p is None else p
                                    for p in h["keypoints_2d"]], np.float64),
                          {"right": True, "left": False}.get(h["handedness"]),
                          None if h.get("keypoints_3d_cam_m") is None
                          else np.asarray(h["keypoints_3d_cam_m"], np.float64))
                     for h in img["hands"]]
            photos.append(Photo(source, img["file"], image, hands))
    return photos


def synthetic_hands(n: int, *, seed: int, size: int, look: str = "default") -> list:
    """`n` synthetic right-hand samples (FreiHAND layout and format, both splits), images in
    memory."""
    with tempfile.TemporaryDirectory() as tmp:
        root = synthesize("freihand", Path(tmp) / "synth", n, seed=seed, size=size,
                          progress=False, appearance=look)
        return [s for split in ("training", "evaluation")
                for s in FreiHAND(root, split, masks=False)]


def synthetic_poses(n: int = 64) -> tuple[list[np.ndarray], np.ndarray]:
    """2D keypoints (21, 2) px of `n` synthetic right hands (FreiHAND layout, seed 0), and
    their 3D keypoints (n, 21, 3) m, camera frame."""
    samples = synthetic_hands(n, seed=0, size=128)
    return ([np.asarray(s.keypoints_2d[0], np.float64) for s in samples],
            np.stack([s.keypoints_3d[0] for s in samples]).astype(np.float64))


def synthetic_reference(net, pose: np.ndarray, look: str, n: int = 300) -> dict[str, Tally]:
    """The in-domain reference: the network and the mean pose on `n` synthetic right hands of
    appearance `look` (224 px, seed 77, a seed no shipped file trained on), each on its
    keypoint box, scored as the real photos are. Returns {"network": ..., "mean pose": ...}."""
    out = {"network": Tally(), "mean pose": Tally()}
    for s in synthetic_hands(n, seed=77, size=224, look=look):
        kp = np.asarray(s.keypoints_2d[0], np.float64)
        hand = Hand(keypoint_box(kp), kp, True)
        out["network"].add(predict_hand(net, s.image, hand.box)[0], hand)
        out["mean pose"].add(place(pose, hand.box, True), hand)
    return out


def mean_pose(poses: list[np.ndarray]) -> np.ndarray:
    """(21, 2) the mean of `poses`, each as (uv − box centre) / box side of its own keypoint
    box (unit-free)."""
    out = []
    for uv in poses:
        b = keypoint_box(uv)
        out.append((uv - (b[:2] + b[2:]) / 2) / max(b[2] - b[0], b[3] - b[1]))
    return np.mean(out, 0)


def training_fill(poses: list[np.ndarray], augment: dict, draws: int = 5) -> np.ndarray:
    """The fraction of the training crop that the hand's keypoint box spans, for `poses`
    under the checkpoint's augmentation (`data.augment`: rotation U(±max_angle_deg), crop side
    2 · max joint distance from the joints' mean · margin U(crop_margin_range)). Returns the
    drawn fills (len(poses) · draws,); compare with the pipeline's fill."""
    rng = np.random.default_rng(0)
    lo, hi = augment.get("crop_margin_range", (0.9, 1.5))
    max_deg = augment.get("max_angle_deg", 45.0) if augment.get("rotate", True) else 0.0
    fills = []
    for uv in poses:
        for _ in range(draws):
            a = np.deg2rad(rng.uniform(-max_deg, max_deg))
            k = uv @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T
            radius = np.sqrt(((k - k.mean(0)) ** 2).sum(1)).max()
            b = keypoint_box(k)
            fills.append(max(b[2] - b[0], b[3] - b[1]) / (2 * radius * rng.uniform(lo, hi)))
    return np.asarray(fills)


def place(pose: np.ndarray, box: np.ndarray, is_right: bool | None) -> np.ndarray:
    """`mean_pose` placed in `box` (4,) px: centred, scaled by its longer side, mirrored in x
    for a left hand. Returns (21, 2) px."""
    c, side = (box[:2] + box[2:]) / 2, max(box[2] - box[0], box[3] - box[1])
    p = pose * [(-1.0 if is_right is False else 1.0), 1.0]
    return c + p * side


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(dets: list, hands: list[Hand], box_of=lambda d: d.xyxy) -> list:
    """For each labelled hand, the detection with the largest IoU > 0 (greedy, each used
    once), or None."""
    pairs = sorted(((iou(box_of(d), h.box), i, j) for i, d in enumerate(dets)
                    for j, h in enumerate(hands)), reverse=True)
    out, used = [None] * len(hands), set()
    for v, i, j in pairs:
        if v > 0 and i not in used and out[j] is None:
            out[j], used = dets[i], used | {i}
    return out


@dataclass
class Tally:
    """Counts for one (method, source)."""

    within: int = 0
    labelled: int = 0
    err_sum: float = 0.0
    err_hands: int = 0
    found: int = 0
    hands: int = 0
    errs: list = field(default_factory=list)  # per hand mean error, None when not found

    def add(self, pred: np.ndarray | None, hand: Hand) -> None:
        ok = np.isfinite(hand.kp).all(1)
        self.labelled += int(ok.sum())
        self.hands += 1
        if pred is None:
            self.errs.append(None)
            return
        d = np.linalg.norm(pred[ok] - hand.kp[ok], axis=1)
        side = max(hand.box[2] - hand.box[0], hand.box[3] - hand.box[1])
        self.within += int((d < 0.1 * side).sum())
        self.err_sum += float(d.mean())
        self.err_hands += 1
        self.found += 1
        self.errs.append(float(d.mean()))

    def cell(self) -> str:
        pck = self.within / max(self.labelled, 1)
        err = f"{self.err_sum / self.err_hands:.1f}" if self.err_hands else "–"
        return f"{pck:.2f} · {err} px · {self.found}/{self.hands}"


def total_of(by_source: dict[str, Tally], sources) -> Tally:
    """One `Tally` summing `by_source` over `sources` (the per-hand list is left empty)."""
    total = Tally()
    for s in sources:
        t = by_source.get(s, Tally())
        total.within += t.within
        total.labelled += t.labelled
        total.err_sum += t.err_sum
        total.err_hands += t.err_hands
        total.found += t.found
        total.hands += t.hands
    return total


def _cell_3d(errors: list) -> str:
    found = [e for e in errors if e is not None]
    mean = f"{np.mean(found):.1f}" if found else "–"
    return f"{mean} · {len(found)}/{len(errors)}"


def add_realdata_argument(parser: argparse.ArgumentParser) -> None:
    """``--realdata DIR`` (default $HANDKIT_REALDATA)."""
    parser.add_argument("--realdata", default=os.environ.get("HANDKIT_REALDATA"),
                        help="the realdata folder (default $HANDKIT_REALDATA)")


def require_realdata(args: argparse.Namespace, prog: str) -> None:
    """Exit with a one-line message when no realdata folder was given."""
    if not args.realdata:
        raise SystemExit(f"{prog}: pass --realdata DIR or set HANDKIT_REALDATA "
                         "(e.g. ../shared/realdata); it is never part of the repository.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_realdata_argument(parser)
    parser.add_argument("--ckpt", help="checkpoint (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--detector-ckpt", help="also score handkit's trained hand detector "
                        "(handkit train detector)")
    args = parser.parse_args()
    require_realdata(args, "real_photos")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    photos = load_realdata(Path(args.realdata))
    net, config = load_model(args.ckpt)
    poses, poses_3d = synthetic_poses()
    pose = mean_pose(poses)
    pose_3d = procrustes_mean(poses_3d).numpy()
    fills = training_fill(poses, config.get("augment") or {})
    train_fill = float(np.median(fills))
    finders = [HandkitFinder(net), CentreFinder()]
    if args.detector_ckpt:
        finders.insert(0, DetectorFinder(load_detector(args.detector_ckpt), max_hands=4))
    mp = MediaPipeFinder(max_hands=4) if mediapipe_available() else None
    if mp is not None:
        finders.insert(0, mp)
    tallies: dict[str, dict[str, Tally]] = {}
    errors_3d: dict[str, dict[str, list]] = {}  # method -> source -> PA-MPJPE mm, None: missed

    def add(method: str, source: str, pred, hand: Hand) -> None:
        tallies.setdefault(method, {}).setdefault(source, Tally()).add(pred, hand)

    def add_3d(method: str, source: str, xyz, hand: Hand) -> None:
        if hand.xyz is not None:
            errors_3d.setdefault(method, {}).setdefault(source, []).append(
                None if xyz is None else 1e3 * float(pa_mpjpe(xyz[None], hand.xyz[None])))

    for photo in photos:
        img, hands, src = photo.image, photo.hands, photo.source
        for hand in hands:  # the network and the mean pose on the labelled box
            left = hand.is_right is False
            for passes in (1, 2):
                uv, xyz = predict_hand(net, img, hand.box, left=left, passes=passes)[:2]
                add(f"network on the labelled box, {passes} pass(es)", src, uv, hand)
                if passes == 1:
                    add_3d("network on the labelled box, 1 pass", src, xyz, hand)
            add_3d(MEAN_POSE_3D, src,
                   pose_3d * [-1.0 if left else 1.0, 1.0, 1.0], hand)
            uv = predict_hand(net, img, hand.box, left=left, fill=train_fill)[0]
            add("network on the labelled box, 1 pass(es), training fill", src, uv, hand)
            add("mean pose in the labelled box", src, place(pose, hand.box, hand.is_right), hand)
            if mp is not None:
                inside = mp.find_in_box(img, hand.box)
                kp = None if inside is None else inside.keypoints
                add("MediaPipe's landmarks in the labelled box (predict --box)", src,
                    None if kp is None else kp.uv, hand)
                add_3d("MediaPipe's 3D landmarks in the labelled box (predict --box)", src,
                       None if kp is None else kp.xyz_m.astype(np.float64), hand)
        if mp is not None:
            found = [h for h in mp.hands.hands(img) if h.score >= mp.threshold]
            for hand, mh in zip(hands, match(found, hands, box_of=lambda h: h.box)):
                add("MediaPipe's own landmarks", src, None if mh is None else mh.keypoints,
                    hand)
                add_3d("MediaPipe's 3D landmarks (predict's default with MediaPipe)", src,
                       None if mh is None else mh.world_m.astype(np.float64), hand)
        for finder in finders:
            dets = finder.find_hands(img)
            for hand, det in zip(hands, match(dets, hands)):
                for passes in (1, 2):
                    uv = None if det is None else predict_hand(
                        net, img, det.xyxy, left=det.is_right is False, passes=passes)[0]
                    add(f"network on the {finder.name} box, {passes} pass(es)", src, uv, hand)
                if finder.name == "mediapipe":
                    uv = None if det is None else predict_hand(
                        net, img, det.xyxy, left=det.is_right is False, fill=train_fill)[0]
                    add("network on the mediapipe box, 1 pass(es), training fill", src, uv,
                        hand)
                add(f"mean pose in the {finder.name} box", src,
                    None if det is None else place(pose, det.xyxy, det.is_right), hand)

    synthetic = {look: synthetic_reference(net, pose, look) for look in SYNTHETIC_LOOKS}
    real = [s for s in SOURCES if s != "rhd"]
    print(f"{len(photos)} images, {sum(len(p.hands) for p in photos)} hands from "
          f"{args.realdata}; model {net.cfg.name} {net.cfg.backbone} at {net.cfg.image_size} px"
          f"; MediaPipe {'in-process' if mp else 'not installed'}; "
          f"{time.perf_counter() - t0:.0f} s")
    print(f"crop fill: the pipeline's {DEFAULT_FILL}; the checkpoint's training crops "
          f"(synthetic hands under its augmentation): median {train_fill:.3f}, 10-90 % "
          f"{np.percentile(fills, 10):.3f}-{np.percentile(fills, 90):.3f}")
    print("cells: PCK@0.1 of the box · mean error of found hands · found/hands")
    print("| method | " + " | ".join(SOURCES) + " | all real |")
    print("|---|" + "---|" * (len(SOURCES) + 1))
    for method, by_source in tallies.items():
        total = total_of(by_source, real)
        cells = [by_source.get(s, Tally()).cell() for s in SOURCES]
        print(f"| {method} | " + " | ".join(cells) + f" | {total.cell()} |")
    print("\nIn-domain reference: the same network and the mean pose on synthetic hands of "
          "its world, keypoint box (cells as above):")
    print("| method | " + " | ".join(f"synthetic `{look}`" for look in SYNTHETIC_LOOKS) + " |")
    print("|---|" + "---|" * len(SYNTHETIC_LOOKS))
    for method in ("network", "mean pose"):
        print(f"| {method} | " + " | ".join(synthetic[look][method].cell()
                                             for look in SYNTHETIC_LOOKS) + " |")
    with_3d = [s for s in SOURCES if any(s in v for v in errors_3d.values())]
    print("\n3D on the hands labelled with it: PA-MPJPE mm (mean over the hands found) · "
          "found/hands")
    print("| method | " + " | ".join(with_3d) + " | all | mean pose on the same hands |")
    print("|---|" + "---|" * (len(with_3d) + 2))
    reference = [e for s in with_3d for e in errors_3d[MEAN_POSE_3D].get(s, [])]
    for method, by_source in errors_3d.items():
        cells = [_cell_3d(by_source.get(s, [])) for s in with_3d]
        every = [e for s in with_3d for e in by_source.get(s, [])]
        same = [r for r, e in zip(reference, every, strict=True) if e is not None]
        print(f"| {method} | " + " | ".join(cells) + f" | {_cell_3d(every)} | "
              f"{_cell_3d(same)} |")
    print("\nDoes the second pass help? Hands (real sources) whose mean error is lower with 2 "
          "passes than with 1, of the hands found:")
    names = ["labelled"] + [f.name for f in finders]
    for name in names:
        one = tallies[f"network on the {'labelled' if name == 'labelled' else name} box, "
                      f"1 pass(es)"]
        two = tallies[f"network on the {'labelled' if name == 'labelled' else name} box, "
                      f"2 pass(es)"]
        better = n = 0
        for s in real:
            for a, b in zip(one.get(s, Tally()).errs, two.get(s, Tally()).errs):
                if a is not None and b is not None:
                    n += 1
                    better += b < a
        print(f"- {name} box: {better} of {n}")


if __name__ == "__main__":
    main()
