"""FreiHAND's mesh scores: alignment with reflection, exact nearest neighbours, F@5/15 mm."""
import math

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes

from handkit.eval.mesh_metrics import mesh_scores, threshold_name
from handkit.eval.metrics import f_score, pa_align, pa_mpjpe, pa_mpvpe, precision_recall

MIRROR = torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)


def _rotation(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return q * torch.det(q)  # det +1


def _grid(b: int = 2, depth: float = 0.7) -> torch.Tensor:
    """(b, 5·5·2 = 50, 3) points on a 20 mm grid around (0, 0, depth) m: every point's nearest
    other point is 20 mm away, so offsets below 10 mm keep each point's partner nearest."""
    axes = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), torch.arange(2.0), indexing="ij")
    pts = 0.02 * torch.stack(axes, -1).reshape(-1, 3).double() + torch.tensor([0, 0, depth])
    return pts.expand(b, -1, -1).clone()


def _freihand_align_reference(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """FreiHAND's `align_w_scale(gt, pred)` restated: centre both sets, divide each by its
    Frobenius norm, scipy's orthogonal Procrustes R (gt → pred, may mirror) with scale = sum of
    singular values, then move pred by R^T, that scale and gt's norm and centroid."""
    g0, p0 = gt - gt.mean(0), pred - pred.mean(0)
    ng, npred = np.linalg.norm(g0) + 1e-8, np.linalg.norm(p0) + 1e-8
    rot, scale = orthogonal_procrustes(g0 / ng, p0 / npred)
    return (p0 / npred) @ rot.T * scale * ng + gt.mean(0)


def test_pa_align_with_reflection_matches_freihand_align_w_scale():
    g = torch.Generator().manual_seed(3)
    gt = 0.05 * torch.randn(4, 30, 3, generator=g, dtype=torch.float64)
    noise = 0.01 * torch.randn(4, 30, 3, generator=g, dtype=torch.float64)
    pred = 1.7 * (gt + noise) @ _rotation(1) + 0.3
    pred[2:] = pred[2:] * MIRROR  # two mirrored predictions: the orthogonal fit must reflect
    ours = pa_align(pred, gt, reflection=True)
    for i in range(4):
        ref = _freihand_align_reference(gt[i].numpy(), pred[i].numpy())
        np.testing.assert_allclose(ours[i].numpy(), ref, atol=1e-8)  # the 1e-8 in the norms
    # Without reflection the mirrored pair cannot be undone; the proper pair agrees.
    proper = pa_align(pred, gt)
    torch.testing.assert_close(proper[:2], ours[:2])
    err = lambda x: float((x[2:] - gt[2:]).norm(dim=-1).mean())  # noqa: E731
    assert err(proper) > 3 * err(ours)


def test_mirror_image_is_aligned_exactly_only_with_reflection():
    gt = 0.05 * torch.randn(1, 21, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pred = 0.8 * (gt * MIRROR) @ _rotation(2) - 0.1
    assert float(pa_mpjpe(pred, gt, reflection=True)) < 1e-12
    assert float(pa_mpvpe(pred, gt, reflection=True)) < 1e-12
    assert float(pa_mpjpe(pred, gt)) > 1e-3  # 21 random points are far from symmetric


def test_pa_align_apply_to_moves_other_points_with_the_fitted_map():
    gt = 0.05 * torch.randn(2, 21, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    extra = 0.05 * torch.randn(2, 9, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    rot = _rotation(4)
    for mirror in (torch.ones(3, dtype=torch.float64), MIRROR):
        move = lambda x: 2.0 * (x * mirror) @ rot + 0.5  # noqa: E731
        back = pa_align(move(gt), gt, reflection=True, apply_to=move(extra))
        torch.testing.assert_close(back, extra)


def test_known_offset_gives_hand_derived_f_scores():
    gt = _grid()
    pred = gt + torch.tensor([0.004, 0.0, 0.0], dtype=torch.float64)  # every point 4 mm off
    assert float(f_score(pred, gt, 0.005)) == 1.0
    assert float(f_score(pred, gt, 0.003)) == 0.0
    # Several thresholds at once: one column each, the nearest neighbours searched once.
    assert f_score(pred, gt, [0.003, 0.005]).tolist() == [0.0, 1.0]
    p, r = precision_recall(pred, gt, (0.003, 0.005, 0.015))
    assert p.shape == r.shape == (2, 3) and p.tolist() == r.tolist() == [[0.0, 1.0, 1.0]] * 2
    pred = gt + torch.tensor([0.0, 0.006, 0.0], dtype=torch.float64)
    assert float(f_score(pred, gt, 0.005)) == 0.0 and float(f_score(pred, gt, 0.015)) == 1.0


def test_half_the_points_off_hand_derived_precision_recall():
    gt = _grid(1)
    pred = gt.clone()
    pred[:, :10, 2] += 0.006  # 10 of 50 move 6 mm along z (the next grid point is 14 mm away)
    p, r = precision_recall(pred, gt, 0.005)
    # pred: 40 of 50 within 5 mm; gt: the 10 vacated points see their partner at 6 mm and the
    # other points >= 20 mm away -> 40 of 50. F = 0.8.
    torch.testing.assert_close((p, r), (torch.tensor([0.8], dtype=torch.float64),) * 2)


def test_f_score_is_order_invariant_and_symmetric_but_mpvpe_is_not():
    gt = _grid(1)
    pred = gt + torch.tensor([0.003, 0.0, 0.0], dtype=torch.float64)
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    for t in (0.002, 0.005, 0.015):
        assert float(f_score(pred[:, perm], gt, t)) == float(f_score(pred, gt, t))
        assert float(f_score(gt, pred[:, :30], t)) == float(f_score(pred[:, :30], gt, t))
    assert float(pa_mpvpe(pred, gt)) < 1e-12
    assert float(pa_mpvpe(pred[:, perm], gt)) > 0.01  # correspondence lost: ~cm errors


def test_nearest_neighbours_are_exact_in_float32_far_from_the_camera():
    # torch.cdist's matrix-product path loses ~1 mm here; the F-score at 0.1 mm must not.
    gt = _grid(1, depth=1.2).float().repeat(1, 16, 1) + \
        torch.arange(16.0).repeat_interleave(50)[None, :, None] * torch.tensor([0.0, 0.0, 0.1])
    assert float(f_score(gt.clone(), gt, 0.0001)) == 1.0
    pred = gt + torch.tensor([0.0049, 0.0, 0.0])
    assert float(f_score(pred, gt, 0.005)) == 1.0 and float(f_score(pred, gt, 0.0048)) == 0.0


def test_mesh_scores_same_topology_hand_derived():
    gt = _grid()
    pred = gt + torch.tensor([0.010, 0.0, 0.0], dtype=torch.float64)
    s = mesh_scores(pred, gt)
    assert s["mpvpe_mm"] == pytest.approx(10.0) and s["pa_mpvpe_mm"] == pytest.approx(0, abs=1e-9)
    # 10 mm falls between thresholds 19 and 20 of linspace(0, 50, 100): PCK 1 from the 20th on.
    assert s["mesh_auc"] == pytest.approx((99 - 20 + 0.5) / 99)
    assert s["pa_mesh_auc"] >= 1 - 0.5 / 99 - 1e-12
    # Each shifted point's nearest GT point is 10 mm away (partner or grid neighbour).
    assert s["f@5mm"] == 0.0 and s["f@15mm"] == 1.0
    assert s["pa_f@5mm"] == 1.0 and s["pa_f@15mm"] == 1.0


def test_mesh_scores_other_topology_aligns_on_the_joints():
    gt_verts = _grid()
    gt_joints = 0.05 * torch.randn(2, 21, 3, generator=torch.Generator().manual_seed(2),
                                   dtype=torch.float64)
    move = lambda x: 1.3 * x @ _rotation(7) + 1.0  # noqa: E731
    pred_verts = move(gt_verts[:, :40])  # 40 of GT's 50 vertices, another "topology"
    s = mesh_scores(pred_verts, gt_verts, pred_joints=move(gt_joints), gt_joints=gt_joints)
    for key in ("mpvpe_mm", "mesh_auc", "pa_mpvpe_mm", "pa_mesh_auc"):
        assert math.isnan(s[key])
    # Aligned: every predicted vertex on a GT vertex (P = 1); 40 of 50 GT vertices matched,
    # the other 10 are >= 20 mm from them (R = 0.8): F = 2·0.8 / 1.8.
    assert s["pa_f@5mm"] == pytest.approx(2 * 0.8 / 1.8) and s["f@15mm"] == 0.0
    with pytest.raises(ValueError, match=r"pred_joints/gt_joints: pred_verts has 40 vertices"):
        mesh_scores(pred_verts, gt_verts)


def test_threshold_names_and_bad_input():
    assert [threshold_name(t) for t in (0.005, 0.015, 0.0025)] == ["5mm", "15mm", "2.5mm"]
    with pytest.raises(ValueError, match=r"gt_verts: expected \(2, V, 3\)"):
        mesh_scores(torch.zeros(2, 5, 3), torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match=r"thresholds: need one or more values > 0"):
        mesh_scores(torch.zeros(2, 5, 3), torch.zeros(2, 5, 3), thresholds=(0.0,))
    with pytest.raises(ValueError, match=r"apply_to: expected \(2, M, 3\)"):
        pa_align(torch.zeros(2, 5, 3), torch.zeros(2, 5, 3), apply_to=torch.zeros(3, 5, 3))
