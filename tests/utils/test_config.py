import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from handkit.utils.config import config_to_dict, load_config, replace_config


@dataclass
class Optim:
    lr: float = 1e-4
    name: Literal["adam", "lars"] = "lars"


@dataclass
class Cfg:
    steps: int = 10
    data: Path | None = None
    optim: Optim = field(default_factory=Optim)
    sizes: list[int] = field(default_factory=lambda: [1, 2])


def test_yaml_then_overrides_merge_nested_sections(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 5\noptim:\n  name: adam\n")
    cfg = load_config(Cfg, path, ["optim.lr=0.5", "data=/x"])
    assert cfg == Cfg(steps=5, data=Path("/x"), optim=Optim(lr=0.5, name="adam"))
    assert load_config(Cfg, None, []) == Cfg()
    assert load_config(Cfg, None, [f"{k}={v}" for k, v in [("steps", 3)]]).steps == 3
    assert config_to_dict(cfg)["data"] == "/x"


def test_bad_configs_name_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['stepz'\]"):
        load_config(Cfg, None, ["stepz=1"])
    with pytest.raises(ValueError, match="optim.name: 'sgd' is not one of"):
        load_config(Cfg, None, ["optim.name=sgd"])
    with pytest.raises(ValueError, match="steps: expected int"):
        load_config(Cfg, None, ["steps=abc"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        load_config(Cfg, None, ["steps"])
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(Cfg, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1,\n")
    with pytest.raises(ValueError, match="malformed YAML"):
        load_config(Cfg, bad)


def test_typed_values_win_and_are_checked_without_a_text_round_trip():
    # "1e-3" as text would be a str to YAML 1.1; a typed value is used as it is
    cfg = load_config(Cfg, None, ["optim.lr=0.5", "steps=2"],
                      {"optim.lr": 1e-3, "data": Path("/d"), "sizes": (3, 4)})
    assert cfg == Cfg(steps=2, data=Path("/d"), optim=Optim(lr=1e-3), sizes=[3, 4])
    with pytest.raises(ValueError, match="optim.name: 'sgd' is not one of"):
        load_config(Cfg, None, [], {"optim.name": "sgd"})
    with pytest.raises(ValueError, match="steps: expected int"):
        load_config(Cfg, None, [], {"steps": 2.5})


@dataclass(frozen=True)
class Shaped:
    size: tuple[int, int] = (2, 3)
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if min(self.size) < 1:
            raise ValueError(f"size: expected positive, got {self.size}.")


@dataclass(frozen=True)
class Outer:
    shaped: Shaped = field(default_factory=Shaped)
    seed: int = 5


def test_fixed_tuples_mappings_and_dataclass_checks_are_enforced_and_located(tmp_path):
    with pytest.raises(ValueError, match=r"config.shaped.size: expected 2 items, got \[1, 2, 3\]"):
        load_config(Outer, None, ["shaped.size=[1,2,3]"])
    with pytest.raises(ValueError, match="shaped.options: expected a mapping, got 3"):
        load_config(Outer, None, ["shaped.options=3"])
    path = tmp_path / "o.yaml"
    path.write_text("shaped: {size: [0, 4]}\n")
    with pytest.raises(ValueError, match=r"o.yaml.shaped: size: expected positive"):
        load_config(Outer, path)


def test_replace_config_is_a_checked_copy_of_a_frozen_config():
    base = load_config(Outer, None, ["shaped.size=[4,5]"])
    new = replace_config(base, {"seed": 7, "shaped.options": {"a": 1}})
    assert new == Outer(Shaped((4, 5), {"a": 1}), 7) and base == Outer(Shaped((4, 5)), 5)
    with pytest.raises(ValueError, match="unknown key"):
        replace_config(base, {"shaped.sizes": (1, 1)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.seed = 1
