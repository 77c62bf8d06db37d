"""Reading MANO pickles laid out as the real v1.2 files, refusing bad ones, the .npz cache."""

import os
import sys

import numpy as np
import pytest
import torch

from _mano_fixture import mano_arrays, mirror_arrays, write_mano_pickle
from handkit.hand import mano_file
from handkit.hand.mano import MANO, find_mano_dir
from handkit.hand.mano_file import ManoFileError, mano_file as locate, read_mano

F64 = torch.float64


@pytest.fixture(scope="module")
def arrays():
    return mano_arrays(0)


@pytest.mark.parametrize("shapedirs_as, j_regressor, protocol, root_parent", [
    ("select", "csc", 2, 4294967295),  # the released file's layout
    ("ch", "csr", 2, -1), ("plain", "dense", 2, 4294967295), ("select", "csc", 0, -1)])
def test_reads_the_real_layout_without_chumpy(tmp_path, arrays, shapedirs_as, j_regressor,
                                              protocol, root_parent):
    path = write_mano_pickle(tmp_path / "MANO_RIGHT.pkl", arrays, shapedirs_as=shapedirs_as,
                             j_regressor=j_regressor, protocol=protocol, root_parent=root_parent,
                             chumpy_keys=("v_template",) if shapedirs_as == "ch" else ())
    raw = path.read_bytes()
    assert b"numpy.core.multiarray" in raw and (j_regressor == "dense" or b"scipy.sparse.cs" in raw)
    assert (b"chumpy.reordering\nSelect" in raw) == (shapedirs_as == "select")
    data = read_mano(path, side="right", cache=False)
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                "hands_components", "hands_mean"):
        np.testing.assert_array_equal(getattr(data, key), arrays[key], err_msg=key)
    np.testing.assert_array_equal(data.faces, arrays["f"].astype(np.int64))
    assert data.faces.dtype == np.int64 and data.J_regressor.dtype == np.float64
    assert "chumpy" not in sys.modules and "chumpy.ch" not in sys.modules


def test_refuses_code_without_running_it(tmp_path, arrays):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = write_mano_pickle(tmp_path / "MANO_RIGHT.pkl", arrays, extra={"evil": Evil()})
    with pytest.raises(ManoFileError, match=r"MANO_RIGHT\.pkl: MANO model: unreadable pickle "
                                            r"\(refusing global (posix|os|nt)\.system"):
        MANO(tmp_path, cache=False)
    assert not marker.exists() and not list(tmp_path.glob("*.npz"))


def test_refuses_chumpy_classes_other_than_ch_and_select(tmp_path, arrays):
    path = write_mano_pickle(tmp_path / "MANO_RIGHT.pkl", arrays,
                             extra=lambda cls: {"odd": cls["add"]()})
    with pytest.raises(ManoFileError, match=r"refusing global chumpy\.ch_ops\.add"):
        read_mano(path, side="right")


@pytest.mark.parametrize("change, message", [
    ({"drop": ("hands_components",)}, r"hands_components: missing key\. Is this MANO v1\.2's "
                                      r"MANO_RIGHT\.pkl\? If not, download .*mano\.is\.tue\.mpg\.de"),
    ({"shapedirs": np.zeros((778, 3, 9))}, r"shapedirs: expected shape \(778, 3, 10\), got \(778, 3, 9\)"),
    ({"v_template": np.zeros((6890, 3))}, r"v_template: expected shape \(778, 3\)"),
    ({"weights": np.full((778, 16), 0.5)}, r"weights: rows must sum to 1"),
    ({"kintree_table": np.array([[-1] + [0] * 15, list(range(16))])}, r"kintree_table: row 0 must hold MANO's parents"),
    ({"f": np.full((1538, 3), 778, np.uint32)}, r"f: expected \(F, 3\) vertex ids in \[0, 778\)"),
    ({"hands_mean": np.full(45, np.nan)}, r"hands_mean: not a finite numeric array"),
])
def test_bad_files_name_the_key(tmp_path, arrays, change, message):
    drop = change.pop("drop", ())
    path = write_mano_pickle(tmp_path / "MANO_RIGHT.pkl", {**arrays, **change}, drop=drop)
    with pytest.raises(ManoFileError, match=message):
        read_mano(path, side="right")
    assert not list(tmp_path.glob("*.npz"))  # nothing cached from a bad file


def test_the_wrong_side_is_refused(tmp_path, arrays):
    left = write_mano_pickle(tmp_path / "MANO_LEFT.pkl", mirror_arrays(arrays))
    right = write_mano_pickle(tmp_path / "MANO_RIGHT.pkl", arrays)
    with pytest.raises(ManoFileError, match=r"MANO_LEFT\.pkl: v_template: this is a left-hand model "
                                            r".* loaded as side='right'; pass side='left'"):
        read_mano(left, side="right")
    with pytest.raises(ManoFileError, match=r"right-hand model .* side='left'"):
        MANO(right, side="left", left_shapedirs="keep")
    assert mano_file.rest_chirality(arrays["v_template"], arrays["J_regressor"]) > 0.1


def test_left_shapedirs_fix(tmp_path, arrays):
    M = torch.tensor([-1.0, 1.0, 1.0], dtype=F64)
    buggy, good = tmp_path / "buggy", tmp_path / "good"
    for folder, bug in ((buggy, True), (good, False)):
        write_mano_pickle(folder / "MANO_RIGHT.pkl", arrays)
        write_mano_pickle(folder / "MANO_LEFT.pkl", mirror_arrays(arrays, shapedirs_bug=bug))
    right = MANO(buggy, dtype=F64, cache=False)
    beta = torch.randn(1, 10, generator=torch.Generator().manual_seed(0), dtype=F64)
    zero3, zero45 = torch.zeros(1, 3, dtype=F64), torch.zeros(1, 45, dtype=F64)
    expected = right.forward_mano(zero3, finger_aa=zero45, shape=beta).vertices * M
    for folder, option, negated in ((buggy, "auto", True), (good, "auto", False),
                                    (buggy, "negate", True), (good, "keep", False)):
        left = MANO(folder, side="left", left_shapedirs=option, dtype=F64, cache=False)
        assert left.shapedirs_negated == negated, (folder.name, option)
        out = left.forward_mano(zero3, finger_aa=zero45, shape=beta).vertices
        torch.testing.assert_close(out, expected, atol=1e-14, rtol=0)
    alone = write_mano_pickle(tmp_path / "alone" / "MANO_LEFT.pkl", mirror_arrays(arrays))
    with pytest.raises(ManoFileError, match=r"left_shapedirs='auto' compares with MANO_RIGHT\.pkl"):
        MANO(alone, side="left", cache=False)


def test_cache_is_written_reused_and_refreshed(tmp_path, arrays, monkeypatch):
    path = write_mano_pickle(tmp_path / "MANO_RIGHT.pkl", arrays)
    first = read_mano(path, side="right")
    cache = tmp_path / "MANO_RIGHT.handkit.npz"
    assert cache.is_file() and sorted(p.name for p in tmp_path.iterdir()) == [
        "MANO_RIGHT.handkit.npz", "MANO_RIGHT.pkl"]  # no temporary file left behind

    def no_unpickling(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    with monkeypatch.context() as m:
        m.setattr(mano_file, "load_pickle", no_unpickling)
        again = read_mano(path, side="right")
    np.testing.assert_array_equal(again.shapedirs, first.shapedirs)
    other = mano_arrays(1)
    write_mano_pickle(path, other)  # the user replaces the pickle: the cache is stale
    fresh = read_mano(path, side="right")
    np.testing.assert_array_equal(fresh.shapedirs, other["shapedirs"])
    with monkeypatch.context() as m:
        m.setattr(mano_file, "load_pickle", no_unpickling)
        np.testing.assert_array_equal(read_mano(path, side="right").shapedirs, other["shapedirs"])


@pytest.mark.parametrize("foreign", [b"not an npz at all", "npz"])
def test_cache_never_overwrites_a_file_handkit_did_not_write(tmp_path, arrays, foreign):
    path = write_mano_pickle(tmp_path / "MANO_RIGHT.pkl", arrays)
    cache = tmp_path / "MANO_RIGHT.handkit.npz"
    if foreign == "npz":
        np.savez(cache, v_template=np.zeros((778, 3)))
    else:
        cache.write_bytes(foreign)
    before = cache.read_bytes()
    with pytest.warns(UserWarning, match=r"handkit did not write it; leaving it alone"):
        data = read_mano(path, side="right")
    np.testing.assert_array_equal(data.v_template, arrays["v_template"])
    assert cache.read_bytes() == before


def test_cache_dir_and_unwritable_cache(tmp_path, arrays, monkeypatch):
    path = write_mano_pickle(tmp_path / "mano" / "MANO_RIGHT.pkl", arrays)
    read_mano(path, side="right", cache_dir=tmp_path / "cache")
    (written,) = (tmp_path / "cache").iterdir()
    assert written.name.startswith("MANO_RIGHT-") and written.name.endswith(".handkit.npz")
    assert sorted(p.name for p in (tmp_path / "mano").iterdir()) == ["MANO_RIGHT.pkl"]

    def read_only(*args):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(mano_file, "_write_cache", read_only)
    with pytest.warns(UserWarning, match=r"cannot write the MANO cache"):
        data = read_mano(path, side="right")
    np.testing.assert_array_equal(data.weights, arrays["weights"])


def test_find_mano_dir(tmp_path, monkeypatch, arrays):
    monkeypatch.delenv("HANDKIT_MANO_DIR", raising=False)
    with pytest.raises(ManoFileError, match=r"no MANO folder: pass --mano DIR or set HANDKIT_MANO_DIR"):
        find_mano_dir(None)
    (tmp_path / "env").mkdir()
    (tmp_path / "flag").mkdir()
    monkeypatch.setenv("HANDKIT_MANO_DIR", str(tmp_path / "env"))
    assert find_mano_dir(None) == tmp_path / "env"
    assert find_mano_dir(str(tmp_path / "flag")) == tmp_path / "flag"  # the flag wins
    with pytest.raises(ManoFileError, match=r"--mano=.*nowhere: not a folder"):
        find_mano_dir(str(tmp_path / "nowhere"))
    with pytest.raises(ManoFileError, match=r"MANO_RIGHT\.pkl not found \(nor in models/\); "
                                            r"download MANO v1\.2 from https://mano\.is\.tue\.mpg\.de"):
        locate(tmp_path / "env", "right")
    write_mano_pickle(tmp_path / "env" / "models" / "MANO_RIGHT.pkl", arrays)  # MPI's zip layout
    assert locate(find_mano_dir(None), "right") == tmp_path / "env" / "models" / "MANO_RIGHT.pkl"
    with pytest.raises(FileNotFoundError, match=r"MANO_LEFT\.pkl: missing \(MANO model\)"):
        read_mano(tmp_path / "MANO_LEFT.pkl", side="left")
