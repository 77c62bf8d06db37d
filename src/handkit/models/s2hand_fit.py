"""S2HAND's test-time refinement (``traineval_util.mano_fitting``, specs/mesh.md §2.8), usable on
its own: fit the hand model's pose, shape, rotation, translation and scale to 2D keypoints.

Objective per iteration (λ = the training weights, `FIT_WEIGHTS`):

    λ_j2d · Σ c ‖û − j2d‖ / Σ c  +  0.2 λ_bone · bone_direction(j2d, û, c)
    + 3 λ_pose · tsa_poses  +  λ_shape · mean(β²)  +  λ_mscale · mean |‖J₉ − J₁₀‖ − bone_m|

with j2d = K-projection of t + |s| · hand(pose, β, rot). The official code fits the heat-map
branch's keypoints with c = 1 everywhere (then the first term is its plain mean distance);
here any 2D source with confidences works (missing joints: c = 0). The Laplacian is computed
there but never added; it is left out here.

**Optimiser.** 151 iterations of Adam (β = 0.9, 0.999) at lr 0.01 (iterations 0–50), 0.005
(51–100), 0.0025 (101–150). The official code **creates a new Adam at every iteration**, which
resets its moments: every step is then ≈ lr · sign(gradient) per coordinate. That is the
faithful default (``adam="official"``); ``adam="fixed"`` keeps one Adam and changes its lr at
the milestones. The official code also returns the geometry evaluated *before* its last step;
``"official"`` does the same, ``"fixed"`` re-evaluates after the last step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from handkit.geometry.camera import project
from handkit.losses import s2hand as L
from handkit.models.s2hand import S2HandHand
from handkit.utils.check import check_choice, check_shape

__all__ = ["FIT_WEIGHTS", "FIT_SCHEDULE", "ADAM_MODES", "FitResult", "fit_hand", "initial_guess"]

FIT_WEIGHTS = {"j2d": 1e-3, "bone_direc": 0.1 * 0.2, "pose": 0.1 * 3, "shape": 1e-2,
               "mscale": 0.1}
"""The refinement's term weights: the training λ times the official factors (0.2, 3)."""
FIT_SCHEDULE = ((0, 0.01), (51, 0.005), (101, 0.0025))
"""(first iteration, lr) of each phase; 151 iterations in all."""
ADAM_MODES = {"official": "a new Adam every iteration (sign-like steps), as released",
              "fixed": "one Adam for the whole fit, lr changed at the milestones"}
_PARAMS = ("pose", "shape", "scale", "trans", "rot")


@dataclass(frozen=True)
class FitResult:
    """The fitted parameters and geometry (detached)."""

    pose: Tensor  # (B, num_pose) PCA coefficients
    shape: Tensor  # (B, 10)
    scale: Tensor  # (B, 1), |s| is used
    trans: Tensor  # (B, 3) meters
    rot: Tensor  # (B, 3) axis-angle radians
    joints: Tensor  # (B, 21, 3) meters, camera frame, handkit order
    vertices: Tensor  # (B, V, 3) meters, camera frame
    j2d: Tensor  # (B, 21, 2) px
    history: Tensor  # (iterations,) the objective at each iteration


def initial_guess(hand: S2HandHand, uv: Tensor, conf: Tensor, K: Tensor, *,
                  depth: float = 0.65) -> dict[str, Tensor]:
    """A start without a network: the decoder's initial values (pose 0, shape 0, rot 0,
    scale 0.95) with the translation put on the ray through the confidence-weighted 2D centre,
    `depth` meters away.

    Args:
        hand: the hand model. uv: (B, 21, 2) px. conf: (B, 21) in [0, 1]. K: (B, 3, 3) px.

    Returns:
        {"pose", "shape", "scale", "trans", "rot"} tensors of `FitResult`'s shapes.
    """
    b = check_shape(uv, "B 21 2", name="uv")["B"]
    w = conf / conf.sum(-1, keepdim=True).clamp_min(1e-12)
    centre = (uv * w[..., None]).sum(1)
    homog = torch.cat([centre, torch.ones_like(centre[:, :1])], -1)
    ray = torch.einsum("bij,bj->bi", torch.linalg.inv(K), homog)
    zeros = uv.new_zeros
    return {"pose": zeros(b, hand.num_pose), "shape": zeros(b, 10), "scale": zeros(b, 1) + 0.95,
            "trans": ray / ray[:, 2:] * depth, "rot": zeros(b, 3)}


def _objective(hand: S2HandHand, p: Mapping[str, Tensor], uv: Tensor, conf: Tensor, K: Tensor,
               weights: Mapping[str, float], bone_m: float):
    geo = hand(p["pose"], p["shape"], p["rot"])
    s = p["scale"].abs()[:, :, None]
    joints = p["trans"][:, None] + s * geo.joints
    verts = p["trans"][:, None] + s * geo.vertices
    j2d = project(joints, K)
    dist = ((uv - j2d) ** 2).sum(-1).clamp_min(1e-24).sqrt()
    reproj = (dist * conf).sum() / conf.sum().clamp_min(1e-12)
    total = (weights["j2d"] * reproj
             + weights["bone_direc"] * L.bone_direction_loss(j2d, uv, conf)
             + weights["pose"] * L.tsa_pose_loss(geo.prior_pose, geo.prior_low, geo.prior_high)
             + weights["shape"] * L.shape_prior_loss(p["shape"])
             + weights["mscale"] * L.mean_scale_loss(joints, bone_m))
    return total, joints, verts, j2d


def fit_hand(hand: S2HandHand, uv: Tensor, conf: Tensor, K: Tensor,
             init: Mapping[str, Tensor] | None = None, *, iterations: int = 151,
             schedule: tuple[tuple[int, float], ...] = FIT_SCHEDULE,
             weights: Mapping[str, float] = FIT_WEIGHTS, adam: str = "official",
             bone_m: float | None = None) -> FitResult:
    """Fit the hand to 2D keypoints (module doc).

    Args:
        hand: `S2HandHand` (OpenHand or MANO).
        uv: (B, 21, 2) float px, handkit order (NaN where missing). conf: (B, 21) float in
            [0, 1] (official: 1 for the heat-map keypoints). K: (B, 3, 3) px.
        init: {"pose", "shape", "scale", "trans", "rot"} to start from (a network's output);
            None = `initial_guess`.
        iterations: 151. schedule: `FIT_SCHEDULE`. weights: `FIT_WEIGHTS`.
        adam: `ADAM_MODES`. bone_m: the mean-scale target, meters; None = ``hand.bone_m``.

    Returns:
        `FitResult`. Deterministic for the same inputs (no random draw anywhere).
    """
    check_choice(adam, ADAM_MODES, name="adam")
    b = check_shape(uv, "B 21 2", name="uv")["B"]
    check_shape(K, f"{b} 3 3", name="K")
    uv, conf, _ = L.clean_detections(uv, conf)
    if init is None:
        init = initial_guess(hand, uv, conf, K)
    missing = [k for k in _PARAMS if k not in init]
    if missing:
        raise ValueError(f"init: missing {missing}; give all of {list(_PARAMS)}.")
    params = {k: init[k].detach().clone().to(uv).requires_grad_(True) for k in _PARAMS}
    bone_m = hand.bone_m if bone_m is None else bone_m

    def lr_at(i: int) -> float:
        return [lr for start, lr in schedule if start <= i][-1]

    opt = torch.optim.Adam(list(params.values()), lr=lr_at(0), betas=(0.9, 0.999))
    history = []
    joints = verts = j2d = None
    for i in range(iterations):
        if adam == "official":  # moments reset every iteration, as released
            opt = torch.optim.Adam(list(params.values()), lr=lr_at(i), betas=(0.9, 0.999))
        else:
            for group in opt.param_groups:
                group["lr"] = lr_at(i)
        total, joints, verts, j2d = _objective(hand, params, uv, conf, K, weights, bone_m)
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append(float(total.detach()))
    if adam == "fixed" or joints is None:
        with torch.no_grad():
            _, joints, verts, j2d = _objective(hand, params, uv, conf, K, weights, bone_m)
    return FitResult(**{k: v.detach() for k, v in params.items()}, joints=joints.detach(),
                     vertices=verts.detach(), j2d=j2d.detach(),
                     history=torch.tensor(history, dtype=torch.float64))
