"""S2HAND's evaluation outputs: pred.json for the Codalab servers (infer/codalab.py) and the 2D
report (infer/evaluate_s2hand.py)."""

import json

import numpy as np
import pytest
import torch

from handkit.hand.skeleton import ORDERS
from handkit.infer.codalab import codalab_entries, predict_pred_json, write_pred_json
from handkit.models.registry import create_model

SMALL = dict(backbone="mobilenetv3_small_050", image_size=64, hm_feats=16, hm_modules=1)


def _joints(n=2, seed=0):
    return np.random.default_rng(seed).normal(0, 0.05, (n, 21, 3)) + [0, 0, 0.6]


def test_freihand_entries_are_the_prediction_and_ho3d_reorders_and_flips_joints_only():
    joints, verts = _joints(), np.random.default_rng(1).normal(0, 0.05, (2, 5, 3))
    xyz, vs = codalab_entries(joints, verts, "freihand")
    assert np.array_equal(np.array(xyz), joints) and np.array_equal(np.array(vs), verts)
    xyz, vs = codalab_entries(joints, verts, "ho3d")
    xyz = np.array(xyz)
    for j in range(21):  # handkit joint j sits at HO3D (MANO-order) index ORDERS["mano"][j]
        assert np.array_equal(xyz[:, ORDERS["mano"][j]], joints[:, j] * [1, -1, -1])
    assert np.array_equal(np.array(vs), verts)  # S2HAND does not flip the vertices
    _, vs = codalab_entries(joints, verts, "ho3d", flip_vertices=True)
    assert np.array_equal(np.array(vs), verts * [1, -1, -1])
    assert codalab_entries(joints, None)[1] == [[], []]
    with pytest.raises(ValueError, match="layout"):
        codalab_entries(joints, None, "rhd")


def test_write_pred_json_round_trips(tmp_path):
    joints = _joints(3)
    path = write_pred_json(tmp_path / "pred.json", joints, None)
    xyz, verts = json.loads(path.read_text())
    assert np.allclose(xyz, joints, rtol=0, atol=1e-15) and verts == [[], [], []]


def _save(net, path):
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    cfg = {"name": net.cfg.name, "backbone": net.cfg.backbone, "image_size": net.cfg.image_size,
           "options": dict(net.cfg.options)}
    torch.save({"state_dict": state, "hyper_parameters": {"config": {"model": cfg}}}, path)
    return path


def test_an_s2hand_checkpoint_writes_one_row_per_evaluation_sample(tmp_path):
    from handkit.data.formats import open_dataset
    from handkit.data.hands import resize_with_K
    from handkit.data.synth.runner import synthesize

    root = synthesize("freihand", tmp_path / "fh", 16, seed=2, size=96, progress=False)
    torch.manual_seed(0)
    net = create_model("s2hand", **SMALL).eval()
    ckpt = _save(net, tmp_path / "s2hand.ckpt")
    out = predict_pred_json(ckpt, root, tmp_path / "pred.json", batch_size=1)
    xyz, verts = json.loads(out.read_text())
    evaluation = open_dataset("freihand", root, "evaluation")
    assert len(xyz) == len(evaluation) == 2 and np.array(verts).shape == (2, 1214, 3)
    # the rows are the model on the whole image resized to its side, with K resized alike
    sample = evaluation[1]
    image, K, _ = resize_with_K(sample.image, sample.K, 64)
    with torch.no_grad():
        _, ref = net(net.preprocess(torch.from_numpy(image).permute(2, 0, 1)[None]),
                     torch.from_numpy(K).float()[None])
    assert np.allclose(xyz[1], ref[0].numpy(), atol=1e-5)
    rn = create_model("rn25d", backbone="resnet18", image_size=64)
    with pytest.raises(ValueError, match="camera-frame meters"):
        predict_pred_json(_save(rn, tmp_path / "rn.ckpt"), root, tmp_path / "x.json")


def test_the_2d_report_of_the_three_sources(tmp_path):
    from handkit.data.s2hand import S2HandDataConfig
    from handkit.data.synth.runner import synthesize
    from handkit.infer.evaluate_s2hand import evaluate_2d

    root = synthesize("freihand", tmp_path / "fh", 8, seed=5, size=64, progress=False)
    torch.manual_seed(0)
    ckpt = _save(create_model("s2hand", **SMALL).eval(), tmp_path / "s2hand.ckpt")
    rep = evaluate_2d(ckpt, root, split="training", out=tmp_path / "report_2d.json")
    assert set(rep) == {"heatmap", "projected", "detected", "num_samples"}
    assert rep["num_samples"] == 7 and rep["detected"]["mean_px"] == 0.0  # labels, no noise
    assert rep["projected"]["mean_px"] > 0 and len(rep["heatmap"]["pck"]) == 50
    noisy = S2HandDataConfig(root=str(root), noise_px=3.0)
    assert evaluate_2d(ckpt, root, split="training", detections=noisy)["detected"]["mean_px"] > 1
    assert json.loads((tmp_path / "report_2d.json").read_text())["num_samples"] == 7
