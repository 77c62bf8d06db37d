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
