"""Fixtures of the fuzz suite: tiny valid synthetic datasets built once per session (each case
mutates its own copy), and the canary that no malicious pickle may ever create."""

from __future__ import annotations

from pathlib import Path

import pytest

from handkit.cli import main


def _synth(root: Path, layout: str, n: int, size: int) -> Path:
    out = root / layout
    assert main(["synth", layout, "--out", str(out), "--n", str(n), "--size", str(size),
                 "--quiet"]) == 0
    return out


@pytest.fixture(scope="session")
def freihand_base(tmp_path_factory) -> Path:
    """A FreiHAND-layout folder of 2 labelled 64 px training samples (read-only by convention)."""
    return _synth(tmp_path_factory.mktemp("fuzz_base"), "freihand", 2, 64)


@pytest.fixture(scope="session")
def hand100m_base(tmp_path_factory) -> Path:
    """A Hand100M-layout folder of 6 frames of 128 px (the layout's smallest size)."""
    return _synth(tmp_path_factory.mktemp("fuzz_base"), "hand100m", 6, 128)


@pytest.fixture
def canary(tmp_path) -> Path:
    """A path a malicious pickle or YAML tag would create; checked absent after the test."""
    path = tmp_path / "CANARY_pickle_ran"
    yield path
    assert not path.exists(), "a malicious pickle ran code"
