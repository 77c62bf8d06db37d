"""Reading, converting and writing encoder weights (specs/pretrain.md §5).

Formats handled:

- **torchvision** ResNet state dict (``conv1.*``, ``bn1.*``, ``layer1``…``layer4``, maybe ``fc.*``),
  at the file's top level (SiMHand's ``resnet50_simhand.pth``) or under ``["state_dict"]``
  (PeCLR's ``peclr_rn{50,152}_yt3dh_fh.pth``). This is handkit's ResNet naming too
  (`models.backbones.ResNetBackbone` keeps torchvision's child names).
- **PeCLR/SiMHand Lightning** pre-training checkpoints: ``["state_dict"]`` with
  ``encoder.features.N.*`` (the ResNet re-wrapped as a Sequential), plus ``encoder.final_layer.*``
  and ``projection_head.*`` which are dropped. `peclr_to_torchvision` is the prefix rewrite of
  spec §5 (318 tensors for ResNet-50, 930 for ResNet-152); `torchvision_to_peclr` inverts it.
- **Any checkpoint holding the backbone under a prefix** (a handkit Lightning checkpoint, a
  released RN_25D_wMLPref file with ``backend_model.*``): `load_weights` finds the prefix.

Files are read with ``torch.load(map_location="cpu", weights_only=True)``: nothing is unpickled.
Every error names the file and, where there is one, the key.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn


__all__ = [
    "PECLR_FEATURE_INDEX",
    "LoadReport",
    "read_state_dict",
    "peclr_to_torchvision",
    "torchvision_to_peclr",
    "load_weights",
]

PECLR_FEATURE_INDEX: dict[str, int] = {
    "conv1": 0, "bn1": 1, "layer1": 4, "layer2": 5, "layer3": 6, "layer4": 7,
}
"""torchvision child → index in PeCLR's ``encoder.features`` Sequential (2 relu, 3 maxpool and
8 avgpool hold no tensors)."""

_PECLR_PREFIX = "encoder.features."
_FEATURES_RE = re.compile(r"^((?:.*\.)?encoder\.)features\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class LoadReport:
    """What `load_weights` did.

    Attributes:
        source: the file (or ``"<state dict>"``).
        layout: ``"peclr"`` (``encoder.features.N``), ``"packed"`` (a ``handkit export --pack``
            file such as the shipped ``rn25d_r18_synth.pt``: int8 weights dequantised first) or
            ``"plain"`` (module names, maybe prefixed).
        file_prefix: prefix stripped from the file's keys (``"backend_model."``, ``""``).
        loaded: number of tensors copied.
        ignored: file keys dropped on purpose (the module's `ignored_weight_keys`, e.g. ``fc.*``).
        unexpected: file keys under the prefix that the module does not have (a warning).
        outside: number of file keys outside the prefix (other parts of a full checkpoint).
    """

    source: str
    layout: str
    file_prefix: str
    loaded: int
    ignored: tuple[str, ...]
    unexpected: tuple[str, ...]
    outside: int


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict from a local file, under ``["state_dict"]``/``["model"]`` or at top level.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a torch file, needs unsafe unpickling, or holds no tensor
            dict; the message names the file (and the offending entry).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights: no such file: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: cannot be read as a weights-only torch file ({first}). "
                         "handkit never unpickles arbitrary objects; re-save the state dict "
                         "alone with torch.save(model.state_dict(), path).") from None
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError(f"{path}: expected a state dict (top level or under 'state_dict'), "
                         f"got {type(obj).__name__}.")
    bad = [k for k, v in obj.items() if not isinstance(v, Tensor)]
    if bad:
        keys = sorted(str(k) for k in obj)[:8]
        raise ValueError(f"{path}: entry {bad[0]!r} is not a tensor; top-level keys: {keys}.")
    return dict(obj)


def _rename_features(state_dict: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """``<p>encoder.features.N.rest`` → ``<p>encoder.{conv1,bn1,layer1..4}.rest`` (PeCLR/SiMHand
    pre-training and minimal-hand DetNet both name the wrapped ResNet ``encoder.features``); all
    other keys are kept as they are."""
    names = {i: n for n, i in PECLR_FEATURE_INDEX.items()}
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        match = _FEATURES_RE.match(key)
        if match is None:
            out[key] = value
            continue
        index = int(match.group(2))
        if index not in names:
            raise ValueError(f"{source}: key {key!r}: features.{index} has no tensors in a "
                             f"ResNet (expected indices {sorted(names)}).")
        out[f"{match.group(1)}{names[index]}.{match.group(3)}"] = value
    return out


def peclr_to_torchvision(state_dict: Mapping[str, Tensor], *, source: str = "<state dict>"
                         ) -> dict[str, Tensor]:
    """PeCLR/SiMHand Lightning keys → torchvision ResNet keys (specs/pretrain.md §5).

    ``encoder.features.{0,1,4,5,6,7}.rest`` → ``{conv1,bn1,layer1,…,layer4}.rest``, in file order;
    every other key (``encoder.final_layer.*``, ``projection_head.*``) is dropped.

    Raises:
        ValueError: a ``features`` index that holds no tensors in a ResNet (naming the key), or no
            ``encoder.features.*`` key at all.
    """
    feats = {k: v for k, v in state_dict.items() if k.startswith(_PECLR_PREFIX)}
    if not feats:
        raise ValueError(f"{source}: no '{_PECLR_PREFIX}*' keys; not a PeCLR/SiMHand checkpoint.")
    return {k[len("encoder."):]: v for k, v in _rename_features(feats, source).items()}


def torchvision_to_peclr(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of `peclr_to_torchvision`: torchvision keys → ``encoder.features.N.*``.

    ``fc.*`` has no place in PeCLR's encoder and is dropped; any other unknown key is a ValueError.
    """
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        head, _, rest = key.partition(".")
        if head == "fc":
            continue
        if head not in PECLR_FEATURE_INDEX:
            raise ValueError(f"state_dict: key {key!r} is not part of a torchvision ResNet "
                             f"encoder (expected {sorted(PECLR_FEATURE_INDEX)} or fc).")
        out[f"{_PECLR_PREFIX}{PECLR_FEATURE_INDEX[head]}.{rest}"] = value
    return out


def _find_prefixes(model_keys: list[str], file_keys: set[str]) -> tuple[str, str, int]:
    """(file_prefix, model_prefix, matches): the key rewrite ``file_prefix + k ↔ model_prefix + k``
    that matches the most model keys, anchored on the model's first key."""
    anchor = model_keys[0]
    parts = anchor.split(".")
    best = ("", "", 0)
    for cut in range(len(parts)):
        model_prefix = ".".join(parts[:cut]) + ("." if cut else "")
        rest = anchor[len(model_prefix):]
        for key in file_keys:
            if key != rest and not key.endswith("." + rest):
                continue
            file_prefix = key[: len(key) - len(rest)]
            hits = sum(1 for k in model_keys if k.startswith(model_prefix)
                       and file_prefix + k[len(model_prefix):] in file_keys)
            if hits > best[2]:
                best = (file_prefix, model_prefix, hits)
    return best


def load_weights(module: nn.Module, weights: str | Path | Mapping[str, Tensor], *,
                 skip: tuple[str, ...] | None = None) -> LoadReport:
    """Load a local weights file (or state dict) into `module`, finding the key layout.

    A packed handkit checkpoint (``key::int8`` + ``key::scale``) is dequantised first.
    ``features.N`` keys (PeCLR/SiMHand Lightning files, minimal-hand DetNet checkpoints) are
    renamed to torchvision's child names as in `peclr_to_torchvision`, other keys kept. Then the
    prefix that
    maps the file's keys onto the module's is found (``backend_model.`` of an RN_25D_wMLPref file,
    ``encoder.`` of a handkit checkpoint, timm's bare names onto ``net.``).

    Missing ``num_batches_tracked`` buffers (older torchvision files) keep the module's value;
    any other missing tensor is an error, because a half-initialised encoder is almost always a
    mistake. Unexpected keys under the prefix are a warning.

    Args:
        module: any ``nn.Module`` (a `Backbone`, a whole model).
        weights: a file path or an in-memory state dict.
        skip: key prefixes, in the module's naming relative to its prefix, that are neither loaded
            nor required (``("fc.",)`` to initialise an encoder whose fc is task-specific).
            Default: the module's ``ignored_weight_keys()`` if it has one (torchvision's ``fc.``
            for a ResNet built without fc, timm's ImageNet head for HRNet).

    Returns:
        A `LoadReport`.

    Raises:
        FileNotFoundError: missing file.
        ValueError: no key matches, a tensor is missing or has the wrong shape; the message names
            the file and the key.
    """
    source = str(weights) if isinstance(weights, (str, Path)) else "<state dict>"
    state = read_state_dict(weights) if isinstance(weights, (str, Path)) else dict(weights)
    layout = "plain"
    if any(k.endswith("::int8") for k in state):  # a `handkit export --pack` file (the shipped one)
        from handkit.models.checkpoint import unpack_state_dict  # local: checkpoint → registry

        state, layout = unpack_state_dict(state), "packed"
    if any(_FEATURES_RE.match(k) for k in state):
        state, layout = _rename_features(state, source), "peclr"
    if skip is None:
        skip = tuple(getattr(module, "ignored_weight_keys", lambda: ())())
    skip = tuple(skip)
    target = module.state_dict()
    model_keys = list(target)
    file_prefix, model_prefix, hits = _find_prefixes(model_keys, set(state))
    if hits == 0:
        raise ValueError(f"{source}: no key matches the module ({type(module).__name__}: first "
                         f"keys {model_keys[:3]}; file: {list(state)[:3]}). Wrong architecture?")
    mapped: dict[str, Tensor] = {}
    ignored, unexpected, outside = [], [], 0
    for key, value in state.items():
        if not key.startswith(file_prefix):
            outside += 1
            continue
        rel = key[len(file_prefix):]
        if rel.startswith(skip):
            ignored.append(key)
        elif model_prefix + rel in target:
            mapped[model_prefix + rel] = value
        else:
            unexpected.append(key)
    for key, value in mapped.items():
        if value.shape != target[key].shape:
            rel = file_prefix + key[len(model_prefix):]
            raise ValueError(f"{source}: key {rel!r} has shape {tuple(value.shape)}, the module "
                             f"expects {tuple(target[key].shape)} ({key!r}). Wrong depth/width?")
    missing = [k for k in model_keys if k not in mapped
               and not k.endswith("num_batches_tracked")
               and not (k.startswith(model_prefix) and k[len(model_prefix):].startswith(skip))]
    if missing:
        raise ValueError(f"{source}: {len(missing)} tensor(s) of the module are not in the file, "
                         f"e.g. {missing[:4]} (file prefix {file_prefix!r}). Wrong architecture, "
                         "or a file holding only part of the model?")
    if unexpected:
        warnings.warn(f"{source}: {len(unexpected)} key(s) not used by "
                      f"{type(module).__name__}, e.g. {unexpected[:4]}.", stacklevel=2)
    module.load_state_dict({**target, **mapped}, strict=True)
    return LoadReport(source=source, layout=layout, file_prefix=file_prefix, loaded=len(mapped),
                      ignored=tuple(ignored), unexpected=tuple(unexpected), outside=outside)
