import argparse
import subprocess
import sys

import lmdb
import numpy as np
import pytest
from torch.utils.data import DataLoader

from handkit.data.formats import BadSample, SkipReport, collate_skip_bad
from handkit.data.schema import Sample
from handkit.data.shard_records import decode_sample, encode_sample
from handkit.data.shards import ShardReader, ShardStream, pack, read_index
from handkit.data.schema import SampleError


def _smooth_image(rng, h=32, w=40):
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.uniform(40, 200, 3)
    img = base + 30 * np.sin(xx[..., None] / 7 + rng.uniform(0, 6, 3)) + 20 * np.cos(yy[..., None] / 5)
    return np.clip(img, 0, 255).astype(np.uint8)


def _camera(r):
    """A valid intrinsic matrix with arbitrary (non-round) entries."""
    return np.array([[300 + 10 * abs(r[0, 0]), r[0, 1], 20 + r[0, 2]],
                     [0, 300 + 10 * abs(r[1, 1]), 16 + r[1, 2]], [0, 0, 1]], np.float32)


def _in_front(xyz):
    return (xyz * [1, 1, 0.1] + [0, 0, 0.6]).astype(np.float32)


def make_samples(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        full = i % 2 == 0
        out.append(Sample(
            image=_smooth_image(rng), keypoints_2d=rng.normal(size=(1, 21, 2)).astype(np.float32),
            joint_valid=rng.uniform(size=(1, 21)) > 0.3, is_right=np.array([i % 3 == 0]),
            K=_camera(rng.normal(size=(3, 3))) if full else None,
            keypoints_3d=_in_front(rng.normal(size=(1, 21, 3))) if full else None,
            scale=np.array([0.03], np.float32) if full else None,
            mask=(rng.uniform(size=(32, 40)) > 0.5) if full else None,
            part_seg=rng.integers(0, 33, (32, 40)).astype(np.uint8) if full else None,
            vertices=rng.normal(size=(1, 5, 3)).astype(np.float32) if full else None,
            dataset="toy", sample_id=f"s{i}", video_id=f"v{i // 4}", frame_id=i,
            extras={"n": i, "tag": "x", "arr": np.arange(3, dtype=np.int16) + i}))
    return out


class ListDataset:
    def __init__(self, samples, fail=(), stop_at=None):
        self.samples, self.fail, self.stop_at, self.calls = samples, set(fail), stop_at, []

    def __len__(self):
        return len(self.samples)

    def sample_id(self, i):
        return f"s{i}"

    def __getitem__(self, i):
        self.calls.append(i)
        if i == self.stop_at:
            raise KeyboardInterrupt
        if i in self.fail:
            raise SampleError(f"img{i}.jpg: image: cannot decode")
        return self.samples[i]


def assert_same(a: Sample, b: Sample, image_atol=0):
    for name in ("keypoints_2d", "joint_valid", "is_right", "K", "keypoints_3d", "scale", "mask",
                 "part_seg", "vertices"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), name
    diff = np.abs(a.image.astype(int) - b.image.astype(int))
    assert diff.max() <= image_atol if image_atol == 0 else diff.mean() < image_atol
    assert (a.dataset, a.sample_id, a.video_id, a.frame_id) == (b.dataset, b.sample_id, b.video_id, b.frame_id)
    assert a.extras["n"] == b.extras["n"] and a.extras["tag"] == b.extras["tag"]
    assert np.array_equal(a.extras["arr"], b.extras["arr"]) and b.extras["arr"].dtype == np.int16


def test_record_round_trip_png_exact_and_jpeg_close():
    for s in make_samples(4):
        assert_same(s, decode_sample(encode_sample(s, codec="png")))
        assert_same(s, decode_sample(encode_sample(s, codec="jpeg", quality=95)), image_atol=2.0)


def test_corrupt_record_names_where_and_field():
    record = encode_sample(make_samples(1)[0], codec="png")
    with pytest.raises(SampleError, match=r"shard-3\[7\]: header: corrupt record \(not a handkit"):
        decode_sample(b"junk" + record[4:], where="shard-3[7]")
    with pytest.raises(SampleError, match=r"here: extras/arr: corrupt record \(truncated \(1 of 6 bytes"):
        decode_sample(record[:-5], where="here")


def test_pack_reader_round_trip_and_skips(tmp_path):
    samples = make_samples(11)
    report = pack(ListDataset(samples, fail={4}), tmp_path / "sh", shard_size=4, codec="png",
                  progress=False)
    assert report.count == 1 and report.bad[0].index == 4 and "cannot decode" in report.bad[0].reason
    index = read_index(tmp_path / "sh")
    assert [s["count"] for s in index["shards"]] == [4, 3, 3] and index["complete"]
    reader = ShardReader(tmp_path / "sh")
    kept = [s for i, s in enumerate(samples) if i != 4]
    assert len(reader) == 10
    for i, s in enumerate(kept):
        assert_same(s, reader[i])


def test_pack_resumes_after_interrupt(tmp_path):
    samples = make_samples(10)
    ds = ListDataset(samples, fail={1}, stop_at=6)
    with pytest.raises(KeyboardInterrupt):
        pack(ds, tmp_path / "sh", shard_size=4, codec="png", progress=False)
    assert len(read_index(tmp_path / "sh")["shards"]) == 1  # shard 0 finished, shard 1 not
    ds2 = ListDataset(samples, fail={1})
    report = pack(ds2, tmp_path / "sh", shard_size=4, codec="png", progress=False)
    assert min(ds2.calls) == 4  # shard 0 was not redone
    assert report.count == 1  # the skip of the first run is still reported
    reader = ShardReader(tmp_path / "sh")
    assert [reader[i].sample_id for i in range(len(reader))] == [f"s{i}" for i in range(10) if i != 1]
    with pytest.raises(ValueError, match="an earlier packing used other options"):
        pack(ds2, tmp_path / "sh", shard_size=5, codec="png", progress=False)


@pytest.fixture
def packed(tmp_path):
    samples = [s for s in make_samples(46) if s.K is not None]  # one field set: collatable
    for i, s in enumerate(samples):
        s.sample_id = f"s{i}"
    pack(ListDataset(samples), tmp_path / "sh", shard_size=5, codec="jpeg", progress=False)
    return tmp_path / "sh"


def _as_list(items):
    return items


def _ids(items):
    return [s.sample_id for s in items]


def test_stream_every_sample_once_across_ranks_and_workers(packed):
    seen = []
    for rank in range(2):
        stream = ShardStream(packed, buffer_size=4, seed=3, rank=rank, world_size=2, drop_last=False)
        stream.set_epoch(1)
        loader = DataLoader(stream, batch_size=3, num_workers=2, collate_fn=_as_list)
        seen += [s.sample_id for batch in loader for s in batch]
    assert sorted(seen) == sorted(f"s{i}" for i in range(23))


def test_stream_order_is_shuffled_seeded_and_epoch_dependent(packed):
    def order(epoch, seed=3, **kw):
        stream = ShardStream(packed, seed=seed, buffer_size=4, **kw)
        stream.set_epoch(epoch)
        return _ids(stream)

    assert order(0) == order(0)
    assert order(0) != order(1) and sorted(order(0)) == sorted(order(1))
    assert order(0, shuffle=False) == [f"s{i}" for i in range(23)]


def test_stream_drop_last_equalises_ranks(packed):
    counts = [len(_ids(ShardStream(packed, rank=r, world_size=2))) for r in range(2)]
    assert counts == [11, 11] and len(ShardStream(packed, rank=0, world_size=2)) == 11


def test_stream_skips_and_counts_corrupt_entry(packed):
    env = lmdb.open(str(packed / "shard-00001.lmdb"), subdir=False, lock=False)
    with env.begin(write=True) as txn:
        txn.put(b"%08d" % 2, b"HKS1garbage")
    env.close()
    report = SkipReport()
    seen = []
    for batch in DataLoader(ShardStream(packed, seed=1), batch_size=4, collate_fn=collate_skip_bad):
        report.update(batch)
        seen += batch.get("sample_id", [])
    assert report.count == 1 and "shard-00001.lmdb[2]" in report.bad[0].sample_id
    assert sorted(seen) == sorted(f"s{i}" for i in range(23) if i != 7)
    assert isinstance(report.bad[0], BadSample)


def test_pack_cli_on_freihand_layout(tmp_path, capsys):
    from _format_fixtures import make_freihand
    from handkit.commands import pack as pack_verb

    make_freihand(tmp_path / "fh")
    parser = argparse.ArgumentParser()
    pack_verb.add_arguments(parser)
    argv = ["--data", str(tmp_path / "fh"), "--format", "freihand", "--out", str(tmp_path / "sh"),
            "--shard-size", "5", "--codec", "png", "--option", 'versions=["gs", "auto"]']
    assert pack_verb.run(parser.parse_args(argv)) == 0
    out = capsys.readouterr().out
    assert "packed 6 of 6 samples" in out and "skipped 0" in out
    reader = ShardReader(tmp_path / "sh")
    assert len(reader) == 6 and reader[5].extras["version"] == "auto"
    with pytest.raises(ValueError, match="format: unknown value 'nope'"):
        pack_verb.run(parser.parse_args(argv[:2] + ["--format", "nope"] + argv[4:]))


@pytest.mark.slow
def test_pack_cli_subprocess_exit_codes(tmp_path):
    from _format_fixtures import make_freihand

    make_freihand(tmp_path / "fh")
    cmd = [sys.executable, "-m", "handkit.cli", "pack", "--data", str(tmp_path / "fh"), "--format",
           "freihand", "--out", str(tmp_path / "sh"), "--shard-size", "5"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run(cmd[:7] + ["nope"] + cmd[8:], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "format: unknown value 'nope'" in bad.stderr


def test_pack_with_loader_workers_matches_serial(tmp_path):
    samples = make_samples(9)
    report = pack(ListDataset(samples, fail={3}), tmp_path / "par", shard_size=4, codec="png",
                  num_workers=2, progress=False)
    assert report.count == 1 and report.bad[0].index == 3 and report.bad[0].sample_id == "s3"
    reader = ShardReader(tmp_path / "par")
    for i, s in enumerate(s for j, s in enumerate(samples) if j != 3):
        assert_same(s, reader[i])
