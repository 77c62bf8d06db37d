"""Shared readers for the dataset formats: every error names the file and the field.

A loader never calls `json.load`, `cv2.imread` or `pickle.load` directly; it calls these, so a
missing file, malformed JSON, a wrong-shaped array, a NaN label or a corrupt image always gives
one kind of message: ``"<file>: <field>: <what is wrong>"`` (a `SampleError`, a ValueError) or,
for a missing file, a `FileNotFoundError` naming the file and what it holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from handkit.data.schema import SampleError
from handkit.utils.check import check_finite, check_shape
from handkit.utils.safe_pickle import ARRAY_GLOBALS, PickleReadError, load_pickle

__all__ = [
    "require_file", "read_json", "get_field", "to_array", "read_image", "read_mask", "decode_image",
    "read_pickle_restricted", "read_yaml",
]


def require_file(path: Path, what: str) -> Path:
    """Return `path` if it is a file, else raise FileNotFoundError naming it and its role."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing ({what}).")
    return path


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file.

    Raises:
        FileNotFoundError: the file does not exist.
        SampleError: "<file>: malformed JSON (<what>): <parser message>".
    """
    require_file(path, what)
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SampleError(f"{path}: malformed JSON ({what}): {err}") from None


def read_yaml(path: Path, what: str) -> Any:
    """Parse a YAML file (safe loader only); errors name the file."""
    import yaml

    require_file(path, what)
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as err:
        raise SampleError(f"{path}: malformed YAML ({what}): {err}") from None


def get_field(obj: Any, key: Any, source: Path | str, field: str | None = None) -> Any:
    """`obj[key]` or a SampleError "<source>: <field>: missing key <key>"."""
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError):
        name = field if field is not None else str(key)
        kind = type(obj).__name__
        raise SampleError(f"{source}: {name}: missing (no key {key!r} in a {kind}).") from None


def to_array(value: Any, pattern: str, source: Path | str, field: str, *,
             dtype: Any = np.float32, finite: bool = True) -> np.ndarray:
    """Turn a JSON/pickle value into an array of the given shape pattern (`check_shape` syntax;
    ``""`` means a single number).

    Raises:
        SampleError: "<source>: <field>: expected (21, 3), got (20, 3)." or "... contains NaN".
    """
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise SampleError(f"{source}: {field}: not a numeric array ({err}).") from None
    try:
        if not pattern:
            if array.ndim != 0:
                raise ValueError(f"{field}: expected a single number, got shape {array.shape}.")
        else:
            check_shape(array, pattern, name=field)
        if finite and array.dtype.kind == "f":
            check_finite(array, name=field)
    except ValueError as err:
        raise SampleError(f"{source}: {err}") from None
    return array


def read_image(path: Path, *, data: bytes | None = None) -> np.ndarray:
    """Read an image file (or its encoded `data`) as RGB uint8 (H, W, 3).

    Raises:
        FileNotFoundError: the file does not exist.
        SampleError: "<file>: image: cannot decode (corrupt or not an image)."
    """
    if data is None:
        require_file(path, "image")
        data = Path(path).read_bytes()
    image = decode_image(data, cv2.IMREAD_COLOR, f"{path}: image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_image(data: bytes, flags: int, where: str) -> np.ndarray:
    """`cv2.imdecode` that never raises OpenCV's own error: an undecodable, truncated or
    oversized image (a header claiming 60000×60000 px) is a `SampleError` "<where>: ...",
    which long jobs skip and count.

    Args:
        data: the encoded bytes. flags: `cv2.IMREAD_*`. where: "<file>: <field>" for messages.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, flags) if buffer.size else None
    except cv2.error as err:
        reason = str(err).strip().splitlines()[-1][:200]
        raise SampleError(f"{where}: cannot decode ({len(data)} bytes; OpenCV: {reason}).") \
            from None
    if image is None:
        raise SampleError(f"{where}: cannot decode ({len(data)} bytes; corrupt or not "
                          "an image).")
    return image


def read_mask(path: Path, *, threshold: int = 127) -> np.ndarray:
    """Read a single-channel mask image as (H, W) bool (`> threshold`; JPEG masks are noisy)."""
    require_file(path, "mask")
    mask = decode_image(Path(path).read_bytes(), cv2.IMREAD_GRAYSCALE, f"{path}: mask")
    return mask > threshold


def read_pickle_restricted(path: Path, what: str) -> Any:
    """Load a pickle that may only hold numpy arrays and basic Python types
    (`handkit.utils.safe_pickle.load_pickle` with `ARRAY_GLOBALS`): a dataset file never runs code.

    Raises:
        FileNotFoundError: the file does not exist.
        SampleError: "<file>: <what>: unreadable pickle (refusing global posix.system ...)".
    """
    try:
        return load_pickle(path, what=what, allowed=ARRAY_GLOBALS)
    except PickleReadError as err:
        raise SampleError(str(err)) from None


