import math

import pytest
import torch

from handkit.geometry.align import align_root_scale, procrustes, procrustes_transform


def _rot_z(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _random_rotations(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    return q * torch.det(q)[:, None, None]


def test_recovers_known_similarity_exactly():
    # pred = gt @ Rz(30°)ᵀ · 2 + (1, 2, 3) row-wise; the inverse is s = 1/2, R = Rz(30°),
    # t = −(1, 2, 3) @ Rz(30°) / 2.
    gt = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0],
                        [1.0, 1.0, 1.0]]], dtype=torch.float64)
    R = _rot_z(math.pi / 6)
    shift = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    pred = 2.0 * gt @ R.T + shift
    T = procrustes_transform(pred, gt)
    torch.testing.assert_close(T.scale, torch.tensor([0.5], dtype=torch.float64))
    torch.testing.assert_close(T.rotation[0], R)
    torch.testing.assert_close(T.translation[0], -(shift @ R) / 2)
    torch.testing.assert_close(procrustes(pred, gt), gt)


def test_batched_random_similarities(hands):
    gt = hands(16, seed=7)
    R = _random_rotations(16, 1)
    s = torch.linspace(0.2, 5.0, 16, dtype=torch.float64)
    pred = s[:, None, None] * gt @ R + torch.randn(16, 1, 3, dtype=torch.float64)
    torch.testing.assert_close(procrustes(pred, gt), gt, rtol=0, atol=1e-10)
    assert torch.allclose(torch.det(procrustes_transform(pred, gt).rotation),
                          torch.ones(16, dtype=torch.float64))


def test_reflection_gives_a_proper_rotation(hands):
    gt = hands(4, seed=2)
    mirrored = gt * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    T = procrustes_transform(mirrored, gt)
    torch.testing.assert_close(torch.det(T.rotation), torch.ones(4, dtype=torch.float64))
    # A proper rotation cannot undo a mirror: the residual stays > 0 ...
    assert (procrustes(mirrored, gt) - gt).norm(dim=-1).mean() > 1e-3
    # ... and equals the best over det=+1 found by the §4.1 fix (negate last singular pair).
    p0, g0 = mirrored - mirrored.mean(1, True), gt - gt.mean(1, True)
    u, sig, vh = torch.linalg.svd(p0.transpose(1, 2) @ g0)
    d = torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    expected_scale = (sig * d).sum(1) / (p0 ** 2).sum((1, 2))
    torch.testing.assert_close(T.scale, expected_scale)


def test_weights_ignore_outliers(hands):
    gt = hands(3, seed=3)
    pred = gt @ _rot_z(0.4) * 1.5 + 0.2
    pred[:, 4] += 10.0  # a wild thumb tip
    valid = torch.ones(3, 21, dtype=torch.bool)
    valid[:, 4] = False
    aligned = procrustes(pred, gt, valid)
    torch.testing.assert_close(aligned[:, 5:], gt[:, 5:])
    assert (procrustes(pred, gt)[:, 5:] - gt[:, 5:]).abs().max() > 0.01


def test_degenerate_inputs_are_finite():
    gt = torch.randn(2, 21, 3, dtype=torch.float64)
    out = procrustes(torch.zeros(2, 21, 3, dtype=torch.float64), gt)
    torch.testing.assert_close(out, gt.mean(1, keepdim=True).expand_as(gt))  # LSQ optimum
    out = procrustes(torch.randn(2, 21, 3), torch.zeros(2, 21, 3))
    assert torch.equal(out, torch.zeros(2, 21, 3))
    out = procrustes(torch.randn(2, 5, 3), torch.randn(2, 5, 3), torch.zeros(2, 5))
    assert torch.isfinite(out).all()
    assert procrustes(torch.zeros(0, 21, 3), torch.zeros(0, 21, 3)).shape == (0, 21, 3)


def test_float32_in_float32_out(hands):
    gt = hands(2).float()
    out = procrustes(gt * 2, gt)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, gt, rtol=0, atol=1e-6)


def test_align_root_scale_hand_derived():
    gt = torch.zeros(1, 21, 3, dtype=torch.float64)
    gt[0, 9] = torch.tensor([0.0, -0.1, 0.0])  # gt bone length 0.1
    gt += torch.tensor([0.1, 0.2, 0.5], dtype=torch.float64)
    pred = torch.zeros(1, 21, 3, dtype=torch.float64)
    pred[0, 9] = torch.tensor([0.2, 0.0, 0.0])  # pred bone length 0.2, along x
    pred[0, 4] = torch.tensor([0.0, 0.0, 0.4])
    out = align_root_scale(pred, gt)
    # Root onto gt's root, scaled by 0.1 / 0.2; no rotation, so the bone still points along x.
    torch.testing.assert_close(out[0, 0], gt[0, 0])
    torch.testing.assert_close(out[0, 9], gt[0, 0] + torch.tensor([0.1, 0.0, 0.0]).double())
    torch.testing.assert_close(out[0, 4], gt[0, 0] + torch.tensor([0.0, 0.0, 0.2]).double())


def test_align_root_scale_other_root_and_zero_bone(hands):
    gt = hands(2)
    pred = gt * 3.0 + 1.0
    out = align_root_scale(pred, gt, root="middle_mcp", bone=(0, 5))
    torch.testing.assert_close(out, gt)
    flat = torch.zeros(2, 21, 3, dtype=torch.float64)
    torch.testing.assert_close(align_root_scale(flat, gt), gt[:, :1].expand_as(gt))


@pytest.mark.parametrize("call, message", [
    (lambda: procrustes(torch.zeros(2, 21, 2), torch.zeros(2, 21, 2)), r"pred: expected \(B, N, 3\)"),
    (lambda: procrustes(torch.zeros(2, 21, 3), torch.zeros(2, 20, 3)), r"gt: expected the shape"),
    (lambda: procrustes(torch.full((1, 4, 3), float("nan")), torch.zeros(1, 4, 3)),
     r"pred: contains NaN"),
    (lambda: procrustes(torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), torch.ones(1, 5)),
     r"valid: expected \(1, 4\)"),
    (lambda: procrustes(torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), -torch.ones(1, 4)),
     r"valid: weights must be >= 0"),
    (lambda: procrustes(torch.zeros(1, 0, 3), torch.zeros(1, 0, 3)), r"pred: needs at least one"),
    (lambda: align_root_scale(torch.zeros(1, 16, 3), torch.zeros(1, 16, 3)), r"pred: expected \(B, 21"),
    (lambda: align_root_scale(torch.zeros(1, 21, 3), torch.zeros(1, 21, 3), root="palm"),
     r"root: unknown value 'palm'"),
    (lambda: align_root_scale(torch.zeros(1, 21, 3), torch.zeros(1, 21, 3), bone=(0, 21)),
     r"bone: joint index 21 out of range"),
])
def test_bad_input_names_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_procrustes_gradcheck(hands):
    gt = hands(2, seed=8)
    pred = (1.3 * gt @ _rot_z(0.3) + 0.01 * torch.randn(2, 21, 3, dtype=torch.float64)
            ).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: procrustes(p, gt), (pred,))
