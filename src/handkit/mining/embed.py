"""Pose embedding for similar-hand mining: 2D keypoints -> a normalised vector (docs/mining.md).

SiMHand's embedding is unreleased (specs/pretrain.md §2.1): "a compact pose embedding from 2D
keypoints reduced with PCA", a 14-D PCA hinted by `apply_pca(..., target_dim=14)`. handkit's:

1. **Handedness unified by mirroring**: a left hand's u -> -u, so it is compared as the right
   hand it mirrors (SiMHand flips left crops to right before training, §2.2 step 4).
2. **Root-centred** at the wrist (joint 0).
3. **Scale-normalised** by `scale_by`: ``rms`` (default: root-mean-square distance of the 21
   joints from the wrist; uses every joint, so one foreshortened bone cannot blow it up),
   ``bbox`` (the larger side of the keypoints' box) or ``bone`` (wrist -> middle MCP, the
   classic 2.5D reference bone; unstable when that bone points at the camera).
4. Optional **in-plane rotation** alignment (`rotation="align"`: wrist -> middle MCP points up).
   Default ``keep``: a mined positive then also looks similar in the image (same orientation),
   which is what the crops are for; `align` finds more similar 3D articulations (docs/mining.md).
5. Optional **PCA** (`PosePCA`, 14-D by default in the miner) fitted on a sample of the pool.

The vector is the 42 normalised coordinates (the wrist's two zeros included, harmless).
Distances between embeddings are therefore in units of the pose scale (unitless).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from handkit.utils.check import check_choice, check_finite, check_shape

__all__ = ["embed_poses", "PosePCA", "fit_pca", "SCALES", "ROTATIONS"]

_EPS = 1e-6


def _rms(p: np.ndarray) -> np.ndarray:
    return np.sqrt((p ** 2).sum(-1).mean(-1))


def _bbox(p: np.ndarray) -> np.ndarray:
    return (p.max(1) - p.min(1)).max(-1)


def _bone(p: np.ndarray) -> np.ndarray:
    return np.linalg.norm(p[:, 9], axis=-1)


SCALES = {"rms": _rms, "bbox": _bbox, "bone": _bone}
ROTATIONS = ("keep", "align")


def embed_poses(uv: np.ndarray, is_right: np.ndarray, *,
                scale_by: Literal["rms", "bbox", "bone"] = "rms",
                rotation: Literal["keep", "align"] = "keep") -> np.ndarray:
    """Normalise 2D hand poses into comparable vectors.

    Args:
        uv: (M, 21, 2) float, pixels of each crop (any unit: the result is scale-free),
            handkit order. *Convention:* image axes (u right, v down).
        is_right: (M,) bool, handedness; left hands are mirrored (u -> -u).
        scale_by: ``rms`` | ``bbox`` | ``bone`` (see the module docstring).
        rotation: ``keep`` | ``align`` (rotate so wrist -> middle MCP points to -v, "up").

    Returns:
        (M, 42) float32, wrist-centred, scale 1 by `scale_by`, right-hand frame.

    Raises:
        ValueError: bad shapes, NaN/inf, an unknown option, or a degenerate pose (all joints
            on the wrist), naming the first bad row.
    """
    check_choice(scale_by, SCALES, name="scale_by")
    check_choice(rotation, ROTATIONS, name="rotation")
    m = check_shape(uv, "M 21 2", name="uv", allow_empty=True)["M"]
    check_shape(is_right, f"{m}", name="is_right", allow_empty=True)
    uv = np.asarray(uv, dtype=np.float64)
    check_finite(uv, name="uv")
    p = uv - uv[:, :1]
    p[~np.asarray(is_right, bool), :, 0] *= -1.0
    if rotation == "align":
        d = p[:, 9]
        ang = np.arctan2(d[:, 0], -d[:, 1])  # angle of wrist->middle MCP from "up" (-v)
        c, s = np.cos(ang), np.sin(ang)
        rot = np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], -2)  # rotates by -ang
        p = np.einsum("mij,mkj->mki", rot, p)
    scale = SCALES[scale_by](p)
    bad = np.flatnonzero(~(scale > _EPS))
    if len(bad):
        raise ValueError(f"uv: pose {int(bad[0])} is degenerate ({scale_by} scale "
                         f"{scale[bad[0]]:.3g}); drop hands without a detection first.")
    return (p / scale[:, None, None]).reshape(m, 42).astype(np.float32)


@dataclass(frozen=True)
class PosePCA:
    """A fitted PCA: `apply(x) = (x - mean) @ components.T`.

    Attributes:
        mean: (D,) float32.
        components: (d, D) float32, orthonormal rows, by decreasing variance.
        explained: (d,) float32, fraction of the total variance each component explains.
    """

    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(M, D) -> (M, d) float32."""
        check_shape(x, f"M {self.mean.shape[0]}", name="x", allow_empty=True)
        return ((x - self.mean) @ self.components.T).astype(np.float32)


def fit_pca(x: np.ndarray, dim: int = 14, *, max_samples: int = 200_000,
            seed: int = 0) -> PosePCA:
    """Fit a `dim`-D PCA on (at most `max_samples` random rows of) x (M, D) float.

    Raises:
        ValueError: dim outside 1..D, or fewer rows than `dim`.
    """
    m, d = check_shape(x, "M D", name="x").values()
    if not 1 <= dim <= d:
        raise ValueError(f"dim: expected 1..{d}, got {dim}.")
    if m < dim:
        raise ValueError(f"x: {m} poses cannot fit a {dim}-D PCA; pass at least {dim}.")
    rows = np.random.default_rng(seed).choice(m, max_samples, replace=False) \
        if m > max_samples else slice(None)
    sample = np.asarray(x[rows], dtype=np.float64)
    mean = sample.mean(0)
    _, sv, vt = np.linalg.svd(sample - mean, full_matrices=False)
    var = sv ** 2
    return PosePCA(mean=mean.astype(np.float32), components=vt[:dim].astype(np.float32),
                   explained=(var[:dim] / max(var.sum(), _EPS)).astype(np.float32))
