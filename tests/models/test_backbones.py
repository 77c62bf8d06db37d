"""Contract tests over every registered backbone (STYLE.md R7)."""

import pytest
import torch

from handkit.models.backbones import (
    Backbone, create_backbone, list_backbones, register_backbone,
)

_SLOW = {"resnet101", "resnet152", "hrnet_w18", "hrnet_w32"}
_EXPECTED = {  # (out_channels, stride): torchvision / timm documentation, not read from the code
    "resnet18": (512, 32), "resnet34": (512, 32), "resnet50": (2048, 32),
    "resnet101": (2048, 32), "resnet152": (2048, 32), "hrnet_w18": (18, 4), "hrnet_w32": (32, 4),
}


def _names():
    return [pytest.param(n, marks=pytest.mark.slow) if n in _SLOW else n for n in list_backbones()]


def test_registry_lists_the_documented_names():
    assert set(_EXPECTED) <= set(list_backbones())
    assert list_backbones("hrnet*") == ["hrnet_w18", "hrnet_w32"]
    assert list_backbones() == sorted(list_backbones())


@pytest.mark.parametrize("name", _names())
def test_backbone_contract(name):
    torch.manual_seed(0)
    net = create_backbone(name)
    assert isinstance(net, Backbone)
    if name in _EXPECTED:
        assert (net.out_channels, net.stride) == _EXPECTED[name]
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    fmap = net(x)
    assert fmap.shape == (2, net.out_channels, 64 // net.stride, 64 // net.stride)
    pooled = net.forward_pooled(x)
    assert pooled.shape == (2, net.out_channels)
    torch.testing.assert_close(pooled, fmap.mean(dim=(2, 3)))
    pooled.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads)


def test_channels_last_gives_the_same_features():
    torch.manual_seed(0)
    net = create_backbone("resnet18").eval()
    x = torch.randn(2, 3, 64, 64)
    ref = net(x)
    net_cl = net.to(memory_format=torch.channels_last)
    out = net_cl(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_resnet_state_dict_is_torchvision_naming():
    import torchvision

    tv = torchvision.models.resnet18(weights=None).state_dict()
    ours = create_backbone("resnet18").state_dict()
    assert set(ours) == {k for k in tv if not k.startswith("fc.")}
    with_fc = create_backbone("resnet18", num_classes=1000)
    with_fc.load_state_dict(tv, strict=True)  # loads a torchvision file as is
    x = torch.randn(1, 3, 64, 64)
    ref = torchvision.models.resnet18(weights=None)
    ref.load_state_dict(tv)
    torch.testing.assert_close(with_fc.eval().forward_head(x), ref.eval()(x))


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"Did you mean 'resnet50'\?.*list_backbones"):
        create_backbone("resnet05")
    with pytest.raises(ValueError, match="unknown backbone 'vit'"):
        create_backbone("vit")


def test_unknown_option_lists_accepted_ones():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['pretrained'\].*num_classes"):
        create_backbone("resnet18", pretrained=True)


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("resnet18")(lambda: None)


def test_forward_head_without_fc_explains():
    with pytest.raises(ValueError, match="num_classes"):
        create_backbone("resnet18").forward_head(torch.zeros(1, 3, 32, 32))


def test_weights_file_is_loaded(tmp_path):
    src = create_backbone("resnet18")
    torch.save(src.state_dict(), tmp_path / "w.pth")
    dst = create_backbone("resnet18", weights=tmp_path / "w.pth")
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k]), k


def test_weights_of_the_wrong_depth_name_file_and_key(tmp_path):
    torch.save(create_backbone("resnet18").state_dict(), tmp_path / "r18.pth")
    with pytest.raises(ValueError, match=r"r18\.pth.*(key|not in the file)"):
        create_backbone("resnet50", weights=tmp_path / "r18.pth")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        create_backbone("resnet18", weights=tmp_path / "nope.pth")


@pytest.mark.slow
def test_hrnet_loads_a_timm_imagenet_layout_file(tmp_path, recwarn):
    import timm

    full = timm.create_model("hrnet_w18", pretrained=False)  # classification layout, with head
    torch.save(full.state_dict(), tmp_path / "hrnet_w18.pth")
    net = create_backbone("hrnet_w18", weights=tmp_path / "hrnet_w18.pth")
    assert not [w for w in recwarn if "not used" in str(w.message)]
    assert torch.equal(net.state_dict()["net.conv1.weight"], full.state_dict()["conv1.weight"])


@pytest.mark.slow
def test_hrnet_w32_has_digit_parameter_count():
    # specs/digit.md §1.2: the pose HRNet-W32 without its final layer has 28,535,552 parameters.
    net = create_backbone("hrnet_w32")
    assert sum(p.numel() for p in net.parameters()) == 28_535_552
    assert net(torch.zeros(1, 3, 256, 256)).shape == (1, 32, 64, 64)
