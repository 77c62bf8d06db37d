"""A mesh with absolute 3D from any 2D detection: S2HAND's test-time refinement on its own
(`models.s2hand_fit.fit_hand`, specs/mesh.md §2.8), for either hand.

Given a hand's 21 keypoints in an image, their confidences and the image's K, the hand model
(OpenHand, or MANO with `mano_dir`) is fitted in S2HAND's parameters (PCA pose, shape, scale,
translation, rotation). A left hand is mirrored in (u → W − u, `geometry.camera.flip_K`), fitted
as a right hand and mirrored out (x → −x, faces reversed), the rule of `data.hands`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from handkit.data.hands import mirror_to_right
from handkit.geometry.camera import project
from handkit.hand.skeleton import mirror_xyz
from handkit.models.s2hand import S2HandHand
from handkit.models.s2hand_fit import fit_hand
from handkit.utils.check import check_choice, check_shape

__all__ = ["FittedMesh", "mesh_from_keypoints"]


@dataclass(frozen=True)
class FittedMesh:
    """A fitted hand, camera frame of the image (x right, y down, z forward), meters."""

    vertices: np.ndarray  # (V, 3) float
    joints: np.ndarray  # (21, 3) float, handkit order
    faces: np.ndarray  # (F, 3) int64, outward winding for this hand
    uv: np.ndarray  # (21, 2) px, the fitted joints projected with K
    reprojection_px: float  # mean distance of `uv` to the given keypoints (confident ones)


@lru_cache(maxsize=4)
def _hand(mano_dir: str | None) -> S2HandHand:
    return S2HandHand(mano_dir)


def mesh_from_keypoints(uv: np.ndarray, K: np.ndarray, width: float, *,
                        conf: np.ndarray | None = None, hand: str = "right",
                        mano_dir: str | None = None, adam: str = "official",
                        iterations: int = 151) -> FittedMesh:
    """Fit the hand model to one hand's 2D keypoints (module doc).

    Args:
        uv: (21, 2) float px, handkit order (NaN where missing). K: (3, 3) px intrinsics.
        width: the image width, px (to mirror a left hand).
        conf: (21,) in [0, 1]; None = 1 for every finite keypoint.
        hand: "right" or "left". mano_dir: a MANO folder, or None for OpenHand.
        adam, iterations: `models.s2hand_fit.fit_hand`'s (official: re-created every
            iteration, 151).

    Returns:
        `FittedMesh`.
    """
    check_choice(hand, ("right", "left"), name="hand")
    check_shape(uv, "21 2", name="uv")
    uv = np.asarray(uv, np.float64)
    K = np.asarray(K, np.float64)
    conf = np.isfinite(uv).all(-1).astype(np.float64) if conf is None else \
        np.asarray(conf, np.float64)
    left = hand == "left"
    uv_in, K_in = uv, K
    if left:  # mirror in (the model is a right hand)
        _, uv_in, _, K_in = mirror_to_right(np.zeros((1, 1, 3)), uv, K=K, width=width)
    model = _hand(mano_dir)
    fit = fit_hand(model, torch.as_tensor(uv_in, dtype=torch.float32)[None],
                   torch.as_tensor(conf, dtype=torch.float32)[None],
                   torch.as_tensor(K_in, dtype=torch.float32)[None], adam=adam,
                   iterations=iterations)
    verts, joints = fit.vertices[0].numpy(), fit.joints[0].numpy()
    faces = model.faces.numpy().astype(np.int64)
    if left:  # mirror out: x -> -x, faces reversed so normals still point outwards
        verts, joints = mirror_xyz(verts), mirror_xyz(joints)
        faces = np.ascontiguousarray(faces[:, ::-1])
    proj = project(torch.as_tensor(joints, dtype=torch.float64),
                   torch.as_tensor(K, dtype=torch.float64)).numpy()
    ok = np.isfinite(uv).all(-1) & (conf > 0)
    err = float(np.linalg.norm(proj - uv, axis=-1)[ok].mean()) if ok.any() else float("nan")
    return FittedMesh(verts, joints, faces, proj, err)
