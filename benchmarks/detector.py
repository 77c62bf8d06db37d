"""handkit's trained hand detector: box AP on a held-out synthetic multi-hand set, and box recall
on the real development photos, beside a trivial reference and MediaPipe (docs/predict.md).

    flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/detector.py \\
        --ckpt runs/detector/checkpoints/last.ckpt --synthetic data/mh_test \\
        --realdata ../shared/realdata

Boxes are keypoint boxes (the detector's convention): a labelled hand's box is the bounding box
of its labelled joints. Synthetic set: every hand is labelled, so precision, recall and AP at
box IoU 0.5 (greedy by score, `eval.multihand.average_precision`) and the handedness accuracy
of the hits. Real photos: the hand lists are incomplete (other people's hands are unlabelled),
so only the recall at IoU 0.5 per source, and for comparison the box of MediaPipe's landmarks
where it is installed. Reference ("centre box"): one box of the labelled hands' median size at
the image centre, score 1: what a detector that ignores the image finds.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from handkit.data.formats import detect_format, open_dataset
from handkit.eval.multihand import average_precision, box_iou
from handkit.external.mediapipe import mediapipe_available
from handkit.infer.finders import DetectorFinder, MediaPipeFinder, load_detector

from real_photos import SOURCES, load_realdata  # benchmarks/ is the script's folder


def keypoint_boxes(uv: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N, 21, 2) px, (N, 21) bool → (M, 4) boxes of the hands with a valid joint."""
    return np.array([[*uv[i][valid[i]].min(0), *uv[i][valid[i]].max(0)]
                     for i in range(len(uv)) if valid[i].any()]).reshape(-1, 4)


def centre_box(shape: tuple[int, ...], side: float) -> np.ndarray:
    h, w = shape[:2]
    return np.array([[w / 2 - side / 2, h / 2 - side / 2, w / 2 + side / 2, h / 2 + side / 2]])


def synthetic_table(finder: DetectorFinder, root: str, limit: int) -> list[tuple]:
    data = open_dataset(detect_format(root), root, "all")
    n = min(limit, len(data))
    rows = {"trained detector": ([], [], []), "centre box (reference)": ([], [], [])}
    sides, hand_hits, hand_total = [], 0, 0
    samples = [data[i] for i in range(n)]
    for s in samples:
        gt = keypoint_boxes(s.keypoints_2d, s.joint_valid.astype(bool))
        sides += list(np.maximum(gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]))
    side = float(np.median(sides)) if sides else 1.0
    t0 = time.perf_counter()
    for s in samples:
        valid = s.joint_valid.astype(bool)
        gt = keypoint_boxes(s.keypoints_2d, valid)
        right = s.is_right.astype(bool)[valid.any(1)]
        found = finder.find_hands(s.image)
        boxes = np.array([b.xyxy for b in found]).reshape(-1, 4)
        iou = box_iou(boxes, gt)
        for sims, scores, name in ((iou, np.array([b.score for b in found]), "trained detector"),
                                   (box_iou(centre_box(s.image.shape, side), gt), np.ones(1),
                                    "centre box (reference)")):
            rows[name][0].append(sims)
            rows[name][1].append(scores)
        for p, b in enumerate(found):  # handedness of the detections that hit a hand
            if len(gt) and iou[p].max() >= 0.5:
                hand_total += 1
                hand_hits += b.is_right == bool(right[int(iou[p].argmax())])
    ms = 1000 * (time.perf_counter() - t0) / max(n, 1)
    out = []
    for name, (sims, scores, _) in rows.items():
        r = average_precision(sims, scores, 0.5)
        hand = f"{hand_hits / hand_total:.2f}" if name == "trained detector" and hand_total else "–"
        out.append((name, r["ap"], r["precision"], r["recall"], r["num_pred"], r["num_gt"], hand))
    print(f"synthetic: {n} images of {root}, {sum(r[5] for r in out[:1])} hands, median hand "
          f"side {side:.0f} px; detector {ms:.0f} ms per image (torch, this machine)")
    return out


def real_table(finders: dict, root: Path) -> dict[str, dict[str, tuple[int, int]]]:
    photos = load_realdata(root)
    counts: dict[str, dict[str, list[int]]] = {}
    for photo in photos:
        gt = keypoint_boxes(np.stack([np.nan_to_num(h.kp, nan=-1e9) for h in photo.hands]),
                            np.stack([~np.isnan(h.kp).any(1) for h in photo.hands]))
        side = float(np.median(np.maximum(gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1])))
        for name, find in finders.items():
            boxes = (centre_box(photo.image.shape, side) if find is None
                     else np.array([b.xyxy for b in find(photo.image)]).reshape(-1, 4))
            iou = box_iou(boxes, gt)
            hit = iou.max(0) >= 0.5 if len(boxes) else np.zeros(len(gt), bool)
            c = counts.setdefault(name, {}).setdefault(photo.source, [0, 0])
            c[0] += int(hit.sum())
            c[1] += len(gt)
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", required=True, help="handkit train detector checkpoint")
    p.add_argument("--synthetic", help="a held-out synthetic multi-hand folder")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--realdata", default=os.environ.get("HANDKIT_REALDATA"))
    p.add_argument("--threshold", type=float, default=0.05,
                   help="score threshold of the detections scored (AP wants low)")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    net = load_detector(a.ckpt)
    finder = DetectorFinder(net, threshold=a.threshold, max_hands=net.max_hands)
    print(f"detector {a.ckpt}: {net.image_size} px input, threshold {a.threshold}")
    if a.synthetic:
        print("| method | AP@IoU0.5 | precision | recall | detections | hands | handedness |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for row in synthetic_table(finder, a.synthetic, a.limit):
            print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v)
                                    for v in row) + " |")
    if a.realdata:
        finders = {"trained detector (default threshold)":
                   DetectorFinder(net, max_hands=net.max_hands).find_hands,
                   "centre box (reference)": None}
        if mediapipe_available():
            finders["MediaPipe landmarks' box"] = MediaPipeFinder(max_hands=4).find_hands
        counts = real_table(finders, Path(a.realdata))
        real = [s for s in SOURCES if s != "rhd"]
        print("\nreal photos: labelled hands whose keypoint box some detection overlaps with "
              "IoU >= 0.5 (recall; the hand lists are incomplete, so no precision)")
        print("| method | " + " | ".join(SOURCES) + " | all real |")
        print("|---|" + "---:|" * (len(SOURCES) + 1))
        for name, by in counts.items():
            cells = [f"{by.get(s, [0, 0])[0]}/{by.get(s, [0, 0])[1]}" for s in SOURCES]
            hit = sum(by.get(s, [0, 0])[0] for s in real)
            tot = sum(by.get(s, [0, 0])[1] for s in real)
            print(f"| {name} | " + " | ".join(cells) + f" | {hit}/{tot} |")


if __name__ == "__main__":
    main()
