"""Forward + backward time per image of handkit's renderer, side by side with references.

In one run, for each mesh, image size and output, the time of one forward + backward pass of a
batch (--batch 8 images; the loss is a fixed random weighting of the images, so every pixel
sends a gradient back), divided by the batch, and the peak memory of that pass:

  soft      `handkit.render.render(mode="soft")`: per-face windows in bucketed sizes (default)
  dense     the same soft rasteriser with ``windows="dense"`` (every face on every pixel): the
            non-windowed reference; it also checks that windowing changes nothing (images and
            vertex gradients against soft, first image). Run on one image per pass (its
            per-image time is what is compared) and skipped above --dense-max-pairs
            (face x pixel pairs), where it would need gigabytes
  hard      `render(mode="hard")`: z-buffer face ids without gradient, differentiable
            barycentrics (no silhouette gradient, pytorch3d's hard mode)
  deodr     DEODR 0.2.3 (optional extra ``pip install -e .[render-bench]``), its torch
            wrapper, image by image (it has no batch), float64, its own single-threaded C++
            antialiased z-buffer: a different method, timed on the same meshes and cameras

Outputs: ``silhouette``; ``colour`` (per-vertex white albedo lit by ambient + directional light
from the vertex normals, inside the timed graph, as S2HAND/SMHR shade); ``both`` (silhouette and
colour from one rasterisation; DEODR renders twice). Meshes: OpenHand (1214 vertices, 2404 faces)
and a MANO-sized mesh: MANO itself from --mano / $HANDKIT_MANO_DIR, else the fabricated
778-vertex, 1538-face pickle of tests/hand/_mano_fixture.py loaded by `hand.mano.MANO` (MANO's
counts and file layout, not its shape: a lifted Delaunay disk). Each image is posed differently
and framed by a pinhole K so the hand spans 80 % of the crop, as a hand crop does.

Time: median of --repeats passes after --warm untimed ones, wall clock and the process's CPU
time (all its threads; less sensitive to other sessions' load than wall time). Memory: the rise of the peak RSS
(Linux VmHWM, reset through /proc/self/clear_refs before each pass) over the RSS before it.
The 1-minute load average is printed beside each row: the machine is shared.

    flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/render_speed.py          # full
    .venv/bin/python benchmarks/render_speed.py --quick     # a try: 32 px, batch 2, "both"

Exit status 1 if windowed and dense disagree (tolerances in `check_agreement`).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from handkit.hand.mano import MANO
from handkit.hand.openhand import OpenHand
from handkit.render import (
    PinholeCamera,
    ambient_directional,
    render,
    vertex_colors,
    vertex_normals,
)

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = {"silhouette": ("silhouette",), "colour": ("rgb",), "both": ("silhouette", "rgb")}
RENDERERS = ("soft", "dense", "hard", "deodr")
PALM_TO_CAMERA = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # rest frame → camera
LIGHT = (0.3, -0.5, -1.0)  # towards the light, camera frame (as draw_mesh_overlay's)


@dataclass(frozen=True)
class Mesh:
    name: str
    verts: torch.Tensor  # (B, V, 3) float32, meters, camera frame, centred at z = DEPTH
    faces: torch.Tensor  # (F, 3) int64


DEPTH = 0.5  # meters from the camera


def _rot(axis: int, angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    i, j = [a for a in range(3) if a != axis]
    r = torch.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def _place(verts: torch.Tensor, seed: int) -> torch.Tensor:
    """(B, V, 3) rest-frame vertices → camera frame: palm to the camera, tilted by up to ±30°
    about x and y per image, centred on the optical axis at DEPTH."""
    g = torch.Generator().manual_seed(seed)
    tilt = (torch.rand(verts.shape[0], 2, generator=g) - 0.5) * math.radians(60)
    out = []
    for v, (a, b) in zip(verts, tilt.tolist()):
        r = _rot(1, b) @ _rot(0, a) @ PALM_TO_CAMERA
        v = (v - v.mean(0)) @ r.T
        out.append(v + torch.tensor([0.0, 0.0, DEPTH]))
    return torch.stack(out)


def openhand_mesh(batch: int) -> Mesh:
    """OpenHand in `batch` random, mildly flexed poses."""
    hand = OpenHand()
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(batch, 15, 3, generator=g) * 0.15
    out = hand(torch.zeros(batch, 3), pose)
    return Mesh("OpenHand", _place(out.vertices.detach(), 1), out.faces)


def _load_fixture():
    spec = importlib.util.spec_from_file_location("_mano_fixture",
                                                  ROOT / "tests" / "hand" / "_mano_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mano_mesh(batch: int, mano_dir: str | None) -> Mesh:
    """MANO (the user's file) or its fabricated stand-in, posed by small PCA coefficients."""
    with tempfile.TemporaryDirectory() as tmp:
        if mano_dir:
            model, name = MANO(mano_dir), "MANO"
        else:
            fixture = _load_fixture()
            path = fixture.write_mano_pickle(Path(tmp) / "MANO_RIGHT.pkl", fixture.mano_arrays())
            model, name = MANO(path, cache=False), "MANO-sized (fabricated)"
        g = torch.Generator().manual_seed(0)
        out = model.forward_mano(torch.zeros(batch, 3),
                                 finger_pca=torch.randn(batch, 6, generator=g) * 0.5)
    return Mesh(name, _place(out.vertices.detach(), 2), out.faces)


def crop_camera(verts: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, 3) K: principal point at the centre, f such that the widest image's projected
    extent is 80 % of the crop (one K per batch keeps the hands' relative sizes)."""
    xy = verts[..., :2] / verts[..., 2:]
    extent = (xy.amax(1) - xy.amin(1)).max()
    f = 0.8 * size / float(extent)
    k = torch.tensor([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]])
    return k.expand(verts.shape[0], 3, 3).contiguous()


def _shade(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, F, 3, 3) lit per-corner colours of a white hand (ambient 0.4, directional 0.6)."""
    d = torch.tensor(LIGHT, dtype=verts.dtype)
    light = ambient_directional(vertex_normals(verts, faces), ambient_intensity=0.4,
                                directional_intensity=0.6, direction=d / d.norm())
    return vertex_colors(light, faces)


class Pass:
    """One forward + backward of a renderer on a batch; returns (outputs, vertex gradient)."""

    def __init__(self, renderer: str, mesh: Mesh, size: int, output: str, batch: int):
        self.renderer, self.output, self.size = renderer, output, size
        self.verts = mesh.verts[:batch].contiguous()
        self.faces = mesh.faces
        self.K = crop_camera(mesh.verts, size)[:batch]
        # drawn for the whole mesh batch, then cut: the dense pass (batch 1) sees the same
        # weights on image 0 as the others
        g = torch.Generator().manual_seed(size)
        full = mesh.verts.shape[0]
        self.w_sil = torch.rand(full, size, size, generator=g)[:batch]
        self.w_rgb = torch.rand(full, size, size, 3, generator=g)[:batch]
        if renderer == "deodr":
            self._deodr_setup()

    def __call__(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        if self.renderer == "deodr":
            return self._deodr()
        verts = self.verts.clone().requires_grad_(True)
        names = OUTPUTS[self.output]
        attrs = _shade(verts, self.faces) if "rgb" in names else None
        kwargs = {"windows": "dense"} if self.renderer == "dense" else {}
        out = render(verts, self.faces, PinholeCamera(self.K), self.size, attrs=attrs,
                     outputs=names, mode="hard" if self.renderer == "hard" else "soft",
                     **kwargs)
        images = {n: getattr(out, n) for n in names}
        loss = sum((images[n] * (self.w_sil if n == "silhouette" else self.w_rgb)).sum()
                   for n in names)
        if loss.requires_grad:  # hard silhouette alone has no gradient
            loss.backward()
        grad = verts.grad if verts.grad is not None else torch.zeros_like(verts)
        return {n: v.detach() for n, v in images.items()}, grad

    def _deodr_setup(self) -> None:
        import deodr.pytorch as dp

        self._dp = dp
        extrinsic = np.hstack([np.eye(3), np.zeros((3, 1))])
        self.cameras = [dp.CameraPytorch(extrinsic, k.double().numpy(), self.size, self.size)
                        for k in self.K]

    def _deodr(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        dp = self._dp
        names = OUTPUTS[self.output]
        faces = self.faces.numpy()
        grads, images = [], {n: [] for n in names}
        for i, cam in enumerate(self.cameras):
            verts = self.verts[i].double().clone().requires_grad_(True)
            loss = 0.0
            for n in names:  # DEODR renders one image per call: twice for "both"
                mesh = dp.ColoredTriMeshPytorch(faces, vertices=verts,
                                                colors=torch.ones(len(verts), 3,
                                                                  dtype=torch.float64))
                scene = dp.Scene3DPytorch()
                scene.set_mesh(mesh)
                scene.set_background_color(np.zeros(3))
                direct = torch.tensor(LIGHT) if n == "rgb" else torch.zeros(3)
                # DEODR: luminosity = ambient + max(0, −n·d)
                scene.set_light(-direct.double() * 0.6 / direct.norm().clamp(min=1e-12),
                                torch.tensor(0.4 if n == "rgb" else 1.0, dtype=torch.float64))
                img = scene.render(cam)
                weight = self.w_rgb[i] if n == "rgb" else self.w_sil[i, ..., None].expand(
                    -1, -1, 3).contiguous()
                loss = loss + (img * weight.double()).sum()
                images[n].append(img.detach().float() if n == "rgb" else img[..., 0].detach().float())
            loss.backward()
            grads.append(verts.grad.float())
        return {n: torch.stack(v) for n, v in images.items()}, torch.stack(grads)


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def measure(fn, warm: int, repeats: int) -> tuple[float, float, float, object]:
    """Median wall and CPU seconds (all threads) of `fn` after `warm` calls, the peak memory
    rise (MiB) and the last result. CPU time is what other sessions' load changes least."""
    for _ in range(warm):
        fn()
    times, cpu, peak = [], [], 0.0
    result = None
    for _ in range(repeats):
        result = None
        if _LIBC is not None:
            _LIBC.malloc_trim(0)  # hand freed memory back so the baseline is what is alive
        before = _rss_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        peak = max(peak, (_rss_kib("VmHWM") - before) / 1024)
    return statistics.median(times), statistics.median(cpu), peak, result


def check_agreement(soft: tuple, dense: tuple) -> tuple[float, float, bool]:
    """Max |Δ| of the images (first image) and |Δg| / |g| of its vertex gradient.

    Windowing only skips pairs whose coverage is exactly 0 (beyond the soft edge's reach), so
    the two differ by float32 summation order: each pixel sums at most a few hundred terms of
    size ≤ 1 (rounding 6e-8 each), and 1e-4 is far above that and far below a missed face
    (whose coverage at its own pixels is ≥ 1/2).
    """
    (img_s, g_s), (img_d, g_d) = soft, dense
    d_img = max(float((img_s[n][:1] - img_d[n][:1]).abs().max()) for n in img_s)
    d_grad = float((g_s[:1] - g_d[:1]).norm() / g_d[:1].norm().clamp(min=1e-30))
    return d_img, d_grad, d_img <= 1e-4 and d_grad <= 1e-4


def _load() -> float:
    return os.getloadavg()[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="32 px, batch 2, silhouette + colour only, 1 timed pass, no warm-up: "
                         "a try (and the slow test) in seconds, not a measurement")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 224])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--warm", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--renderers", nargs="+", default=list(RENDERERS), choices=RENDERERS)
    ap.add_argument("--outputs", nargs="+", default=list(OUTPUTS), choices=list(OUTPUTS))
    ap.add_argument("--meshes", nargs="+", default=["openhand", "mano"],
                    choices=["openhand", "mano"])
    ap.add_argument("--dense-max-pairs", type=float, default=4e7,
                    help="skip the dense reference above this many face x pixel pairs per "
                         "image (~60 bytes each are kept for the backward pass)")
    ap.add_argument("--mano", default=None, help="MANO folder (else $HANDKIT_MANO_DIR, else "
                                                 "the fabricated MANO-sized mesh)")
    args = ap.parse_args(argv)
    if args.quick:  # every renderer and mesh, one small cell each
        args.sizes, args.batch, args.warm, args.repeats = [32], 2, 0, 1
        args.outputs = ["both"]
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*torch.cross.*")
    renderers = list(args.renderers)
    deodr_note = ""
    if "deodr" in renderers:
        try:
            import deodr  # noqa: F401  (optional extra)
            import deodr.pytorch  # noqa: F401
        except ImportError as err:
            renderers.remove("deodr")
            deodr_note = f"deodr: not installed ({err}); pip install -e .[render-bench]"
    mano_dir = args.mano or os.environ.get("HANDKIT_MANO_DIR")
    meshes = [openhand_mesh(args.batch) if m == "openhand" else mano_mesh(args.batch, mano_dir)
              for m in args.meshes]
    print(f"start: load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs; "
          f"batch {args.batch}, {args.warm} warm-up + median of {args.repeats}", flush=True)
    if deodr_note:
        print(deodr_note)
    rows, failed = [], False
    for mesh in meshes:
        nf = mesh.faces.shape[0]
        for size in args.sizes:
            for output in args.outputs:
                results = {}
                for name in renderers:
                    batch = 1 if name == "dense" else args.batch
                    if name == "dense" and nf * size * size > args.dense_max_pairs:
                        rows.append((mesh.name, size, output, name, None, None, None, None,
                                     f"skipped: {nf * size * size / 1e6:.0f}M pairs"))
                        continue
                    fn = Pass(name, mesh, size, output, batch)
                    sec, cpu, mib, res = measure(fn, args.warm if name != "dense" else 0,
                                            args.repeats if name != "dense" else 1)
                    results[name] = res
                    note = ""
                    if name == "dense" and "soft" in results:
                        d_img, d_grad, ok = check_agreement(results["soft"], res)
                        failed |= not ok
                        note = (f"vs soft: image {d_img:.0e}, grad {d_grad:.0e}"
                                f"{'' if ok else ' FAIL'}")
                    rows.append((mesh.name, size, output, name, sec / batch, cpu / batch, mib,
                                 _load(), note))
                    print(f"  {mesh.name} {size} px {output} {name}: {sec / batch:.4f} s/image",
                          file=sys.stderr, flush=True)
    print(f"end: load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| mesh | px | output | renderer | s / image (f+b) | CPU s / image | peak MiB | load "
          "| note |")
    print("|---|---:|---|---|---:|---:|---:|---:|---|")
    for mesh, size, output, name, sec, cpu, mib, load, note in rows:
        cells = ("-",) * 4 if sec is None else (f"{sec:.4f}", f"{cpu:.4f}", f"{mib:.0f}",
                                                f"{load:.1f}")
        print(f"| {mesh} | {size} | {output} | {name} | {' | '.join(cells)} | {note} |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
