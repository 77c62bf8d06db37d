"""SMHR fed the synthetic multi-hand world's own ground truth (tests/models, tests/infer).

`handkit synth multihand` stores, per hand, the OpenHand parameters that regenerate its labels
(``global_orient``, ``finger_pose`` already mirrored for a left hand, ``shape``, ``transl``).
Written into SMHR's ``params`` map at each hand's centre cell, in its side's half (left |
right), with the translation code (a, b, c) solved from ``transl`` at that cell, they must give
back the labels exactly: any disagreement between the world's and the model's joint order,
chirality, mirroring, frame, units or translation decoding shows up as a non-zero error.

"Exactly" is up to what annotations.json rounds (writers.MultiHandWriter): ``xyz``, ``transl``
and the parameters to 1e-6 (m, rad), ``uv`` to 1e-3 px, ``K`` to 1e-4 px. Worst-case error
budget per joint coordinate, every error at its maximum and aligned (`stored_world`'s world):

- 3D, root-relative: the label's rounding (joint and root) 1e-3 mm; the parameters' 5e-7 rad
  on the ≤ 12 angles of a joint's chain (root + 3 finger joints) at ≤ 0.2 m from the wrist,
  1.2e-3 mm; float32 (ulp 6e-8 m at the camera-frame depth ≤ 1 m, both ends) 2e-4 mm. Under
  2.5e-3 mm in all.
- 2D: the label's rounding 5e-4 px; the absolute 3D error (the chain's 1.2e-6 m plus
  ``transl``'s 5e-7 m) through f/z ≤ 320 px/m, 5.4e-4 px, and through the depth (≤ 64 px from
  the principal point), 2e-4 px; ``K``'s rounding 7e-5 px; float32 (ulp 7.6e-6 px below 128
  px) negligible. Under 1.5e-3 px.

The tests' bounds follow from these; a convention error (a wrong set, a missing mirror, a
swapped joint) costs tens of mm and several px.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from handkit.data.formats import open_dataset
from handkit.data.hands import collate_items
from handkit.data.smhr_inputs import SMHRItems
from handkit.data.synth.runner import synthesize
from handkit.models.smhr import decode_translation

PEAK = 0.9
"""Centre and handedness probability written at a hand's cell (any value above the model's 0.5
score threshold); every other cell gets the clamped sigmoid's floor 1e-4."""
_FLOOR_LOGIT = -20.0  # sigmoid < 1e-4: clamped to 1e-4 by SMHR.forward
DEPTH_OFFSET = 0.8
"""t_z = c + 0.8 for the axis-angle set (`handkit.models.smhr`, module doc)."""


def stored_world(root: Path, *, n: int = 4, seed: int = 1, size: int = 128):
    """A tiny synthetic multi-hand world (2-4 hands per image) and its raw annotations.

    Seed 1's 4 images hold 14 hands, 3 of them left, whose centre cells are at least 8 cells
    apart within an image (seed 0 has two hands 1 cell apart: SMHR's 5×5 NMS keeps one).

    Returns:
        (dataset of `Sample`s, list of the per-image ``hands`` records of annotations.json).
    """
    synthesize("multihand", root, n, seed=seed, size=size, progress=False)
    images = json.loads((Path(root) / "annotations.json").read_text())["images"]
    return open_dataset("multihand", root, "all"), [img["hands"] for img in images]


def stored_parameter_maps(net, dataset, hands: list[list[dict]], *, max_objs: int = 4
                          ) -> tuple[dict, dict[str, Tensor]]:
    """The test batch of `dataset` and SMHR maps holding every hand's stored parameters.

    The batch is SMHR's test input (`SMHRItems`, whole image, no augmentation), as
    `evaluate_multihand` builds it. The maps are raw network outputs (before SMHR.forward's
    sigmoid) of one batch of the whole world.

    Args:
        net: an SMHR with ``hand_model="openhand"``, ``param_set="axis_angle"``.
        dataset: the world's `Sample`s. hands: its annotation records (`stored_world`).
        max_objs: target slots of the batch (at least the most hands an image has).

    Returns:
        batch: the collated items (B images). maps: ``params`` (B, 2·set_size, h, w) float32,
        hand k's [3 root | 45 finger | 10 β | 3 code] in its side's half at its cell, 0
        elsewhere; ``hm`` (B, 1, h, w) and ``handmap`` (B, 2, h, w) logits with `PEAK` at each
        hand's cell (in its side's channel for ``handmap``).
    """
    assert net.hand_model == "openhand" and net.param_set == "axis_angle"
    items = SMHRItems(dataset, size=net.image_size, max_objs=max_objs, mode="whole",
                      augment=False)
    batch = collate_items([items[i] for i in range(len(items))])
    assert not batch["bad"]
    b, s = len(hands), net.set_size
    h = w = net.image_size // net.stride
    Ks = net.camera_K(torch.zeros(b, 3, net.image_size, net.image_size),
                      batch["K"] if net.uses_K else None).double()
    params = torch.zeros(b, 2 * s, h, w)
    hm = torch.full((b, 1, h, w), _FLOOR_LOGIT)
    handmap = torch.full((b, 2, h, w), _FLOOR_LOGIT)
    peak = float(torch.logit(torch.tensor(PEAK, dtype=torch.float64)))
    for i, image_hands in enumerate(hands):
        # whole mode labels every hand, in order: slot k is hand k
        assert int(batch["slot"][i].sum()) == len(image_hands)
        cells = batch["ind"][i, :len(image_hands)]
        assert len(set(cells.tolist())) == len(cells), "two hands share a centre cell"
        for k, hand in enumerate(image_hands):
            right = hand["handedness"] == "right"
            assert bool(batch["is_right"][i, k]) == right
            T = batch["T"][i].double().numpy()  # source px → input px
            uv = np.asarray(hand["uv"]) @ T[:2, :2].T + T[:2, 2]
            assert np.allclose(batch["uv"][i, k].numpy(), uv, atol=1e-3)
            ind = cells[k]
            transl = torch.tensor(hand["transl"], dtype=torch.float64)
            code = _translation_code(transl, ind, Ks[i], w, net.stride)
            vec = np.concatenate([hand["global_orient"], np.ravel(hand["finger_pose"]),
                                  hand["shape"], code.numpy()])
            y, x = divmod(int(ind), w)
            off = s if right else 0  # params = left set | right set
            params[i, off:off + s, y, x] = torch.from_numpy(vec).float()
            hm[i, 0, y, x] = peak
            handmap[i, int(right), y, x] = peak
    return batch, {"params": params, "hm": hm, "handmap": handmap}


def _translation_code(transl: Tensor, ind: Tensor, K: Tensor, map_width: int,
                      stride: int) -> Tensor:
    """(a, b, c) with `decode_translation(code, ind, K)` = `transl` (3,), float64: the inverse
    of t_z = c + 0.8, t_x = t_z (a + c_x − p_x) / f_x, t_y = t_z (b + c_y − p_y) / f_y."""
    cy, cx = divmod(int(ind), map_width)
    tx, ty, tz = transl.tolist()
    (fx, _, px), (_, fy, py), _ = K.tolist()
    code = torch.tensor([tx * fx / tz - stride * cx + px, ty * fy / tz - stride * cy + py,
                         tz - DEPTH_OFFSET], dtype=torch.float64)
    back = decode_translation(code, ind, K, map_width, stride=stride, depth_offset=DEPTH_OFFSET)
    assert torch.allclose(back, transl, rtol=0, atol=1e-12)
    return code


def inject(monkeypatch, net, maps: dict[str, Tensor]) -> None:
    """Make ``net.net`` (backbone + heads) return `maps` in place of its own outputs of the same
    names; the other heads keep the network's. Every call must be one batch of the whole world
    (the maps' B images, in dataset order). Injecting again replaces the earlier maps."""
    forward = type(net.net).forward  # the class's: a second injection does not chain

    def injected(x: Tensor) -> dict[str, Tensor]:
        out = forward(net.net, x)
        for name, value in maps.items():
            assert value.shape[0] == x.shape[0], "one batch must hold the whole world"
            assert value.shape[1:] == out[name].shape[1:], name
            out[name] = value.to(out[name])
        return out

    monkeypatch.setattr(net.net, "forward", injected)
