"""SMHR to ONNX: the network alone and with its decoding, parity with torch at another batch."""

import json

import pytest
import torch

from handkit.infer.export_multihand import compare_smhr_onnx, export_smhr_onnx
from handkit.models.registry import create_model


def _net():
    torch.manual_seed(0)
    return create_model("smhr", backbone="resnet18", image_size=64, hand_model="openhand",
                        channels=16, max_hands=2).eval()


def test_decode_dense_matches_predict():
    net = _net()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        dense = net.decode_dense(x)
    assert all(len(h) == 0 for h in net.predict(x).hands)  # untrained: nothing above 0.5
    net.score_threshold = None  # the release's behaviour: all K
    pred_all = net.predict(x)
    for i in range(2):
        for j, hand in enumerate(pred_all.hands[i]):
            assert torch.allclose(hand.uv, dense["uv"][i, j], atol=1e-4)
            assert hand.is_right == bool(dense["is_right"][i, j])
            assert hand.score == pytest.approx(float(dense["score"][i, j]))


def test_network_maps_export_with_parity(tmp_path):
    net = _net()
    path = export_smhr_onnx(net, tmp_path / "smhr.onnx", decoding="outside")
    meta = json.loads((tmp_path / "smhr.onnx.json").read_text())
    assert meta["decoding"] == "outside" and meta["score_threshold"] == 0.5
    diffs = compare_smhr_onnx(net, path, batch=3)
    assert set(diffs) == {"hm", "handmap", "params"}
    assert max(diffs.values()) < 1e-4, diffs


@pytest.mark.slow
def test_decoded_export_with_parity(tmp_path):
    net = _net()
    path = export_smhr_onnx(net, tmp_path / "smhr.onnx", decoding="inside")
    diffs = compare_smhr_onnx(net, path, batch=3)
    assert diffs["ind"] == 0 and diffs["is_right"] == 0, diffs
    assert diffs["uv"] < 1e-3 and diffs["xyz"] < 1e-5 and diffs["vertices"] < 1e-5, diffs


def _intrinsics_net():
    torch.manual_seed(1)
    return create_model("smhr", backbone="resnet18", image_size=64, hand_model="openhand",
                        channels=16, max_hands=2, camera="intrinsics").eval()


@pytest.mark.slow
def test_intrinsics_export_takes_K_with_parity(tmp_path):
    from handkit.infer.export import onnx_session
    from handkit.infer.export_multihand import random_K

    net = _intrinsics_net()
    path = export_smhr_onnx(net, tmp_path / "k.onnx", decoding="inside")
    meta = json.loads((tmp_path / "k.onnx.json").read_text())
    assert meta["inputs"] == ["image", "K"] and "input K" in meta["camera"]["intrinsics"]
    session = onnx_session(path)
    assert [i.name for i in session.get_inputs()] == ["image", "K"]
    diffs = compare_smhr_onnx(net, path, batch=3)
    assert diffs["ind"] == 0 and diffs["is_right"] == 0, diffs
    assert diffs["uv"] < 1e-3 and diffs["xyz"] < 1e-5 and diffs["vertices"] < 1e-5, diffs
    # the graph uses the K it is given: another K moves the hands as torch moves them
    image = torch.randn(2, 3, 64, 64)
    K1, K2 = random_K(2, 64, torch.Generator().manual_seed(5)), random_K(2, 64)
    for K in (K1, K2):
        uv, xyz = session.run(["uv", "xyz"], {"image": image.numpy(), "K": K.numpy()})
        with torch.no_grad():
            ref = net.decode_dense(image, K)
        assert abs(uv - ref["uv"].numpy()).max() < 1e-3
        assert abs(xyz - ref["xyz"].numpy()).max() < 1e-5
    uv1 = session.run(["uv"], {"image": image.numpy(), "K": K1.numpy()})[0]
    uv2 = session.run(["uv"], {"image": image.numpy(), "K": K2.numpy()})[0]
    assert abs(uv1 - uv2).max() > 0.5
    # its maps alone need no K (the network does not see the camera)
    maps = export_smhr_onnx(net, tmp_path / "m.onnx", decoding="outside")
    assert [i.name for i in onnx_session(maps).get_inputs()] == ["image"]
    assert max(compare_smhr_onnx(net, maps, batch=2).values()) < 1e-4
