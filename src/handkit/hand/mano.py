"""MANO behind the `HandModel` interface, from the user's own pickle (specs/mesh.md §1).

handkit never ships MANO: `MANO(find_mano_dir(args.mano))` reads ``MANO_RIGHT.pkl`` /
``MANO_LEFT.pkl`` through `hand.mano_file` (restricted unpickler, no chumpy, ``.npz`` cache).
The skinning is the LBS of `hand.model` (`aa_to_rotmat`, `forward_kinematics`, `lbs`) plus
MANO's shape and pose blend shapes (`mano_lbs`).

Two ways in, one computation:

- ``forward(global_orient, finger_pose, shape)``: the `HandModel` interface (handkit's
  ``POSE_JOINTS`` order, thumb first), so code written for OpenHand runs on MANO.
- ``forward_mano(root, finger_aa=... | finger_pca=..., shape)``: MANO's own parameters
  (axis-angle in MANO's joint order index, middle, pinky, ring, thumb; or n ≤ 45 PCA
  coefficients). A 48-vector ``pose`` is ``root=pose[:, :3], finger_aa=pose[:, 3:]``.

**Convention (finger pose):** the 15 finger rotations used are ``hands_mean + finger`` unless
``flat_hand_mean`` (MANO's, smplx's and manopth's rule, for axis-angle and PCA alike):
zero is the slightly curled mean hand by default, the flat template with ``flat_hand_mean=True``
(SMHR's axis-angle layer). PCA: finger = c · hands_components[:n] (S2HAND: n = 30, not flat).

**Convention (root):** ``root_mode="wrist"``: ``root`` rotates the hand about the rest wrist J₀
(MANO, SMHR). ``"s2hand"``: the skinning root is fixed to (π, 0, 0) about J₀ and ``root``
rotates the skinned hand about the MANO origin (S2HAND), so
``s2hand(root) = wrist(aa(R(root)·R(π,0,0))) + (R(root) − I)·J₀``. Then ``center_idx``
subtracts one of the 21 output keypoints (handkit order) and ``transl`` is added last.

**Convention (sides):** a model loads one side's file (``side``). ``handedness == side`` uses
it directly; the other hand is its mirror image (x → −x, `hand.model` module doc). The left file
of MANO v1.2 has ``shapedirs[:, 0]`` with the wrong sign (smplx #48): ``left_shapedirs="auto"``
compares with ``MANO_RIGHT.pkl`` in the same folder and negates it when the bug is there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from handkit.hand.mano_file import (MANO_PARENTS, ManoFileError, find_mano_dir,
                                    has_left_shapedirs_bug, mano_file, read_mano,
                                    resolve_mano_dir)
from handkit.hand.model import (HANDEDNESS, NUM_POSE_JOINTS, POSE_JOINTS, Handedness, HandModel,
                                HandOutput, aa_to_rotmat, forward_kinematics, lbs, mirror_pose)
from handkit.hand.skeleton import NUM_JOINTS, ORDERS, TIP_VERTEX_SETS, add_fingertips, convert
from handkit.utils.check import check_choice, check_finite, check_shape

__all__ = ["MANO", "ManoOutput", "ROOT_MODES", "S2HAND_ROOT", "LEFT_SHAPEDIRS", "find_mano_dir",
           "resolve_mano_dir",
           "mano_lbs", "pca_to_finger_aa", "finger_aa_to_pca", "MANO_POSE_OF_HANDKIT"]

ROOT_MODES = {
    "wrist": "root rotates about the rest wrist J0, translation last (MANO, SMHR)",
    "s2hand": "root fixed to (pi, 0, 0) about J0; `root` rotates the result about the origin",
}
S2HAND_ROOT = (math.pi, 0.0, 0.0)
LEFT_SHAPEDIRS = {
    "auto": "negate shapedirs[:, 0] if it equals MANO_RIGHT.pkl's (the v1.2 bug)",
    "negate": "always negate shapedirs[:, 0] of the left file",
    "keep": "use the left file as it is",
}
MANO_POSE_OF_HANDKIT: tuple[int, ...] = tuple(ORDERS["mano"][j] for j in POSE_JOINTS)
"""MANO joint id (1-15) of ``finger_pose[:, k]``, i.e. of handkit joint ``POSE_JOINTS[k]``."""
_HANDKIT_OF_MANO_POSE = tuple(int(k) for k in np.argsort(MANO_POSE_OF_HANDKIT))
# rotmats of the output: MANO joint ids of (wrist, POSE_JOINTS...)
_ROTMAT_GATHER = (0,) + MANO_POSE_OF_HANDKIT
# part label (index into PART_NAMES) of the vertices dominated by each MANO joint
_PART_OF_MANO_JOINT = (0,) + tuple(1 + k for k in _HANDKIT_OF_MANO_POSE)


def mano_lbs(pose: Tensor, shape: Tensor, v_template: Tensor, shapedirs: Tensor,
             posedirs: Tensor, J_regressor: Tensor, weights: Tensor,
             parents: tuple[int, ...] = MANO_PARENTS) -> tuple[Tensor, Tensor, Tensor]:
    """MANO's skinning (specs/mesh.md §1.4): shape blend, joints, pose blend, FK, LBS.

    Args:
        pose: (B, 16, 3) float, axis-angle, radians; root then MANO joints 1-15, each relative
            to its parent in the rest frame (mean already added).
        shape: (B, 10) float, shape coefficients β.
        v_template: (V, 3) rest mesh, meters. shapedirs: (V, 3, 10). posedirs: (V, 3, 135),
            one column per entry of R_k − I, k = 1..15, row-major. J_regressor: (16, V).
            weights: (V, 16). parents: MANO's tree.

    Returns:
        vertices (B, V, 3) meters; joints (B, 16, 3) meters, posed (from the kinematic chain,
        not re-regressed); rotmats (B, 16, 3, 3) global rotation of each joint.
    """
    v_shaped = v_template + torch.einsum("bs,vcs->bvc", shape, shapedirs)
    joints_rest = torch.einsum("jv,bvc->bjc", J_regressor, v_shaped)
    rot = aa_to_rotmat(pose)
    eye = torch.eye(3, dtype=pose.dtype, device=pose.device)
    feature = (rot[:, 1:] - eye).flatten(1)  # (B, 135): the root is excluded
    v_posed = v_shaped + torch.einsum("bp,vcp->bvc", feature, posedirs)
    joints, transforms = forward_kinematics(rot, joints_rest, parents)
    return lbs(v_posed, weights, transforms), joints, transforms[..., :3]


def pca_to_finger_aa(coeffs: Tensor, components: Tensor) -> Tensor:
    """(B, n) PCA coefficients → (B, 45) finger axis-angle (relative to the mean), MANO order.

    Args:
        coeffs: (B, n) float, n ≤ 45. components: (45, 45), one component per row.
    """
    return coeffs @ components[: coeffs.shape[-1]]


def finger_aa_to_pca(finger_aa: Tensor, components: Tensor, n: int = 45) -> Tensor:
    """Least-squares inverse of `pca_to_finger_aa`: (B, 45) → (B, n).

    With n = 45 the exact inverse; with n < 45 the orthogonal projection onto the span of the
    first n components (the rows need not be unit length: MANO's are scaled by their sigma).
    """
    basis = components[:n]  # (n, 45)
    gram = basis @ basis.T
    return torch.linalg.solve(gram, basis @ finger_aa.T).T


@dataclass(frozen=True)
class ManoOutput(HandOutput):
    """`HandOutput` (vertices (B, 778, 3) m, faces, joints (B, 21, 3) handkit order with the
    chosen tips, rotmats, parts) plus MANO's own joints and the pose used."""

    joints16: Tensor  # (B, 16, 3) float, meters, MANO order (wrist, index, middle, pinky, ...)
    full_pose: Tensor  # (B, 16, 3) axis-angle used by the skinning (root, 15 joints, mean included)


class MANO(HandModel):
    """MANO from the user's pickle, with the `HandModel` interface (module doc).

    Args:
        path: a MANO folder (see `find_mano_dir`) or the ``.pkl`` itself.
        side: which file (``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``) this model uses natively.
        flat_hand_mean: False (MANO's default): the pose is relative to ``hands_mean``.
        root_mode: ``"wrist"`` or ``"s2hand"`` (`ROOT_MODES`).
        tips: the fingertip vertex set of the 21 keypoints, a key of
            `hand.skeleton.TIP_VERTEX_SETS` (``"freihand"`` = S2HAND's, ``"smhr"``, ...).
        center_idx: None, or a handkit keypoint (0 wrist, 9 middle MCP) moved to the origin
            (before ``transl``).
        left_shapedirs: the left file's shapedirs fix (`LEFT_SHAPEDIRS`); unused for the right.
        cache, cache_dir: the ``.npz`` cache (`hand.mano_file.read_mano`).
        dtype: of the float buffers (float64 for gradcheck / exact tests; inputs of another
            dtype are computed in theirs, from these buffers).

    Buffers (not saved in checkpoints: MANO stays the user's file): ``v_template``,
    ``shapedirs``, ``posedirs``, ``J_regressor``, ``weights``, ``hands_components``,
    ``hands_mean`` (zeros if flat), ``faces`` (1538, 3) int64, ``parts`` (778,) int64 (index
    into `PART_NAMES`: each vertex's dominant skinning joint, as OpenHand's).
    """

    num_shape = 10

    def __init__(self, path: str | Path, *, side: Handedness = "right",
                 flat_hand_mean: bool = False,
                 root_mode: Literal["wrist", "s2hand"] = "wrist", tips: str = "freihand",
                 center_idx: int | None = None,
                 left_shapedirs: Literal["auto", "negate", "keep"] = "auto",
                 cache: bool = True, cache_dir: str | Path | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        check_choice(side, HANDEDNESS, name="side")
        check_choice(root_mode, ROOT_MODES, name="root_mode")
        check_choice(tips, TIP_VERTEX_SETS, name="tips")
        check_choice(left_shapedirs, LEFT_SHAPEDIRS, name="left_shapedirs")
        if center_idx is not None and center_idx not in range(NUM_JOINTS):
            raise ValueError(f"center_idx: expected None or a handkit keypoint 0-20 (0 wrist, 9 "
                             f"middle MCP), got {center_idx!r}.")
        path = Path(path)
        file = mano_file(path, side) if path.is_dir() else path
        data = read_mano(file, side=side, cache=cache, cache_dir=cache_dir)
        negate = side == "left" and left_shapedirs == "negate"
        if side == "left" and left_shapedirs == "auto":
            negate = has_left_shapedirs_bug(data, self._right_of(file, cache, cache_dir))
        self.shapedirs_negated = negate
        shapedirs = data.shapedirs * np.array([-1.0, 1.0, 1.0])[:, None] if negate \
            else data.shapedirs
        self.side, self.flat_hand_mean, self.root_mode = side, flat_hand_mean, root_mode
        self.tips, self.center_idx, self.source = tips, center_idx, file
        mean = np.zeros(45) if flat_hand_mean else data.hands_mean
        parts = np.asarray(_PART_OF_MANO_JOINT)[data.weights.argmax(1)]
        for name, value, kind in (
                ("v_template", data.v_template, dtype), ("shapedirs", shapedirs, dtype),
                ("posedirs", data.posedirs, dtype), ("J_regressor", data.J_regressor, dtype),
                ("weights", data.weights, dtype), ("hands_mean", mean.reshape(15, 3), dtype),
                ("hands_components", data.hands_components, dtype), ("faces", data.faces, torch.int64),
                ("parts", parts, torch.int64)):
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(value), dtype=kind),
                                 persistent=False)

    @staticmethod
    def _right_of(left_file: Path, cache: bool, cache_dir: str | Path | None):
        right = left_file.with_name("MANO_RIGHT.pkl")
        if not right.is_file():
            raise ManoFileError(
                f"{left_file}: shapedirs: left_shapedirs='auto' compares with MANO_RIGHT.pkl, "
                f"not found beside it; put it there or pass left_shapedirs='negate' (MANO v1.2's "
                f"left file has the sign bug of smplx #48) or 'keep'.")
        return read_mano(right, side="right", cache=cache, cache_dir=cache_dir)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def pca_to_finger_aa(self, coeffs: Tensor) -> Tensor:
        """(B, n ≤ 45) PCA coefficients → (B, 15, 3) finger axis-angle, MANO order, relative to
        the mean (what ``forward_mano(finger_aa=...)`` takes)."""
        return pca_to_finger_aa(coeffs, self.hands_components.to(coeffs)).unflatten(-1, (15, 3))

    def finger_aa_to_pca(self, finger_aa: Tensor, n: int = 45) -> Tensor:
        """(B, 15, 3) or (B, 45) finger axis-angle, MANO order, relative to the mean → (B, n)."""
        return finger_aa_to_pca(finger_aa.flatten(1), self.hands_components.to(finger_aa), n)

    def forward(self, global_orient: Tensor, finger_pose: Tensor, shape: Tensor | None = None,
                *, handedness: Handedness | None = None,
                transl: Tensor | None = None) -> ManoOutput:
        """The `HandModel` interface: ``finger_pose`` (B, 15, 3) in handkit's ``POSE_JOINTS``
        order (thumb CMC first); otherwise as `forward_mano`."""
        b = check_shape(global_orient, "B 3", name="global_orient")["B"]
        check_shape(finger_pose, f"{b} {NUM_POSE_JOINTS} 3", name="finger_pose",
                    hint="finger_pose is (B, 15, 3) axis-angle, handkit POSE_JOINTS order; for "
                         "MANO's own order use forward_mano(finger_aa=...).")
        return self.forward_mano(global_orient, finger_aa=finger_pose[:, _HANDKIT_OF_MANO_POSE],
                                 shape=shape, handedness=handedness, transl=transl)

    def forward_mano(self, root: Tensor, *, finger_aa: Tensor | None = None,
                     finger_pca: Tensor | None = None, shape: Tensor | None = None,
                     handedness: Handedness | None = None,
                     transl: Tensor | None = None) -> ManoOutput:
        """Pose, shape and place a MANO hand from MANO's own parameters.

        Args:
            root: (B, 3) float, axis-angle, radians (about J₀, or about the origin after the
                fixed root in ``root_mode="s2hand"``).
            finger_aa: (B, 45) or (B, 15, 3) float, axis-angle, radians, MANO joint order,
                relative to ``hands_mean`` unless ``flat_hand_mean``. Or:
            finger_pca: (B, n) float, 1 ≤ n ≤ 45 PCA coefficients (of this model's file; the
                other hand uses the same coefficients, mirrored).
            shape: (B, 10) float β; None = 0.
            handedness: ``"right"``/``"left"``; None = ``side``. The other side is the mirror
                image of this model at the mirrored pose.
            transl: (B, 3) float, meters, added last; None = 0.

        Returns:
            `ManoOutput`, dtype/device of ``root``.
        """
        handedness = self.side if handedness is None else handedness
        check_choice(handedness, HANDEDNESS, name="handedness")
        b = check_shape(root, "B 3", name="root")["B"]
        check_finite(root, name="root")
        if (finger_aa is None) == (finger_pca is None):
            raise ValueError("forward_mano: pass exactly one of finger_aa (B, 45) axis-angle or "
                             "finger_pca (B, n) PCA coefficients.")
        mirror = handedness != self.side
        if finger_aa is not None:
            if finger_aa.dim() == 2:
                check_shape(finger_aa, f"{b} 45", name="finger_aa")
                finger_aa = finger_aa.unflatten(-1, (15, 3))
            check_shape(finger_aa, f"{b} 15 3", name="finger_aa")
            check_finite(finger_aa, name="finger_aa")
            finger = mirror_pose(finger_aa) if mirror else finger_aa
        else:
            n = check_shape(finger_pca, f"{b} N", name="finger_pca")["N"]
            if not 1 <= n <= 45:
                raise ValueError(f"finger_pca: expected 1 to 45 PCA coefficients, got {n}.")
            check_finite(finger_pca, name="finger_pca")
            finger = self.pca_to_finger_aa(finger_pca.to(root))
        if shape is None:
            shape = root.new_zeros(b, self.num_shape)
        check_shape(shape, f"{b} {self.num_shape}", name="shape")
        check_finite(shape, name="shape")
        root = mirror_pose(root) if mirror else root
        lbs_root = root if self.root_mode == "wrist" else root.new_tensor(S2HAND_ROOT).expand(b, 3)
        pose = torch.cat([lbs_root[:, None], finger + self.hands_mean.to(root)], dim=1)
        vertices, joints16, rot = mano_lbs(
            pose, shape.to(root), self.v_template.to(root), self.shapedirs.to(root),
            self.posedirs.to(root), self.J_regressor.to(root), self.weights.to(root))
        if self.root_mode == "s2hand":
            rot_global = aa_to_rotmat(root)  # (B, 3, 3), about the MANO origin
            vertices = vertices @ rot_global.transpose(1, 2)
            joints16 = joints16 @ rot_global.transpose(1, 2)
            rot = rot_global[:, None] @ rot
        faces = self.faces
        if mirror:
            flip = root.new_tensor([-1.0, 1.0, 1.0])
            vertices, joints16 = vertices * flip, joints16 * flip
            rot = rot * (flip[:, None] * flip[None, :])
            pose, faces = mirror_pose(pose), faces.flip(-1)
        joints = convert(add_fingertips(joints16, vertices, self.tips), "mano", "handkit")
        offset = -joints[:, self.center_idx: self.center_idx + 1] if self.center_idx is not None \
            else None
        if transl is not None:
            check_shape(transl, f"{b} 3", name="transl")
            offset = transl[:, None] if offset is None else offset + transl[:, None]
        if offset is not None:
            vertices, joints, joints16 = vertices + offset, joints + offset, joints16 + offset
        return ManoOutput(vertices=vertices, faces=faces, joints=joints,
                          rotmats=rot[:, _ROTMAT_GATHER], parts=self.parts, joints16=joints16,
                          full_pose=pose)
