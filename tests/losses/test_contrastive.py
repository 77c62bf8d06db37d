"""Tests of handkit.losses.contrastive against hand-derived values and slow loop references."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from handkit.losses.contrastive import (
    NTXentLoss,
    WeightedNTXentLoss,
    chunked_loss,
    nt_xent,
    peclr_transform,
    original_view_joints,
    select_weight_joints,
    simhand_weights,
    weighted_nt_xent,
)


def _loop_nt_xent(z1, z2, t, pos_w=None, neg_w=None):
    """SimCLR pseudo-code (Algorithm 1) with SiMHand's weights inside the exponent, plain loops."""
    z = [F.normalize(v, dim=0) for v in torch.cat([z1, z2])]
    n = len(z1)
    total = 0.0
    for a in range(2 * n):
        p = (a + n) % (2 * n)
        s_pos = float(z[a] @ z[p]) * (1.0 if pos_w is None else float(pos_w[a % n]))
        den = 0.0
        for b in range(2 * n):
            if b != a:
                den += math.exp(float(z[a] @ z[b]) * (1.0 if neg_w is None else float(neg_w[a, b]))
                                / t)
        total += -math.log(math.exp(s_pos / t) / den)
    return total / (2 * n)


def _rand(n, d, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, d, generator=g, dtype=dtype)


# ---- NT-Xent: hand-derived values ------------------------------------------------------------

def test_one_pair_is_exactly_zero():
    # One pair: the only "other view" is the positive, so pos == denominator and log(1) == 0.
    z1, z2 = _rand(1, 8)
    assert nt_xent(z1, z2).item() == pytest.approx(0.0, abs=1e-12)


def test_all_orthogonal_views_give_log_2n_minus_1():
    # 2N mutually orthogonal views: every exp(s/t) = 1, loss = log(2N - 1) for any temperature.
    eye = torch.eye(6, dtype=torch.float64)
    for t in (0.1, 0.5, 2.0):
        assert nt_xent(eye[:3], eye[3:], t).item() == pytest.approx(math.log(5), rel=1e-12)


def test_identical_positives_orthogonal_pairs():
    # z1_i = z2_i = e_i: pos = e^{1/t}, denominator = e^{1/t} + (2N - 2).
    eye = torch.eye(4, dtype=torch.float64)
    t = 0.5
    expected = math.log(1 + 6 * math.exp(-1 / t))
    assert nt_xent(eye, eye.clone(), t).item() == pytest.approx(expected, rel=1e-12)


def test_two_pairs_by_hand():
    # Views a=(1,0), b=(0,1) | c=(1,0), d=(0,-1); t=0.5 so exp(s/t)=exp(2s).
    # a: pos e^2, den 1+e^2+1; b: pos e^-2, den 1+1+e^-2; c, d mirror a, b.
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    z2 = torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
    expected = 0.5 * (math.log(math.e ** 2 + 2) + math.log(2 + math.e ** -2))
    assert nt_xent(z1, z2).item() == pytest.approx(expected, rel=1e-12)


def test_scale_invariance_rows_are_normalised():
    z1, z2 = _rand(5, 7)
    assert torch.allclose(nt_xent(3 * z1, 0.2 * z2), nt_xent(z1, z2))


@pytest.mark.parametrize("n,d,t", list(itertools.product([1, 2, 5], [2, 16], [0.1, 0.5, 1.0])))
def test_matches_loop_reference_grid(n, d, t):
    z1, z2 = _rand(n, d, seed=n * 100 + d)
    assert nt_xent(z1, z2, t).item() == pytest.approx(_loop_nt_xent(z1, z2, t), rel=1e-10)


# ---- weighted loss -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["pos_neg", "pos", "neg"])
def test_weighted_with_unit_weights_is_nt_xent(mode):
    z1, z2 = _rand(6, 10)
    w = weighted_nt_xent(z1, z2, torch.ones(6, dtype=z1.dtype), torch.ones(12, 12, dtype=z1.dtype),
                         mode)
    assert w.item() == pytest.approx(nt_xent(z1, z2).item(), rel=1e-12)


@pytest.mark.parametrize("mode,n,t", list(itertools.product(["pos_neg", "pos", "neg"], [2, 4],
                                                             [0.5, 0.2])))
def test_weighted_matches_loop_reference(mode, n, t):
    z1, z2 = _rand(n, 6, seed=n)
    g = torch.Generator().manual_seed(7)
    pw = torch.rand(n, generator=g, dtype=torch.float64)
    nw = torch.rand(2 * n, 2 * n, generator=g, dtype=torch.float64)
    ref = _loop_nt_xent(z1, z2, t, pw if mode != "neg" else None, nw if mode != "pos" else None)
    got = weighted_nt_xent(z1, z2, pw, nw, mode, t)
    assert got.item() == pytest.approx(ref, rel=1e-10)


def test_denominator_uses_negative_weight_for_the_positive_partner():
    # pos_neg: the partner term in the denominator carries W-_{a,a+N}, not w+. Changing only
    # W-_{0,N} and W-_{N,0} must change the loss; with pos mode it must not.
    z1, z2 = _rand(3, 4)
    pw, nw = torch.ones(3, dtype=z1.dtype), torch.ones(6, 6, dtype=z1.dtype)
    nw2 = nw.clone()
    nw2[0, 3] = nw2[3, 0] = 0.0
    assert weighted_nt_xent(z1, z2, pw, nw, "pos_neg") != weighted_nt_xent(z1, z2, pw, nw2,
                                                                           "pos_neg")
    assert weighted_nt_xent(z1, z2, pw, nw, "pos") == weighted_nt_xent(z1, z2, pw, nw2, "pos")


def test_gradcheck_float64():
    z1, z2 = _rand(3, 4)
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    pw = torch.tensor([0.2, 0.9, 0.5], dtype=torch.float64)
    nw = torch.rand(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(lambda a, b: nt_xent(a, b, 0.5), (z1, z2))
    for mode in ("pos_neg", "pos", "neg"):
        assert torch.autograd.gradcheck(lambda a, b: weighted_nt_xent(a, b, pw, nw, mode), (z1, z2))
    # peclr_transform is not gradchecked: like the official code it detaches the extent and the
    # centroid, so its analytic gradient deliberately differs from finite differences.


def test_peclr_gradient_is_finite_and_flows():
    p = torch.randn(4, 128, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    z = peclr_transform(p, -torch.arange(4.0), torch.zeros(4), torch.tensor([0.0, 10, -45, 44]))
    nt_xent(z[:2], z[2:]).backward()
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_gradients_finite_at_large_similarities():
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(3)).requires_grad_(True)
    loss = nt_xent(z, z * 1.0001, temperature=0.05)  # very peaked exponentials
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_bad_inputs_raise_clear_errors():
    z1, z2 = _rand(4, 8)
    with pytest.raises(ValueError, match=r"z2: expected \(4, 8\)"):
        nt_xent(z1, z2[:3])
    with pytest.raises(ValueError, match="temperature: must be > 0"):
        nt_xent(z1, z2, 0.0)
    with pytest.raises(ValueError, match=r"mode: unknown value 'both'; choose one of \['neg', 'pos'"):
        weighted_nt_xent(z1, z2, None, None, "both")
    with pytest.raises(ValueError, match=r"neg_weights: expected \(8, 8\)"):
        weighted_nt_xent(z1, z2, torch.ones(4), torch.ones(4, 4), "pos_neg")
    with pytest.raises(ValueError, match="weight_type"):
        WeightedNTXentLoss(weight_type="sigmoid")
    with pytest.raises(ValueError, match="lambda_pos"):
        WeightedNTXentLoss(weight_type="non_linear")
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature=-1)
    with pytest.raises(ValueError, match="loss_chunk_size"):
        chunked_loss(nt_xent, z1, z2, loss_chunk_size=0)
    with pytest.raises(ValueError, match=r"per_pair\[1\]: expected 4 rows"):
        chunked_loss(nt_xent, z1, z2[:3], loss_chunk_size=2)


# ---- SiMHand weights -------------------------------------------------------------------------

def _joints(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 21, 2, generator=g, dtype=torch.float64) * 128,
            torch.rand(n, 21, 2, generator=g, dtype=torch.float64) * 128)


def test_mpjpe_linear_weights_by_hand():
    # Pair 0 identical (d+=0), pair 1 shifted by (3,4) (d+=5): w+ = [1, 0].
    j = torch.zeros(2, 21, 2, dtype=torch.float64)
    j[1] += 10.0
    j2 = j.clone()
    j2[1] += torch.tensor([3.0, 4.0], dtype=torch.float64)
    pw, nw = simhand_weights(j, j2, "linear", "mpjpe")
    assert pw.tolist() == [1.0, 0.0]
    # Views: v0=0, v1=10, v2=0, v3=(13,14). D: v0-v1 = 10*sqrt2, v0-v3 = sqrt(13^2+14^2), ...
    d03 = math.hypot(13, 14)
    assert nw[0, 3].item() == pytest.approx(0.0)                      # the farthest pair
    assert nw[0, 2].item() == pytest.approx(1.0)                      # identical views
    assert nw[0, 1].item() == pytest.approx(1 - 10 * math.sqrt(2) / d03)
    assert torch.allclose(nw, nw.t()) and (nw.diagonal() == 1).all()


def test_w_o_abs_and_w_abs_by_hand():
    # One joint-wide shift of (+2, -2) in pair 0 and zero in pair 1.
    j1 = torch.zeros(2, 21, 2, dtype=torch.float64)
    j2 = j1.clone()
    j2[0, :, 0] += 2.0
    j2[0, :, 1] -= 2.0
    for diff, pos0, neg02 in (("w_o_abs", math.sqrt(8), 0.0),               # (dx+dy)/2 = 0
                              ("w_abs", math.sqrt(8), math.sqrt(21) * 2.0)):  # (|dx|+|dy|)/2 = 2
        pw, nw = simhand_weights(j1, j2, "non_linear", diff, lambda_pos=1.0, lambda_neg=1.0)
        d = torch.tensor([pos0, 0.0])
        assert torch.allclose(pw, torch.sigmoid(-(d - d.mean())).double())
        # D between view 0 (=j1[0]) and view 2 (=j2[0]) for the two negative definitions:
        dm = torch.zeros(4, 4, dtype=torch.float64)
        dm[0, 2] = dm[2, 0] = dm[2, 1] = dm[1, 2] = dm[2, 3] = dm[3, 2] = neg02
        assert torch.allclose(nw, torch.sigmoid(-(dm - dm.mean())))


def test_linear_nan_when_all_distances_equal_official_and_finite_with_fix():
    j1, _ = _joints(1)
    pw, _ = simhand_weights(j1, j1 + 1.0, "linear")   # N = 1: max == min
    assert torch.isnan(pw).all()
    pw, nw = simhand_weights(j1, j1 + 1.0, "linear", linear_eps=1e-6)
    assert torch.isfinite(pw).all() and torch.isfinite(nw).all()


def test_every_weighted_loss_finite_and_in_range_over_options():
    j1, j2 = _joints(16)
    z1, z2 = _rand(16, 8)
    for wt, dt, mode in itertools.product(["linear", "non_linear"], ["mpjpe", "w_o_abs", "w_abs"],
                                          ["pos_neg", "pos", "neg"]):
        pw, nw = simhand_weights(j1, j2, wt, dt, lambda_pos=1.0, lambda_neg=0.01)
        assert pw.shape == (16,) and nw.shape == (32, 32)
        assert (pw >= 0).all() and (pw <= 1).all() and (nw >= 0).all() and (nw <= 1).all()
        assert torch.isfinite(weighted_nt_xent(z1, z2, pw, nw, mode))


def test_pca_modes():
    j1, j2 = _joints(16)
    torch.manual_seed(0)
    a = simhand_weights(j1, j2, "linear", "mpjpe", pca="official")
    # Official recipe written out: separate randomised bases per view, uncentred projection.
    torch.manual_seed(0)
    x1, x2 = j1.reshape(16, -1).float(), j2.reshape(16, -1).float()
    p1 = x1 @ torch.pca_lowrank(x1, q=14)[2]
    p2 = x2 @ torch.pca_lowrank(x2, q=14)[2]
    d = (p1 - p2).norm(dim=1)
    assert torch.allclose(a[0], (d.max() - d) / (d.max() - d.min()))
    q = torch.cat([p1, p2])
    dd = (q[:, None] - q[None]).norm(dim=-1)
    assert torch.allclose(a[1], 1 - dd / dd.max(), atol=1e-5)
    f1 = simhand_weights(j1, j2, "linear", "mpjpe", pca="fixed")
    f2 = simhand_weights(j1, j2, "linear", "w_abs", pca="fixed")
    assert torch.equal(f1[0], f2[0]) and torch.equal(f1[1], f2[1])  # deterministic, diff ignored
    # A full-rank fixed PCA (42 dims) of centred data preserves Euclidean distances exactly.
    jj1, jj2 = _joints(30)
    full = simhand_weights(jj1, jj2, "linear", pca="fixed", pca_dim=42)
    ref_d = (jj1 - jj2).reshape(30, -1).norm(dim=1)
    assert torch.allclose(full[0], (ref_d.max() - ref_d) / (ref_d.max() - ref_d.min()))
    with pytest.raises(ValueError, match="pca_dim: 14 needs a chunk of at least 14 pairs"):
        simhand_weights(*_joints(8), "linear", pca="official")


def test_joints_type_official_bug_and_fix():
    a1, a2, o1, o2 = (torch.full((2, 21, 2), float(v)) for v in range(4))
    assert select_weight_joints(a1, a2, o1, o2, "original")[0] is a1       # official: dead option
    assert select_weight_joints(a1, a2, o1, o2, "original", fixed=True)[0] is o1
    with pytest.raises(ValueError, match="joints_type"):
        select_weight_joints(a1, a2, o1, o2, "raw")


def test_original_view_joints_rescale_to_the_view_without_augmentation():
    # a (H, W) = (100, 200) loader image, a (128, 64) view: u * 64/200, v * 128/100
    kp = torch.zeros(1, 21, 2, dtype=torch.float64)
    kp[0, 0] = torch.tensor([100.0, 50.0])
    kp[0, 1] = torch.tensor([200.0, 100.0])
    out = original_view_joints(kp, (100, 200), (128, 64))
    assert out[0, 0].tolist() == [32.0, 64.0]
    assert out[0, 1].tolist() == [64.0, 128.0]
    assert out[0, 2].tolist() == [0.0, 0.0]


def test_simhand_weights_bad_shape_message():
    with pytest.raises(ValueError, match=r"joints1: expected \(N, 21, 2\), got \(4, 21, 3\)"):
        simhand_weights(torch.zeros(4, 21, 3), torch.zeros(4, 21, 3), "linear")


# ---- chunking ---------------------------------------------------------------------------------

def test_chunked_loss_is_mean_of_independent_chunk_losses():
    z1, z2 = _rand(10, 6)
    j1, j2 = _joints(10)
    loss = chunked_loss(WeightedNTXentLoss(), z1, z2, j1, j2, loss_chunk_size=4)
    parts = []
    for s in (slice(0, 4), slice(4, 8), slice(8, 10)):
        pw, nw = simhand_weights(j1[s], j2[s], "linear")   # min-max normalised per chunk
        parts.append(weighted_nt_xent(z1[s], z2[s], pw, nw, "pos_neg"))
    assert loss.item() == pytest.approx(sum(p.item() for p in parts) / 3, rel=1e-12)
    whole = WeightedNTXentLoss()(z1, z2, j1, j2)
    assert whole.item() != pytest.approx(loss.item())
    assert chunked_loss(NTXentLoss(), z1, z2, loss_chunk_size=None) == nt_xent(z1, z2)
    assert chunked_loss(nt_xent, z1, z2, loss_chunk_size=5).item() == pytest.approx(
        (nt_xent(z1[:5], z2[:5]) + nt_xent(z1[5:], z2[5:])).item() / 2)


# ---- PeCLR ------------------------------------------------------------------------------------

def test_peclr_undo_after_apply_is_identity():
    g = torch.Generator().manual_seed(0)
    p = F.normalize(torch.randn(6, 128, generator=g, dtype=torch.float64), dim=1)
    jx = -torch.randint(0, 15, (6,), generator=g).double()
    jy = -torch.randint(0, 15, (6,), generator=g).double()
    ang = torch.randint(-45, 45, (6,), generator=g).double()
    for crop, rot in itertools.product([True, False], repeat=2):
        fwd = peclr_transform(p, jx, jy, ang, crop=crop, rotate=rot, direction="apply")
        back = peclr_transform(fwd, jx, jy, ang, crop=crop, rotate=rot)
        assert torch.allclose(back, p, atol=1e-12)
        if crop or rot:
            assert not torch.allclose(fwd, p, atol=1e-3)


def test_convention_peclr_rotation_matches_opencv_matrix():
    # One cloud of 2 points; undo by -angle about the centroid, OpenCV's formula written out.
    p = torch.tensor([[1.0, 0.0, -1.0, 0.0]], dtype=torch.float64)  # points (1,0) and (-1,0)
    out = peclr_transform(p, torch.zeros(1), torch.zeros(1), torch.tensor([90.0]), crop=False)
    # alpha = cos(-90) = 0, beta = sin(-90) = -1; centre 0: x' = beta*y = 0, y' = -beta*x = x.
    expected = torch.tensor([[0.0, 1.0, 0.0, -1.0]], dtype=torch.float64) / math.sqrt(2)
    assert torch.allclose(out, expected, atol=1e-12)


def test_convention_peclr_translation_sign_and_extent_scaling():
    # Undo adds -(jitter/H) * extent: jitter_x = -16 on H = 128, x-extent 2 -> +0.25 in x.
    p = torch.tensor([[1.0, 0.0, -1.0, 0.0]], dtype=torch.float64)
    out = peclr_transform(p, torch.tensor([-16.0]), torch.zeros(1), torch.zeros(1), rotate=False)
    # After the first normalisation the points are (+-1/sqrt2, 0), x-extent sqrt2, so the shift is
    # (16/128)*sqrt2; times sqrt2: [1.25, 0, -0.75, 0] before the final normalisation.
    expected = F.normalize(torch.tensor([[1.25, 0.0, -0.75, 0.0]], dtype=torch.float64), dim=1)
    assert torch.allclose(out, expected, atol=1e-12)
