"""Fixtures of the fuzz suite: tiny valid synthetic datasets built once per session (each case
mutates its own copy), and the canary that no malicious pickle may ever create."""

from __future__ import annotations

import json
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
    """A Hand100M-layout folder of 6 frames of 128 px (the layout's smallest size), spread over
    3 videos so that mining finds positives in other videos (synth puts 6 frames in one)."""
    root = _synth(tmp_path_factory.mktemp("fuzz_base"), "hand100m", 6, 128)
    (path,) = root.glob("annotations/*/*.json")
    doc = json.loads(path.read_text())
    for image in doc["images"]:
        image["video_id"] = f"synth{image['id'] % 3:06d}"
    path.write_text(json.dumps(doc))
    return root


@pytest.fixture
def canary(tmp_path) -> Path:
    """A path a malicious pickle or YAML tag would create; checked absent after the test."""
    path = tmp_path / "CANARY_pickle_ran"
    yield path
    assert not path.exists(), "a malicious pickle ran code"
