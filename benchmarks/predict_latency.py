"""Latency of `handkit predict`'s parts: the network (torch eager vs onnxruntime, batch 1 and 8)
and, when mediapipe is installed (the optional extra), MediaPipe Hands per 224-px image.

Network: the shipped checkpoint (or --ckpt) on its crop size, network only (the crop and the
image I/O are the same for both runtimes). MediaPipe (in-process, docs/predict.md): its graph
on synthetic 224-px hands (one group MediaPipe found, one it did not: palm detector only), and
the one-off start-up costs. Tables give the
median of --repeats timed runs after a warm-up.
End to end (`--what end-to-end`): per image, MediaPipe alone beside handkit's predict path with
each finder (finder + crop + network + 3D; with MediaPipe also its default, MediaPipe's own
keypoints with their 3D placed under the assumed camera, no network), in one run.
Run alone: `flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/predict_latency.py`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from handkit.infer.export import (OnnxDetector, OnnxPoseNet, export_detector_onnx, export_onnx,
                                  onnx_session, run_onnx)
from handkit.infer.finders import (CentreFinder, DetectorFinder, HandkitFinder, MediaPipeFinder,
                                   load_detector)
from handkit.infer.pipeline import photo_K
from handkit.infer.predict import ASSUMED_BONE_M, place_finder_keypoints, predict_hand
from handkit.models.checkpoint import load_model
from handkit.external.mediapipe import MEDIAPIPE_SETUP, MediaPipeHands, mediapipe_available
from handkit.utils.timing import median_time


def _network(args) -> None:
    torch.set_num_threads(args.threads)
    net = load_model(args.ckpt)[0].eval()
    s = net.cfg.image_size
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        session = onnx_session(export_onnx(net, Path(tmp) / "model.onnx"), threads=args.threads)
        for batch in (1, 8):
            image = np.random.default_rng(0).standard_normal((batch, 3, s, s)).astype(np.float32)
            K = np.tile(np.array([[2.0 * s, 0, s / 2], [0, 2.0 * s, s / 2], [0, 0, 1]],
                                 np.float32), (batch, 1, 1))
            ti, tk = torch.from_numpy(image), torch.from_numpy(K)
            with torch.inference_mode():
                torch_ms = 1000 * median_time(lambda: net(ti, tk), args.repeats)[0]
            ort_ms = 1000 * median_time(lambda: run_onnx(session, image, K), args.repeats)[0]
            rows.append((batch, torch_ms, ort_ms))
    print(f"model: {net.cfg.name} {net.cfg.backbone} at {s} px, {args.threads} threads, "
          f"median of {args.repeats}")
    print("| batch | torch eager ms | onnxruntime ms | ORT speed-up |")
    print("|---:|---:|---:|---:|")
    for batch, a, b in rows:
        print(f"| {batch} | {a:.2f} | {b:.2f} | {a / b:.2f}× |")


def _synthetic_crops(n: int) -> np.ndarray:
    """(n, 224, 224, 3) uint8 synthetic right hands (FreiHAND layout, seed 0)."""
    from handkit.data.formats.freihand import FreiHAND
    from handkit.data.synth.runner import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        root = synthesize("freihand", Path(tmp) / "synth", n, seed=0, progress=False)
        return np.stack([s.image for split in ("training", "evaluation")
                         for s in FreiHAND(root, split, masks=False)])


def _mediapipe(repeats: int) -> None:
    images = _synthetic_crops(50)
    t0 = time.perf_counter()
    hands = MediaPipeHands()
    startup_ms = (time.perf_counter() - t0) * 1e3
    found = [bool(hands.hands(images[0]))]
    first_ms = hands.last_ms
    found += [bool(hands.hands(image)) for image in images[1:]]
    rows = []
    for label, want in (("hand found", True), ("no hand (palm detector only)", False)):
        group = [image for image, hit in zip(images, found) if hit == want]
        model, call = [], []
        for _ in range(repeats if group else 0):
            for image in group:
                t = time.perf_counter()
                hands.hands(image)
                call.append((time.perf_counter() - t) * 1e3)
                model.append(hands.last_ms)
        if group:
            rows.append((f"{label}, {len(group)} images", statistics.median(model),
                         statistics.median(call)))
    print(f"MediaPipe {hands.version} in-process, 224-px synthetic crops, MediaPipe's default "
          f"threading, median over {repeats} passes of each group")
    print("| image | graph process ms | MediaPipeHands.hands ms |")
    print("|---|---:|---:|")
    for label, model_ms, call_ms in rows:
        print(f"| {label} | {model_ms:.2f} | {call_ms:.2f} |")
    print(f"one-off: start-up {startup_ms:.0f} ms (of which `import mediapipe` "
          f"{hands.import_ms:.0f} ms, the graph {hands.init_ms:.0f} ms), then the first "
          f"image {first_ms:.0f} ms")


def _end_to_end(args, n_images: int = 12) -> None:
    """Per 224-px image, side by side: MediaPipe alone, and handkit's predict path (finder +
    crop + network + 3D, 1 pass, the network on torch eager or onnxruntime
    (`infer.export.OnnxPoseNet`); image decoding and the PNG writing left out,
    they are the same for every row), on synthetic hands MediaPipe finds and on ones it does
    not (its palm detector alone runs then)."""
    torch.set_num_threads(args.threads)
    net = load_model(args.ckpt)[0].eval()
    images = _synthetic_crops(50)
    mp = MediaPipeFinder() if mediapipe_available() else None
    found = [bool(mp.find_hands(im)) for im in images] if mp else [True] * len(images)
    groups = [(f"MediaPipe finds a hand ({min(n_images, sum(found))} images)",
               [im for im, f in zip(images, found) if f][:n_images])]
    if mp:
        groups.append((f"MediaPipe finds none ({min(n_images, len(found) - sum(found))} images)",
                       [im for im, f in zip(images, found) if not f][:n_images]))
    tmp = tempfile.TemporaryDirectory()
    ort = OnnxPoseNet(net, onnx_session(export_onnx(net, Path(tmp.name) / "m.onnx"),
                                        threads=args.threads))
    centre = CentreFinder()

    def run(finder, image, runner):
        for box in finder.find_hands(image)[:1]:
            predict_hand(runner, image, box.xyxy, passes=finder.passes, known=box.prediction)

    def run_finder_keypoints(image):
        for box in mp.find_hands(image)[:1]:
            place_finder_keypoints(box.keypoints, photo_K(*image.shape[:2]), net.unit,
                                   ASSUMED_BONE_M[net.unit])

    methods = []
    if mp:
        methods += [("MediaPipe Hands alone (2D)", lambda im: mp.find_hands(im))]
        methods += [("handkit predict, --detector mediapipe, its keypoints (the default; 2D + "
                     "placed 3D, no network)", run_finder_keypoints)]
        methods += [(f"handkit predict, --detector mediapipe, network on {name}",
                     lambda im, r=runner: run(mp, im, r)) for name, runner in
                    (("torch", net), ("onnxruntime", ort))]
    if args.detector_ckpt:
        detector = load_detector(args.detector_ckpt)
        onnx_detector = OnnxDetector(detector, onnx_session(export_detector_onnx(
            detector, Path(tmp.name) / "d.onnx"), threads=args.threads))
        for name, finder, runner in (
                ("torch, network on torch", DetectorFinder(detector, max_hands=1), net),
                ("onnxruntime, network on onnxruntime",
                 DetectorFinder(onnx_detector, max_hands=1), ort)):
            methods.append((f"handkit predict, --detector trained on {name}",
                            lambda im, f=finder, r=runner: run(f, im, r)))
    for name, runner in (("torch", net), ("onnxruntime", ort)):
        methods += [(f"handkit predict, --detector centre (no scoring), network on {name}",
                     lambda im, r=runner: run(centre, im, r))]
        for around in (4, 3):
            finder = HandkitFinder(runner, around=around)
            methods += [(f"handkit predict, --detector handkit ({around} shifted crops), "
                         f"network on {name}", lambda im, r=runner, f=finder: run(f, im, r))]
    table = {}
    for label, group in groups:
        for name, fn in methods:
            fn(group[0])  # warm-up
            times = []
            for _ in range(max(1, args.repeats // 10)):
                for image in group:
                    t = time.perf_counter()
                    fn(image)
                    times.append((time.perf_counter() - t) * 1e3)
            table.setdefault(name, []).append(statistics.median(times))
    tmp.cleanup()
    print(f"end to end per 224-px image, one run: {net.cfg.name} {net.cfg.backbone} at "
          f"{net.cfg.image_size} px, {args.threads} threads; MediaPipe "
          f"{'in-process' if mp else 'not installed'}; median over "
          f"{max(1, args.repeats // 10)} passes of each group")
    print("| method | " + " | ".join(label for label, _ in groups) + " |")
    print("|---|" + "---:|" * len(groups))
    for name, ms in table.items():
        print(f"| {name} | " + " | ".join(f"{m:.1f} ms" for m in ms) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ckpt", help="checkpoint (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--detector-ckpt", help="end to end: also time handkit's trained "
                        "hand detector (handkit train detector)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--what", default="all",
                        choices=["all", "network", "mediapipe", "end-to-end"])
    args = parser.parse_args()
    if args.what in ("all", "network"):
        _network(args)
    if args.what in ("all", "end-to-end"):
        _end_to_end(args)
    if args.what in ("all", "mediapipe"):
        if not mediapipe_available():
            if args.what == "mediapipe":
                raise SystemExit(f"mediapipe: not installed; {MEDIAPIPE_SETUP}")
            print("MediaPipe: not installed (docs/predict.md, 'MediaPipe'); skipped.")
        else:
            _mediapipe(args.repeats)


if __name__ == "__main__":
    main()
