"""Normals, lighting and colour sources for the renderer.

* `ambient_directional`: neural_renderer's lighting as S2HAND uses it (specs/mesh.md §2.4):
  light = I_a c_a + I_d c_d max(0, n·d), d not normalised; colour = texture ⊙ light.
* `sh9_lighting`: SMHR's 9-coefficient spherical-harmonics shading (§3.6), the basis exactly
  as its ``Illumination_layer`` (Deep3DFaceRecon style); colour = albedo ⊙ lighting.
* `flat_face_colors` / `vertex_colors`: the attribute layouts the blends take.

**Convention:** meters, camera frame (x right, y down, z forward). `face_normals` is the
right-handed n = (v1 − v0) × (v2 − v0) normalised, outward for faces counter-clockwise seen
from outside (SMHR's ``Compute_norm`` order). neural_renderer uses (v0 − v1) × (v2 − v1),
the opposite sign, in its own y-up frame; pass ``-face_normals(...)`` or flip the light
direction to reproduce a neural_renderer scene.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from handkit.utils.check import check_shape

__all__ = ["face_normals", "vertex_normals", "ambient_directional", "sh9_basis", "sh9_lighting",
           "flat_face_colors", "vertex_colors"]


def _safe_normalize(v: Tensor) -> Tensor:
    """v / |v| with a finite value and gradient at v = 0 (the zero vector stays 0)."""
    return v * torch.rsqrt((v * v).sum(-1, keepdim=True) + 1e-20)


def _face_cross(verts: Tensor, faces: Tensor) -> Tensor:
    tri = verts[:, faces]  # (B, F, 3, 3)
    return torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)


def face_normals(verts: Tensor, faces: Tensor) -> Tensor:
    """Unit face normals.

    Args:
        verts: (B, V, 3) float, meters. faces: (F, 3) int64.

    Returns:
        (B, F, 3) float, unit length; zero for zero-area faces (finite gradient there).
    """
    check_shape(verts, "B V 3", name="verts")
    check_shape(faces, "F 3", name="faces")
    return _safe_normalize(_face_cross(verts, faces))


def vertex_normals(verts: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted vertex normals: the sum of the adjacent faces' cross products, normalised.

    SMHR pads every vertex's face list to 8 by cycling, so a vertex with fewer faces counts some
    twice (specs/mesh.md §3.6); handkit sums each adjacent face exactly once.

    Args:
        verts: (B, V, 3) float, meters. faces: (F, 3) int64.

    Returns:
        (B, V, 3) float, unit length (zero for a vertex in no face or only zero-area faces).
    """
    check_shape(verts, "B V 3", name="verts")
    check_shape(faces, "F 3", name="faces")
    cross = _face_cross(verts, faces)  # (B, F, 3)
    acc = torch.zeros_like(verts)
    for corner in range(3):
        acc = acc.index_add(1, faces[:, corner], cross)
    return _safe_normalize(acc)


def ambient_directional(normals: Tensor, *, ambient_intensity: Tensor | float = 0.5,
                        ambient_color: Tensor | None = None,
                        directional_intensity: Tensor | float = 0.5,
                        directional_color: Tensor | None = None,
                        direction: Tensor | None = None) -> Tensor:
    """neural_renderer's ambient + directional light: I_a c_a + I_d c_d · max(0, n·d).

    Args:
        normals: (B, N, 3) float unit normals (per face for flat shading, per vertex).
        ambient_intensity, directional_intensity: float or (B,) tensors (S2HAND predicts
            both per sample); neural_renderer's defaults 0.5 and 0.5.
        ambient_color, directional_color: (B, 3) or (3,) RGB; None = white.
        direction: (B, 3) or (3,) direction d towards the light, camera frame, not normalised
            (as neural_renderer; faces with n·d > 0 are lit); None = (0, 0, −1), a light at
            the camera.

    Returns:
        (B, N, 3) float light multiplier; colour = texture ⊙ light.
    """
    dims = check_shape(normals, "B N 3", name="normals")
    b = dims["B"]

    def per_batch(x, default: tuple[float, ...], name: str, size: int) -> Tensor:
        t = torch.as_tensor(default if x is None else x, dtype=normals.dtype,
                            device=normals.device)
        if t.ndim == 0:
            t = t.expand(size)
        if t.ndim == 1:
            t = t.expand(b, size) if t.shape[0] == size else t[:, None].expand(b, size)
        if t.shape != (b, size):
            raise ValueError(f"{name}: expected a float, ({size},) or ({b}, {size}), got "
                             f"{tuple(t.shape)}.")
        return t

    i_a = per_batch(ambient_intensity, (0.5,), "ambient_intensity", 1)
    i_d = per_batch(directional_intensity, (0.5,), "directional_intensity", 1)
    c_a = per_batch(ambient_color, (1.0, 1.0, 1.0), "ambient_color", 3)
    c_d = per_batch(directional_color, (1.0, 1.0, 1.0), "directional_color", 3)
    d = per_batch(direction, (0.0, 0.0, -1.0), "direction", 3)
    cos = torch.relu((normals * d[:, None]).sum(-1, keepdim=True))
    return (i_a * c_a)[:, None] + (i_d * c_d)[:, None] * cos


_SH_A = (math.pi, 2 * math.pi / math.sqrt(3.0), 2 * math.pi / math.sqrt(8.0))
_SH_C = (1 / math.sqrt(4 * math.pi), math.sqrt(3.0) / math.sqrt(4 * math.pi),
         3 * math.sqrt(5.0) / math.sqrt(12 * math.pi))
_SH_D0 = 0.5 / math.sqrt(3.0)


def sh9_basis(normals: Tensor) -> Tensor:
    """SMHR's 9 spherical-harmonics basis values (specs/mesh.md §3.6).

    Y = [a0 c0, −a1 c1 y, a1 c1 z, −a1 c1 x, a2 c2 xy, −a2 c2 yz, a2 c2 d0 (3z² − 1),
    −a2 c2 xz, ½ a2 c2 (x² − y²)] with a0 = π, a1 = 2π/√3, a2 = 2π/√8, c0 = 1/√(4π),
    c1 = √3/√(4π), c2 = 3√5/√(12π), d0 = 0.5/√3.

    Args:
        normals: (..., 3) float unit normals (x, y, z).

    Returns:
        (..., 9) float.
    """
    x, y, z = normals.unbind(-1)
    a0c0 = _SH_A[0] * _SH_C[0]
    a1c1 = _SH_A[1] * _SH_C[1]
    a2c2 = _SH_A[2] * _SH_C[2]
    return torch.stack([
        torch.full_like(x, a0c0), -a1c1 * y, a1c1 * z, -a1c1 * x,
        a2c2 * x * y, -a2c2 * y * z, a2c2 * _SH_D0 * (3 * z * z - 1), -a2c2 * x * z,
        0.5 * a2c2 * (x * x - y * y)], dim=-1)


def sh9_lighting(normals: Tensor, coeffs: Tensor) -> Tensor:
    """SH lighting per channel, lighting_c = Y(n) · γ_c (SMHR ``Illumination_layer``).

    Args:
        normals: (B, N, 3) float unit normals (SMHR: per vertex).
        coeffs: (B, 3, 9) float γ, one row of 9 per RGB channel; SMHR's 27-vector is
            ``gamma.reshape(B, 3, 9)`` (its DC offset +0.8 is the model's, not added here).

    Returns:
        (B, N, 3) float; colour = albedo ⊙ lighting.
    """
    dims = check_shape(normals, "B N 3", name="normals")
    check_shape(coeffs, f"{dims['B']} 3 9", name="coeffs",
                hint="SMHR's 27 lighting numbers are coeffs.reshape(B, 3, 9) (channel-major).")
    return sh9_basis(normals) @ coeffs.transpose(1, 2)


def flat_face_colors(colors: Tensor, faces: Tensor | None = None) -> Tensor:
    """One colour per face (neural_renderer texture size 1, S2HAND): (B, F, C) passed through.

    Args:
        colors: (B, F, C) float. faces: optional (F, 3), only to check F.

    Returns:
        (B, F, C) float, the layout `soft_blend` / `hard_blend` read as flat.
    """
    dims = check_shape(colors, "B F C", name="colors", hint="one colour per face: (B, F, C).")
    if faces is not None and faces.shape[0] != dims["F"]:
        raise ValueError(f"colors: {dims['F']} face colours for {faces.shape[0]} faces.")
    return colors


def vertex_colors(colors: Tensor, faces: Tensor) -> Tensor:
    """Per-vertex colours gathered to face corners, interpolated by the blends.

    Args:
        colors: (B, V, C) float. faces: (F, 3) int64.

    Returns:
        (B, F, 3, C) float.
    """
    check_shape(colors, "B V C", name="colors", hint="one colour per vertex: (B, V, C).")
    check_shape(faces, "F 3", name="faces")
    return colors[:, faces]
