from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from handkit.utils.config import config_to_dict, load_config


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
