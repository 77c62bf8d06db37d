"""ONNX export of a fine-tuned model, and an onnxruntime session that plays well with torch.

The exported graph is `PoseNet.forward`: inputs ``image`` (B, 3, S, S) float32, normalised as
`PoseNet.preprocess` does, and ``K`` (B, 3, 3) float32 crop intrinsics (rn25d only; DetNet needs
no camera); outputs ``uv`` (B, 21, 2) crop pixels and ``xyz`` (B, 21, 3) bone units (see
`models.posenet`). ``torch.onnx.export`` needs onnxscript.

The batch dimension is dynamic: one exported file serves any batch size. (Shape checks on the
way, `utils.check.check_shape` and `geometry.pose25d`, are written so that `torch.export` keeps
the batch symbolic; a test exports once and runs several batch sizes.)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from handkit.models.checkpoint import load_model
from handkit.models.posenet import PoseNet
from handkit.models.prediction import Prediction
from handkit.utils.files import atomic_path, write_json

__all__ = ["export_onnx", "onnx_session", "run_onnx", "compare_onnx", "OnnxPoseNet",
           "export_detector_onnx", "OnnxDetector", "DETECTOR_MAPS", "OPSET"]

OPSET = 18


class _ImageOnly(nn.Module):
    """DetNet's graph has no K input."""

    def __init__(self, net: PoseNet):
        super().__init__()
        self.net = net

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        return self.net(image, None)


def export_onnx(ckpt: str | Path | PoseNet | None, out: str | Path, *,
                opset: int = OPSET) -> Path:
    """Write the model as ONNX; returns the path.

    Args:
        ckpt: finetune/packed checkpoint, a `PoseNet`, or None (the shipped checkpoint).
        out: output ``.onnx`` file. A ``<out>.json`` beside it records the input size,
            normalisation and output units.
    """
    net = ckpt if isinstance(ckpt, PoseNet) else load_model(ckpt)[0]
    net = net.eval().cpu()
    s = net.cfg.image_size
    image = torch.randn(2, 3, s, s)  # 2, not 1: torch.export specialises size-1 dims
    K = torch.tensor([[s * 2.0, 0, s / 2], [0, s * 2.0, s / 2], [0, 0, 1]]).expand(2, 3, 3)
    module, args, names = ((net, (image, K.contiguous()), ["image", "K"])
                           if net.uses_K else (_ImageOnly(net), (image,), ["image"]))
    out = _export_program(module, args, names, ["uv", "xyz"], out, opset)
    meta = {"model": net.cfg.name, "backbone": net.cfg.backbone, "image_size": s, "batch": "dynamic",
            "inputs": names, "normalize": {"mean": net.normalize[0], "std": net.normalize[1]},
            "outputs": {"uv": "crop pixels, handkit order",
                        "xyz": f"unit {net.unit}, frame {net.frame}"}}
    write_json(Path(str(out) + ".json"), meta)
    return out


def _export_program(module: nn.Module, args: tuple, inputs: list[str], outputs: list[str],
                    out: str | Path, opset: int) -> Path:
    """`torch.onnx.export` (dynamo, batch dimension dynamic) written atomically to `out`."""
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, args, input_names=inputs, output_names=outputs,
                                    opset_version=opset, dynamo=True,
                                    dynamic_shapes=tuple({0: batch} for _ in args),
                                    verbose=False)
    out = Path(out)
    with atomic_path(out) as tmp:
        program.save(str(tmp), external_data=False)
    return out


class _DetectorMaps(nn.Module):
    """The detector's raw maps as a tuple, in `DETECTOR_MAPS` order."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        maps = self.net(image)
        return tuple(maps[name] for name in DETECTOR_MAPS)


DETECTOR_MAPS = ("hm", "size", "offset", "side")


def export_detector_onnx(net: nn.Module, out: str | Path, *, opset: int = OPSET) -> Path:
    """Write a `models.hand_detector.HandDetector` as ONNX: input ``image`` (B, 3, S, S) float32
    normalised (`HandDetector.preprocess`), outputs its raw maps `DETECTOR_MAPS` (B, C, S/8,
    S/8); decoding stays in `HandDetector.decode`. Returns the path."""
    s = net.image_size
    return _export_program(_DetectorMaps(net.eval().cpu()), (torch.randn(2, 3, s, s),),
                           ["image"], list(DETECTOR_MAPS), out, opset)


class OnnxDetector:
    """A `HandDetector` whose network runs in onnxruntime: what `infer.finders.DetectorFinder`
    uses of it (``image_size``, ``threshold``, ``detect``), decoding by the torch model."""

    runtime = "onnx"

    def __init__(self, net: nn.Module, session):
        self.net, self.session = net, session
        self.image_size, self.threshold = net.image_size, net.threshold

    def detect(self, images: Tensor, **decode_options) -> dict[str, Tensor]:
        """(B, 3, S, S) uint8 RGB letterboxed inputs → `HandDetector.decode`'s dict."""
        x = self.net.preprocess(images).numpy()
        maps = self.session.run(list(DETECTOR_MAPS), {"image": np.ascontiguousarray(x)})
        return self.net.decode({k: torch.from_numpy(v) for k, v in zip(DETECTOR_MAPS, maps)},
                               **decode_options)


def onnx_session(path: str | Path, *, threads: int = 1):
    """An onnxruntime CPU session that does not spin its threads (torch shares the process)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def run_onnx(session, image: np.ndarray, K: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Run an exported model: image (B, 3, S, S) float32 normalised, K (B, 3, 3) → (uv, xyz)."""
    names = [i.name for i in session.get_inputs()]
    feed = {"image": np.ascontiguousarray(image, dtype=np.float32)}
    if "K" in names:
        if K is None:
            raise ValueError("K: this model needs the crop intrinsics (B, 3, 3).")
        feed["K"] = np.ascontiguousarray(K, dtype=np.float32)
    uv, xyz = session.run(["uv", "xyz"], feed)
    return uv, xyz


class OnnxPoseNet:
    """A `PoseNet` whose network runs in onnxruntime: what the crop pipeline
    (`infer.pipeline.run_crops`, `infer.predict.predict_hand`) uses of a PoseNet (``cfg``,
    ``unit``, ``frame``, ``preprocess``, ``predict``), with ``predict`` on an exported graph.

    Args:
        net: the PoseNet that was exported (its preprocessing, sizes and units are used).
        session: `onnx_session` of `export_onnx(net, ...)`.
    """

    runtime = "onnx"

    def __init__(self, net: PoseNet, session):
        self.net, self.session = net, session
        self.cfg, self.unit, self.frame = net.cfg, net.unit, net.frame

    def parameters(self):
        return self.net.parameters()

    def preprocess(self, images: Tensor) -> Tensor:
        return self.net.preprocess(images)

    def predict(self, image: Tensor, K: Tensor) -> Prediction:
        """`PoseNet.predict` through onnxruntime: image (B, 3, S, S) normalised, K (B, 3, 3)
        crop intrinsics → one right hand per crop, 2D in crop pixels."""
        uv, xyz = run_onnx(self.session, image.detach().cpu().numpy(),
                           K.detach().cpu().numpy() if self.net.uses_K else None)
        return Prediction.one_hand_each(torch.from_numpy(uv), torch.from_numpy(xyz),
                                        frame=self.frame, unit=self.unit)


def compare_onnx(ckpt: str | Path | PoseNet | None, onnx_path: str | Path, *,
                 seed: int = 0) -> float:
    """Max absolute difference between torch and onnxruntime outputs on one random input."""
    net = ckpt if isinstance(ckpt, PoseNet) else load_model(ckpt)[0]
    session = onnx_session(onnx_path)
    b, s = 2, net.cfg.image_size
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(b, 3, s, s, generator=g)
    K = torch.tensor([[s * 2.0, 0, s / 2], [0, s * 2.0, s / 2], [0, 0, 1]]).expand(b, 3, 3)
    with torch.no_grad():
        ref = net.eval().cpu()(image, K.contiguous())
    got = run_onnx(session, image.numpy(), K.numpy())
    return max(float(np.abs(r.numpy() - o).max()) for r, o in zip(ref, got))
