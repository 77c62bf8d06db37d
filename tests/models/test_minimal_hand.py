"""minimal-hand DetNet: shapes, official keys, decoding, targets, training lowers the loss."""

import math

import pytest
import torch

from handkit.losses.keypoints import detnet_loss
from handkit.models.minimal_hand import (
    DetNet, decode_maps, detnet_targets, position_tile,
)


@pytest.fixture(scope="module")
def net18():
    torch.manual_seed(0)
    return DetNet("resnet18")


def test_output_shapes_at_128(net18):
    out = net18(torch.randn(2, 3, 128, 128))
    assert out.heatmaps.shape == (2, 21, 32, 32)
    assert out.delta_maps.shape == out.location_maps.shape == (2, 21, 3, 32, 32)
    assert out.rc.shape == out.uv.shape == (2, 21, 2) and out.rc.dtype == torch.int64
    assert out.xyz.shape == out.delta.shape == (2, 21, 3)
    assert ((out.heatmaps > 0) & (out.heatmaps < 1)).all()


def test_official_layer_sizes_and_keys():
    net = DetNet("resnet50")
    keys = set(net.state_dict())
    assert {"deconv.0.weight", "deconv.1.running_var", "deconv.3.weight", "deconv.6.weight",
            "deconv.7.bias", "hmap_0.project.0.weight", "hmap_0.project.1.weight",
            "hmap_0.prediction.bias", "lmap_0.prediction.weight", "encoder.layer4.2.conv3.weight"} <= keys
    assert net.deconv[0].weight.shape == (2048, 256, 4, 4) and net.deconv[0].bias is None
    assert net.hmap_0.project[0].in_channels == 258 and net.hmap_0.project[0].bias is None
    assert net.dmap_0.project[0].in_channels == 279
    assert net.lmap_0.project[0].in_channels == 342
    assert net.dmap_0.prediction.out_channels == net.lmap_0.prediction.out_channels == 63


def test_official_encoder_features_checkpoint_loads(net18, tmp_path):
    names = {"conv1": 0, "bn1": 1, "layer1": 4, "layer2": 5, "layer3": 6, "layer4": 7}
    sd = {}
    for k, v in net18.state_dict().items():
        if k.startswith("encoder."):
            head, _, rest = k[len("encoder."):].partition(".")
            k = f"encoder.features.{names[head]}.{rest}"
        sd[k] = v + 1 if v.is_floating_point() else v
    torch.save({"state_dict": sd}, tmp_path / "detnet_official.pth")
    other = DetNet("resnet18")
    report = other.load_checkpoint(tmp_path / "detnet_official.pth")
    assert report.loaded == len(sd)
    torch.testing.assert_close(other.encoder.layer2[0].conv1.weight, net18.encoder.layer2[0].conv1.weight + 1)
    torch.testing.assert_close(other.hmap_0.prediction.bias, net18.hmap_0.prediction.bias + 1)


def test_position_tile_convention():
    tile = position_tile(4, 3, like=torch.zeros(1))
    assert tile.shape == (1, 2, 4, 3)
    assert torch.equal(tile[0, 0, 2], torch.tensor([-1.0, 0.0, 1.0]))  # x varies along width
    torch.testing.assert_close(tile[0, 1, :, 1], torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0]))  # y along height


def test_decode_reads_row_col_and_maps():
    hm = torch.zeros(1, 21, 8, 8)
    hm[0, :, 5, 2] = 1.0  # row 5, col 2
    hm[0, 4, 0, 7] = 2.0  # joint 4: row 0, col 7
    lmap = torch.zeros(1, 21, 3, 8, 8)
    lmap[0, :, :, 5, 2] = torch.tensor([1.0, 2.0, 3.0])
    lmap[0, 4, :, 0, 7] = torch.tensor([-1.0, 0.0, 4.0])
    rc, uv, delta, xyz = decode_maps(hm, lmap * 2, lmap, (32, 32))
    assert rc[0, 0].tolist() == [5, 2] and rc[0, 4].tolist() == [0, 7]
    assert uv[0, 0].tolist() == [(2 + 0.5) * 4, (5 + 0.5) * 4]  # (x, y), cell centre, 4 px cells
    assert xyz[0, 0].tolist() == [1.0, 2.0, 3.0] and xyz[0, 4].tolist() == [-1.0, 0.0, 4.0]
    assert delta[0, 4].tolist() == [-2.0, 0.0, 8.0]


def _hand():
    g = torch.Generator().manual_seed(3)
    xyz = torch.tensor([0.0, 0.0, 0.6]) + 0.04 * torch.randn(21, 3, generator=g)
    uv = 20 + 90 * torch.rand(21, 2, generator=g)
    return uv, xyz


def test_targets_hand_computed():
    uv, xyz = _hand()
    uv[0] = torch.tensor([13.9, 4.2])  # cell (x=3, y=1)
    uv[1] = torch.tensor([-20.0, 50.0])  # cell x = trunc(-5) = -5: window [-8, -2] outside → veil 0
    uv[2] = torch.tensor([-11.0, 50.0])  # trunc(-2.75) = -2: window reaches column 0 and 1
    t = detnet_targets(uv[None], xyz[None], torch.tensor([True]))
    hm = t.heatmaps[0]
    assert hm[0, 1, 3] == 1.0 and hm[0, 1, 4].item() == pytest.approx(math.exp(-0.5))
    assert hm[0, 4, 6].item() == pytest.approx(math.exp(-(9 + 9) / 2))  # window corner (+3, +3)
    assert hm[0, 5, 3] == 0 and hm[0, 1, 7] == 0  # outside the 7 × 7 window
    assert t.heatmap_valid[0, 1] == 0 and hm[1].sum() == 0
    assert t.heatmap_valid[0, 2] == 1 and hm[2, 12, 1].item() == pytest.approx(math.exp(-4.5))
    bone = (xyz[9] - xyz[0]).norm()
    torch.testing.assert_close(t.location_maps[0, 7, :, 5, 9], (xyz[7] - xyz[0]) / bone)
    torch.testing.assert_close(t.delta_maps[0, 7, :, 0, 0], (xyz[7] - xyz[6]) / (xyz[7] - xyz[6]).norm())
    assert t.delta_maps[0, 0].abs().sum() == 0 and t.location_maps[0, 0].abs().sum() == 0
    assert t.delta_maps[0, 5, :, 0, 0].tolist() == pytest.approx(
        ((xyz[5] - xyz[0]) / (xyz[5] - xyz[0]).norm()).tolist(), abs=1e-6)  # index MCP's parent: wrist


def test_targets_decode_back_to_the_hand():
    uv, xyz = _hand()
    t = detnet_targets(uv[None], xyz[None], torch.tensor([True]))
    rc, uv_dec, _, xyz_dec = decode_maps(t.heatmaps, t.delta_maps, t.location_maps, (128, 128))
    assert (uv_dec - uv).abs().max() <= 2.0  # within half a 4-px cell
    torch.testing.assert_close(xyz_dec[0], (xyz - xyz[0]) / (xyz[9] - xyz[0]).norm())


def test_targets_without_3d_are_zero_and_finite():
    uv, _ = _hand()
    t = detnet_targets(uv[None], torch.full((1, 21, 3), float("nan")), torch.tensor([False]))
    assert t.location_maps.abs().sum() == 0 and t.delta_maps.abs().sum() == 0
    assert torch.isfinite(t.heatmaps).all()


def test_bad_inputs_are_named(net18):
    with pytest.raises(ValueError, match=r"img: expected \(B, 3, H, W\)"):
        net18(torch.zeros(2, 1, 128, 128))
    with pytest.raises(ValueError, match=r"xyz: expected \(2, 21, 3\)"):
        detnet_targets(torch.zeros(2, 21, 2), torch.zeros(2, 16, 3), torch.ones(2, dtype=torch.bool))


@pytest.mark.parametrize("term", ["total", "hm", "lm"])
def test_each_loss_term_has_its_true_gradient(term, assert_descends):
    """A small step along -grad lowers each term by its first-order amount (float64, BN in eval
    mode: a guaranteed property, unlike a few Adam steps on a BLAS-dependent trajectory)."""
    torch.manual_seed(0)
    net = DetNet("resnet18").double().eval()
    img = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    uv, xyz = _hand()
    targets = detnet_targets(torch.stack([uv, uv.flip(0)]) / 4, torch.stack([xyz, xyz]),
                             torch.tensor([True, False]), image_size=32, map_size=8)

    def loss():
        out = net(img)
        terms = detnet_loss(out.heatmaps, out.delta_maps, out.location_maps,
                            targets.heatmaps.double(), targets.heatmap_valid,
                            targets.delta_maps.double(), targets.location_maps.double(),
                            targets.has_3d)
        return getattr(terms, term)

    assert_descends(loss, net.parameters())


@pytest.mark.slow
def test_hrnet_backbone_needs_no_deconv():
    net = DetNet("hrnet_w18")
    assert len(net.deconv) == 0 and net.hmap_0.project[0].in_channels == 18 + 2
    assert net(torch.randn(1, 3, 128, 128)).heatmaps.shape == (1, 21, 32, 32)
