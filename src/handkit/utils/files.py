"""Atomic file writes: the one way every handkit writer puts a file on disk.

A writer writes to a temporary file in the target's folder, named
``.<name>.<pid>.<random>.tmp``, and renames it over ``<name>`` only once it is complete
(`os.replace` is atomic within a filesystem). A run killed at any moment therefore leaves either
the old file or the new one under the final name, never half of one. The per-process name lets
two processes write into one folder without sharing a temporary file, and
`remove_stale_temps` deletes the temporaries of processes that died.

Files get the normal mode of a new file (0666 less the umask), as `open` gives them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

__all__ = ["output_file", "output_folder", "atomic_path", "atomic_open", "write_bytes", "write_text", "write_json",
           "write_npz", "read_npz", "read_resumable", "write_image", "write_figure", "remove_stale_temps", "is_temp"]

_TEMP = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")


def _target(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file path to write.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (PermissionError, FileExistsError, NotADirectoryError) as err:
        raise type(err)(f"{path.parent}: cannot create the output folder "
                        f"({err.strerror or err}).") from None
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"{path.parent}: the output folder is not writable.")
    return path


def output_file(path: str | os.PathLike) -> Path:
    """Check, before any work, that `path` can be written as a file (its folder is made).

    A verb calls this on its output paths first, so that a folder or an unwritable place given
    as the output is refused in one line before a long run, not after it.

    Raises:
        IsADirectoryError: `path` is a folder. PermissionError, NotADirectoryError,
        FileExistsError: its folder cannot be made or written.
    """
    return _target(path)


def output_folder(path: str | os.PathLike) -> Path:
    """Check, before any work, that `path` is (or can be made as) a writable folder; makes it.

    Raises:
        NotADirectoryError: `path` (or a parent) is a file. PermissionError: not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: is a file; give a folder to write into.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (PermissionError, FileExistsError, NotADirectoryError) as err:
        raise type(err)(f"{path}: cannot create the output folder "
                        f"({err.strerror or err}).") from None
    if not os.access(path, os.W_OK):
        raise PermissionError(f"{path}: the output folder is not writable.")
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on a clean exit it becomes `path`.

    Whatever the block writes to the yielded path replaces `path` only if the block finishes;
    on an exception (or a kill) `path` is untouched and the temporary is removed (or left for
    `remove_stale_temps`).

    Raises:
        IsADirectoryError: `path` is a folder. PermissionError: its folder is not writable.
    """
    path = _target(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **open_kwargs: Any) -> Iterator[IO]:
    """`open(path, mode)` that replaces `path` only when the block completes (flushed and
    fsynced first, so the renamed file holds every byte)."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open: mode must be a write mode ('w', 'wb'), got {mode!r}.")
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns `path`."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically; returns `path`."""
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 1,
               **dump_kwargs: Any) -> Path:
    """Write `obj` as JSON atomically (``indent=None``: compact separators); returns `path`."""
    if indent is None:
        dump_kwargs.setdefault("separators", (",", ":"))
    text = json.dumps(obj, indent=indent, **dump_kwargs)
    return write_text(path, text + ("\n" if indent is not None else ""))


def write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """`np.savez` to exactly `path` (no ``.npz`` appended) atomically; returns `path`."""
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
    return Path(path)


def read_npz(path: str | os.PathLike, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays `keys` of an ``.npz`` file (never unpickled: ``allow_pickle=False``).

    Raises:
        ValueError: "<path>: ..." for a truncated, corrupt or foreign file, or a missing key.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise ValueError(f"{path}: missing array(s) {missing}.")
            return {k: npz[k] for k in keys}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        # BadZipFile: a file that starts like a zip (b"PK\x03\x04") but is not one.
        if str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable .npz file ({type(err).__name__}).") from None


def read_resumable(path: str | os.PathLike | None, keys: tuple[str, ...]
                   ) -> dict[str, np.ndarray] | None:
    """A finished piece of a resumable job (an ``.npz`` with `keys`), or None to (re)do it: a
    piece that cannot be read (damaged, foreign) is reported with a warning naming the file and
    redone, losing nothing."""
    if path is None or not Path(path).exists():
        return None
    try:
        return read_npz(path, keys)
    except ValueError as err:
        warnings.warn(f"{err} Redoing it.", stacklevel=2)
        return None


def write_image(path: str | os.PathLike, image_bgr: Any, params: list[int] | None = None) -> Path:
    """Encode an (H, W) or (H, W, 3) BGR uint8 image by `path`'s suffix (.png, .jpg) and write it
    atomically; returns `path`.

    Raises:
        ValueError: OpenCV cannot encode that image or suffix.
    """
    path = Path(path)
    try:
        ok, buf = cv2.imencode(path.suffix or ".png", image_bgr, params or [])
    except cv2.error:
        ok = False
    if not ok:
        raise ValueError(f"{path}: could not encode the image as {path.suffix or '.png'}.")
    return write_bytes(path, buf.tobytes())


def write_figure(fig: Any, path: str | os.PathLike, **savefig_kwargs: Any) -> Path:
    """`fig.savefig` to `path` atomically, in the format of its suffix; returns `path`."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **savefig_kwargs)
    return path


def is_temp(path: str | os.PathLike) -> bool:
    """True for a temporary file of `atomic_path` (``.<name>.<pid>.<hex8>.tmp``)."""
    return _TEMP.match(Path(path).name) is not None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temps(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Delete the temporaries in `folder` whose writing process no longer runs.

    A live writer's temporary is left alone, so this is safe while another process writes into
    the same folder. Returns the removed paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp"):
        match = _TEMP.match(path.name)
        if match and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
