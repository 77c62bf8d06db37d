import os
import pickle
import sys
import types

import numpy as np
import pytest

from handkit.utils.safe_pickle import ARRAY_GLOBALS, PickleReadError, load_pickle


def _dump(path, value, protocol=2):
    data = pickle.dumps(value, protocol=protocol)
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))


def test_arrays_round_trip_with_numpy1_names(tmp_path):
    value = {"a": np.arange(6.0).reshape(2, 3), "f": np.array([[1, 2, 3]], np.uint32),
             "s": {1, 2}, "x": np.float64(2.5), "name": "lbs"}
    _dump(tmp_path / "v.pkl", value)
    out = load_pickle(tmp_path / "v.pkl", what="test data")
    np.testing.assert_array_equal(out["a"], value["a"])
    assert out["f"].dtype == np.uint32 and out["s"] == {1, 2} and out["x"] == 2.5
    assert out["name"] == "lbs"


def test_refuses_code_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(marker),))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps([Evil()], protocol=2))
    with pytest.raises(PickleReadError, match=r"evil\.pkl: my file: unreadable pickle "
                                              r"\(refusing global (posix|os|nt)\.system"):
        load_pickle(tmp_path / "evil.pkl", what="my file")
    assert not marker.exists()


def test_allow_list_is_complete_and_maps_to_stand_ins(tmp_path, monkeypatch):
    # A class pickled under a module handkit does not have; the stand-in receives its state.
    fake = types.ModuleType("fakelib")

    class Thing:
        pass

    Thing.__module__, Thing.__qualname__ = "fakelib", "Thing"
    fake.Thing = Thing
    monkeypatch.setitem(sys.modules, "fakelib", fake)
    obj = Thing()
    obj.x = np.ones(3)
    _dump(tmp_path / "t.pkl", {"t": obj})
    monkeypatch.delitem(sys.modules, "fakelib")

    class StandIn:
        def __setstate__(self, state):
            self.state = state

    out = load_pickle(tmp_path / "t.pkl", what="t", allowed={**ARRAY_GLOBALS, ("fakelib", "Thing"): StandIn})
    assert isinstance(out["t"], StandIn) and out["t"].state["x"].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(PickleReadError, match=r"refusing global fakelib\.Thing"):
        load_pickle(tmp_path / "t.pkl", what="t")
    # the list is the whole list: without numpy's entries the arrays are refused too
    with pytest.raises(PickleReadError, match=r"refusing global numpy\._core\.multiarray\._reconstruct"):
        load_pickle(tmp_path / "t.pkl", what="t", allowed={("fakelib", "Thing"): StandIn})


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.pkl: missing \(MANO model\)"):
        load_pickle(tmp_path / "nope.pkl", what="MANO model")
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x02garbage")
    with pytest.raises(PickleReadError, match=r"bad\.pkl: x: unreadable pickle"):
        load_pickle(tmp_path / "bad.pkl", what="x")
    _dump(tmp_path / "cut.pkl", {"a": np.zeros(100)})
    (tmp_path / "cut.pkl").write_bytes((tmp_path / "cut.pkl").read_bytes()[:40])
    with pytest.raises(PickleReadError, match=r"cut\.pkl: x: unreadable pickle"):
        load_pickle(tmp_path / "cut.pkl", what="x")


def test_array_allow_list_is_read_only():
    with pytest.raises(TypeError):
        ARRAY_GLOBALS[("os", "system")] = os.system  # type: ignore[index]
