"""handkit.render: a differentiable mesh renderer in plain torch, CPU included (docs/mesh.md).

Soft (SoftRas) and hard (z-buffer + differentiable barycentrics) rasterisation of batched
triangle meshes, pinhole and weak-perspective cameras, flat / per-vertex colours, neural_renderer
ambient + directional and SMHR's spherical-harmonics lighting.

Imports nothing of handkit but `geometry`, `hand` and `utils`.
"""

from handkit.render.blend import soft_blend, soft_depth, soft_silhouette
from handkit.render.cameras import PinholeCamera, WeakPerspectiveCamera
from handkit.render.hard import HardFragments, hard_blend, rasterize_hard
from handkit.render.raster import DEFAULT_WINDOWS, Fragments, rasterize, soft_edge_reach
from handkit.render.renderer import MODES, OUTPUTS, MeshRenderer, RenderOutput, render
from handkit.render.shading import (
    ambient_directional,
    face_normals,
    flat_face_colors,
    sh9_basis,
    sh9_lighting,
    vertex_colors,
    vertex_normals,
)

__all__ = [
    "PinholeCamera", "WeakPerspectiveCamera",
    "rasterize", "Fragments", "DEFAULT_WINDOWS", "soft_edge_reach",
    "soft_silhouette", "soft_blend", "soft_depth",
    "rasterize_hard", "HardFragments", "hard_blend",
    "face_normals", "vertex_normals", "ambient_directional", "sh9_basis", "sh9_lighting",
    "flat_face_colors", "vertex_colors",
    "render", "MeshRenderer", "RenderOutput", "MODES", "OUTPUTS",
]
