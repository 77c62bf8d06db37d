"""Figures of an evaluation or a prediction: PCK curves, 2D skeleton and shaded mesh overlays,
a 3D skeleton.

Matplotlib with the Agg backend (no display needed). Skeletons are drawn in handkit order with
`hand.skeleton.BONES`; prediction in red, ground truth in green. Meshes are drawn by
`draw_mesh_overlay`, a z-sorted painter (vectorised numpy, Lambert shading per face; no gradient).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from handkit.geometry.camera import project_points  # noqa: E402
from handkit.hand.skeleton import BONES  # noqa: E402
from handkit.utils.check import check_finite, check_shape  # noqa: E402
from handkit.utils.files import write_figure

__all__ = ["plot_pck", "overlay_gallery", "image_mesh", "draw_skeleton_2d", "plot_skeleton_3d",
           "draw_mesh_overlay", "ImageMesh", "PRED_COLOR", "GT_COLOR", "MESH_COLOR",
           "part_colors", "two_hand_gallery", "multi_hand_overlay", "SIDE_COLORS",
           "GalleryImage", "multi_hand_gallery"]

PRED_COLOR, GT_COLOR = "#e8312f", "#2fbf4a"
MESH_COLOR = (120, 170, 235)
"""RGB of a predicted mesh: a light blue that stands apart from skin and the red skeleton."""
SIDE_COLORS = {True: "#e8312f", False: "#2f6fe8"}
"""Skeleton colour of a right (red) and a left (blue) hand in multi-hand overlays."""


def plot_pck(curves: dict[str, dict[str, Any]], path: str | Path, *, title: str = "PCK") -> Path:
    """One PNG with every curve of an `EvalReport.curves` (name → thresholds, pck, unit).

    The legend gives each curve's AUC (normalised area, the report's definition).
    """
    if not curves:
        raise ValueError("curves: nothing to plot.")
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    unit = ""
    for name, c in curves.items():
        t, p = np.asarray(c["thresholds"], dtype=float), np.asarray(c["pck"], dtype=float)
        area = float(np.trapezoid(p, t) / (t[-1] - t[0]))
        ax.plot(t, p, label=f"{name} (AUC {area:.3f})")
        unit = c.get("unit", "")
    ax.set_xlabel(f"threshold ({unit})")
    ax.set_ylabel("fraction of keypoints within threshold")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("\n".join(textwrap.wrap(title, 52)), fontsize=10)  # long set names stay inside
    return _save(fig, path)


def draw_skeleton_2d(ax: Any, uv: np.ndarray, color: str, *, lw: float = 1.5) -> None:
    """Draw (21, 2) pixel keypoints (handkit order) as bones and joints on `ax`."""
    uv = np.asarray(uv, dtype=float)
    for a, b in BONES:
        ax.plot([uv[a, 0], uv[b, 0]], [uv[a, 1], uv[b, 1]], color=color, lw=lw)
    ax.scatter(uv[:, 0], uv[:, 1], s=6, c=color, zorder=3)


@dataclass(frozen=True)
class ImageMesh:
    """A mesh seen in one image, ready for `draw_mesh_overlay`.

    Attributes:
        verts_px: (V, 2) float, pixels of the image (handkit convention: centre of column i at
            i + 0.5), e.g. `geometry.camera.project(vertices, K)`.
        depth: (V,) float, meters, camera z of each vertex (> 0 in front of the camera).
        faces: (F, 3) int vertex ids.
        K: optional (3, 3) pixel intrinsics, for exact shading (see `draw_mesh_overlay`).
    """

    verts_px: np.ndarray
    depth: np.ndarray
    faces: np.ndarray
    K: np.ndarray | None = None


def image_mesh(vertices: Any, faces: Any, K: Any) -> ImageMesh | None:
    """An `ImageMesh` from camera-frame vertices and the image's intrinsics.

    Args:
        vertices: (V, 3) float, camera frame (meters or any unit: the projection and the
            shading do not depend on it).
        faces: (F, 3) int vertex ids, or None (returns None: nothing to draw).
        K: (3, 3) float pixel intrinsics of the image the mesh is drawn on.
    """
    if faces is None:
        return None
    v = np.asarray(vertices, dtype=np.float64)
    check_shape(v, "V 3", name="vertices")
    K = np.asarray(K, dtype=np.float64)
    return ImageMesh(project_points(v, K), v[:, 2], np.asarray(faces), K)


def draw_mesh_overlay(image: np.ndarray, verts_px: Any, depth: Any, faces: Any, *,
                      K: Any = None, color: tuple[int, int, int] = MESH_COLOR,
                      face_colors: Any = None, alpha: float = 0.7, ambient: float = 0.35,
                      light_dir: Sequence[float] = (0.3, -0.5, -1.0)) -> np.ndarray:
    """The image with a flat-shaded mesh painted over it (painter's algorithm, far faces first).

    Faces are sorted by the mean depth of their vertices and filled back to front, so a nearer
    face covers a farther one (exact for non-intersecting faces that do not overlap in depth;
    fine for a hand). Each face gets Lambert shading from its normal in the camera frame:
    ``ambient + (1 - ambient) · |n · l|`` (two-sided, so a winding either way shades alike).
    The camera-frame vertices are back-projected from `verts_px` and `depth` with `K`; without
    `K` a pinhole with f = max(H, W) px centred on the image is assumed (shading only; the
    drawn outline is always exact). Faces with a vertex at depth <= 0 are skipped.

    Args:
        image: (H, W, 3) uint8 RGB; not modified.
        verts_px: (V, 2) float, pixels of `image` (handkit convention).
        depth: (V,) float, meters, camera z.
        faces: (F, 3) int vertex ids.
        K: optional (3, 3) float pixel intrinsics of `image`.
        color: RGB 0-255 of every face, unless `face_colors` (F, 3) uint8 is given.
        alpha: opacity of the mesh in (0, 1].
        ambient: shade of a face seen edge-on to the light, in [0, 1].
        light_dir: (3,) camera frame, from the surface towards the light (default: from the
            camera, a little right and up; y is down).

    Returns:
        (H, W, 3) uint8 RGB.
    """
    image = np.asarray(image)
    check_shape(image, "H W 3", name="image")
    if image.dtype != np.uint8:
        raise ValueError(f"image: expected uint8 RGB, got {image.dtype}.")
    uv = np.asarray(verts_px, dtype=np.float64)
    n = check_shape(uv, "V 2", name="verts_px")["V"]
    z = np.asarray(depth, dtype=np.float64)
    check_shape(z, f"{n}", name="depth", hint="one camera z per vertex, meters.")
    f = np.asarray(faces)
    check_shape(f, "F 3", name="faces", allow_empty=True)
    check_finite(uv, name="verts_px")
    check_finite(z, name="depth")
    if f.size and (f.dtype.kind not in "iu" or f.min() < 0 or f.max() >= n):
        raise ValueError(f"faces: expected integer vertex ids in [0, {n}).")
    if not 0 < alpha <= 1 or not 0 <= ambient <= 1:
        raise ValueError(f"alpha: must be in (0, 1] and ambient in [0, 1], got {alpha}, "
                         f"{ambient}.")
    if face_colors is not None:
        face_colors = np.asarray(face_colors)
        check_shape(face_colors, f"{len(f)} 3", name="face_colors")
    h, w = image.shape[:2]
    K = np.asarray(K, dtype=np.float64) if K is not None else \
        np.array([[max(h, w), 0, w / 2], [0, max(h, w), h / 2], [0, 0, 1.0]])
    check_shape(K, "3 3", name="K")
    xyz = np.linalg.solve(K, np.concatenate([uv, np.ones((n, 1))], 1).T).T * z[:, None]
    tri = xyz[f]  # (F, 3, 3)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-30)
    light = np.asarray(light_dir, dtype=np.float64)
    light = light / np.linalg.norm(light)
    shade = ambient + (1 - ambient) * np.abs(normal @ light)  # (F,)
    base = np.broadcast_to(np.asarray(color, np.float64), (len(f), 3)) \
        if face_colors is None else face_colors.astype(np.float64)
    rgb = np.clip(np.rint(base * shade[:, None]), 0, 255).astype(np.uint8)
    keep = np.nonzero((z[f] > 0).all(1))[0]
    keep = keep[np.argsort(-z[f[keep]].mean(1), kind="stable")]  # far to near
    nearest = _paint_order(uv[f[keep]], h, w)  # (H, W) rank of the face on top, -1 = none
    covered = nearest >= 0
    canvas = image.copy()
    canvas[covered] = rgb[keep][nearest[covered]]
    blend = np.rint((1 - alpha) * image + alpha * canvas.astype(np.float64)).astype(np.uint8)
    return np.where(covered[..., None], blend, image)


def _paint_order(tri: np.ndarray, h: int, w: int, max_pairs: int = 1 << 22) -> np.ndarray:
    """Painter's algorithm, vectorised: for every pixel the index of the last triangle in
    `tri` (F, 3, 2) px that covers its centre (i + 0.5, handkit convention; edges included;
    either winding), or -1. Later triangles win, as if drawn in order.

    Every (triangle, pixel of its bounding box) pair is tested with edge functions, in chunks
    of at most `max_pairs` pairs; the winner per pixel is the highest index (`np.maximum.at`).
    """
    lo, hi = tri.min(1), tri.max(1)
    c0 = np.clip(np.ceil(lo[:, 0] - 0.5), 0, w).astype(np.int64)
    c1 = np.clip(np.floor(hi[:, 0] - 0.5) + 1, 0, w).astype(np.int64)
    r0 = np.clip(np.ceil(lo[:, 1] - 0.5), 0, h).astype(np.int64)
    r1 = np.clip(np.floor(hi[:, 1] - 0.5) + 1, 0, h).astype(np.int64)
    nw, nh = np.maximum(c1 - c0, 0), np.maximum(r1 - r0, 0)
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    sign = np.sign(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])  # 0: degenerate, never drawn
    pairs = np.where(sign != 0, nw * nh, 0)
    best = np.full(h * w, -1, np.int64)
    bounds = np.searchsorted(np.cumsum(pairs), np.arange(max_pairs, pairs.sum(), max_pairs))
    for faces in np.split(np.arange(len(tri)), bounds):
        n = pairs[faces]
        if not n.sum():
            continue
        k = np.repeat(faces, n)
        local = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        col = c0[k] + local % nw[k]
        row = r0[k] + local // nw[k]
        p = np.stack([col + 0.5, row + 0.5], 1)
        inside = np.ones(len(k), bool)
        for a, b in ((0, 1), (1, 2), (2, 0)):  # edge functions, signed by the orientation
            va, vb = tri[k, a], tri[k, b]
            edge = (vb[:, 0] - va[:, 0]) * (p[:, 1] - va[:, 1]) - \
                (vb[:, 1] - va[:, 1]) * (p[:, 0] - va[:, 0])
            inside &= sign[k] * edge >= 0
        np.maximum.at(best, row[inside] * w + col[inside], k[inside])
    return best.reshape(h, w)


def overlay_gallery(images: Sequence[np.ndarray], pred_uv: Sequence[np.ndarray],
                    gt_uv: Sequence[np.ndarray] | None, path: str | Path, *,
                    titles: Sequence[str] | None = None, columns: int = 4,
                    meshes: Sequence[ImageMesh | None] | None = None) -> Path:
    """A grid of images with the predicted (red) and, if given, true (green) skeletons.

    Args:
        images: N arrays (H, W, 3) uint8 RGB.
        pred_uv, gt_uv: N arrays (21, 2) float, pixels of each image.
        titles: N short captions.
        meshes: N `ImageMesh` (or None for an image without one): each is painted shaded
            under the skeletons with `draw_mesh_overlay`.
    """
    if meshes is not None and len(meshes) != len(images):
        raise ValueError(f"meshes: expected one entry (or None) per image, {len(images)}, got "
                         f"{len(meshes)}.")
    n = len(images)
    if n == 0:
        raise ValueError("images: nothing to draw.")
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), dpi=100,
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        h, w = images[i].shape[:2]
        shown = images[i]
        if meshes is not None and meshes[i] is not None:
            m = meshes[i]
            shown = draw_mesh_overlay(shown, m.verts_px, m.depth, m.faces, K=m.K)
        ax.imshow(shown, extent=(0, w, h, 0))  # handkit pixel corners on integers
        if gt_uv is not None:
            draw_skeleton_2d(ax, gt_uv[i], GT_COLOR)
        draw_skeleton_2d(ax, pred_uv[i], PRED_COLOR)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    fig.suptitle("red: prediction" + ("   green: ground truth" if gt_uv is not None else ""),
                 fontsize=8)
    return _save(fig, path)


def _check_hands(uv: Sequence[np.ndarray], is_right: Sequence[bool],
                 scores: Sequence[float | None] | None,
                 meshes: Sequence[ImageMesh | None] | None, where: str) -> int:
    n = len(uv)
    if len(is_right) != n or (scores is not None and len(scores) != n) or \
            (meshes is not None and len(meshes) != n):
        raise ValueError(f"{where}: uv has {n} hands; is_right, scores and meshes need one "
                         "entry per hand.")
    return n


def _draw_hands(ax: Any, image: np.ndarray, uv: Sequence[np.ndarray], is_right: Sequence[bool],
                scores: Sequence[float | None] | None,
                meshes: Sequence[ImageMesh | None] | None,
                gt_uv: Sequence[np.ndarray] | None = None) -> None:
    """Every hand on one axes: meshes far to near, dashed keypoint box, skeleton by side, a
    side/score label; `gt_uv` skeletons thin in `GT_COLOR` underneath."""
    shown = image
    if meshes is not None:
        drawn = [m for m in meshes if m is not None]
        for m in sorted(drawn, key=lambda m: -float(np.mean(m.depth))):
            shown = draw_mesh_overlay(shown, m.verts_px, m.depth, m.faces, K=m.K)
    h, w = image.shape[:2]
    ax.axis("off")
    ax.imshow(shown, extent=(0, w, h, 0))
    for pts in gt_uv or ():
        draw_skeleton_2d(ax, np.asarray(pts, dtype=float), GT_COLOR, lw=0.7)
    for k in range(len(uv)):
        color = SIDE_COLORS[bool(is_right[k])]
        pts = np.asarray(uv[k], dtype=float)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color=color, lw=0.8, ls="--")
        draw_skeleton_2d(ax, pts, color)
        score = "" if scores is None or scores[k] is None else f" {scores[k]:.2f}"
        ax.text(x0, y0, f"{'R' if is_right[k] else 'L'}{score}", color="white", fontsize=7,
                va="bottom", bbox={"facecolor": color, "lw": 0, "pad": 1}, clip_on=True)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)


def multi_hand_overlay(image: np.ndarray, uv: Sequence[np.ndarray], is_right: Sequence[bool],
                       path: str | Path, *, scores: Sequence[float | None] | None = None,
                       meshes: Sequence[ImageMesh | None] | None = None,
                       title: str = "") -> Path:
    """One image with every hand: its shaded mesh (far hands first), its keypoint box and its
    skeleton coloured by side (`SIDE_COLORS`), labelled with side and score.

    Args:
        image: (H, W, 3) uint8 RGB. uv: N arrays (21, 2) px of `image`. is_right: N bools.
        scores: N detection scores (or None). meshes: N `ImageMesh` (or None each).
    """
    n = _check_hands(uv, is_right, scores, meshes, "multi_hand_overlay")
    h, w = image.shape[:2]
    fig, ax = plt.subplots(figsize=(5, 5 * h / max(w, 1)), dpi=100)
    _draw_hands(ax, image, uv, is_right, scores, meshes)
    ax.set_title(title or f"{n} hand{'s' if n != 1 else ''} (red: right, blue: left)", fontsize=8)
    return _save(fig, path)


@dataclass(frozen=True)
class GalleryImage:
    """One image of `multi_hand_gallery`: its predicted hands (per hand: uv (21, 2) px of
    `image`, side, score, `ImageMesh` or None) and optionally the labelled hands' uv."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    uv: Sequence[np.ndarray]
    is_right: Sequence[bool]
    scores: Sequence[float | None] | None = None
    meshes: Sequence[ImageMesh | None] | None = None
    gt_uv: Sequence[np.ndarray] | None = None
    title: str = ""


def multi_hand_gallery(items: Sequence[GalleryImage], path: str | Path, *,
                       columns: int = 4) -> Path:
    """A grid of images, each with every predicted hand drawn as `multi_hand_overlay` draws it
    (mesh, dashed keypoint box, skeleton red right / blue left, side and score) and the
    labelled hands' skeletons thin green underneath. One PNG at `path`."""
    if not items:
        raise ValueError("items: nothing to draw.")
    if columns < 1:
        raise ValueError(f"columns: expected >= 1, got {columns}.")
    for i, it in enumerate(items):
        _check_hands(it.uv, it.is_right, it.scores, it.meshes, f"multi_hand_gallery item {i}")
    cols = min(columns, len(items))
    rows = math.ceil(len(items) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(2.6 * cols, 5.2), 2.7 * rows + 0.3),
                             dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for it, ax in zip(items, axes.ravel()):
        _draw_hands(ax, it.image, it.uv, it.is_right, it.scores, it.meshes, it.gt_uv)
        n = len(it.uv)
        ax.set_title(it.title or f"{n} hand{'s' if n != 1 else ''}", fontsize=7)
    fig.suptitle("predicted: red right, blue left (box, skeleton, mesh, score)   "
                 "green: ground truth", fontsize=8)
    return _save(fig, path)


def part_colors(classes: int = 33) -> np.ndarray:
    """(classes, 3) uint8 RGB for two-hand part labels: 0 black, the first hand's 16 parts in
    warm hues, the second hand's in cool hues (each part a distinct shade)."""
    per_hand = (classes - 1) // 2
    out = np.zeros((classes, 3), np.uint8)
    cmaps = (plt.get_cmap("autumn"), plt.get_cmap("winter"))
    for h, cmap in enumerate(cmaps):
        for k in range(per_hand):
            rgb = np.asarray(cmap(0.1 + 0.8 * k / max(per_hand - 1, 1))[:3])
            shade = 0.55 + 0.45 * ((k * 7) % per_hand) / per_hand  # neighbours differ in value
            out[1 + h * per_hand + k] = np.round(rgb * shade * 255)
    return out


def two_hand_gallery(crops: Sequence[np.ndarray], pred_uv: Sequence[np.ndarray],
                     gt_uv: Sequence[np.ndarray], gt_valid: Sequence[np.ndarray],
                     pred_seg: Sequence[np.ndarray], gt_seg: Sequence[np.ndarray | None],
                     path: str | Path, *, titles: Sequence[str] | None = None) -> Path:
    """One row per frame: the crop with both hands' skeletons (prediction red, ground truth
    green), the predicted part segmentation, the ground-truth one (blank when missing).

    Args:
        crops: N (S, S, 3) uint8 RGB. pred_uv, gt_uv: N (2, 21, 2) crop pixels, hands [right,
            left], handkit order. gt_valid: N (2, 21) bool (a GT hand is drawn if its wrist is
            valid). pred_seg, gt_seg: N (h, w) int class maps (`part_colors`), any resolution
            (shown over the crop's extent) or None.
    """
    n = len(crops)
    if n == 0:
        raise ValueError("crops: nothing to draw.")
    colors = part_colors()
    fig, axes = plt.subplots(n, 3, figsize=(7.2, 2.4 * n), dpi=100, squeeze=False)
    for i in range(n):
        s = crops[i].shape[0]
        for ax in axes[i]:
            ax.axis("off")
        ax = axes[i, 0]
        ax.imshow(crops[i], extent=(0, s, s, 0))
        for k in range(2):
            if gt_valid[i][k][0]:
                draw_skeleton_2d(ax, gt_uv[i][k], GT_COLOR, lw=1.0)
            draw_skeleton_2d(ax, pred_uv[i][k], PRED_COLOR, lw=1.0)
        ax.set_xlim(0, s)
        ax.set_ylim(s, 0)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
        for ax, seg, name in ((axes[i, 1], pred_seg[i], "predicted parts"),
                              (axes[i, 2], gt_seg[i], "true parts")):
            if seg is not None:
                ax.imshow(colors[np.clip(np.asarray(seg), 0, len(colors) - 1)],
                          extent=(0, s, s, 0), interpolation="nearest")
            ax.set_title(name if seg is not None else f"{name}: none", fontsize=7)
    fig.suptitle("red: prediction   green: ground truth   parts: right warm, left cool",
                 fontsize=8)
    return _save(fig, path)


def plot_skeleton_3d(xyz: np.ndarray, path: str | Path, *, title: str = "") -> Path:
    """A 3D view of one (21, 3) skeleton (camera frame: x right, y down, z forward)."""
    xyz = np.asarray(xyz, dtype=float)
    fig = plt.figure(figsize=(4, 4), dpi=100)
    ax = fig.add_subplot(projection="3d")
    for a, b in BONES:  # plot (x, z, -y): depth into the page, up is up
        ax.plot([xyz[a, 0], xyz[b, 0]], [xyz[a, 2], xyz[b, 2]], [-xyz[a, 1], -xyz[b, 1]],
                color=PRED_COLOR)
    ax.scatter(xyz[:, 0], xyz[:, 2], -xyz[:, 1], s=8, c=PRED_COLOR)
    centre, half = xyz.mean(0), max(float(np.ptp(xyz, axis=0).max()) / 2, 1e-3)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[2] - half, centre[2] + half)
    ax.set_zlim(-centre[1] - half, -centre[1] + half)
    ax.set_xlabel("x (right)")
    ax.set_ylabel("z (forward)")
    ax.set_zlabel("-y (up)")
    ax.set_title(title, fontsize=8)
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    fig.tight_layout()
    try:
        return write_figure(fig, path)
    finally:
        plt.close(fig)
