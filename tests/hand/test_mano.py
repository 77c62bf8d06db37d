"""MANO's LBS on fabricated pickles (specs/mesh.md §5 properties 1-12), no licensed file."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from _mano_fixture import PARENTS, mano_arrays, mirror_arrays, write_mano_pickle
from handkit.hand.mano import MANO, ManoOutput
from handkit.hand.model import PART_NAMES, HandOutput, aa_to_rotmat, forward_kinematics, lbs
from handkit.hand.openhand import OpenHand

F64 = torch.float64
M = torch.tensor([-1.0, 1.0, 1.0], dtype=F64)


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    """Folders of fabricated models: random posedirs + local weights, and the rigid variant."""
    root = tmp_path_factory.mktemp("mano")
    arrays = mano_arrays(0)
    write_mano_pickle(root / "std" / "MANO_RIGHT.pkl", arrays)
    write_mano_pickle(root / "std" / "MANO_LEFT.pkl", mirror_arrays(arrays))
    rigid = mano_arrays(0, weights="onehot", posedirs="zero")
    write_mano_pickle(root / "rigid" / "MANO_RIGHT.pkl", rigid)
    local = mano_arrays(0, weights="local", posedirs="zero")
    write_mano_pickle(root / "local" / "MANO_RIGHT.pkl", local)
    return {"root": root, "arrays": arrays, "rigid": rigid, "local": local}


def _model(folder, **kw):
    return MANO(folder, dtype=F64, cache=False, **kw)


def _pose(b, seed, scale=0.5):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 3, generator=g, dtype=F64) * scale,
            torch.randn(b, 45, generator=g, dtype=F64) * scale,
            torch.randn(b, 10, generator=g, dtype=F64))


def test_rest_pose_is_the_template_and_the_mean(fx):
    a = fx["arrays"]
    flat = _model(fx["root"] / "std", flat_hand_mean=True)
    out = flat.forward_mano(torch.zeros(1, 3, dtype=F64), finger_aa=torch.zeros(1, 45, dtype=F64))
    torch.testing.assert_close(out.vertices[0], torch.tensor(a["v_template"]), atol=1e-12, rtol=0)
    torch.testing.assert_close(out.joints16[0], torch.tensor(a["J_regressor"] @ a["v_template"]),
                               atol=1e-12, rtol=0)
    curled = _model(fx["root"] / "std")
    by_pca = curled.forward_mano(torch.zeros(1, 3, dtype=F64), finger_pca=torch.zeros(1, 30, dtype=F64))
    torch.testing.assert_close(by_pca.full_pose[0, 1:].flatten(), torch.tensor(a["hands_mean"]),
                               atol=0, rtol=0)
    by_aa = curled.forward_mano(torch.zeros(1, 3, dtype=F64), finger_aa=torch.zeros(1, 45, dtype=F64))
    torch.testing.assert_close(by_aa.vertices, by_pca.vertices, atol=1e-15, rtol=0)
    assert (by_aa.vertices - out.vertices).abs().max() > 1e-4  # the mean hand is not flat


def test_shape_is_linear_at_rest_with_jacobian_shapedirs(fx):
    model = _model(fx["root"] / "std", flat_hand_mean=True)
    zero3, zero45 = torch.zeros(1, 3, dtype=F64), torch.zeros(1, 45, dtype=F64)

    def verts(beta):
        return model.forward_mano(zero3, finger_aa=zero45, shape=beta).vertices

    _, _, betas = _pose(2, 1)
    v0 = verts(torch.zeros(1, 10, dtype=F64))
    d1, d2 = verts(betas[:1]) - v0, verts(betas[1:]) - v0
    torch.testing.assert_close(verts(betas[:1] + betas[1:]) - v0, d1 + d2, atol=1e-14, rtol=0)
    jac = torch.autograd.functional.jacobian(verts, betas[:1], vectorize=True,
                                             strategy="forward-mode")  # (1, 778, 3, 1, 10)
    torch.testing.assert_close(jac[0, :, :, 0], torch.tensor(fx["arrays"]["shapedirs"]),
                               atol=1e-13, rtol=0)


def test_translation_moves_everything(fx):
    model = _model(fx["root"] / "std")
    root, fingers, beta = _pose(3, 2)
    t = torch.tensor([[0.1, -0.2, 0.5], [0.0, 0.0, 1.0], [-1.0, 2.0, 3.0]], dtype=F64)
    a = model.forward_mano(root, finger_aa=fingers, shape=beta)
    b = model.forward_mano(root, finger_aa=fingers, shape=beta, transl=t)
    for name in ("vertices", "joints", "joints16"):
        torch.testing.assert_close(getattr(b, name), getattr(a, name) + t[:, None], atol=1e-14, rtol=0)
    torch.testing.assert_close(b.rotmats, a.rotmats, atol=0, rtol=0)


def test_root_rotates_about_the_rest_wrist(fx):
    model = _model(fx["root"] / "std")
    _, fingers, beta = _pose(2, 3)
    root = torch.tensor([[0.3, -1.2, 2.0], [2.9, 0.1, 0.0]], dtype=F64)
    still = model.forward_mano(torch.zeros(2, 3, dtype=F64), finger_aa=fingers, shape=beta)
    moved = model.forward_mano(root, finger_aa=fingers, shape=beta)
    R = aa_to_rotmat(root)
    j0 = still.joints16[:, :1]
    torch.testing.assert_close(moved.vertices, (still.vertices - j0) @ R.transpose(1, 2) + j0,
                               atol=1e-12, rtol=0)
    torch.testing.assert_close(moved.rotmats, R[:, None] @ still.rotmats, atol=1e-12, rtol=0)


def test_s2hand_root_mode_is_wrist_mode_up_to_the_documented_rotation(fx):
    s2hand = _model(fx["root"] / "std", root_mode="s2hand")
    wrist = _model(fx["root"] / "std")
    g = torch.Generator().manual_seed(4)
    rot, pca, beta = (torch.randn(2, 3, generator=g, dtype=F64),
                      torch.randn(2, 30, generator=g, dtype=F64), torch.randn(2, 10, generator=g, dtype=F64))
    out = s2hand.forward_mano(rot, finger_pca=pca, shape=beta)
    R = Rotation.from_rotvec(rot.numpy()).as_matrix()
    combined = Rotation.from_matrix(R @ Rotation.from_rotvec([math.pi, 0, 0]).as_matrix())
    ref = wrist.forward_mano(torch.tensor(combined.as_rotvec()), finger_pca=pca, shape=beta)
    rest = wrist.forward_mano(torch.zeros(2, 3, dtype=F64), finger_pca=pca, shape=beta)
    shift = (torch.tensor(R) - torch.eye(3, dtype=F64)) @ rest.joints16[:, 0, :, None]  # (R - I) J0
    torch.testing.assert_close(out.vertices, ref.vertices + shift.transpose(1, 2), atol=1e-12, rtol=0)
    torch.testing.assert_close(out.joints, ref.joints + shift.transpose(1, 2), atol=1e-12, rtol=0)
    torch.testing.assert_close(out.rotmats, ref.rotmats, atol=1e-12, rtol=0)
    # rot = 0 is SMHR's layer with root (pi, 0, 0) (specs/mesh.md §1.6)
    zero = s2hand.forward_mano(torch.zeros(2, 3, dtype=F64), finger_pca=pca, shape=beta)
    smhr = wrist.forward_mano(torch.tensor([[math.pi, 0, 0]] * 2, dtype=F64), finger_pca=pca, shape=beta)
    torch.testing.assert_close(zero.vertices, smhr.vertices, atol=1e-15, rtol=0)
    assert (zero.full_pose[:, 0] == torch.tensor([math.pi, 0, 0], dtype=F64)).all()


def test_one_hot_parts_stay_rigid(fx):
    model = _model(fx["root"] / "rigid", flat_hand_mean=True)
    bound = fx["rigid"]["weights"].argmax(1)
    root, fingers, beta = _pose(1, 5, scale=1.0)
    rest = model.forward_mano(torch.zeros(1, 3, dtype=F64), finger_aa=torch.zeros(1, 45, dtype=F64),
                              shape=beta).vertices[0]
    posed = model.forward_mano(root, finger_aa=fingers, shape=beta).vertices[0]
    for j in range(16):
        ids = np.flatnonzero(bound == j)
        d_rest = rest[ids, None] - rest[None, ids]  # explicit differences, not cdist
        d_posed = posed[ids, None] - posed[None, ids]
        torch.testing.assert_close(d_posed.norm(dim=-1), d_rest.norm(dim=-1), atol=1e-12, rtol=0)


def _subtree(k):
    out = {k}
    for j, p in enumerate(PARENTS):
        if p in out:
            out.add(j)
    return sorted(out)


@pytest.mark.parametrize("k", [1, 4, 13])
def test_a_joint_moves_only_its_subtree(fx, k):
    model = _model(fx["root"] / "local")
    root, fingers, beta = _pose(1, 6)
    bent = fingers.clone().reshape(1, 15, 3)
    bent[0, k - 1] += torch.tensor([0.4, -0.3, 0.7], dtype=F64)
    a = model.forward_mano(root, finger_aa=fingers, shape=beta)
    b = model.forward_mano(root, finger_aa=bent.reshape(1, 45), shape=beta)
    sub = _subtree(k)
    moved = (b.joints16 - a.joints16).norm(dim=-1)[0]
    others = [j for j in range(16) if j not in sub[1:]]
    assert moved[others].max() < 1e-13 and moved[sub[1:]].min() > 1e-4
    touches = fx["local"]["weights"][:, sub].sum(1) > 0
    v_moved = (b.vertices - a.vertices).norm(dim=-1)[0].numpy()
    assert v_moved[~touches].max() < 1e-13 and v_moved[touches].max() > 1e-4


def test_a_common_rigid_transform_commutes_with_skinning(fx, generator):
    w = torch.tensor(fx["arrays"]["weights"])
    rest = torch.tensor(fx["arrays"]["v_template"])[None]
    rot = aa_to_rotmat(torch.randn(1, 16, 3, generator=generator, dtype=F64))
    joints_rest = torch.tensor(fx["arrays"]["J"])[None]
    _, G = forward_kinematics(rot, joints_rest, PARENTS)
    T = torch.cat([aa_to_rotmat(torch.tensor([0.3, 1.0, -2.0], dtype=F64)),
                   torch.tensor([[0.1], [0.2], [-0.3]], dtype=F64)], 1)
    TG = torch.cat([T[:, :3] @ G[..., :3], T[:, :3] @ G[..., 3:] + T[:, 3:]], -1)
    expected = lbs(rest, w, G) @ T[:, :3].T + T[:, 3]
    torch.testing.assert_close(lbs(rest, w, TG), expected, atol=1e-14, rtol=0)


def test_batch_equals_per_sample_and_float32_is_close(fx):
    model = _model(fx["root"] / "std")
    root, fingers, beta = _pose(4, 7)
    batch = model.forward_mano(root, finger_aa=fingers, shape=beta)
    for i in range(4):
        one = model.forward_mano(root[i:i + 1], finger_aa=fingers[i:i + 1], shape=beta[i:i + 1])
        torch.testing.assert_close(one.vertices[0], batch.vertices[i], atol=1e-14, rtol=0)
    single = MANO(fx["root"] / "std", cache=False)
    f32 = single.forward_mano(root.float(), finger_aa=fingers.float(), shape=beta.float())
    assert f32.vertices.dtype == torch.float32
    assert (f32.vertices.double() - batch.vertices).abs().max() < 1e-6  # metres


@pytest.mark.parametrize("at_zero", [False, True])
def test_gradcheck_root_pose_shape(fx, at_zero):
    model = _model(fx["root"] / "std")
    root, fingers, beta = _pose(1, 8)
    if at_zero:  # zero rotations must give exact, finite gradients (S2HAND's Rodrigues does not)
        root, fingers = torch.zeros_like(root), torch.zeros_like(fingers) - model.hands_mean.reshape(1, 45)

    def f(r, p, s):
        out = model.forward_mano(r, finger_aa=p, shape=s)
        return out.vertices[:, ::37], out.joints
    inputs = tuple(x.clone().requires_grad_() for x in (root, fingers, beta))
    assert torch.autograd.gradcheck(f, inputs)


def test_pca_round_trip_and_projection(fx, generator):
    model = _model(fx["root"] / "std")
    comps = torch.tensor(fx["arrays"]["hands_components"])
    x = torch.randn(5, 45, generator=generator, dtype=F64)
    torch.testing.assert_close(model.pca_to_finger_aa(model.finger_aa_to_pca(x)).flatten(1), x,
                               atol=1e-12, rtol=0)
    c = model.finger_aa_to_pca(x, n=10)
    projected = model.pca_to_finger_aa(c).flatten(1)
    torch.testing.assert_close(model.finger_aa_to_pca(projected, n=10), c, atol=1e-12, rtol=0)
    torch.testing.assert_close((x - projected) @ comps[:10].T, torch.zeros(5, 10, dtype=F64),
                               atol=1e-12, rtol=0)  # the residual is orthogonal to the span
    e3 = torch.zeros(1, 4, dtype=F64)
    e3[0, 3] = 1.0
    torch.testing.assert_close(model.pca_to_finger_aa(e3).flatten(), comps[3], atol=0, rtol=0)


def test_left_fixture_is_the_exact_mirror_of_the_right(fx):
    right = _model(fx["root"] / "std")
    left = _model(fx["root"] / "std", side="left", left_shapedirs="keep")
    root, fingers, beta = _pose(2, 9)
    r = right.forward_mano(root, finger_aa=fingers, shape=beta)
    flip = torch.tensor([1.0, -1.0, -1.0], dtype=F64)
    lf = left.forward_mano(root * flip, finger_aa=(fingers.reshape(2, 15, 3) * flip).flatten(1), shape=beta)
    mirrored = right.forward_mano(root * flip, finger_aa=(fingers.reshape(2, 15, 3) * flip).flatten(1),
                                  shape=beta, handedness="left")
    for out in (lf, mirrored):
        torch.testing.assert_close(out.vertices, r.vertices * M, atol=1e-14, rtol=0)
        torch.testing.assert_close(out.joints, r.joints * M, atol=1e-14, rtol=0)
        torch.testing.assert_close(out.rotmats, r.rotmats * (M[:, None] * M[None]), atol=1e-14, rtol=0)
        assert torch.equal(out.faces, r.faces.flip(-1))
    pca = torch.randn(2, 12, generator=torch.Generator().manual_seed(1), dtype=F64)
    rp = right.forward_mano(root, finger_pca=pca, shape=beta)
    lp = left.forward_mano(root * flip, finger_pca=pca, shape=beta)
    torch.testing.assert_close(lp.vertices, rp.vertices * M, atol=1e-14, rtol=0)
    torch.testing.assert_close(lp.full_pose, rp.full_pose * flip, atol=1e-15, rtol=0)
    mp = right.forward_mano(root * flip, finger_pca=pca, shape=beta, handedness="left")
    torch.testing.assert_close(mp.vertices, rp.vertices * M, atol=1e-14, rtol=0)
    torch.testing.assert_close(mp.full_pose, lp.full_pose, atol=1e-15, rtol=0)
    assert torch.equal(left.parts, right.parts)


def test_shapes_dtypes_and_the_21_keypoint_order(fx):
    model = _model(fx["root"] / "std")
    root, fingers, beta = _pose(2, 10)
    out = model.forward_mano(root, finger_aa=fingers, shape=beta)
    assert isinstance(out, ManoOutput) and isinstance(out, HandOutput)
    assert out.vertices.shape == (2, 778, 3) and out.joints.shape == (2, 21, 3)
    assert out.joints16.shape == (2, 16, 3) and out.rotmats.shape == (2, 16, 3, 3)
    assert out.faces.dtype == torch.int64 and out.faces.shape == (1538, 3)
    assert out.parts.dtype == torch.int64 and out.parts.shape == (778,)
    v, j, j16 = out.vertices, out.joints, out.joints16
    # handkit: wrist, thumb 1-4, index 1-4, middle, ring, pinky; MANO 16: wrist, index, middle, pinky, ring, thumb
    for handkit, mano in ((0, 0), (1, 13), (2, 14), (3, 15), (5, 1), (7, 3), (9, 4), (13, 10), (17, 7), (19, 9)):
        assert torch.equal(j[:, handkit], j16[:, mano])
    for handkit, vid in ((4, 744), (8, 320), (12, 443), (16, 555), (20, 672)):  # "freihand" tips
        assert torch.equal(j[:, handkit], v[:, vid])
    smhr = _model(fx["root"] / "std", tips="smhr").forward_mano(root, finger_aa=fingers, shape=beta)
    assert torch.equal(smhr.joints[:, 4], v[:, 745]) and torch.equal(smhr.joints[:, 8], v[:, 317])


def test_convention_handmodel_finger_pose_is_handkit_order(fx):
    model = _model(fx["root"] / "std")
    root, fingers, beta = _pose(2, 11)
    handkit = fingers.reshape(2, 15, 3)  # read as POSE_JOINTS order: thumb, index, middle, ring, pinky
    mano_order = handkit[:, [3, 4, 5, 6, 7, 8, 12, 13, 14, 9, 10, 11, 0, 1, 2]]  # by hand
    a = model(root, handkit, beta)
    b = model.forward_mano(root, finger_aa=mano_order.flatten(1), shape=beta)
    torch.testing.assert_close(a.vertices, b.vertices, atol=0, rtol=0)
    # rotmats: wrist, then POSE_JOINTS; the thumb CMC's parent is the wrist
    pose = a.full_pose  # MANO order, mean included
    torch.testing.assert_close(a.rotmats[:, 0], aa_to_rotmat(root), atol=1e-14, rtol=0)
    torch.testing.assert_close(a.rotmats[:, 1], aa_to_rotmat(root) @ aa_to_rotmat(pose[:, 13]),
                               atol=1e-14, rtol=0)
    torch.testing.assert_close(a.rotmats[:, 4], aa_to_rotmat(root) @ aa_to_rotmat(pose[:, 1]),
                               atol=1e-14, rtol=0)  # index MCP = MANO joint 1


def test_parts_follow_the_dominant_skinning_joint(fx):
    model = _model(fx["root"] / "rigid")
    bound = fx["rigid"]["weights"].argmax(1)
    names = {0: "palm", 13: "thumb_proximal", 15: "thumb_distal", 1: "index_proximal",
             7: "pinky_proximal", 12: "ring_distal", 5: "middle_middle"}
    for mano_joint, name in names.items():
        assert {PART_NAMES[p] for p in model.parts[bound == mano_joint].tolist()} == {name}


def test_center_idx_then_transl(fx):
    model = _model(fx["root"] / "std", center_idx=9)
    root, fingers, beta = _pose(2, 12)
    t = torch.tensor([[0.0, 0.1, 0.6], [1.0, 2.0, 3.0]], dtype=F64)
    out = model.forward_mano(root, finger_aa=fingers, shape=beta, transl=t)
    torch.testing.assert_close(out.joints[:, 9], t, atol=1e-15, rtol=0)
    plain = _model(fx["root"] / "std").forward_mano(root, finger_aa=fingers, shape=beta)
    torch.testing.assert_close(out.vertices - out.joints[:, 9:10], plain.vertices - plain.joints[:, 9:10],
                               atol=1e-15, rtol=0)


@pytest.mark.parametrize("call, message", [
    (lambda m: m.forward_mano(torch.zeros(1, 3)), r"exactly one of finger_aa"),
    (lambda m: m.forward_mano(torch.zeros(1, 3), finger_aa=torch.zeros(1, 45), finger_pca=torch.zeros(1, 3)),
     r"exactly one of finger_aa"),
    (lambda m: m.forward_mano(torch.zeros(1, 3), finger_pca=torch.zeros(1, 46)), r"1 to 45 PCA"),
    (lambda m: m.forward_mano(torch.zeros(1, 3), finger_aa=torch.zeros(1, 48)), r"finger_aa: expected \(1, 45\)"),
    (lambda m: m(torch.zeros(2, 3), torch.zeros(2, 45)), r"finger_pose: expected \(2, 15, 3\).*forward_mano"),
    (lambda m: m(torch.zeros(1, 3), torch.zeros(1, 15, 3), handedness="up"), r"handedness"),
    (lambda m: m(torch.full((1, 3), float("nan")), torch.zeros(1, 15, 3)), r"global_orient|root"),
])
def test_bad_calls_name_the_argument(fx, call, message):
    model = MANO(fx["root"] / "std", cache=False)
    with pytest.raises(ValueError, match=message):
        call(model)


@pytest.mark.parametrize("kw, message", [
    ({"root_mode": "origin"}, r"root_mode.*s2hand.*wrist"), ({"tips": "mine"}, r"tips.*freihand"),
    ({"center_idx": 21}, r"center_idx: expected None or a handkit keypoint 0-20"),
    ({"side": "both"}, r"side"), ({"left_shapedirs": "fix"}, r"left_shapedirs.*auto"),
])
def test_bad_options_list_the_choices(fx, kw, message):
    with pytest.raises(ValueError, match=message):
        MANO(fx["root"] / "std", cache=False, **kw)


def test_checkpoints_hold_no_mano_data_and_openhand_shares_the_interface(fx):
    model = MANO(fx["root"] / "std", cache=False)
    assert model.state_dict() == {}  # MANO stays the user's file, never inside a checkpoint
    for hand in (model, OpenHand()):
        out = hand(torch.zeros(1, 3), torch.zeros(1, 15, 3))
        assert out.joints.shape == (1, 21, 3) and out.faces.dtype == torch.int64
        assert out.parts.max() < len(PART_NAMES) and out.parts.shape == (out.vertices.shape[1],)
