"""ONNX export of SMHR, with its decoding outside or inside the graph, and a parity check.

- ``decoding="outside"``: the network only. Input ``image`` (B, 3, S, S) float32, normalised
  as `SMHR.preprocess`; outputs ``hm`` (B, 1, S/4, S/4) and ``handmap`` (B, 2, ...) clamped
  sigmoid probabilities and ``params`` (B, 2·set, S/4, S/4): decode them as `SMHR.predict`
  does (NMS, top-K, threshold, hand model).
- ``decoding="inside"``: `SMHR.decode_dense` in the graph: outputs ``score`` (B, K),
  ``ind`` (B, K), ``is_right`` (B, K), ``uv`` (B, K, 21, 2) px, ``xyz`` (B, K, 21, 3) and
  ``vertices`` (B, K, V, 3) meters. The score threshold stays outside (a hand is kept when
  score ≥ the threshold written in ``<out>.json``): a graph's outputs have fixed shapes.
  The hand model (OpenHand or the user's MANO) is baked into the file: **an exported MANO
  graph contains MANO's data** and falls under its licence.

The batch dimension is dynamic. A ``camera="intrinsics"`` model decoded inside the graph takes
a second input ``K`` (B, 3, 3) float32, each image's pixel intrinsics **in the network input's
pixels** (the source K mapped by the resize to S×S, as `data.smhr_inputs` does); its outside
graph is the same network and takes no K (decode with yours). SMHR's fixed camera needs none.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from handkit.infer.export import OPSET, onnx_session
from handkit.models.checkpoint import load_model
from handkit.models.smhr import SMHR
from handkit.utils.check import check_choice
from handkit.utils.files import atomic_path, write_json

__all__ = ["export_smhr_onnx", "compare_smhr_onnx", "random_K", "DECODINGS"]

DECODINGS = {"outside": "the network's maps; decode in your code",
             "inside": "top-K hands decoded in the graph; apply the score threshold"}
_OUTPUTS = {"outside": ("hm", "handmap", "params"),
            "inside": ("score", "ind", "is_right", "uv", "xyz", "vertices")}


class _Graph(nn.Module):
    def __init__(self, net: SMHR, decoding: str) -> None:
        super().__init__()
        self.net, self.decoding = net, decoding

    def forward(self, image: Tensor, K: Tensor | None = None) -> tuple[Tensor, ...]:
        if self.decoding == "inside":
            out = self.net.decode_dense(image, K)
        else:
            out = self.net(image)
        return tuple(out[name] for name in _OUTPUTS[self.decoding])


def _net(ckpt: str | Path | SMHR) -> SMHR:
    net = ckpt if isinstance(ckpt, SMHR) else load_model(ckpt)[0]
    if not isinstance(net, SMHR):
        raise ValueError(f"{ckpt}: not an SMHR checkpoint; use infer.export.export_onnx.")
    if not net.pick_hand:
        raise ValueError("export: only SMHR with pick_hand=True is exported (without it the "
                         "graph has no handmap output).")
    return net.eval().cpu()


def _inputs(net: SMHR, decoding: str) -> tuple[str, ...]:
    """The graph's inputs: ``image``, and ``K`` for an intrinsics model decoded inside."""
    return ("image", "K") if net.uses_K and decoding == "inside" else ("image",)


def random_K(batch: int, size: int, generator: torch.Generator | None = None) -> Tensor:
    """(batch, 3, 3) float32 plausible pixel intrinsics of an S×S input, different per image:
    f_x, f_y in [0.8, 1.6]·S, principal point within ±0.1·S of the centre."""
    u = torch.rand(batch, 4, generator=generator)
    K = torch.zeros(batch, 3, 3)
    K[:, 0, 0], K[:, 1, 1] = (0.8 + 0.8 * u[:, 0]) * size, (0.8 + 0.8 * u[:, 1]) * size
    K[:, 0, 2], K[:, 1, 2] = (0.4 + 0.2 * u[:, 2]) * size, (0.4 + 0.2 * u[:, 3]) * size
    K[:, 2, 2] = 1.0
    return K


def export_smhr_onnx(ckpt: str | Path | SMHR, out: str | Path, *,
                     decoding: Literal["outside", "inside"] = "inside",
                     opset: int = OPSET) -> Path:
    """Write an SMHR model as ONNX (module doc); returns the path. ``<out>.json`` records the
    input size, normalisation, outputs and the score threshold."""
    check_choice(decoding, DECODINGS, name="decoding")
    net = _net(ckpt)
    s = net.image_size
    inputs = _inputs(net, decoding)
    image = torch.randn(2, 3, s, s)  # 2, not 1: torch.export specialises size-1 dims
    args = (image, random_K(2, s, torch.Generator().manual_seed(0))) if "K" in inputs \
        else (image,)
    batch = torch.export.Dim("batch", min=1)
    out = Path(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(_Graph(net, decoding), args, input_names=list(inputs),
                                    output_names=list(_OUTPUTS[decoding]), opset_version=opset,
                                    dynamo=True, dynamic_shapes=tuple({0: batch} for _ in args),
                                    verbose=False)
    with atomic_path(out) as tmp:
        program.save(str(tmp), external_data=False)
    write_json(Path(str(out) + ".json"), {
        "model": net.cfg.name, "backbone": net.cfg.backbone, "image_size": s,
        "batch": "dynamic", "inputs": list(inputs), "decoding": decoding,
        "outputs": list(_OUTPUTS[decoding]), "score_threshold": net.score_threshold,
        "max_hands": net.max_hands, "hand_model": net.hand_model,
        "normalize": {"mean": net.normalize[0], "std": net.normalize[1]},
        "camera": {"focal_px": 512.0, "principal_point": "image centre"} if net.camera == "fixed"
        else {"intrinsics": "input K (B, 3, 3), pixels of the S x S network input"
              if "K" in inputs else "decode with each image's K (not in this graph)"}})
    return out


def compare_smhr_onnx(ckpt: str | Path | SMHR, onnx_path: str | Path, *, batch: int = 3,
                      seed: int = 0) -> dict[str, float]:
    """Max |onnxruntime − torch| per output on one random batch (any batch size: the export
    used 2; an intrinsics model gets a different random K per image, `random_K`). Integer
    outputs (``ind``, ``is_right``) count mismatches."""
    net = _net(ckpt)
    decoding = "inside" if "score" in [o.name for o in onnx_session(onnx_path).get_outputs()] \
        else "outside"
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, net.image_size, net.image_size, generator=g)
    feeds = {"image": image}
    if "K" in _inputs(net, decoding):
        feeds["K"] = random_K(batch, net.image_size, g)
    with torch.no_grad():
        ref = _Graph(net, decoding)(*feeds.values())
    got = onnx_session(onnx_path).run(list(_OUTPUTS[decoding]),
                                      {k: v.numpy() for k, v in feeds.items()})
    return {name: float(np.abs(r.numpy().astype(np.float64) - o.astype(np.float64)).max())
            for name, r, o in zip(_OUTPUTS[decoding], ref, got)}
