"""Contrastive losses of SimCLR, PeCLR and SiMHand (specs/pretrain.md §1.4-§1.6, §8).

Pure functions on tensors, with thin `nn.Module` wrappers at the end (style rule R1).

- `nt_xent`: SimCLR's NT-Xent, exactly `vanila_contrastive_loss` of the official code (§1.4).
- `peclr_transform`: PeCLR's equivariant undo of crop jitter and rotation on the projection read as
  64 2-D points (§1.5), and its forward twin (`direction="apply"`) used to test it.
- `simhand_weights`: SiMHand's adaptive pair weights from 2-D keypoint distances (§1.6.3).
- `weighted_nt_xent`: the weighted NT-Xent, weights inside the exponent, for `mode` in
  {pos_neg, pos, neg} (§1.6.3).
- `chunked_loss`: evaluate any per-pair computation (the pre-training task passes the network AND
  the loss) per chunk of `loss_chunk_size` pairs and average the chunk losses: what SiMHand's
  "batch 8192 on 8 GPUs" (DataParallel) computed (§1.7, §8).

No gathering happens here: a distributed task gathers first and then calls these functions.

References:
    [0] SimCLR, Chen et al. 2020, arXiv:2002.05709, eq. (1).
    [1] PeCLR, Spurr et al. ICCV 2021, arXiv:2106.05953, §3.2.
    [2] SiMHand, Lin et al. ICLR 2025, arXiv:2502.15251, §3.3.
"""

from __future__ import annotations

import math
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from handkit.utils.check import check_choice, check_shape

__all__ = [
    "nt_xent",
    "peclr_transform",
    "select_weight_joints",
    "original_view_joints",
    "simhand_weights",
    "weighted_nt_xent",
    "chunked_loss",
    "NTXentLoss",
    "WeightedNTXentLoss",
]

WeightType = Literal["linear", "non_linear"]
DiffType = Literal["mpjpe", "w_o_abs", "w_abs"]
Mode = Literal["pos_neg", "pos", "neg"]
PcaMode = Literal["off", "official", "fixed"]


def _check_pair(z1: Tensor, z2: Tensor) -> None:
    dims = check_shape(z1, "N D", name="z1")
    check_shape(z2, f"{dims['N']} {dims['D']}", name="z2",
                hint="z1 and z2 must be the projections of the same N pairs.")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature: must be > 0, got {temperature}.")


def _log_ratio_loss(z1: Tensor, z2: Tensor, pos_w: Tensor | None, neg_w: Tensor | None,
                    temperature: float) -> Tensor:
    """The official loss skeleton; a `None` weight means "unweighted" (all ones)."""
    z1 = F.normalize(z1, dim=1, eps=1e-12)
    z2 = F.normalize(z2, dim=1, eps=1e-12)
    z = torch.cat([z1, z2], dim=0)
    n2 = z.shape[0]
    cov = z @ z.t()
    if neg_w is not None:
        cov = cov * neg_w
    logits = cov / temperature
    # Denominator: every other view, the positive partner included (its term carries W-_{a,a+-N}).
    off_diag = ~torch.eye(n2, dtype=torch.bool, device=z.device)
    log_neg = torch.logsumexp(logits.masked_select(off_diag).view(n2, n2 - 1), dim=1)
    pos = (z1 * z2).sum(dim=1)
    if pos_w is not None:
        pos = pos * pos_w
    log_pos = torch.cat([pos, pos], dim=0) / temperature
    return -(log_pos - log_neg).mean()


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    """NT-Xent, SimCLR [0] eq. (1); the official `vanila_contrastive_loss` (spec §1.4).

    `L = -(1/2N) sum_a log(exp(s_a,p(a)/t) / sum_{b != a} exp(s_ab/t))` over the 2N views
    `z = [z1; z2]`; the denominator includes the positive, so with N = 1 the loss is exactly 0.

    Args:
        z1: (N, D) float, projections of view 1. The official code passes L2-normalised rows;
            rows are L2-normalised here too (a no-op on normalised input, in value and, composed
            with the caller's normalisation, in gradient).
        z2: (N, D) float, projections of view 2; row i is the positive of `z1[i]`.
        temperature: t > 0; 0.5 is the official value (never overridden by a caller).

    Returns:
        () float, mean over the 2N anchors. Computed with log-sum-exp (the official code takes
        log(pos / sum exp), equal up to rounding).
    """
    _check_pair(z1, z2)
    _check_temperature(temperature)
    return _log_ratio_loss(z1, z2, None, None, temperature)


def weighted_nt_xent(z1: Tensor, z2: Tensor, pos_weights: Tensor | None,
                     neg_weights: Tensor | None, mode: Mode, temperature: float = 0.5) -> Tensor:
    """SiMHand's adaptive weighted NT-Xent (spec §1.6.3; `vanila_*weights_contrastive_loss`).

    The weights multiply the cosine similarity **inside** the exponent (a per-pair temperature
    t / w); they do not scale loss terms. A weight 0 turns `exp(s/t)` into the constant 1.

    - `pos_neg`: numerator `exp(w+_i s_i / t)`, denominator `sum_{b != a} exp(W-_ab s_ab / t)`.
      The positive partner's term in the denominator carries `W-_{a,a+-N}` (computed from the
      pair-to-pair distance), not `w+`: the official denominator detail, kept as is.
    - `pos`: weighted numerator, plain NT-Xent denominator (`neg_weights` is ignored).
    - `neg`: plain numerator, weighted denominator (`pos_weights` is ignored).

    With every weight 1 all three equal `nt_xent`.

    Args:
        z1, z2: (N, D) float, projections of the two views (rows L2-normalised here, as in
            `nt_xent`).
        pos_weights: (N,) float, w+ of pair i (from `simhand_weights`); may be None for `neg`.
        neg_weights: (2N, 2N) float, W- over the stacked views [view 1; view 2]; may be None
            for `pos`.
        mode: "pos_neg" | "pos" | "neg" (official `--pos_neg`).
        temperature: t > 0, official 0.5.

    Returns:
        () float, mean over the 2N anchors.
    """
    _check_pair(z1, z2)
    _check_temperature(temperature)
    check_choice(mode, _MODES, name="mode")
    n = z1.shape[0]
    use_pos, use_neg = _MODES[mode]
    if use_pos:
        check_shape(pos_weights, f"{n}", name="pos_weights",
                    hint=f"one weight per pair (mode={mode!r}).")
    if use_neg:
        check_shape(neg_weights, f"{2 * n} {2 * n}", name="neg_weights",
                    hint=f"one weight per pair of the 2N stacked views (mode={mode!r}).")
    return _log_ratio_loss(z1, z2, pos_weights if use_pos else None,
                           neg_weights if use_neg else None, temperature)


_MODES = {"pos_neg": (True, True), "pos": (True, False), "neg": (False, True)}


# ---------------------------------------------------------------------------------------------
# PeCLR equivariant transform (spec §1.5)
# ---------------------------------------------------------------------------------------------

_DIRECTIONS = {"undo": -1.0, "apply": 1.0}


def peclr_transform(projections: Tensor, jitter_x: Tensor, jitter_y: Tensor, angle_deg: Tensor,
                    *, image_size: tuple[int, int] = (128, 128), crop: bool = True,
                    rotate: bool = True, direction: Literal["undo", "apply"] = "undo") -> Tensor:
    """PeCLR's equivariant transform of projections read as 64 2-D points (spec §1.5).

    `direction="undo"` is `PeCLR.get_transformed_projections` after the encoder and head:
    L2-normalise, translate each point cloud by `-(jitter / size) * extent`, rotate by `-angle`
    about its centroid (OpenCV convention), L2-normalise again. `direction="apply"` runs the
    forward transform (rotate by `+angle`, then translate by `+(jitter / size) * extent`), the
    inverse of "undo" on normalised input; it exists to test the pair and to document the
    convention. Extent and centroid are detached, as in the official code. Not in place.

    Convention: point k of row i is `(p[i, 2k], p[i, 2k+1])` = (x, y). A positive angle turns
    points counter-clockwise on screen (y down), the same as the image rotation of
    `handkit.data.augment` and `cv2.getRotationMatrix2D`: `p' = c + R(a)(p - c)`,
    `R(a) = [[cos a, sin a], [-sin a, cos a]]`.

    Args:
        projections: (M, 2K) float, head outputs of M views (both views stacked, as official).
            Each row is L2-normalised first (the official code normalises each half; rows are
            independent so this is the same).
        jitter_x, jitter_y: (M,) float or int, the augmenter's *stored* jitter in pre-resize
            pixels (`AugmentParams.jitter[:, 0/1]`; always <= 0: displacement of the crop content
            relative to a centred crop, more negative when the origin was clamped at 0).
        angle_deg: (M,) float, the augmenter's rotation angle in degrees (`AugmentParams.angle_deg`).
        image_size: (H, W) of the network input. Official quirk kept: x is divided by H and y
            by W (only matters for non-square inputs).
        crop: invert the translation (official: only if "crop" is among the augmentation flags).
        rotate: invert the rotation (official: only if "rotate" is among the flags).
        direction: "undo" (official) or "apply".

    Returns:
        (M, 2K) float, L2-normalised rows.
    """
    dims = check_shape(projections, "M D", name="projections")
    m = dims["M"]
    if dims["D"] % 2:
        raise ValueError(f"projections: the last dim must be even (x, y pairs), got {dims['D']}.")
    check_choice(direction, _DIRECTIONS, name="direction")
    sign = _DIRECTIONS[direction]
    p = F.normalize(projections, dim=1, eps=1e-12).view(m, -1, 2)

    def vec(x: Tensor | float, name: str) -> Tensor:
        t = torch.as_tensor(x, dtype=p.dtype, device=p.device).reshape(-1)
        check_shape(t, f"{m}", name=name, hint="one value per row of projections.")
        return t

    def translate(q: Tensor) -> Tensor:
        t = torch.stack([vec(jitter_x, "jitter_x") / float(image_size[0]),
                         vec(jitter_y, "jitter_y") / float(image_size[1])], dim=1)
        qd = q.detach()
        extent = qd.amax(dim=1) - qd.amin(dim=1)  # (M, 2)
        return q + (sign * t * extent)[:, None, :]

    def turn(q: Tensor) -> Tensor:
        a = torch.deg2rad(sign * vec(angle_deg, "angle_deg"))
        c, s = torch.cos(a), torch.sin(a)
        rot = torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2)  # (M, 2, 2)
        centre = q.detach().mean(dim=1, keepdim=True)
        return centre + (q - centre) @ rot.transpose(1, 2)

    steps = ([translate] if crop else []) + ([turn] if rotate else [])
    # The image was rotated first and cropped second: undo translates first, apply rotates first.
    for step in (steps if direction == "undo" else steps[::-1]):
        p = step(p)
    return F.normalize(p.reshape(m, -1), dim=1, eps=1e-12)


# ---------------------------------------------------------------------------------------------
# SiMHand adaptive weights (spec §1.6.3)
# ---------------------------------------------------------------------------------------------

def select_weight_joints(aug1: Tensor, aug2: Tensor, orig1: Tensor | None, orig2: Tensor | None,
                         joints_type: Literal["augmented", "original"], *,
                         fixed: bool = False) -> tuple[Tensor, Tensor]:
    """Which keypoints feed `simhand_weights` (official `--joints_type`, spec §1.6.3).

    Official behaviour (default, `fixed=False`): the code tests `joints_type is 'original'`, which
    is False for any run-time string, so the augmented keypoints are ALWAYS used, whatever
    `joints_type` says. With `fixed=True` the comparison is `==` and "original" returns
    `orig1, orig2` (un-augmented keypoints, e.g. the loader crop keypoints rescaled to 128 px).

    Args:
        aug1, aug2: (N, 21, 2) float, pixels of each view's 128-px crop after its augmentation.
        orig1, orig2: (N, 21, 2) float or None, un-augmented keypoints (only read when fixed).
        joints_type: "augmented" | "original".
        fixed: use `==` instead of the official `is`.

    Returns:
        (joints1, joints2), each (N, 21, 2).
    """
    check_choice(joints_type, ("augmented", "original"), name="joints_type")
    if fixed and joints_type == "original":
        if orig1 is None or orig2 is None:
            raise ValueError("orig1/orig2: joints_type='original' with fixed=True needs them.")
        return orig1, orig2
    return aug1, aug2


def original_view_joints(keypoints: Tensor, input_hw: tuple[int, int],
                         output_hw: tuple[int, int]) -> Tensor:
    """The un-augmented keypoints of a view in its output pixels (`joints_type="original"`).

    The official fixed reading (spec §1.6.3) is `joints_raw × 128`: the loader crop's keypoints
    normalised to that crop and rescaled to the 128-px view, with no augmentation. Here the
    loader crop is the image handed to the augmenter, so u scales by W_out / W_in, v by
    H_out / H_in.

    Args:
        keypoints: (N, 21, 2) float, (u, v) pixels of the un-augmented image.
        input_hw: (H_in, W_in) of that image.
        output_hw: (H_out, W_out) of the augmented view (`AugmentConfig.output_size`).

    Returns:
        (N, 21, 2) float, (u, v) pixels of the view.
    """
    check_shape(keypoints, "N 21 2", name="keypoints")
    scale = torch.tensor([output_hw[1] / input_hw[1], output_hw[0] / input_hw[0]],
                         dtype=keypoints.dtype, device=keypoints.device)
    return keypoints * scale


def _distances(j1: Tensor, j2: Tensor, diff_type: str) -> tuple[Tensor, Tensor]:
    """(N,) positive and (2N, 2N) negative distances, exactly as tabulated in spec §1.6.3."""
    b = torch.cat([j1, j2], dim=0)
    pair = b[:, None] - b[None, :]  # (2N, 2N, 21, 2)
    if diff_type == "mpjpe":
        return (j1 - j2).norm(dim=-1).mean(dim=1), pair.norm(dim=-1).mean(dim=2)
    d, pair = (j1 - j2, pair) if diff_type == "w_o_abs" else ((j1 - j2).abs(), pair.abs())
    # Positive: mean over joints, norm over x/y. Negative: mean over x/y, norm over joints.
    return d.mean(dim=1).norm(dim=1), pair.mean(dim=-1).norm(dim=2)


def _pca_project(j1: Tensor, j2: Tensor, dim: int, pca: str) -> tuple[Tensor, Tensor]:
    n = j1.shape[0]
    x1, x2 = j1.reshape(n, -1), j2.reshape(n, -1)
    limit = min(n, x1.shape[1]) if pca == "official" else min(2 * n, x1.shape[1])
    if dim > limit:
        raise ValueError(f"pca_dim: {dim} needs a chunk of at least {dim} pairs "
                         f"(torch.pca_lowrank needs q <= min(N, 42)); got N={n}.")
    if pca == "official":
        # Official apply_pca: randomised pca_lowrank (global torch RNG) run separately per view,
        # CPU float32, then the UNcentred data projected on each view's own basis.
        def one(x: Tensor) -> Tensor:
            xc = x.float().cpu()
            return (xc @ torch.pca_lowrank(xc, q=dim)[2][:, :dim]).to(x.device)
        return one(x1), one(x2)
    # Fixed: one deterministic basis (exact SVD) fitted on both views, centred data.
    x = torch.cat([x1, x2], dim=0)
    mean = x.mean(dim=0, keepdim=True)
    v = torch.linalg.svd(x - mean, full_matrices=False)[2][:dim].t()
    return (x1 - mean) @ v, (x2 - mean) @ v


def simhand_weights(joints1: Tensor, joints2: Tensor, weight_type: WeightType,
                    diff_type: DiffType = "mpjpe", *, lambda_pos: float | None = None,
                    lambda_neg: float | None = None, pca: PcaMode = "off", pca_dim: int = 14,
                    linear_eps: float = 0.0) -> tuple[Tensor, Tensor]:
    """SiMHand adaptive weights [2] (spec §1.6.3; `get_weights_{linear,nonlinear}[_with_pca]`).

    Distances (no gradient flows through the keypoints in the official code; call with detached
    keypoints): `d+` (N,) compares pair i (joints1[i] vs joints2[i]); `D` (2N, 2N) compares all
    stacked views `[joints1; joints2]`, zero diagonal included.

    - diff_type `mpjpe`: mean over joints of the per-joint L2 distance (both terms).
    - `w_o_abs`: d+ = |mean_j (J1 - J2)|_2; D = sqrt(sum_j (mean_xy (Ba - Bb))^2). Inconsistent
      between d+ and D (spec §1.6.3); kept exactly for compatibility.
    - `w_abs`: as `w_o_abs` with |.| applied to the coordinate differences first.

    weight_type:
    - `linear` (README default): min-max within the call, `w = (max d - d) / (max d - min d +
      linear_eps)`. Official `linear_eps=0`: NaN when all d+ are equal (e.g. N=1). Opt-in fix:
      `linear_eps > 0` keeps every weight finite (all 0 in that degenerate case).
    - `non_linear`: `w = sigmoid(-lambda (d - mean d))`; the mean of D includes its zero diagonal.
      lambda acts on raw pixel distances. The official CLI has no default and offers lambda_pos in
      {5.0, 2.5, 1.0} and lambda_neg in {0.05, 0.01, 0.005}; both are required here.

    pca (SiMHand_W `--use_pca`):
    - `off` (default): distances on the keypoints as above.
    - `official`: the released `apply_pca`, unsound but kept for reproducibility: randomised
      `torch.pca_lowrank(q=pca_dim)` fitted separately on each view (different, sign-ambiguous,
      RNG-dependent bases; global torch RNG), uncentred data projected. Needs N >= pca_dim.
    - `fixed`: one exact-SVD basis fitted on the centred stacked views, deterministic.
    In both PCA modes d+ = |P1_i - P2_i|, D_ab = |Q_a - Q_b| and `diff_type` has no effect.

    Args:
        joints1, joints2: (N, 21, 2) float, pixels of the 128-px crops (each view's keypoints after
            its own augmentation, official `joints{1,2}_aug[..., :2]`; see `select_weight_joints`).
        weight_type: "linear" | "non_linear".
        diff_type: "mpjpe" | "w_o_abs" | "w_abs".
        lambda_pos, lambda_neg: sigmoid slopes, 1/pixel (non_linear only).
        pca: "off" | "official" | "fixed".
        pca_dim: PCA components (official 14).
        linear_eps: added to the min-max range (official 0).

    Returns:
        (pos_weights (N,), neg_weights (2N, 2N)), dtype of joints1 (float32 in PCA "official").
    """
    dims = check_shape(joints1, "N 21 2", name="joints1",
                       hint="2-D keypoints in crop pixels; drop the depth column with [..., :2].")
    check_shape(joints2, f"{dims['N']} 21 2", name="joints2")
    check_choice(weight_type, ("linear", "non_linear"), name="weight_type")
    check_choice(diff_type, ("mpjpe", "w_o_abs", "w_abs"), name="diff_type")
    check_choice(pca, ("off", "official", "fixed"), name="pca")
    j1, j2 = joints1.detach(), joints2.detach()
    if pca == "off":
        pos_d, neg_d = _distances(j1, j2, diff_type)
    else:
        p1, p2 = _pca_project(j1, j2, pca_dim, pca)
        q = torch.cat([p1, p2], dim=0)
        pos_d, neg_d = (p1 - p2).norm(dim=-1), (q[:, None] - q[None, :]).norm(dim=-1)
    if weight_type == "linear":
        if linear_eps < 0:
            raise ValueError(f"linear_eps: must be >= 0, got {linear_eps}.")

        def scale(d: Tensor) -> Tensor:
            return (d.max() - d) / (d.max() - d.min() + linear_eps)
        return scale(pos_d), scale(neg_d)
    if lambda_pos is None or lambda_neg is None:
        raise ValueError("lambda_pos/lambda_neg: required for weight_type='non_linear' "
                         "(official choices: lambda_pos 5.0/2.5/1.0, lambda_neg 0.05/0.01/0.005).")
    return (torch.sigmoid(-lambda_pos * (pos_d - pos_d.mean())),
            torch.sigmoid(-lambda_neg * (neg_d - neg_d.mean())))


# ---------------------------------------------------------------------------------------------
# Per-chunk evaluation (spec §1.7 "batch-size semantics", §8)
# ---------------------------------------------------------------------------------------------

def chunked_loss(fn: Callable[..., Tensor], *per_pair: Tensor,
                 loss_chunk_size: int | None) -> Tensor:
    """Evaluate `fn(*chunk)` on consecutive chunks of pairs; the mean of the chunk losses.

    SiMHand's `-batch_size 8192` under DataParallel on 8 GPUs ran `training_step` (network, loss
    AND the min-max weight normalisation) on 8 chunks of 1024 pairs and averaged the 8 losses.
    Passing `loss_chunk_size=1024` and an `fn` that does all of it for one chunk (the
    pre-training task passes its views through the network inside `fn`, so BatchNorm statistics
    are per chunk too) reproduces that on any number of devices. The last chunk may be smaller;
    chunks are averaged with equal weight (as DataParallel's mean of device losses).

    Args:
        fn: a loss over one chunk, called with the chunk of every `per_pair` tensor in order,
            e.g. `nt_xent` with (z1, z2).
        per_pair: tensors with N rows each (projections (N, D), views (N, 3, H, W),
            keypoints (N, 21, 2), ...), split alongside.
        loss_chunk_size: pairs per chunk; None means one chunk (the whole batch).

    Returns:
        () float.
    """
    if not per_pair:
        raise ValueError("per_pair: give at least one tensor with one row per pair.")
    n = per_pair[0].shape[0]
    for i, t in enumerate(per_pair):
        if t.shape[0] != n:
            raise ValueError(f"per_pair[{i}]: expected {n} rows (one per pair), got {t.shape[0]}.")
    if loss_chunk_size is not None and loss_chunk_size < 1:
        raise ValueError(f"loss_chunk_size: must be >= 1 or None, got {loss_chunk_size}.")
    if loss_chunk_size is None or loss_chunk_size >= n:
        return fn(*per_pair)
    parts = [t.split(loss_chunk_size) for t in per_pair]
    losses = [fn(*chunk) for chunk in zip(*parts)]
    return torch.stack(losses).mean()


# ---------------------------------------------------------------------------------------------
# Thin modules
# ---------------------------------------------------------------------------------------------

class NTXentLoss(nn.Module):
    """NT-Xent [0] as a module: `forward(z1, z2)`; see `nt_xent`. Chunking is `chunked_loss`'s
    job (around the network, so that BatchNorm statistics are per chunk too)."""

    def __init__(self, temperature: float = 0.5):
        super().__init__()
        _check_temperature(temperature)
        self.temperature = temperature

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return nt_xent(z1, z2, self.temperature)


class WeightedNTXentLoss(nn.Module):
    """SiMHand's weighted NT-Xent [2]: `forward(z1, z2, joints1, joints2)`.

    Weights are computed from the call's keypoints (`simhand_weights`: min-max normalised
    within the call, so call it per chunk through `chunked_loss`), then `weighted_nt_xent`.
    Defaults are the README's: linear, mpjpe, pos_neg, t = 0.5.
    """

    def __init__(self, weight_type: WeightType = "linear", diff_type: DiffType = "mpjpe",
                 mode: Mode = "pos_neg", temperature: float = 0.5, *,
                 lambda_pos: float | None = None, lambda_neg: float | None = None,
                 pca: PcaMode = "off", pca_dim: int = 14, linear_eps: float = 0.0):
        super().__init__()
        check_choice(weight_type, ("linear", "non_linear"), name="weight_type")
        check_choice(diff_type, ("mpjpe", "w_o_abs", "w_abs"), name="diff_type")
        check_choice(mode, _MODES, name="mode")
        check_choice(pca, ("off", "official", "fixed"), name="pca")
        _check_temperature(temperature)
        if weight_type == "non_linear" and (lambda_pos is None or lambda_neg is None):
            raise ValueError("lambda_pos/lambda_neg: required for weight_type='non_linear' "
                             "(official: lambda_pos 5.0/2.5/1.0, lambda_neg 0.05/0.01/0.005).")
        if linear_eps < 0 or not math.isfinite(linear_eps):
            raise ValueError(f"linear_eps: must be a finite value >= 0, got {linear_eps}.")
        self.weight_type, self.diff_type, self.mode = weight_type, diff_type, mode
        self.temperature = temperature
        self.weight_kw = dict(lambda_pos=lambda_pos, lambda_neg=lambda_neg, pca=pca,
                              pca_dim=pca_dim, linear_eps=linear_eps)

    def forward(self, z1: Tensor, z2: Tensor, joints1: Tensor, joints2: Tensor) -> Tensor:
        pos_w, neg_w = simhand_weights(joints1, joints2, self.weight_type, self.diff_type,
                                       **self.weight_kw)
        return weighted_nt_xent(z1, z2, pos_w, neg_w, self.mode, self.temperature)
