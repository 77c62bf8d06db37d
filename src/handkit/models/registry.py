"""Whole models by name: `create_model(name, **options)` (the backbone registry's twin).

A registered builder returns a `models.posenet.PoseNet` (or any module with the same contract:
``image_size``, ``normalize``, ``preprocess``, ``forward(image, K)``, ``predict`` returning a
`models.prediction.Prediction`, and ``loss``). `ModelConfig` is how configs and checkpoints
name a model: ``create_model(cfg.name, backbone=cfg.backbone, image_size=cfg.image_size,
**cfg.options)``.

Adding a model = a new file with ``@register_model("mine") def mine(backbone, image_size): ...``
imported once (handkit's own are imported by ``handkit.models``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from handkit.utils.registry import Registry

__all__ = ["ModelConfig", "register_model", "create_model", "list_models", "build_model"]

_MODELS: Registry[nn.Module] = Registry("model", "list_models()")


@dataclass(frozen=True)
class ModelConfig:
    """Attributes:
        name: a `list_models()` name ("rn25d": RN_25D_wMLPref, "detnet": minimal-hand DetNet).
        backbone: a backbone registry name; official rn25d resnet50/resnet152, detnet resnet50.
        image_size: square input side in pixels (official rn25d 224, detnet 128).
        options: the model's own keyword options (rn25d: ``root`` "palm" | "wrist").
    """

    name: str = "rn25d"
    backbone: str = "resnet50"
    image_size: int = 224
    options: dict[str, Any] = field(default_factory=dict)


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``builder(backbone, image_size, **options) -> model`` as `name`.

    Raises:
        ValueError: `name` is already registered.
    """
    return _MODELS.register(name)


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted registered model names, optionally filtered by a shell pattern."""
    return _MODELS.names(pattern)


def create_model(name: str, **options: Any) -> nn.Module:
    """A randomly initialised registered model.

    Raises:
        ValueError: unknown name (with a did-you-mean) or an option the model does not take.
    """
    return _MODELS.build(name, **options)


def build_model(cfg: ModelConfig) -> nn.Module:
    """`create_model` from a `ModelConfig`."""
    if cfg.image_size < 32 or cfg.image_size % 32:
        raise ValueError(f"model.image_size: must be a multiple of 32 (>= 32), got "
                         f"{cfg.image_size}.")
    return create_model(cfg.name, backbone=cfg.backbone, image_size=cfg.image_size,
                        **cfg.options)
