"""DIGIT training: crops and flips against the renderer's labels, official subsets, a tiny run
with checkpoint and bit-identical resume, the packaged configs."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from handkit.data.digit_crops import (DigitAugmentParams, crop_matrix, digit_crop,
                                      official_subset, process_bbox)
from handkit.data.formats.interhand import InterHand26M
from handkit.geometry.camera import project
from handkit.hand.skeleton import convert
from handkit.models.checkpoint import read_checkpoint
from handkit.tasks.digit import DigitConfig, build_digit_task, train_digit
from handkit.tasks.digit_data import DigitDataConfig
from handkit.tasks.registry import get_task
from handkit.utils.config import config_path, load_config, replace_config


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("interhand", tmp_path_factory.mktemp("ih"), 20, seed=2, size=128,
                      progress=False)


def test_process_bbox_and_crop_matrix_by_hand():
    assert process_bbox([10, 20, 40, 80]).tolist() == [30.0, 60.0, 100.0, 100.0]
    T = crop_matrix((30.0, 60.0), (100.0, 100.0), 0.0, 256)
    assert (T[:2] @ [30.0, 60.0, 1]).tolist() == pytest.approx([128.0, 128.0])
    assert (T[:2] @ [80.0, 60.0, 1]).tolist() == pytest.approx([256.0, 128.0])  # c + (s/2, 0)
    R = crop_matrix((0.0, 0.0), (256.0, 256.0), 90.0, 256)
    # dst->src: p_src = c + R_90 (p_dst - 128): dst (256, 128) <- src R_90 (128, 0) = (0, 128)
    assert (R[:2] @ [0.0, 128.0, 1]).tolist() == pytest.approx([256.0, 128.0])


def _visible(root):
    return {item["image"]: item for item in
            json.loads((root / ".synth_work/preview.json").read_text())}


@pytest.mark.parametrize("flip", [False, True])
def test_crops_keep_projection_and_labels_follow_their_hand(synth, flip):
    ds = InterHand26M(synth, "train")
    preview = _visible(synth)
    checked = 0
    for k in range(len(ds)):
        s = ds[k]
        params = DigitAugmentParams(trans=(0.05, -0.03), scale=1.1, rot_deg=20.0, flip=flip)
        item = digit_crop(s, params, patch=64)
        hands = [0, 1] if not flip else [1, 0]  # slot after the flip -> original hand
        K_patch = item["T"] @ (s.K if not flip else _flipped_K(s.K, s.image.shape[1]))
        for slot, orig in enumerate(hands):
            xyz = s.keypoints_3d[orig].astype(np.float64)
            if flip:
                xyz = xyz * [-1, 1, 1]
            uv = project(convert(xyz, "handkit", "interhand"), K_patch).numpy()
            block = item["uv"][21 * slot: 21 * slot + 21]
            if s.joint_valid[orig].any():
                assert np.abs(block - uv).max() < 1e-3
            assert np.allclose(item["z"][21 * slot: 21 * slot + 21],
                               convert(xyz, "handkit", "interhand")[:, 2], atol=1e-6)
        # visible joints lie on their (possibly swapped) hand's labels at half resolution
        info = preview[f"images/train/{ds.items[k][0]['file_name']}"]
        for side, vis in zip(info["handedness"], info["visible"]):
            orig = 0 if side == "right" else 1
            slot = hands.index(orig)
            vis42 = convert(np.array(vis, bool)[:, None], "handkit", "interhand")[:, 0]
            pts = item["uv"][21 * slot: 21 * slot + 21][vis42] / 2  # patch px -> label px
            inside = (pts >= 1).all(1) & (pts < 31).all(1)
            for x, y in pts[inside]:
                patch = item["segm"][int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2]
                assert ((patch > 16 * slot) & (patch <= 16 * slot + 16)).any()
                checked += 1
        ht = {"right": [1, 0], "left": [0, 1], "interacting": [1, 1]}[s.extras["hand_type"]]
        assert item["hand_type"].tolist() == (ht[::-1] if flip else ht)
        assert item["segm_valid"] == 1.0
    assert checked > 20


def _flipped_K(K, width):
    out = K.astype(np.float64).copy()
    out[0, 2] = width - K[0, 2]
    return out


def test_official_subset_is_the_python_random_recipe():
    rng = random.Random(1)
    assert rng.randint(0, 100) == 17  # the official assert holds for Python's generator
    assert official_subset(100, "smallval") == rng.sample(list(range(100)), 25)
    assert len(official_subset(3000, "minival")) == 1000
    assert official_subset(5, "") == list(range(5))
    with pytest.raises(ValueError, match="subset"):
        official_subset(5, "tinyval")


def _tiny(root) -> DigitConfig:
    trainer = {"accelerator": "cpu", "devices": "1", "progress_bar": False,
               "precision": "32-true", "accumulate_grad_batches": 1, "check_val_every_n_epoch": 1,
               "num_sanity_val_steps": 0, "max_epochs": 2, "limit_train_batches": 2.0,
               "log_every_n_steps": 1}
    return replace_config(DigitConfig(), {
        "model.backbone": "stem4", "model.image_size": 64, "model.options": {"size": "small"},
        "data": DigitDataConfig(root=str(root), batch_size=4, val_batch_size=4, num_workers=0,
                                val_subset=""),
        "optim.lr": 1e-3, "optim.milestones": (1,),
        **{f"trainer.{k}": v for k, v in trainer.items()}})


def test_the_task_loss_has_its_true_gradient(synth, assert_descends):
    from handkit.data.hands import collate_items
    from handkit.tasks.digit_data import DigitCrops

    torch.manual_seed(0)
    cfg = _tiny(synth)
    task = build_digit_task(cfg).double().eval()  # float64; BN statistics fixed
    crops = DigitCrops(InterHand26M(synth, "train"), list(range(4)), 64, None)
    batch = collate_items([crops[i] for i in range(4)])
    batch = {k: v.double() if torch.is_tensor(v) and v.is_floating_point() else v
             for k, v in batch.items()}
    assert batch["segm_valid"].sum() == 4  # every term is live
    assert_descends(lambda: task.losses(batch)["loss"], task.parameters())


def test_tiny_run_checkpoints_and_resumes_bit_identically(synth, tmp_path,
                                                          stop_after_first_epoch):
    cfg = _tiny(synth)
    straight_path = train_digit(cfg, tmp_path / "a")
    straight, hp = read_checkpoint(straight_path)
    assert hp["config"]["model"]["name"] == "digit"
    ckpt = torch.load(straight_path, weights_only=True)
    assert ckpt["global_step"] == 4 and ckpt["epoch"] == 1
    train_digit(cfg, tmp_path / "b", callbacks=[stop_after_first_epoch])
    resumed = read_checkpoint(train_digit(cfg, tmp_path / "b", resume=True))[0]
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=0, msg=key)
    metrics = (tmp_path / "a" / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert "val/mpjpe_mm" in metrics and "train/segm" in metrics


def test_train_digit_is_registered_with_packaged_configs():
    import handkit.tasks  # noqa: F401

    spec = get_task("digit")
    official = load_config(spec.config, config_path("digit/official", "digit"), [], {})
    assert official.optim.lr == 1e-4 and official.optim.milestones == (40,)
    assert official.trainer.accumulate_grad_batches == 2 and official.data.batch_size == 32
    assert official.trainer.precision == "16-mixed" and official.seed == 1
    assert official.model.backbone == "hrnet_w32" and official.loss.segm == 10.0
    assert official == DigitConfig(data=official.data)  # the file restates the defaults
    cpu = load_config(spec.config, config_path("digit/cpu_synth", "digit"), [], {})
    assert cpu.model.options == {"size": "small", "depth_bins": 16}  # 64 px: hm side 16
    assert cpu.trainer.accelerator == "cpu"


def test_training_reads_the_lmdb_files_in_worker_processes(synth, tmp_path):
    from handkit.data.formats.interhand_lmdb import pack_interhand_lmdb
    from handkit.tasks.digit_data import DigitDataModule

    images, masks = tmp_path / "interhand.lmdb", tmp_path / "segm_32.lmdb"
    pack_interhand_lmdb(synth, images, splits=["train"])
    pack_interhand_lmdb(synth, masks, what="masks", splits=["train"])
    cfg = DigitDataConfig(root=str(synth), batch_size=4, num_workers=1, val_split="",
                          images_lmdb=str(images), masks_lmdb=str(masks))
    dm = DigitDataModule(cfg, 64, seed=1)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))  # the LMDB reader is reopened in the worker
    assert batch["image"].shape == (4, 3, 64, 64) and batch["segm_valid"].eq(1).all()
    assert batch["bad"] == []
