"""Shard storage: LMDB + simplejpeg vs webdataset-style tar vs plain files, same records.

Prints a table (no assertions). Each store holds the same N handkit records (a 128×128 JPEG crop +
labels, `data.shard_records`); a read = fetch bytes + `decode_sample` (JPEG decode included).
Orders: sequential (stored order) and random (a permutation). Tar random access uses an offset
index built once (what webdataset does not keep). Files are in the page cache (written just
before), so this measures CPU cost, not cold disk.

    flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/shard_storage.py --n 20000
"""

from __future__ import annotations

import argparse
import io
import os
import tarfile
import tempfile
import time
from pathlib import Path

import lmdb
import numpy as np

from handkit.data.schema import Sample
from handkit.data.shard_records import decode_sample, encode_sample


def _records(n: int, size: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = []
    for i in range(n):
        phase = rng.uniform(0, 6, 3)
        img = 128 + 60 * np.sin(xx[..., None] / rng.uniform(3, 9) + phase) \
            + rng.normal(0, 8, (size, size, 3))
        s = Sample(image=np.clip(img, 0, 255).astype(np.uint8),
                   keypoints_2d=rng.uniform(0, size, (1, 21, 2)).astype(np.float32),
                   joint_valid=np.ones((1, 21), bool), is_right=np.array([True]),
                   keypoints_3d=rng.normal(size=(1, 21, 3)).astype(np.float32),
                   K=np.eye(3, dtype=np.float32), dataset="bench", sample_id=f"{i:08d}")
        out.append(encode_sample(s, codec="jpeg", quality=95))
    return out


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    records = _records(args.n, args.size)
    order = np.random.default_rng(1).permutation(args.n)
    mb = sum(map(len, records)) / 1e6
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # LMDB
        path = tmp / "s.lmdb"

        def write_lmdb():
            env = lmdb.open(str(path), map_size=1 << 36, subdir=False, lock=False)
            with env.begin(write=True) as txn:
                for i, r in enumerate(records):
                    txn.put(b"%08d" % i, r)
            env.sync()
            env.close()

        w = _timed(write_lmdb)
        env = lmdb.open(str(path), subdir=False, readonly=True, lock=False, readahead=False)

        def lmdb_random():
            with env.begin() as txn:
                for i in order:
                    decode_sample(txn.get(b"%08d" % i))

        def lmdb_seq():
            with env.begin() as txn:
                for _, v in txn.cursor():
                    decode_sample(v)

        rows.append(("lmdb", w, _timed(lmdb_seq), _timed(lmdb_random)))
        env.close()
        # tar (webdataset style: one member per record, key.rec)
        tpath = tmp / "s.tar"

        def write_tar():
            with tarfile.open(tpath, "w") as tar:
                for i, r in enumerate(records):
                    info = tarfile.TarInfo(f"{i:08d}.rec")
                    info.size = len(r)
                    tar.addfile(info, io.BytesIO(r))

        w = _timed(write_tar)

        def tar_seq():
            with tarfile.open(tpath, "r") as tar:
                for m in tar:
                    decode_sample(tar.extractfile(m).read())

        offsets = {}
        with tarfile.open(tpath, "r") as tar:
            for m in tar:
                offsets[int(m.name[:8])] = (m.offset_data, m.size)

        def tar_random():
            with open(tpath, "rb") as f:
                for i in order:
                    off, size = offsets[int(i)]
                    f.seek(off)
                    decode_sample(f.read(size))

        rows.append(("tar (webdataset-style)", w, _timed(tar_seq), _timed(tar_random)))
        # plain files
        fdir = tmp / "files"
        fdir.mkdir()

        def write_files():
            for i, r in enumerate(records):
                (fdir / f"{i:08d}.rec").write_bytes(r)

        w = _timed(write_files)
        rows.append(("plain files", w,
                     _timed(lambda: [decode_sample((fdir / f"{i:08d}.rec").read_bytes())
                                     for i in range(args.n)]),
                     _timed(lambda: [decode_sample((fdir / f"{i:08d}.rec").read_bytes())
                                     for i in order])))
        t_decode = _timed(lambda: [decode_sample(r) for r in records])
    print(f"N = {args.n} records of {args.size}x{args.size} JPEG q95 + labels, {mb:.1f} MB, "
          f"cpu={os.cpu_count()}")
    print(f"{'store':24s} {'write s':>8s} {'seq read s':>11s} {'random read s':>14s} "
          f"{'random/s':>9s}")
    for name, w, seq, rnd in rows:
        print(f"{name:24s} {w:8.2f} {seq:11.2f} {rnd:14.2f} {args.n / rnd:9.0f}")
    print(f"{'decode only (in memory)':24s} {'':8s} {t_decode:11.2f}")


if __name__ == "__main__":
    main()
