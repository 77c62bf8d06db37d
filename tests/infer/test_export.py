"""ONNX export agrees with torch; packed (int8/fp16) checkpoints load and stay close."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handkit.cli import main
from handkit.infer.export import (OnnxPoseNet, compare_onnx, export_onnx, onnx_session,
                                  run_onnx)
from handkit.infer.predict import predict_hand
from handkit.models.checkpoint import (dequantize_int8, load_model, pack_checkpoint,
                                    quantize_int8, shipped_checkpoint)

from _infer_ckpt import tiny_checkpoint  # pytest (prepend mode) puts tests/infer on sys.path


@pytest.mark.parametrize("name", ["rn25d", pytest.param("detnet", marks=pytest.mark.slow)])
def test_onnxruntime_matches_torch(tmp_path, name):
    ckpt = tiny_checkpoint(tmp_path / "m.ckpt", name)
    net = load_model(ckpt)[0]
    path = export_onnx(net, tmp_path / "m.onnx")
    session = onnx_session(path)
    image = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    K = torch.tensor([[[70.0, 0, 15], [0, 75, 17], [0, 0, 1]], [[60.0, 0.5, 16], [0, 62, 16],
                                                                [0, 0, 1]],
                      [[65.0, 0, 14], [0, 66, 18], [0, 0, 1]]])
    with torch.no_grad():
        ref = net(image, K)
    for b in (1, 3):  # one file, any batch size (the export traced batch 2)
        got = run_onnx(session, image[:b].numpy(), K[:b].numpy())
        for r, o in zip(ref, got):
            assert o.shape[0] == b
            assert np.abs(r[:b].numpy() - o).max() <= 1e-4
    assert compare_onnx(net, path) <= 1e-4
    assert (tmp_path / "m.onnx.json").is_file()
    # the photo pipeline on onnxruntime (`OnnxPoseNet`) gives torch's result
    onnx_net = OnnxPoseNet(net, session)
    photo = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    box = np.array([20.0, 10.0, 50.0, 45.0])
    for left in (False, True):  # mirrored in and out alike
        ref = predict_hand(net, photo, box, left=left)  # 1 pass: no integer box to tie on
        got = predict_hand(onnx_net, photo, box, left=left)
        for r, o in zip(ref[:3], got[:3]):  # uv, xyz, the crop's square
            # the graph's 1e-4 float error, magnified at most by the crop's scale (80 / 32)
            assert np.abs(r - o).max() <= 1e-3


def test_int8_quantisation_error_is_half_a_step():
    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    q, scale = quantize_int8(w)
    assert q.dtype == torch.int8 and scale.shape == (8,)
    step = scale.float().reshape(8, 1, 1, 1)
    # scale is stored in fp16, so allow its rounding on top of half a quantisation step
    assert ((dequantize_int8(q, scale) - w).abs() <= 0.5 * step + 2e-3 * w.abs()).all()
    assert q.abs().max() == 127


@pytest.mark.parametrize("quantize", ["int8", "fp16", "none"])
def test_packed_checkpoint_loads_and_predicts_close(tmp_path, quantize):
    ckpt = tiny_checkpoint(tmp_path / "m.ckpt")
    packed = pack_checkpoint(ckpt, tmp_path / "p.pt", quantize)
    a, b = load_model(ckpt)[0], load_model(packed)[0]
    x = torch.randn(2, 3, 32, 32)
    K = torch.tensor([[60.0, 0, 16], [0, 60, 16], [0, 0, 1]]).expand(2, 3, 3)
    with torch.no_grad():
        (uv_a, _), (uv_b, _) = a(x, K), b(x, K)
    tol = {"none": 1e-5, "fp16": 0.05, "int8": 0.5}[quantize]  # crop pixels of 32
    assert (uv_a - uv_b).abs().max() <= tol
    assert packed.stat().st_size < ckpt.stat().st_size or quantize == "none"


def test_bad_checkpoints_are_named(tmp_path):
    torch.save({"state_dict": {}, "hyper_parameters": {"config": {"method": "simclr"}}},
               tmp_path / "pre.ckpt")
    with pytest.raises(ValueError, match="finetune --init"):
        load_model(tmp_path / "pre.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.ckpt"):
        load_model(tmp_path / "junk.ckpt")


def test_shipped_checkpoint_is_small_and_loads():
    path = shipped_checkpoint()
    assert path.stat().st_size < 20e6
    net, config = load_model(None)
    assert config["model"]["name"] == "rn25d" and not net.training


def test_export_cli(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "m.ckpt")
    assert main(["export", "--ckpt", str(ckpt), "--pack", str(tmp_path / "p.pt")]) == 0
    assert main(["export", "--ckpt", str(ckpt)]) == 2
    assert "nothing to do" in capsys.readouterr().err
