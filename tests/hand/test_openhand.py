import math
from collections import Counter

import pytest
import torch

from handkit.hand.model import PART_NAMES, POSE_JOINTS, aa_to_rotmat, mirror_pose
from handkit.hand.openhand import (JOINT_LIMITS, SHAPE_SIGMAS, OpenHand, angles_to_pose,
                                   clamp_pose, limit_penalty, pose_to_angles)
from handkit.hand.skeleton import mirror_xyz


@pytest.fixture(scope="module")
def model():
    return OpenHand().double()


def _volume(v, f):
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return (a * torch.cross(b, c, dim=-1)).sum() / 6


def test_mesh_is_closed_small_and_labelled(model):
    faces = model.faces
    edges = Counter()
    for tri in faces.tolist():
        for i in range(3):
            edges[tuple(sorted((tri[i], tri[(i + 1) % 3])))] += 1
    assert set(edges.values()) == {2}  # closed 2-manifold components
    assert model.num_vertices < 2000
    assert torch.allclose(model.weights.sum(1), torch.ones(model.num_vertices, dtype=torch.float64))
    assert set(model.parts.tolist()) == set(range(len(PART_NAMES)))
    out = model(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, 15, 3, dtype=torch.float64))
    assert _volume(out.vertices[0], faces) > 1e-4  # outward winding, ~hand volume in m^3


def test_zero_pose_gives_rest_mesh(model, generator):
    shape = torch.randn(3, 10, generator=generator, dtype=torch.float64)
    out = model(torch.zeros(3, 3, dtype=torch.float64), torch.zeros(3, 15, 3, dtype=torch.float64), shape)
    joints = model.rest_joints(shape)
    assert torch.allclose(out.joints, joints, atol=1e-12)
    assert torch.allclose(out.vertices, model.rest_vertices(shape, joints), atol=1e-12)
    assert torch.allclose(out.rotmats, torch.eye(3, dtype=torch.float64).expand(3, 16, 3, 3))
    # anthropometry: wrist -> middle tip about 0.19 m, bone lengths in meters
    length = (out.joints[:, 12] - out.joints[:, 0]).norm(dim=-1)
    mean = model(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, 15, 3, dtype=torch.float64))
    assert 0.17 < float((mean.joints[0, 12] - mean.joints[0, 0]).norm()) < 0.21
    assert torch.all(length > 0.1)


def test_tips_are_surface_points(model):
    out = model(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, 15, 3, dtype=torch.float64))
    for tip in (4, 8, 12, 16, 20):
        assert float((out.vertices[0] - out.joints[0, tip]).norm(dim=-1).min()) < 1e-9


def test_global_rotation_is_rigid_about_the_wrist(model, generator):
    pose = angles_to_pose(torch.rand(2, 15, 3, generator=generator, dtype=torch.float64) * 0.5)
    aa = torch.randn(2, 3, generator=generator, dtype=torch.float64)
    shape = torch.randn(2, 10, generator=generator, dtype=torch.float64)
    base = model(torch.zeros(2, 3, dtype=torch.float64), pose, shape)
    turned = model(aa, pose, shape, transl=torch.tensor([[0.1, 0.2, 0.5]] * 2, dtype=torch.float64))
    R = aa_to_rotmat(aa)
    expected = base.vertices @ R.transpose(1, 2) + torch.tensor([0.1, 0.2, 0.5], dtype=torch.float64)
    assert torch.allclose(turned.vertices, expected, atol=1e-12)
    assert torch.allclose(turned.joints, base.joints @ R.transpose(1, 2) + turned.joints[:, :1] - base.joints[:, :1] @ R.transpose(1, 2), atol=1e-12)
    assert torch.allclose(turned.rotmats, R[:, None] @ base.rotmats, atol=1e-12)


def test_left_is_mirror_of_right(model, generator):
    pose = angles_to_pose(torch.rand(2, 15, 3, generator=generator, dtype=torch.float64) * 0.6)
    aa = torch.randn(2, 3, generator=generator, dtype=torch.float64)
    right = model(aa, pose)
    left = model(mirror_pose(aa), mirror_pose(pose), handedness="left")
    assert torch.allclose(left.vertices, mirror_xyz(right.vertices), atol=1e-12)
    assert torch.allclose(left.joints, mirror_xyz(right.joints), atol=1e-12)
    assert torch.equal(left.faces, right.faces.flip(-1))
    assert _volume(left.vertices[0], left.faces) > 1e-4  # still outward


def test_flexion_curls_towards_the_palm(model):
    # positive flexion of the index MCP moves the index tip towards +y (the palm side)
    angles = torch.zeros(1, 15, 3, dtype=torch.float64)
    angles[0, POSE_JOINTS.index(5), 2] = math.pi / 2
    out = model(torch.zeros(1, 3, dtype=torch.float64), angles_to_pose(angles))
    rest = model.rest_joints(torch.zeros(1, 10, dtype=torch.float64))
    tip = out.joints[0, 8] - out.joints[0, 5]
    assert tip[1] > 0.06 and abs(float(tip[0])) < 0.01  # finger now points along +y
    assert torch.allclose(out.joints[0, 5], rest[0, 5])  # the MCP itself does not move


def test_shape_scales_the_hand(model):
    shape = torch.zeros(1, 10, dtype=torch.float64)
    shape[0, 0] = 1.0
    scaled = model.rest_joints(shape)
    mean = model.rest_joints(torch.zeros(1, 10, dtype=torch.float64))
    assert torch.allclose(scaled, mean * math.exp(SHAPE_SIGMAS[0]), atol=1e-12)


def test_angles_round_trip_and_clamp(generator):
    angles = torch.randn(5, 15, 3, generator=generator, dtype=torch.float64)
    assert torch.allclose(pose_to_angles(angles_to_pose(angles)), angles, atol=1e-12)
    lim = JOINT_LIMITS.double()
    clamped = pose_to_angles(clamp_pose(angles_to_pose(angles)))
    assert torch.all(clamped >= lim[..., 0] - 1e-9) and torch.all(clamped <= lim[..., 1] + 1e-9)
    assert torch.allclose(limit_penalty(clamp_pose(angles_to_pose(angles))), torch.zeros(5, dtype=torch.float64), atol=1e-18)
    inside = torch.zeros(1, 15, 3, dtype=torch.float64)
    inside[0, 4, 2] = lim[4, 2, 1] + 0.1  # index PIP flexed 0.1 rad past its limit
    assert torch.allclose(limit_penalty(angles_to_pose(inside)), torch.tensor([0.01], dtype=torch.float64))


def test_thumb_cmc_has_three_dof():
    widths = JOINT_LIMITS[0, :, 1] - JOINT_LIMITS[0, :, 0]
    assert torch.all(widths > math.radians(30))


def test_differentiable_everywhere(model):
    pose = torch.zeros(2, 15, 3, dtype=torch.float64, requires_grad=True)
    orient = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    shape = torch.zeros(2, 10, dtype=torch.float64, requires_grad=True)
    out = model(orient, pose, shape)
    (out.vertices.square().sum() + out.joints.sum()).backward()
    for t in (pose, orient, shape):
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
