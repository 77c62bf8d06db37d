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

The batch dimension is dynamic. Only the fixed camera is exported (``camera="intrinsics"``
would add a K input; not done).
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

__all__ = ["export_smhr_onnx", "compare_smhr_onnx", "DECODINGS"]

DECODINGS = {"outside": "the network's maps; decode in your code",
             "inside": "top-K hands decoded in the graph; apply the score threshold"}
_OUTPUTS = {"outside": ("hm", "handmap", "params"),
            "inside": ("score", "ind", "is_right", "uv", "xyz", "vertices")}


class _Graph(nn.Module):
    def __init__(self, net: SMHR, decoding: str) -> None:
        super().__init__()
        self.net, self.decoding = net, decoding

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        if self.decoding == "inside":
            out = self.net.decode_dense(image)
        else:
            out = self.net(image)
        return tuple(out[name] for name in _OUTPUTS[self.decoding])


def _net(ckpt: str | Path | SMHR) -> SMHR:
    net = ckpt if isinstance(ckpt, SMHR) else load_model(ckpt)[0]
    if not isinstance(net, SMHR):
        raise ValueError(f"{ckpt}: not an SMHR checkpoint; use infer.export.export_onnx.")
    if net.camera != "fixed" or not net.pick_hand:
        raise ValueError("export: only SMHR with camera='fixed' and pick_hand=True is "
                         "exported (the others change the graph's inputs or outputs).")
    return net.eval().cpu()


def export_smhr_onnx(ckpt: str | Path | SMHR, out: str | Path, *,
                     decoding: Literal["outside", "inside"] = "inside",
                     opset: int = OPSET) -> Path:
    """Write an SMHR model as ONNX (module doc); returns the path. ``<out>.json`` records the
    input size, normalisation, outputs and the score threshold."""
    check_choice(decoding, DECODINGS, name="decoding")
    net = _net(ckpt)
    s = net.image_size
    image = torch.randn(2, 3, s, s)  # 2, not 1: torch.export specialises size-1 dims
    batch = torch.export.Dim("batch", min=1)
    out = Path(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(_Graph(net, decoding), (image,), input_names=["image"],
                                    output_names=list(_OUTPUTS[decoding]), opset_version=opset,
                                    dynamo=True, dynamic_shapes=({0: batch},), verbose=False)
    with atomic_path(out) as tmp:
        program.save(str(tmp), external_data=False)
    write_json(Path(str(out) + ".json"), {
        "model": net.cfg.name, "backbone": net.cfg.backbone, "image_size": s,
        "batch": "dynamic", "inputs": ["image"], "decoding": decoding,
        "outputs": list(_OUTPUTS[decoding]), "score_threshold": net.score_threshold,
        "max_hands": net.max_hands, "hand_model": net.hand_model,
        "normalize": {"mean": net.normalize[0], "std": net.normalize[1]},
        "camera": {"focal_px": 512.0, "principal_point": "image centre"}})
    return out


def compare_smhr_onnx(ckpt: str | Path | SMHR, onnx_path: str | Path, *, batch: int = 3,
                      seed: int = 0) -> dict[str, float]:
    """Max |onnxruntime − torch| per output on one random batch (any batch size: the export
    used 2). Integer outputs (``ind``, ``is_right``) count mismatches."""
    net = _net(ckpt)
    decoding = "inside" if "score" in [o.name for o in onnx_session(onnx_path).get_outputs()] \
        else "outside"
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, net.image_size, net.image_size, generator=g)
    with torch.no_grad():
        ref = _Graph(net, decoding)(image)
    got = onnx_session(onnx_path).run(list(_OUTPUTS[decoding]), {"image": image.numpy()})
    return {name: float(np.abs(r.numpy().astype(np.float64) - o.astype(np.float64)).max())
            for name, r, o in zip(_OUTPUTS[decoding], ref, got)}
