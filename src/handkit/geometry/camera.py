"""Pinhole and weak-perspective cameras, and how K changes when the image is cropped or resized.

**Convention (pixels):** handkit's continuous pixel coordinates (hand/skeleton.py): pixel corners
sit on integers, the centre of column i is at i + 0.5, a horizontal flip maps u → W − u, and a
W-wide crop has its principal point at W / 2. Under this convention a crop/resize is an exact
affine map of pixel coordinates, so K' = T @ K holds with no half-pixel terms.

**Convention (3D):** meters, right-handed camera frame: x right, y down, z forward (depth > 0).

Every function is batched and broadcasts over leading dims; tensors follow the input's device
and dtype. numpy inputs are converted to torch; results are torch tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from handkit.geometry._tensors import float_tensor, per_sample
from handkit.utils.check import check_shape

__all__ = [
    "project",
    "project_points",
    "optical_axis_rotation",
    "backproject",
    "pixel_rays",
    "inverse_3x3",
    "weak_perspective_project",
    "fit_translation",
    "transform_K",
    "crop_resize_matrix",
    "resize_matrix",
    "flip_K",
    "rotate_about_z",
    "apply_affine_2d",
]


def project(xyz: Any, K: Any) -> Tensor:
    """Pinhole projection of camera-frame points to pixels.

    Args:
        xyz: (..., N, 3) float, meters, camera frame (x right, y down, z forward). Points with
            z <= 0 are behind the camera; their uv is returned as computed (inf/meaningless),
            never clamped.
        K: (..., 3, 3) float intrinsics, pixels; broadcasts against xyz's leading dims
            (a single (3, 3) K serves the whole batch).

    Returns:
        (..., N, 2) float, pixels, handkit pixel convention: uv = (K xyz)[:2] / (K xyz)[2].
    """
    xyz = float_tensor(xyz, "xyz")
    K = float_tensor(K, "K").to(xyz)
    check_shape(xyz, "* N 3", name="xyz", allow_empty=True)
    check_shape(K, "* 3 3", name="K", allow_empty=True)
    uvw = xyz @ K.transpose(-1, -2)
    return uvw[..., :2] / uvw[..., 2:3]


def project_points(xyz: Any, K: Any) -> np.ndarray:
    """`project` for numpy callers (loaders, the synthetic world): float64 in, float64 out.

    Args:
        xyz: (..., N, 3) float, meters, camera frame. K: (..., 3, 3) float, pixels.

    Returns:
        (..., N, 2) float64 numpy array, pixels.
    """
    return project(np.asarray(xyz, dtype=np.float64), np.asarray(K, dtype=np.float64)).numpy()


def backproject(uv: Any, depth: Any, K: Any) -> Tensor:
    """Lift pixels to camera-frame points at a given depth (inverse of `project`).

    Args:
        uv: (..., N, 2) float, pixels, handkit pixel convention.
        depth: (..., N) float, the z coordinate of each point (meters, or any unit; the output
            has the same unit).
        K: (..., 3, 3) float intrinsics, pixels; broadcasts like in `project`.

    Returns:
        (..., N, 3) float: depth · K⁻¹ [u, v, 1]ᵀ (z equals `depth` when K's last row is [0, 0, 1]).
    """
    uv = float_tensor(uv, "uv")
    depth = float_tensor(depth, "depth").to(uv)
    K = float_tensor(K, "K").to(uv)
    check_shape(uv, "* N 2", name="uv", allow_empty=True)
    check_shape(K, "* 3 3", name="K", allow_empty=True)
    if depth.shape != uv.shape[:-1]:
        raise ValueError(f"depth: expected shape {tuple(uv.shape[:-1])} (uv without its last dim), "
                         f"got {tuple(depth.shape)}.")
    return _rays(uv, K) * depth[..., None]


def pixel_rays(uv: Any, K: Any) -> Tensor:
    """Normalised viewing rays x̂ = K⁻¹ [u, v, 1]ᵀ (x̂_z = 1 when K's last row is [0, 0, 1]).

    Args:
        uv: (..., N, 2) float, pixels, handkit pixel convention.
        K: (..., 3, 3) float intrinsics, pixels; broadcasts like in `project`.

    Returns:
        (..., N, 3) float, unitless (a point at depth z is z · x̂).
    """
    uv = float_tensor(uv, "uv")
    K = float_tensor(K, "K").to(uv)
    check_shape(uv, "* N 2", name="uv", allow_empty=True)
    check_shape(K, "* 3 3", name="K", allow_empty=True)
    return _rays(uv, K)


def _rays(uv: Tensor, K: Tensor) -> Tensor:
    uv1 = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)
    return uv1 @ inverse_3x3(K).transpose(-1, -2)


def inverse_3x3(m: Tensor) -> Tensor:
    """Inverse of (..., 3, 3) matrices in closed form (adjugate / determinant).

    Used instead of `torch.linalg.inv` because it exports to ONNX (models that back-project
    pixels, RN_25D_wMLPref among them, must export) and is exact for well-conditioned intrinsics.
    """
    r0, r1, r2 = m[..., 0, :], m[..., 1, :], m[..., 2, :]
    c0, c1, c2 = torch.cross(r1, r2, dim=-1), torch.cross(r2, r0, dim=-1), torch.cross(r0, r1, dim=-1)
    det = (r0 * c0).sum(-1)
    return torch.stack([c0, c1, c2], dim=-1) / det[..., None, None]


def fit_translation(xyz: Any, uv: Any, K: Any, valid: Any = None) -> Tensor:
    """The camera-frame translation t that puts points known up to position onto their pixels.

    Solves u_i = project(xyz_i + t, K) in least squares over the linear form
    (K (xyz_i + t))_{x,y} = uv_i (K (xyz_i + t))_z, two equations per point (the algebraic
    error, i.e. the pixel error weighted by each point's depth): exact when the pixels are
    projections of ``xyz + t``, and close to the reprojection optimum for a hand far from the
    camera compared with its size. Used to place root-relative 3D (a mesh) in an image.

    Args:
        xyz: (..., N, 3) float, camera-frame orientation, any length unit (t comes in it).
        uv: (..., N, 2) float, pixels.
        K: (..., 3, 3) float intrinsics, pixels.
        valid: optional (..., N) bool: points to use (at least 2 valid).

    Returns:
        (..., 3) float t, same unit as `xyz`.
    """
    xyz = float_tensor(xyz, "xyz")
    dims = check_shape(xyz, "* N 3", name="xyz")
    uv = float_tensor(uv, "uv").to(xyz)
    check_shape(uv, f"* {dims['N']} 2", name="uv")
    K = float_tensor(K, "K").to(xyz)
    check_shape(K, "* 3 3", name="K")
    x, u, k = xyz.double(), uv.double(), K.double()
    # row r of K minus u_r times row 2: a_r · (xyz + t) = 0 for r = x, y
    rows = k[..., None, :2, :] - u[..., :, :, None] * k[..., None, 2:3, :]  # (..., N, 2, 3)
    if valid is not None:
        w = torch.as_tensor(valid, dtype=torch.bool, device=xyz.device)
        if int(w.sum(-1).min()) < 2:
            raise ValueError("valid: need at least 2 valid points per set to fit t.")
        rows = rows * w[..., None, None].double()
    a = rows.reshape(*rows.shape[:-3], -1, 3)
    b = -(rows @ x[..., None])[..., 0].reshape(*rows.shape[:-3], -1)
    t = torch.linalg.lstsq(a, b[..., None]).solution[..., 0]
    return t.to(xyz.dtype)


def weak_perspective_project(xyz: Any, scale: Any, trans: Any) -> Tensor:
    """Weak-perspective (scaled orthographic) projection: uv = scale · xy + trans.

    Args:
        xyz: (B, N, 3) float, meters, camera frame (z is ignored).
        scale: scalar, (B,) or (B, 1) float, pixels per meter.
        trans: (B, 2) float, pixels.

    Returns:
        (B, N, 2) float, pixels.
    """
    xyz = float_tensor(xyz, "xyz")
    dims = check_shape(xyz, "B N 3", name="xyz", allow_empty=True)
    scale = per_sample(scale, dims["B"], xyz, "scale")
    trans = float_tensor(trans, "trans").to(xyz)
    if trans.shape != (dims["B"], 2):
        raise ValueError(f"trans: expected ({dims['B']}, 2), got {tuple(trans.shape)}.")
    return scale[:, None, None] * xyz[..., :2] + trans[:, None, :]


def transform_K(K: Any, T: Any) -> Tensor:
    """Intrinsics after an affine image transform: K' = T @ K.

    Args:
        K: (..., 3, 3) float intrinsics of the source image, pixels.
        T: (..., 3, 3) float affine map source px → output px (last row [0, 0, 1]), handkit
            pixel convention, e.g. from `crop_resize_matrix` or `resize_matrix`.

    Returns:
        (..., 3, 3) float: project(xyz, K') == T applied to project(xyz, K).
    """
    K = float_tensor(K, "K")
    T = float_tensor(T, "T").to(K)
    check_shape(K, "* 3 3", name="K", allow_empty=True)
    check_shape(T, "* 3 3", name="T", allow_empty=True)
    return T @ K


def crop_resize_matrix(box: Any, out_size: tuple[int, int] | int) -> Tensor:
    """Affine map that crops the box and resizes it to `out_size`.

    Args:
        box: (..., 4) float, pixels (x0, y0, x1, y1): the box's outer corners in the source
            image (continuous coords, so a crop of columns [10, 20) is x0=10, x1=20). It may
            extend beyond the image.
        out_size: (height, width) of the output in pixels, or one int for a square.

    Returns:
        (..., 3, 3) float T with (x0, y0) → (0, 0) and (x1, y1) → (width, height).
    """
    box = float_tensor(box, "box")
    check_shape(box, "* 4", name="box", allow_empty=True)
    h, w = (out_size, out_size) if isinstance(out_size, int) else out_size
    if h <= 0 or w <= 0:
        raise ValueError(f"out_size: must be positive, got {out_size}.")
    bw, bh = box[..., 2] - box[..., 0], box[..., 3] - box[..., 1]
    if bool((bw <= 0).any()) or bool((bh <= 0).any()):
        raise ValueError("box: every box needs x1 > x0 and y1 > y0 (x0, y0, x1, y1 order).")
    sx, sy = w / bw, h / bh
    T = torch.zeros(*box.shape[:-1], 3, 3, dtype=box.dtype, device=box.device)
    T[..., 0, 0], T[..., 0, 2] = sx, -sx * box[..., 0]
    T[..., 1, 1], T[..., 1, 2] = sy, -sy * box[..., 1]
    T[..., 2, 2] = 1.0
    return T


def resize_matrix(in_size: tuple[int, int], out_size: tuple[int, int],
                  *, dtype: torch.dtype = torch.float32, device: Any = None) -> Tensor:
    """Affine map of a whole-image resize from (H, W) to (H', W'): u' = u·W'/W, v' = v·H'/H.

    Exact under handkit's pixel convention (corners map to corners). Returns (3, 3).
    """
    (h, w), (h2, w2) = in_size, out_size
    if min(h, w, h2, w2) <= 0:
        raise ValueError(f"in_size/out_size: must be positive, got {in_size} and {out_size}.")
    return torch.tensor([[w2 / w, 0.0, 0.0], [0.0, h2 / h, 0.0], [0.0, 0.0, 1.0]],
                        dtype=dtype, device=device)


def flip_K(K: Any, width: float) -> Tensor:
    """Intrinsics for a horizontally flipped image whose 3D points are mirrored (x → −x).

    Flipping the image (u → W − u, `skeleton.mirror_uv`) and mirroring the points
    (`skeleton.mirror_xyz`) together keep a right-handed camera with the same focal length and
    principal point cx' = W − cx. (Applying the flip as T @ K instead would give fx < 0: a
    mirrored, left-handed camera for the unmirrored points.)

    Args:
        K: (..., 3, 3) float intrinsics, pixels.
        width: image width in pixels.

    Returns:
        (..., 3, 3) float with K'[0, 2] = width − K[0, 2] and the skew K'[0, 1] = −K[0, 1].
    """
    K = float_tensor(K, "K")
    check_shape(K, "* 3 3", name="K", allow_empty=True)
    out = K.clone()
    out[..., 0, 1] = -K[..., 0, 1]
    out[..., 0, 2] = width * K[..., 2, 2] - K[..., 0, 2]
    return out


def optical_axis_rotation(angle_deg: Tensor) -> Tensor:
    """(B, 3, 3) the rotation matrices of `rotate_about_z`: R_z · xyz = rotate_about_z(xyz).

    Args:
        angle_deg: (B,) float, degrees, + = counter-clockwise on screen.
    """
    a = torch.deg2rad(angle_deg)
    c, s, zero, one = torch.cos(a), torch.sin(a), torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([torch.stack([c, s, zero], -1), torch.stack([-s, c, zero], -1),
                        torch.stack([zero, zero, one], -1)], dim=-2)


def rotate_about_z(xyz: Tensor, angle_deg: Tensor) -> Tensor:
    """Rotate camera-frame points about the optical axis as an in-plane image rotation does.

    Args:
        xyz: (B, J, 3) float, camera frame (x right, y down, z forward).
        angle_deg: (B,) float, degrees, + = counter-clockwise on screen (the augmenter's
            `angle_deg`, whose pixel map is [[c, s], [−s, c]] about the rotation centre).

    Returns:
        (B, J, 3): (c·x + s·y, −s·x + c·y, z): for points near the optical axis the projection
        turns exactly as the image does.
    """
    return xyz @ optical_axis_rotation(angle_deg.to(xyz.dtype)).transpose(-1, -2)


def apply_affine_2d(uv: Any, T: Any) -> Any:
    """Map 2D points by an affine matrix: uv' = A uv + t, for numpy arrays or tensors alike.

    Args:
        uv: (..., N, 2) float, pixels.
        T: (..., 3, 3) float affine map (last row 0, 0, 1), e.g. image px → crop px; leading
            dims broadcast against uv's.

    Returns:
        (..., N, 2), the type of `uv` (numpy in, numpy out).
    """
    return uv @ T[..., :2, :2].swapaxes(-1, -2) + T[..., None, :2, 2]
