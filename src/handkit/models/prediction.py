"""The one prediction type every pose or mesh model returns: per image, any number of hands.

A single-hand crop model (RN_25D, DetNet) gives one hand per image; DIGIT gives two; SMHR gives
as many as it detects. Consumers (evaluation, `predict`, export) read the same fields whatever
the model, so a new method needs no edits outside its own files.

**Units of 3D.** A model says what it can know: ``unit="m"`` (meters), or ``unit="bone:A-B"``
(multiples of the length of the bone from joint A to joint B, e.g. RN_25D's middle MCP–PIP),
and ``frame="camera"`` (absolute, camera frame: x right, y down, z forward) or
``frame="root_relative"`` (wrist at the origin). `in_meters` turns bone units into meters
given that bone's metric length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
from torch import Tensor

from handkit.geometry.camera import apply_affine_2d
from handkit.hand.skeleton import JOINT_NAMES
from handkit.utils.check import check_choice, check_shape

__all__ = ["HandPrediction", "Prediction", "FRAMES", "bone_unit", "parse_unit"]

FRAMES = ("camera", "root_relative")


def bone_unit(a: str, b: str) -> str:
    """The unit string for "multiples of the length of bone a–b" (joint names of skeleton.py)."""
    for name in (a, b):
        check_choice(name, JOINT_NAMES, name="bone joint")
    return f"bone:{a}-{b}"


def parse_unit(unit: str) -> tuple[int, int] | None:
    """None for meters, else the (a, b) joint indices of a `bone_unit`.

    Raises:
        ValueError: a unit that is neither "m" nor "bone:A-B" with known joint names.
    """
    if unit == "m":
        return None
    if not unit.startswith("bone:") or unit.count("-") != 1:
        raise ValueError(f"unit: expected 'm' or 'bone:A-B', got {unit!r}.")
    a, b = unit[len("bone:"):].split("-")
    for name in (a, b):
        check_choice(name, JOINT_NAMES, name="unit joint")
    return JOINT_NAMES.index(a), JOINT_NAMES.index(b)


@dataclass(frozen=True)
class HandPrediction:
    """One predicted hand (tensors detached, on any device).

    Attributes:
        uv: (21, 2) float, pixels of the image the model was given, handkit order.
        xyz: (21, 3) float, in `unit`, in `frame`, handkit order.
        frame: "camera" or "root_relative" (wrist at the origin).
        unit: "m" or "bone:A-B" (`bone_unit`).
        is_right: the hand's side as the model predicts or was told.
        score: detection confidence in [0, 1], or None when the model does not detect.
        vertices: optional (V, 3) float, same unit and frame as `xyz` (faces on `Prediction`).
        extras: model-specific outputs (e.g. MANO parameters, heat-maps), by name.
    """

    uv: Tensor
    xyz: Tensor
    frame: Literal["camera", "root_relative"]
    unit: str
    is_right: bool = True
    score: float | None = None
    vertices: Tensor | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_shape(self.uv, "21 2", name="uv")
        check_shape(self.xyz, "21 3", name="xyz")
        check_choice(self.frame, FRAMES, name="frame")
        parse_unit(self.unit)
        if self.vertices is not None:
            check_shape(self.vertices, "V 3", name="vertices")

    def in_meters(self, bone_m: float | None = None) -> HandPrediction:
        """This hand with `xyz` (and vertices) in meters.

        Args:
            bone_m: metric length of the unit bone; required when `unit` is a bone.
        """
        if parse_unit(self.unit) is None:
            return self
        if bone_m is None:
            raise ValueError(f"bone_m: the prediction is in {self.unit!r}; give that bone's "
                             "length in meters.")
        scale = float(bone_m)
        return replace(self, unit="m", xyz=self.xyz * scale,
                       vertices=None if self.vertices is None else self.vertices * scale)


@dataclass(frozen=True)
class Prediction:
    """What a model predicts for a batch: ``hands[i]`` are image i's hands (maybe none).

    Attributes:
        hands: one tuple per image, each of any length.
        faces: optional (F, 3) int64 vertex indices shared by every hand's `vertices`.
    """

    hands: tuple[tuple[HandPrediction, ...], ...]
    faces: Tensor | None = None

    def __len__(self) -> int:
        return len(self.hands)

    @classmethod
    def one_hand_each(cls, uv: Tensor, xyz: Tensor, *, frame: str, unit: str,
                      is_right: Tensor | None = None, score: Tensor | None = None
                      ) -> Prediction:
        """A batch with exactly one hand per image (single-hand crop models).

        Args:
            uv: (B, 21, 2) float px. xyz: (B, 21, 3) float in `unit`, `frame`.
            is_right: optional (B,) bool (default: all right). score: optional (B,) float.
        """
        b = check_shape(uv, "B 21 2", name="uv")["B"]
        check_shape(xyz, f"{b} 21 3", name="xyz")
        uv, xyz = uv.detach(), xyz.detach()
        right = [True] * b if is_right is None else [bool(r) for r in is_right]
        scores = [None] * b if score is None else [float(s) for s in score]
        return cls(tuple((HandPrediction(uv[i], xyz[i], frame, unit, right[i], scores[i]),)
                         for i in range(b)))

    def map_uv(self, T: Tensor) -> Prediction:
        """Every image's 2D mapped by its own affine map (e.g. crop px → original image px).

        Args:
            T: (B, 3, 3) float, one 2D affine matrix per image (last row 0, 0, 1).
        """
        check_shape(T, f"{len(self)} 3 3", name="T")
        hands = tuple(tuple(replace(h, uv=apply_affine_2d(h.uv, T[i].to(h.uv))) for h in hs)
                      for i, hs in enumerate(self.hands))
        return replace(self, hands=hands)

    def stack(self, attribute: str = "uv") -> Tensor:
        """(B, 21, D) of one attribute when every image has exactly one hand (crop models)."""
        counts = {len(hs) for hs in self.hands}
        if counts != {1}:
            raise ValueError(f"stack: needs exactly one hand per image, got counts "
                             f"{sorted(counts)}; iterate over `hands` instead.")
        return torch.stack([getattr(hs[0], attribute) for hs in self.hands])
