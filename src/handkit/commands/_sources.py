"""The 2D keypoint source of the verbs that detect hands (`handkit mine`, `handkit detect2d`)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["keypoint_source"]


def keypoint_source(detector: str, model: Path | None, min_confidence: float):
    """A `mining.detect2d` source: ``"mediapipe"``, ``"model"`` (a TorchScript .pt or
    torch.export .pt2 file), or None for ``"labels"``."""
    from handkit.mining.detect2d import MediaPipeKeypoints, ModelKeypoints

    if detector == "mediapipe":
        return MediaPipeKeypoints(min_confidence=min_confidence)
    if detector == "model":
        import torch

        if model is None or not Path(model).is_file():
            raise FileNotFoundError(f"--model: {model} not found (needed by --detector model).")
        model = Path(model)
        try:
            module = torch.export.load(str(model)).module() if model.suffix == ".pt2" \
                else torch.jit.load(str(model), map_location="cpu")
        except Exception as err:  # torch raises RuntimeError, ValueError, EOFError, ... here
            why = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(f"--model: {model}: not a readable TorchScript (.pt) or "
                             f"torch.export (.pt2) file ({why[:200]}).") from err
        return ModelKeypoints(module, min_confidence=min_confidence)
    return None
