"""Read checkpoints without Lightning: a fine-tuned model from its file, packed files to ship.

Two file kinds, both read with ``torch.load(weights_only=True)`` (`read_checkpoint`):

- a `handkit finetune` Lightning checkpoint (``state_dict`` with ``net.`` keys, hyper-parameters
  ``{"config": FinetuneConfig as plain data}``);
- a *packed* checkpoint (`pack_checkpoint`): the same two entries without optimiser state,
  weights optionally stored as int8 with one float16 scale per output channel (symmetric,
  ``w ≈ q · scale``, |q| ≤ 127), which is how the shipped ResNet-18 model stays under 20 MB.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from handkit.models.registry import ModelConfig, build_model
from handkit.utils.check import check_choice
from handkit.utils.files import atomic_path

__all__ = ["read_checkpoint", "unsafe_load_reason", "load_model", "model_config", "pack_checkpoint",
           "shipped_checkpoint", "quantize_int8", "dequantize_int8", "unpack_state_dict",
           "SHIPPED_NAME"]

SHIPPED_NAME = "rn25d_r18_synth.pt"
"""File name of the shipped checkpoint in `handkit/assets/`."""
_Q_SUFFIX, _S_SUFFIX = "::int8", "::scale"
_QUANT = ("none", "fp16", "int8")


def unsafe_load_reason(err: BaseException) -> str:
    """The line of a failed `torch.load(weights_only=True)` that says why (a blocked global, a
    corrupt stream), without torch's advice to retry with `weights_only=False`."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if any(key in line for key in ("GLOBAL", "Unsupported", "unsupported", "truncated",
                                       "invalid", "EOF")) and "weights_only" not in line:
            return line[:200]
    useful = [line for line in lines if "weights_only" not in line and "PyTorch" not in line]
    return (useful[0] if useful else type(err).__name__)[:200]


def read_checkpoint(path: str | Path) -> tuple[dict, dict]:
    """Read a handkit (Lightning or packed) checkpoint safely: `(state_dict, hyper_parameters)`.

    handkit saves hyper-parameters as plain data, so `weights_only=True` always works; a file
    that needs arbitrary unpickling is refused rather than trusted.

    Raises:
        FileNotFoundError: no such file. ValueError: not readable safely, or no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not loadable safely"
        raise ValueError(f"{path}: not a checkpoint handkit can read safely "
                         f"({unsafe_load_reason(err)}); handkit never runs code from a "
                         "checkpoint.") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"{path}: no 'state_dict' entry; is this a Lightning checkpoint?")
    return ckpt["state_dict"], ckpt.get("hyper_parameters", {})


def model_config(data: dict, *, source: str = "config.model") -> ModelConfig:
    """A `ModelConfig` from plain data, accepting checkpoints written before ``options``
    (their rn25d ``root`` sat beside ``name``; detnet ignored it)."""
    data = dict(data)
    if "root" in data:  # handkit <= 0.1 layout
        root = data.pop("root")
        if data.get("name") == "rn25d":
            data["options"] = {**data.get("options", {}), "root": root}
    unknown = sorted(set(data) - {"name", "backbone", "image_size", "options"})
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {unknown}; expected name, backbone, "
                         "image_size, options.")
    return ModelConfig(**data)


def shipped_checkpoint() -> Path:
    """Path of the checkpoint shipped with handkit (trained on the synthetic world)."""
    path = Path(str(resources.files("handkit") / "assets" / SHIPPED_NAME))
    if not path.is_file():
        raise FileNotFoundError(f"the shipped checkpoint {path} is missing; reinstall handkit or "
                                "pass --ckpt.")
    return path


def quantize_int8(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-output-channel int8: returns (q int8 same shape, scale (C_out,) float16)."""
    flat = weight.detach().float().reshape(weight.shape[0], -1)
    scale = (flat.abs().amax(dim=1) / 127.0).clamp_min(1e-12).half()
    q = (flat / scale.float()[:, None]).round().clamp(-127, 127).to(torch.int8)
    return q.reshape(weight.shape), scale


def dequantize_int8(q: Tensor, scale: Tensor) -> Tensor:
    """Inverse of `quantize_int8` (up to rounding): float32 of q's shape."""
    return q.float() * scale.float().reshape(-1, *([1] * (q.dim() - 1)))


def unpack_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A `pack_checkpoint` state dict (``key::int8`` + ``key::scale`` pairs, fp16 or float32
    tensors) → plain float32 tensors under the original keys; other dicts pass unchanged
    (floating tensors become float32)."""
    out = {}
    for key, value in state.items():
        if key.endswith(_S_SUFFIX):
            continue
        if key.endswith(_Q_SUFFIX):
            base = key[: -len(_Q_SUFFIX)]
            out[base] = dequantize_int8(value, state[base + _S_SUFFIX])
        else:
            out[key] = value.float() if value.is_floating_point() else value
    return out


def load_model(path: str | Path | None = None) -> tuple[nn.Module, dict]:
    """A registered model in eval mode from a finetune or packed checkpoint (None: the shipped
    one).

    Returns:
        (net, config) where config is the experiment config as plain data.

    Raises:
        FileNotFoundError: no such file. ValueError: not a handkit fine-tuning checkpoint.
    """
    path = shipped_checkpoint() if path is None else Path(path)
    state, hparams = read_checkpoint(path)
    config = hparams.get("config") if isinstance(hparams, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise ValueError(f"{path}: hyper_parameters.config.model missing; is this a "
                         "`handkit finetune` checkpoint? (pre-training checkpoints hold an "
                         "encoder only: pass them to `handkit finetune --init`.)")
    mcfg = model_config(config["model"], source=f"{path}: config.model")
    net = build_model(mcfg)
    state = {k[len("net."):]: v for k, v in unpack_state_dict(state).items() if k.startswith("net.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit a {mcfg.name}/{mcfg.backbone} model "
                         f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]}).")
    return net.eval(), config


def pack_checkpoint(src: str | Path, dst: str | Path,
                    quantize: Literal["none", "fp16", "int8"] = "int8") -> Path:
    """Write `src` (a finetune checkpoint) as a small file `load_model` reads.

    Args:
        quantize: "none" (float32), "fp16", or "int8" (tensors with ≥ 2 dims: int8 + a float16
            scale per output channel; 1-D tensors such as BatchNorm stay float32).
    """
    check_choice(quantize, _QUANT, name="quantize")
    state, hparams = read_checkpoint(src)
    load_model(src)  # refuse anything that does not load as a model
    packed: dict[str, Tensor] = {}
    for key, value in state.items():
        if not key.startswith("net."):
            continue
        if not value.is_floating_point() or quantize == "none":
            packed[key] = value
        elif quantize == "int8" and value.dim() >= 2:
            packed[key + _Q_SUFFIX], packed[key + _S_SUFFIX] = quantize_int8(value)
        elif quantize == "fp16" and value.dim() >= 2:
            packed[key] = value.half()
        else:
            packed[key] = value.float()
    dst = Path(dst)
    with atomic_path(dst) as tmp:
        torch.save({"state_dict": packed, "hyper_parameters": {
            "config": hparams["config"], "packed_from": Path(src).name, "quantize": quantize}},
            tmp)
    return dst
