import math

import pytest
import torch

from handkit.geometry.camera import project
from handkit.geometry.pose25d import CONVENTIONS, Convention, from_25d, root_depth, to_25d
from handkit.hand.skeleton import JOINT_NAMES, convert

EYE = torch.eye(3, dtype=torch.float64)


def _bone_case(x_n: float, z_n: float) -> tuple[torch.Tensor, torch.Tensor]:
    """uv, z_rel with K = I: joint m on the optical axis at z_rel 0, joint n on ray (x_n, 0, 1).

    Uses the minimal_hand bone (wrist 0, middle_mcp 9); every other joint sits on the axis.
    """
    uv = torch.zeros(1, 21, 2, dtype=torch.float64)
    z = torch.zeros(1, 21, dtype=torch.float64)
    uv[0, 9, 0], z[0, 9] = x_n, z_n
    return uv, z


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_round_trip_3d_25d_3d_every_convention(name, hands, K224):
    xyz = hands(64, seed=3)
    uv, z_rel, scale = to_25d(xyz, K224, convention=name)
    back = from_25d(uv, z_rel, K224, scale, convention=name)
    assert (back - xyz).norm(dim=-1).max() < 1e-6  # meters; float64 gives ~1e-15
    # float32 end to end: still sub-0.1 mm.
    uv, z_rel, scale = to_25d(xyz.float(), K224.float(), convention=name)
    back = from_25d(uv, z_rel, K224.float(), scale, convention=name)
    assert back.dtype == torch.float32
    assert (back.double() - xyz).norm(dim=-1).max() < 1e-4


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_to_25d_definitions(name, hands, K224):
    conv = CONVENTIONS[name]
    xyz = hands(5, seed=1)
    uv, z_rel, scale = to_25d(xyz, K224, convention=name)
    m, n = conv.bone_index
    torch.testing.assert_close(scale, (xyz[:, n] - xyz[:, m]).norm(dim=-1))
    assert z_rel[:, conv.root_index].abs().max() == 0
    root = xyz[:, 0] if conv.root == "wrist" else 0.5 * (xyz[:, 0] + xyz[:, 9])  # palm: middle MCP
    torch.testing.assert_close(z_rel[:, 4], (xyz[:, 4, 2] - root[:, 2]) / scale)
    torch.testing.assert_close(uv[:, 0], project(root[:, None], K224)[:, 0])
    torch.testing.assert_close(uv[:, 1:], project(xyz, K224)[:, 1:])


def test_convention_presets_are_the_official_ones():
    # specs/pretrain.md §3.1-3.2, §4.3: AIT (0, 2), AIT (3, 8) + palm, SNAP (0, 9).
    ait = lambda name: convert(torch.arange(21.0)[:, None], "handkit", "ait")[:, 0].tolist().index(
        JOINT_NAMES.index(name))
    assert [ait(j) for j in CONVENTIONS["peclr_src"].bone] == [0, 2]
    assert [ait(j) for j in CONVENTIONS["rn25d"].bone] == [3, 8]
    assert CONVENTIONS["minimal_hand"].bone_index == (0, 9)
    assert CONVENTIONS["rn25d"].root == "palm" and CONVENTIONS["rn25d"].clamp == (4.0, 50.0)
    assert CONVENTIONS["rn25d"].eps == 1e-8 and CONVENTIONS["peclr_src"].eps == 1e-6
    assert CONVENTIONS["rn25d"].detach and not CONVENTIONS["peclr_src"].detach
    assert CONVENTIONS["peclr_src"].clamp is None and CONVENTIONS["minimal_hand"].clamp is None


def test_root_depth_hand_derived_lateral_bone():
    # Points (0, 0, Z) and (0.1 Z, 0, Z) are 1 apart iff Z = 10.
    uv, z = _bone_case(0.1, 0.0)
    torch.testing.assert_close(root_depth(uv, z, EYE, convention="minimal_hand"),
                               torch.tensor([10.0], dtype=torch.float64))


def test_root_depth_hand_derived_quadratic_takes_larger_root():
    # z_n = 0.5: a = 0.01, b = 2 * 0.5 * 0.01 = 0.01, c = 0.01 * 0.25 + 0.25 - 1 = -0.7475,
    # b^2 - 4ac = 0.0001 + 0.0299 = 0.03, Z = (-0.01 + sqrt(0.03)) / 0.02.
    uv, z = _bone_case(0.1, 0.5)
    expected = (-0.01 + math.sqrt(0.03)) / 0.02
    torch.testing.assert_close(root_depth(uv, z, EYE, convention="minimal_hand"),
                               torch.tensor([expected], dtype=torch.float64))


@pytest.mark.parametrize("name, expected", [("peclr_src", 500.0), ("minimal_hand", 5000.0),
                                            ("rn25d", 50.0)])
def test_root_depth_eps_floor_and_clamp(name, expected):
    # Degenerate bone: both joints on one ray at the same depth -> a = b = 0, c = -1, and
    # Z = sqrt(eps) / (2 eps) = 1 / (2 sqrt(eps)): 500 for 1e-6, 5000 for 1e-8 (rn25d clamps to 50).
    uv = torch.zeros(1, 21, 2, dtype=torch.float64)
    z = torch.zeros(1, 21, dtype=torch.float64)
    out = root_depth(uv, z, EYE, convention=name)
    torch.testing.assert_close(out, torch.tensor([expected], dtype=torch.float64))


def test_rn25d_clamps_low_and_detaches():
    # Lateral bone on ray x = 0.5: Z = 2 bone lengths unclamped, 4 after rn25d's clamp.
    uv, z = _bone_case(0.5, 0.0)
    torch.testing.assert_close(root_depth(uv, z, EYE, convention="minimal_hand"),
                               torch.tensor([2.0], dtype=torch.float64))
    uv = torch.zeros(1, 21, 2, dtype=torch.float64)
    uv[0, 10, 0] = 0.5  # the rn25d bone is (middle_mcp 9, middle_pip 10)
    uv.requires_grad_(True)
    out = root_depth(uv, torch.zeros(1, 21, dtype=torch.float64), EYE, convention="rn25d")
    assert float(out) == 4.0 and not out.requires_grad


def test_scale_one_gives_unit_bone(hands, K224):
    xyz = hands(8, seed=5)
    for name, conv in CONVENTIONS.items():
        uv, z_rel, _ = to_25d(xyz, K224, convention=name)
        unit = from_25d(uv, z_rel, K224, convention=Convention(root="wrist", bone=conv.bone,
                                                                eps=conv.eps))
        m, n = conv.bone_index
        torch.testing.assert_close((unit[:, n] - unit[:, m]).norm(dim=-1),
                                   torch.ones(8, dtype=torch.float64))


@pytest.mark.parametrize("name", ["peclr_src", "minimal_hand"])
def test_root_depth_gradcheck(name, hands, K224):
    uv, z_rel, _ = to_25d(hands(3, seed=6), K224, convention=name)
    uv, z_rel = uv.clone().requires_grad_(True), z_rel.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b: root_depth(a, b, K224, convention=name), (uv, z_rel))
    assert torch.autograd.gradcheck(
        lambda a, b: from_25d(a, b, K224, convention=name), (uv, z_rel))


def test_root_depth_gradient_of_lateral_bone():
    # Z = 1 / x_n for the lateral bone, so dZ/dx_n = -1 / x_n^2 = -100 at x_n = 0.1.
    uv, z = _bone_case(0.1, 0.0)
    uv.requires_grad_(True)
    root_depth(uv, z, EYE, convention="minimal_hand").sum().backward()
    torch.testing.assert_close(uv.grad[0, 9, 0], torch.tensor(-100.0, dtype=torch.float64))


def test_given_root_depth_overrides_solve(hands, K224):
    xyz = hands(4, seed=2)
    uv, z_rel, scale = to_25d(xyz, K224, convention="peclr_src")
    true_root = xyz[:, 0, 2] / scale
    shifted = from_25d(uv, z_rel, K224, scale, root_depth=true_root + 1.0)
    torch.testing.assert_close(shifted[..., 2], xyz[..., 2] + scale[:, None])
    torch.testing.assert_close(project(shifted, K224), uv)


def test_root_and_bone_overrides(hands, K224):
    xyz = hands(4, seed=4)
    uv, z_rel, scale = to_25d(xyz, K224, root="middle_mcp", bone=("index_mcp", "ring_mcp"))
    assert z_rel[:, 9].abs().max() == 0
    torch.testing.assert_close(scale, (xyz[:, 13] - xyz[:, 5]).norm(dim=-1))
    back = from_25d(uv, z_rel, K224, scale, root="middle_mcp", bone=("index_mcp", "ring_mcp"))
    torch.testing.assert_close(back, xyz)


def test_empty_batch_gives_empty_output(K224):
    uv, z_rel, scale = to_25d(torch.zeros(0, 21, 3, dtype=torch.float64), K224)
    assert uv.shape == (0, 21, 2) and z_rel.shape == (0, 21) and scale.shape == (0,)
    assert from_25d(uv, z_rel, K224, scale).shape == (0, 21, 3)


@pytest.mark.parametrize("call, message", [
    (lambda K: to_25d(torch.zeros(2, 16, 3), K), r"xyz: expected \(B, 21, 3\)"),
    (lambda K: to_25d(torch.zeros(2, 21, 3), K.repeat(3, 1, 1)), r"K: expected \(3, 3\) or \(2,"),
    (lambda K: to_25d(torch.zeros(2, 21, 3), K, convention="rn_25d"),
     r"convention: unknown value 'rn_25d'; choose one of \['minimal_hand', 'peclr_src', 'rn25d'\]"),
    (lambda K: root_depth(torch.zeros(2, 21, 2), torch.zeros(2, 20), K), r"z_rel: expected \(2, 21\)"),
    (lambda K: from_25d(torch.zeros(2, 21, 2), torch.zeros(2, 21), K, torch.ones(3)),
     r"scale: expected"),
    (lambda K: from_25d(torch.zeros(2, 21, 2), torch.zeros(2, 21), K, 1.0, torch.ones(2, 2)),
     r"root_depth: expected"),
    (lambda K: to_25d(torch.zeros(2, 21, 3), K, root="elbow"), r"root: unknown value 'elbow'"),
    (lambda K: Convention(root="palm", bone=("wrist", "middle_mcp")), r"bone: .* uses the wrist"),
    (lambda K: Convention(bone=("wrist", "wrist")), r"bone: expected two different"),
    (lambda K: Convention(clamp=(50.0, 4.0)), r"clamp: expected"),
    (lambda K: Convention(eps=0.0), r"eps: must be > 0"),
])
def test_bad_input_names_argument(call, message, K224):
    with pytest.raises(ValueError, match=message):
        call(K224.float())
