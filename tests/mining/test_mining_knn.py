import numpy as np
import pytest

import handkit.mining.knn as knn
from handkit.mining.knn import build_index, search_other_videos


def _reference(x, groups, k, frames=None, window=None):
    """Slow loop: for each query, sort all other-video poses by distance."""
    n = len(x)
    idx = np.full((n, k), -1)
    dst = np.full((n, k), np.inf)
    for q in range(n):
        cands = [j for j in range(n) if j != q and not (
            groups[j] == groups[q] and (window is None or abs(frames[j] - frames[q]) <= window))]
        d = [float(np.sqrt(((x[j] - x[q]) ** 2).sum())) for j in cands]
        order = sorted(range(len(cands)), key=lambda t: (d[t], cands[t]))[:k]
        idx[q, :len(order)] = [cands[t] for t in order]
        dst[q, :len(order)] = [d[t] for t in order]
    return idx, dst


def test_hand_made_line_pool():
    # 1-D points 0, 1, 2 | 10, 11, 12 in videos 0 0 1 1 2 2: the right neighbour by construction.
    x = np.array([[0], [1], [2], [10], [11], [12]], np.float32)
    res = search_other_videos(x, np.array([0, 0, 1, 1, 2, 2]), k=1, progress=False)
    assert res.indices[:, 0].tolist() == [2, 2, 1, 4, 3, 3]
    np.testing.assert_allclose(res.distances[:, 0], [2, 1, 1, 1, 1, 2])


def test_same_video_exclusion_and_reference():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(12, 5))
    groups = np.repeat(np.arange(12), 15)
    x = (centers[groups] + 0.05 * rng.normal(size=(180, 5))).astype(np.float32)
    res = search_other_videos(x, groups, k=4, progress=False)
    assert (groups[res.indices] != groups[:, None]).all()  # every output pair: other video
    idx, dst = _reference(x, groups, 4)
    np.testing.assert_array_equal(res.indices, idx)
    np.testing.assert_allclose(res.distances, dst, rtol=1e-5, atol=1e-5)
    assert (np.diff(res.distances, axis=1) >= 0).all()


def test_fallback_when_all_candidates_are_same_video():
    # Video 0: 100 poses packed at the origin; its k' = k+1 = 3 (and the retry's 24) nearest
    # candidates are all its own, so its queries must reach the exact fallback.
    rng = np.random.default_rng(1)
    x = np.concatenate([0.001 * rng.normal(size=(100, 3)), 5 + rng.normal(size=(30, 3))])
    groups = np.concatenate([np.zeros(100, int), np.repeat([1, 2, 3], 10)])
    res = search_other_videos(x.astype(np.float32), groups, k=2, overfetch=3, progress=False)
    assert res.num_fallback >= 100
    assert (groups[res.indices] != groups[:, None]).all()
    idx, dst = _reference(x, groups, 2)
    np.testing.assert_array_equal(res.indices, idx)


def test_time_window_allows_far_frames_of_the_same_video():
    x = np.array([[0], [0.1], [0.2], [5]], np.float32)
    groups, frames = np.zeros(4, int), np.array([0, 30, 300, 600])
    res = search_other_videos(x, groups, k=1, frames=frames, window=60, progress=False)
    # pose 0: frame 30 is within the window, frame 300 (0.2 away) is not; pose 2 takes pose 1.
    assert res.indices[:, 0].tolist() == [2, 2, 1, 2]
    idx, _ = _reference(x, groups, 1, frames, 60)
    np.testing.assert_array_equal(res.indices, idx)
    with pytest.raises(ValueError, match="frames: required"):
        search_other_videos(x, groups, k=1, window=60)
    for bad in (-1, 2.5, True):  # -1 would let every same-video pose through
        with pytest.raises(ValueError, match=r"window: expected a frame count >= 0"):
            search_other_videos(x, groups, k=1, frames=frames, window=bad)


def test_exact_and_ivf_agree_on_an_easy_set():
    rng = np.random.default_rng(2)
    centers = 10 * rng.normal(size=(40, 8))
    groups = np.repeat(np.arange(400), 10)
    x = (centers[np.arange(4000) % 40] + 0.3 * rng.normal(size=(4000, 8))).astype(np.float32)
    flat = search_other_videos(x, groups, k=5, kind="flat", progress=False)
    ivf = search_other_videos(x, groups, k=5, kind="ivf", nlist=40, nprobe=40, progress=False)
    np.testing.assert_array_equal(ivf.indices, flat.indices)  # nprobe = nlist: exhaustive
    approx = search_other_videos(x, groups, k=5, kind="ivf", nlist=40, nprobe=3, progress=False)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(approx.indices, flat.indices)])
    assert recall > 0.95
    assert build_index(x, kind="ivf", nlist=40).nlist == 40
    assert build_index(x).__class__.__name__ == "IndexFlatL2"


def test_bad_input_messages():
    x = np.zeros((6, 2), np.float32)
    with pytest.raises(ValueError, match="the pool has 3 videos; k=3 .* at least k \\+ 1 = 4"):
        search_other_videos(x, np.array([0, 0, 1, 1, 2, 2]), k=3)
    with pytest.raises(ValueError, match="groups: expected \\(6\\)"):
        search_other_videos(x, np.zeros(5), k=1)
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="x: contains NaN"):
        search_other_videos(x, np.arange(6), k=1)
    with pytest.raises(ValueError, match="kind: unknown value 'hnsw'"):
        build_index(x, kind="hnsw")


def test_resume_after_kill_matches_uninterrupted(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 6)).astype(np.float32)
    groups = np.repeat(np.arange(300), 10)
    kw = dict(k=3, kind="ivf", nlist=20, nprobe=2, chunk_size=500, progress=False)
    full = search_other_videos(x, groups, **kw)
    real, calls = knn._search_chunk, []

    def dying(*a, **k):
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(knn, "_search_chunk", dying)
    with pytest.raises(KeyboardInterrupt):
        search_other_videos(x, groups, checkpoint=tmp_path / "ck", **kw)
    assert len(list((tmp_path / "ck").glob("knn_*.npz"))) == 3
    monkeypatch.setattr(knn, "_search_chunk", real)
    garbage = sorted((tmp_path / "ck").glob("knn_*.npz"))[1]
    garbage.write_bytes(b"not an npz")  # a damaged piece is named and redone, not fatal
    with pytest.warns(UserWarning, match=rf"{garbage.name}: not a readable \.npz file"):
        resumed = search_other_videos(x, groups, checkpoint=tmp_path / "ck", **kw)
    np.testing.assert_array_equal(resumed.indices, full.indices)
    np.testing.assert_array_equal(resumed.distances, full.distances)
    with pytest.raises(ValueError, match="different mining run.*'k'"):
        search_other_videos(x, groups, checkpoint=tmp_path / "ck", **{**kw, "k": 4})
