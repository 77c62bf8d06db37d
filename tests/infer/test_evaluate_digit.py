"""DIGIT's evaluation chain on synthetic InterHand frames: an oracle whose 2.5D equals the GT
encoding must score ~0 (crop inverse, depth decoding, back-projection, root placement)."""

import json

import pytest
import torch

from handkit.data.formats.interhand import read_rootnet
from handkit.data.hands import collate_items
from handkit.infer import evaluate_digit as ev
from handkit.losses.digit import encode_25d
from handkit.models.digit import DigitOutput
from handkit.models.registry import create_model

from _infer_ckpt import digit_checkpoint  # pytest (prepend mode) puts tests/infer on sys.path


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("interhand", tmp_path_factory.mktemp("ih"), 30, seed=5, size=128,
                      progress=False)


def _oracle(model, ds, frames, rootnet=None):
    items = [ev._item(ds, i, model.image_size, rootnet) for i in frames]
    batch = collate_items(items)
    t = encode_25d(batch["uv"].double(), batch["z"].double(), batch["valid"],
                   batch["interacting"], patch_size=64, hm_size=16)
    b = len(frames)
    logits = (batch["hand_type"] * 2 - 1) * 20.0
    out = DigitOutput(joints=t.joints, hm_2d=torch.zeros(b, 42, 16, 16), hm_norm=None,
                      hm_depth=None, rel_root=t.rel_root, root_logits=None,
                      hand_logits=logits, segm_logits=torch.zeros(b, 33, 32, 32))
    return out


def test_an_oracle_scores_zero_with_gt_depths(synth, monkeypatch):
    model = create_model("digit", backbone="stem4", image_size=64, size="small")
    ds = ev.InterHand26M(synth, "train")
    out = _oracle(model, ds, list(range(len(ds))))
    monkeypatch.setattr(model, "forward", lambda image, K=None: out)
    report = ev.evaluate_interhand(model, synth, split="train", batch_size=len(ds))
    assert report["frames"] == len(ds) and report["skipped"] == 0
    assert report["dataset"] == "synthetic (handkit synth interhand)"
    assert report["root_depth"] == "gt" and report["split"] == "train"
    for key in ("mpjpe_sh", "mpjpe_ih", "mpjpe_all", "mrrpe"):
        assert report[key] < 1e-3, key  # mm; float32 crops' round-off only
    assert report["handedness_acc"] == 1.0 and report["frames_mrrpe"] > 0


def test_rootnet_boxes_and_depths_are_used_as_given(synth, monkeypatch, tmp_path):
    ds = ev.InterHand26M(synth, "val")
    data = json.loads((synth / "annotations/val/InterHand2.6M_val_data.json").read_text())
    entries = []
    for k, ann in enumerate(data["annotations"]):
        s = ds[k]
        x, y, w, h = ann["bbox"]
        side = max(w, h) * 1.25
        depth = [float(s.keypoints_3d[0, 0, 2]) * 1000 + 30.0, float(s.keypoints_3d[1, 0, 2])
                 * 1000 + 30.0]  # RootNet 30 mm too far for both hands
        entries.append({"annot_id": ann["id"], "bbox": [x + w / 2 - side / 2,
                        y + h / 2 - side / 2, side, side], "abs_depth": depth})
    out_dir = synth / "rootnet_output"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "rootnet_interhand2.6m_output_val.json").write_text(json.dumps(entries))
    rootnet = read_rootnet(synth, "val")
    assert rootnet[data["annotations"][0]["id"]][1][0] == pytest.approx(entries[0]["abs_depth"][0]
                                                                         / 1000)
    model = create_model("digit", backbone="stem4", image_size=64, size="small")
    out = _oracle(model, ds, list(range(len(ds))), rootnet)
    monkeypatch.setattr(model, "forward", lambda image, K=None: out)
    report = ev.evaluate_interhand(model, synth, split="val", root_depth="rootnet",
                                   batch_size=len(ds))
    # a 30 mm depth error scales root-relative x, y by 30/Z: small but not zero; MRRPE moves
    assert 0 < report["mpjpe_all"] < 10 and report["root_depth"] == "rootnet"
    (out_dir / "rootnet_interhand2.6m_output_val.json").write_text(json.dumps([{"bbox": []}]))
    with pytest.raises(Exception, match=r"\[0\]\.annot_id"):
        read_rootnet(synth, "val")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A randomly initialised small DIGIT saved as a handkit checkpoint."""
    return digit_checkpoint(tmp_path_factory.mktemp("ckpt") / "digit.ckpt")


def test_handkit_evaluate_runs_a_digit_checkpoint(synth, ckpt, tmp_path, capsys):
    from handkit.cli import main

    assert main(["evaluate", "--ckpt", str(ckpt), "--data", str(synth), "--split", "val",
                 "--out", str(tmp_path / "ev")]) == 0
    text = capsys.readouterr().out
    assert "split val" in text and "root depth gt" in text and "r_thumb4" in text
    assert (tmp_path / "ev" / "gallery.png").stat().st_size > 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["split"] == "val" and metrics["frames"] == 3 and len(metrics["per_joint"]) == 42


def test_handkit_predict_gives_both_hands_on_a_photo(synth, ckpt, tmp_path):
    from handkit.cli import main
    from handkit.geometry.camera import project
    from handkit.infer.pipeline import photo_K

    image = next((synth / "images" / "train").rglob("*.jpg"))
    for extra, name in (([], "whole"), (["--box", "10", "20", "70", "100"], "box")):
        out = tmp_path / name
        assert main(["predict", str(image), "--ckpt", str(ckpt), "--out", str(out),
                     "--root-depth", "0.5"] + extra) == 0
        record = json.loads(next(out.glob("*.json")).read_text())
        assert [h["side"] for h in record["hands"]] == ["right", "left"]
        assert record["assumptions"]["right_root_depth_m"] == 0.5
        assert next(out.glob("*_overlay.png")).stat().st_size > 0
        h, w = 128, round(0.65 * 128)
        K = torch.from_numpy(photo_K(h, w))
        for hand in record["hands"]:  # the 3D lies on the rays of the image-pixel 2D
            xyz = torch.tensor(hand["keypoints_3d_cam_m"], dtype=torch.float64)
            uv = torch.tensor(hand["keypoints_2d_px"], dtype=torch.float64)
            assert torch.allclose(project(xyz, K), uv, atol=2e-2)
    assert record["crop"]["rule"] == "box, square x 1.25"
    # box (10, 20)-(70, 100): centre (40, 60), side 80 x 1.25 = 100
    assert record["crop"]["box_px"] == pytest.approx([-10.0, 10.0, 90.0, 110.0])


def test_the_mean_pose_reference_is_fitted_and_scored(synth, tmp_path, capsys):
    from handkit.cli import main

    ref = ev.MeanPose.fit(synth, "train", image_size=64)
    ds = ev.InterHand26M(synth, "train")
    items = [ev._item(ds, i, 64, None) for i in range(len(ds))]
    batch = collate_items(items)
    t = encode_25d(batch["uv"].double(), batch["z"].double(), batch["valid"],
                   batch["interacting"], patch_size=64, hm_size=16)
    k = 0  # r_thumb4: mean over the frames where it is valid
    assert ref.joints[k].tolist() == pytest.approx(t.joints[t.joint_valid[:, k], k].mean(0)
                                                   .tolist())
    assert ref.rel_root == pytest.approx(float(t.rel_root[t.root_valid].mean()))
    out = ref(torch.zeros(3, 3, 64, 64))
    assert out.joints.shape == (3, 42, 3) and out.segm_logits is None
    assert main(["evaluate", "--reference", "mean-pose", "--data", str(synth), "--split", "val",
                 "--image-size", "64", "--out", str(tmp_path / "ref")]) == 0
    report = json.loads((tmp_path / "ref" / "metrics.json").read_text())
    assert report["model"] == "mean pose (reference)" and report["mpjpe_all"] > 1.0
    assert "mean pose (reference) on synthetic" in capsys.readouterr().out


def test_unusable_frames_are_skipped_counted_and_named(synth, tmp_path):
    import shutil

    root = shutil.copytree(synth, tmp_path / "broken")
    ann = root / "annotations/test"
    data = json.loads((ann / "InterHand2.6M_test_data.json").read_text())
    first, second = data["images"][:2]
    joints = json.loads((ann / "InterHand2.6M_test_joint_3d.json").read_text())
    joints[str(first["capture"])].pop(str(first["frame_idx"]))  # a frame without its 3D
    (ann / "InterHand2.6M_test_joint_3d.json").write_text(json.dumps(joints))
    (root / "images/test" / second["file_name"]).write_bytes(b"\xff\xd8junk")  # corrupt image
    ref = ev.MeanPose.fit(root, "train", image_size=64)
    report = ev.evaluate_interhand(ref, root, split="test")
    assert report["skipped"] == 2 and report["frames"] == len(data["images"]) - 2
    reasons = " ".join(report["skip_reasons"])
    assert f"joint_3d.json: ['{first['capture']}']['{first['frame_idx']}']: missing" in reasons
    assert "cannot decode" in reasons and second["file_name"].split("/")[-1] in reasons
    printed = "\n".join(ev.report_lines(report))
    assert "2 skipped" in printed and printed.count("  skipped: ") == 2
