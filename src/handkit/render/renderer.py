"""One call from camera-frame meshes to silhouette, colour and depth images.

``mode="soft"`` is SoftRas (Liu et al. 2019; render/raster.py, render/blend.py): every output
has gradients, the silhouette's included. It stands in for S2HAND's neural_renderer, whose
hard forward pass with approximate edge gradients has no CPU build (specs/mesh.md §2.4).
``mode="hard"`` is pytorch3d's blur-free rasteriser as SMHR uses it (§3.6; render/hard.py):
gradients through the interpolated colours and depth only, none through the mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from handkit.render.blend import soft_blend, soft_depth, soft_silhouette
from handkit.render.cameras import PinholeCamera, WeakPerspectiveCamera
from handkit.render.hard import hard_blend, rasterize_hard
from handkit.render.raster import DEFAULT_WINDOWS, rasterize
from handkit.utils.check import check_choice

__all__ = ["MODES", "OUTPUTS", "RenderOutput", "render", "MeshRenderer"]

MODES = {"soft": "SoftRas soft rasteriser, gradients everywhere",
         "hard": "z-buffer + differentiable barycentrics (pytorch3d / nvdiffrast)"}
OUTPUTS = {"silhouette": "(B, H, W)", "rgb": "(B, H, W, C)", "depth": "(B, H, W) meters"}
Mode = Literal["soft", "hard"]
Camera = PinholeCamera | WeakPerspectiveCamera


@dataclass(frozen=True)
class RenderOutput:
    """Rendered images; an output not asked for is None."""

    silhouette: Tensor | None  # (B, H, W) float in [0, 1] (hard mode: 0/1, no gradient)
    rgb: Tensor | None  # (B, H, W, C) float
    depth: Tensor | None  # (B, H, W) float, meters, `background_depth` where uncovered


def render(verts: Tensor, faces: Tensor, camera: Camera, image_size: int | tuple[int, int], *,
           attrs: Tensor | None = None, outputs: Sequence[str] = ("silhouette", "rgb"),
           mode: Mode = "soft", sigma: float = 0.5, gamma: float = 1e-4, eps: float = 1e-4,
           znear: float = 0.01, zfar: float = 10.0, background: Tensor | float = 0.0,
           background_depth: float = 0.0, cull_backfaces: bool = False,
           windows: Sequence[int] = DEFAULT_WINDOWS) -> RenderOutput:
    """Render meshes with a camera.

    Args:
        verts: (B, V, 3) float, meters, camera frame (x right, y down, z forward), or the world
            frame when the camera has R/t.
        faces: (F, 3) int64.
        camera: `PinholeCamera` (K (B, 3, 3) px) or `WeakPerspectiveCamera`.
        image_size: H or (H, W), pixels.
        attrs: colours for "rgb": (B, F, C) flat per face (`flat_face_colors`) or (B, F, 3, C)
            per corner (`vertex_colors`), lit already (render/shading.py).
        outputs: any of "silhouette", "rgb", "depth".
        mode: "soft" or "hard" (module doc).
        sigma, eps: soft edge width (px²) and cut-off (`rasterize`); soft mode only.
        gamma: soft z-buffer temperature (`soft_blend`); soft mode only.
        znear, zfar: meters, the drawn depth range.
        background: colour of uncovered pixels (scalar, (C,) or (B, C)).
        background_depth: depth of uncovered pixels (0 as neural_renderer's zeroed far value).
        cull_backfaces, windows: as in `rasterize`.

    Returns:
        `RenderOutput`.
    """
    check_choice(mode, MODES, name="mode")
    for name in outputs:
        check_choice(name, OUTPUTS, name="outputs")
    if "rgb" in outputs and attrs is None:
        raise ValueError("attrs: 'rgb' needs colours; pass flat_face_colors(...) or "
                         "vertex_colors(...), or drop 'rgb' from outputs.")
    if not isinstance(camera, (PinholeCamera, WeakPerspectiveCamera)):
        raise ValueError(f"camera: expected a PinholeCamera or WeakPerspectiveCamera, got "
                         f"{type(camera).__name__}.")
    screen = camera.to_screen(verts)
    if attrs is not None and attrs.shape[0] != screen.shape[0]:
        raise ValueError(f"attrs: batch {attrs.shape[0]} does not match verts' batch "
                         f"{screen.shape[0]}.")
    pc = camera.perspective_correct
    if mode == "hard":
        frags = rasterize_hard(screen, faces, image_size, znear=znear, zfar=zfar,
                               perspective_correct=pc, cull_backfaces=cull_backfaces,
                               windows=windows)
        sil = frags.mask.to(screen.dtype) if "silhouette" in outputs else None
        rgb = hard_blend(frags, attrs, background=background) if "rgb" in outputs else None
        depth = None
        if "depth" in outputs:
            batch, height, width = frags.face_map.shape
            flat = screen.new_full((batch * height * width,), background_depth)
            depth = flat.index_copy(0, frags.pix, frags.depth).reshape(batch, height, width)
        return RenderOutput(silhouette=sil, rgb=rgb, depth=depth)
    need_attrs = "rgb" in outputs or "depth" in outputs
    frags = rasterize(screen, faces, image_size, sigma=sigma, eps=eps, znear=znear, zfar=zfar,
                      attributes=need_attrs, perspective_correct=pc,
                      cull_backfaces=cull_backfaces, windows=windows)
    return RenderOutput(
        silhouette=soft_silhouette(frags) if "silhouette" in outputs else None,
        rgb=soft_blend(frags, attrs, background=background, gamma=gamma)
        if "rgb" in outputs else None,
        depth=soft_depth(frags, gamma=gamma, background=background_depth)
        if "depth" in outputs else None)


class MeshRenderer(nn.Module):
    """Holds the rendering options; ``forward(verts, faces, camera, attrs=None)`` = `render`.

    Args: image_size, outputs, mode and the keyword options of `render` (checked here).
    """

    def __init__(self, image_size: int | tuple[int, int], *,
                 outputs: Sequence[str] = ("silhouette", "rgb"), mode: Mode = "soft",
                 **options) -> None:
        super().__init__()
        check_choice(mode, MODES, name="mode")
        for name in outputs:
            check_choice(name, OUTPUTS, name="outputs")
        allowed = {"sigma", "gamma", "eps", "znear", "zfar", "background", "background_depth",
                   "cull_backfaces", "windows"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(f"MeshRenderer: unknown option(s) {unknown}; choose from "
                             f"{sorted(allowed)}.")
        self.image_size, self.mode, self.options = image_size, mode, options
        self.outputs = tuple(outputs)

    def forward(self, verts: Tensor, faces: Tensor, camera: Camera,
                attrs: Tensor | None = None) -> RenderOutput:
        return render(verts, faces, camera, self.image_size, attrs=attrs, outputs=self.outputs,
                      mode=self.mode, **self.options)

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}, mode={self.mode!r}, outputs={self.outputs}"
