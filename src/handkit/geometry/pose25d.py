"""2.5D hand pose ⇄ 3D, with the analytic root depth of Iqbal et al. 2018 (specs/pretrain.md §3.1-3.2).

The 2.5D representation of a hand is (uv, z_rel, scale):

- ``uv``: (B, 21, 2) pixels, the projected keypoints;
- ``z_rel``: (B, 21) depth relative to the root joint, in units of the scale bone's length:
  z_rel_j = (Z_j − Z_root) / scale;
- ``scale``: (B,) the scale bone's 3D length (meters).

Given uv, z_rel and K, the root depth Z_root (bone units) is the larger root of the quadratic
‖(Z_root + z_n) x̂_n − (Z_root + z_m) x̂_m‖ = 1 over the scale bone (m, n), x̂ = K⁻¹ [u, v, 1]ᵀ;
then xyz_j = x̂_j (z_rel_j + Z_root) · scale.

**Conventions (specs/pretrain.md §4.3; they must not be mixed up).** Which joint is the root and
which bone sets the scale are named fields of `Convention`; `CONVENTIONS` holds the three the
official code uses, expressed in handkit order:

- ``peclr_src``: the PeCLR/SiMHand ``src/`` utilities (``convert_to_2_5D``, ``get_root_depth``):
  root wrist, bone wrist–index MCP (AIT (0, 2)); a and b² − 4ac floored at 1e-6; no clamp, no
  detach.
- ``rn25d``: RN_25D_wMLPref: root = the palm (wrist + middle MCP) / 2 stored at joint 0 (as
  `skeleton.wrist_to_palm` with the released test script's middle MCP), bone middle MCP–middle
  PIP (AIT (3, 8)); floors 1e-8; Z_root detached, then clamped to [4, 50] bone lengths.
- ``minimal_hand``: root wrist, bone wrist–middle MCP (SNAP (0, 9)). minimal-hand itself never
  recovers a root depth (DetNet predicts root-relative 3D), so its floors are handkit's choice
  (1e-8, like rn25d) and there is no clamp.

With a palm root the 2.5D slot 0 holds the palm: `to_25d` replaces the wrist by the palm first and
`from_25d` puts the wrist back (wrist = 2·palm − partner), so 3D in and 3D out are handkit order
with the wrist at 0.

**Convention (frames):** xyz in meters, right-handed camera frame (x right, y down, z forward);
uv in handkit pixels (centre of column i at i + 0.5). Keypoints in handkit order
(`skeleton.convert(kp, "ait", "handkit")` first for AIT-order model outputs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from handkit.geometry._tensors import float_tensor, per_sample
from handkit.geometry.camera import pixel_rays, project
from handkit.hand.skeleton import JOINT_NAMES, palm_to_wrist, wrist_to_palm
from handkit.utils.check import check_choice, check_shape

__all__ = ["Convention", "CONVENTIONS", "to_25d", "root_depth", "from_25d"]

_PALMS = {"palm": "middle_mcp", "palm_index": "index_mcp"}
"""Root names that mean "replace joint 0 by (wrist + partner) / 2" (`skeleton.wrist_to_palm`)."""


@dataclass(frozen=True)
class Convention:
    """Root joint, scale bone and the numeric details of the root-depth solve.

    Attributes:
        root: a `skeleton.JOINT_NAMES` entry, or ``"palm"`` ((wrist + middle_mcp) / 2, RN25D's
            released test script) or ``"palm_index"`` ((wrist + index_mcp) / 2, PeCLR's training
            flag ``--use_palm``), stored at joint 0 in place of the wrist.
        bone: (m, n) joint names of the scale bone (order irrelevant). With a palm root, "wrist"
            may not appear (slot 0 holds the palm).
        eps: floor applied to both a and the discriminant b² − 4ac in the root-depth solve.
        clamp: (low, high) bounds for the analytic Z_root in bone lengths, or None.
        detach: stop gradients through the analytic Z_root (RN25D does).
    """

    root: str = "wrist"
    bone: tuple[str, str] = ("wrist", "index_mcp")
    eps: float = 1e-6
    clamp: tuple[float, float] | None = None
    detach: bool = False

    def __post_init__(self) -> None:
        check_choice(self.root, set(JOINT_NAMES) | set(_PALMS), name="root")
        if len(self.bone) != 2 or self.bone[0] == self.bone[1]:
            raise ValueError(f"bone: expected two different joint names, got {self.bone!r}.")
        for joint in self.bone:
            check_choice(joint, JOINT_NAMES, name="bone")
        if self.root in _PALMS and "wrist" in self.bone:
            raise ValueError(f"bone: {self.bone!r} uses the wrist, but root={self.root!r} puts "
                             "the palm in the wrist's slot; pick a bone without the wrist.")
        if not self.eps > 0:
            raise ValueError(f"eps: must be > 0, got {self.eps}.")
        if self.clamp is not None and not (0 < self.clamp[0] < self.clamp[1]):
            raise ValueError(f"clamp: expected (low, high) with 0 < low < high, got {self.clamp}.")

    @property
    def root_index(self) -> int:
        """Index of the root in the 2.5D arrays (0 for a palm root)."""
        return 0 if self.root in _PALMS else JOINT_NAMES.index(self.root)

    @property
    def bone_index(self) -> tuple[int, int]:
        return JOINT_NAMES.index(self.bone[0]), JOINT_NAMES.index(self.bone[1])


CONVENTIONS: dict[str, Convention] = {
    "peclr_src": Convention(root="wrist", bone=("wrist", "index_mcp"), eps=1e-6),
    "rn25d": Convention(root="palm", bone=("middle_mcp", "middle_pip"), eps=1e-8,
                        clamp=(4.0, 50.0), detach=True),
    "minimal_hand": Convention(root="wrist", bone=("wrist", "middle_mcp"), eps=1e-8),
}


def _convention(convention: str | Convention, root: str | None,
                bone: tuple[str, str] | None) -> Convention:
    if isinstance(convention, str):
        check_choice(convention, CONVENTIONS, name="convention")
        convention = CONVENTIONS[convention]
    elif not isinstance(convention, Convention):
        raise ValueError(f"convention: expected a name in {sorted(CONVENTIONS)} or a Convention, "
                         f"got {type(convention).__name__}.")
    changes = {k: v for k, v in (("root", root), ("bone", bone)) if v is not None}
    return dataclasses.replace(convention, **changes) if changes else convention


def _check_K(K: Tensor, batch: int) -> None:
    # ndim first: comparing a (B, 3, 3) shape to (3, 3) would guard B != 3 under torch.export
    if K.ndim != 2 or K.shape != (3, 3):
        check_shape(K, "B 3 3", name="K", allow_empty=True,
                    hint="Pass one (3, 3) K for the whole batch or one per sample.")
        if K.shape[0] != batch:
            raise ValueError(f"K: expected (3, 3) or ({batch}, 3, 3), got {tuple(K.shape)}.")


def to_25d(xyz: Any, K: Any, *, convention: str | Convention = "peclr_src",
           root: str | None = None, bone: tuple[str, str] | None = None
           ) -> tuple[Tensor, Tensor, Tensor]:
    """3D keypoints → 2.5D (uv, z_rel, scale) (`convert_to_2_5D` of specs/pretrain.md §3.2).

    Args:
        xyz: (B, 21, 3) float, meters, camera frame, handkit order, wrist at 0.
        K: (3, 3) or (B, 3, 3) float intrinsics, pixels.
        convention: a `CONVENTIONS` name or a `Convention`.
        root, bone: override the convention's root joint / scale bone (joint names).

    Returns:
        uv: (B, 21, 2) float, pixels (slot 0 is the palm for a palm root).
        z_rel: (B, 21) float, (Z_j − Z_root) / scale, bone lengths; 0 at the root.
        scale: (B,) float, meters: the scale bone's 3D length.

    An empty batch gives empty outputs. A zero-length scale bone gives inf/NaN z_rel.
    """
    conv = _convention(convention, root, bone)
    xyz = float_tensor(xyz, "xyz")
    b = check_shape(xyz, "B 21 3", name="xyz", allow_empty=True)["B"]
    K = float_tensor(K, "K").to(xyz)
    _check_K(K, b)
    if conv.root in _PALMS:
        xyz = wrist_to_palm(xyz, _PALMS[conv.root])
    m, n = conv.bone_index
    scale = (xyz[:, n] - xyz[:, m]).norm(dim=-1)
    uv = project(xyz, K)
    z_rel = (xyz[..., 2] - xyz[:, conv.root_index, 2:3]) / scale[:, None]
    return uv, z_rel, scale


def root_depth(uv: Any, z_rel: Any, K: Any, *, convention: str | Convention = "peclr_src",
               bone: tuple[str, str] | None = None) -> Tensor:
    """Analytic root depth from 2.5D keypoints (Iqbal et al. 2018, Eq. 6/7; specs/pretrain.md §3.1).

    With x̂ = K⁻¹ [u, v, 1]ᵀ = (X, Y, 1) and the scale bone (m, n) of normalised length 1:

        a = (X_n − X_m)² + (Y_n − Y_m)²
        b = 2 [z_n (X_n² + Y_n² − X_n X_m − Y_n Y_m) + z_m (X_m² + Y_m² − X_n X_m − Y_n Y_m)]
        c = (X_n z_n − X_m z_m)² + (Y_n z_n − Y_m z_m)² + (z_n − z_m)² − 1
        Z_root = (−b + sqrt(max(eps, b² − 4ac))) / (2 max(eps, a))

    i.e. the larger solution of ‖(Z_root + z_n) x̂_n − (Z_root + z_m) x̂_m‖ = 1. Then, per the
    convention, Z_root is detached and clamped.

    *Limitation (of the method, kept as in the official code):* the larger root is the true depth
    iff (x̂_n − x̂_m) · (P_n − P_m) > 0 for the 3D bone P_n − P_m. A scale bone pointing nearly
    along the viewing ray can violate this, and the hand is then placed at the other (farther)
    solution, which has the same uv and bone length.

    Args:
        uv: (B, 21, 2) float, pixels.
        z_rel: (B, 21) float, bone lengths, relative to the root.
        K: (3, 3) or (B, 3, 3) float intrinsics, pixels, last row [0, 0, 1].
        convention: a `CONVENTIONS` name or a `Convention` (bone, eps, clamp, detach).
        bone: override the convention's scale bone.

    Returns:
        (B,) float: the root's depth Z_root in bone lengths (meters = Z_root · scale).
    """
    conv = _convention(convention, None, bone)
    uv, z_rel, K = _check_25d(uv, z_rel, K)
    return _solve_root_depth(pixel_rays(uv, K), z_rel, conv)


def _check_25d(uv: Any, z_rel: Any, K: Any) -> tuple[Tensor, Tensor, Tensor]:
    uv = float_tensor(uv, "uv")
    b = check_shape(uv, "B 21 2", name="uv", allow_empty=True)["B"]
    z_rel = float_tensor(z_rel, "z_rel").to(uv)
    if z_rel.shape != (b, 21):
        raise ValueError(f"z_rel: expected ({b}, 21), got {tuple(z_rel.shape)}.")
    K = float_tensor(K, "K").to(uv)
    _check_K(K, b)
    return uv, z_rel, K


def _solve_root_depth(rays: Tensor, z_rel: Tensor, conv: Convention) -> Tensor:
    m, n = conv.bone_index
    xm, ym, xn, yn = rays[:, m, 0], rays[:, m, 1], rays[:, n, 0], rays[:, n, 1]
    zm, zn = z_rel[:, m], z_rel[:, n]
    cross = xn * xm + yn * ym
    a = (xn - xm) ** 2 + (yn - ym) ** 2
    b = 2 * (zn * (xn**2 + yn**2 - cross) + zm * (xm**2 + ym**2 - cross))
    c = (xn * zn - xm * zm) ** 2 + (yn * zn - ym * zm) ** 2 + (zn - zm) ** 2 - 1
    z_root = (-b + (b * b - 4 * a * c).clamp_min(conv.eps).sqrt()) / (2 * a.clamp_min(conv.eps))
    if conv.detach:
        z_root = z_root.detach()
    if conv.clamp is not None:
        z_root = z_root.clamp(*conv.clamp)
    return z_root


def from_25d(uv: Any, z_rel: Any, K: Any, scale: Any = 1.0, root_depth: Any = None, *,
             convention: str | Convention = "peclr_src", root: str | None = None,
             bone: tuple[str, str] | None = None) -> Tensor:
    """2.5D → 3D: xyz_j = K⁻¹ [u_j, v_j, 1]ᵀ · (z_rel_j + Z_root) · scale (`convert_2_5D_to_3D`).

    Args:
        uv: (B, 21, 2) float, pixels (slot 0 = palm for a palm root).
        z_rel: (B, 21) float, bone lengths, relative to the root.
        K: (3, 3) or (B, 3, 3) float intrinsics, pixels.
        scale: scalar or (B,) float, meters per bone length (FreiHAND's ``*_scale.json`` for
            rn25d); 1 gives the scale-normalised 3D that RN_25D_wMLPref outputs.
        root_depth: None (solve it with `root_depth`, clamped/detached per the convention) or
            (B,) float, Z_root in bone lengths (e.g. RN25D's MLP-refined root; used as given).
        convention, root, bone: as in `to_25d`.

    Returns:
        (B, 21, 3) float, meters (times `scale`'s unit), camera frame, handkit order with the
        wrist at 0 (a palm root is turned back into the wrist).
    """
    conv = _convention(convention, root, bone)
    uv, z_rel, K = _check_25d(uv, z_rel, K)
    b = uv.shape[0]
    scale = per_sample(scale, b, uv, "scale")
    rays = pixel_rays(uv, K)
    z_root = (_solve_root_depth(rays, z_rel, conv) if root_depth is None
              else per_sample(root_depth, b, uv, "root_depth"))
    xyz = rays * ((z_rel + z_root[:, None]) * scale[:, None])[..., None]
    if conv.root in _PALMS:
        xyz = palm_to_wrist(xyz, _PALMS[conv.root])
    return xyz
