"""`handkit train s2hand`: data, stage initialisation, checkpoint and bit-identical resume."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from handkit.data.schema import Sample
from handkit.infer.evaluate import evaluate
from handkit.infer.predict import predict
from handkit.models.checkpoint import read_checkpoint
from handkit.tasks.registry import get_task
from handkit.tasks.s2hand import S2HandConfig, build_s2hand_task, train_s2hand
from handkit.data.s2hand import S2HandDataConfig, S2HandItems, read_detections
from handkit.utils.config import config_path, load_config, replace_config


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("freihand", tmp_path_factory.mktemp("fh"), 8, seed=4, size=64,
                      progress=False)


def _cfg(synth, name="cpu_e2e", **values) -> S2HandConfig:
    """The packaged CPU config on the tiny world; `values`: more dotted keys."""
    cfg = load_config(S2HandConfig, config_path(f"s2hand/{name}", "s2hand"))
    return replace_config(cfg, {
        "data.root": str(synth), "data.batch_size": 3,  # 7 training images: 2 batches
        "model.options": {**cfg.model.options, "hm_feats": 16}, "trainer.max_epochs": 2,
        "trainer.limit_train_batches": 2.0, "trainer.progress_bar": False, **values})


def test_registered_for_handkit_train():
    spec = get_task("s2hand")
    assert spec.config is S2HandConfig and spec.run is train_s2hand


def test_a_resumed_run_ends_with_the_uninterrupted_runs_weights(synth, tmp_path,
                                                                stop_after_first_epoch):
    cfg = _cfg(synth)
    last = train_s2hand(cfg, tmp_path / "a")
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["global_step"] == 4 and ckpt["hyper_parameters"]["config"]["stage"] == "ssl_e2e"
    straight, hp = read_checkpoint(last)
    assert hp["config"]["model"]["name"] == "s2hand"
    train_s2hand(cfg, tmp_path / "b", callbacks=[stop_after_first_epoch])
    resumed = read_checkpoint(train_s2hand(cfg, tmp_path / "b", resume=True))[0]
    assert set(resumed) == set(straight)
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=0, msg=key)
    # the model contract: the checkpoint evaluates and predicts through the generic pipeline
    report = evaluate(last, synth, split="evaluation", crop="gt_box", progress=False)
    assert report.meta["model"] == "s2hand" and report.meta["to_meters"].startswith("m, camera")
    assert np.isfinite(report.metrics["pa_mpjpe_mm"])
    image = np.full((96, 96, 3), 90, np.uint8)
    cv2.circle(image, (48, 48), 20, (200, 160, 140), -1)
    cv2.imwrite(str(tmp_path / "hand.png"), image)
    run = predict(tmp_path / "hand.png", ckpt=last, out_dir=tmp_path / "pred",
                  box=(20, 20, 76, 76), progress=False)
    record = json.loads((tmp_path / "pred" / "hand_png.json").read_text())
    assert len(run.results) == 1 and record["model"]["name"] == "s2hand"
    assert np.isfinite(np.array(record["keypoints_3d_cam_m"])).all()  # absolute 3D, meters


def test_finetune_starts_from_the_shape_and_kp_stages_and_refuses_others(synth, tmp_path):
    ckpts = {}
    for stage in ("shape", "kp"):
        cfg = _cfg(synth, f"cpu_{stage}", **{"trainer.max_epochs": 1,
                                             "trainer.limit_train_batches": 1.0})
        ckpts[stage] = train_s2hand(cfg, tmp_path / stage)
    cfg = _cfg(synth, "cpu_finetune")
    with pytest.raises(ValueError, match="init.ssl_shape and init.ssl_kp"):
        build_s2hand_task(cfg)
    cfg = replace_config(cfg, {"init.ssl_shape": str(ckpts["shape"]),
                               "init.ssl_kp": str(ckpts["kp"])})
    task = build_s2hand_task(cfg)
    shape_state = read_checkpoint(ckpts["shape"])[0]
    kp_state = read_checkpoint(ckpts["kp"])[0]
    own = task.net.state_dict()
    for key in ("encoder.net.conv_stem.weight", "decoder.pose.2.bias"):
        assert torch.equal(own[key], shape_state[f"net.{key}"]), key
    assert torch.equal(own["hourglass.stem.0.weight"], kp_state["net.hourglass.stem.0.weight"])
    # the shape stage never ran the hourglass: the finetune's is the kp stage's, not the shape's
    assert not torch.equal(kp_state["net.hourglass.stem.0.weight"],
                           shape_state["net.hourglass.stem.0.weight"])
    cfg = replace_config(cfg, {"init.ssl_shape": str(ckpts["kp"])})
    with pytest.raises(ValueError, match=r"stage 'ssl_kp'.*'ssl_finetune'.*stage 'ssl_shape'"):
        build_s2hand_task(cfg)
    other = tmp_path / "rn25d.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"config": {"model": {"name": "rn25d"}}}},
               other)
    cfg = replace_config(cfg, {"init.ssl_shape": str(other)})
    with pytest.raises(ValueError, match="model 'rn25d'.*'ssl_finetune'"):
        build_s2hand_task(cfg)


def _sample(K):
    uv = np.tile([[30.0, 30.0]], (1, 21, 1)).astype(np.float32)
    return Sample(image=np.zeros((64, 64, 3), np.uint8), keypoints_2d=uv,
                  joint_valid=np.ones((1, 21), bool), is_right=np.ones(1, bool), K=K,
                  sample_id="rgb/00000007.jpg")


def test_label_detections_are_fixed_noisy_and_dropped_per_sample():
    K = np.array([[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]], np.float32)
    cfg = S2HandDataConfig(root="x", noise_px=2.0, dropout=0.3, noise_seed=1)
    items = S2HandItems([_sample(K)] * 3, cfg, 32)
    a, b, c = items[0], items[0], items[1]
    assert torch.equal(a["det"].nan_to_num(-1), b["det"].nan_to_num(-1))  # fixed per sample
    assert not torch.equal(a["det"].nan_to_num(-1), c["det"].nan_to_num(-1))
    dropped = a["conf"] == 0
    assert dropped.any() and torch.isnan(a["det"][dropped]).all()
    assert a["image"].shape == (3, 32, 32) and torch.allclose(a["K"][0, 0], torch.tensor(50.0))
    assert torch.allclose(a["uv_gt"], torch.full((21, 2), 15.0))  # resized with the image


def test_an_image_whose_K_is_for_another_size_fails_naming_it():
    K = np.array([[400.0, 0, 112], [0, 400.0, 112], [0, 0, 1]], np.float32)  # a 224-px K
    items = S2HandItems([_sample(K)], S2HandDataConfig(root="x"), 64)
    with pytest.raises(ValueError, match=r"rgb/00000007.jpg: K's principal point"):
        items[0]


def test_detection_files_in_s2hands_layout(tmp_path):
    path = tmp_path / "detect_all.json"
    kp = np.full((2, 21, 2), 10.0)
    conf = np.full((2, 21, 1), 0.8)
    path.write_text(json.dumps([kp.tolist(), conf.tolist(), ["a", "b"]]))
    got_kp, got_conf = read_detections(path, 2)
    assert np.allclose(got_kp, 10.5) and got_conf.shape == (2, 21)  # OpenPose index → centre
    with pytest.raises(ValueError, match="detect_all.json: 2 rows of detections for 3 samples"):
        read_detections(path, 3)
    path.write_text(json.dumps([[[1, 2]], [], []]))
    with pytest.raises(ValueError, match="detect_all.json: keypoints: expected"):
        read_detections(path, 1)


class _NanGradient(torch.autograd.Function):
    """0 forward, NaN backward: a finite loss whose gradient is not (what a hand pushed metres
    away, projecting to sub-pixel triangles, produced in the synthetic-world run)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sum() * 0

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return torch.full_like(x, float("nan"))


def test_a_step_with_nonfinite_gradients_is_skipped_and_counted(synth, tmp_path, monkeypatch):
    from handkit.models.s2hand import S2Hand

    loss, calls = S2Hand.loss, []

    def poisoned(self, *args, **kwargs):
        out = loss(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 2 and out["loss"] is not None:  # the second step only
            out["loss"] = out["loss"] + _NanGradient.apply(self.decoder.trunk[0].weight)
        return out

    monkeypatch.setattr(S2Hand, "loss", poisoned)
    cfg = _cfg(synth, **{"trainer.max_epochs": 1})
    last = train_s2hand(cfg, tmp_path / "run")
    state, _ = read_checkpoint(last)
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    rows = (tmp_path / "run" / "logs" / "metrics.csv").read_text().splitlines()
    col = rows[0].split(",").index("train/nonfinite_grad_steps")
    counted = [float(r.split(",")[col]) for r in rows[1:] if r.split(",")[col]]
    assert sum(counted) == 1 and len(calls) == 2


@pytest.mark.parametrize("turns_3d", [False, True])
def test_rotated_detections_are_the_projections_of_the_3d_each_mode_asks_for(synth, turns_3d):
    """Official (K' = A·K): the unchanged 3D projects with K' onto the rotated detections.
    rotation_turns_3d: the 3D turned about the optical axis (R_z) projects onto them, and K'
    is K itself when the principal point is the image centre and fx = fy."""
    from handkit.geometry.camera import project, rotate_about_z

    task = build_s2hand_task(_cfg(synth, rotation_turns_3d=turns_3d))
    size, b = 64, 4
    xyz = torch.randn(b, 21, 3, dtype=torch.float64) * 0.04 + torch.tensor([0.01, -0.02, 0.5],
                                                                          dtype=torch.float64)
    K = torch.tensor([[[90.0, 0.0, 29.0], [0.0, 70.0, 35.0], [0.0, 0.0, 1.0]],
                      [[80.0, 0.0, 32.0], [0.0, 80.0, 32.0], [0.0, 0.0, 1.0]]] * 2,
                     dtype=torch.float64)
    batch = {"image": torch.zeros(b, 3, size, size, dtype=torch.uint8), "det": project(xyz, K),
             "K": K}
    _, det, K_new = task.augment(batch)
    angle = None
    if turns_3d:  # the angle is the one the augmentation drew: read it off the detections
        a, c = batch["det"][:, 1] - batch["det"][:, 0], det[:, 1] - det[:, 0]
        angle = torch.rad2deg(torch.atan2(a[:, 1], a[:, 0]) - torch.atan2(c[:, 1], c[:, 0]))
        target = rotate_about_z(xyz, angle)
        assert torch.allclose(K_new[1], K[1], atol=1e-9)  # centred, fx = fy: K unchanged
        assert not torch.allclose(K_new[0], K[0], atol=1e-3)
    else:
        target = xyz
    assert not torch.allclose(det, batch["det"], atol=1e-3)  # the detections did turn
    assert torch.allclose(project(target, K_new), det, atol=1e-6)
