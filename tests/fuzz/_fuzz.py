"""The fuzz suite's tools: mutations of valid synthetic fixtures, malicious pickles with a canary,
tree hashes, and running `handkit.cli.main` in-process with the outcome checked.

Every case ends in one of two outcomes (issue 19):

- a clear error: exit status 2, one ``handkit VERB: error: ...`` line on stderr naming the file,
  field or flag (argparse's usage lines may precede its error line), no traceback;
- a counted skip: exit status 0 and the bad sample counted ("skipped N", or the verb's report).

and in both the inputs, and any output that existed before an error, are byte-identical after.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from handkit.cli import main

__all__ = ["Outcome", "run", "tree_hash", "assert_error", "assert_ok", "IMAGE_MUTATIONS",
           "json_mutation", "Evil", "write_evil_pickle", "write_evil_checkpoint",
           "write_evil_yaml", "copy_tree"]


# ---------------------------------------------------------------------------------------------
# running the CLI


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def error_lines(self) -> list[str]:
        """stderr lines that are handkit's or argparse's error line ("...: error: ...")."""
        return [line for line in self.err.splitlines() if ": error: " in line]


def run(argv: list[str], capsys) -> Outcome:
    """`handkit.cli.main(argv)` in this process; argparse's SystemExit becomes its status."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return Outcome(int(code), captured.out, captured.err)


def assert_error(outcome: Outcome, *names: str) -> str:
    """Exit 2, exactly one error line naming every one of `names`, no traceback."""
    assert "Traceback" not in outcome.err, outcome.err
    assert outcome.code == 2, (outcome.code, outcome.err[-2000:], outcome.out[-2000:])
    lines = outcome.error_lines()
    assert len(lines) == 1, outcome.err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    # handkit's own message is one line; argparse's comes after its usage lines.
    if not lines[0].startswith("usage:"):
        assert outcome.err.strip().splitlines()[-1] == lines[0], outcome.err
    return lines[0]


def assert_ok(outcome: Outcome) -> str:
    assert "Traceback" not in outcome.err, outcome.err
    assert outcome.code == 0, (outcome.code, outcome.err[-2000:])
    return outcome.out + outcome.err


# ---------------------------------------------------------------------------------------------
# files


def tree_hash(*roots: str | os.PathLike) -> dict[str, str]:
    """{path: sha256} of every file under `roots` (a missing root contributes nothing)."""
    hashes = {}
    for root in roots:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ---------------------------------------------------------------------------------------------
# image mutations: each rewrites the file at `path` in place


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _corrupt(path: Path) -> None:
    # Keep the JPEG/PNG signature so the decoder starts, then feed it noise.
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    data[16:] = rng.integers(0, 256, len(data) - 16, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _zero_size(path: Path) -> None:
    path.write_bytes(b"")


def _not_an_image(path: Path) -> None:
    path.write_text("this is not an image\n")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def _oversized_header(path: Path) -> None:
    """A PNG whose header claims 60000 x 60000 px (OpenCV refuses to allocate it)."""
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))


def _reencode(path: Path, convert: Callable[[np.ndarray], np.ndarray]) -> None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    ok, buf = cv2.imencode(".png", convert(image))
    assert ok
    path.write_bytes(buf.tobytes())  # PNG bytes under the .jpg name: decoders sniff content


def _sixteen_bit(path: Path) -> None:
    _reencode(path, lambda im: im.astype(np.uint16) * 257)


def _grey(path: Path) -> None:
    _reencode(path, lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY))


def _rgba(path: Path) -> None:
    _reencode(path, lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA))


def _tiny(path: Path) -> None:
    _reencode(path, lambda im: im[:1, :1])


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _missing(path: Path) -> None:
    path.unlink()


IMAGE_MUTATIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    # name: (mutation, outcome): "skip" (a counted bad sample), "ok" (a usable image the
    # verb must accept: 16-bit, grey and RGBA are converted to 8-bit BGR), or "error" (the
    # layout itself is broken: an image missing from a numbered sequence)
    "truncated": (_truncate, "skip"),
    "corrupt": (_corrupt, "skip"),
    "zero_size": (_zero_size, "skip"),
    "text": (_not_an_image, "skip"),
    "oversized_header": (_oversized_header, "skip"),
    "directory": (_directory, "skip"),
    "1x1": (_tiny, "skip"),  # its mask (64 x 64) no longer matches it
    "missing": (_missing, "error"),
    "16bit": (_sixteen_bit, "ok"),
    "grey": (_grey, "ok"),
    "rgba": (_rgba, "ok"),
}


# ---------------------------------------------------------------------------------------------
# JSON mutations


def json_mutation(path: Path, edit: Callable[[Any], Any]) -> None:
    """Rewrite the JSON file at `path` as `edit(value)` (NaN/Inf written as JSON's extensions)."""
    value = json.loads(path.read_text())
    path.write_text(json.dumps(edit(value)))


def set_at(value: Any, keys: tuple, new: Any) -> Any:
    """`value` with value[k0][k1]... replaced by `new` (lists and dicts, in place)."""
    target = value
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = new
    return value


# ---------------------------------------------------------------------------------------------
# malicious pickles: loading one creates the canary file


class Evil:
    """Unpickling runs ``Path(canary).touch()``: the canary must never appear."""

    def __init__(self, canary: Path):
        self.canary = str(canary)

    def __reduce__(self):
        return (os.system, (f"touch {self.canary}",))


def write_evil_pickle(path: Path, canary: Path) -> Path:
    path.write_bytes(pickle.dumps({"state_dict": Evil(canary)}))
    return path


def write_evil_checkpoint(path: Path, canary: Path, base: dict | None = None) -> Path:
    """A torch.save file (zip container) whose pickle runs the canary; `base` adds real keys."""
    import torch

    obj = dict(base or {})
    obj["evil"] = Evil(canary)
    torch.save(obj, path)
    return path


def write_evil_yaml(path: Path, canary: Path) -> Path:
    path.write_text(f"trainer:\n  max_epochs: !!python/object/apply:os.system "
                    f"['touch {canary}']\n")
    return path
