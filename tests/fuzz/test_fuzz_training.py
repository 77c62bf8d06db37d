"""The long part of the fuzz suite (marked slow): training verbs run a few steps on data with bad
samples, which are skipped and counted (finite weights, exit 0), and refuse to mix a new run
into a finished one. A few tiny runs of ~10-40 s each."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from _fuzz import IMAGE_MUTATIONS, assert_error, assert_ok, copy_tree, json_mutation, run, \
    set_at, tree_hash

pytestmark = pytest.mark.slow

_TRAINER = {"trainer.accelerator": "cpu", "trainer.devices": "1", "trainer.max_epochs": 1,
            "trainer.progress_bar": "false", "trainer.log_every_n_steps": 1,
            "data.num_workers": 0}
_VERB = {
    "finetune": {"model.backbone": "resnet18", "model.image_size": 32,
                 "augment.color_jitter": "false", "data.batch_size": 4,
                 "data.precrop_size": 48},
    "pretrain": {"method": "simclr", "encoder": "resnet18", "augment.output_size": "[32, 32]",
                 "data.batch_size": 3, "data.samples_per_epoch": 6, "optim.warmup_epochs": 0,
                 "channels_last": "false"},
}


def _argv(verb: str, data: Path, out: Path, *extra: str) -> list[str]:
    argv = [verb, "--data", str(data), "--out", str(out)]
    for key, value in {**_TRAINER, **_VERB[verb]}.items():
        argv += ["--set", f"{key}={value}"]
    return argv + list(extra)


def _weights_finite(ckpt: Path) -> bool:
    state = torch.load(ckpt, weights_only=True, map_location="cpu")["state_dict"]
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


_FINETUNE_BAD = {
    "K_zero": lambda root: json_mutation(root / "training_K.json",
                                         lambda v: set_at(v, (0,), [[0.0] * 3] * 3)),
    "K_nan": lambda root: json_mutation(root / "training_K.json",
                                        lambda v: set_at(v, (0, 0, 0), float("nan"))),
    "xyz_negative_depth": lambda root: json_mutation(
        root / "training_xyz.json", lambda v: set_at(v, (0,), [[x, y, -z] for x, y, z in v[0]])),
    "scale_zero": lambda root: json_mutation(root / "training_scale.json",
                                             lambda v: set_at(v, (0,), 0.0)),
    "image_oversized_header": lambda root: IMAGE_MUTATIONS["oversized_header"][0](
        root / "training/rgb/00000000.jpg"),
    "image_truncated": lambda root: IMAGE_MUTATIONS["truncated"][0](
        root / "training/rgb/00000000.jpg"),
}


@pytest.fixture(scope="module")
def freihand4(tmp_path_factory) -> Path:
    from handkit.cli import main

    out = tmp_path_factory.mktemp("fuzz_train") / "fh"
    assert main(["synth", "freihand", "--out", str(out), "--n", "4", "--size", "64",
                 "--quiet"]) == 0
    return out


@pytest.mark.parametrize("mutation", sorted(_FINETUNE_BAD))
def test_finetune_skips_and_counts_a_bad_sample(mutation, freihand4, tmp_path, capsys):
    data = copy_tree(freihand4, tmp_path / "data")
    _FINETUNE_BAD[mutation](data)
    before = tree_hash(data)
    text = assert_ok(run(_argv("finetune", data, tmp_path / "run"), capsys))
    assert "skipped 1 bad samples" in text, text
    assert _weights_finite(tmp_path / "run/checkpoints/last.ckpt")
    assert tree_hash(data) == before


def test_pretrain_skips_and_counts_a_bad_frame(hand100m_base, tmp_path, capsys):
    data = copy_tree(hand100m_base, tmp_path / "data")
    frame = sorted(data.glob("frames/*/*.jpg"))[0]
    IMAGE_MUTATIONS["oversized_header"][0](frame)
    before = tree_hash(data)
    text = assert_ok(run(_argv("pretrain", data, tmp_path / "run"), capsys))
    assert "skipped" in text and "bad samples" in text, text
    assert _weights_finite(tmp_path / "run/checkpoints/last.ckpt")
    assert tree_hash(data) == before


def test_finetune_refuses_an_out_holding_a_run_and_resume_appends(freihand4, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert_ok(run(_argv("finetune", freihand4, run_dir), capsys))
    finished = tree_hash(run_dir / "checkpoints")
    rows = (run_dir / "logs/metrics.csv").read_text().splitlines()
    assert_error(run(_argv("finetune", freihand4, run_dir), capsys), str(run_dir), "--resume")
    assert tree_hash(run_dir / "checkpoints") == finished
    # --resume with one more epoch: the log keeps the first run's rows
    assert_ok(run(_argv("finetune", freihand4, run_dir, "--resume", "--set",
                        "trainer.max_epochs=2"), capsys))
    assert (run_dir / "logs/metrics.csv").read_text().splitlines()[1:len(rows)] == rows[1:]


def test_finetune_resume_from_a_malicious_last_ckpt(freihand4, tmp_path, canary, capsys):
    from _fuzz import write_evil_checkpoint

    run_dir = tmp_path / "run"
    assert_ok(run(_argv("finetune", freihand4, run_dir), capsys))
    last = run_dir / "checkpoints/last.ckpt"
    write_evil_checkpoint(last, canary, torch.load(last, weights_only=True))
    before = tree_hash(run_dir)
    assert_error(run(_argv("finetune", freihand4, run_dir, "--resume"), capsys), last)
    assert tree_hash(run_dir) == before


def test_evaluate_of_a_trained_run_with_bad_samples(freihand4, tmp_path, capsys):
    """evaluate --ckpt of a fine-tuned run over data with a K = 0 and a negative depth: both
    counted, metrics finite (one K = 0 sample used to abort the whole evaluation)."""
    run_dir = tmp_path / "run"
    assert_ok(run(_argv("finetune", freihand4, run_dir), capsys))
    data = copy_tree(freihand4, tmp_path / "data")
    _FINETUNE_BAD["K_zero"](data)
    json_mutation(data / "training_xyz.json",
                  lambda v: set_at(v, (1,), [[x, y, -z] for x, y, z in v[1]]))
    out = tmp_path / "eval"
    assert_ok(run(["evaluate", "--ckpt", run_dir / "checkpoints/last.ckpt", "--data", data,
                   "--split", "train", "--quiet", "--out", out], capsys))
    report = json.loads((out / "metrics.json").read_text())
    assert report["meta"]["skipped"] == 2
    assert all(math.isfinite(v) for v in report["metrics"].values())
