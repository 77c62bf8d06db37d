"""Dataset formats: one module per dataset's real on-disk layout, one registry to open them.

>>> ds = open_dataset("freihand", "/data/FreiHAND_pub_v2", "training")
>>> sample = ds[0]            # a validated handkit.data.schema.Sample
>>> list_formats()
['assemblyhands', 'dexycb', 'freihand', 'hand100m', 'ho3d', 'interhand', 'multihand', 'youtube3d']

Modules are imported lazily, on first use. A format module provides a class whose ``name``
attribute equals the format name (a `FormatDataset` subclass, constructor
``(root, split, **options)``); `register_format` adds one at run time.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any, Callable

from handkit.data.formats._base import (BadSample, FormatDataset, SkipBadSamples, SkipReport,
                                        collate_skip_bad)
from handkit.utils.check import check_choice

__all__ = ["open_dataset", "list_formats", "format_options", "register_format", "detect_format", "FormatDataset", "SkipBadSamples",
           "BadSample", "SkipReport", "collate_skip_bad"]

_MODULES: dict[str, str] = {
    "freihand": "handkit.data.formats.freihand",
    "youtube3d": "handkit.data.formats.youtube3d",
    "dexycb": "handkit.data.formats.dexycb",
    "assemblyhands": "handkit.data.formats.assemblyhands",
    "interhand": "handkit.data.formats.interhand",
    "ho3d": "handkit.data.formats.ho3d",
    "multihand": "handkit.data.formats.multihand",
}


def _hand100m(root: str | Path, split: str, *, source: str = "Ego4D", **options: Any):
    """Hand100M (the mining engineer's `Hand100MDataset`): `split` is the file's {scale} part,
    ``<root>/annotations/<source>/Hand100M_<source>_<split>_v1-1.json`` (specs/pretrain.md §2.2);
    `root` may also be the JSON file itself."""
    from handkit.data.formats.hand100m import Hand100MDataset

    path = Path(root)
    if path.is_dir():
        path = path / "annotations" / source / f"Hand100M_{source}_{split}_v1-1.json"
    return Hand100MDataset(path, **options)


_FACTORIES: dict[str, Callable[..., Any]] = {"hand100m": _hand100m}


def register_format(name: str, factory: Callable[..., Any]) -> None:
    """Register `factory(root, split, **options)` under `name`; a duplicate name is an error."""
    if name in _FACTORIES or name in _MODULES:
        raise ValueError(f"format {name!r} is already registered; pick another name.")
    _FACTORIES[name] = factory


def list_formats() -> list[str]:
    """Every format name `open_dataset` accepts, sorted."""
    return sorted(set(_MODULES) | set(_FACTORIES))


def format_options(name: str) -> tuple[str, ...]:
    """The keyword options `open_dataset(name, ...)` accepts (e.g. FreiHAND's ``vertices``)."""
    check_choice(name, list_formats(), name="format")
    params = inspect.signature(_factory(name)).parameters.values()
    return tuple(p.name for p in params if p.kind == p.KEYWORD_ONLY)


def _factory(name: str) -> Callable[..., Any]:
    if name in _FACTORIES:
        return _FACTORIES[name]
    try:
        module = importlib.import_module(_MODULES[name])
    except ModuleNotFoundError as err:
        raise ValueError(f"format {name!r}: its module {_MODULES[name]} is not available "
                         f"({err}).") from None
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "name", None) == name:
            _FACTORIES[name] = value
            return value
    raise ValueError(f"format {name!r}: {_MODULES[name]} defines no class with name = {name!r}.")


def open_dataset(name: str, root: str | Path, split: str, **options: Any):
    """Open dataset `name` at `root` for `split`.

    Args:
        name: one of `list_formats()`.
        root: the dataset's root directory, as released (see docs/data.md for each layout).
        split: the format's split name (e.g. FreiHAND ``training``/``evaluation``,
            InterHand2.6M ``train``/``val``/``test``).
        options: format-specific keyword options, documented by each format's class.

    Returns:
        A map-style Dataset of validated `Sample`s.
    """
    check_choice(name, list_formats(), name="format")
    factory = _factory(name)
    params = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = sorted(k for k, p in params.items() if p.kind is p.KEYWORD_ONLY
                          or (p.kind is p.POSITIONAL_OR_KEYWORD and k not in ("root", "split")))
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"format {name!r}: unknown option(s) {unknown}; it takes "
                             f"{accepted or 'none'}.")
    return factory(root, split, **options)


def detect_format(path: str | Path) -> str:
    """The format of a dataset folder (or Hand100M annotation file), from its layout.

    Hand100M: a ``.json`` file or a folder with ``annotations/*/Hand100M_*_v1-1.json``;
    FreiHAND: ``training/rgb`` or ``evaluation/rgb``; InterHand2.6M:
    ``annotations/*/InterHand2.6M_*_data.json``; DexYCB: ``calibration/``; AssemblyHands:
    ``annotations/`` and ``images/``; multihand (handkit's synthetic): ``annotations.json`` and
    ``masks/``; HO3D: ``train.txt`` or ``evaluation.txt`` beside ``train/*/meta`` or
    ``evaluation/*/meta``.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: no known layout (the message lists what was looked for).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data: {path} does not exist.")
    if path.is_file():
        if path.suffix == ".json":
            return "hand100m"
        raise ValueError(f"data: {path} is a file; expected a dataset folder or a Hand100M JSON.")
    checks = [
        ("hand100m", lambda: any(path.glob("annotations/*/Hand100M_*_v1-1.json"))),
        ("freihand", lambda: (path / "training" / "rgb").is_dir()
         or (path / "evaluation" / "rgb").is_dir()),
        ("interhand", lambda: any(path.glob("annotations/*/InterHand2.6M_*_data.json"))),
        ("dexycb", lambda: (path / "calibration").is_dir()),
        ("assemblyhands", lambda: (path / "annotations").is_dir() and (path / "images").is_dir()),
        ("multihand", lambda: (path / "annotations.json").is_file() and (path / "masks").is_dir()),
        ("ho3d", lambda: ((path / "train.txt").is_file() or (path / "evaluation.txt").is_file())
         and (any(path.glob("train/*/meta")) or any(path.glob("evaluation/*/meta")))),
    ]
    for name, present in checks:
        if present():
            return name
    raise ValueError(f"data: cannot tell the layout of {path} (looked for Hand100M "
                     "annotations/*/Hand100M_*.json, FreiHAND training/rgb, InterHand2.6M "
                     "annotations/*/InterHand2.6M_*_data.json, DexYCB calibration/, AssemblyHands "
                     "annotations/+images/, multihand annotations.json+masks/, HO3D evaluation.txt+"
                     "evaluation/*/meta); pass the format explicitly.")
