"""One S2HAND SSL-e2e training step (forward, backward, Adam) on CPU, and the renderer's share.

The official network (EfficientNet-B3 random init, 2-stack hourglass with 256 features, the
texture/light head, OpenHand by default or MANO with --mano) at each --sizes, batch --batch,
the SSL-e2e loss list at the official weights, on random images with detections near the
initial projection. Per size, in a fresh process (so the peak RSS is that size's):

- step: median of --repeats timed steps after one warm-up (Adam at lr 0, so the mesh, and
  the rasteriser's work, is the same in every step), wall and process CPU time (all
  threads; steadier than the wall clock on a shared machine);
- no render: the same step without the two photometric terms (texture, mrgb), which are the
  only ones that render; the difference is the renderer's share of the step;
- render alone: forward + backward of `render.render` (silhouette, colour, depth) on the
  step's mesh and colours;
- peak RSS of the process (resource.getrusage), MiB.

Run alone: `flock /tmp/handkit-bench.lock nice -n 10 .venv/bin/python benchmarks/s2hand_step.py`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch

from handkit.utils.timing import median_time

E2E = ["tsa_poses", "open_2dj", "mscale", "open_bone_direc", "hm_integral", "kp_cons",
       "triangle", "mshape", "texture", "mtex", "mrgb"]


def _one_size(args) -> dict:
    from handkit.models.registry import create_model
    from handkit.render import PinholeCamera, render
    from handkit.tasks.s2hand import S2HandWeights

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    size, b = args.size, args.batch
    net = create_model("s2hand", backbone=args.backbone, image_size=size,
                       mano_dir=args.mano).train()
    # lr 0: Adam does all its work but the weights stay, so every timed step renders the same
    # initial mesh (a real step moves the random-init mesh anywhere, the rasteriser's cost with it)
    opt = torch.optim.Adam(net.parameters(), lr=0.0)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(b, 3, size, size, generator=g)
    f = 450.0 * size / 224
    K = torch.tensor([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]]).repeat(b, 1, 1)
    with torch.no_grad():
        det = net.run(images, K, heatmaps=False, texture=False, rendering=False).j2d
    det = det + torch.randn(det.shape, generator=g) * 3
    conf = torch.ones(b, 21)
    w = S2HandWeights()

    def step(losses):
        weights = {n: getattr(w, n) for n in losses}
        out = net.loss(images, uv=det, K=K, valid=conf, weights=weights)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()

    full = median_time(lambda: step(E2E), args.repeats)
    plain = median_time(lambda: step([n for n in E2E if n not in ("texture", "mrgb")]),
                      args.repeats)
    with torch.no_grad():
        out = net.run(images, K, heatmaps=False, rendering=False)
        colors = net.shade(out.vertices, out.textures, out.lights)
    verts = out.vertices.detach().requires_grad_(True)
    colors = colors.detach().requires_grad_(True)

    def render_only():
        r = render(verts, net.faces, PinholeCamera(K), size, attrs=colors,
                   outputs=("silhouette", "rgb", "depth"), sigma=net.render_sigma,
                   background=1.0)
        (r.rgb.sum() + r.silhouette.sum() + r.depth.sum()).backward()

    rend = median_time(render_only, args.repeats)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size": size, "batch": b, "step_s": full[0], "no_render_s": plain[0],
            "render_s": rend[0], "step_cpu_s": full[1], "no_render_cpu_s": plain[1],
            "render_cpu_s": rend[1],
            "peak_rss_mib": rss, "faces": net.hand.num_faces,
            "params": sum(p.numel() for p in net.parameters())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backbone", default="efficientnet_b3")
    p.add_argument("--mano", default=None, help="a MANO folder (default: OpenHand)")
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)  # one size, in a child process
    args = p.parse_args()
    if args.size is not None:
        print(json.dumps(_one_size(args)))
        return
    rows = []
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--size", str(size), "--batch", str(args.batch),
               "--threads", str(args.threads), "--repeats", str(args.repeats),
               "--backbone", args.backbone] + (["--mano", args.mano] if args.mano else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    r0 = rows[0]
    print(f"S2HAND SSL-e2e step: {args.backbone}, hourglass 2x2x256, "
          f"{'MANO' if args.mano else 'OpenHand'} ({r0['faces']} faces), {r0['params']:,} "
          f"parameters, batch {args.batch}, {args.threads} threads, median of {args.repeats}")
    print("| px | step s (CPU s) | without rendering s (CPU s) | renderer share (CPU) | "
          "render fwd+bwd s (CPU s) | peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        share = (r["step_cpu_s"] - r["no_render_cpu_s"]) / r["step_cpu_s"]
        print(f"| {r['size']} | {r['step_s']:.2f} ({r['step_cpu_s']:.2f}) | "
              f"{r['no_render_s']:.2f} ({r['no_render_cpu_s']:.2f}) | {share:.0%} | "
              f"{r['render_s']:.2f} ({r['render_cpu_s']:.2f}) | {r['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
