"""Typed experiment configs: a dataclass, a YAML file of overrides, `--set key=value` on top.

A config file may only name fields that exist (a typo is an error listing the valid names), and
values are converted to the field's declared type, so YAML and CLI spell the same thing.
Configs ship inside the package (``handkit/configs/<method>/<name>.yaml``); `config_path`
accepts a file path or such a packaged name.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = ["load_config", "replace_config", "config_to_dict", "apply_overrides", "config_path",
           "packaged_configs"]

T = TypeVar("T")


def _convert(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, where)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0])
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{where}: {value!r} is not one of {sorted(map(str, args))}.")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}.")
        fixed = origin is tuple and args and Ellipsis not in args  # tuple[int, int]: 2 items
        if fixed and len(value) != len(args):
            raise ValueError(f"{where}: expected {len(args)} items, got {value!r}.")
        inner = args if fixed else [args[0] if args else Any] * len(value)
        items = [_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, inner))]
        return items if origin is list else tuple(items)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}.")
        return dict(value)
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}.")
        return _build(annotation, value, where)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes"):
            return True
        if str(value).lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"{where}: expected true/false, got {value!r}.")
    if annotation in (int, float, str, Path):
        try:
            if annotation is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return annotation(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected {annotation.__name__}, got {value!r}.") from None
    return value


def _build(cls: type[T], data: dict, where: str) -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(names)}.")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ValueError as err:  # a dataclass's own check (__post_init__): say where
        raise ValueError(f"{where}: {err}") from None


def _parse_scalar(text: str) -> Any:
    return yaml.safe_load(text) if text != "" else ""


def _set_dotted(data: dict, key: str, value: Any, where: str) -> None:
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"{where}: {part!r} is not a section.")
    node[parts[-1]] = value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b=value` strings (value parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. optim.lr=1e-4.")
        key, text = item.split("=", 1)
        _set_dotted(data, key, _parse_scalar(text), f"--set {item!r}")
    return data


def _configs_root() -> Path:
    return Path(str(importlib.resources.files("handkit") / "configs"))


def packaged_configs(method: str | None = None) -> list[str]:
    """Names of the packaged configs (``"finetune/cpu_rn25d"``), optionally of one method."""
    root = _configs_root()
    files = sorted((root / method if method else root).glob("**/*.yaml"))
    return [f.relative_to(root).with_suffix("").as_posix() for f in files]


def config_path(ref: str | Path, method: str | None = None) -> Path:
    """The YAML file `ref` names: an existing file, else a packaged config.

    A packaged config is named ``<method>/<name>`` (``"finetune/cpu_rn25d"``; ``.yaml``
    optional), or just ``<name>`` when `method` says which folder.

    Raises:
        FileNotFoundError: neither a file nor a packaged config (lists the packaged ones).
    """
    path = Path(ref)
    if path.is_file():
        return path
    root = _configs_root()
    stem = str(ref)[:-len(".yaml")] if str(ref).endswith(".yaml") else str(ref)
    for candidate in ([f"{method}/{stem}"] if method else []) + [stem]:
        packaged = root / f"{candidate}.yaml"
        if packaged.is_file():
            return packaged
    raise FileNotFoundError(f"config file not found: {ref} (no such file, and not a packaged "
                            f"config: {packaged_configs(method)})")


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] = (),
                values: dict[str, Any] | None = None) -> T:
    """Build dataclass `cls` from its defaults, a YAML file, `key=value` overrides, then typed
    `values` (``{"data.label_fraction": 0.1}``: already typed, e.g. by argparse; never turned
    into text and parsed again). Later sources win; every value is checked against its field.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: malformed YAML, unknown keys or wrongly typed values (message names the key).
    """
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: malformed YAML ({err}).") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level.")
    data = apply_overrides(data, list(overrides))
    for key, value in (values or {}).items():
        _set_dotted(data, key, value, key)
    # Merge nested defaults: a YAML section names only the keys it changes.
    defaults = config_to_dict(cls())
    merged = _merge(defaults, data)
    return _build(cls, merged, str(path) if path else "config")


def replace_config(config: T, values: dict[str, Any]) -> T:
    """A validated copy of `config` with dotted keys replaced (``{"model.image_size": 32}``).

    Configs are frozen: this is how code and tests derive one config from another; the values
    are checked exactly as `load_config` checks them.
    """
    data = config_to_dict(config)
    for key, value in values.items():
        _set_dotted(data, key, value, key)
    return _build(type(config), data, "config")


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(
            base.get(key), dict) else value
    return out


def config_to_dict(config: Any) -> dict:
    """A dataclass config as plain YAML-able data (Paths become strings)."""
    def plain(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(dataclasses.asdict(config))
