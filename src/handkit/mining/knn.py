"""k nearest neighbours from OTHER videos, at scale, with faiss (docs/mining.md).

`build_index` picks an exact `IndexFlatL2` for small pools and an `IndexIVFFlat` above
`exact_below` (DESIGN.md: IVF on pose vectors trains in seconds with recall ~0.99; HNSW builds
for minutes at 1M for no gain). `search_other_videos` queries in chunks (memory stays at the
index plus one chunk of candidates), over-fetches k' > k candidates and drops those from the
query's own video (or only those within `window` frames of it), re-queries the few rows left
with fewer than k with a larger k', and finally searches those exactly by brute force, so every
row gets its true top-k among the eligible candidates the index returns. With `checkpoint`, each
chunk's result is saved atomically and a killed run resumes where it stopped, bit-identical.

**Convention:** distances are Euclidean (the square root of faiss' squared L2), in the units of
the embedding; rows are ranked by increasing distance; -1 / inf pad rows with fewer than k
eligible neighbours in the whole pool (only possible with a `window`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
from tqdm import tqdm

from handkit.utils.check import check_choice, check_finite, check_shape
from handkit.utils.files import atomic_path, read_resumable, write_json, write_npz

__all__ = ["KnnResult", "build_index", "search_other_videos", "INDEX_KINDS"]

INDEX_KINDS = ("auto", "flat", "ivf")


@dataclass(frozen=True)
class KnnResult:
    """indices (N, k) int64 rows of the pool (-1 = none); distances (N, k) float32 Euclidean;
    num_fallback: rows that needed the exact brute-force fallback."""

    indices: np.ndarray
    distances: np.ndarray
    num_fallback: int


def _ivf_params(n: int, nlist: int | None, nprobe: int | None) -> tuple[int, int]:
    nlist = nlist or int(2 * np.sqrt(n))
    nlist = max(1, min(nlist, n // 39))  # faiss wants >= 39 training points per list
    return nlist, min(nlist, nprobe or 10)


def build_index(x: np.ndarray, *, kind: Literal["auto", "flat", "ivf"] = "auto",
                exact_below: int = 50_000, nlist: int | None = None, nprobe: int | None = None,
                train_size: int = 64, seed: int = 0) -> faiss.Index:
    """Build an L2 index over the pool.

    Args:
        x: (N, D) float32 embeddings.
        kind: ``flat`` (exact), ``ivf`` (IndexIVFFlat), ``auto`` (flat iff N < exact_below).
        nlist: IVF lists (default 2 sqrt(N), at most N / 39); nprobe: lists searched (default 10).
        train_size: k-means training points per list (at most N).
        seed: k-means seed (fixed, so a rebuilt index is identical).
    """
    check_choice(kind, INDEX_KINDS, name="kind")
    n, d = check_shape(x, "N D", name="x").values()
    x = np.ascontiguousarray(x, dtype=np.float32)
    if kind == "flat" or (kind == "auto" and n < exact_below):
        index = faiss.IndexFlatL2(d)
    else:
        nlist, nprobe = _ivf_params(n, nlist, nprobe)
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
        index.cp.seed = seed
        m = min(n, train_size * nlist)
        rows = np.sort(np.random.default_rng(seed).choice(n, m, replace=False))
        index.train(x[rows])
        index.nprobe = nprobe
    index.add(x)
    return index


def _pick(cand: np.ndarray, dist: np.ndarray, rows: np.ndarray, groups: np.ndarray,
          frames: np.ndarray | None, window: int | None, k: int):
    """Keep the first k eligible candidates of each row; returns (idx, dist, count)."""
    ok = cand >= 0
    safe = np.where(ok, cand, 0)
    same = groups[safe] == groups[rows][:, None]
    if window is not None and frames is not None:
        same &= np.abs(frames[safe] - frames[rows][:, None]) <= window
    ok &= ~same & (safe != rows[:, None])
    order = np.argsort(~ok, axis=1, kind="stable")[:, :k]
    idx = np.take_along_axis(np.where(ok, cand, -1), order, 1)
    dst = np.take_along_axis(np.where(ok, dist, np.inf), order, 1)
    return idx, dst.astype(np.float32), ok.sum(1)


def _exact_rows(x, rows, groups, frames, window, k):
    """Brute-force top-k eligible neighbours of `rows` (the fallback), squared L2."""
    idx = np.full((len(rows), k), -1, np.int64)
    dst = np.full((len(rows), k), np.inf, np.float32)
    for r, q in enumerate(rows):
        d2 = ((x - x[q]) ** 2).sum(1)
        bad = groups == groups[q]
        if window is not None and frames is not None:
            bad &= np.abs(frames - frames[q]) <= window
        bad[q] = True
        d2[bad] = np.inf
        kk = min(k, len(d2) - 1)
        top = np.argpartition(d2, kk)[:kk]
        top = top[np.argsort(d2[top], kind="stable")]
        top = top[np.isfinite(d2[top])][:k]
        idx[r, :len(top)], dst[r, :len(top)] = top, d2[top]
    return idx, dst


def _search_chunk(index, x, rows, groups, frames, window, k, overfetch):
    kk = min(index.ntotal, overfetch)
    dist, cand = index.search(x[rows], kk)
    idx, dst, count = _pick(cand, dist, rows, groups, frames, window, k)
    short = np.flatnonzero(count < k)
    if len(short) and kk < index.ntotal:  # one wider retry for the few crowded rows
        big = min(index.ntotal, kk * 8)
        d2, c2 = index.search(x[rows[short]], big)
        idx[short], dst[short], count[short] = _pick(c2, d2, rows[short], groups, frames,
                                                     window, k)
        short = short[count[short] < k]
    if len(short):
        idx[short], dst[short] = _exact_rows(x, rows[short], groups, frames, window, k)
    return idx, dst, len(short)


def _fingerprint(x, groups, frames, params: dict) -> dict:
    h = hashlib.sha1(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(groups).tobytes())
    if frames is not None:
        h.update(np.ascontiguousarray(frames).tobytes())
    return {**params, "n": int(len(x)), "sha1": h.hexdigest()}


def _open_checkpoint(ckpt: Path, meta: dict) -> None:
    ckpt.mkdir(parents=True, exist_ok=True)
    file = ckpt / "knn_meta.json"
    if file.exists():
        old = json.loads(file.read_text())
        if old != meta:
            raise ValueError(f"{ckpt}: holds a checkpoint of a different mining run "
                             f"({sorted(k for k in meta if old.get(k) != meta[k])} differ); "
                             "delete the folder or choose another.")
    else:
        write_json(file, meta)


def search_other_videos(
    x: np.ndarray, groups: np.ndarray, *, k: int = 10, frames: np.ndarray | None = None,
    window: int | None = None, kind: Literal["auto", "flat", "ivf"] = "auto",
    exact_below: int = 50_000, nlist: int | None = None, nprobe: int | None = None,
    overfetch: int | None = None, chunk_size: int = 65_536, checkpoint: str | Path | None = None,
    progress: bool = True,
) -> KnnResult:
    """Top-k neighbours of every pose among poses of other videos.

    Args:
        x: (N, D) float32 embeddings.
        groups: (N,) int, video of each pose (codes; equal code = same video).
        k: neighbours kept per query.
        frames: (N,) int frame index, needed with `window`.
        window: None excludes every same-video pose; an int W excludes only same-video poses
            with |frame difference| <= W (the query itself is always excluded).
        kind, exact_below, nlist, nprobe: the index (`build_index`).
        overfetch: candidates fetched per query before filtering (default 3k + 10).
        chunk_size: queries per chunk (memory and checkpoint granularity).
        checkpoint: folder for per-chunk results and the IVF index; a rerun resumes.
        progress: show a tqdm bar.

    Raises:
        ValueError: bad shapes/NaN, k < 1, fewer than k + 1 videos (without `window`), or a
            checkpoint folder of a different run.
    """
    n = check_shape(x, "N D", name="x")["N"]
    check_shape(groups, f"{n}", name="groups")
    check_finite(x, name="x")
    if k < 1:
        raise ValueError(f"k: expected >= 1, got {k}.")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                               or window < 0):
        raise ValueError(f"window: expected a frame count >= 0 (or None: exclude the whole "
                         f"video), got {window!r}.")
    if window is not None and frames is None:
        raise ValueError("frames: required when window is given.")
    groups = np.asarray(groups, np.int64)
    frames = None if frames is None else np.asarray(frames, np.int64)
    num_videos = len(np.unique(groups))
    if window is None and num_videos < k + 1:
        raise ValueError(f"groups: the pool has {num_videos} videos; k={k} neighbours from other "
                         f"videos need at least k + 1 = {k + 1}. Lower --k or add videos.")
    if n < k + 1:
        raise ValueError(f"x: the pool has {n} poses; k={k} needs at least {k + 1}.")
    x = np.ascontiguousarray(x, dtype=np.float32)
    overfetch = max(overfetch or 3 * k + 10, k + 1)
    params = {"k": k, "window": window, "kind": kind, "exact_below": exact_below, "nlist": nlist,
              "nprobe": nprobe, "overfetch": overfetch, "chunk_size": chunk_size}
    ckpt = Path(checkpoint) if checkpoint is not None else None
    index = None
    if ckpt is not None:
        _open_checkpoint(ckpt, _fingerprint(x, groups, frames, params))
        if (ckpt / "index.faiss").exists():
            index = faiss.read_index(str(ckpt / "index.faiss"))
    if index is None:
        index = build_index(x, kind=kind, exact_below=exact_below, nlist=nlist, nprobe=nprobe)
        if ckpt is not None:
            with atomic_path(ckpt / "index.faiss") as tmp:
                faiss.write_index(index, str(tmp))
    indices = np.empty((n, k), np.int64)
    distances = np.empty((n, k), np.float32)
    fallback = 0
    starts = range(0, n, chunk_size)
    for start in tqdm(starts, desc="kNN", unit="chunk", disable=not progress):
        rows = np.arange(start, min(n, start + chunk_size))
        file = ckpt / f"knn_{start:010d}.npz" if ckpt is not None else None
        saved = read_resumable(file, ("indices", "distances", "fallback"))
        if saved is not None:
            idx, dst, nf = saved["indices"], saved["distances"], int(saved["fallback"])
        else:
            idx, dst, nf = _search_chunk(index, x, rows, groups, frames, window, k, overfetch)
            if file is not None:
                write_npz(file, indices=idx, distances=dst, fallback=np.int64(nf))
        indices[rows], distances[rows] = idx, dst
        fallback += nf
    return KnnResult(indices=indices, distances=np.sqrt(np.maximum(distances, 0.0)),
                     num_fallback=fallback)
