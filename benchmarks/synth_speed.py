"""Synthetic-world throughput: labeled 224×224 single-hand FreiHAND images per second.

Each configuration runs `handkit synth freihand` end to end (pose, skin, render, labels, JPEG
image + mask files, JSON annotations) into a temporary folder, in a fresh process so peak
memory is its own. Prints a table; asserts nothing (times on a shared machine vary).

    flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/synth_speed.py --n 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time


def _one(n: int, workers: int, size: int) -> dict:
    from handkit.data.synth.runner import synthesize

    def cpu() -> float:
        usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        return sum(u.ru_utime + u.ru_stime for u in usage)

    with tempfile.TemporaryDirectory() as out:
        start, cpu0 = time.perf_counter(), cpu()
        synthesize("freihand", out, n=n, seed=0, size=size, workers=workers, progress=False)
        seconds, cpu_seconds = time.perf_counter() - start, cpu() - cpu0
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"workers": workers, "n": n, "seconds": seconds, "rate": n / seconds,
            "cpu_ms": cpu_seconds / n * 1000,
            "main_mb": self_kb / 1024, "worker_mb": child_kb / 1024}


def _stages(count: int, size: int) -> dict[str, float]:
    """Per-stage CPU milliseconds per image in this process (one hand, `size` px)."""
    import numpy as np
    import torch

    from handkit.data.synth import appearance as app
    from handkit.data.synth import scenes
    from handkit.data.synth.poses import random_rotation, sample_angles
    from handkit.data.synth.renderer import rasterize, shade, vertex_normals
    from handkit.data.synth.writers import save_image

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    faces = scenes._template()[2]
    timers = dict.fromkeys(["pose+LBS", "rasterize", "shade", "background", "finish", "scene total",
                            "jpeg write"], 0.0)

    def tick(name, fn):
        t = time.process_time()
        result = fn()
        timers[name] += time.process_time() - t
        return result

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            hand = tick("pose+LBS", lambda: scenes.pose_hand(rng, sample_angles(rng),
                                                             random_rotation(rng), "right"))
            K = scenes.freihand_camera(rng, size)
            hand = scenes.center_in_view([hand], K, (size, size), np.array([size / 2] * 2),
                                         scenes.fit_depth(hand.vertices, K[0, 0], 0.4 * size), 1.0)[0]
            v = hand.vertices.astype(np.float64)
            frags = tick("rasterize", lambda: rasterize(v, faces, K, size, size))
            lk = hand.look
            tick("shade", lambda: shade(frags, v, vertex_normals(v, faces), faces, hand.colors,
                                        lk.light_dir, lk.light_rgb, lk.ambient, lk.specular,
                                        lk.shininess))
            bg = tick("background", lambda: app.sample_background(rng, size, size))
            img = tick("finish", lambda: app.finish_image(rng, bg))
            tick("scene total", lambda: scenes.freihand_scene(0, i, size))
            tick("jpeg write", lambda: save_image(__import__("pathlib").Path(tmp) / f"{i}.jpg", img, 90))
    return {k: v / count * 1000 for k, v in timers.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="images per configuration")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--_one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._one is not None:
        print(json.dumps(_one(args.n, args._one, args.size)))
        return
    rows = []
    for w in args.workers:
        cmd = [sys.executable, __file__, "--n", str(args.n), "--size", str(args.size), "--_one", str(w)]
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                              text=True).stdout.strip().splitlines()[-1]))
    print(f"\nhandkit synth freihand, {args.size}x{args.size}, end to end (files written)\n")
    print("| workers | images | seconds | images/s | CPU ms / image | peak RSS main (MB) "
          "| peak RSS largest child (MB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['n']} | {r['seconds']:.1f} | {r['rate']:.0f} | "
              f"{r['cpu_ms']:.1f} | {r['main_mb']:.0f} | {r['worker_mb']:.0f} |")
    print("\nCPU ms / image counts every process (workers included); 1000 / it is the rate one free "
          "core would give.")
    stages = _stages(min(200, args.n), args.size)
    print("\nCPU ms per image by stage (one process):\n")
    print("| stage | ms |\n|---|---|")
    for k, v in stages.items():
        print(f"| {k} | {v:.2f} |")


if __name__ == "__main__":
    main()
