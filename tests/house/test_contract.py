"""The model contract: registry, Prediction, checkpoint config, hands, the two-pass box."""

import numpy as np
import pytest
import torch

from handkit.data.hands import collate_hands, collate_items, mirror_to_right
from handkit.infer.pipeline import second_pass_box
from handkit.models.checkpoint import model_config
from handkit.models.prediction import HandPrediction, Prediction, bone_unit, parse_unit
from handkit.models.registry import create_model, list_models, register_model


def test_registry_names_suggests_and_refuses_unknown_options():
    assert {"rn25d", "detnet", "digit"} <= set(list_models())
    with pytest.raises(ValueError, match="Did you mean 'rn25d'"):
        create_model("rn25")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['root'\]"):
        create_model("detnet", backbone="resnet18", root="palm")
    with pytest.raises(ValueError, match="already registered"):
        register_model("rn25d")(lambda: None)


def test_built_models_declare_unit_frame_and_config():
    rn = create_model("rn25d", backbone="resnet18", image_size=64, root="wrist")
    assert rn.cfg.options == {"root": "wrist"} and rn.frame == "camera" and rn.uses_K
    assert parse_unit(rn.unit) == (9, 10)  # middle MCP, middle PIP in handkit order
    dn = create_model("detnet", backbone="resnet18", image_size=64)
    assert dn.frame == "root_relative" and parse_unit(dn.unit) == (0, 9) and not dn.uses_K


def test_legacy_checkpoint_configs_are_read():
    assert model_config({"name": "rn25d", "backbone": "resnet18", "image_size": 96,
                         "root": "palm"}).options == {"root": "palm"}
    assert model_config({"name": "detnet", "backbone": "resnet18", "image_size": 96,
                         "root": "palm"}).options == {}
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['depth'\]"):
        model_config({"name": "rn25d", "depth": 3})


def _hand(uv, unit="m"):
    return HandPrediction(torch.as_tensor(uv, dtype=torch.float64), torch.ones(21, 3,
                          dtype=torch.float64), "camera", unit)


def test_prediction_maps_2d_per_image_and_keeps_3d():
    uv = torch.zeros(21, 2, dtype=torch.float64)
    uv[1] = torch.tensor([2.0, 4.0])
    pred = Prediction(((_hand(uv),), (), (_hand(uv), _hand(uv + 1))))
    T = torch.eye(3, dtype=torch.float64).repeat(3, 1, 1)
    T[0] = torch.tensor([[2.0, 0, 10], [0, 0.5, -1], [0, 0, 1]])  # scale 2 / 0.5, shift
    out = pred.map_uv(T)
    assert out.hands[0][0].uv[1].tolist() == [14.0, 1.0] and out.hands[0][0].uv[0].tolist() == \
        [10.0, -1.0]
    assert out.hands[1] == () and torch.equal(out.hands[2][1].uv, uv + 1)  # identity
    assert torch.equal(out.hands[0][0].xyz, pred.hands[0][0].xyz)
    with pytest.raises(ValueError, match="exactly one hand per image"):
        out.stack()


def test_bone_units_become_meters_only_with_a_length():
    h = _hand(torch.zeros(21, 2), unit=bone_unit("middle_mcp", "middle_pip"))
    assert torch.allclose(h.in_meters(0.03).xyz, torch.full((21, 3), 0.03, dtype=torch.float64))
    with pytest.raises(ValueError, match="bone_m"):
        h.in_meters()
    with pytest.raises(ValueError, match="unit"):
        _hand(torch.zeros(21, 2), unit="cm")
    with pytest.raises(ValueError, match=r"uv: expected \(21, 2\)"):
        HandPrediction(torch.zeros(16, 2), torch.zeros(21, 3), "camera", "m")


def test_second_pass_box_truncates_in_crop_pixels_like_the_official_script():
    # T: image px -> crop px, scale 2 and shift (10, 20); the predicted crop box is
    # x in [3.7, 50.2], y in [-1.5, 60.9]; int() truncates toward 0: [3, 50] x [-1, 60].
    T = np.array([[2.0, 0, 10], [0, 2.0, 20], [0, 0, 1]])
    uv = np.array([[3.7, -1.5], [50.2, 60.9]] + [[20.0, 20.0]] * 19)
    official = second_pass_box(uv, T)
    assert official.tolist() == [(3 - 10) / 2, (-1 - 20) / 2, (50 - 10) / 2, (60 - 20) / 2]
    floats = second_pass_box(uv, T, rule="float")
    assert np.allclose(floats, [(3.7 - 10) / 2, (-1.5 - 20) / 2, (50.2 - 10) / 2,
                                (60.9 - 20) / 2])
    with pytest.raises(ValueError, match="second_box"):
        second_pass_box(uv, T, rule="round")


def test_mirror_to_right_is_an_involution_and_keeps_projection():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    K = np.array([[50.0, 0, 14.0], [0, 50.0, 10.0], [0, 0, 1]])
    xyz = rng.normal(0, 0.05, (21, 3)) + [0, 0, 0.5]
    uv = (xyz @ K.T)[:, :2] / (xyz @ K.T)[:, 2:]
    im2, uv2, xyz2, K2 = mirror_to_right(image, uv, xyz=xyz, K=K)
    assert np.array_equal(im2[:, 0], image[:, -1])
    proj = (xyz2 @ K2.T)[:, :2] / (xyz2 @ K2.T)[:, 2:]
    assert np.allclose(proj, uv2)  # the mirrored 3D projects onto the mirrored 2D
    im3, uv3, xyz3, K3 = mirror_to_right(im2, uv2, xyz=xyz2, K=K2)
    assert np.array_equal(im3, image) and np.allclose(uv3, uv) and np.allclose(xyz3, xyz)
    assert np.allclose(K3, K)


def test_collate_hands_pads_and_masks():
    items = [{"uv": torch.ones(2, 21, 2), "image": torch.zeros(3, 4, 4)},
             {"bad": "corrupt.jpg: truncated"},
             {"uv": torch.full((1, 21, 2), 5.0), "image": torch.ones(3, 4, 4)}]
    batch = collate_hands(items, per_hand=["uv"])
    assert batch["uv"].shape == (2, 2, 21, 2) and batch["image"].shape == (2, 3, 4, 4)
    assert batch["hand_mask"].tolist() == [[True, True], [True, False]]
    assert batch["uv"][1, 0].eq(5).all() and batch["uv"][1, 1].eq(0).all()
    assert batch["bad"] == ["corrupt.jpg: truncated"]
    assert collate_items([{"bad": "x"}]) == {"bad": ["x"]}
