"""Similar-hand mining at scale: time and peak memory per pool size, and IVF recall@10.

For N in --sizes, a fresh subprocess (so its peak RSS, VmHWM, is that size's own, faiss included)
memory-maps N toy poses (`handkit.mining._toyhands`: grasp prototypes + noise, smooth 30-frame
videos, half left hands; generated once and cached under --cache), then times the mining core:
embed (mirror, wrist-centre, rms scale) -> 14-D PCA -> top-10 neighbours from other videos
(`search_other_videos`, index "auto": exact below 50k, IVF above). Peak RSS includes the memory
map of the inputs that were touched. Then, on a 100k subset, recall@10 of the approximate index
against exact search (both with same-video exclusion), and the end-to-end `mine_annotations`
(JSON read + write) at --e2e poses.

    flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/mining.py
    .venv/bin/python benchmarks/mining.py --sizes 10000 --recall-n 20000 --e2e 5000   # quick
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_FIELDS = ("keypoint_25d", "is_right", "video", "frame")


def _pool(cache: Path, n: int) -> dict:
    """The first n poses of the cached pool (generated once for the largest size asked)."""
    files = {f: cache / f"{f}.npy" for f in _FIELDS}
    have = cache / "size.txt"
    if not have.exists() or int(have.read_text()) < n:
        from handkit.mining._toyhands import sample_pool

        t = time.perf_counter()
        pool = sample_pool(-(-n // 30), 30, seed=0)
        cache.mkdir(parents=True, exist_ok=True)
        for f in _FIELDS:
            np.save(files[f], getattr(pool, f))
        have.write_text(str(len(pool.video)))
        print(f"  (generated {len(pool.video)} toy poses in {time.perf_counter() - t:.0f} s)",
              file=sys.stderr)
    return {f: np.load(files[f], mmap_mode="r")[:n] for f in _FIELDS}


def _peak_rss_gb() -> float:
    """This process's peak resident memory. Linux VmHWM belongs to the current address space
    (ru_maxrss survives fork + exec and would report the parent's peak); else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _embed(p: dict, pca_dim: int = 14) -> np.ndarray:
    from handkit.mining.embed import embed_poses, fit_pca

    x = embed_poses(np.asarray(p["keypoint_25d"][..., :2]) * 224, np.asarray(p["is_right"]))
    return fit_pca(x, pca_dim).apply(x)


def _worker(cache: Path, n: int) -> dict:
    from handkit.mining.knn import search_other_videos

    p = _pool(cache, n)
    t0 = time.perf_counter()
    x = _embed(p)
    t1 = time.perf_counter()
    res = search_other_videos(x, np.asarray(p["video"]), k=10, progress=False)
    t2 = time.perf_counter()
    return {"n": n, "embed_s": t1 - t0, "knn_s": t2 - t1, "total_s": t2 - t0,
            "fallback": res.num_fallback, "index": "flat" if n < 50_000 else "ivf",
            "peak_rss_gb": _peak_rss_gb()}


def _recall(cache: Path, n: int) -> dict:
    from handkit.mining.knn import search_other_videos

    p = _pool(cache, n)
    x, groups = _embed(p), np.asarray(p["video"])
    t = time.perf_counter()
    approx = search_other_videos(x, groups, k=10, kind="ivf", progress=False)
    t_ivf = time.perf_counter() - t
    t = time.perf_counter()
    exact = search_other_videos(x, groups, k=10, kind="flat", progress=False)
    t_flat = time.perf_counter() - t
    hits = [len(np.intersect1d(a, b)) for a, b in zip(approx.indices, exact.indices)]
    top1 = float(np.mean(approx.indices[:, 0] == exact.indices[:, 0]))
    ratio = float(np.median(approx.distances[:, 0] / np.maximum(exact.distances[:, 0], 1e-9)))
    return {"n": n, "recall_at_10": float(np.mean(hits)) / 10, "top1_same": top1,
            "median_top1_dist_ratio": ratio, "ivf_s": t_ivf, "flat_s": t_flat}


def _e2e(cache: Path, n: int) -> dict:
    from handkit.data.formats.hand100m import write_annotations
    from handkit.mining.pairs import mine_annotations

    p = _pool(cache, n)
    with tempfile.TemporaryDirectory() as tmp:
        images = [{"id": i, "file_name": f"{v}/{f}.jpg", "width": 640, "height": 480,
                   "video_id": str(v), "frame_id": int(f)}
                  for i, (v, f) in enumerate(zip(p["video"].tolist(), p["frame"].tolist()))]
        anns = [{"hand_id": str(i), "image_id": i, "boxes": "[0, 0, 10, 10]",
                 "keypoint_25d": kp.reshape(-1).tolist(), "left_right": "Right" if r else "Left"}
                for i, (kp, r) in enumerate(zip(np.asarray(p["keypoint_25d"]), p["is_right"]))]
        src = write_annotations(Path(tmp) / "in.json", images, anns)
        del images, anns
        t = time.perf_counter()
        rep = mine_annotations(src, Path(tmp) / "out.json", k=10, progress=False)
        return {"n": n, "total_s": time.perf_counter() - t, **rep.seconds,
                "peak_rss_gb": _peak_rss_gb()}


def _hist(hists: dict, title: str, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 60, 61)
    for label, v in hists.items():
        ax.hist(v, bins=bins, histtype="step", linewidth=1.5, density=True, label=label)
    ax.set_xlabel("PA-MPJPE between the two hands' true 3D poses (mm)")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)


def quality_synth(root: Path, seed: int, out_png: Path) -> str:
    """The same check on `handkit synth hand100m` output (rendered frames, true 3D from the
    synthetic world regenerated by index): mine with its labels, compare with random pairs."""
    from handkit.data.formats.hand100m import read_annotations
    from handkit.data.synth.multi import video_scene
    from handkit.mining.pairs import mine_annotations, pair_quality, video_groups

    src = sorted((root / "annotations").glob("*/*.json"))[0]
    with tempfile.TemporaryDirectory() as tmp:
        mine_annotations(src, Path(tmp) / "mined.json", k=10, progress=False)
        ann = read_annotations(Path(tmp) / "mined.json")
    size = int(ann.images[ann.image_ids[0]]["width"])
    joints = np.stack([video_scene(seed, int(i), size).scene.hands[0].state.joints
                       for i in ann.image_ids])
    row = ann.index_of()
    top1 = np.array([row[p[0]] for p in ann.positives])
    groups, _ = video_groups(ann)
    mined, rand = pair_quality(joints, ann.is_right, groups, top1)
    _hist({"mined top-1 (keep, 14-D PCA)": mined * 1000, "random cross-video": rand * 1000},
          f"handkit synth hand100m: {len(ann):,} hands, {groups.max() + 1} videos", out_png)
    return (f"| synth hand100m, {len(ann):,} hands / {groups.max() + 1} videos | "
            f"{1000 * np.median(mined):.1f} | {1000 * mined.mean():.1f} | "
            f"{1000 * np.median(rand):.1f} | {1000 * rand.mean():.1f} |")


def quality(n: int, out_png: Path) -> list[str]:
    """Mined vs random cross-video pairs by true 3D PA-MPJPE on n toy poses; histogram PNG."""
    from handkit.mining._toyhands import sample_pool
    from handkit.mining.embed import embed_poses, fit_pca
    from handkit.mining.knn import search_other_videos
    from handkit.mining.pairs import pair_quality

    pool = sample_pool(-(-n // 30), 30, seed=7)
    uv = pool.keypoint_25d[..., :2] * 224
    lines, hists = [], {}
    for label, kw, pca in (("keep, 14-D PCA (default)", {}, 14), ("keep, no PCA", {}, None),
                           ("align, 14-D PCA", {"rotation": "align"}, 14)):
        x = embed_poses(uv, pool.is_right, **kw)
        x = fit_pca(x, pca).apply(x) if pca else x
        res = search_other_videos(x, pool.video, k=10, progress=False)
        mined, rand = pair_quality(pool.joints_3d, pool.is_right, pool.video, res.indices[:, 0])
        mined10, _ = pair_quality(pool.joints_3d, pool.is_right, pool.video, res.indices[:, 9])
        hists[label] = mined * 1000
        lines.append(f"| {label} | {1000 * np.median(mined):.1f} | {1000 * mined.mean():.1f} | "
                     f"{1000 * np.median(mined10):.1f} | {1000 * np.median(rand):.1f} | "
                     f"{1000 * rand.mean():.1f} |")
    hists["random cross-video pairs"] = rand * 1000
    _hist(hists, f"Top-1 mined pairs vs random pairs ({len(pool.video):,} toy poses, "
          f"{pool.video.max() + 1:,} videos)", out_png)
    return lines


def _child(mode: str, cache: Path, n: int) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--cache", str(cache), "--sizes", str(n)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} N={n} failed:\n{out.stderr[-2000:]}")
    sys.stderr.write(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000,2000000")
    ap.add_argument("--recall-n", type=int, default=100_000)
    ap.add_argument("--e2e", type=int, default=100_000, help="end-to-end size (0: skip)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "handkit-mining")
    ap.add_argument("--quality", type=int, default=0,
                    help="only the 3D quality check on this many toy poses (writes --png)")
    ap.add_argument("--synth", type=Path, help="only the quality check on this `handkit synth "
                    "hand100m` output folder (made with --synth-seed)")
    ap.add_argument("--synth-seed", type=int, default=0)
    ap.add_argument("--png", type=Path, default=Path("docs/img/mining_quality.png"))
    ap.add_argument("--child", choices=("core", "recall", "e2e", "generate"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.synth:
        print("| pool | mined top-1 median mm | mean | random median | random mean |\n"
              "|---|---:|---:|---:|---:|")
        print(quality_synth(args.synth, args.synth_seed, args.png))
        return
    if args.quality:
        print("| embedding | mined top-1 median mm | mean | top-10th median | random median | "
              "random mean |\n|---|---:|---:|---:|---:|---:|")
        print("\n".join(quality(args.quality, args.png)))
        return
    if args.child:
        fn = {"core": _worker, "recall": _recall, "e2e": _e2e,
              "generate": lambda c, n: {"n": len(_pool(c, n)["video"])}}[args.child]
        print(json.dumps(fn(args.cache, sizes[0])))
        return
    _child("generate", args.cache, max(sizes + [args.recall_n, args.e2e]))  # once, untimed
    print("| N poses | index | embed+PCA s | kNN s | total s | peak RSS GB | fallback queries |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n in sizes:
        r = _child("core", args.cache, n)
        print(f"| {n:,} | {r['index']} | {r['embed_s']:.1f} | {r['knn_s']:.1f} | "
              f"{r['total_s']:.1f} | {r['peak_rss_gb']:.2f} | {r['fallback']} |", flush=True)
    r = _child("recall", args.cache, args.recall_n)
    print(f"\nrecall@10 IVF vs exact on {r['n']:,} poses: {r['recall_at_10']:.4f}; top-1 "
          f"identical {r['top1_same']:.4f}; median top-1 distance ratio "
          f"{r['median_top1_dist_ratio']:.4f} (IVF {r['ivf_s']:.1f} s, exact {r['flat_s']:.1f} s)")
    if args.e2e:
        r = _child("e2e", args.cache, args.e2e)
        stages = ", ".join(f"{k} {r[k]:.1f}" for k in ("detect", "embed", "knn", "write"))
        print(f"end-to-end mine_annotations on {r['n']:,} poses (read JSON, labels, embed, kNN, "
              f"write JSON): {r['total_s']:.1f} s ({stages} s), peak RSS "
              f"{r['peak_rss_gb']:.2f} GB")


if __name__ == "__main__":
    main()
