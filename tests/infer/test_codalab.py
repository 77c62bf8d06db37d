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
    assert set(rep) == {"heatmap", "projected", "detected", "num_samples", "detections"}
    assert rep["num_samples"] == 7 and rep["detected"]["mean_px"] == 0.0  # labels, no noise
    assert rep["projected"]["mean_px"] > 0 and len(rep["heatmap"]["pck"]) == 50
    noisy = S2HandDataConfig(root=str(root), noise_px=3.0)
    assert evaluate_2d(ckpt, root, split="training", detections=noisy)["detected"]["mean_px"] > 1
    assert json.loads((tmp_path / "report_2d.json").read_text())["num_samples"] == 7


def _write_ho3d_eval(root, boxes, K):
    """HO3D's on-disk evaluation layout: evaluation.txt, evaluation/<seq>/rgb/<frame>.png and
    meta/<frame>.pkl (a protocol-2 pickle of numpy arrays, as the release's Python-2 files)."""
    import pickle

    import cv2

    rng = np.random.default_rng(4)
    lines = []
    for n, box in enumerate(boxes):
        frame = f"{n:04d}"
        image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        x0, y0, x1, y1 = (int(v) for v in box)
        image[y0:y1, x0:x1] = 255  # a white marker where the hand box is
        path = root / "evaluation" / "SM1" / "rgb" / f"{frame}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        meta = root / "evaluation" / "SM1" / "meta" / f"{frame}.pkl"
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_bytes(pickle.dumps({"camMat": np.array(K), "handJoints3D": np.array(
            [0.0, 0.05, -0.6]), "handBoundingBox": np.array(box, np.float64)}, protocol=2))
        lines.append(f"SM1/{frame}")
    (root / "evaluation.txt").write_text("\n".join(lines) + "\n")
    return root


class _Recorder:
    """Wraps a model and records the (image, K) batches `predict_pred_json` feeds it."""

    def __init__(self, net):
        self.net, self.seen = net, []

    def __getattr__(self, name):
        return getattr(self.net, name)

    def predict(self, images, K):
        self.seen.append((images.clone(), K.clone()))
        return self.net.predict(images, K)


def test_ho3d_pred_json_uses_the_hand_box_crop_with_seeded_jitter(tmp_path, monkeypatch):
    import handkit.infer.codalab as codalab
    from handkit.data.formats import open_dataset
    from handkit.infer.codalab import model_input

    K = [[617.0, 0.0, 320.0], [0.0, 617.0, 240.0], [0.0, 0.0, 1.0]]
    root = _write_ho3d_eval(tmp_path / "HO3D_v2", [[100, 50, 140, 110], [400, 300, 460, 380]], K)
    torch.manual_seed(0)
    net = create_model("s2hand", **SMALL).eval()
    ckpt = _save(net, tmp_path / "s2hand.ckpt")
    sample = open_dataset("ho3d", root, "evaluation")[0]
    # hand-derived crop of frame 0 without jitter (test_crop: side 160 px -> s = 64 / 160)
    image, Kc, T = model_input(sample, 64, "ho3d", jitter=False)
    s = 64 / 160
    np.testing.assert_allclose(T, [[s, 0, 32 - s * 120], [0, s, 32 - s * 80], [0, 0, 1]])
    np.testing.assert_allclose(Kc, T @ np.array(K))
    # the white marker (the box, 40 x 60 px) lands where T puts it: 16 x 24 px at the centre
    white = image.min(-1) > 250
    ys, xs = np.nonzero(white)
    assert abs(xs.mean() + 0.5 - 32) < 0.6 and abs(ys.mean() + 0.5 - 32) < 0.6
    assert abs(white.sum() - 16 * 24) < 0.15 * 16 * 24
    # pred.json: the model fed exactly that crop and K; HO3D order, y and z negated
    rec = _Recorder(net)
    monkeypatch.setattr(codalab, "load_model", lambda path: (rec, {}))
    out = predict_pred_json(ckpt, root, tmp_path / "pred.json", jitter=False, batch_size=2)
    xyz, verts = json.loads(out.read_text())
    assert np.array(xyz).shape == (2, 21, 3) and np.array(verts).shape == (2, 1214, 3)
    images, Ks = rec.seen[0]
    assert torch.equal(images[0], net.preprocess(torch.from_numpy(image).permute(2, 0, 1)))
    assert torch.allclose(Ks[0], torch.from_numpy(Kc).float())
    with torch.no_grad():
        _, ref = net(images[:1], Ks[:1])
    assert np.allclose(xyz[0], codalab_entries(ref.numpy(), None, "ho3d")[0][0], atol=1e-6)
    # the whole image is another input; the jitter is repeatable by seed and differs by seed
    rec.seen.clear()
    predict_pred_json(ckpt, root, tmp_path / "w.json", crop="whole")
    assert not torch.allclose(rec.seen[0][1], Ks)
    Kseed = []
    for seed in (1, 1, 2):
        rec.seen.clear()
        predict_pred_json(ckpt, root, tmp_path / f"j{seed}.json", crop_seed=seed)
        Kseed.append(rec.seen[0][1])
    assert torch.equal(Kseed[0], Kseed[1]) and not torch.allclose(Kseed[0], Kseed[2])
    assert not torch.allclose(Kseed[0], Ks)
    _, _, Tj = model_input(sample, 64, "ho3d", index=0, crop_seed=1)
    assert np.allclose(Tj @ np.array(K), Kseed[0][0].numpy(), atol=1e-3)
    assert 1 / 0.9 <= s / Tj[0, 0] <= 1.5  # the jittered crop is larger (1 / U(0.8, 0.9])
    with pytest.raises(ValueError, match="crop"):
        predict_pred_json(ckpt, root, tmp_path / "x.json", crop="centre")


def test_the_gallery_renders_the_predicted_mesh_and_evaluate_writes_the_s2hand_outputs(tmp_path):
    import cv2

    from handkit.cli import main
    from handkit.data.s2hand import S2HandDataConfig, S2HandItems
    from handkit.data.formats import open_dataset
    from handkit.data.synth.runner import synthesize
    from handkit.geometry.camera import project
    from handkit.infer.evaluate_s2hand import PANELS, evaluate_2d, gallery_panels
    from handkit.render import PinholeCamera, render

    root = synthesize("freihand", tmp_path / "fh", 8, seed=5, size=64, progress=False)
    torch.manual_seed(0)
    net = create_model("s2hand", **SMALL).eval()
    ckpt = _save(net, tmp_path / "s2hand.ckpt")
    items = S2HandItems(open_dataset("freihand", root, "training"),
                        S2HandDataConfig(root=str(root)), 64)
    images = net.preprocess(torch.stack([items[i]["image"] for i in range(3)]))
    K = torch.stack([items[i]["K"] for i in range(3)])
    p = gallery_panels(net, images, K)
    assert set(p) == set(PANELS) and p["silhouette"].shape == (3, 64, 64)
    assert all(p[k].shape == (3, 64, 64, 3) and p[k].dtype == np.uint8 for k in PANELS
               if k != "silhouette")
    # the silhouette is the predicted mesh's: a render of predict()'s vertices, and (renderer-
    # free) its extent is the projected vertices' extent
    pred = net.predict(images, K)
    verts = torch.stack([h[0].vertices for h in pred.hands])
    ref = render(verts, pred.faces, PinholeCamera(K), 64, outputs=("silhouette",),
                 sigma=net.render_sigma).silhouette
    assert np.allclose(p["silhouette"], ref.numpy(), atol=1e-5)
    uv = project(verts, K).numpy()
    for i in range(3):
        ys, xs = np.nonzero(p["silhouette"][i] > 0.5)
        assert len(xs) > 20  # the initial hand (t = 0.65 m) is in view
        inside = (uv[i] >= 0).all(-1) & (uv[i] < 64).all(-1)
        lo, hi = uv[i][inside].min(0), uv[i][inside].max(0)
        assert abs(xs.min() - lo[0]) < 2 and abs(xs.max() + 1 - hi[0]) < 2  # soft edge
        assert abs(ys.min() - lo[1]) < 2 and abs(ys.max() + 1 - hi[1]) < 2
    # the overlay is the image off the mesh and the render on it; the texture is white off it
    off, on = p["silhouette"] < 1e-4, p["silhouette"] > 0.999
    assert np.abs(p["mesh overlay"][off].astype(int) - p["image"][off]).max() <= 1
    assert (p["texture"][off] >= 254).all() and (p["texture"][on] < 250).any()
    # the texture is the albedo: on the mesh it is tanh of a face's predicted colour
    with torch.no_grad():
        albedo = torch.tanh(net.run(images, K, heatmaps=False).textures[0])
    assert np.abs(np.median(p["texture"][0][on[0]], 0) / 255 - albedo.median(0).values.numpy()
                  ).max() < 0.05
    assert np.abs(p["mesh overlay"][on].astype(int) - p["image"][on]).mean() > 5
    # evaluate_2d writes the gallery (header + one row per sample) and the PCK figure
    rep = evaluate_2d(ckpt, root, split="training", gallery=3, pck_figure=tmp_path / "pck.png",
                      gallery_path=tmp_path / "g.png")
    g = cv2.imread(str(tmp_path / "g.png"))
    assert g.shape == (24 + 3 * 162, 4 * 162 - 2, 3)
    cell = cv2.resize(np.repeat((p["silhouette"][1][..., None] * 255).round()
                                .astype(np.uint8), 3, -1), (160, 160),
                      interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(g[24 + 162:24 + 162 + 160, 2 * 162:2 * 162 + 160], cell)
    assert cv2.imread(str(tmp_path / "pck.png")) is not None and rep["num_samples"] == 7
    # handkit evaluate on an s2hand checkpoint adds the 2D report and the two figures
    out = tmp_path / "ev"
    assert main(["evaluate", "--ckpt", str(ckpt), "--data", str(root), "--split", "training",
                 "--limit", "4", "--gallery", "2", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "report_2d.json").read_text())["num_samples"] == 4
    assert cv2.imread(str(out / "s2hand_gallery.png")).shape[0] == 24 + 2 * 162
    assert (out / "pck_2d.png").is_file() and (out / "metrics.json").is_file()


def test_the_ho3d_crop_of_a_frame_without_box_or_labels_fails_naming_it():
    from handkit.data.schema import Sample
    from handkit.infer.codalab import model_input

    image = np.zeros((48, 64, 3), np.uint8)
    uv = np.zeros((1, 21, 2), np.float32)
    uv[0, :, 0], uv[0, :, 1] = np.linspace(10, 30, 21), 20
    K = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]], np.float32)
    labelled = Sample(image=image, keypoints_2d=uv, joint_valid=np.ones((1, 21), bool),
                      is_right=np.ones(1, bool), K=K, sample_id="train/SEQ/rgb/0001.png")
    # a train frame: the crop is centred on its labelled 2D (box 10..30 x 20: c = (20, 20))
    _, _, T = model_input(labelled, 32, "ho3d", jitter=False)
    assert np.allclose(T @ [20, 20, 1], [16, 16, 1])
    bare = Sample(image=image, keypoints_2d=uv, joint_valid=np.zeros((1, 21), bool),
                  is_right=np.ones(1, bool), K=K, sample_id="evaluation/SEQ/rgb/0002.png")
    with pytest.raises(ValueError, match=r"0002\.png: neither handBoundingBox nor a labelled"):
        model_input(bare, 32, "ho3d")
    nok = Sample(image=image, keypoints_2d=uv, joint_valid=np.ones((1, 21), bool),
                 is_right=np.ones(1, bool), K=None, sample_id="evaluation/SEQ/rgb/0003.png")
    with pytest.raises(ValueError, match=r"0003\.png: no K"):
        model_input(nok, 32, "whole")
