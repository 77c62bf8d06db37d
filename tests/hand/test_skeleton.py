import itertools

import numpy as np
import pytest
import torch

from handkit.hand import skeleton as sk


def _labels() -> torch.Tensor:
    """(1, 21, 1): each joint carries its own handkit index, so a conversion shows its gather."""
    return torch.arange(21.0)[None, :, None]


@pytest.mark.parametrize("src, dst", list(itertools.permutations(sorted(sk.ORDERS), 2)))
def test_convert_there_and_back_is_identity(src, dst):
    kp = torch.randn(3, 21, 2)
    torch.testing.assert_close(sk.convert(sk.convert(kp, src, dst), dst, src), kp, rtol=0, atol=0)
    arr = kp.numpy()
    np.testing.assert_array_equal(sk.convert(sk.convert(arr, src, dst), dst, src), arr)


def test_convention_handkit_to_ait_matches_spec():
    # specs/pretrain.md §4.3: "The FreiHAND index of AIT joint i is [...][i]".
    spec = [0, 1, 5, 9, 13, 17, 2, 6, 10, 14, 18, 3, 7, 11, 15, 19, 4, 8, 12, 16, 20]
    assert sk.convert(_labels(), "handkit", "ait")[0, :, 0].int().tolist() == spec
    # ... and "AIT index of the FreiHAND joint j is [...][j]".
    ait_of = [0, 1, 6, 11, 16, 2, 7, 12, 17, 3, 8, 13, 18, 4, 9, 14, 19, 5, 10, 15, 20]
    assert sk.convert(_labels(), "ait", "handkit")[0, :, 0].int().tolist() == ait_of


def test_convention_handkit_to_mano_by_hand():
    # MANO slots: wrist, index MCP/PIP/DIP, middle x3, pinky x3, ring x3, thumb x3 (CMC, MCP, IP),
    # then tips thumb, index, middle, ring, pinky. Written out from the handkit names.
    names = ["wrist", "index_mcp", "index_pip", "index_dip", "middle_mcp", "middle_pip",
             "middle_dip", "pinky_mcp", "pinky_pip", "pinky_dip", "ring_mcp", "ring_pip",
             "ring_dip", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip", "index_tip",
             "middle_tip", "ring_tip", "pinky_tip"]
    expected = [sk.JOINT_NAMES.index(n) for n in names]
    assert expected == [0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3, 4, 8, 12, 16, 20]
    assert sk.convert(_labels(), "handkit", "mano")[0, :, 0].int().tolist() == expected


def test_convention_interhand_to_handkit_matches_assemblyhands_map():
    # specs/pretrain.md §3.3: AH/InterHand native (tips first, wrist 20) -> SNAP gather.
    ah_to_snap = [20, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16]
    assert list(sk.order_index("interhand", "handkit")) == ah_to_snap
    assert sk.convert(_labels(), "handkit", "interhand")[0, 20, 0] == 0  # wrist last
    assert sk.convert(_labels(), "handkit", "interhand")[0, 0, 0] == 4  # thumb tip first


def test_convention_rhd_and_identity_orders():
    assert sk.convert(_labels(), "handkit", "rhd")[0, :5, 0].int().tolist() == [0, 4, 3, 2, 1]
    for name in ("mediapipe", "openpose"):
        assert sk.convert(_labels(), "handkit", name)[0, :, 0].int().tolist() == list(range(21))


def test_parents_and_bones():
    assert sk.JOINT_NAMES[0] == "wrist" and sk.JOINT_NAMES[4] == "thumb_tip"
    assert sk.JOINT_NAMES[9] == "middle_mcp" and sk.JOINT_NAMES[20] == "pinky_tip"
    assert len(sk.BONES) == 20 and len(set(sk.JOINT_NAMES)) == 21
    for finger in range(5):
        base = 1 + 4 * finger
        assert sk.PARENTS[base] == 0
        assert [sk.PARENTS[base + k] for k in (1, 2, 3)] == [base, base + 1, base + 2]
    assert all(p < c for p, c in sk.BONES)


def test_bone_lengths_hand_derived():
    kp = torch.zeros(1, 21, 3)
    kp[0, 1] = torch.tensor([3.0, 4.0, 0.0])  # wrist -> thumb_cmc: 5
    kp[0, 2] = torch.tensor([3.0, 4.0, 2.0])  # thumb_cmc -> thumb_mcp: 2
    lengths = sk.bone_lengths(kp)
    assert lengths.shape == (1, 20)
    assert lengths[0, 0] == 5.0 and lengths[0, 1] == 2.0


def test_convention_mirror_uv_pixel_centres():
    # Centre of column i (i + 0.5) maps to the centre of column W - 1 - i.
    uv = torch.tensor([[0.5, 7.0], [9.5, 1.0]])
    out = sk.mirror_uv(uv, 10)
    torch.testing.assert_close(out, torch.tensor([[9.5, 7.0], [0.5, 1.0]]))
    torch.testing.assert_close(sk.mirror_uv(out, 10), uv)
    np.testing.assert_array_equal(sk.mirror_xyz(np.array([[1.0, 2.0, 3.0]])), [[-1.0, 2.0, 3.0]])


@pytest.mark.parametrize("partner, idx", [("middle_mcp", 9), ("index_mcp", 5)])
def test_palm_round_trip(partner, idx):
    kp = torch.randn(2, 21, 3)
    palm = sk.wrist_to_palm(kp, partner)
    torch.testing.assert_close(palm[:, 0], 0.5 * (kp[:, 0] + kp[:, idx]))
    torch.testing.assert_close(palm[:, 1:], kp[:, 1:])
    torch.testing.assert_close(sk.palm_to_wrist(palm, partner), kp)


def test_add_fingertips_then_convert():
    verts = torch.zeros(2, 778, 3)
    verts[:, 320] = 7.0  # the FreiHAND-set index tip
    out = sk.convert(sk.add_fingertips(torch.zeros(2, 16, 3), verts), "mano", "handkit")
    assert out.shape == (2, 21, 3) and bool((out[:, 8] == 7.0).all())
    assert float(out.abs().sum()) == 7.0 * 2 * 3


@pytest.mark.parametrize("call, message", [
    (lambda: sk.convert(torch.zeros(2, 42, 3), "interhand", "handkit"), r"INTERHAND_RIGHT"),
    (lambda: sk.convert(torch.zeros(2, 21, 3), "freihand", "handkit"),
     r"src: unknown value 'freihand'; choose one of \['ait', 'handkit', 'interhand'"),
    (lambda: sk.convert(torch.zeros(2, 21, 3), "handkit", "coco"), r"dst: unknown value 'coco'"),
    (lambda: sk.add_fingertips(torch.zeros(2, 16, 3), torch.zeros(3, 778, 3)),
     r"vertices: expected \(2, V, 3\)"),
    (lambda: sk.add_fingertips(torch.zeros(2, 16, 3), torch.zeros(2, 100, 3)),
     r"vertices: .*tip vertex 744"),
    (lambda: sk.add_fingertips(torch.zeros(2, 16, 3), torch.zeros(2, 778, 3), tips="mine"),
     r"tips: unknown value 'mine'"),
    (lambda: sk.wrist_to_palm(torch.zeros(1, 21, 3), "ring_mcp"), r"partner: unknown value"),
])
def test_bad_input_names_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
