"""Model latency of `handkit predict`'s network: torch eager vs onnxruntime, batch 1 and 8.

Measures the shipped checkpoint (or --ckpt) on its crop size, network only (the crop and the
image I/O are the same for both runtimes). Prints a table; the median of --repeats timed runs
after a warm-up. Run alone: `.venv/bin/python benchmarks/predict_latency.py`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from handkit.infer.export import export_onnx, onnx_session, run_onnx
from handkit.infer.model_io import load_posenet


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ckpt", help="checkpoint (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = load_posenet(args.ckpt)[0].eval()
    s = net.cfg.image_size
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (1, 8):
            image = np.random.default_rng(0).standard_normal((batch, 3, s, s)).astype(np.float32)
            K = np.tile(np.array([[2.0 * s, 0, s / 2], [0, 2.0 * s, s / 2], [0, 0, 1]],
                                 np.float32), (batch, 1, 1))
            ti, tk = torch.from_numpy(image), torch.from_numpy(K)
            with torch.inference_mode():
                torch_ms = _median_ms(lambda: net(ti, tk), args.repeats)
            path = export_onnx(net, Path(tmp) / f"b{batch}.onnx", batch=batch)
            session = onnx_session(path, threads=args.threads)
            ort_ms = _median_ms(lambda: run_onnx(session, image, K), args.repeats)
            rows.append((batch, torch_ms, ort_ms))
    print(f"model: {net.cfg.name} {net.cfg.backbone} at {s} px, {args.threads} threads, "
          f"median of {args.repeats}")
    print("| batch | torch eager ms | onnxruntime ms | ORT speed-up |")
    print("|---:|---:|---:|---:|")
    for batch, a, b in rows:
        print(f"| {batch} | {a:.2f} | {b:.2f} | {a / b:.2f}× |")


if __name__ == "__main__":
    main()
