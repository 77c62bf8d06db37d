"""S2HAND's self-supervised losses as functions on tensors (specs/mesh.md §2.5).

Every term of ``traineval_util.loss_func`` that a released config lists, plus the silhouette
term, in one place each. Shapes and units are in each docstring; keypoints are in handkit order,
which *is* FreiHAND's order (the order every S2HAND loss uses), pixels of the network input.

Notation: ``det`` (B, 21, 2) px are the 2D detections ô (OpenPose in the paper), ``conf``
(B, 21) their confidences c ∈ [0, 1] (0 = missing: such a joint has no weight anywhere),
``j2d`` (B, 21, 2) px the projected model joints, ``hm_uv`` the heat-map branch's keypoints.
ρ(d) = d²/10 below 5 px, d − 2.5 above (`robust_distance`).

`combine` is the rule of ``train.py``: only the terms listed for the stage whose weighted value
is > 0 and finite count, and a batch whose total is below 1e-10 is skipped.

**Weights.** The functions return *unweighted* terms; the λ of each stage live in the configs
(``configs/s2hand/*.yaml``) and are applied by `combine` (S2HAND stores λ·term per key and
tests that for > 0; with λ > 0 that is the same test).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor

from handkit.hand.skeleton import BONES
from handkit.utils.check import check_choice, check_shape

__all__ = [
    "KEYPOINT_WEIGHTS", "MEAN_BONE_M", "SKIP_BELOW", "TSA_LOW_DEG", "TSA_HIGH_DEG",
    "TSA_AXIS_WEIGHTS", "TEXTURE_WEIGHT_RULES", "MTEX_MODES",
    "robust_distance", "clean_detections", "texture_weights",
    "open_2dj_loss", "hm_integral_loss", "kp_cons_loss", "bone_direction_loss",
    "bone_length_2d_loss", "mean_scale_loss", "tsa_pose_loss", "tsa_bounds", "shape_prior_loss",
    "cotangent_laplacian",
    "laplacian_loss", "texture_loss", "mean_rgb_loss", "texture_regularity_loss",
    "silhouette_loss", "combine",
]

KEYPOINT_WEIGHTS: tuple[float, ...] = (2.0,) + (1.0, 1.0, 1.0, 1.5) * 5
"""κ_k of `open_2dj_loss`: 2 for the wrist, 1.5 for the five tips (4, 8, 12, 16, 20), else 1."""
MEAN_BONE_M = 0.0282
"""The mean-scale prior's length of the middle MCP–PIP bone (handkit joints 9–10), meters."""
SKIP_BELOW = 1e-10
"""A batch whose combined loss is below this is skipped (``train.py``)."""

# tsa_poses box, degrees, per (x, y, z) axis-angle component; rows: root, then MANO's joint
# order (index 1-3, middle 1-3, pinky 1-3, ring 1-3, thumb 1-3). The root row is S2HAND's
# radians [3.13, 3.15] x [-0.01, 0.01]^2 written in degrees.
_R = (math.degrees(3.13), math.degrees(3.15), math.degrees(0.01))
_FINGER1 = ((-5, 5), (-10, 10), (-10, 100))
_FINGER23 = ((-5, 5), (-5, 5), (-10, 100))
_PINKY1 = ((-20, 5), (-10, 20), (-10, 100))
_THUMB = (((0, 90), (-22.5, 33.75), (-22.5, 22.5)),
          ((-5, 5), (-5, 5), (-22.5, 22.5)),
          ((-5, 5), (-5, 5), (-20, 100)))
_ROWS = ((( _R[0], _R[1]), (-_R[2], _R[2]), (-_R[2], _R[2])),
         _FINGER1, _FINGER23, _FINGER23,  # index
         _FINGER1, _FINGER23, _FINGER23,  # middle
         _PINKY1, _FINGER23, _FINGER23,  # pinky
         _FINGER1, _FINGER23, _FINGER23,  # ring
         *_THUMB)
TSA_LOW_DEG: tuple[tuple[float, float, float], ...] = tuple(
    tuple(float(ax[0]) for ax in row) for row in _ROWS)
"""(16, 3) lower bounds of `tsa_pose_loss`, degrees, root + MANO joints 1-15 (MANO order)."""
TSA_HIGH_DEG: tuple[tuple[float, float, float], ...] = tuple(
    tuple(float(ax[1]) for ax in row) for row in _ROWS)
"""(16, 3) upper bounds, degrees (see `TSA_LOW_DEG`)."""
TSA_AXIS_WEIGHTS = (1.0, 1.0, 2.0)
"""Weights of the x, y, z components in `tsa_pose_loss`."""

TEXTURE_WEIGHT_RULES = {
    "freihand": "t_b = mean_k c_k if min_k c_k > 0.1 else 0, times 1.1 (index < 32560) or 0.1",
    "ho3d": "t_b = mean_k c_k",
}
MTEX_MODES = {
    "official": "sample i's mean/std applied to every sample j's textures (the broadcast of "
                "the released code), weight 2 t_i / sum t^2",
    "per_sample": "each sample's own mean/std, same weight",
}
_EPS_DIR = 1e-4  # bone direction: bone / (|bone| + 1e-4), as the official code


def _check_kp(x: Tensor, name: str, b: int | None = None) -> int:
    spec = "B 21 2" if b is None else f"{b} 21 2"
    check_shape(x, spec, name=name, hint="2D keypoints are (B, 21, 2) pixels, handkit "
                "(= FreiHAND) order.")
    return x.shape[0]


def _check_conf(conf: Tensor, b: int) -> Tensor:
    if conf.dim() == 3 and conf.shape[-1] == 1:  # S2HAND's (B, 21, 1) layout
        conf = conf[..., 0]
    check_shape(conf, f"{b} 21", name="conf", hint="one confidence in [0, 1] per joint.")
    return conf


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den, 0 when den is 0 (a batch without any confident joint contributes nothing,
    and `combine` then drops the term, instead of a NaN reaching the optimiser)."""
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(den.dtype).tiny),
                       torch.zeros_like(num))


def robust_distance(d: Tensor) -> Tensor:
    """S2HAND's robust penalty ρ(d) = d²/10 if d < 5 else d − 2.5 (continuous at 5, slope 1).

    Args:
        d: (...) float, distances in pixels (≥ 0).

    Returns:
        (...) float, pixels.
    """
    return torch.where(d < 5, d * d / 10, d - 2.5)


def _distance(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distance over the last axis with a finite gradient at 0 (sqrt(0) has none)."""
    sq = ((a - b) ** 2).sum(-1)
    safe = torch.where(sq > 0, sq, torch.ones_like(sq))
    return torch.where(sq > 0, safe.sqrt(), torch.zeros_like(sq))


def clean_detections(det: Tensor, conf: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mask bad detections so they never propagate (the issue's bad-input rule).

    Args:
        det: (B, 21, 2) float pixels; NaN/inf where a joint was not found.
        conf: (B, 21) (or (B, 21, 1)) float confidences; NaN counts as 0.

    Returns:
        det: (B, 21, 2) with non-finite joints set to 0 (their confidence is 0, so they weigh
            nothing); conf: (B, 21) in [0, 1], 0 where the joint or its confidence is not finite
            or negative; usable: (B,) bool, False for samples without any joint of confidence > 0
            (to be skipped and counted by the caller).
    """
    b = _check_kp(det, "det")
    conf = _check_conf(conf, b)
    ok = torch.isfinite(det).all(-1) & torch.isfinite(conf)
    conf = torch.where(ok, conf, torch.zeros_like(conf)).clamp(0.0, 1.0)
    det = torch.where(ok[..., None], det, torch.zeros_like(det))
    return det, conf, (conf > 0).any(-1)


def texture_weights(conf: Tensor, rule: str = "freihand", index: Tensor | None = None) -> Tensor:
    """Per-sample weight t_b of the texture terms (``data_dic``'s ``texture_con``).

    Args:
        conf: (B, 21) float detection confidences.
        rule: ``"freihand"`` or ``"ho3d"`` (`TEXTURE_WEIGHT_RULES`).
        index: (B,) int dataset indices (FreiHAND: the factor is 1.1 below 32560, else 0.1);
            None = all below (S2HAND loads only those, so the factor is always 1.1).

    Returns:
        (B,) float, unitless.
    """
    check_choice(rule, TEXTURE_WEIGHT_RULES, name="texture_weight_rule")
    b = conf.shape[0]
    conf = _check_conf(conf, b)
    mean = conf.mean(-1)
    if rule == "ho3d":
        return mean
    factor = torch.full_like(mean, 1.1) if index is None else \
        (index.to(conf.device) < 32560).to(conf.dtype) + 0.1
    return torch.where(conf.min(-1).values > 0.1, mean, torch.zeros_like(mean)) * factor


def open_2dj_loss(j2d: Tensor, det: Tensor, conf: Tensor) -> Tensor:
    """Confidence-weighted robust 2D keypoint loss (``open_2dj``).

    Σ_{b,k} ρ(‖ô − j2d‖) (c κ_k)² / Σ_{b,k} (c κ_k)², κ = `KEYPOINT_WEIGHTS`.

    Args:
        j2d: (B, 21, 2) float px, projected model joints. det: (B, 21, 2) float px.
        conf: (B, 21) float.

    Returns:
        () float, pixels (ρ units); 0 when no joint has confidence.
    """
    b = _check_kp(j2d, "j2d")
    _check_kp(det, "det", b)
    conf = _check_conf(conf, b)
    w = (conf * conf.new_tensor(KEYPOINT_WEIGHTS)) ** 2
    return _ratio((robust_distance(_distance(det, j2d)) * w).sum(), w.sum())


def hm_integral_loss(hm_uv: Sequence[Tensor], det: Tensor, conf: Tensor) -> Tensor:
    """The heat-map branch against the detections (``hm_integral``).

    Σ over the stacks of [Σ_{b,k} ‖ô − u_hm‖ c² / Σ c²] (the plain distance, not ρ).

    Args:
        hm_uv: one (B, 21, 2) float px per hourglass stack (S2HAND: 2).
        det: (B, 21, 2) float px. conf: (B, 21) float.

    Returns:
        () float, pixels (a sum over stacks, not a mean).
    """
    b = _check_kp(det, "det")
    conf = _check_conf(conf, b)
    w = conf ** 2
    total = det.new_zeros(())
    for i, uv in enumerate(hm_uv):
        _check_kp(uv, f"hm_uv[{i}]", b)
        total = total + _ratio((_distance(det, uv) * w).sum(), w.sum())
    return total


def kp_cons_loss(hm_uv_last: Tensor, j2d: Tensor) -> Tensor:
    """2D–3D keypoint consistency (``kp_cons``): mean_{b,k} ρ(‖u_hm − j2d‖).

    Neither side is detached: both branches get gradients, as in the released code.

    Args:
        hm_uv_last: (B, 21, 2) float px, the last stack's keypoints. j2d: (B, 21, 2) float px.

    Returns:
        () float, pixels.
    """
    b = _check_kp(hm_uv_last, "hm_uv_last")
    _check_kp(j2d, "j2d", b)
    return robust_distance(_distance(hm_uv_last, j2d)).mean()


def _bone_vectors(kp: Tensor) -> Tensor:
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    return kp[:, children] - kp[:, parents]  # (B, 20, D)


def bone_direction_loss(j2d: Tensor, det: Tensor, conf: Tensor) -> Tensor:
    """2D bone directions against the detections' (``open_bone_direc``).

    mean over B × 20 bones of ‖ê_pred − ê_det‖² c_parent c_child, ê = bone / (‖bone‖ + 1e-4);
    the bones are handkit's `BONES` (parent → child, FreiHAND order: wrist → each MCP, then
    along every finger), the official 20.

    Args:
        j2d: (B, 21, 2) float px. det: (B, 21, 2) float px. conf: (B, 21) float.

    Returns:
        () float, unitless (in [0, 4]).
    """
    b = _check_kp(j2d, "j2d")
    _check_kp(det, "det", b)
    conf = _check_conf(conf, b)

    def unit(kp: Tensor) -> Tensor:
        v = _bone_vectors(kp)
        return v / (_distance(v, torch.zeros_like(v))[..., None] + _EPS_DIR)

    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    w = conf[:, parents] * conf[:, children]
    return (((unit(j2d) - unit(det)) ** 2).sum(-1) * w).mean()


def bone_length_2d_loss(j2d: Tensor, det: Tensor, conf: Tensor) -> Tensor:
    """Projected bone lengths against the detections' (``bone_len_2d``; handkit's, not S2HAND's).

    Σ_{b,bone} | ‖e_pred‖ − ‖e_det‖ | c_parent c_child / Σ c_parent c_child over the 20 `BONES`.
    S2HAND's 2D terms leave the image size of the hand free: a hand turned the wrong way in
    the image fits the detections better as a point at their centre than at full size, and the
    decoder's translation gets there by moving the hand away (docs/s2hand.md, the synthetic
    experiment). This term anchors the depth through the projected size; it is invariant to
    where the hand is and how it is turned in the image, so it never pulls against the
    orientation that the other terms teach.

    Args:
        j2d: (B, 21, 2) float px. det: (B, 21, 2) float px. conf: (B, 21) float.

    Returns:
        () float, pixels; 0 when no bone has both ends detected.
    """
    b = _check_kp(j2d, "j2d")
    _check_kp(det, "det", b)
    conf = _check_conf(conf, b)
    zero = torch.zeros_like(j2d[:, :20])
    length = _distance(_bone_vectors(j2d), zero) - _distance(_bone_vectors(det), zero)
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    w = conf[:, parents] * conf[:, children]
    return _ratio((length.abs() * w).sum(), w.sum())


def mean_scale_loss(joints: Tensor, bone_m: float = MEAN_BONE_M) -> Tensor:
    """Mean-scale prior (``mscale``): mean_b | ‖J₉ − J₁₀‖ − 0.0282 |.

    Args:
        joints: (B, 21, 3) float, meters, handkit order (9 middle MCP, 10 middle PIP).
        bone_m: the target length, meters.

    Returns:
        () float, meters.
    """
    check_shape(joints, "B 21 3", name="joints")
    length = _distance(joints[:, 9], joints[:, 10])
    return (length - bone_m).abs().mean()


def tsa_bounds(dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """S2HAND's pose box in radians: (low, high), each (16, 3), root + MANO joints 1-15."""
    low = torch.tensor(TSA_LOW_DEG, dtype=torch.float64).deg2rad()
    high = torch.tensor(TSA_HIGH_DEG, dtype=torch.float64).deg2rad()
    return low.to(dtype=dtype, device=device), high.to(dtype=dtype, device=device)


def tsa_pose_loss(pose: Tensor, low: Tensor | None = None, high: Tensor | None = None,
                  axis_weights: Iterable[float] = TSA_AXIS_WEIGHTS) -> Tensor:
    """Biomechanical box prior on the raw axis-angle (``tsa_poses``).

    mean over B × J × 3 of w_c · [max(0, θ − hi) + max(0, lo − θ)]. No tilt-swing-azimuth
    conversion happens (the released code applies the box to the raw components, §2.5).

    Args:
        pose: (B, J, 3) float, radians: S2HAND's ``tsa_poses`` = the full 16 × 3 skinning pose
            (root (π, 0, 0) + the 15 finger joints in MANO order, mean included).
        low, high: (J, 3) radians; None = `tsa_bounds` (J = 16).
        axis_weights: w per component, (1, 1, 2).

    Returns:
        () float, radians.
    """
    dims = check_shape(pose, "B J 3", name="pose")
    if low is None or high is None:
        low, high = tsa_bounds(pose.dtype, pose.device)
    check_shape(low, f"{dims['J']} 3", name="low")
    check_shape(high, f"{dims['J']} 3", name="high")
    w = pose.new_tensor(tuple(axis_weights))
    excess = torch.relu(pose - high.to(pose)) + torch.relu(low.to(pose) - pose)
    return (excess * w).mean()


def shape_prior_loss(shape: Tensor) -> Tensor:
    """Shape prior (``mshape``): mean(β²). (B, S) float unitless → () float."""
    check_shape(shape, "B S", name="shape")
    return (shape ** 2).mean()


def cotangent_laplacian(verts: Tensor, faces: Tensor) -> Tensor:
    """The cotangent Laplacian of one mesh as a sparse (V, V) matrix, treated as a constant.

    L_ij = ½ (cot α_ij + cot β_ij) for each edge ij (α, β the angles opposite it), L_ii = −Σ_j
    L_ij (CMR's / gptoolbox's convention, as S2HAND's ``laplacianloss.py``). A zero-area face
    gives infinite cotangents there, as in the original.

    Args:
        verts: (V, 3) float, meters (detached here). faces: (F, 3) int64.

    Returns:
        sparse COO (V, V), dtype of `verts`.
    """
    check_shape(verts, "V 3", name="verts")
    check_shape(faces, "F 3", name="faces")
    v = verts.detach()
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    l1 = ((b - c) ** 2).sum(-1)  # squared lengths of the edges opposite corners 0, 1, 2
    l2 = ((c - a) ** 2).sum(-1)
    l3 = ((a - b) ** 2).sum(-1)
    area2 = torch.linalg.cross(b - a, c - a).norm(dim=-1)  # twice the area (Heron's 2·A there)
    # cot of the angle at a corner = (sum of the adjacent squared lengths − opposite) / (4 area)
    # over 4·(2 area) instead: ½ cot, so the two faces of an edge add up to ½ (cot α + cot β)
    half_cot = torch.stack([l2 + l3 - l1, l1 + l3 - l2, l1 + l2 - l3], -1) / (4 * area2[:, None])
    rows = faces[:, [1, 2, 0]].reshape(-1)  # corner 0's angle is opposite edge (1, 2), ...
    cols = faces[:, [2, 0, 1]].reshape(-1)
    vals = half_cot.reshape(-1)
    n = v.shape[0]
    idx = torch.cat([torch.stack([rows, cols]), torch.stack([cols, rows])], 1)
    off = torch.sparse_coo_tensor(idx, torch.cat([vals, vals]), (n, n), check_invariants=True).coalesce()
    diag = torch.sparse.sum(off, dim=1).to_dense()
    eye = torch.arange(n, device=v.device)
    lap = torch.sparse_coo_tensor(torch.cat([off.indices(), torch.stack([eye, eye])], 1),
                                  torch.cat([off.values(), -diag]), (n, n), check_invariants=True)
    return lap.coalesce()


def laplacian_loss(verts: Tensor, faces: Tensor, *, reference: int | None = 0) -> Tensor:
    """Mesh smoothness (``triangle``): mean over all B·V vertices of ‖(L V_b)_v‖₂.

    Args:
        verts: (B, V, 3) float, meters (S2HAND: the camera-frame mesh).
        faces: (F, 3) int64.
        reference: the sample whose current mesh builds L (S2HAND: 0, rebuilt every step, and
            applied to every sample); None builds L per sample.

    Returns:
        () float, meters (L is scale-invariant, so ‖L V‖ scales as V).
    """
    dims = check_shape(verts, "B V 3", name="verts")
    if reference is not None:
        lap = cotangent_laplacian(verts[reference], faces)
        flat = verts.permute(1, 0, 2).reshape(dims["V"], -1)  # (V, B·3)
        lv = torch.sparse.mm(lap, flat).reshape(dims["V"], dims["B"], 3).permute(1, 0, 2)
    else:
        lv = torch.stack([torch.sparse.mm(cotangent_laplacian(vb, faces), vb) for vb in verts])
    return _distance(lv, torch.zeros_like(lv)).mean()


def _check_images(rendered: Tensor, target: Tensor) -> int:
    b = check_shape(rendered, "B H W C", name="rendered",
                    hint="images are (B, H, W, 3) in [0, 1] (channels last, the renderer's).")["B"]
    if target.shape != rendered.shape:
        raise ValueError(f"target: expected {tuple(rendered.shape)} like the rendered image, "
                         f"got {tuple(target.shape)}.")
    return b


def texture_loss(rendered: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Photometric loss (``texture``): the t²-weighted mean absolute error.

    Σ_{b,pixel,channel} |re_img − maskRGB| t_b² / Σ_{b,pixel,channel} t_b², background
    included (where the rendered background is white and the target black, §6).

    Args:
        rendered: (B, H, W, 3) float in [0, 1]. target: (B, H, W, 3) float in [0, 1] (S2HAND:
            the input image · [rendered silhouette > 0]). weight: (B,) float t_b.

    Returns:
        () float, intensity units.
    """
    b = _check_images(rendered, target)
    check_shape(weight, f"{b}", name="weight")
    w = weight.to(rendered) ** 2
    per_sample = (rendered - target).abs().flatten(1).mean(1)
    return _ratio((per_sample * w).sum(), w.sum())


def mean_rgb_loss(rendered: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Mean-colour term (``mrgb``): Σ_b |mean(re_img_b) − mean(maskRGB_b)| t_b² / Σ t_b²,
    each mean over every pixel and channel of the image.

    Args: as `texture_loss`.

    Returns:
        () float, intensity units.
    """
    b = _check_images(rendered, target)
    check_shape(weight, f"{b}", name="weight")
    w = weight.to(rendered) ** 2
    diff = (rendered.flatten(1).mean(1) - target.flatten(1).mean(1)).abs()
    return _ratio((diff * w).sum(), w.sum())


def texture_regularity_loss(textures: Tensor, weight: Tensor, mode: str = "official") -> Tensor:
    """Texture regularity (``mtex``): face colours more than 2σ from the mean are penalised by
    |x − μ| (the whole distance, not the excess).

    With μ_i, σ_i (3,) the per-channel mean and unbiased std of sample i's face colours:
    ``official``: value_i = mean over samples j, faces, channels of [|x_j − μ_i| > 2σ_i]·|x_j −
    μ_i| (the released code broadcasts sample i's statistics over the whole batch);
    ``per_sample``: j = i only. Then Σ_i value_i · 2 t_i / Σ_i t_i² (the released weight:
    t·2, not t²).

    Args:
        textures: (B, F, 3) float, face colours before the renderer's tanh (mean colour plus
            the head's offset; the statistic does not depend on the mean's value).
        weight: (B,) float t_b. mode: `MTEX_MODES`.

    Returns:
        () float, colour units.
    """
    check_choice(mode, MTEX_MODES, name="mtex_mode")
    b = check_shape(textures, "B F 3", name="textures")["B"]
    check_shape(weight, f"{b}", name="weight")
    mean = textures.mean(1)  # (B, 3)
    std = textures.std(1)
    if mode == "official":
        dev = textures[None] - mean[:, None, None]  # (B_i, B_j, F, 3)
        out = (dev.abs() > 2 * std[:, None, None]) * dev.abs()
        value = out.flatten(1).mean(1)
    else:
        dev = textures - mean[:, None]
        value = ((dev.abs() > 2 * std[:, None]) * dev.abs()).flatten(1).mean(1)
    w = weight.to(textures)
    return _ratio((value * 2 * w).sum(), (w ** 2).sum())


def silhouette_loss(silhouette: Tensor, mask: Tensor) -> Tensor:
    """``sil``: mean |re_sil − mask| (only with ground-truth masks; in no released config).

    Args:
        silhouette: (B, H, W) float in [0, 1]. mask: (B, H, W) float/bool.

    Returns:
        () float.
    """
    check_shape(silhouette, "B H W", name="silhouette")
    if mask.shape != silhouette.shape:
        raise ValueError(f"mask: expected {tuple(silhouette.shape)}, got {tuple(mask.shape)}.")
    return (silhouette - mask.to(silhouette)).abs().mean()


def combine(terms: Mapping[str, Tensor], weights: Mapping[str, float],
            listed: Iterable[str], *, skip_below: float = SKIP_BELOW
            ) -> tuple[Tensor | None, dict[str, Tensor]]:
    """S2HAND's rule for the total loss (``train.py``).

    Each listed key's λ·term is added when it is > 0 and finite; a listed key that is missing
    from `terms` or `weights` is an error (a typo in a config must not train silently).

    Args:
        terms: name → () unweighted term (the functions of this module).
        weights: name → λ (the stage's config).
        listed: the stage's ``losses`` list.
        skip_below: the batch is skipped when the total is below this (1e-10).

    Returns:
        (total or None when the batch is to be skipped, {name: λ·term that counted}).
    """
    counted: dict[str, Tensor] = {}
    for name in listed:
        if name not in terms:
            raise ValueError(f"losses: {name!r} is listed but not computed; computed terms: "
                             f"{sorted(terms)}.")
        if name not in weights:
            raise ValueError(f"weights: no weight for listed loss {name!r}; weights given: "
                             f"{sorted(weights)}.")
        value = weights[name] * terms[name]
        v = float(value.detach())
        if math.isfinite(v) and v > 0:
            counted[name] = value
    if not counted:
        return None, counted
    total = sum(counted.values())
    if float(total.detach()) < skip_below:
        return None, counted
    return total, counted
