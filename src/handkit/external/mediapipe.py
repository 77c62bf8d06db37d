"""MediaPipe Hands in a side interpreter: one persistent worker subprocess, one JSON line per image.

MediaPipe 0.10.21 bundles its palm-detection and hand-landmark models and runs offline, but it
needs numpy < 2, so it cannot live in handkit's environment (DESIGN.md, Dependencies). It gets
its own venv, once (docs/mining.md, "MediaPipe side venv")::

    python3.11 -m venv ~/mp-venv && ~/mp-venv/bin/pip install mediapipe==0.10.21

and handkit talks to that interpreter (``--mediapipe-python`` or $HANDKIT_MEDIAPIPE_PYTHON).
Both users — `mining.detect2d.MediaPipeKeypoints` and `infer.detect.find_hands` — go through
`MediaPipeWorker` here. If ``import mediapipe`` works in handkit's own interpreter (numpy < 2
installs), that interpreter is used the same way, as a subprocess.

**Protocol** (private to this module; the fake interpreters in the tests speak it): the worker
prints ``{"ready": true, "version": str, "import_ms": float}``, then for every request line
``{"path": ".npy of an (H, W, 3) uint8 RGB image", "max_hands": int, "min_confidence": float}``
read from stdin it prints ``{"hands": [{"xy": 21 x [x, y] normalised, "label": "Left"|"Right",
"score": float}], "ms": model-call ms, "init_ms": Hands() construction ms (0 if reused)}``.
Anything else the worker's libraries write to stdout is redirected to its stderr.

**Conventions:** MediaPipe's landmarks are normalised to the image, x in [0, 1] across its
width; with handkit's pixel convention (column i spans [i, i + 1)) that is u = x * W, v = y * H.
MediaPipe labels handedness *as if the image were mirrored* (a selfie view; its docs say to
swap the label otherwise). handkit's images are not mirrored, so `MediaPipeHand.handedness` is
the swapped label; checked on synthetic right hands and their mirror images
(tests/infer/test_mediapipe_real.py).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from handkit.utils.check import check_shape

__all__ = ["MEDIAPIPE_ENV", "MEDIAPIPE_SETUP", "MediaPipeHand", "MediaPipeWorker",
           "find_mediapipe_python", "shared_worker"]

MEDIAPIPE_ENV = "HANDKIT_MEDIAPIPE_PYTHON"
MEDIAPIPE_SETUP = (f"create a separate venv (`python3.11 -m venv ~/mp-venv && ~/mp-venv/bin/pip "
                   f"install mediapipe==0.10.21`; it needs numpy<2 so it cannot live in handkit's "
                   f"venv) and pass --mediapipe-python ~/mp-venv/bin/python or set "
                   f"{MEDIAPIPE_ENV} (docs/mining.md, 'MediaPipe side venv').")
_TRUE_SIDE = {"Left": "right", "Right": "left"}  # MediaPipe's label assumes a mirrored image

_WORKER = r"""
import json, os, sys, time
t0 = time.perf_counter()
out = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # native libraries' prints go to stderr, the protocol keeps stdout
import numpy as np
import mediapipe as mp
def send(rec):
    out.write(json.dumps(rec) + "\n")
    out.flush()
send({"ready": True, "version": getattr(mp, "__version__", "?"),
      "import_ms": (time.perf_counter() - t0) * 1e3})
models = {}
for line in sys.stdin:
    req = json.loads(line)
    key = (int(req["max_hands"]), float(req["min_confidence"]))
    init_ms = 0.0
    if key not in models:
        t = time.perf_counter()
        models[key] = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=key[0],
                                               min_detection_confidence=key[1])
        init_ms = (time.perf_counter() - t) * 1e3
    image = np.load(req["path"])
    t = time.perf_counter()
    res = models[key].process(image)
    ms = (time.perf_counter() - t) * 1e3
    hands = [{"xy": [[p.x, p.y] for p in marks.landmark], "label": side.classification[0].label,
              "score": side.classification[0].score}
             for marks, side in zip(res.multi_hand_landmarks or [],
                                    getattr(res, "multi_handedness", None) or [])]
    send({"hands": hands, "ms": ms, "init_ms": init_ms})
"""


@dataclass(frozen=True)
class MediaPipeHand:
    """One hand MediaPipe found.

    Attributes:
        keypoints: (21, 2) float32 pixels of the image (handkit order and pixel convention).
        handedness: "right"/"left" for the unmirrored image ("unknown" for an unexpected label).
        label: MediaPipe's own label ("Left"/"Right", mirrored-image convention).
        score: MediaPipe's handedness score in [0, 1] (the legacy API reports no other score).
    """

    keypoints: np.ndarray
    handedness: Literal["right", "left", "unknown"]
    label: str
    score: float

    @property
    def box(self) -> np.ndarray:
        """(4,) float64 (x0, y0, x1, y1) pixels: the keypoints' bounding box."""
        kp = self.keypoints.astype(np.float64)
        return np.concatenate([kp.min(0), kp.max(0)])


def find_mediapipe_python(python: str | os.PathLike | None = None, *,
                          required: bool = True) -> str | None:
    """The interpreter that runs MediaPipe: `python`, else $HANDKIT_MEDIAPIPE_PYTHON, else this
    interpreter when ``import mediapipe`` works here, else None (or ValueError if `required`).

    Raises:
        ValueError: a configured path that is not an executable, or nothing found and
            `required` (the message says how to set MediaPipe up).
    """
    python = python or os.environ.get(MEDIAPIPE_ENV)
    if python:
        resolved = shutil.which(str(Path(python).expanduser()))
        if resolved is None:
            raise ValueError(f"mediapipe: {python} is not an executable Python; "
                             f"{MEDIAPIPE_SETUP}")
        return resolved
    if importlib.util.find_spec("mediapipe") is not None:
        return sys.executable
    if required:
        raise ValueError(f"mediapipe: no Python interpreter configured; {MEDIAPIPE_SETUP}")
    return None


class MediaPipeWorker:
    """A running MediaPipe worker (started lazily, reused for every image; `close` ends it).

    Args:
        python: the side venv's interpreter (see `find_mediapipe_python`).
        timeout: seconds to wait for start-up or for one image.

    Attributes (after a call): version (MediaPipe's), import_ms (``import numpy, mediapipe`` in
    the worker, the bulk of its start-up), last_ms (the last model call), last_init_ms (Hands() set-up paid
    by the last call, 0 when reused).
    """

    def __init__(self, python: str | os.PathLike | None = None, *, timeout: float = 600.0):
        self.python = find_mediapipe_python(python)
        self.timeout = float(timeout)
        self._proc = None
        self.version, self.import_ms, self.last_ms, self.last_init_ms = "", 0.0, 0.0, 0.0

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> MediaPipeWorker:
        """Start the subprocess and wait for its ready line (no-op when running)."""
        if self.alive:
            return self
        self.close()
        self._tmp = tempfile.TemporaryDirectory(prefix="handkit-mp-")
        self._stderr = open(os.path.join(self._tmp.name, "stderr.txt"), "w+b")
        self._proc = subprocess.Popen([self.python, "-u", "-c", _WORKER], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(self._proc.stdout, self._lines),
                         daemon=True).start()
        ready = self._read("start-up")
        if ready.get("ready") is not True:
            self._fail(f"expected the ready line first, got {ready}")
        self.version, self.import_ms = str(ready.get("version")), float(ready.get("import_ms", 0))
        return self

    def hands(self, image: np.ndarray, *, max_hands: int = 1,
              min_confidence: float = 0.5) -> list[MediaPipeHand]:
        """Hands in one RGB image (H, W, 3) uint8, best first as MediaPipe orders them."""
        dims = check_shape(image, "H W 3", name="image")
        h, w = dims["H"], dims["W"]
        self.start()
        path = os.path.join(self._tmp.name, "image.npy")
        np.save(path, np.ascontiguousarray(image, dtype=np.uint8))
        try:
            self._proc.stdin.write(json.dumps({"path": path, "max_hands": int(max_hands),
                                               "min_confidence": float(min_confidence)}) + "\n")
            self._proc.stdin.flush()
        except OSError:  # the worker died: _read reports it, with its stderr
            pass
        rec = self._read("an image")
        try:
            self.last_ms, self.last_init_ms = float(rec["ms"]), float(rec.get("init_ms", 0.0))
            return [self._hand(hand, w, h) for hand in rec["hands"]]
        except (KeyError, TypeError, ValueError) as err:
            self._fail(f"malformed reply {str(rec)[:200]} ({err})")

    @staticmethod
    def _hand(rec: dict, w: int, h: int) -> MediaPipeHand:
        xy = np.asarray(rec["xy"], np.float32)
        if xy.shape != (21, 2):
            raise ValueError(f"xy has shape {xy.shape}, expected (21, 2)")
        label = str(rec["label"])
        return MediaPipeHand(xy * np.float32([w, h]), _TRUE_SIDE.get(label, "unknown"), label,
                             float(rec["score"]))

    @staticmethod
    def _pump(stream, lines: queue.Queue) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    def _read(self, what: str) -> dict:
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            self._fail(f"no answer for {what} within {self.timeout:g} s")
        if line is None:  # its stdout closed: it is exiting
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self._fail(f"it exited during {what}")
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            self._fail(f"malformed reply {line.strip()[:200]!r}")
        if not isinstance(rec, dict):
            self._fail(f"malformed reply {line.strip()[:200]!r}")
        return rec

    def _fail(self, why: str):
        """Stop the worker and raise ValueError with `why`, its exit code and stderr's tail."""
        proc = self._proc
        running = proc.poll() is None
        if running:
            proc.kill()
        status = "stopped by handkit" if running else f"exit {proc.wait()}"
        self._stderr.seek(0)
        tail = self._stderr.read().decode(errors="replace").strip().splitlines()[-3:]
        self.close()
        raise ValueError(f"mediapipe: the worker in {self.python} failed ({status}): {why}"
                         + (f"; stderr: {' | '.join(tail)}" if tail else ""))

    def close(self) -> None:
        """End the subprocess (closing its stdin lets it exit cleanly) and delete its files."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            self._stderr.close()
            self._tmp.cleanup()

    def __enter__(self) -> MediaPipeWorker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


_SHARED: dict[str, MediaPipeWorker] = {}


def shared_worker(python: str | os.PathLike | None = None) -> MediaPipeWorker:
    """One worker per interpreter for the whole process (closed at exit); a dead one is
    restarted on its next use."""
    resolved = find_mediapipe_python(python)
    if resolved not in _SHARED:
        _SHARED[resolved] = MediaPipeWorker(resolved)
    return _SHARED[resolved]


@atexit.register
def _close_shared() -> None:
    for worker in _SHARED.values():
        worker.close()
