"""Atomic writes: complete or untouched, normal modes, per-process temps, stale temps removed."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from handkit.utils.files import (atomic_open, atomic_path, is_temp, remove_stale_temps,
                                 write_image, write_json, write_text)


def test_write_json_round_trip_and_normal_mode(tmp_path):
    path = write_json(tmp_path / "sub" / "a.json", {"x": [1, 2.5]})
    assert json.loads(path.read_text()) == {"x": [1, 2.5]}
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert list(path.parent.iterdir()) == [path]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_open(path) as f:
        f.write("half of the new")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_temp_names_are_per_process_and_recognised(tmp_path):
    with atomic_path(tmp_path / "a.bin") as t1, atomic_path(tmp_path / "a.bin") as t2:
        assert t1 != t2 and t1.parent == t2.parent == tmp_path
        assert is_temp(t1) and f".{os.getpid()}." in t1.name
        t1.write_bytes(b"1")
        t2.write_bytes(b"2")
    assert (tmp_path / "a.bin").read_bytes() == b"1"  # t2 renamed first, then t1 (outer)
    assert not is_temp(tmp_path / "a.bin")


def test_remove_stale_temps_keeps_live_writers(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".a.json.{dead_pid}.0123abcd.tmp"
    live = tmp_path / f".b.json.{os.getpid()}.0123abcd.tmp"
    foreign = tmp_path / ".user.tmp"  # not ours: never touched
    for p in (stale, live, foreign):
        p.write_text("x")
    assert remove_stale_temps(tmp_path) == [stale]
    assert sorted(tmp_path.iterdir()) == sorted([live, foreign])


def test_folder_targets_and_unwritable_parents_fail_naming_the_path(tmp_path):
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        write_text(tmp_path, "x")
    blocker = write_text(tmp_path / "file", "x")
    with pytest.raises((NotADirectoryError, FileExistsError), match="file"):
        write_text(blocker / "a.txt", "x")


def test_write_image_is_lossless_for_png(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    path = write_image(tmp_path / "a.png", image)
    assert np.array_equal(cv2.imread(str(path)), image)
    with pytest.raises(ValueError, match="a.nope"):
        write_image(tmp_path / "a.nope", image)
