"""SMHR training end to end on the synthetic multi-hand world: configs, checkpoint, resume."""

from __future__ import annotations

import pytest
import torch

from handkit.models.checkpoint import load_model, read_checkpoint
from handkit.tasks.registry import get_task, list_tasks
from handkit.tasks.smhr import SMHRConfig, smhr
from handkit.utils.config import config_path, load_config, packaged_configs, replace_config


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("multihand", tmp_path_factory.mktemp("mh"), 8, seed=2, size=128,
                      progress=False)


def _tiny(root) -> SMHRConfig:
    return load_config(SMHRConfig, config_path("smhr/cpu_multi"), values={
        "model.image_size": 64, "data.root": str(root), "data.batch_size": 2,
        "data.num_workers": 0, "data.val_root": str(root), "data.val_split": "all",
        "trainer.max_epochs": 2, "trainer.limit_train_batches": 2.0,
        "trainer.progress_bar": False, "threads": 0})


def test_registered_with_packaged_configs():
    import handkit.tasks  # noqa: F401

    assert "smhr" in list_tasks() and get_task("smhr").config is SMHRConfig
    names = packaged_configs("smhr")
    assert {"smhr/single_224", "smhr/multi_384", "smhr/cpu_single", "smhr/cpu_multi"} <= \
        set(names), names
    single = load_config(SMHRConfig, config_path("smhr/single_224"))
    assert single.model.image_size == 224 and single.model.options["max_hands"] == 1
    assert single.loss.handedness == 20 and single.loss.joints3d == 0
    multi = load_config(SMHRConfig, config_path("smhr/multi_384"))
    assert multi.model.options["max_hands"] == 4 and multi.data.compose
    assert multi.loss.handedness == 100 and multi.loss.joints3d == 10
    assert multi.optim.milestones == (30, 60, 90) and multi.seed == 317
    pho = load_config(SMHRConfig, config_path("smhr/single_224_pho"))
    assert pho.loss.photometric == 100 and pho.hard_fraction == 0.7
    assert pho.model.options["photometric"] and single.loss.photometric == 0


def test_photometric_stage_wires_masks_into_the_loss(world):
    from handkit.data.hands import collate_items
    from handkit.models.registry import build_model
    from handkit.tasks.smhr import SMHRTask
    from handkit.tasks.smhr_data import SMHRDataModule

    cfg = _tiny(world)
    cfg = replace_config(cfg, {"model.options": {**cfg.model.options, "photometric": True},
                               "loss.photometric": 100.0, "hard_fraction": 0.7})
    data = SMHRDataModule(cfg.data, image_size=64, max_objs=4, seed=0)
    data.setup()
    batch = collate_items([data.items[(0, i)] for i in range(4)])
    assert batch["has_mask"].all() and batch["mask"].amax() == 1.0
    task = SMHRTask(build_model(cfg.model), cfg)
    terms = task.losses(batch)
    assert terms["photometric"] > 0 and torch.isfinite(terms["loss"])


def test_trains_checkpoints_and_resumes_bit_identically(world, tmp_path, stop_after_first_epoch):
    cfg = _tiny(world)
    straight_path = smhr(cfg, tmp_path / "a")
    straight, hp = read_checkpoint(straight_path)
    logged = (tmp_path / "a" / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val/loss", "val/gtc_uv_px", "val/gtc_handedness", "val/gtc_uv_px_smhr"} <= \
        set(logged), logged
    assert hp["config"]["model"]["name"] == "smhr"
    assert torch.load(straight_path, weights_only=True)["global_step"] == 4
    smhr(cfg, tmp_path / "b", callbacks=[stop_after_first_epoch])
    resumed = read_checkpoint(smhr(cfg, tmp_path / "b", resume=True))[0]
    assert resumed.keys() == straight.keys()
    for key in straight:
        assert torch.equal(resumed[key], straight[key]), key
    # the checkpoint is a model: predict on an image returns a Prediction (maybe no hands)
    net, config = load_model(straight_path)
    assert config["model"]["options"]["max_hands"] == 4
    key = "net.heads.hm.2.bias"
    assert torch.equal(net.state_dict()[key], straight[f"net.{key}"])
    pred = net.predict(torch.zeros(1, 3, 64, 64))
    assert len(pred.hands) == 1


def test_a_run_started_from_init_resumes_without_the_init_file(world, tmp_path,
                                                               stop_after_first_epoch):
    import shutil
    from dataclasses import replace

    first = smhr(_tiny(world), tmp_path / "first")
    init = tmp_path / "init.ckpt"
    shutil.copy(first, init)
    cfg = replace(_tiny(world), init=str(init))
    straight = read_checkpoint(smhr(cfg, tmp_path / "a"))[0]
    smhr(cfg, tmp_path / "b", callbacks=[stop_after_first_epoch])
    init.unlink()  # resumed weights come from the run's own checkpoint
    resumed = read_checkpoint(smhr(cfg, tmp_path / "b", resume=True))[0]
    for key in straight:
        assert torch.equal(resumed[key], straight[key]), key
    with pytest.raises(FileNotFoundError):  # a new run still needs it
        smhr(cfg, tmp_path / "c")


def test_intrinsics_camera_with_rotated_crops_is_refused(tmp_path):
    cfg = load_config(SMHRConfig, config_path("smhr/cpu_single"), values={
        "data.root": str(tmp_path), "model.options": {"hand_model": "openhand",
                                                      "camera": "intrinsics"}})
    with pytest.raises(ValueError, match="rotated K"):
        smhr(cfg, tmp_path / "run")


def test_init_starts_a_run_from_another_smhr_checkpoint(tmp_path):
    """SMHR's second stage from its first: every tensor of the checkpoint copied, the heads it
    lacks kept; another model's checkpoint or a backbone that does not fit refused."""
    from dataclasses import replace

    from handkit.models.registry import build_model
    from handkit.tasks.smhr import load_init

    cfg = load_config(SMHRConfig, config_path("smhr/cpu_multi"), values={"model.image_size": 64})
    torch.manual_seed(0)
    first = build_model(cfg.model)
    path = tmp_path / "first.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in first.state_dict().items()},
                "hyper_parameters": {"config": {"model": {"name": "smhr"}}}}, path)
    options = {**cfg.model.options, "photometric": True}
    torch.manual_seed(1)
    second = build_model(replace(cfg.model, options=options))
    copied, kept = load_init(second, path)
    assert copied == len(first.state_dict()) and kept == len(second.state_dict()) - copied
    for k, v in first.state_dict().items():
        assert torch.equal(second.state_dict()[k], v), k
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"config": {"model": {"name": "rn25d"}}}},
               other)
    with pytest.raises(ValueError, match="model 'rn25d'"):
        load_init(second, other)
    # the task reads `init` when it builds the model
    with pytest.raises(ValueError, match="model 'rn25d'"):
        smhr(replace(cfg, init=str(other)), tmp_path / "run")
    deeper = build_model(replace(cfg.model, backbone="resnet34"))
    with pytest.raises(ValueError, match="lacks .* outside its heads"):
        load_init(deeper, path)  # resnet34's extra blocks would stay random: refused
    wider = build_model(replace(cfg.model, backbone="resnet50"))
    with pytest.raises(ValueError, match="do not fit"):
        load_init(wider, path)
