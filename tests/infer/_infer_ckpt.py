"""A tiny random fine-tuning checkpoint, written like `handkit finetune` writes one."""

from __future__ import annotations

from pathlib import Path

import torch

from handkit.tasks.finetune import FinetuneConfig
from handkit.models.registry import ModelConfig, build_model
from handkit.utils.config import config_to_dict


def tiny_checkpoint(path: Path, name: str = "rn25d", size: int = 32) -> Path:
    torch.manual_seed(0)
    cfg = FinetuneConfig(model=ModelConfig(name=name, backbone="resnet18", image_size=size))
    net = build_model(cfg.model)
    # give BatchNorm non-trivial statistics so eval mode is a real test
    with torch.no_grad():
        net.train()(torch.randn(4, 3, size, size), torch.eye(3).expand(4, 3, 3) * 50
                    + torch.tensor([[0, 0, size / 2], [0, 0, size / 2], [0, 0, -49]]))
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"config": config_to_dict(cfg)},
                "epoch": 0, "global_step": 0}, path)
    return path


def digit_checkpoint(path: Path, model=None) -> Path:
    """A small random DIGIT (stem4, 64 px) saved as a handkit checkpoint (or `model`, built so)."""
    from handkit.models.registry import create_model

    model = model or create_model("digit", backbone="stem4", image_size=64, size="small")
    config = {"model": {"name": "digit", "backbone": "stem4", "image_size": 64,
                        "options": {"size": "small"}}}
    torch.save({"state_dict": {f"net.{k}": v for k, v in model.state_dict().items()},
                "hyper_parameters": {"config": config}}, path)
    return path
