import math

import pytest
import torch

from handkit.hand.model import aa_to_rotmat, forward_kinematics, lbs, mirror_pose


def _rot_z(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def test_rodrigues_hand_derived():
    aa = torch.tensor([[0.0, 0.0, math.pi / 2], [0.0, 0.0, 0.0]], dtype=torch.float64)
    R = aa_to_rotmat(aa)
    assert torch.allclose(R[0], _rot_z(math.pi / 2), atol=1e-12)
    assert torch.allclose(R[1], torch.eye(3, dtype=torch.float64))


def test_rodrigues_orthonormal_and_axis_fixed(generator):
    aa = torch.randn(64, 3, generator=generator, dtype=torch.float64) * 2
    R = aa_to_rotmat(aa)
    eye = torch.eye(3, dtype=torch.float64).expand(64, 3, 3)
    assert torch.allclose(R @ R.transpose(1, 2), eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(R), torch.ones(64, dtype=torch.float64))
    assert torch.allclose((R @ aa[..., None])[..., 0], aa, atol=1e-12)  # the axis is fixed


def test_rodrigues_gradient_finite_at_zero():
    aa = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(aa_to_rotmat, (aa,))
    aa1 = torch.tensor([[0.3, -0.2, 0.5], [1e-5, 0.0, 2e-5]], dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(aa_to_rotmat, (aa1,))
    R = aa_to_rotmat(aa)
    R.sum().backward()
    assert torch.isfinite(aa.grad).all()


def test_forward_kinematics_and_lbs_two_bone_chain():
    # joint 0 at origin, joint 1 at (1, 0, 0); rotate joint 1 by 90° about z: a point at (2, 0, 0)
    # skinned to joint 1 goes to (1, 1, 0); a point skinned to joint 0 stays.
    rest = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0]]], dtype=torch.float64)
    rot = torch.stack([torch.eye(3, dtype=torch.float64), _rot_z(math.pi / 2)])[None]
    joints, tf = forward_kinematics(rot, rest, (-1, 0))
    assert torch.allclose(joints, rest)
    verts = torch.tensor([[[2.0, 0, 0], [0.5, 0, 0], [2.0, 0, 0]]], dtype=torch.float64)
    weights = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    out = lbs(verts, weights, tf)
    expected = torch.tensor([[[1.0, 1.0, 0], [0.5, 0, 0], [1.5, 0.5, 0]]], dtype=torch.float64)
    assert torch.allclose(out, expected, atol=1e-12)
    # a root rotation turns everything about the root
    rot2 = torch.stack([_rot_z(math.pi / 2), torch.eye(3, dtype=torch.float64)])[None]
    joints2, tf2 = forward_kinematics(rot2, rest, (-1, 0))
    assert torch.allclose(joints2[0, 1], torch.tensor([0.0, 1.0, 0], dtype=torch.float64), atol=1e-12)


def test_mirror_pose_conjugates_by_reflection(generator):
    aa = torch.randn(10, 3, generator=generator, dtype=torch.float64)
    M = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    assert torch.allclose(aa_to_rotmat(mirror_pose(aa)), M @ aa_to_rotmat(aa) @ M, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3, 3), (2, 4)])
def test_model_rejects_bad_shapes(shape):
    from handkit.hand.openhand import OpenHand

    model = OpenHand()
    with pytest.raises(ValueError, match="finger_pose: expected"):
        model(torch.zeros(2, 3), torch.zeros(*shape))


def test_model_rejects_bad_handedness_and_nan():
    from handkit.hand.openhand import OpenHand

    model = OpenHand()
    with pytest.raises(ValueError, match="handedness: unknown value 'both'"):
        model(torch.zeros(1, 3), torch.zeros(1, 15, 3), handedness="both")
    with pytest.raises(ValueError, match="global_orient: contains NaN"):
        model(torch.full((1, 3), float("nan")), torch.zeros(1, 15, 3))
    with pytest.raises(ValueError, match="shape: expected"):
        model(torch.zeros(1, 3), torch.zeros(1, 15, 3), torch.zeros(1, 3))


def test_forward_kinematics_rejects_children_before_parents():
    rot = torch.eye(3).expand(1, 2, 3, 3)
    with pytest.raises(ValueError, match="parents: joint 0 has parent 1"):
        forward_kinematics(rot, torch.zeros(1, 2, 3), (1, -1))
