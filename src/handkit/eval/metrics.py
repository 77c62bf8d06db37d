"""Keypoint and mesh metrics: MPJPE, PA-MPJPE, PCK/AUC, MRRPE, PA-MPVPE, F-score.

Every metric takes batched torch tensors (numpy is converted), checks shapes and finiteness
(ValueError naming the argument), and returns torch tensors in the input's unit (meters in
handkit; multiply by 1000 for the customary mm). Per-joint validity masks `valid` (B, J) drop
joints from every average; invalid joints may hold any finite value.

**PCK/AUC conventions differ between codebases** (specs/pretrain.md §4.1-4.2, specs/mesh.md §3.8);
`PCK_PRESETS` names them and `pck_curve` takes threshold range, unit and strict/inclusive
comparison as explicit arguments:

- ``freihand`` (default; the FreiHAND Codalab leaderboard, Zimmermann's `EvalUtil`):
  `linspace(0, 50, 100)` mm, PCK(t) = mean(d ≤ t) (inclusive), AUC = trapz / 50 mm.
- ``peclr`` (PeCLR/SiMHand `get_pck_curves` + `cal_auc_joints`): `arange(0, 0.5, 0.005)` (100
  values, 0.5 excluded) **in the data's units**, PCK(t) = mean(d < t) (strict), AUC = trapz /
  0.495. On metric 3D that is 0-50 cm, not comparable with the leaderboard's AUC.
- ``minimal_hand`` (Zimmermann's `EvalUtil` as called in SiMHand's minimal-hand `aik_pose.py`):
  `linspace(20, 50, 15)` mm, inclusive, AUC = trapz / 30 mm. (The paper's DetNet thresholds live
  in the unreleased `train_detnet.py`; this is the only in-repo call.)

All three average per joint first (over the valid samples of that joint) and then over joints,
skipping joints with no valid sample, as their code does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, Sequence

import numpy as np
import torch
from torch import Tensor

from handkit.geometry._tensors import float_tensor
from handkit.geometry.align import procrustes_transform
from handkit.utils.check import check_choice, check_finite, check_shape

__all__ = [
    "PCKSpec", "PCKCurve", "PCK_PRESETS", "joint_errors", "mpjpe", "pa_mpjpe", "pa_mpvpe",
    "pa_align", "procrustes_mean", "pck_curve", "auc", "mrrpe", "precision_recall", "f_score",
]

Reduction = Literal["mean", "joint_mean", "per_joint", "none"]
_UNITS_IN_M = {"m": 1.0, "mm": 1e-3}


def _pair(pred: Any, gt: Any, valid: Any, names: tuple[str, str] = ("pred", "gt")
          ) -> tuple[Tensor, Tensor, Tensor]:
    """Checked pred, gt (B, J, C) and a (B, J) bool mask. Empty batches raise."""
    pred = float_tensor(pred, names[0])
    gt = float_tensor(gt, names[1]).to(pred)
    check_shape(pred, "B J C", name=names[0])
    if gt.shape != pred.shape:
        raise ValueError(f"{names[1]}: expected the shape of {names[0]} {tuple(pred.shape)}, "
                         f"got {tuple(gt.shape)}.")
    check_finite(pred, name=names[0])
    check_finite(gt, name=names[1])
    return pred, gt, _mask(valid, pred.shape[:2], pred.device)


def _mask(valid: Any, shape: tuple[int, ...], device: torch.device) -> Tensor:
    if valid is None:
        return torch.ones(shape, dtype=torch.bool, device=device)
    mask = torch.as_tensor(np.asarray(valid) if not isinstance(valid, Tensor) else valid)
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"valid: expected {tuple(shape)}, got {tuple(mask.shape)}.")
    if mask.dtype != torch.bool:
        check_finite(mask, name="valid")
        mask = mask > 0
    return mask.to(device)


def joint_errors(pred: Any, gt: Any) -> Tensor:
    """Per-point Euclidean distances ‖pred − gt‖₂.

    Args:
        pred: (B, J, C) float (C = 3 for 3D, 2 for pixels), any unit.
        gt: (B, J, C) float, same unit.

    Returns:
        (B, J) float, the input's unit.
    """
    pred, gt, _ = _pair(pred, gt, None)
    return (pred - gt).norm(dim=-1)


def _reduce(errors: Tensor, mask: Tensor, reduction: str) -> Tensor:
    check_choice(reduction, ("mean", "joint_mean", "per_joint", "none"), name="reduction")
    if reduction == "none":
        return torch.where(mask, errors, torch.full_like(errors, float("nan")))
    w = mask.to(errors.dtype)
    count = w.sum(0)
    per_joint = (errors * w).sum(0) / count.clamp_min(1)
    per_joint = torch.where(count > 0, per_joint, torch.full_like(per_joint, float("nan")))
    if reduction == "per_joint":
        return per_joint
    if not bool(mask.any()):
        raise ValueError("valid: no valid joint in the batch; the mean is undefined.")
    if reduction == "joint_mean":
        return per_joint[count > 0].mean()
    return (errors * w).sum() / w.sum()


def mpjpe(pred: Any, gt: Any, valid: Any = None, *, reduction: Reduction = "mean") -> Tensor:
    """Mean per-joint position error (no alignment; root-align the inputs first if wanted).

    Args:
        pred: (B, J, C) float, meters (or any unit; the result has the same unit).
        gt: (B, J, C) float, same unit and frame.
        valid: optional (B, J) bool (or 0/1) mask of joints to count.
        reduction: ``mean`` over all valid (sample, joint) pairs; ``joint_mean`` = mean over
            joints of per-joint means (FreiHAND `EvalUtil`, DIGIT); ``per_joint`` (J,), NaN for a
            joint with no valid sample; ``none`` (B, J), NaN where invalid.

    Returns:
        () float for ``mean``/``joint_mean``, else as above.
    """
    pred, gt, mask = _pair(pred, gt, valid)
    return _reduce((pred - gt).norm(dim=-1), mask, reduction)


def pa_mpjpe(pred: Any, gt: Any, valid: Any = None, *, reduction: Reduction = "mean",
             reflection: bool = False) -> Tensor:
    """MPJPE after Procrustes (similarity) alignment of each predicted hand onto its GT.

    The similarity is fitted on valid joints only (`pa_align`). Arguments and return as in
    `mpjpe`; C must be 3. Invariant to any similarity transform of `pred`. `reflection`: as in
    `pa_align` (True = FreiHAND's `align_w_scale`, which may mirror).
    """
    return _aligned_error(pred, gt, valid, reduction, ("pred", "gt"), reflection)


def pa_mpvpe(pred_verts: Any, gt_verts: Any, valid: Any = None, *,
             reduction: Reduction = "mean", reflection: bool = False) -> Tensor:
    """Mean per-vertex position error after Procrustes alignment of the meshes themselves.

    As FreiHAND's `eval.py` (``mesh_al_mean3d``), the similarity is fitted on the vertices, not
    on the joints; `eval.mesh_metrics.mesh_scores` gives every FreiHAND mesh score at once.

    Args:
        pred_verts: (B, V, 3) float, meters, vertices in correspondence with `gt_verts`.
        gt_verts: (B, V, 3) float, meters.
        valid, reduction: as in `mpjpe` (per vertex).
        reflection: as in `pa_align`.
    """
    return _aligned_error(pred_verts, gt_verts, valid, reduction, ("pred_verts", "gt_verts"),
                          reflection)


def pa_align(pred: Any, gt: Any, valid: Any = None, *, reflection: bool = False,
             apply_to: Any = None) -> Tensor:
    """`pred` (or `apply_to`) moved by the least-squares similarity that maps `pred` onto `gt`.

    reflection=False: the best proper similarity (rotation, det +1;
    `geometry.align.procrustes_transform`, PeCLR's convention). reflection=True: the best
    *orthogonal* one, which may mirror, as FreiHAND's `align_w_scale` (scipy
    `orthogonal_procrustes` on the centred, norm-scaled sets): per sample the better of the
    proper fit of `pred` and of its mirror image (x negated) in weighted squared error. The two
    differ only when a mirror image fits better, i.e. for predictions of the wrong chirality.

    Args:
        pred: (B, N, 3) float, meters, the points the map is fitted on.
        gt: (B, N, 3) float, meters, their targets.
        valid: optional (B, N) bool/weights of the fit.
        apply_to: optional (B, M, 3) float, meters, points moved by the fitted map instead of
            `pred` (e.g. mesh vertices moved by the similarity fitted on joints).

    Returns:
        (B, N, 3) (or (B, M, 3)) float, meters, in gt's frame.
    """
    pred = float_tensor(pred, "pred")
    points = pred if apply_to is None else float_tensor(apply_to, "apply_to").to(pred)
    check_shape(points, f"{pred.shape[0]} M 3", name="apply_to")
    fit = procrustes_transform(pred, gt, valid)
    if not reflection:
        return fit.apply(points)
    mirror = pred.new_tensor([-1.0, 1.0, 1.0])
    fit_mirror = procrustes_transform(pred * mirror, gt, valid)
    gt = float_tensor(gt, "gt").to(pred)
    w = pred.new_ones(pred.shape[:2]) if valid is None else float_tensor(valid, "valid").to(pred)
    err = (w * ((fit.apply(pred) - gt) ** 2).sum(-1)).sum(1)
    err_mirror = (w * ((fit_mirror.apply(pred * mirror) - gt) ** 2).sum(-1)).sum(1)
    return torch.where((err_mirror < err)[:, None, None], fit_mirror.apply(points * mirror),
                       fit.apply(points))


def procrustes_mean(poses: Any, iterations: int = 5) -> Tensor:
    """The generalised Procrustes mean of a set of poses: start from the first, then
    `iterations` times align every pose onto the current mean by a proper similarity
    (`pa_align`) and average, centred. The mean-pose reference of PA-MPJPE (a plain mean of
    camera-frame poses blurs over the hands' rotations and is a weak reference).

    Args:
        poses: (B, N, 3) float, meters, B >= 1.

    Returns:
        (N, 3) float64, centred at the origin, about the poses' scale.
    """
    poses = float_tensor(poses, "poses").double()
    check_shape(poses, "B N 3", name="poses")
    if poses.shape[0] == 0:
        raise ValueError("poses: expected at least one pose, got none.")
    mean = poses[0] - poses[0].mean(0)
    for _ in range(iterations):
        mean = pa_align(poses, mean.expand_as(poses)).mean(0)
        mean = mean - mean.mean(0)
    return mean


def _aligned_error(pred: Any, gt: Any, valid: Any, reduction: str,
                   names: tuple[str, str], reflection: bool) -> Tensor:
    pred, gt, mask = _pair(pred, gt, valid, names)
    check_shape(pred, "B N 3", name=names[0])
    aligned = pa_align(pred, gt, mask, reflection=reflection)
    return _reduce((aligned - gt).norm(dim=-1), mask, reduction)


@dataclass(frozen=True)
class PCKSpec:
    """Thresholds of a PCK curve, their unit and the comparison.

    Attributes:
        thresholds: increasing values, at least 2.
        unit: ``m`` or ``mm`` (errors are converted from `errors_unit`), or ``data`` (thresholds
            are in the errors' own unit, e.g. pixels, or PeCLR's unit-agnostic range).
        inclusive: PCK(t) = mean(d ≤ t) if True, mean(d < t) if False.
    """

    thresholds: tuple[float, ...]
    unit: Literal["m", "mm", "data"]
    inclusive: bool

    def __post_init__(self) -> None:
        check_choice(self.unit, ("m", "mm", "data"), name="unit")
        t = np.asarray(self.thresholds, dtype=np.float64)
        if t.ndim != 1 or t.size < 2 or not np.all(np.diff(t) > 0) or not np.all(np.isfinite(t)):
            raise ValueError("thresholds: need at least 2 finite, strictly increasing values.")

    @classmethod
    def linspace(cls, start: float, stop: float, steps: int, unit: str, inclusive: bool
                 ) -> "PCKSpec":
        """`numpy.linspace(start, stop, steps)` thresholds (stop included)."""
        return cls(tuple(np.linspace(start, stop, steps).tolist()), unit, inclusive)

    @classmethod
    def arange(cls, start: float, stop: float, step: float, unit: str, inclusive: bool
               ) -> "PCKSpec":
        """`numpy.arange(start, stop, step)` thresholds (stop excluded)."""
        return cls(tuple(np.arange(start, stop, step).tolist()), unit, inclusive)


PCK_PRESETS: dict[str, PCKSpec] = {
    "freihand": PCKSpec.linspace(0.0, 50.0, 100, unit="mm", inclusive=True),
    "peclr": PCKSpec.arange(0.0, 0.5, 0.005, unit="data", inclusive=False),
    "minimal_hand": PCKSpec.linspace(20.0, 50.0, 15, unit="mm", inclusive=True),
}


@dataclass(frozen=True)
class PCKCurve:
    """A PCK curve; `pck` is the mean of the per-joint curves over joints with valid samples."""

    thresholds: Tensor  # (T,) float64, in `unit`
    pck: Tensor  # (T,) float64 in [0, 1]
    per_joint: Tensor  # (J, T) float64, NaN rows for joints without a valid sample
    unit: str
    inclusive: bool

    @property
    def auc(self) -> float:
        """Area under `pck`, normalised by the threshold range (= mean of per-joint AUCs)."""
        return float(auc(self.pck, self.thresholds))


def pck_curve(errors: Any, *, preset: str = "freihand", thresholds: Any = None,
              unit: str | None = None, inclusive: bool | None = None,
              errors_unit: Literal["m", "mm"] = "m", valid: Any = None) -> PCKCurve:
    """Percentage of correct keypoints over a range of thresholds.

    Args:
        errors: (B, J) float, non-negative distances (`joint_errors(pred, gt)`, or of
            `procrustes(pred, gt)` for PA-PCK), in `errors_unit`.
        preset: a `PCK_PRESETS` name supplying thresholds, unit and comparison.
        thresholds: overrides the preset's thresholds, (T,) increasing, in `unit`.
        unit: overrides the preset's unit: ``m``, ``mm`` or ``data`` (no conversion).
        inclusive: overrides the preset's comparison (True: d ≤ t, False: d < t).
        errors_unit: unit of `errors` (``m`` in handkit); ignored when the unit is ``data``.
        valid: optional (B, J) bool mask.

    Returns:
        `PCKCurve` (thresholds in `unit`, the joint-mean curve, per-joint curves, `.auc`).
    """
    check_choice(preset, PCK_PRESETS, name="preset")
    check_choice(errors_unit, _UNITS_IN_M, name="errors_unit")
    spec = PCK_PRESETS[preset]
    changes = {k: v for k, v in (("thresholds", None if thresholds is None else
                                  tuple(float(x) for x in np.asarray(thresholds).ravel())),
                                 ("unit", unit), ("inclusive", inclusive)) if v is not None}
    spec = replace(spec, **changes) if changes else spec
    errors = float_tensor(errors, "errors").double()
    check_shape(errors, "B J", name="errors")
    check_finite(errors, name="errors")
    if bool((errors < 0).any()):
        raise ValueError("errors: distances must be >= 0.")
    mask = _mask(valid, tuple(errors.shape), errors.device)
    if spec.unit != "data":
        errors = errors * (_UNITS_IN_M[errors_unit] / _UNITS_IN_M[spec.unit])
    t = torch.tensor(spec.thresholds, dtype=torch.float64, device=errors.device)
    d = errors[..., None]
    hit = (d <= t) if spec.inclusive else (d < t)  # (B, J, T)
    w = mask.to(torch.float64)[..., None]
    count = w.sum(0)  # (J, 1)
    per_joint = (hit.to(torch.float64) * w).sum(0) / count.clamp_min(1)
    seen = count[:, 0] > 0
    if not bool(seen.any()):
        raise ValueError("valid: no valid joint in the batch; PCK is undefined.")
    per_joint = torch.where(seen[:, None], per_joint, torch.full_like(per_joint, float("nan")))
    return PCKCurve(t, per_joint[seen].mean(0), per_joint, spec.unit, spec.inclusive)


def auc(pck: Any, thresholds: Any) -> Tensor:
    """Normalised area under a PCK curve: trapz(pck, thresholds) / (thresholds[-1] − thresholds[0]).

    Args:
        pck: (..., T) float in [0, 1].
        thresholds: (T,) float, increasing, T >= 2.

    Returns:
        (...) float in [0, 1].
    """
    pck = float_tensor(pck, "pck")
    t = float_tensor(thresholds, "thresholds").to(pck)
    check_shape(t, "T", name="thresholds")
    if t.shape[0] < 2 or not bool((t[1:] > t[:-1]).all()):
        raise ValueError("thresholds: need at least 2 strictly increasing values.")
    if pck.shape[-1:] != t.shape:
        raise ValueError(f"pck: expected last dim {t.shape[0]} (one value per threshold), "
                         f"got {tuple(pck.shape)}.")
    return torch.trapezoid(pck, t, dim=-1) / (t[-1] - t[0])


def mrrpe(pred_right: Any, pred_left: Any, gt_right: Any, gt_left: Any,
          valid: Any = None) -> Tensor:
    """Mean relative-root position error of two hands (specs/digit.md §4.3).

    error_b = ‖(L̂_b − R̂_b) − (L_b − R_b)‖₂, averaged over valid frames (DIGIT counts
    interacting frames with both roots valid).

    Args:
        pred_right, pred_left: (B, 3) float, meters, camera frame, predicted root positions.
        gt_right, gt_left: (B, 3) float, meters, camera frame.
        valid: optional (B,) bool mask of frames to count.

    Returns:
        () float, meters.
    """
    names = ("pred_right", "pred_left", "gt_right", "gt_left")
    pts = [float_tensor(x, n) for x, n in zip((pred_right, pred_left, gt_right, gt_left), names)]
    b = check_shape(pts[0], "B 3", name=names[0])["B"]
    for x, n in zip(pts, names):
        check_shape(x, f"{b} 3", name=n)
        check_finite(x, name=n)
    pr, pl, gr, gl = (x.to(pts[0]) for x in pts)
    err = ((pl - pr) - (gl - gr)).norm(dim=-1)
    mask = _mask(valid, (b,), err.device)
    if not bool(mask.any()):
        raise ValueError("valid: no valid frame; MRRPE is undefined.")
    return err[mask].mean()


def _nearest_both(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Exact nearest-neighbour distances both ways: (B, N) from a to b, (B, M) from b to a.

    A KD-tree in float64 (scipy `cKDTree`, exact Euclidean, as open3d's
    `compute_point_cloud_to_point_cloud_distance` in FreiHAND's `calculate_fscore`). Not
    `torch.cdist`: its matrix-product path computes ‖a‖² + ‖b‖² − 2a·b, whose float32
    cancellation gives up to ~1.4 mm for coincident points 0.5-1.5 m from the camera.
    """
    from scipy.spatial import cKDTree

    a64, b64 = a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()
    d_ab, d_ba = np.empty(a64.shape[:2]), np.empty(b64.shape[:2])
    for i in range(a64.shape[0]):
        d_ab[i] = cKDTree(b64[i]).query(a64[i])[0]
        d_ba[i] = cKDTree(a64[i]).query(b64[i])[0]
    return torch.from_numpy(d_ab).to(a.device), torch.from_numpy(d_ba).to(a.device)


def precision_recall(pred: Any, gt: Any, threshold: float | Sequence[float] = 0.005, *,
                     inclusive: bool = False) -> tuple[Tensor, Tensor]:
    """Point-set precision and recall at a distance threshold (no correspondence needed).

    precision = fraction of pred points within `threshold` of their nearest gt point; recall =
    fraction of gt points within `threshold` of their nearest pred point (Knapitsch et al. 2017).
    Strict (<) by default, as FreiHAND's `calculate_fscore` (whose variables name the two the
    other way round; the F-score is symmetric, so it is unaffected). Invariant to the order of
    either point set; no correspondence is used.

    Args:
        pred: (B, N, 3) float, meters (e.g. mesh vertices, aligned first if wanted).
        gt: (B, M, 3) float, meters.
        threshold: meters (0.005 and 0.015 for F@5 mm, F@15 mm), or a sequence of T
            thresholds (the nearest neighbours are then searched once for all).

    Returns:
        precision (B,), recall (B,), float in [0, 1]; (B, T) each for a sequence.
    """
    pred = float_tensor(pred, "pred")
    gt = float_tensor(gt, "gt").to(pred)
    b = check_shape(pred, "B N 3", name="pred")["B"]
    check_shape(gt, f"{b} M 3", name="gt")
    check_finite(pred, name="pred")
    check_finite(gt, name="gt")
    t = torch.as_tensor(threshold, dtype=torch.float64)
    if t.ndim > 1 or t.numel() == 0 or not bool((t > 0).all()):
        raise ValueError(f"threshold: must be > 0 (meters), one value or a sequence, got "
                         f"{threshold}.")
    d_pred, d_gt = _nearest_both(pred, gt)
    t = t.to(d_pred.device).reshape(-1)

    def within(d: Tensor) -> Tensor:  # (B, N) -> (B, T) fraction within each threshold
        hit = d[..., None] <= t if inclusive else d[..., None] < t
        return hit.to(pred.dtype).mean(1)
    p, r = within(d_pred), within(d_gt)
    return (p[:, 0], r[:, 0]) if torch.as_tensor(threshold).ndim == 0 else (p, r)


def f_score(pred: Any, gt: Any, threshold: float | Sequence[float] = 0.005, *,
            inclusive: bool = False, reduction: Literal["mean", "none"] = "mean") -> Tensor:
    """F-score 2PR / (P + R) of point sets at a threshold (0 when P + R = 0).

    FreiHAND reports F@5 mm and F@15 mm on mesh vertices after Procrustes alignment of the
    vertices, per sample, averaged over samples: `f_score(pa_align(pred_verts, gt_verts,
    reflection=True), gt_verts, 0.005)`; `eval.mesh_metrics.mesh_scores` does it all.

    Args:
        pred, gt, threshold, inclusive: as in `precision_recall`.
        reduction: ``mean`` over the batch, or ``none`` for (B,).

    Returns:
        () or (B,) float in [0, 1]; with a sequence of T thresholds (T,) or (B, T).
    """
    check_choice(reduction, ("mean", "none"), name="reduction")
    p, r = precision_recall(pred, gt, threshold, inclusive=inclusive)
    f = torch.where(p + r > 0, 2 * p * r / (p + r).clamp_min(1e-12), torch.zeros_like(p))
    return f.mean(0) if reduction == "mean" else f
