"""Fine-tuning: data (mirroring, pre-crop K, label subsets), the 3D rotation, loss goes down, resume."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from handkit.data.augment import _rotation, augment, transform_keypoints
from handkit.data.schema import Sample
from handkit.geometry.camera import project
from handkit.geometry.camera import rotate_about_z
from handkit.tasks.finetune import FinetuneConfig, build_finetune_task, finetune
from handkit.data.hands import prepare_hand
from handkit.tasks.finetune_data import (FinetuneDataConfig, FinetuneDataModule, HandCrops,
                                         label_subset)
from handkit.models.checkpoint import read_checkpoint
from handkit.utils.config import replace_config


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("freihand", tmp_path_factory.mktemp("fh"), 16, seed=3, size=128,
                      progress=False)


def _tiny(name: str, root, **values) -> FinetuneConfig:
    """A 32-px ResNet-18 `name` on 4-sample batches; `values`: more dotted keys ("__" = ".")."""
    return replace_config(FinetuneConfig(), {
        "model.name": name, "model.backbone": "resnet18", "model.image_size": 32,
        "data": FinetuneDataConfig(root=str(root), batch_size=4, num_workers=0, precrop_size=48),
        "optim.lr": 1e-3, "trainer.accelerator": "cpu", "trainer.devices": "1",
        "trainer.progress_bar": False, **{k.replace("__", "."): v for k, v in values.items()}})


def test_label_subset_is_deterministic_and_sized():
    a = label_subset(100, 0.1, seed=5)
    assert len(a) == 10 and np.array_equal(a, label_subset(100, 0.1, seed=5))
    assert not np.array_equal(a, label_subset(100, 0.1, seed=6))
    assert np.array_equal(label_subset(100, 0.1, mode="first"), np.arange(10))
    assert np.array_equal(label_subset(7, 1.0), np.arange(7))
    assert len(label_subset(100, 0.001)) == 1
    with pytest.raises(ValueError, match="label_fraction"):
        label_subset(100, 0.0)
    with pytest.raises(ValueError, match="subset"):
        label_subset(100, 0.5, mode="last")


def test_rotate_about_z_turns_projections_like_the_image():
    """About the principal point, projecting rotated 3D = rotating the projected pixels."""
    K = torch.tensor([[[300.0, 0, 64], [0, 300, 64], [0, 0, 1]]], dtype=torch.float64)
    xyz = torch.tensor([[[0.02, -0.01, 0.5], [-0.03, 0.04, 0.6], [0.0, 0.0, 0.4]]],
                       dtype=torch.float64)
    angle = torch.tensor([30.0], dtype=torch.float64)
    rot = _rotation(angle, torch.tensor([[64.0, 64.0]], dtype=torch.float64))
    expected = transform_keypoints(project(xyz, K), rot)
    assert torch.allclose(project(rotate_about_z(xyz, angle), K), expected, atol=1e-9)
    # hand-computed: +90° maps (x, y) to (y, -x)
    out = rotate_about_z(torch.tensor([[[1.0, 2.0, 3.0]]]), torch.tensor([90.0]))
    assert torch.allclose(out, torch.tensor([[[2.0, -1.0, 3.0]]]), atol=1e-6)


def _sample(right: bool) -> Sample:
    rng = np.random.default_rng(0)
    xyz = (rng.normal(0, 0.03, (1, 21, 3)) + [0.01, 0.02, 0.5]).astype(np.float32)
    K = np.array([[200, 0, 60], [0, 210, 50], [0, 0, 1]], np.float32)
    uvw = xyz @ K.T
    return Sample(image=rng.integers(0, 255, (100, 120, 3), dtype=np.uint8),
                  keypoints_2d=(uvw[..., :2] / uvw[..., 2:]).astype(np.float32),
                  joint_valid=np.ones((1, 21), bool), is_right=np.array([right]), K=K,
                  keypoints_3d=xyz, scale=np.array([0.03], np.float32), sample_id="s")


def test_prepare_hand_mirrors_a_left_hand_consistently():
    left, right = prepare_hand(_sample(False)), prepare_hand(_sample(True))
    assert np.array_equal(left["image"], right["image"][:, ::-1])
    assert np.allclose(left["uv"][:, 0], 120 - right["uv"][:, 0])
    assert np.allclose(left["xyz"][:, 0], -right["xyz"][:, 0])
    assert np.allclose(project(torch.from_numpy(left["xyz"]), torch.from_numpy(left["K"])),
                       left["uv"], atol=1e-3)
    assert not left["is_right"]


def test_prepare_hand_refuses_hands_with_too_few_valid_joints():
    s = _sample(True)
    s.joint_valid[0, 5:] = False
    with pytest.raises(ValueError, match="valid joints"):
        prepare_hand(s, min_valid=10)


def test_precrop_keeps_K_and_keypoints_consistent(synth):
    dm = FinetuneDataModule(FinetuneDataConfig(root=str(synth), precrop_size=48))
    dm.setup()
    item = dm.dataset[0]
    assert item["image"].shape == (3, 48, 48) and item["image"].dtype == torch.uint8
    assert torch.allclose(project(item["xyz"], item["K"]), item["uv"], atol=1e-3)
    # the keypoint box spans precrop_fill of the crop
    extent = (item["uv"].amax(0) - item["uv"].amin(0)).max()
    assert math.isclose(float(extent), 0.45 * 48, rel_tol=1e-4)


def test_bad_samples_are_reported_not_raised(synth):
    crops = HandCrops([None], FinetuneDataConfig())  # type: ignore[list-item]
    with pytest.raises(AttributeError):  # a bug (not a load error) still raises
        crops[0]
    s = _sample(True)
    s.keypoints_3d = None
    assert "3D" in HandCrops([s], FinetuneDataConfig())[0]["bad"]


@pytest.mark.parametrize("name", ["rn25d", "detnet"])
def test_the_task_loss_has_its_true_gradient(synth, name, assert_descends, monkeypatch):
    """The task's loss on a real augmented batch is differentiable end to end: a small step
    along -grad lowers it by the first-order amount (float64, BN in eval mode; guaranteed,
    unlike a few Adam steps whose trajectory depends on the BLAS path)."""
    torch.manual_seed(0)
    cfg = _tiny(name, synth)
    task = build_finetune_task(cfg).double().eval()
    dm = FinetuneDataModule(cfg.data)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    images, uv, p = augment(batch["image"], batch["uv"], task.augment_config,
                            torch.Generator().manual_seed(1), normalize=task.net.normalize)
    K = p.matrix.double() @ batch["K"].double()
    if name == "rn25d":  # the analytic root depth is detached by design: hold it fixed
        frozen = task.net.model(images.double(), K).z_root_analytic.detach()
        monkeypatch.setattr("handkit.models.rn25d.root_depth", lambda *a, **k: frozen)

    def loss():
        return task.losses(images.double(), uv.double(), batch["xyz"].double(), K,
                           batch["valid"], p.angle_deg)["loss"]

    assert_descends(loss, task.parameters())


def test_the_crop_size_is_derived_from_the_model_not_a_second_setting(synth):
    task = build_finetune_task(_tiny("rn25d", synth))
    assert task.augment_config.output_size == (32, 32) and task.cfg.augment.output_size is None
    with pytest.raises(ValueError, match="augment.output_size: .* set model.image_size"):
        _tiny("rn25d", synth, augment__output_size=(32, 32))
    with pytest.raises(dataclasses.FrozenInstanceError):  # validated configs stay as they are
        task.cfg.model.image_size = 64


def test_resume_continues_a_stopped_run(synth, tmp_path):
    cfg = _tiny("rn25d", synth, trainer__max_epochs=1, trainer__limit_train_batches=2.0,
                trainer__log_every_n_steps=1)
    last = finetune(cfg, tmp_path)
    state, hp = read_checkpoint(last)
    assert hp["config"]["model"]["name"] == "rn25d"
    first = torch.load(last, weights_only=True)
    assert first["global_step"] == 2
    log = tmp_path / "logs" / "metrics.csv"
    rows_before = log.read_text().splitlines()[1:]
    cfg = replace_config(cfg, {"trainer.max_epochs": 2})
    with pytest.raises(FileExistsError, match="holds a training run .* pass --resume"):
        finetune(cfg, tmp_path)  # would write last-v1.ckpt beside the old run's last.ckpt
    finetune(cfg, tmp_path, resume=True)
    second = torch.load(last, weights_only=True)
    rows_after = log.read_text().splitlines()[1:]
    assert rows_before and len(rows_after) > len(rows_before)  # appended, not truncated
    assert sorted(p.name for p in last.parent.iterdir()) == ["epoch=1.ckpt", "last.ckpt"]
    assert second["epoch"] == 1 and second["global_step"] == 4  # continued, not restarted
    assert (tmp_path / "checkpoints" / "epoch=1.ckpt").is_file()
    assert not (tmp_path / "checkpoints" / "epoch=0.ckpt").exists()  # only the newest is kept
    with pytest.raises(FileNotFoundError, match="resume"):
        finetune(cfg, tmp_path / "fresh", resume=True)


class _Canary:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))  # creates the canary file if ever unpickled


@pytest.mark.parametrize("kind", ["corrupt", "malicious"])
def test_resume_refuses_a_bad_last_ckpt_in_one_line(synth, tmp_path, kind):
    cfg = _tiny("rn25d", synth)
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    canary = tmp_path / "canary"
    if kind == "corrupt":
        last.write_bytes(b"PK\x03\x04 not a zip")
    else:
        torch.save({"state_dict": {}, "payload": _Canary(canary)}, last)
    with pytest.raises(ValueError, match="not a checkpoint handkit can read safely") as err:
        finetune(cfg, tmp_path, resume=True)
    assert "weights_only=False" not in str(err.value) and "\n" not in str(err.value)
    assert not canary.exists()


def test_a_resumed_run_ends_with_the_uninterrupted_runs_weights(synth, tmp_path, monkeypatch,
                                                                stop_after_first_epoch):
    """Every stream resumes: the step-keyed augmentation, the global states and the loader's
    shuffle (without its saved state, epoch 2 would repeat epoch 1's order)."""
    cfg = _tiny("rn25d", synth, trainer__max_epochs=2, trainer__limit_train_batches=2.0)
    straight = read_checkpoint(finetune(cfg, tmp_path / "a"))[0]
    finetune(cfg, tmp_path / "b", callbacks=[stop_after_first_epoch])
    resumed = read_checkpoint(finetune(cfg, tmp_path / "b", resume=True))[0]
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=1e-6, msg=key)
    finetune(cfg, tmp_path / "c", callbacks=[stop_after_first_epoch])
    monkeypatch.setattr(FinetuneDataModule, "load_state_dict", lambda self, state: None)
    forgot = read_checkpoint(finetune(cfg, tmp_path / "c", resume=True))[0]
    assert any(not torch.allclose(forgot[k].float(), straight[k].float()) for k in straight)
