"""`kill -9` mid-epoch after a checkpoint, then `--resume`: the final weights of fine-tuning
and pre-training equal an uninterrupted run's exactly, with 0 and 2 loader workers (every
random stream restored), and the metrics log holds every step once."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from handkit.data.synth.runner import synthesize
from handkit.models.checkpoint import read_checkpoint


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthesize("freihand", tmp_path_factory.mktemp("fh"), 24, seed=4, size=96,
                      progress=False)


_TRAINER = {"trainer.max_epochs": 3, "trainer.accelerator": "cpu", "trainer.devices": "1",
            "trainer.progress_bar": "false", "trainer.log_every_n_steps": 1}
_VERBS = {
    "finetune": {"model.backbone": "resnet18", "model.image_size": 32,
                 "augment.color_jitter": "false",
                 "data.batch_size": 4, "data.precrop_size": 48,
                 "trainer.limit_train_batches": 3},
    "pretrain": {"method": "peclr", "loss.weighting": "linear", "encoder": "resnet18",
                 "augment.output_size": "[32, 32]", "data.batch_size": 4,
                 "data.samples_per_epoch": 12, "optim.warmup_epochs": 0,
                 "channels_last": "false"},
}


def _command(verb, data, out, workers, *extra):
    sets = {**_TRAINER, **_VERBS[verb], "data.num_workers": workers}
    argv = [sys.executable, "-m", "handkit.cli", verb, "--data", str(data), "--out", str(out)]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    return argv + list(extra)


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("verb", ["finetune", "pretrain"])
def test_kill_9_after_a_checkpoint_then_resume_is_bit_identical(data, tmp_path, verb, workers):
    straight = tmp_path / "straight"
    subprocess.run(_command(verb, data, straight, workers), env=_env(), check=True,
                   capture_output=True, timeout=900)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_command(verb, data, killed, workers), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first, last = (killed / "checkpoints" / name for name in ("epoch=0.ckpt", "last.ckpt"))
    deadline = time.monotonic() + 900
    while (not (first.is_file() and last.is_file()) and proc.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.02)
    time.sleep(0.5)  # into the next epoch: the kill lands mid-epoch, after the checkpoint
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL, "the run ended before it could be killed"
    resumed = subprocess.run(_command(verb, data, killed, workers, "--resume"), env=_env(),
                             capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = read_checkpoint(straight / "checkpoints" / "last.ckpt")[0]
    b = read_checkpoint(killed / "checkpoints" / "last.ckpt")[0]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    logged = [(straight if run == "a" else killed) / "logs" / "metrics.csv" for run in "ab"]
    steps = [sorted({line.split(",")[-1] for line in p.read_text().splitlines()[1:]})
             for p in logged]
    assert steps[0] and steps[0] == steps[1]  # the resumed log holds the killed part too
