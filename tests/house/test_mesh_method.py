"""A model whose Prediction has vertices: evaluate scores its meshes against FreiHAND's GT
vertices, predict draws the mesh and writes it (OBJ / PLY) beside the keypoints."""

import json

import cv2
import numpy as np
import pytest

import _toy_mesh_model as toy
from handkit.data.formats import open_dataset
from handkit.infer.evaluate import evaluate, gives_vertices
from handkit.infer.predict import predict
from handkit.models.checkpoint import load_model
from handkit.tasks.finetune import FinetuneConfig, FinetuneDataConfig, finetune
from handkit.utils.config import load_config
from handkit.utils.mesh_io import read_mesh


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("freihand", tmp_path_factory.mktemp("fh"), 12, seed=4, size=128,
                      progress=False)


@pytest.fixture(scope="module")
def ckpt(synth, tmp_path_factory):
    cfg = load_config(FinetuneConfig, values={
        "model": {"name": toy.NAME, "backbone": "none", "image_size": 32},
        "data": FinetuneDataConfig(root=str(synth), batch_size=4, num_workers=0, precrop_size=48),
        "trainer.accelerator": "cpu", "trainer.devices": "1", "trainer.progress_bar": False,
        "trainer.max_epochs": 1})
    return finetune(cfg, tmp_path_factory.mktemp("run") / "run")


def test_evaluate_scores_the_predicted_vertices(synth, ckpt, tmp_path):
    assert gives_vertices(load_model(ckpt)[0])
    report = evaluate(ckpt, synth, split="train", crop="gt_box", progress=False,
                      out_dir=tmp_path / "eval", gallery=2)
    assert report.meta["mesh"] == "scored"
    # by hand: root-relative meters are placed at the GT wrist, so the predicted mesh is the
    # rest mesh at the GT wrist whatever the weights; MPVPE has no alignment
    ds = open_dataset("freihand", synth, "train", vertices=True)
    samples = [ds[i] for i in range(len(ds))]
    rest = toy.rest_mesh()[0].double().numpy()
    err = [np.linalg.norm(rest + s.keypoints_3d[0, :1] - s.vertices[0], axis=-1) for s in samples]
    assert report.metrics["mpvpe_mm"] == pytest.approx(1000 * np.mean(err), rel=1e-5)
    for key in ("pa_mpvpe_mm", "f@5mm", "f@15mm", "pa_f@5mm", "pa_f@15mm"):
        assert np.isfinite(report.metrics[key]), key
    assert "pa_mpvpe_mm" in report.meta["definitions"]
    assert (tmp_path / "eval" / "gallery.png").stat().st_size > 0


@pytest.mark.parametrize("hand, fmt", [("right", "obj"), ("left", "ply")])
def test_predict_writes_and_draws_the_mesh(ckpt, tmp_path, hand, fmt):
    image = np.full((96, 96, 3), 90, np.uint8)
    cv2.circle(image, (48, 48), 20, (200, 160, 140), -1)
    cv2.imwrite(str(tmp_path / "hand.png"), image)
    run = predict(tmp_path / "hand.png", ckpt=ckpt, out_dir=tmp_path / "pred", hand=hand,
                  box=(20, 20, 76, 76), mesh_format=fmt, progress=False)
    assert len(run.results) == 1 and not run.skipped
    record = json.loads((tmp_path / "pred" / "hand_png.json").read_text())
    assert record["mesh"]["file"] == f"hand_png_mesh.{fmt}"
    assert record["mesh"]["frame"].startswith("wrist-relative")
    verts, faces = read_mesh(tmp_path / "pred" / f"hand_png_mesh.{fmt}")
    rest, rest_faces = (x.numpy() for x in toy.rest_mesh())
    # wrist-relative meters (unit "m": assumed bone 1); a left hand is the mirror image,
    # its faces reversed so the surface still faces outwards
    mirror = np.array([-1.0, 1.0, 1.0]) if hand == "left" else 1.0
    np.testing.assert_allclose(verts, rest * mirror, atol=1e-6)
    np.testing.assert_array_equal(faces, rest_faces[:, ::-1] if hand == "left" else rest_faces)
    result = run.results[0]
    assert str(tmp_path / "pred" / f"hand_png_mesh.{fmt}") in result.outputs
    assert result.mesh_origin_m[2] > 0  # placed in front of the camera for the overlay
