"""The InterHand2.6M, Hand100M and multi-hand writers, cross-checked with the format readers."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from handkit.data.synth import runner
from handkit.data.synth.runner import synthesize
from handkit.data.synth.writers import hand100m_path, interhand_split
from handkit.geometry.camera import project

SIZES = {"interhand": 160, "hand100m": 128, "multihand": 128}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = {}
    for fmt, size in SIZES.items():
        root = tmp_path_factory.mktemp(fmt)
        synthesize(fmt, root, n=20, seed=4, size=size, progress=False)
        out[fmt] = root
    return out


def _preview(root: Path) -> list[dict]:
    return json.loads((root / ".synth_work/preview.json").read_text())


@pytest.mark.parametrize("fmt", sorted(SIZES))
def test_identical_for_one_and_two_workers(made, fmt, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "CHUNK", 6)  # several chunks, so both workers get work
    synthesize(fmt, tmp_path, n=20, seed=4, size=SIZES[fmt], workers=2, progress=False)
    assert _files(made[fmt]) == _files(tmp_path)


def test_interhand_reader_agrees_with_renderer(made):
    from handkit.data.formats.interhand import InterHand26M

    root, preview = made["interhand"], _preview(made["interhand"])
    splits = [interhand_split(i, 20) for i in range(20)]
    assert splits.count("train") == 16 and splits.count("val") == 2 and splits.count("test") == 2
    seen = 0
    for split in ("train", "val", "test"):
        ds = InterHand26M(root, split)  # also checks skeleton.txt
        data = json.loads((root / f"annotations/{split}/InterHand2.6M_{split}_data.json").read_text())
        for k, img in enumerate(data["images"]):
            item = preview[img["id"]]
            assert item["image"] == f"images/{split}/{img['file_name']}"
            sample = ds[k]
            ann = data["annotations"][k]
            seg = sample.part_seg  # from segm_32/ (DIGIT classes), handkit encoding
            assert seg is not None and seg.shape == sample.image.shape[:2]
            for uv, side, vis in zip(item["uv"], item["handedness"], item["visible"]):
                slot = 0 if side == "right" else 1
                assert np.abs(sample.keypoints_2d[slot] - np.array(uv)).max() <= 0.5
                assert sample.joint_valid[slot].all()
                cols, rows = np.floor(np.array(uv)[np.array(vis, bool)]).astype(int).T
                # visible joints lie on their own hand's labels (1-16 right, 17-32 left)
                assert np.all((seg[rows, cols] > 16 * slot) & (seg[rows, cols] <= 16 * slot + 16))
            sides = set(item["handedness"])
            assert (seg[(seg > 0) & (seg <= 16)].size > 0) == ("right" in sides)
            assert (seg[seg > 16].size > 0) == ("left" in sides)
            for slot, side in enumerate(("right", "left")):
                assert sample.joint_valid[slot].any() == (ann["hand_type"] in (side, "interacting"))
            seen += 1
    assert seen == 20


def test_hand100m_annotations_and_crops(made):
    from handkit.data.formats.hand100m import crop_window, read_annotations

    root, preview = made["hand100m"], _preview(made["hand100m"])
    ann = read_annotations(root / hand100m_path(20))  # the mining engineer's validator
    assert len(set(ann.hand_ids)) == 20
    images = [ann.images[i] for i in ann.image_ids]
    assert [im["video_id"] for im in images] == ["synth000000"] * 16 + ["synth000001"] * 4
    assert [im["frame_id"] for im in images[:3]] == [0, 30, 60]
    for k, rec in enumerate(ann.records):
        assert rec["positive_sample"] == [] and rec["distance"] == []
        uv = np.array(preview[k]["uv"][0])
        x1, y1, x2, y2 = crop_window(ann.boxes[k], 1.3, 128, 128)
        back = ann.keypoints[k, :, :2] * [x2 - x1, y2 - y1] + [x1, y1]
        assert np.abs(back - uv).max() < 0.01  # normalised to the official 1.3x crop
        assert (root / images[k]["file_name"]).is_file()
    assert hand100m_path(50_000) == "annotations/Ego4D/Hand100M_Ego4D_50k_v1-1.json"
    assert hand100m_path(1_000_000).endswith("_1m_v1-1.json")


def test_multihand_masks_and_labels_agree(made):
    root = made["multihand"]
    data = json.loads((root / "annotations.json").read_text())
    assert data["part_names"][0] == "background" and len(data["part_names"]) == 17
    for img in data["images"]:
        mask = cv2.imread(str(root / img["mask_file"]), cv2.IMREAD_UNCHANGED)
        parts = cv2.imread(str(root / img["parts_file"]), cv2.IMREAD_UNCHANGED)
        hands = img["hands"]
        assert 2 <= len(hands) <= 4
        assert np.array_equal(mask > 0, parts > 0)  # mask = union of the part segmentation
        assert set(np.unique(mask)) <= set(range(len(hands) + 1))
        K = np.array(img["K"])
        for k, hand in enumerate(hands):
            uv = np.array(hand["uv"])
            assert np.abs(project(np.array(hand["xyz"]), K).numpy() - uv).max() <= 0.5
            vis = np.array(hand["visible"], bool)
            cols, rows = np.floor(uv[vis]).astype(int).T
            assert np.all(mask[rows, cols] == k + 1)  # visible joints lie on their own hand
            assert hand["pixels"] == int((mask == k + 1).sum())


def test_multihand_parameters_regenerate_the_hand(made):
    import torch

    from handkit.hand.openhand import OpenHand

    img = json.loads((made["multihand"] / "annotations.json").read_text())["images"][0]
    model = OpenHand()
    for hand in img["hands"]:
        t = {k: torch.tensor([hand[k]], dtype=torch.float32)
             for k in ("global_orient", "finger_pose", "shape", "transl")}
        out = model(t["global_orient"], t["finger_pose"], t["shape"],
                    handedness=hand["handedness"], transl=t["transl"])
        assert np.abs(out.joints[0].numpy() - np.array(hand["xyz"])).max() < 1e-4


def test_multihand_folder_reads_as_samples(made):
    from handkit.data.formats import detect_format, open_dataset

    root = made["multihand"]
    assert detect_format(root) == "multihand"
    ds = open_dataset("multihand", root, "all")
    data = json.loads((root / "annotations.json").read_text())
    assert len(ds) == len(data["images"]) == 20
    for i in (0, 7):
        s, img = ds[i], data["images"][i]
        assert s.num_hands == len(img["hands"]) and s.image.shape == (128, 128, 3)
        assert s.is_right.tolist() == [h["handedness"] == "right" for h in img["hands"]]
        assert np.allclose(s.keypoints_2d, [h["uv"] for h in img["hands"]], atol=1e-4)
        assert np.allclose(project(s.keypoints_3d, s.K).numpy(), s.keypoints_2d, atol=0.5)
        assert s.joint_valid.all() and s.mask.any()
    with pytest.raises(ValueError, match="one split"):
        open_dataset("multihand", root, "train")


def test_multihand_hands_option_is_written_and_kept(tmp_path):
    root = synthesize("multihand", tmp_path / "one", n=3, seed=4, size=128, progress=False,
                      hands=1)
    meta = json.loads((root / "meta.json").read_text())
    assert meta["args"]["hands"] == [1, 1]
    data = json.loads((root / "annotations.json").read_text())
    assert [len(img["hands"]) for img in data["images"]] == [1, 1, 1]
    # resuming the folder with another count is refused, not mixed
    with pytest.raises(ValueError, match="holds a multihand dataset made with"):
        synthesize("multihand", root, n=3, seed=4, size=128, progress=False, hands=(1, 4))
    assert synthesize("multihand", root, n=3, seed=4, size=128, progress=False, hands=1) == root
    # without the option the args are as before the option existed (old folders resume)
    assert "hands" not in runner._meta("multihand", 3, 4, 128, runner.WRITERS["multihand"],
                                       "default")["args"]


def test_hands_option_refused_where_it_has_no_meaning(tmp_path):
    with pytest.raises(ValueError, match="hands: only the multihand layout"):
        synthesize("freihand", tmp_path / "f", n=2, seed=0, size=64, progress=False, hands=1)
    with pytest.raises(ValueError, match="hands: expected a count"):
        synthesize("multihand", tmp_path / "m", n=2, seed=0, size=128, progress=False, hands=7)
    assert not (tmp_path / "f").exists() and not (tmp_path / "m").exists()


def test_synth_command_takes_a_hand_range(tmp_path):
    from handkit.cli import main

    assert main(["synth", "multihand", "--out", str(tmp_path / "d"), "--n", "2", "--size", "128",
                 "--hands", "3-4", "--quiet"]) == 0
    meta = json.loads((tmp_path / "d/meta.json").read_text())
    assert meta["args"]["hands"] == [3, 4]
    data = json.loads((tmp_path / "d/annotations.json").read_text())
    assert all(3 <= len(img["hands"]) <= 4 for img in data["images"])
