"""SMHR: decoding peaks, the fixed camera's translation, heads' initialisation, the contract."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from handkit.data.centers import center_targets
from handkit.models.prediction import Prediction
from handkit.models.registry import ModelConfig, build_model, create_model, list_models
from handkit.models.smhr import (HM_BIAS, stage_channels, decode_peaks,
                                 decode_translation, fixed_K, gather_cells)

sys.path.insert(0, str(Path(__file__).parents[1] / "hand"))  # the fabricated MANO pickles
from _mano_fixture import mano_arrays, mirror_arrays, write_mano_pickle  # noqa: E402
from _smhr_fixture import inject, stored_parameter_maps, stored_world  # noqa: E402


def _tiny(**kw):
    opts = {"backbone": "resnet18", "image_size": 64, "hand_model": "openhand"}
    opts.update(kw)
    return create_model("smhr", **opts)


def _heat(h=8, w=8):
    heat = torch.full((1, 1, h, w), 1e-4, dtype=torch.float64)
    heat[0, 0, 2, 3] = 0.9  # a peak ...
    heat[0, 0, 2, 4] = 0.8  # ... and its neighbour (suppressed by the 5x5 NMS)
    heat[0, 0, 6, 0] = 0.6  # a second peak 4 rows away (outside the first's window)
    heat[0, 0, 7, 7] = 0.3  # a weak third one
    return heat


def test_decode_finds_peaks_suppresses_neighbours_and_thresholds():
    scores, ind, keep = decode_peaks(_heat(), 4, threshold=0.5)
    assert ind[0, :3].tolist() == [2 * 8 + 3, 6 * 8 + 0, 7 * 8 + 7]
    assert scores[0, :3].tolist() == pytest.approx([0.9, 0.6, 0.3])
    assert keep[0].tolist() == [True, True, False, False]
    assert (2 * 8 + 4) not in ind[0].tolist()  # the neighbour 0.8 is not a peak
    # SMHR's release: no threshold, always K hands
    _, ind_all, keep_all = decode_peaks(_heat(), 4, threshold=None)
    assert keep_all.all() and ind_all[0, :3].tolist() == ind[0, :3].tolist()
    # a peak 2 cells from a higher one survives a 3x3 window, not SMHR's 5x5
    heat = torch.zeros(1, 1, 8, 8)
    heat[0, 0, 1, 1], heat[0, 0, 1, 3] = 0.9, 0.7
    assert decode_peaks(heat, 2, threshold=0.5, kernel=3)[2].tolist() == [[True, True]]
    assert decode_peaks(heat, 2, threshold=0.5)[2].tolist() == [[True, False]]
    with pytest.raises(ValueError, match="max_hands"):
        decode_peaks(heat, 65)


def test_translation_decoding_by_hand():
    # 384 px, map width 96; cell ind = 10·96 + 20: top-left pixel (80, 40); code (a, b, c)
    K = fixed_K((384, 384))
    assert K.tolist() == [[512, 0, 192], [0, 512, 192], [0, 0, 1]]
    code = torch.tensor([3.0, -2.0, 0.2], dtype=torch.float64)
    t = decode_translation(code, torch.tensor(10 * 96 + 20), K, 96)
    tz = 0.2 + 0.8
    assert t.tolist() == pytest.approx([tz * (3 + 80 - 192) / 512, tz * (-2 + 40 - 192) / 512,
                                        tz])
    # the point at t projects to the cell's top-left pixel shifted by (a, b)
    uv = 512 * t[:2] / t[2] + 192
    assert uv.tolist() == pytest.approx([83.0, 38.0])
    # intrinsics mode reads K; PCA's depth offset
    K2 = torch.tensor([[300.0, 0, 100], [0, 250, 90], [0, 0, 1]], dtype=torch.float64)
    t2 = decode_translation(code, torch.tensor(5), K2, 96, depth_offset=0.6)
    assert t2.tolist() == pytest.approx([0.8 * (3 + 20 - 100) / 300, 0.8 * (-2 - 90) / 250, 0.8])


def test_gather_cells():
    maps = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    out = gather_cells(maps, torch.tensor([[7, 0], [19, 3]]))
    assert out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == maps[0, :, 1, 2].tolist()
    assert out[1, 0].tolist() == maps[1, :, 3, 4].tolist()


def test_heads_init_and_neck_shapes():
    net = _tiny(photometric=True)
    heads = net.net.heads
    assert set(heads) == {"hm", "params", "texture", "light", "handmap"}
    assert heads["hm"][-1].bias.item() == pytest.approx(HM_BIAS)
    assert heads["handmap"][-1].bias.tolist() == pytest.approx([HM_BIAS] * 2)
    p = heads["params"][-1]
    assert p.out_channels == 122 and p.bias.abs().max() == 0
    assert 0.0005 < float(p.weight.detach().std()) < 0.0015  # normal(0, 0.001) over 31k weights
    assert heads["light"][-1].out_channels == 27
    assert heads["texture"][-1].out_channels == 3 * net.num_vertices
    assert net.net.neck.n3.weight.eq(10).all()
    with torch.no_grad():
        maps = net(torch.zeros(1, 3, 64, 96))
    assert maps["hm"].shape == (1, 1, 16, 24) and maps["params"].shape == (1, 122, 16, 24)
    assert float(maps["hm"].min()) >= 1e-4 and float(maps["hm"].max()) <= 1 - 1e-4
    # ResNet-50's stage widths (no forward pass needed)
    from handkit.models.backbones import create_backbone
    assert stage_channels(create_backbone("resnet50")) == (512, 1024, 2048)


def _set_output(net, right_code, left_code=None, handmap_right=True):
    """Make the heads constant: params = the given codes everywhere, poses 0; handmap sides."""
    s = net.set_size
    with torch.no_grad():
        last = net.net.heads["params"][-1]
        last.weight.zero_()
        last.bias.zero_()
        last.bias[s - 3:s] = torch.tensor(left_code if left_code is not None else right_code)
        last.bias[2 * s - 3:] = torch.tensor(right_code)
        hmap = net.net.heads["handmap"][-1]
        hmap.weight.zero_()
        hmap.bias.copy_(torch.tensor([-5.0, 5.0] if handmap_right else [5.0, -5.0]))


def test_predict_places_the_wrist_at_cell_plus_offset_and_is_empty_without_hands():
    net = _tiny(score_threshold=None, max_hands=2).eval()
    _set_output(net, [3.0, -2.0, 0.2])
    pred = net.predict(torch.zeros(1, 3, 64, 64))
    assert isinstance(pred, Prediction) and len(pred.hands[0]) == 2
    for hand in pred.hands[0]:
        x, y = hand.extras["cell"]
        # OpenHand at root 0: wrist at its origin = the translation; it projects to the cell's
        # top-left pixel + (a, b)
        assert hand.uv[0].tolist() == pytest.approx([4 * x + 3.0, 4 * y - 2.0], abs=1e-3)
        assert hand.xyz[0, 2].item() == pytest.approx(1.0, abs=1e-6)
        assert hand.is_right and hand.frame == "camera" and hand.unit == "m"
        assert hand.vertices.shape == (net.num_vertices, 3) and 0 < hand.score < 1
    assert pred.faces is not None
    # the default threshold: an untrained heat-map (sigmoid(-4.59) ~ 0.01) finds no hand
    quiet = _tiny().eval()
    assert quiet.predict(torch.zeros(2, 3, 64, 64)).hands == ((), ())


def test_left_set_is_used_for_left_hands():
    net = _tiny(score_threshold=None, max_hands=1).eval()
    _set_output(net, [0.0, 0.0, 0.2], left_code=[5.0, 7.0, 0.0], handmap_right=False)
    hand = net.predict(torch.zeros(1, 3, 64, 64)).hands[0][0]
    x, y = hand.extras["cell"]
    assert not hand.is_right and hand.uv[0].tolist() == pytest.approx([4 * x + 5, 4 * y + 7],
                                                                       abs=1e-3)
    assert hand.xyz[0, 2].item() == pytest.approx(0.8, abs=1e-6)


def test_bad_input_and_options():
    net = _tiny()
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.zeros(1, 3, 64, 70))
    with pytest.raises(ValueError, match="OpenHand has no PCA"):
        _tiny(param_set="pca")
    with pytest.raises(ValueError, match="camera"):
        _tiny(camera="weak")
    with pytest.raises(ValueError, match="intrinsics"):
        _tiny(camera="intrinsics").predict(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="unknown option"):
        create_model("smhr", backbone="resnet18", root="palm")
    with pytest.raises(ValueError, match="needs a ResNet"):
        _tiny(backbone="hrnet_w18")


def test_registered_and_built_from_its_config():
    assert "smhr" in list_models()
    net = _tiny(max_hands=2, score_threshold=0.3)
    cfg = net.cfg
    assert cfg.name == "smhr" and cfg.options["max_hands"] == 2
    again = build_model(ModelConfig(cfg.name, cfg.backbone, cfg.image_size, cfg.options))
    assert again.max_hands == 2 and again.score_threshold == 0.3
    missing = again.load_state_dict(net.state_dict())
    assert not missing.missing_keys and not missing.unexpected_keys


def _batch(net, n_hands=(2, 1), size=64):
    """Targets for synthetic hands: random keypoint clouds placed in the image."""
    rng = np.random.default_rng(0)
    items = []
    for n in n_hands:
        uv = rng.uniform(10, 54, (n, 1, 2)) + rng.normal(0, 4, (n, 21, 2))
        t = center_targets(uv, np.ones((n, 21), bool), np.array([True, False][:n]), (size, size),
                           max_objs=2, center="mean")
        items.append(t)
    return {k: torch.as_tensor(np.stack([t[k] for t in items])) for k in items[0]}


def test_loss_terms_and_gradient(assert_descends):
    torch.manual_seed(0)
    net = _tiny(max_hands=2).double()
    net.eval()  # BN statistics fixed: the loss is a function of the parameters only
    batch = _batch(net)
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    kw = {k: batch[k] for k in ("hm", "ind", "slot", "valid", "is_right", "handmap")}
    kw["uv"] = batch["uv"].double()
    kw["hm"], kw["handmap"] = kw["hm"].double(), kw["handmap"].double()
    out = net.loss(images, **kw)
    assert set(out) == {"loss", "center", "reprojection", "bone", "norm", "handedness"}
    assert all(torch.isfinite(v) for v in out.values())
    official = net.loss(images, **kw, mask_empty_slots=False)
    assert official["center"] == out["center"]  # only the 2D terms see the empty slot
    assert official["reprojection"] != out["reprojection"]
    params = list(net.net.heads["params"].parameters())
    assert_descends(lambda: net.loss(images, **kw)["loss"], params, decrease=1e-3)


def test_mano_hands_use_both_files(tmp_path):
    arrays = mano_arrays(0)
    write_mano_pickle(tmp_path / "MANO_RIGHT.pkl", arrays)
    write_mano_pickle(tmp_path / "MANO_LEFT.pkl", mirror_arrays(arrays))
    net = create_model("smhr", backbone="resnet18", image_size=64, hand_model="mano",
                       mano_dir=str(tmp_path), score_threshold=None, max_hands=1).eval()
    assert net.hands["left"].side == "left" and net.hands["left"].tips == "smhr_left"
    assert net.hands["right"].flat_hand_mean and net.num_vertices == 778
    _set_output(net, [0.0, 0.0, 0.0], handmap_right=False)
    hand = net.predict(torch.zeros(1, 3, 64, 64)).hands[0][0]
    # the left file is the exact mirror of the right: the left hand at pose 0 is the mirror
    # image (about the translation's x) of the right one
    right = net.hands["right"].forward_mano(torch.zeros(1, 3), finger_aa=torch.zeros(1, 45))
    left = net.hands["left"].forward_mano(torch.zeros(1, 3), finger_aa=torch.zeros(1, 45))
    same = [j for j in range(21) if j != 12]  # the middle tip is v445 on the left (SMHR)
    assert torch.allclose(left.joints[0, same, 0], -right.joints[0, same, 0], atol=1e-6)
    assert torch.equal(left.joints[0, 12], left.vertices[0, 445])
    assert torch.allclose(hand.xyz - hand.extras["transl"], left.joints[0], atol=1e-5)
    pca = create_model("smhr", backbone="resnet18", image_size=64, hand_model="mano",
                       mano_dir=str(tmp_path), param_set="pca", n_pca=12)
    assert pca.set_size == 28 and not pca.hands["right"].flat_hand_mean
    assert pca.net.heads["params"][-1].out_channels == 56


def test_photometric_render_by_hand_and_its_gradient(assert_descends):
    # heads at 0: albedo = (0.45, 0.35, 0.3), SH = DC 0.8 only: lighting = 0.8·π/√(4π) per
    # channel, so the rendered hand has one colour; an input of that colour costs ~0, a black
    # one costs that colour's norm (inside the rendered mask)
    net = _tiny(photometric=True, max_hands=1, channels=32).eval()
    with torch.no_grad():
        for name in ("params", "texture", "light"):
            net.net.heads[name][-1].weight.zero_()
            net.net.heads[name][-1].bias.zero_()
    colour = torch.tensor([0.45, 0.35, 0.3]) * 0.8 * math.pi / math.sqrt(4 * math.pi)
    mean, std = (torch.tensor(v)[:, None, None] for v in net.normalize)
    ind = torch.tensor([[8 * 16 + 6]])  # the hand's wrist at pixel (24, 32)
    one = torch.ones(1, 1, dtype=torch.bool)
    kw = dict(ind=ind, slot=one, uv=torch.zeros(1, 1, 21, 2), is_right=one,
              valid=torch.ones(1, 1, 21, dtype=torch.bool), hm=torch.zeros(1, 1, 16, 16), handmap=torch.zeros(1, 2, 16, 16),
              mask=torch.ones(1, 64, 64), weights={"photometric": 1.0})
    same = ((colour[:, None, None].expand(3, 64, 64) - mean) / std)[None]
    black = ((torch.zeros(3, 64, 64) - mean) / std)[None]
    assert net.loss(same, **kw)["photometric"].item() == pytest.approx(0.0, abs=1e-4)
    drawn = net.loss(black, **kw)["photometric"].item()
    assert drawn == pytest.approx(float(colour.norm()), rel=1e-3)  # some pixels are drawn
    texture = list(net.net.heads["texture"][-1].parameters())
    assert_descends(lambda: net.loss(black, **kw)["loss"], texture, decrease=1e-4)
    with pytest.raises(ValueError, match="skin mask"):
        net.loss(black, **{**kw, "mask": None})


def test_stored_world_parameters_give_zero_3d_and_2d_loss(tmp_path, monkeypatch):
    """The synthetic world's stored OpenHand parameters, written into the ``params`` map at each
    hand's centre cell in its side's set, reproduce its labels through SMHR's loss: joint order,
    the left set's mirroring, the camera frame, metres and the translation decoding all agree
    with the world's (`_smhr_fixture`). With the two halves swapped, each hand is posed from
    the other side's half (0 at its cell: a flat, unturned hand), tens of mm from its label.

    Bounds, from the worst-case rounding budget of `_smhr_fixture` (< 2.5e-3 mm and < 1.5e-3
    px per joint coordinate), not from a run: joints3d (mean |·|, mm) < 2.5e-3 < 1e-2;
    reprojection (0.01 × mean squared px) < 0.01 · (1.5e-3)² ≈ 2e-8 < 1e-6; the bone term
    (mean over bones of ‖Δ unit direction‖² ≈ (perpendicular error / length)²), with ≤ 4.2e-3
    px on each bone vector over this world's projected bones (0.6 px shortest, 4.9 px median),
    is < 2e-6 per side, < 1e-5. Independent roundings give ~100× less than these.
    """
    dataset, hands = stored_world(tmp_path / "mh")
    assert {h["handedness"] for image in hands for h in image} == {"left", "right"}
    net = _tiny(image_size=128, camera="intrinsics", channels=8, max_hands=4).eval()
    batch, maps = stored_parameter_maps(net, dataset, hands)
    images = net.preprocess(batch["image"])
    kw = {k: batch[k] for k in ("hm", "ind", "uv", "valid", "is_right", "handmap", "xyz", "K")}

    def loss(params, slot):
        inject(monkeypatch, net, {"params": params})
        with torch.no_grad():
            return net.loss(images, slot=slot, **kw)

    for right in (False, True):  # each side on its own: a mean over both could hide one
        out = loss(maps["params"], batch["slot"] & (batch["is_right"] == right))
        assert out["joints3d"] < 1e-2, (right, out)
        assert out["reprojection"] < 1e-6 and out["bone"] < 1e-5, (right, out)
    s = net.set_size
    swapped = torch.cat([maps["params"][:, s:], maps["params"][:, :s]], 1)  # right | left
    assert loss(swapped, batch["slot"])["joints3d"] > 10  # 4000× the budget
