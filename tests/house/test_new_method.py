"""A model registered from a new file runs finetune → evaluate → predict with no edit elsewhere."""

import json

import cv2
import numpy as np
import pytest

import _toy_model  # noqa: F401  (registers the toy model, as a new method's module would)
from handkit.infer.evaluate import evaluate
from handkit.infer.predict import predict
from handkit.models.registry import list_models
from handkit.tasks.finetune import FinetuneConfig, FinetuneDataConfig, finetune
from handkit.utils.config import load_config


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("freihand", tmp_path_factory.mktemp("fh"), 16, seed=3, size=128,
                      progress=False)


def test_a_new_model_trains_evaluates_and_predicts(synth, tmp_path):
    assert _toy_model.NAME in list_models()
    cfg = load_config(FinetuneConfig, values={
        "model": {"name": _toy_model.NAME, "backbone": "none", "image_size": 32},
        "data": FinetuneDataConfig(root=str(synth), batch_size=4, num_workers=0, precrop_size=48),
        "trainer.accelerator": "cpu", "trainer.devices": "1", "trainer.progress_bar": False,
        "trainer.max_epochs": 1})
    ckpt = finetune(cfg, tmp_path / "run")
    assert ckpt.is_file()

    report = evaluate(ckpt, synth, split="train", crop="gt_box", progress=False)
    # meters and root-relative: the evaluation placed the wrist on the GT wrist
    assert report.meta["model"] == _toy_model.NAME and "m, root_relative" in \
        report.meta["to_meters"]
    assert report.metrics["rr_mpjpe_mm"] == pytest.approx(report.metrics["mpjpe_mm"])
    assert report.meta["mesh"] == "model gives no vertices" and "mpvpe_mm" not in report.metrics

    image = np.full((96, 96, 3), 90, np.uint8)
    cv2.circle(image, (48, 48), 20, (200, 160, 140), -1)
    cv2.imwrite(str(tmp_path / "hand.png"), image)
    run = predict(tmp_path / "hand.png", ckpt=ckpt, out_dir=tmp_path / "pred",
                  box=(20, 20, 76, 76), progress=False)
    assert len(run.results) == 1 and not run.skipped
    record = json.loads((tmp_path / "pred" / "hand_png.json").read_text())
    assert record["model"]["name"] == _toy_model.NAME
    assert record["keypoints_3d_cam_m"] is None  # root-relative models give no camera frame
    assert np.isfinite(np.array(record["keypoints_2d_px"])).all()
    assert record["mesh"] is None and not list((tmp_path / "pred").glob("*_mesh.*"))
