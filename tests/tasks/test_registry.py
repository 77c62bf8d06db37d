"""The task registry and `handkit train METHOD`: names with did-you-mean, packaged configs, and
a tiny fine-tuning run through the generic verb."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import handkit
import handkit.tasks  # noqa: F401  (registers the methods)
from handkit.cli import main
from handkit.tasks.finetune import FinetuneConfig
from handkit.tasks.pretrain import PretrainConfig
from handkit.tasks.registry import get_task, list_tasks, register_task
from handkit.utils.config import config_path, load_config, packaged_configs


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("freihand", tmp_path_factory.mktemp("fh"), 16, seed=3, size=128,
                      progress=False)


def test_registry_lists_suggests_and_refuses_duplicates():
    assert {"finetune", "pretrain"} <= set(list_tasks())
    assert get_task("finetune").config is FinetuneConfig
    assert get_task("pretrain").config is PretrainConfig
    with pytest.raises(ValueError, match="unknown task 'finetun'. Did you mean 'finetune'"):
        get_task("finetun")
    with pytest.raises(ValueError, match="already registered"):
        register_task("finetune", config=FinetuneConfig, run=lambda *a, **k: Path())


def test_a_registered_method_runs_with_its_own_config_type(tmp_path):
    @dataclass
    class Cfg:
        steps: int = 1

    calls = []
    spec = register_task("toy_registry_test", config=Cfg,
                         run=lambda cfg, out, resume: calls.append((cfg, out, resume)) or out)
    assert spec(Cfg(2), str(tmp_path), resume=True) == tmp_path
    assert calls == [(Cfg(2), tmp_path, True)]
    with pytest.raises(TypeError, match="expected a Cfg"):
        spec(FinetuneConfig(), tmp_path)


def test_every_packaged_config_loads_and_names_resolve():
    names = packaged_configs()
    assert {"finetune/cpu_rn25d", "pretrain/cpu_simhand_w"} <= set(names)
    for name in names:  # every shipped file is valid for its method's config type
        method = name.split("/")[0]
        load_config(get_task(method).config, config_path(name))
    assert config_path("cpu_rn25d", "finetune") == config_path("finetune/cpu_rn25d.yaml")
    with pytest.raises(FileNotFoundError, match="not a packaged config.*finetune/cpu_rn25d"):
        config_path("cpu_rn25e", "finetune")


def test_pyproject_package_data_ships_every_config():
    root = Path(handkit.__file__).parent
    pyproject = root.parents[1] / "pyproject.toml"
    patterns = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    shipped = {p for pattern in patterns["handkit"] for p in root.glob(pattern)}
    assert set((root / "configs").glob("**/*.yaml")) <= shipped


def test_train_verb_runs_a_tiny_finetune_from_a_packaged_config(synth, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "finetune", "--config", "cpu_rn25d", "--out", str(out),
                 "--devices", "1", "--set", f"data.root={synth}", "--set", "data.num_workers=0",
                 "--set", "data.batch_size=8", "--set", "trainer.max_epochs=1",
                 "--set", "trainer.limit_train_batches=1", "--set", "trainer.accelerator=cpu",
                 "--set", "trainer.progress_bar=false", "--set", "model.backbone=resnet18"])
    assert code == 0, capsys.readouterr().err
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    config = ckpt["hyper_parameters"]["config"]
    assert ckpt["global_step"] == 1 and config["model"]["image_size"] == 96  # the packaged file
    assert config["data"]["batch_size"] == 8 and config["trainer"]["devices"] == "1"


def test_train_verb_unknown_method_exits_2_with_a_suggestion(capsys):
    assert main(["train", "pretrian"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'pretrain'" in err and err.count("\n") == 1
