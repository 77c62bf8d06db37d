"""S2HAND's loss terms (losses/s2hand.py), each against a case worked out by hand."""

import math

import pytest
import torch

from handkit.hand.skeleton import BONES
from handkit.losses import s2hand as L

D = torch.float64


def _chain(vectors: torch.Tensor) -> torch.Tensor:
    """(20, 2) bone vectors (order of BONES) → (1, 21, 2) keypoints, wrist at 0."""
    kp = torch.zeros(21, 2, dtype=D)
    for (p, c), v in zip(BONES, vectors):
        kp[c] = kp[p] + v
    return kp[None]


def test_robust_distance_is_quadratic_then_linear_and_continuous_at_5px():
    d = torch.tensor([0.0, 3.0, 5.0, 7.0], dtype=D)
    assert L.robust_distance(d).tolist() == pytest.approx([0.0, 0.9, 2.5, 4.5])
    eps = torch.tensor([5 - 1e-9, 5 + 1e-9], dtype=D)
    assert L.robust_distance(eps).tolist() == pytest.approx([2.5, 2.5], abs=1e-8)


def test_open_2dj_weights_wrist_and_tips_by_confidence_and_kappa():
    det = torch.zeros(1, 21, 2, dtype=D)
    j2d = det.clone()
    j2d[0, 0] = torch.tensor([3.0, 0.0])  # wrist, ρ(3) = 0.9, κ = 2
    j2d[0, 4] = torch.tensor([6.0, 8.0])  # thumb tip, ρ(10) = 7.5, κ = 1.5
    conf = torch.ones(1, 21, dtype=D)
    # Σ κ² = 4 + 5·2.25 + 15 = 30.25
    assert float(L.open_2dj_loss(j2d, det, conf)) == pytest.approx((0.9 * 4 + 7.5 * 2.25) / 30.25)
    conf[0, 4] = 0.0  # a missing joint weighs nothing, in the numerator and the denominator
    assert float(L.open_2dj_loss(j2d, det, conf)) == pytest.approx(0.9 * 4 / (30.25 - 2.25))
    assert float(L.open_2dj_loss(j2d, det, torch.zeros(1, 21, dtype=D))) == 0.0


def test_hm_integral_sums_stacks_of_confidence_squared_means_of_plain_distances():
    det = torch.zeros(1, 21, 2, dtype=D)
    first = det.clone()
    first[0, 2] = torch.tensor([3.0, 4.0])  # 5 px, not ρ
    conf = torch.ones(1, 21, dtype=D)
    conf[0, 2] = 0.5
    expected = 5 * 0.25 / (20 + 0.25)
    assert float(L.hm_integral_loss([first, det], det, conf)) == pytest.approx(expected)
    assert float(L.hm_integral_loss([first, first], det, conf)) == pytest.approx(2 * expected)


def test_kp_cons_is_the_mean_robust_distance_and_reaches_both_branches():
    hm = torch.zeros(2, 21, 2, dtype=D, requires_grad=True)
    j2d = torch.zeros(2, 21, 2, dtype=D)
    j2d[1, 3] = torch.tensor([0.0, 10.0])
    j2d.requires_grad_(True)
    loss = L.kp_cons_loss(hm, j2d)
    assert float(loss.detach()) == pytest.approx(7.5 / 42)
    g_hm, g_j = torch.autograd.grad(loss, [hm, j2d])
    # slope 1 beyond 5 px, split over the 42 joints; opposite on the two sides
    assert g_j[1, 3].tolist() == pytest.approx([0.0, 1 / 42])
    assert torch.allclose(g_hm, -g_j)


def test_bone_direction_counts_one_turned_bone_with_its_joint_confidences():
    det_vec = torch.tensor([[10.0, 0.0]] * 20, dtype=D)
    pred_vec = det_vec.clone()
    pred_vec[0] = torch.tensor([0.0, 10.0])  # bone wrist → thumb CMC turned by 90°
    conf = torch.ones(1, 21, dtype=D)
    conf[0, 1] = 0.5  # the bone's weight is c_wrist · c_cmc = 0.5; bone (1, 2) weighs 0.5 too
    unit = 10 / (10 + 1e-4)
    expected = 0.5 * 2 * unit ** 2 / 20  # ‖(0, u) − (u, 0)‖² = 2u², mean over 20 bones
    assert float(L.bone_direction_loss(_chain(pred_vec), _chain(det_vec), conf)) == \
        pytest.approx(expected)
    # a direction loss: scaling the prediction changes nothing (up to the 1e-4 guard)
    assert float(L.bone_direction_loss(_chain(det_vec * 3), _chain(det_vec), conf)) < 1e-9


def test_bone_length_2d_counts_one_stretched_bone_and_ignores_turn_and_shift():
    det_vec = torch.tensor([[10.0, 0.0]] * 20, dtype=D)
    pred_vec = det_vec.clone()
    pred_vec[0] = torch.tensor([0.0, 16.0])  # bone wrist → thumb CMC: 16 px instead of 10
    conf = torch.ones(1, 21, dtype=D)
    conf[0, 1] = 0.5  # bones (0, 1) and (1, 2) weigh 0.5, the other 18 weigh 1: Σw = 19
    det = _chain(det_vec)
    assert float(L.bone_length_2d_loss(_chain(pred_vec), det, conf)) == \
        pytest.approx(0.5 * 6 / 19)
    # a point-sized hand at the detections' centre misses every bone by its whole 10 px
    point = det.mean(1, keepdim=True).expand_as(det)
    assert float(L.bone_length_2d_loss(point, det, conf)) == pytest.approx(10.0)
    # turned by 90° and moved: every length is kept
    turned = det.flip(-1) * torch.tensor([-1.0, 1.0], dtype=D) + torch.tensor([7.0, -3.0], dtype=D)
    assert float(L.bone_length_2d_loss(turned, det, conf)) == pytest.approx(0.0, abs=1e-12)
    # no confident joint: 0, not NaN
    assert float(L.bone_length_2d_loss(turned, det, torch.zeros_like(conf))) == 0.0


def test_mean_scale_pulls_the_middle_mcp_pip_bone_to_28mm():
    joints = torch.zeros(2, 21, 3, dtype=D)
    joints[:, :, 2] = 0.5
    joints[0, 10, 0] = 0.03
    joints[1, 10, 1] = 0.02
    assert float(L.mean_scale_loss(joints)) == pytest.approx((0.0018 + 0.0082) / 2)


def test_tsa_box_is_zero_inside_and_weights_z_twice():
    low, high = L.tsa_bounds(D)
    assert low.shape == (16, 3) and high.shape == (16, 3)
    pose = ((low + high) / 2).expand(2, 16, 3).clone()
    assert (low[0, 0] < math.pi < high[0, 0]) and float(L.tsa_pose_loss(pose)) == 0.0
    pose[0, 1, 2] = math.radians(110)  # index 1 flexion 10° above its 100°
    pose[1, 13, 0] = math.radians(-3)  # thumb 1 x 3° below 0
    expected = (2 * math.radians(10) + math.radians(3)) / (2 * 16 * 3)
    assert float(L.tsa_pose_loss(pose)) == pytest.approx(expected)
    # the released bounds (degrees): pinky 1 y up to 20, thumb 1 y in [-22.5, 33.75]
    assert L.TSA_HIGH_DEG[7][1] == 20 and L.TSA_LOW_DEG[7][0] == -20
    assert L.TSA_LOW_DEG[13][1] == -22.5 and L.TSA_HIGH_DEG[13][1] == 33.75
    assert L.TSA_LOW_DEG[15][2] == -20 and L.TSA_HIGH_DEG[14][2] == 22.5


def test_shape_prior_is_the_mean_square():
    assert float(L.shape_prior_loss(torch.full((3, 10), 2.0, dtype=D))) == 4.0


def _square():
    verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=D)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    return verts, faces


def test_cotangent_laplacian_of_a_unit_square():
    # two right isosceles triangles: the four sides face 45° (½ cot 45° = 0.5), the diagonal
    # faces 90° on both sides (cot 90° = 0)
    verts, faces = _square()
    lap = L.cotangent_laplacian(verts, faces).to_dense()
    expected = torch.tensor([[-1.0, 0.5, 0, 0.5], [0.5, -1, 0.5, 0], [0, 0.5, -1, 0.5],
                             [0.5, 0, 0.5, -1]], dtype=D)
    assert torch.allclose(lap, expected, atol=1e-12)


def test_laplacian_loss_uses_sample_zeros_weights_for_every_sample():
    verts, faces = _square()
    # (L V)_v = 0.5 (two neighbours) − v: norm √0.5 at every corner of the unit square
    batch = torch.stack([verts, 2 * verts])
    assert float(L.laplacian_loss(batch[:1], faces)) == pytest.approx(math.sqrt(0.5))
    assert float(L.laplacian_loss(batch, faces)) == pytest.approx(1.5 * math.sqrt(0.5))
    # L from sample 0 (a square) applied to a deformed sample, not that sample's own L
    moved = verts.clone()
    moved[2] = torch.tensor([1.5, 1.2, 0.3], dtype=D)
    pair = torch.stack([verts, moved])
    lap0 = L.cotangent_laplacian(verts, faces).to_dense()
    lap1 = L.cotangent_laplacian(moved, faces).to_dense()
    assert not torch.allclose(lap0, lap1)
    norms = torch.cat([(lap0 @ verts).norm(dim=-1), (lap0 @ moved).norm(dim=-1)])
    assert float(L.laplacian_loss(pair, faces)) == pytest.approx(float(norms.mean()))
    own = torch.cat([(lap0 @ verts).norm(dim=-1), (lap1 @ moved).norm(dim=-1)])
    assert float(L.laplacian_loss(pair, faces, reference=None)) == pytest.approx(float(own.mean()))


def test_laplacian_weights_are_constants_for_the_gradient():
    verts, faces = _square()
    v = (verts + 0.1 * torch.randn(4, 3, dtype=D, generator=torch.Generator().manual_seed(0)))
    v = v[None].requires_grad_(True)
    (grad,) = torch.autograd.grad(L.laplacian_loss(v, faces), v)
    lap = L.cotangent_laplacian(v[0].detach(), faces).to_dense()
    fixed = v.detach().clone().requires_grad_(True)
    lv = lap @ fixed[0]
    (ref,) = torch.autograd.grad(lv.norm(dim=-1).mean(), fixed)
    assert torch.allclose(grad, ref)


def test_texture_and_mean_rgb_are_t_squared_weighted():
    rendered = torch.ones(2, 4, 4, 3, dtype=D)
    target = torch.zeros(2, 4, 4, 3, dtype=D)
    target[1] = 0.5
    t = torch.tensor([1.0, 2.0], dtype=D)
    assert float(L.texture_loss(rendered, target, t)) == pytest.approx((1 * 1 + 0.5 * 4) / 5)
    assert float(L.mean_rgb_loss(rendered, target, t)) == pytest.approx((1 * 1 + 0.5 * 4) / 5)
    # half white, half black against uniform grey: same mean (mrgb 0), error 0.5 everywhere
    half = torch.zeros(1, 4, 4, 3, dtype=D)
    half[:, :2] = 1
    grey = torch.full_like(half, 0.5)
    one = torch.ones(1, dtype=D)
    assert float(L.mean_rgb_loss(half, grey, one)) == pytest.approx(0.0)
    assert float(L.texture_loss(half, grey, one)) == pytest.approx(0.5)
    assert float(L.texture_loss(half, grey, torch.zeros(1, dtype=D))) == 0.0


def test_mtex_penalises_outliers_by_their_whole_distance_official_broadcast_and_per_sample():
    tex = torch.zeros(2, 10, 3, dtype=D)
    tex[0, 9, 0] = 10.0  # mean 1, unbiased std √10 ≈ 3.16: only |10 − 1| = 9 is beyond 2σ
    one = torch.ones(1, dtype=D)
    assert float(L.texture_regularity_loss(tex[:1], one * 0.5, "per_sample")) == \
        pytest.approx(9 / 30 * 2 * 0.5 / 0.25)
    t = torch.ones(2, dtype=D)
    assert float(L.texture_regularity_loss(tex, t, "per_sample")) == pytest.approx(0.3)
    # official: sample 0's stats on both samples → (0.3 + 0) / 2; sample 1's (μ 0, σ 0) on
    # sample 0 → 10 / 30, on itself 0 → 1/6; weight 2 t / Σ t² = 1
    assert float(L.texture_regularity_loss(tex, t, "official")) == pytest.approx(0.15 + 1 / 6)


def test_texture_weights_rules():
    conf = torch.full((3, 21), 0.5, dtype=D)
    conf[1, 7] = 0.05  # one joint below 0.1: FreiHAND gives the sample no texture weight
    idx = torch.tensor([0, 1, 40000])
    assert L.texture_weights(conf).tolist() == pytest.approx([0.55, 0.0, 0.55])
    assert L.texture_weights(conf, index=idx).tolist() == pytest.approx([0.55, 0.0, 0.05])
    ho3d = L.texture_weights(conf, "ho3d")
    assert ho3d.tolist() == pytest.approx([0.5, (20 * 0.5 + 0.05) / 21, 0.5])


def test_clean_detections_masks_nan_and_flags_empty_samples():
    det = torch.ones(2, 21, 2)
    conf = torch.ones(2, 21)
    det[0, 3, 1] = float("nan")
    conf[0, 5] = float("nan")
    det[1] = float("nan")
    d, c, usable = L.clean_detections(det, conf)
    assert torch.isfinite(d).all() and c[0, 3] == 0 and c[0, 5] == 0 and c[0, 4] == 1
    assert usable.tolist() == [True, False] and c[1].eq(0).all()
    assert float(L.open_2dj_loss(torch.zeros_like(d), d, c)) > 0  # finite


def test_combine_counts_listed_positive_finite_terms_and_skips_tiny_batches():
    terms = {"a": torch.tensor(1.0), "b": torch.tensor(0.0), "c": torch.tensor(float("nan")),
             "d": torch.tensor(2.0), "e": torch.tensor(float("inf"))}
    weights = dict.fromkeys(terms, 0.5)
    total, counted = L.combine(terms, weights, ["a", "b", "c", "e"])
    assert float(total) == 0.5 and list(counted) == ["a"]
    assert L.combine(terms, weights, ["b", "c"])[0] is None
    assert L.combine({"a": torch.tensor(1e-11)}, {"a": 0.5}, ["a"])[0] is None
    with pytest.raises(ValueError, match="'zz' is listed but not computed"):
        L.combine(terms, weights, ["zz"])
    with pytest.raises(ValueError, match="no weight for listed loss 'a'"):
        L.combine(terms, {}, ["a"])


def test_open_2dj_gradient_is_the_true_gradient(assert_descends):
    g = torch.Generator().manual_seed(1)
    det = torch.rand(3, 21, 2, dtype=D, generator=g) * 50
    conf = torch.rand(3, 21, dtype=D, generator=g)
    j2d = (det + torch.randn(3, 21, 2, dtype=D, generator=g) * 6).requires_grad_(True)
    assert_descends(lambda: L.open_2dj_loss(j2d, det, conf) + L.bone_direction_loss(j2d, det, conf),
                    [j2d])
