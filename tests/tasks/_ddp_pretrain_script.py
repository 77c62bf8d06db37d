"""Run by test_pretrain_ddp: a few PeCLR steps on 2 CPU processes (gloo); each rank saves its
final weights. Lightning's DDP launcher re-executes this script for rank 1."""

import sys
from pathlib import Path

import lightning as L
import torch

from handkit.tasks.pretrain import PretrainConfig, pretrain
from handkit.tasks.pretrain_data import DataSource
from handkit.utils.config import load_config


class SaveRankWeights(L.Callback):
    def on_train_end(self, trainer, module):
        torch.save({k: v.detach().clone() for k, v in module.state_dict().items()},
                   Path(trainer.default_root_dir) / f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    data, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    cfg = load_config(PretrainConfig, None, [
        "method=peclr", "loss.weighting=linear", "encoder=resnet18",
        "augment.output_size=[32,32]", "data.batch_size=4", "data.num_workers=0",
        "data.samples_per_epoch=16", "trainer.accelerator=cpu", "trainer.devices=2",
        "trainer.strategy=ddp", "trainer.max_epochs=1", "trainer.progress_bar=false",
        "optim.warmup_epochs=0", "channels_last=false"], {"data.sources": [DataSource(root=data)]})
    pretrain(cfg, out, callbacks=[SaveRankWeights()])
