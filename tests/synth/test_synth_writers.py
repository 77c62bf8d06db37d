import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from handkit.cli import main
from handkit.data.synth.runner import synthesize
from handkit.data.synth.writers import WRITERS


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def freihand_one(tmp_path_factory):
    out = tmp_path_factory.mktemp("fh1")
    synthesize("freihand", out, n=40, seed=11, size=48, workers=1, progress=False)
    return out


def test_byte_identical_for_one_and_two_workers(freihand_one, tmp_path):
    synthesize("freihand", tmp_path, n=40, seed=11, size=48, workers=2, progress=False)
    assert _files(freihand_one) == _files(tmp_path)


def test_freihand_layout(freihand_one):
    out = freihand_one
    assert len(list((out / "training/rgb").glob("*.jpg"))) == 35  # n // 8 go to evaluation
    assert len(list((out / "training/mask").glob("*.jpg"))) == 35
    assert sorted(p.name for p in (out / "evaluation/rgb").iterdir()) == [f"{i:08d}.jpg" for i in range(5)]
    for split, count in (("training", 35), ("evaluation", 5)):
        xyz = np.array(json.loads((out / f"{split}_xyz.json").read_text()))
        K = np.array(json.loads((out / f"{split}_K.json").read_text()))
        scale = np.array(json.loads((out / f"{split}_scale.json").read_text()))
        verts = json.loads((out / f"{split}_verts.json").read_text())
        assert xyz.shape == (count, 21, 3) and K.shape == (count, 3, 3) and scale.shape == (count,)
        assert len(verts) == count and np.array(verts[0]).shape[1] == 3
        assert np.allclose(scale, np.linalg.norm(xyz[:, 9] - xyz[:, 10], axis=1), atol=2e-6)
        centre = xyz.mean(1)[:, 2]  # meters, hands 0.3-1.2 m in front of the camera
        assert np.all((centre > 0.25) & (centre < 1.3)) and np.all(xyz[..., 2] > 0.1)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["args"] == {"n": 40, "seed": 11, "size": 48} and meta["complete"]


def test_resume_keeps_existing_files(freihand_one, tmp_path, monkeypatch):
    make = WRITERS["freihand"].make

    def interrupted(out, seed, index, size, n, appearance="default"):
        if index == 33:
            raise KeyboardInterrupt
        return make(out, seed, index, size, n, appearance)

    monkeypatch.setattr(WRITERS["freihand"], "make", staticmethod(interrupted))
    with pytest.raises(KeyboardInterrupt):
        synthesize("freihand", tmp_path, n=40, seed=11, size=48, progress=False)
    first = tmp_path / "training/rgb/00000000.jpg"
    stamp = first.stat().st_mtime_ns
    assert not (tmp_path / "training_xyz.json").exists()
    monkeypatch.setattr(WRITERS["freihand"], "make", staticmethod(make))
    synthesize("freihand", tmp_path, n=40, seed=11, size=48, progress=False)
    assert first.stat().st_mtime_ns == stamp  # the finished chunk was not redone
    assert _files(freihand_one) == _files(tmp_path)


def test_preview_contact_sheet(freihand_one, tmp_path):
    sheet = tmp_path / "grid.png"
    synthesize("freihand", freihand_one, n=40, seed=11, size=48, preview=sheet, progress=False)
    assert sheet.stat().st_size > 1000


@pytest.mark.parametrize("kwargs, message", [
    (dict(fmt="coco", n=3), "format: unknown value 'coco'"),
    (dict(fmt="freihand", n=0), "n: expected a positive number"),
    (dict(fmt="freihand", n=-2), "n: expected a positive number"),
    (dict(fmt="freihand", n=3, workers=0), "workers: expected"),
    (dict(fmt="freihand", n=3, size=8), "size: freihand images must be"),
])
def test_bad_requests_fail_before_any_work(tmp_path, kwargs, message):
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=message):
        synthesize(kwargs.pop("fmt"), out, progress=False, **kwargs)
    assert not out.exists()


def test_unwritable_or_mismatched_output(tmp_path, freihand_one):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="out: cannot write to"):
        synthesize("freihand", blocker / "sub", n=2, progress=False)
    with pytest.raises(ValueError, match="is not a folder"):
        synthesize("freihand", blocker, n=2, progress=False)
    with pytest.raises(ValueError, match="use another folder"):
        synthesize("freihand", freihand_one, n=41, seed=11, size=48, progress=False)


def test_cli_reports_bad_request(tmp_path, capsys):
    assert main(["synth", "coco", "--out", str(tmp_path / "x"), "--n", "3"]) == 2
    assert "format: unknown value 'coco'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # refused by argparse, before the library
        main(["synth", "freihand", "--out", str(tmp_path / "y"), "--n", "0"])
    assert exit_.value.code == 2 and "argument --n: must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()


def test_cli_lists_every_writer():
    from handkit.commands.synth import FORMATS

    assert sorted(FORMATS) == sorted(WRITERS)


def test_freihand_vertices_are_the_open_hand_in_the_camera_frame(freihand_one):
    """training_verts.json / evaluation_verts.json: one (1214, 3) OpenHand mesh per label, meters,
    camera frame, in training_xyz.json's order: each label's tip keypoints are mesh vertices
    (the finger tubes' apexes) and the mesh is the scene's own."""
    from handkit.data.formats.freihand import FreiHAND
    from handkit.data.synth.scenes import freihand_scene, hand_model

    v_model = hand_model().faces.max().item() + 1
    for split, offset in (("training", 0), ("evaluation", 35)):
        ds = FreiHAND(freihand_one, split, vertices=True)
        for k in (0, len(ds) - 1):
            s = ds[k]
            assert s.vertices.shape == (1, v_model, 3) and s.vertices.dtype == np.float32
            scene = freihand_scene(11, offset + k, 48)
            # Written with 5 decimals (<= 5e-6 m per coordinate), float32 on reading.
            np.testing.assert_allclose(s.vertices[0], scene.hands[0].state.vertices, atol=6e-6)
            tips = s.keypoints_3d[0, [4, 8, 12, 16, 20]]
            gap = np.linalg.norm(tips[:, None] - s.vertices[0][None], axis=-1).min(1)
            assert gap.max() < 2e-5  # xyz 6 decimals + verts 5 decimals, x sqrt(3)


def test_a_folder_of_user_files_is_refused_untouched(tmp_path):
    (tmp_path / "training/rgb").mkdir(parents=True)
    (tmp_path / "training/rgb/00000000.jpg").write_bytes(b"the user's photo")
    (tmp_path / "training_xyz.json").write_text("[]")
    before = _files(tmp_path)
    with pytest.raises(FileExistsError, match="did not write"):
        synthesize("freihand", tmp_path, n=2, size=48, progress=False)
    (tmp_path / "meta.json").write_text(json.dumps({"format": "freihand"}))  # not handkit's
    with pytest.raises(FileExistsError, match="not written by handkit synth"):
        synthesize("freihand", tmp_path, n=2, size=48, progress=False)
    assert _files(tmp_path) == {**before, "meta.json": b'{"format": "freihand"}'}


def test_a_killed_writers_temp_is_removed_on_rerun(freihand_one, tmp_path):
    synthesize("freihand", tmp_path, n=40, seed=11, size=48, progress=False)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / "training" / f".00000001.jpg.{gone}.0123abcd.tmp"
    stale.write_bytes(b"half")
    synthesize("freihand", tmp_path, n=40, seed=11, size=48, progress=False)
    assert not stale.exists() and _files(tmp_path) == _files(freihand_one)
