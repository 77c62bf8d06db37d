"""`handkit predict` with an SMHR checkpoint: every hand of every image, JSON, meshes, overlay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from handkit.infer.predict_multihand import is_multihand_checkpoint, predict_multihand
from handkit.models.registry import build_model
from handkit.tasks.smhr import SMHRConfig
from handkit.utils.config import config_to_dict, load_config
from handkit.utils.mesh_io import read_mesh


def _checkpoint(path: Path, threshold) -> Path:
    cfg = load_config(SMHRConfig, values={
        "model.backbone": "resnet18", "model.image_size": 64,
        "model.options": {"hand_model": "openhand", "channels": 16, "max_hands": 2,
                          "score_threshold": threshold}})
    net = build_model(cfg.model)
    with torch.no_grad():  # constant params: every hand at pose 0, code (3, -2, 0.2)
        last = net.net.heads["params"][-1]
        last.weight.zero_()
        last.bias.zero_()
        last.bias[2 * net.set_size - 3:] = torch.tensor([3.0, -2.0, 0.2])
        hmap = net.net.heads["handmap"][-1]
        hmap.weight.zero_()
        hmap.bias.copy_(torch.tensor([-5.0, 5.0]))  # right
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"config": config_to_dict(cfg)},
                "epoch": 0, "global_step": 0}, path)
    return path


def test_every_hand_is_written_with_its_mesh_and_2d_in_image_pixels(tmp_path):
    ckpt = _checkpoint(tmp_path / "smhr.ckpt", None)  # release behaviour: always K = 2 hands
    assert is_multihand_checkpoint(ckpt)
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((100, 200, 3), 90, np.uint8)).save(photos / "wide.png")
    (photos / "broken.jpg").write_bytes(b"not an image")
    run = predict_multihand(photos, ckpt=ckpt, out_dir=tmp_path / "out", progress=False)
    assert run.hands == {str(photos / "wide.png"): 2}
    assert len(run.bad) == 1 and "broken.jpg" in run.bad[0]
    record = json.loads((tmp_path / "out" / "wide.json").read_text())
    assert len(record["hands"]) == 2 and record["assumptions"]["camera"] == "fixed"
    for hand in record["hands"]:
        assert hand["handedness"] == "right" and 0 < hand["score"] < 1
        uv = np.array(hand["keypoints_2d_px"])
        # the wrist sits at a cell corner + (3, -2) px of the 64-px input; the 200 x 100 image
        # is scaled by 64/200 and centred vertically (offset 16 px): back in image pixels,
        # (u, v) = ((4x + 3) / 0.32, (4y - 2 - 16) / 0.32) for some integer cell (x, y)
        cell = (uv[0] * 0.32 - [3.0, -2.0 - 16.0]) / 4
        assert np.allclose(cell, np.round(cell), atol=1e-3)
        verts, faces = read_mesh(tmp_path / "out" / hand["mesh"]["file"])
        assert verts.shape[1] == 3 and faces.shape[1] == 3
    assert (tmp_path / "out" / "wide_overlay.png").is_file()


def test_an_image_without_hands_gets_an_empty_list(tmp_path):
    ckpt = _checkpoint(tmp_path / "smhr.ckpt", 0.5)  # untrained heat-map ~0.01: nothing found
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "blank.png")
    run = predict_multihand(tmp_path / "blank.png", ckpt=ckpt, out_dir=tmp_path / "out",
                            progress=False)
    assert run.hands == {str(tmp_path / "blank.png"): 0}
    assert json.loads((tmp_path / "out" / "blank.json").read_text())["hands"] == []
    assert (tmp_path / "out" / "blank_overlay.png").is_file()


def test_the_predict_command_dispatches_on_the_checkpoint(tmp_path, capsys):
    from handkit.cli import main

    ckpt = _checkpoint(tmp_path / "smhr.ckpt", None)
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "a.png")
    code = main(["predict", str(tmp_path / "a.png"), "--ckpt", str(ckpt), "--out",
                 str(tmp_path / "out"), "--quiet", "--detector", "centre"])
    out = capsys.readouterr().out
    assert code == 0 and "1 images, 2 hands" in out and "--detector ignored" in out


def test_the_evaluate_command_scores_an_smhr_checkpoint(tmp_path, capsys):
    from handkit.cli import main
    from handkit.data.synth.runner import synthesize

    root = synthesize("multihand", tmp_path / "mh", 3, seed=1, size=128, progress=False)
    ckpt = _checkpoint(tmp_path / "smhr.ckpt", None)
    code = main(["evaluate", "--ckpt", str(ckpt), "--data", str(root), "--out",
                 str(tmp_path / "ev"), "--limit", "2"])
    out = capsys.readouterr().out
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())["metrics"]
    assert code == 0 and metrics["images"] == 2 and metrics["num_pred"] == 4
    assert "ap" in out and metrics["num_gt"] >= 4  # 2-4 hands per synthetic image
    # SMHR's GT-centre reading of every labelled hand, and the gallery of every hand
    assert metrics["gtc_hands"] == metrics["num_gt"] and metrics["gtc_uv_px"] > 0
    assert (tmp_path / "ev" / "gallery.png").is_file() and metrics["gallery"].endswith(
        "gallery.png")
