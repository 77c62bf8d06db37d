"""`predict` for single-stage multi-hand models (SMHR): every hand of every image.

Per image: read it robustly (`infer.predict.read_image_rgb`), scale it whole into the network's
square input (longer side to S, centred: `data.smhr_inputs.whole_matrix`; no detector, no
crop), decode every hand (`SMHR.predict`: NMS, top-K, score threshold), map the keypoints back
to the image's pixels, and write ``<stem>.json`` (every hand: score, handedness, 2D px, 3D and
its mesh file) and ``<stem>_overlay.png`` (meshes, boxes, skeletons by side). An image without
a hand gets ``"hands": []``; a bad image is skipped with a one-line reason.

**3D.** The model's 3D is in the camera of its input: with SMHR's fixed camera (f = 512 px at
the input size) depth is not metric (specs/mesh.md §3.4), which the JSON says. Meshes are
written in that frame, meters of the hand model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from handkit.data.crop import warp_crop
from handkit.data.smhr_inputs import whole_matrix
from handkit.eval.plots import image_mesh, multi_hand_overlay
from handkit.geometry.camera import apply_affine_2d
from handkit.hand.skeleton import JOINT_NAMES
from handkit.infer.predict import MESH_FORMATS, _inputs, read_image_rgb
from handkit.models.checkpoint import load_model, read_checkpoint
from handkit.utils.check import check_choice
from handkit.utils.files import write_json
from handkit.utils.mesh_io import write_mesh

__all__ = ["predict_multihand", "is_multihand_checkpoint", "MultiHandRun", "MULTI_HAND_MODELS"]

MULTI_HAND_MODELS = ("smhr",)
"""Registered models whose checkpoints `handkit predict` runs on whole images."""


@dataclass
class MultiHandRun:
    """What `predict_multihand` did: per image the hand count, the bad images with reasons."""

    hands: dict[str, int] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def summary(self) -> str:
        total = sum(self.hands.values())
        empty = sum(1 for n in self.hands.values() if n == 0)
        return (f"predict: {len(self.hands)} images, {total} hands ({empty} images without a "
                f"hand), {len(self.bad)} bad images")


def is_multihand_checkpoint(path: str | Path) -> bool:
    """Whether a checkpoint holds a `MULTI_HAND_MODELS` model (its config's model name)."""
    _, hparams = read_checkpoint(Path(path))
    config = hparams.get("config", {}) if isinstance(hparams, dict) else {}
    model = config.get("model", {}) if isinstance(config, dict) else {}
    return isinstance(model, dict) and model.get("name") in MULTI_HAND_MODELS


def _image_hands(net, image: np.ndarray, factor: float) -> tuple[list[dict], np.ndarray]:
    """Hands of one image: dicts with uv (original px), xyz, vertices, side, score, and the
    (3, 3) K of the image as shown (read) for the meshes."""
    h, w = image.shape[:2]
    T = whole_matrix(h, w, net.image_size)
    inp = torch.from_numpy(warp_crop(image, T, net.image_size)).permute(2, 0, 1)[None]
    x = net.preprocess(inp)
    with torch.no_grad():
        pred = net.predict(x)
    K_in = net.camera_K(x, None)[0].double().numpy()
    K_shown = np.linalg.inv(T) @ K_in  # the input's camera seen from the read image
    hands = []
    for hand in pred.hands[0]:
        uv_shown = apply_affine_2d(hand.uv.double().numpy(), np.linalg.inv(T))
        hands.append({"uv_shown": uv_shown, "uv": uv_shown * factor,
                      "xyz": hand.xyz.double().numpy(), "is_right": bool(hand.is_right),
                      "score": hand.score,
                      "vertices": None if hand.vertices is None
                      else hand.vertices.double().numpy()})
    faces = None if pred.faces is None else pred.faces.numpy()
    # `Prediction.faces` are the right hand's; a left hand is its mirror image, whose faces
    # wind the other way (hand.model module doc)
    return [dict(h, faces=None if faces is None else faces if h["is_right"] else faces[:, ::-1])
            for h in hands], K_shown


def predict_multihand(source: str | Path, *, ckpt: str | Path,
                      out_dir: str | Path = "runs/predict", mesh_format: str = "obj",
                      progress: bool = True) -> MultiHandRun:
    """Every hand of every image of a file or folder (module doc); bad images are reported,
    never raised.

    Args:
        ckpt: an SMHR checkpoint (`handkit train smhr`).
        out_dir: where ``<stem>.json``, ``<stem>_overlay.png`` and ``<stem>_hand<k>.<fmt>`` go.
        mesh_format: "obj" or "ply".
    """
    check_choice(mesh_format, MESH_FORMATS, name="mesh_format")
    net, _ = load_model(ckpt)
    net.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = MultiHandRun()
    for path in tqdm(_inputs(Path(source)), disable=not progress, desc="predict"):
        try:
            image, factor = read_image_rgb(path)
            hands, K_shown = _image_hands(net, image, factor)
        except (OSError, ValueError) as err:
            run.bad.append(f"{path}: {err}")
            continue
        stem = path.stem
        records = []
        for k, hand in enumerate(hands):
            mesh = None
            if hand["vertices"] is not None and hand["faces"] is not None:
                mesh_path = write_mesh(out / f"{stem}_hand{k}.{mesh_format}", hand["vertices"],
                                       hand["faces"], overwrite=False)
                mesh = {"file": Path(mesh_path).name, "frame": "camera of the network input",
                        "unit": "m (of the hand model)"}
                run.outputs.append(str(mesh_path))
            records.append({"score": hand["score"],
                            "handedness": "right" if hand["is_right"] else "left",
                            "keypoints_2d_px": hand["uv"].round(3).tolist(),
                            "keypoints_3d_cam": hand["xyz"].round(5).tolist(), "mesh": mesh})
        record = {"image": str(path), "hands": records, "joint_names": list(JOINT_NAMES),
                  "model": {"name": net.cfg.name, "backbone": net.cfg.backbone,
                            "image_size": net.image_size,
                            "score_threshold": net.score_threshold,
                            "max_hands": net.max_hands},
                  "assumptions": {"camera": net.camera,
                                  "depth": "not metric: SMHR's fixed f = 512 px camera"
                                  if net.camera == "fixed" else "the given intrinsics",
                                  "frame": "camera: x right, y down, z forward"}}
        run.outputs.append(str(write_json(out / f"{stem}.json", record)))
        meshes = [image_mesh(h["vertices"], h["faces"], K_shown)
                  if h["vertices"] is not None else None for h in hands]
        run.outputs.append(str(multi_hand_overlay(
            image, [h["uv_shown"] for h in hands], [h["is_right"] for h in hands],
            out / f"{stem}_overlay.png", scores=[h["score"] for h in hands], meshes=meshes,
            title=f"{path.name}: {len(hands)} hand{'s' if len(hands) != 1 else ''}")))
        run.hands[str(path)] = len(hands)
    return run
