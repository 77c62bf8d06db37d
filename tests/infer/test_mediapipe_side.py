"""The MediaPipe side-interpreter protocol, with FAKE interpreters printing canned worker replies:
parsing, the pixel convention (u = x * W, v = y * H), the handedness swap, `find_hands` through
it, and the error messages (missing interpreter, crash at start-up or mid-run, bad replies)."""

from __future__ import annotations

import stat
import sys

import numpy as np
import pytest

from handkit.infer.detect import NO_DETECTOR_NOTE, find_hands
from handkit.external.mediapipe import (
    MEDIAPIPE_ENV, MediaPipeWorker, find_mediapipe_python, shared_worker)

# Joint j at normalised (0.1 + j / 50, 0.2 + j / 100): a hand spanning x 0.1..0.5, y 0.2..0.4.
_XY = [[0.1 + j / 50, 0.2 + j / 100] for j in range(21)]

_SCRIPT = """
import json, sys, time
import numpy as np
MODE = {mode!r}
if MODE == "crash_start":
    sys.stderr.write("Traceback ...\\nModuleNotFoundError: No module named 'mediapipe'\\n")
    sys.exit(3)
print(json.dumps({{"ready": True, "version": "fake", "import_ms": 12.5}}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    img = np.load(req["path"])
    if MODE == "crash_image":
        sys.stderr.write("Segmentation fault in palm detector\\n")
        sys.exit(139)
    if MODE == "garbage":
        print("this is not json", flush=True)
        continue
    if MODE == "hang":
        time.sleep(30)
    xy = {xy!r} if MODE != "bad_xy" else [[0.5, 0.5]] * 3
    hand = {{"xy": xy, "label": "Left", "score": 0.75}}
    other = {{"xy": xy, "label": "Right", "score": 0.5}}
    hands = [] if img.mean() < 10 else [hand, other][:req["max_hands"]]
    print(json.dumps({{"hands": hands, "ms": 3.25, "init_ms": 7.0}}), flush=True)
"""


def _fake_python(tmp_path, mode: str = "ok"):
    """An executable that behaves like a MediaPipe venv's python (it ignores `-u -c WORKER`)."""
    script = tmp_path / f"fake_{mode}.py"
    script.write_text(_SCRIPT.format(mode=mode, xy=_XY))
    py = tmp_path / f"python_{mode}"
    py.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    py.chmod(py.stat().st_mode | stat.S_IEXEC)
    return py


def _image(h=40, w=80, value=100):
    return np.full((h, w, 3), value, np.uint8)


def test_parsing_pixel_convention_and_handedness(tmp_path):
    with MediaPipeWorker(_fake_python(tmp_path)) as worker:
        assert worker.version == "fake" and worker.import_ms == 12.5
        hands = worker.hands(_image(40, 80), max_hands=2)
        assert worker.last_ms == 3.25 and worker.last_init_ms == 7.0
        # non-square 40x80 image: x scales with W = 80, y with H = 40 (joint 20: 0.5, 0.4)
        np.testing.assert_allclose(hands[0].keypoints[20], [40.0, 16.0], rtol=1e-6)
        np.testing.assert_allclose(hands[0].keypoints[0], [8.0, 8.0], rtol=1e-6)
        np.testing.assert_allclose(hands[0].box, [8.0, 8.0, 40.0, 16.0], rtol=1e-6)
        # MediaPipe's labels assume a mirrored image: "Left" is a right hand and vice versa
        assert [(h.label, h.handedness) for h in hands] == [("Left", "right"), ("Right", "left")]
        assert hands[0].score == 0.75
        assert len(worker.hands(_image(), max_hands=1)) == 1  # the request carries max_hands
        assert worker.hands(_image(value=0)) == []  # the fake's "no hand"
    assert not worker.alive


def test_find_hands_through_the_side_interpreter(tmp_path, monkeypatch):
    py = _fake_python(tmp_path)
    monkeypatch.delenv(MEDIAPIPE_ENV, raising=False)
    img = np.random.default_rng(0).integers(1, 255, (100, 200, 3), dtype=np.uint8)
    hands, note = find_hands(img, detector="mediapipe", mediapipe_python=str(py))
    assert note == "" and len(hands) == 1
    assert hands[0].source == "mediapipe" and hands[0].handedness == "right"
    np.testing.assert_allclose(hands[0].box, [20.0, 20.0, 100.0, 40.0], rtol=1e-6)
    monkeypatch.setenv(MEDIAPIPE_ENV, str(py))  # "auto" uses MediaPipe once it is configured
    hands, note = find_hands(img, max_hands=2)
    assert [h.handedness for h in hands] == ["right", "left"] and note == ""
    dark = np.random.default_rng(1).integers(0, 6, (50, 50, 3), dtype=np.uint8)  # the fake
    assert find_hands(dark) == ([], "no hand found by MediaPipe.")  # finds nothing in it
    shared_worker(py).close()


def test_missing_interpreter_messages(tmp_path, monkeypatch):
    monkeypatch.delenv(MEDIAPIPE_ENV, raising=False)
    if find_mediapipe_python(required=False) is None:  # no mediapipe in this venv (usual)
        with pytest.raises(ValueError, match="no Python interpreter configured.*mediapipe==0.10.21"
                           ".*--mediapipe-python"):
            MediaPipeWorker()
        img = np.random.default_rng(0).integers(0, 255, (50, 50, 3), dtype=np.uint8)
        assert find_hands(img)[1] == NO_DETECTOR_NOTE
        with pytest.raises(ValueError, match="detector: 'mediapipe' is not set up.*"
                           + MEDIAPIPE_ENV):
            find_hands(img, detector="mediapipe")
    with pytest.raises(ValueError, match="nope/python is not an executable Python"):
        MediaPipeWorker(tmp_path / "nope" / "python")
    monkeypatch.setenv(MEDIAPIPE_ENV, str(tmp_path / "gone"))
    with pytest.raises(ValueError, match="gone is not an executable Python"):
        find_mediapipe_python()


@pytest.mark.parametrize("mode, message", [
    ("crash_start", r"exit 3\): it exited during start-up; stderr: .*No module named 'mediapipe'"),
    ("crash_image", r"exit 139\): it exited during an image; stderr: Segmentation fault"),
    ("garbage", r"stopped by handkit\): malformed reply 'this is not json'"),
    ("bad_xy", r"stopped by handkit\): malformed reply .*xy has shape \(3, 2\), expected "
               r"\(21, 2\)"),
])
def test_worker_failures_are_value_errors_with_stderr(tmp_path, mode, message):
    worker = MediaPipeWorker(_fake_python(tmp_path, mode))
    with pytest.raises(ValueError, match=r"mediapipe: the worker in .* failed \(" + message):
        worker.hands(_image())
    assert not worker.alive


def test_timeout_and_restart_after_a_failure(tmp_path):
    # Start-up gets a generous limit (an interpreter start takes seconds on a loaded machine);
    # only the image, which the fake never answers, meets the short one.
    worker = MediaPipeWorker(_fake_python(tmp_path, "hang"), timeout=120).start()
    worker.timeout = 0.5
    with pytest.raises(ValueError,
                       match=r"failed \(stopped by handkit\): no answer for an image within 0.5 s"):
        worker.hands(_image())
    worker.timeout = 120
    worker.python = str(_fake_python(tmp_path, "ok"))  # the next call starts a fresh worker
    assert len(worker.hands(_image())) == 1
    worker.close()


def test_bad_image_shape_is_named(tmp_path):
    worker = MediaPipeWorker(_fake_python(tmp_path))
    with pytest.raises(ValueError, match="image"):
        worker.hands(np.zeros((4, 4), np.uint8))
    assert not worker.alive  # checked before starting anything


def test_predict_cli_passes_the_interpreter_to_the_detector(tmp_path, monkeypatch, capsys):
    import json

    import cv2

    from handkit.cli import main

    monkeypatch.delenv(MEDIAPIPE_ENV, raising=False)
    py = _fake_python(tmp_path)
    image = np.random.default_rng(0).integers(1, 255, (100, 200, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "hand.png"), image)
    out = tmp_path / "pred"
    assert main(["predict", str(tmp_path / "hand.png"), "--out", str(out),
                 "--mediapipe-python", str(py), "--quiet"]) == 0
    result = json.loads((out / "hand_png.json").read_text())
    # the fake MediaPipe labels its hand "Left" (mirrored view): a right hand for handkit
    assert result["handedness"] == "right" and result["score"] == 0.75
    assert "no hand detector" not in capsys.readouterr().out  # not the centred-crop fallback
    assert main(["predict", str(tmp_path / "hand.png"), "--out", str(out),
                 "--mediapipe-python", str(tmp_path / "gone")]) == 2
    assert "gone is not an executable Python" in capsys.readouterr().err
    shared_worker(py).close()
