"""Nearest-neighbour pose probe: how much hand pose a frozen encoder's features carry.

SiMHand's premise is that pre-training should put hands with similar poses close together in
feature space. The probe measures exactly that, with no training at all: every labelled hand is
cropped around its true 2D box, encoded (global-average-pooled features, L2-normalised), and
each test hand takes the 3D pose of its nearest labelled hand (cosine similarity). The error is
the PA-MPJPE between that retrieved pose and the test hand's true pose (Procrustes removes the
global rotation, scale and position, so only the articulation counts).

Three references frame the number: *mean pose* (every test hand gets the labelled poses'
generalised Procrustes mean, `eval.metrics.procrustes_mean`: what a model that ignores the
image would score; a plain mean of camera-frame poses blurs over the hands' rotations and
scores about twice as much, 42 against 21 mm on the synthetic world), *true 2D pose* (retrieval by
the miner's embedding of the true 2D keypoints, `mining.embed.embed_poses`: what a feature that
knew the 2D pose exactly would score) and *oracle* (the labelled hand whose true 3D pose is
closest after Procrustes: the best any retrieval can do with this labelled set). A
random-initialised encoder (``encoder=None``) is the "no pre-training" row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from handkit.data.crop import box_crop_matrix, keypoint_box, warp_crop
from handkit.data.formats import detect_format, open_dataset
from handkit.data.formats._base import LOAD_ERRORS
from handkit.data.hands import prepare_hand
from handkit.eval.metrics import pa_mpjpe, procrustes_mean
from handkit.eval.report import EvalReport
from handkit.eval.scoring import score_predictions
from handkit.geometry.camera import apply_affine_2d
from handkit.mining.embed import embed_poses
from handkit.models.backbones import IMAGENET_MEAN, IMAGENET_STD, create_backbone

__all__ = ["HandSet", "load_hands", "encode", "knn_pose_probe", "reference_errors",
           "mean_pose_report"]


@dataclass
class HandSet:
    """Right-hand crops and their poses.

    Attributes:
        images: (N, S, S, 3) uint8 crops around the true 2D box (fill 0.7), left hands mirrored.
        xyz: (N, 21, 3) float64, meters, camera frame, handkit order.
        uv: (N, 21, 2) float64, pixels of the crop.
        skipped: number of samples that failed to load (reported, not fatal).
    """

    images: np.ndarray
    xyz: np.ndarray
    uv: np.ndarray
    skipped: int = 0


def load_hands(root: str | Path, split: str, size: int = 64, limit: int | None = None) -> HandSet:
    """Crop the first hand of every sample of `split` in the dataset at `root` (any format)."""
    dataset = open_dataset(detect_format(root), root, split)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    images, xyz, uv, skipped = [], [], [], 0
    for i in range(n):
        try:
            hand = prepare_hand(dataset[i])
        except LOAD_ERRORS:
            skipped += 1
            continue
        if hand["xyz"] is None:
            skipped += 1
            continue
        T = box_crop_matrix(keypoint_box(hand["uv"], hand["valid"]), size, 0.7)
        images.append(warp_crop(hand["image"], T, size))
        xyz.append(hand["xyz"])
        uv.append(apply_affine_2d(hand["uv"], T))
    if not images:
        raise ValueError(f"root: no usable hand with 3D keypoints in {root} ({split}).")
    return HandSet(np.stack(images), np.stack(xyz), np.stack(uv), skipped)


@torch.no_grad()
def encode(images: np.ndarray, encoder: str | Path | None, *, arch: str = "resnet18",
           batch_size: int = 128, seed: int = 0) -> torch.Tensor:
    """(N, C) L2-normalised pooled features of uint8 (N, S, S, 3) crops.

    Args:
        encoder: a torchvision-format encoder file, or None for a random initialisation drawn
            with `seed` (the "no pre-training" reference).
    """
    with torch.random.fork_rng(devices=[]):  # the caller's RNG stream is left as it was
        torch.manual_seed(seed)
        net = create_backbone(arch, weights=encoder).eval()
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    feats = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images[start:start + batch_size]).permute(0, 3, 1, 2).float() / 255
        feats.append(net.forward_pooled((x - mean) / std))
    return F.normalize(torch.cat(feats), dim=1)


def _root_relative(xyz: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(xyz - xyz[:, :1]).float()


def knn_pose_probe(train_feats: torch.Tensor, train_xyz: np.ndarray, test_feats: torch.Tensor,
                   test_xyz: np.ndarray) -> float:
    """PA-MPJPE in mm of the poses retrieved by cosine nearest neighbour.

    Args:
        train_feats, test_feats: (N, C) and (M, C) L2-normalised features.
        train_xyz, test_xyz: (N, 21, 3) and (M, 21, 3) meters.
    """
    nearest = (test_feats @ train_feats.T).argmax(dim=1)
    pred = _root_relative(train_xyz)[nearest]
    return 1000 * float(pa_mpjpe(pred, _root_relative(test_xyz)))


def reference_errors(train_set: HandSet, test_set: HandSet) -> dict[str, float]:
    """PA-MPJPE in mm of the references ``mean_pose``, ``true_2d_pose`` and ``oracle``
    (module docstring)."""
    train, test = _root_relative(train_set.xyz), _root_relative(test_set.xyz)
    best = torch.full((len(test),), float("inf"))
    for j in range(len(train)):  # N Procrustes of (M, 21, 3): small sets only
        best = torch.minimum(best, pa_mpjpe(train[j].expand_as(test), test, reduction="none")
                             .mean(dim=-1))
    pose_feats = [F.normalize(torch.from_numpy(embed_poses(h.uv, np.ones(len(h.uv), bool))),
                              dim=1) for h in (train_set, test_set)]
    return {"mean_pose": mean_pose_report(train_set, test_set).metrics["pa_mpjpe_mm"],
            "true_2d_pose": knn_pose_probe(pose_feats[0], train_set.xyz, pose_feats[1],
                                           test_set.xyz),
            "oracle": 1000 * float(best.mean())}


def mean_pose_report(train_set: HandSet, test_set: HandSet) -> EvalReport:
    """The standard metrics of the mean-pose reference: every test hand gets `train_set`'s
    generalised Procrustes mean pose (module doc) with its wrist at the test hand's true wrist
    (only the aligned metrics are meaningful: the mean has no orientation of its own)."""
    mean = procrustes_mean(train_set.xyz).numpy()
    pred = (mean - mean[:1])[None] + test_set.xyz[:, :1]
    return score_predictions(pred, test_set.xyz, np.ones(test_set.xyz.shape[:2], bool),
                             name="mean pose")
