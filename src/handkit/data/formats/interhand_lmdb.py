"""DIGIT's LMDB files of InterHand2.6M images and part masks (specs/digit.md §3.10).

- **Images** (``images/interhand.lmdb``): key = the path relative to ``images/``,
  ``"<split>/Capture<c>/<seq>/cam<cam>/image<frame>.jpg"`` (ASCII, ``.jpg`` kept); value = the
  image read by OpenCV, turned BGR → RGB, then **PNG**-encoded, so ``cv2.imdecode`` gives the
  RGB array back directly (`InterHandLMDB.image`).
- **Masks** (``segm_32.lmdb``): key = the same path with ``.png``; value = a PNG of the label
  image as three identical channels (the official repacking; the InterHand2.6M reader checks
  they agree, `data.formats.interhand.read_part_mask`).
- Extra keys ``__keys__`` (JSON list of the keys; the official code stored a pyarrow-serialised
  list, and ``pa.serialize`` no longer exists) and ``__len__`` (ASCII integer).

`pack_interhand_lmdb` reads the split lists from the annotation files (not a glob), packs every
split (the official script packs only 1,000 random ``val`` images, §7.6), commits every 5,000
puts, writes into ``<out>.tmp`` and renames it into place when complete. Readers open
``readonly, lock=False, readahead=False, meminit=False``, lazily per process (DataLoader
workers each open their own).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Literal, Sequence

import cv2
import lmdb
import numpy as np

from handkit.data.formats._io import get_field, read_json
from handkit.data.schema import SampleError

__all__ = ["pack_interhand_lmdb", "InterHandLMDB", "KEYS_KEY", "LEN_KEY"]

KEYS_KEY, LEN_KEY = b"__keys__", b"__len__"
_COMMIT_EVERY = 5000


def _file_names(root: Path, split: str) -> list[str]:
    src = root / "annotations" / split / f"InterHand2.6M_{split}_data.json"
    data = read_json(src, "InterHand2.6M images and annotations")
    return [str(get_field(img, "file_name", src, f"images[{i}].file_name"))
            for i, img in enumerate(get_field(data, "images", src))]


def _encode(path: Path, what: str) -> bytes:
    flag = cv2.IMREAD_COLOR if what == "images" else cv2.IMREAD_UNCHANGED
    raw = np.frombuffer(path.read_bytes(), np.uint8)
    image = cv2.imdecode(raw, flag) if raw.size else None
    if image is None:
        raise SampleError(f"{path}: cannot decode (corrupt or not an image).")
    if what == "images":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # stored RGB, as the official LMDB
    elif image.ndim == 2:
        image = np.dstack([image] * 3)  # the official mask LMDB holds 3 identical channels
    ok, buf = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - PNG encoding of uint8 does not fail
        raise SampleError(f"{path}: could not PNG-encode.")
    return buf.tobytes()


def pack_interhand_lmdb(root: str | Path, out: str | Path, *,
                        what: Literal["images", "masks"] = "images",
                        splits: Sequence[str] = ("train", "val", "test"),
                        map_size: int | None = None) -> int:
    """Pack the images (or the ``segm_32/`` masks) of `splits` into one LMDB at `out`.

    Args:
        root: the InterHand2.6M folder. out: the LMDB directory to create (must not exist).
        what: "images" (``images/<split>/...jpg``) or "masks" (``segm_32/<split>/...png``;
            images without a mask are left out, the loader then has no mask for them).
        splits: the splits whose annotation files exist are packed.
        map_size: LMDB map size in bytes (default: 2 × the source files' total, at least 1 MB).

    Returns:
        The number of entries written.

    Raises:
        FileExistsError: `out` exists. SampleError / FileNotFoundError: an unreadable image
            (named).
    """
    root, out = Path(root), Path(out)
    if out.exists():
        raise FileExistsError(f"{out}: exists; remove it or choose another --out.")
    entries: list[tuple[str, Path]] = []
    for split in splits:
        if not (root / "annotations" / split).is_dir():
            continue
        for name in _file_names(root, split):
            if what == "images":
                entries.append((f"{split}/{name}", root / "images" / split / name))
            else:
                mask = (root / "segm_32" / split / name).with_suffix(".png")
                if mask.is_file():
                    entries.append((f"{split}/{Path(name).with_suffix('.png').as_posix()}", mask))
    if map_size is None:
        map_size = max(1 << 20, 2 * sum(p.stat().st_size for _, p in entries if p.is_file())
                       + (len(entries) + 2) * 4096 * 4)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    env = lmdb.open(str(tmp), map_size=map_size, subdir=True, lock=True)
    try:
        txn = env.begin(write=True)
        for k, (key, path) in enumerate(entries):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing (listed in the {key.split('/')[0]} "
                                        "annotations).")
            txn.put(key.encode("ascii"), _encode(path, what))
            if (k + 1) % _COMMIT_EVERY == 0:
                txn.commit()
                txn = env.begin(write=True)
        txn.put(KEYS_KEY, json.dumps([key for key, _ in entries]).encode())
        txn.put(LEN_KEY, str(len(entries)).encode())
        txn.commit()
    finally:
        env.close()
    os.replace(tmp, out)
    return len(entries)


class InterHandLMDB:
    """Read an images or masks LMDB (official or `pack_interhand_lmdb`'s).

    Args:
        path: the LMDB (a directory, or a single file: ``subdir`` is detected).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no LMDB at {self.path}")
        self._env: lmdb.Environment | None = None
        self._pid = -1

    def _txn(self) -> lmdb.Transaction:
        if self._env is None or self._pid != os.getpid():  # one environment per process
            self._env = lmdb.open(str(self.path), subdir=self.path.is_dir(), readonly=True,
                                  lock=False, readahead=False, meminit=False)
            self._pid = os.getpid()
        return self._env.begin(write=False)

    def __getstate__(self) -> dict:  # picklable for DataLoader workers: reopen there
        return {"path": self.path, "_env": None, "_pid": -1}

    def get(self, key: str) -> bytes | None:
        """The stored bytes of `key`, or None when absent."""
        with self._txn() as txn:
            value = txn.get(key.encode("ascii"))
        return None if value is None else bytes(value)

    def keys(self) -> list[str]:
        """The packed keys (``__keys__``)."""
        raw = self.get(KEYS_KEY.decode())
        return [] if raw is None else list(json.loads(raw))

    def __len__(self) -> int:
        raw = self.get(LEN_KEY.decode())
        return 0 if raw is None else int(raw)

    def image(self, key: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB of an images LMDB entry (decoded as stored: no channel swap).

        Raises:
            SampleError: missing key or undecodable value (named with the LMDB and key).
        """
        value = self.get(key)
        image = None if value is None else cv2.imdecode(np.frombuffer(value, np.uint8),
                                                        cv2.IMREAD_COLOR)
        if image is None:
            raise SampleError(f"{self.path}: key {key!r}: " + ("missing." if value is None
                                                                else "cannot decode."))
        return image
