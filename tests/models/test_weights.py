"""Weights I/O: the spec §5 prefix mapping, round trips, containers, clear errors."""

import pickle

import pytest
import torch
import torchvision

from handkit.models.backbones import create_backbone
from handkit.models.encoders import load_encoder, save_torchvision
from handkit.models.weights import (
    load_weights, peclr_to_torchvision, read_state_dict, torchvision_to_peclr,
)


def _peclr_checkpoint(tv_sd):
    """A PeCLR/SiMHand Lightning checkpoint as the spec describes it (§1.1, §1.2, §5)."""
    sd = dict(torchvision_to_peclr(tv_sd))
    sd["encoder.final_layer.0.weight"] = torch.zeros(64, 512)
    sd["encoder.final_layer.0.bias"] = torch.zeros(64)
    sd["projection_head.0.weight"] = torch.zeros(512, 512)
    sd["projection_head.3.weight"] = torch.zeros(128, 512)
    return {"state_dict": sd, "epoch": 10}


def test_resnet50_mapping_has_318_tensors():
    tv = torchvision.models.resnet50(weights=None).state_dict()
    assert len(tv) == 320  # 318 + fc.weight + fc.bias
    peclr = torchvision_to_peclr(tv)
    assert len(peclr) == 318
    assert all(k.startswith("encoder.features.") for k in peclr)


def test_mapping_is_the_spec_prefix_table():
    tv = torchvision.models.resnet18(weights=None).state_dict()
    peclr = torchvision_to_peclr(tv)
    # spec §5 table, row by row
    assert torch.equal(peclr["encoder.features.0.weight"], tv["conv1.weight"])
    assert torch.equal(peclr["encoder.features.1.running_mean"], tv["bn1.running_mean"])
    assert torch.equal(peclr["encoder.features.4.0.conv1.weight"], tv["layer1.0.conv1.weight"])
    assert torch.equal(peclr["encoder.features.5.1.bn2.bias"], tv["layer2.1.bn2.bias"])
    assert torch.equal(peclr["encoder.features.6.0.downsample.0.weight"], tv["layer3.0.downsample.0.weight"])
    assert torch.equal(peclr["encoder.features.7.1.conv2.weight"], tv["layer4.1.conv2.weight"])
    assert not any(".2." in k[:20] or ".3." in k[:20] or ".8." in k[:20] for k in peclr)


def test_peclr_torchvision_round_trip_is_exact():
    tv = {k: v for k, v in torchvision.models.resnet18(weights=None).state_dict().items()
          if not k.startswith("fc.")}
    back = peclr_to_torchvision(_peclr_checkpoint(tv)["state_dict"])
    assert list(back) == list(tv)
    assert all(torch.equal(back[k], tv[k]) for k in tv)


@pytest.mark.parametrize("container", ["state_dict", "top"])
def test_export_then_import_is_exact(tmp_path, container):
    torch.manual_seed(0)
    src = create_backbone("resnet18")
    with torch.no_grad():
        src.bn1.running_mean.uniform_()
    sd = save_torchvision(src, tmp_path / "enc.pth", container=container)
    assert len(sd) == 120 and not any(k.startswith("fc.") for k in sd)
    raw = torch.load(tmp_path / "enc.pth", weights_only=True)
    assert ("state_dict" in raw) == (container == "state_dict")
    dst = create_backbone("resnet18", weights=tmp_path / "enc.pth")
    assert all(torch.equal(v, dst.state_dict()[k]) for k, v in src.state_dict().items())
    # and the file is a plain torchvision state dict (only fc missing)
    missing, unexpected = torchvision.models.resnet18(weights=None).load_state_dict(
        read_state_dict(tmp_path / "enc.pth"), strict=False)
    assert sorted(missing) == ["fc.bias", "fc.weight"] and not unexpected


def test_peclr_lightning_checkpoint_initialises_a_backbone(tmp_path, recwarn):
    tv = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(_peclr_checkpoint(tv), tmp_path / "epoch=9.ckpt")
    net = create_backbone("resnet18")
    report = load_weights(net, tmp_path / "epoch=9.ckpt")
    assert report.layout == "peclr" and report.loaded == 120
    assert torch.equal(net.layer3[0].conv1.weight, tv["layer3.0.conv1.weight"])
    assert not [w for w in recwarn if "not used" in str(w.message)]


def test_prefixed_checkpoints_are_found(tmp_path):
    src = create_backbone("resnet18")
    full = {f"model.encoder.{k}": v for k, v in src.state_dict().items()}
    full["model.head.0.weight"] = torch.zeros(3, 3)
    torch.save({"state_dict": full}, tmp_path / "task.ckpt")
    dst = create_backbone("resnet18")
    report = load_weights(dst, tmp_path / "task.ckpt")
    assert report.file_prefix == "model.encoder." and report.outside == 1
    assert torch.equal(dst.conv1.weight, src.conv1.weight)


def test_old_torchvision_files_without_num_batches_tracked_load():
    tv = {k: v for k, v in torchvision.models.resnet18(weights=None).state_dict().items()
          if not k.endswith("num_batches_tracked")}
    load_weights(create_backbone("resnet18"), tv)


def test_unused_keys_warn(tmp_path):
    sd = create_backbone("resnet18").state_dict()
    sd["layer9.weight"] = torch.zeros(1)
    with pytest.warns(UserWarning, match=r"1 key\(s\) not used.*layer9.weight"):
        load_weights(create_backbone("resnet18"), sd)


def test_errors_name_the_file_and_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_state_dict(tmp_path / "missing.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file at all")
    with pytest.raises(ValueError, match=r"garbage\.pth: cannot be read"):
        read_state_dict(tmp_path / "garbage.pth")
    with open(tmp_path / "pickled.pth", "wb") as f:  # arbitrary object: refused, never unpickled
        torch.save({"state_dict": {"w": torch.zeros(1)}, "obj": pickle.PickleError()}, f)
    with pytest.raises(ValueError, match=r"pickled\.pth: cannot be read as a weights-only"):
        read_state_dict(tmp_path / "pickled.pth")
    torch.save({"meta": 3}, tmp_path / "meta.pth")
    with pytest.raises(ValueError, match=r"meta\.pth: entry 'meta' is not a tensor"):
        read_state_dict(tmp_path / "meta.pth")
    sd = create_backbone("resnet18").state_dict()
    sd["layer1.0.conv1.weight"] = torch.zeros(1, 1, 3, 3)
    torch.save(sd, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match=r"shape\.pth: key 'layer1.0.conv1.weight' has shape"):
        create_backbone("resnet18", weights=tmp_path / "shape.pth")
    del sd["layer1.0.conv1.weight"]
    torch.save(sd, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"partial\.pth: 1 tensor\(s\).*layer1.0.conv1.weight"):
        create_backbone("resnet18", weights=tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"key 'encoder.features.3.weight': features.3 has no"):
        peclr_to_torchvision({"encoder.features.3.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="no key matches"):
        load_weights(create_backbone("resnet18"), {"foo.bar": torch.zeros(1)})


def test_load_encoder_finds_the_backbone_inside_a_model(tmp_path):
    from handkit.models.minimal_hand import DetNet

    tv = torchvision.models.resnet18(weights=None)
    torch.save(tv.state_dict(), tmp_path / "simhand_hub.pth")  # SiMHand hub: top level, with fc
    net = DetNet("resnet18")
    report = load_encoder(net, tmp_path / "simhand_hub.pth")
    assert report.loaded == 120 and set(report.ignored) == {"fc.weight", "fc.bias"}
    assert torch.equal(net.encoder.layer1[0].conv1.weight, tv.layer1[0].conv1.weight)
    with pytest.raises(ValueError, match="exactly one ResNet backbone"):
        load_encoder(torch.nn.Linear(2, 2), tmp_path / "simhand_hub.pth")


def test_a_packed_int8_checkpoint_is_dequantised_before_loading(tmp_path):
    """A `handkit export --pack` file (``key::int8`` + ``key::scale``, as the shipped
    rn25d_r18_synth.pt) loads into a bare ResNet: the weights are the dequantised ones."""
    from handkit.models.checkpoint import dequantize_int8, quantize_int8

    torch.manual_seed(0)
    src = create_backbone("resnet18")
    packed = {}
    for key, value in src.state_dict().items():
        if value.is_floating_point() and value.dim() >= 2:
            packed[f"net.model.backend_model.{key}::int8"], packed[
                f"net.model.backend_model.{key}::scale"] = quantize_int8(value)
        else:
            packed[f"net.model.backend_model.{key}"] = value
    torch.save({"state_dict": packed}, tmp_path / "packed.pt")
    dst = create_backbone("resnet18")
    report = load_weights(dst, tmp_path / "packed.pt")
    assert report.layout == "packed" and report.file_prefix == "net.model.backend_model."
    q, s = packed["net.model.backend_model.layer2.0.conv1.weight::int8"], packed[
        "net.model.backend_model.layer2.0.conv1.weight::scale"]
    assert torch.equal(dst.layer2[0].conv1.weight, dequantize_int8(q, s))
    assert torch.allclose(dst.layer2[0].conv1.weight, src.layer2[0].conv1.weight,
                          atol=float(s.float().max()))
    assert torch.equal(dst.bn1.running_mean, src.bn1.running_mean)
