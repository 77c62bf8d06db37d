import numpy as np
import pytest
import torch

from handkit.eval.metrics import (
    PCK_PRESETS,
    PCKSpec,
    auc,
    f_score,
    joint_errors,
    mpjpe,
    mrrpe,
    pa_mpjpe,
    pa_mpvpe,
    pck_curve,
    precision_recall,
)


def _offsets(errors_m: list[list[float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """pred, gt whose joint errors are exactly `errors_m` (offsets along x)."""
    e = torch.tensor(errors_m, dtype=torch.float64)
    gt = torch.zeros(*e.shape, 3, dtype=torch.float64)
    pred = gt.clone()
    pred[..., 0] = e
    return pred, gt


def _rotation(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return q * torch.det(q)


def test_mpjpe_hand_derived_and_reductions():
    pred, gt = _offsets([[0.0, 0.01, 0.02], [0.03, 0.04, 0.06]])
    torch.testing.assert_close(mpjpe(pred, gt), torch.tensor(0.16 / 6, dtype=torch.float64))
    valid = torch.tensor([[True, True, False], [True, False, False]])
    # mean over instances: (0 + 0.01 + 0.03) / 3; joint mean: mean(0.015, 0.01) over 2 joints.
    torch.testing.assert_close(mpjpe(pred, gt, valid), torch.tensor(0.04 / 3, dtype=torch.float64))
    torch.testing.assert_close(mpjpe(pred, gt, valid, reduction="joint_mean"),
                               torch.tensor(0.0125, dtype=torch.float64))
    per_joint = mpjpe(pred, gt, valid, reduction="per_joint")
    torch.testing.assert_close(per_joint[:2], torch.tensor([0.015, 0.01], dtype=torch.float64))
    assert torch.isnan(per_joint[2])
    none = mpjpe(pred, gt, valid, reduction="none")
    assert none.shape == (2, 3) and torch.isnan(none[1, 1]) and float(none[1, 0]) == 0.03


def test_mpjpe_permutation_invariant_over_batch():
    g = torch.Generator().manual_seed(0)
    pred, gt = torch.randn(9, 21, 3, generator=g), torch.randn(9, 21, 3, generator=g)
    valid = torch.rand(9, 21, generator=g) > 0.3
    perm = torch.randperm(9, generator=g)
    for reduction in ("mean", "joint_mean"):
        torch.testing.assert_close(mpjpe(pred[perm], gt[perm], valid[perm], reduction=reduction),
                                   mpjpe(pred, gt, valid, reduction=reduction))


def test_pa_mpjpe_invariant_to_similarity_of_prediction():
    g = torch.Generator().manual_seed(1)
    gt = torch.randn(6, 21, 3, generator=g, dtype=torch.float64) * 0.05
    pred = gt + 0.01 * torch.randn(6, 21, 3, generator=g, dtype=torch.float64)
    base = pa_mpjpe(pred, gt)
    assert 0 < float(base) < float(mpjpe(pred, gt))
    for seed, scale in ((2, 0.3), (3, 7.0), (4, 1.0)):
        moved = scale * pred @ _rotation(seed) + torch.tensor([0.3, -1.0, 2.0]).double()
        torch.testing.assert_close(pa_mpjpe(moved, gt), base)
    valid = torch.rand(6, 21, generator=g) > 0.2
    moved = 2.0 * pred @ _rotation(5) - 1.0
    torch.testing.assert_close(pa_mpjpe(moved, gt, valid), pa_mpjpe(pred, gt, valid))


def test_pa_mpjpe_zero_for_exact_similarity_and_pa_mpvpe():
    g = torch.Generator().manual_seed(2)
    gt = torch.randn(3, 778, 3, generator=g, dtype=torch.float64)
    pred = 0.5 * gt @ _rotation(9) + 4.0
    assert float(pa_mpvpe(pred, gt)) < 1e-12
    assert float(mpjpe(pred, gt)) > 1.0


def test_pck_auc_hand_derived_thresholds():
    # thresholds 0..4 mm; errors 0.5, 2, 4, 9 mm; inclusive.
    # PCK(t) = [0, 1/4, 2/4, 2/4, 3/4]; trapz = (0+1/4)/2 + (1/4+2/4)/2 + (2/4+2/4)/2 + (2/4+3/4)/2
    #        = 0.125 + 0.375 + 0.5 + 0.625 = 1.625; AUC = 1.625 / 4.
    errors = torch.tensor([[0.5], [2.0], [4.0], [9.0]], dtype=torch.float64)
    curve = pck_curve(errors, thresholds=[0, 1, 2, 3, 4], unit="mm", inclusive=True,
                      errors_unit="mm")
    torch.testing.assert_close(curve.pck, torch.tensor([0, 0.25, 0.5, 0.5, 0.75]).double())
    assert curve.auc == pytest.approx(1.625 / 4)
    strict = pck_curve(errors, thresholds=[0, 1, 2, 3, 4], unit="mm", inclusive=False,
                       errors_unit="mm")
    torch.testing.assert_close(strict.pck, torch.tensor([0, 0.25, 0.25, 0.5, 0.5]).double())


def test_pck_freihand_preset_hand_derived():
    # 100 thresholds over 0-50 mm, spacing 50/99; inclusive. Joint 0 error 0 (always correct:
    # AUC 1), joint 1 error 100 mm (never: 0), joint 2 error exactly 50 mm (correct only at the
    # last threshold: half a trapezoid, 0.5 * (50/99) / 50 = 0.5/99). Mean over joints.
    errors = torch.tensor([[0.0, 100.0, 50.0]], dtype=torch.float64)
    curve = pck_curve(errors, errors_unit="mm")
    assert curve.thresholds.shape == (100,) and float(curve.thresholds[-1]) == 50.0
    assert curve.auc == pytest.approx((1 + 0 + 0.5 / 99) / 3, abs=1e-12)
    # The same errors in meters give the same curve.
    same = pck_curve(errors / 1000)
    assert same.auc == pytest.approx(curve.auc, abs=1e-12)


def test_pck_peclr_preset_strict_arange():
    spec = PCK_PRESETS["peclr"]
    assert len(spec.thresholds) == 100 and spec.thresholds[0] == 0.0
    assert spec.thresholds[-1] == pytest.approx(0.495) and not spec.inclusive
    # Error exactly equal to threshold 50 (≈ 0.25; numpy's arange value, as in the official code).
    # Strict: correct from threshold 51 on: half an interval + 48 intervals = 48.5 of 99.
    # Inclusive: correct from threshold 50 on: 49.5 of 99.
    errors = torch.tensor([[spec.thresholds[50]]], dtype=torch.float64)
    assert pck_curve(errors, preset="peclr").auc == pytest.approx(48.5 / 99, abs=1e-9)
    assert pck_curve(errors, preset="peclr", inclusive=True).auc == pytest.approx(49.5 / 99,
                                                                                  abs=1e-9)
    # "data" units: no mm/m conversion, whatever errors_unit says.
    assert pck_curve(errors, preset="peclr", errors_unit="mm").auc == pytest.approx(48.5 / 99)


def test_pck_minimal_hand_preset():
    spec = PCK_PRESETS["minimal_hand"]
    assert (spec.thresholds[0], spec.thresholds[-1], len(spec.thresholds)) == (20.0, 50.0, 15)
    assert spec.unit == "mm" and spec.inclusive
    # Error 35 mm is threshold 7 of 0..14 (spacing 30/14 mm): correct from 35 mm on, so the
    # area is half an interval + 7 intervals = 7.5 of 14.
    errors = torch.tensor([[0.035, 0.010]], dtype=torch.float64)
    curve = pck_curve(errors, preset="minimal_hand")
    assert float(curve.per_joint[0].sum()) == 8 and curve.per_joint[1].min() == 1
    assert curve.auc == pytest.approx((7.5 / 14 + 1.0) / 2, abs=1e-9)


def test_pck_masks_skip_joints_without_samples():
    errors = torch.tensor([[0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    valid = torch.tensor([[True, False], [False, False]])
    curve = pck_curve(errors, thresholds=[0.0, 0.5], unit="data", valid=valid)
    torch.testing.assert_close(curve.pck, torch.tensor([1.0, 1.0]).double())
    assert torch.isnan(curve.per_joint[1]).all()


def test_auc_of_mean_equals_mean_of_per_joint_auc():
    g = torch.Generator().manual_seed(3)
    errors = torch.rand(50, 21, generator=g) * 0.06
    curve = pck_curve(errors)
    per_joint = auc(curve.per_joint, curve.thresholds)
    assert curve.auc == pytest.approx(float(per_joint.mean()), abs=1e-12)


def test_auc_numpy_matches_hand_value():
    assert float(auc(np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0, 3.0]))) == pytest.approx(2.5 / 3)


def test_mrrpe_hand_derived():
    zero = torch.zeros(3, 3)
    pred_left = torch.tensor([[0.3, 0.0, 0.0], [0.0, 0.4, 0.0], [1.0, 1.0, 1.0]])
    gt_left = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.3], [1.0, 1.0, 1.0]])
    # errors 0.3, 0.5, 0 -> mean 0.8 / 3; a shared offset of both predicted roots changes nothing.
    torch.testing.assert_close(mrrpe(zero, pred_left, zero, gt_left), torch.tensor(0.8 / 3))
    torch.testing.assert_close(mrrpe(zero + 5, pred_left + 5, zero, gt_left), torch.tensor(0.8 / 3))
    torch.testing.assert_close(mrrpe(zero, pred_left, zero, gt_left,
                                     valid=torch.tensor([False, True, True])), torch.tensor(0.25))


def test_f_score_hand_derived():
    gt = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [3.0, 0.0, 0.0]]])
    pred = torch.tensor([[[0.001, 0.0, 0.0], [1.004, 0.0, 0.0], [2.010, 0.0, 0.0]]])
    # Within 5 mm: pred points 0, 1 (2 of 3) -> P = 2/3; gt points 0, 1 (2 of 4) -> R = 1/2.
    p, r = precision_recall(pred, gt, 0.005)
    torch.testing.assert_close((p, r), (torch.tensor([2 / 3]), torch.tensor([0.5])))
    torch.testing.assert_close(f_score(pred, gt, 0.005), torch.tensor(2 * (1 / 3) / (7 / 6)))
    # At 15 mm every pred point has a neighbour, gt point 3 still has none: P = 1, R = 3/4.
    torch.testing.assert_close(f_score(pred, gt, 0.015), torch.tensor(2 * 0.75 / 1.75))
    far = f_score(pred + 10.0, gt, 0.005, reduction="none")
    torch.testing.assert_close(far, torch.tensor([0.0]))


def test_f_score_strict_vs_inclusive():
    gt = torch.zeros(1, 1, 3, dtype=torch.float64)
    pred = torch.tensor([[[0.25, 0.0, 0.0]]], dtype=torch.float64)
    assert float(f_score(pred, gt, 0.25)) == 0.0
    assert float(f_score(pred, gt, 0.25, inclusive=True)) == 1.0


def test_joint_errors_is_euclidean_2d_too():
    pred = torch.tensor([[[3.0, 4.0]]])
    torch.testing.assert_close(joint_errors(pred, torch.zeros(1, 1, 2)), torch.tensor([[5.0]]))


NAN = torch.full((2, 21, 3), float("nan"))


@pytest.mark.parametrize("call, message", [
    (lambda: mpjpe(torch.zeros(2, 21, 3), torch.zeros(2, 16, 3)), r"gt: expected the shape of pred"),
    (lambda: mpjpe(torch.zeros(21, 3), torch.zeros(21, 3)), r"pred: expected \(B, J, C\)"),
    (lambda: mpjpe(NAN, torch.zeros(2, 21, 3)), r"pred: contains NaN"),
    (lambda: pa_mpjpe(torch.zeros(2, 21, 3), NAN), r"gt: contains NaN"),
    (lambda: mpjpe(torch.zeros(0, 21, 3), torch.zeros(0, 21, 3)), r"pred: got an empty batch"),
    (lambda: mpjpe(torch.zeros(2, 21, 3), torch.zeros(2, 21, 3), torch.zeros(2, 21)),
     r"valid: no valid joint"),
    (lambda: mpjpe(torch.zeros(2, 21, 3), torch.zeros(2, 21, 3), torch.ones(2, 20)),
     r"valid: expected \(2, 21\)"),
    (lambda: mpjpe(torch.zeros(2, 21, 3), torch.zeros(2, 21, 3), reduction="sum"),
     r"reduction: unknown value 'sum'; choose one of \['joint_mean', 'mean', 'none', 'per_joint'\]"),
    (lambda: pa_mpvpe(torch.zeros(2, 778, 3), torch.zeros(2, 777, 3)), r"gt_verts: expected"),
    (lambda: pa_mpjpe(torch.zeros(2, 21, 2), torch.zeros(2, 21, 2)), r"pred: expected \(B, N, 3\)"),
    (lambda: pck_curve(torch.zeros(2, 21), preset="codalab"), r"preset: unknown value 'codalab'"),
    (lambda: pck_curve(torch.zeros(2, 21, 1)), r"errors: expected \(B, J\)"),
    (lambda: pck_curve(-torch.ones(2, 21)), r"errors: distances must be >= 0"),
    (lambda: pck_curve(torch.zeros(0, 21)), r"errors: got an empty batch"),
    (lambda: pck_curve(torch.zeros(2, 21), errors_unit="cm"), r"errors_unit: unknown value 'cm'"),
    (lambda: pck_curve(torch.zeros(2, 21), thresholds=[1.0, 0.5]), r"thresholds: need at least 2"),
    (lambda: PCKSpec((0.0, 1.0), "inch", True), r"unit: unknown value 'inch'"),
    (lambda: auc(torch.zeros(3), torch.tensor([0.0, 1.0])), r"pck: expected last dim 2"),
    (lambda: mrrpe(torch.zeros(2, 3), torch.zeros(3, 3), torch.zeros(2, 3), torch.zeros(2, 3)),
     r"pred_left: expected \(2, 3\)"),
    (lambda: mrrpe(*[torch.zeros(2, 3)] * 3, torch.full((2, 3), float("nan"))),
     r"gt_left: contains NaN"),
    (lambda: f_score(torch.zeros(2, 5, 3), torch.zeros(3, 5, 3)), r"gt: expected \(2, M, 3\)"),
    (lambda: f_score(torch.zeros(2, 5, 3), torch.zeros(2, 5, 3), 0.0), r"threshold: must be > 0"),
])
def test_bad_input_names_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_procrustes_mean_of_similar_poses_is_that_pose():
    from handkit.eval.metrics import procrustes_mean

    g = torch.Generator().manual_seed(3)
    pose = torch.randn(21, 3, generator=g, dtype=torch.float64) * 0.05
    moved = torch.stack([s * pose @ _rotation(k).T + t for k, (s, t) in
                         enumerate([(1.0, 0.0), (2.0, 0.3), (0.5, -1.0)])])
    mean = procrustes_mean(moved)
    assert mean.shape == (21, 3) and mean.mean(0).abs().max() < 1e-12  # centred
    assert float(pa_mpjpe(mean.expand(3, 21, 3), moved)) < 1e-9
    # two different poses: the mean fits them better (in sum of squares) than either one
    other = pose + 0.02 * torch.randn(21, 3, generator=g, dtype=torch.float64)
    both = torch.stack([pose, other])
    sq = lambda p: float((pa_mpjpe(p.expand(2, 21, 3), both, reduction="none") ** 2).sum())  # noqa
    assert sq(procrustes_mean(both)) < min(sq(pose), sq(other))
    with pytest.raises(ValueError, match="poses"):
        procrustes_mean(torch.zeros(0, 21, 3))
