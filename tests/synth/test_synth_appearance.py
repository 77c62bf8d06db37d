"""The appearance option: a shifted look distribution over the same poses and cameras."""

import json

import numpy as np
import pytest

from handkit.cli import main
from handkit.data.synth import appearance as app
from handkit.data.synth.runner import synthesize
from handkit.data.synth.scenes import freihand_scene


def _looks(name: str, n: int = 200) -> list[app.Look]:
    rng = np.random.default_rng(0)
    return [app.sample_look(rng, app.domain(name)) for _ in range(n)]


def test_shifted_skin_is_darker_and_light_dimmer():
    default, shifted = _looks("default"), _looks("shifted")
    # palette entry 3 is [0.66, 0.45, 0.32]; per-channel (<= 1.1) and overall (<= 1.1) gains
    # bound every shifted tone's green channel by 0.45 * 1.21
    assert max(look.skin[1] for look in shifted) <= 0.45 * 1.21 + 1e-6
    assert max(look.skin[1] for look in default) > 0.7  # default reaches the light tones
    # intensity <= 0.75, tint <= 1.45 (shifted); default intensity reaches above 0.9
    assert max(look.light_rgb.max() for look in shifted) <= 0.75 * 1.45 + 1e-6
    assert np.mean([look.ambient for look in shifted]) < np.mean([look.ambient for look in default])


def test_shifted_backgrounds_are_always_photographs(monkeypatch):
    # a constant "photograph": photo backgrounds are then flat per channel, procedural ones not
    monkeypatch.setattr(app, "_photo", lambda name: np.full((64, 64, 3), 100, np.uint8))
    rng = np.random.default_rng(1)
    spread = [app.sample_background(rng, 32, 32, app.domain("shifted")).std((0, 1)).max()
              for _ in range(30)]
    assert max(spread) < 1e-4  # float32 resize rounding
    spread = [app.sample_background(rng, 32, 32).std((0, 1)).max() for _ in range(30)]
    assert 5 <= sum(s > 1e-3 for s in spread) <= 25  # default: about half procedural


def test_appearance_changes_the_look_not_the_labels():
    a, b = freihand_scene(4, 3, 64), freihand_scene(4, 3, 64, appearance="shifted")
    assert np.array_equal(a.K, b.K)
    assert np.array_equal(a.hands[0].state.joints, b.hands[0].state.joints)
    assert np.array_equal(a.hands[0].uv, b.hands[0].uv)
    assert not np.array_equal(a.image, b.image)
    assert np.array_equal(b.image, freihand_scene(4, 3, 64, appearance="shifted").image)


def test_unknown_appearance_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="appearance: unknown value 'night'.*default.*shifted"):
        synthesize("freihand", tmp_path / "x", n=2, appearance="night", progress=False)
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="appearance: unknown value"):
        freihand_scene(0, 0, 48, appearance="Shifted")


def test_cli_flag_records_the_appearance(tmp_path):
    out = tmp_path / "s"
    assert main(["synth", "freihand", "--out", str(out), "--n", "2", "--size", "48",
                 "--appearance", "shifted", "--quiet"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["args"] == {"n": 2, "seed": 0, "size": 48, "appearance": "shifted"}
    with pytest.raises(ValueError, match="use another folder"):  # same folder, other look
        synthesize("freihand", out, n=2, size=48, progress=False)
