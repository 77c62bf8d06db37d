"""S2HAND (Chen et al., CVPR 2021): self-supervised hand mesh from an image and 2D detections
(specs/mesh.md §2, docs/s2hand.md).

Data flow of `S2Hand.run` (§2.1): the image (B, 3, S, S) in [0, 1] goes

1. to the 2D branch: zero-padded right/bottom to a multiple of 64 (224 → 256), shifted by
   −0.5, a stacked hourglass, integral keypoints per stack (``hm_uv``, pixels);
2. to the 3D branch: a timm encoder (EfficientNet-B3, random init), the MLP decoder to 30 PCA
   pose coefficients, shape, scale, translation and rotation, the hand model in S2HAND's root
   convention, and the camera frame X_cam = t + |s| · X (§2.3: full perspective, no weak
   perspective anywhere);
3. to the texture/light head on the encoder's stride-4 feature: per-face colours and 11 light
   numbers;
4. through handkit's renderer (`render.render`, soft rasteriser) with the dataset's K:
   colour (white background), depth (0 background), silhouette;
5. the joints, handkit (= FreiHAND) order, projected with K: ``j2d``.

**Hand models, one code path** (`S2HandHand`): ``hand_model`` "mano" (the user's folder:
``mano_dir``, else ``HANDKIT_MANO_DIR``; a recorded folder missing on this machine falls back to
the variable, `hand.mano_file.resolve_mano_dir`) or "openhand"; unset, it is "mano" when
``mano_dir`` is given, else OpenHand. MANO: 30 PCA coefficients on the mean hand, root fixed to (π, 0, 0), ``rot`` about the origin,
FreiHAND's tip vertices: exactly §1.5) or, by default, the license-free OpenHand with the same
structure: its PCA basis is fitted once on the synthetic world's pose sampler (deterministic,
seed 0), its root is fixed to (π, 0, 0) about the wrist (= its origin) and ``rot`` turns the
result about the origin. The pose prior reads MANO's raw skinning axis-angle with S2HAND's box;
for OpenHand it reads the anatomical (twist, abduction, flexion) angles with OpenHand's own
`JOINT_LIMITS` (its raw axis-angle frames are not MANO's), same weights (1, 1, 2).

**Lighting** (§2.4): colour = tanh(texture) ⊙ (I_a c_a + I_d c_d max(0, n·d)) with
neural_renderer's face normal (v₀ − v₁) × (v₂ − v₁), which is −`render.face_normals`.
Differences from neural_renderer, on purpose: the soft rasteriser's gradients (SoftRas)
instead of NR's approximate edge gradients, no 2× anti-aliasing (the soft coverage already is
fractional), and each face is drawn once with its own colour from both sides (NR's
``fill_back`` draws a reversed copy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from handkit.data.synth.poses import sample_angles
from handkit.geometry.camera import project
from handkit.hand.mano import MANO, S2HAND_ROOT, resolve_mano_dir
from handkit.hand.model import aa_to_rotmat
from handkit.hand.openhand import JOINT_LIMITS, OpenHand, angles_to_pose, pose_to_angles
from handkit.losses import s2hand as L
from handkit.models.posenet import PoseNet
from handkit.models.prediction import HandPrediction, Prediction
from handkit.models.registry import ModelConfig, register_model
from handkit.models.s2hand_nets import (HandDecoder, StackedHourglass, TextureLightHead,
                                        TimmEncoder, integral_uv)
from handkit.render import PinholeCamera, ambient_directional, face_normals, render
from handkit.utils.check import check_choice, check_shape

__all__ = ["S2Hand", "S2HandHand", "S2HandOutput", "HandGeometry", "openhand_pca", "HAND_MODELS",
           "LOSS_NAMES", "PARTS_OF_LOSS", "s2hand"]

LOSS_NAMES = ("open_2dj", "hm_integral", "kp_cons", "open_bone_direc", "mscale", "tsa_poses",
              "mshape", "triangle", "texture", "mrgb", "mtex", "sil", "bone_len_2d")
"""Every term `S2Hand.loss` computes (specs/mesh.md §2.5, and handkit's ``bone_len_2d`` depth
anchor, in no official config); a stage lists the ones that count."""
PARTS_OF_LOSS = {
    "open_2dj": {"hand"}, "hm_integral": {"heatmaps"}, "kp_cons": {"heatmaps", "hand"},
    "open_bone_direc": {"hand"}, "mscale": {"hand"}, "tsa_poses": {"hand"}, "mshape": {"hand"},
    "triangle": {"hand"}, "texture": {"hand", "render"}, "mrgb": {"hand", "render"},
    "mtex": {"hand", "texture"}, "sil": {"hand", "render"}, "bone_len_2d": {"hand"},
}
"""Which parts of the network each loss needs (SSL-kp runs the hourglass only, SSL-shape the
3D branch only, as the official ``hm_train`` / ``train`` tasks)."""
_OPENHAND_PCA_SAMPLES = 4096


@lru_cache(maxsize=1)
def openhand_pca(samples: int = _OPENHAND_PCA_SAMPLES) -> tuple[Tensor, Tensor]:
    """OpenHand's finger-pose PCA, MANO's ``hands_mean`` / ``hands_components`` counterpart.

    Fitted on `samples` poses of the synthetic world's sampler (``numpy`` generator seed 0:
    the same basis on every machine), as axis-angle `finger_pose` (15 × 3, handkit
    ``POSE_JOINTS`` order).

    Returns:
        mean (45,) float64 radians; components (45, 45) float64, one per row, ordered by
        variance and scaled by their standard deviation (as MANO's rows), so coefficients are
        ~N(0, 1) on the sampler's poses.
    """
    rng = np.random.default_rng(0)
    angles = np.stack([sample_angles(rng) for _ in range(samples)])
    pose = angles_to_pose(torch.as_tensor(angles, dtype=torch.float64)).reshape(samples, 45)
    mean = pose.mean(0)
    _, s, vh = torch.linalg.svd(pose - mean, full_matrices=False)
    sigma = s / (samples - 1) ** 0.5
    return mean, vh * sigma[:, None]


HAND_MODELS = {"mano": "MANO from your files (mano_dir, else HANDKIT_MANO_DIR)",
               "openhand": "handkit's license-free OpenHand (no files)"}


@dataclass(frozen=True)
class HandGeometry:
    """What `S2HandHand` returns (model frame, before S2HAND's |s| and t)."""

    vertices: Tensor  # (B, V, 3) float, meters
    joints: Tensor  # (B, 21, 3) float, meters, handkit (= FreiHAND) order
    prior_pose: Tensor  # (B, 16, 3) float, radians: what the tsa_poses box reads
    prior_low: Tensor  # (16, 3) radians
    prior_high: Tensor  # (16, 3) radians


class S2HandHand(nn.Module):
    """The hand model of S2HAND behind one interface: MANO or OpenHand (`HAND_MODELS`).

    ``forward(pose (B, num_pose) PCA coefficients, shape (B, 10), rot (B, 3) axis-angle)`` →
    `HandGeometry`: the skinning root fixed to (π, 0, 0) about the wrist, then `rot` about the
    model's origin (module doc).

    Attributes:
        bone_m: the mean-scale prior's middle MCP–PIP length, meters: S2HAND's 0.0282 for MANO;
            OpenHand's own mean hand's (0.045 m: its proportions are not MANO's, and pulling
            its bone to 28 mm would shrink every hand to 63 %).

    Args:
        mano_dir: a MANO folder, or None (MANO: ``HANDKIT_MANO_DIR``).
        num_pose: PCA coefficients (30).
        hand_model: `HAND_MODELS`, or None: "mano" when `mano_dir` is given, else "openhand".
    """

    def __init__(self, mano_dir: str | Path | None = None, num_pose: int = 30,
                 hand_model: str | None = None):
        super().__init__()
        if not 1 <= num_pose <= 45:
            raise ValueError(f"num_pose: expected 1 to 45 PCA coefficients, got {num_pose}.")
        self.num_pose = num_pose
        hand_model = hand_model or ("mano" if mano_dir else "openhand")
        check_choice(hand_model, HAND_MODELS, name="hand_model")
        if hand_model == "openhand" and mano_dir:
            raise ValueError(f"hand_model: 'openhand' with mano_dir {mano_dir}; drop one.")
        if hand_model == "mano":
            self.kind = "mano"
            self.model = MANO(resolve_mano_dir(mano_dir), root_mode="s2hand", tips="freihand")
            low, high = L.tsa_bounds(torch.float32)
            self.bone_m = L.MEAN_BONE_M
        else:
            self.kind = "openhand"
            self.model = OpenHand()
            mean, comps = openhand_pca()
            self.register_buffer("pca_mean", mean.float(), persistent=False)
            self.register_buffer("pca_components", comps[:num_pose].float(), persistent=False)
            root_low, root_high = L.tsa_bounds(torch.float32)
            low = torch.cat([root_low[:1], JOINT_LIMITS[..., 0].float()])
            high = torch.cat([root_high[:1], JOINT_LIMITS[..., 1].float()])
            rest = self.model.rest_joints(torch.zeros(1, self.model.num_shape))[0]
            self.bone_m = float((rest[9] - rest[10]).norm())
        self.register_buffer("prior_low", low, persistent=False)
        self.register_buffer("prior_high", high, persistent=False)

    @property
    def faces(self) -> Tensor:
        return self.model.faces

    @property
    def num_faces(self) -> int:
        return int(self.model.faces.shape[0])

    def forward(self, pose: Tensor, shape: Tensor, rot: Tensor) -> HandGeometry:
        b = check_shape(pose, f"B {self.num_pose}", name="pose")["B"]
        check_shape(rot, f"{b} 3", name="rot")
        if self.kind == "mano":
            out = self.model.forward_mano(rot, finger_pca=pose, shape=shape)
            return HandGeometry(out.vertices, out.joints, out.full_pose, self.prior_low,
                                self.prior_high)
        finger = (self.pca_mean + pose @ self.pca_components).reshape(b, 15, 3)
        root = rot.new_tensor(S2HAND_ROOT).expand(b, 3)
        out = self.model(root, finger, shape)
        turn = aa_to_rotmat(rot).transpose(1, 2)  # rows → x R(rot)ᵀ, about the origin (wrist)
        prior = torch.cat([root[:, None], pose_to_angles(finger)], dim=1)
        return HandGeometry(out.vertices @ turn, out.joints @ turn, prior, self.prior_low,
                            self.prior_high)


@dataclass(frozen=True)
class S2HandOutput:
    """Everything one S2HAND pass computes; a part not run is None (``run``'s flags)."""

    heatmaps: list[Tensor] | None  # per stack (B, 21, P/4, P/4) logits
    hm_uv: list[Tensor] | None  # per stack (B, 21, 2) px of the input image
    pose: Tensor | None  # (B, num_pose) PCA coefficients
    shape: Tensor | None  # (B, 10) (zeros with use_mean_shape)
    scale: Tensor | None  # (B, 1) unitless (|s| is used)
    trans: Tensor | None  # (B, 3) meters, camera frame
    rot: Tensor | None  # (B, 3) axis-angle, radians, about the model origin
    vertices: Tensor | None  # (B, V, 3) meters, camera frame
    joints: Tensor | None  # (B, 21, 3) meters, camera frame, handkit order
    j2d: Tensor | None  # (B, 21, 2) px, joints projected with K
    prior_pose: Tensor | None  # (B, 16, 3) radians (tsa_poses input)
    textures: Tensor | None  # (B, F, 3) face colours before tanh
    lights: Tensor | None  # (B, 11)
    rgb: Tensor | None  # (B, S, S, 3) in [0, 1]-ish, white background
    depth: Tensor | None  # (B, S, S) meters, 0 background
    silhouette: Tensor | None  # (B, S, S) in [0, 1]


class S2Hand(PoseNet):
    """S2HAND's network (module doc) with handkit's model contract.

    ``forward(image, K) -> (uv, xyz)``: projected joints (px) and camera-frame joints (m), the
    exported graph. ``run`` returns every intermediate (`S2HandOutput`); ``predict`` a
    `Prediction` with the mesh; ``loss`` the self-supervised loss of a stage.

    Args:
        cfg: how it was built. encoder: `TimmEncoder`. hourglass: `StackedHourglass`.
        hand: `S2HandHand`. use_mean_shape: S2HAND's default True (shape is never estimated:
            the regressed β is replaced by zeros, so ``mshape`` is 0). render_sigma: the soft
            rasteriser's edge width, px².
    """

    frame = "camera"
    unit = "m"
    normalize = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # plain to_tensor: [0, 1], no mean/std
    uses_K = True

    def __init__(self, cfg: ModelConfig, encoder: TimmEncoder, hourglass: StackedHourglass,
                 hand: S2HandHand, *, use_mean_shape: bool = True, render_sigma: float = 0.5):
        nn.Module.__init__(self)
        self.cfg = cfg
        self.encoder, self.hourglass, self.hand = encoder, hourglass, hand
        self.decoder = HandDecoder(encoder.out_channels, hand.num_pose)
        self.texture_light = TextureLightHead(encoder.low_channels, hand.num_faces)
        self.use_mean_shape, self.render_sigma = use_mean_shape, render_sigma

    @property
    def faces(self) -> Tensor:
        return self.hand.faces

    # ---- the four parts -------------------------------------------------------------------
    def run_heatmaps(self, image: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """(B, 3, S, S) in [0, 1] → (heat-maps per stack, keypoints per stack (B, 21, 2) px)."""
        size = image.shape[-1]
        m = self.hourglass.multiple
        padded = -(-size // m) * m
        # pad with zeros, then shift: the padding is −0.5, as the official order (§2.1)
        x = F.pad(image, (0, padded - image.shape[-1], 0, padded - image.shape[-2])) - 0.5
        heatmaps, _ = self.hourglass(x)
        return heatmaps, [integral_uv(hm, padded) for hm in heatmaps]

    def run_hand(self, low_and_global: tuple[Tensor, Tensor], K: Tensor) -> dict[str, Tensor]:
        glob, _ = low_and_global
        p = self.decoder(glob)
        shape = torch.zeros_like(p["shape"]) if self.use_mean_shape else p["shape"]
        geo = self.hand(p["pose"], shape, p["rot"])
        scale = p["scale"].abs()[:, :, None]
        verts = p["trans"][:, None] + scale * geo.vertices
        joints = p["trans"][:, None] + scale * geo.joints
        return {"pose": p["pose"], "shape": shape, "scale": p["scale"], "trans": p["trans"],
                "rot": p["rot"], "vertices": verts, "joints": joints,
                "j2d": project(joints, K), "prior_pose": geo.prior_pose}

    def shade(self, vertices: Tensor, textures: Tensor, lights: Tensor) -> Tensor:
        """Flat face colours (B, F, 3): tanh(texture) ⊙ neural_renderer's ambient + directional
        light, with its normal −`face_normals` (module doc)."""
        normals = -face_normals(vertices, self.faces)
        light = ambient_directional(normals, ambient_intensity=lights[:, 0],
                                    directional_intensity=lights[:, 1],
                                    ambient_color=lights[:, 2:5],
                                    directional_color=lights[:, 5:8], direction=lights[:, 8:11])
        return torch.tanh(textures) * light

    def run(self, image: Tensor, K: Tensor, *, heatmaps: bool = True, hand: bool = True,
            texture: bool = True, rendering: bool = True) -> S2HandOutput:
        """One pass of the parts asked for (a part another needs is run too).

        Args:
            image: (B, 3, S, S) float in [0, 1] (`preprocess`). K: (B, 3, 3) px intrinsics of
                this image (the dataset's, after crop and augmentation).
            heatmaps, hand, texture, rendering: which parts to run.

        Returns:
            `S2HandOutput`.
        """
        b = check_shape(image, "B 3 S S", name="image",
                        hint="S2HAND takes square (B, 3, S, S) images in [0, 1].")["B"]
        check_shape(K, f"{b} 3 3", name="K")
        hm = hm_uv = None
        if heatmaps:
            hm, hm_uv = self.run_heatmaps(image)
        geo: dict[str, Tensor] = {}
        textures = lights = rgb = depth = sil = None
        if hand or texture or rendering:
            feats = self.encoder(image)
            geo = self.run_hand(feats, K)
            if texture or rendering:
                textures, lights = self.texture_light(feats[1])
            if rendering:
                colors = self.shade(geo["vertices"], textures, lights)
                out = render(geo["vertices"], self.faces, PinholeCamera(K), image.shape[-1],
                             attrs=colors, outputs=("silhouette", "rgb", "depth"),
                             sigma=self.render_sigma, background=1.0, background_depth=0.0)
                rgb, depth, sil = out.rgb, out.depth, out.silhouette
        return S2HandOutput(heatmaps=hm, hm_uv=hm_uv, pose=geo.get("pose"),
                            shape=geo.get("shape"), scale=geo.get("scale"),
                            trans=geo.get("trans"), rot=geo.get("rot"),
                            vertices=geo.get("vertices"), joints=geo.get("joints"),
                            j2d=geo.get("j2d"), prior_pose=geo.get("prior_pose"),
                            textures=textures, lights=lights, rgb=rgb, depth=depth,
                            silhouette=sil)

    # ---- the contract ---------------------------------------------------------------------
    def forward(self, image: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
        out = self.run(image, K, heatmaps=False, texture=False, rendering=False)
        return out.j2d, out.joints

    @torch.no_grad()
    def predict(self, image: Tensor, K: Tensor) -> Prediction:
        """One right hand per image: ``uv`` the projected joints (px), ``xyz`` camera-frame
        joints (m), ``vertices`` the camera-frame mesh (faces on the `Prediction`); extras:
        ``hm_uv`` (21, 2) px of the 2D branch's last stack, the decoder's ``pose``, ``shape``,
        ``scale``, ``trans``, ``rot``."""
        out = self.run(image, K, texture=False, rendering=False)
        hands = []
        for i in range(image.shape[0]):
            extras = {"hm_uv": out.hm_uv[-1][i], "pose": out.pose[i], "shape": out.shape[i],
                      "scale": out.scale[i], "trans": out.trans[i], "rot": out.rot[i]}
            hands.append((HandPrediction(out.j2d[i], out.joints[i], "camera", "m",
                                         vertices=out.vertices[i], extras=extras),))
        return Prediction(tuple(hands), faces=self.faces)

    def loss(self, images: Tensor, *, uv: Tensor, K: Tensor, valid: Tensor,
             weights: Mapping[str, float], xyz: Tensor | None = None,
             angle_deg: Tensor | None = None, texture_weight: Tensor | None = None,
             texture_weight_rule: str = "freihand", index: Tensor | None = None,
             mask: Tensor | None = None, mtex_mode: str = "official") -> dict:
        """The self-supervised loss of one batch; the listed terms are the keys of `weights`.

        Args:
            images: (B, 3, S, S) float in [0, 1]. uv: (B, 21, 2) px, the 2D detections (handkit
                order; NaN where missing). K: (B, 3, 3) px. valid: (B, 21) float detection
                confidences in [0, 1] (a bool mask counts as 0/1).
            weights: the stage's ``{loss name: λ}`` (`LOSS_NAMES`): the listed terms.
            xyz, angle_deg: accepted for the fine-tuning contract and never read (no 3D label).
            texture_weight: (B,) t_b; None = `losses.s2hand.texture_weights` of the cleaned
                confidences by `texture_weight_rule` (and `index`).
            mask: (B, S, S) ground-truth hand masks for ``sil`` (None: ``sil`` cannot be listed).
            mtex_mode: `losses.s2hand.MTEX_MODES`.

        Returns:
            dict: "loss" (() tensor, or None when the batch is skipped: nothing counted or the
            total is below 1e-10), "skipped_samples" (() int: samples without any detected
            joint), and each term's λ·value that counted, detached.
        """
        unknown = sorted(set(weights) - set(LOSS_NAMES))
        if unknown:
            raise ValueError(f"losses: unknown term(s) {unknown}; known: {list(LOSS_NAMES)}.")
        if "sil" in weights and mask is None:
            raise ValueError("losses: 'sil' needs ground-truth masks (mask=...); no released "
                             "config lists it.")
        det, conf, usable = L.clean_detections(uv, valid.to(uv.dtype if uv.is_floating_point()
                                                             else torch.float32))
        conf = conf * usable[:, None]  # an all-missing sample is skipped (weighs nothing)
        parts = set().union(*(PARTS_OF_LOSS[n] for n in weights)) if weights else set()
        out = self.run(images, K, heatmaps="heatmaps" in parts, hand="hand" in parts,
                       texture="texture" in parts, rendering="render" in parts)
        if texture_weight is None:
            texture_weight = L.texture_weights(conf, texture_weight_rule, index)
        terms = self.loss_terms(out, images, det, conf, texture_weight, list(weights),
                                mask=mask, mtex_mode=mtex_mode)
        total, counted = L.combine(terms, weights, list(weights))
        result: dict = {"loss": total, "skipped_samples": (~usable).sum()}
        result.update({k: v.detach() for k, v in counted.items()})
        return result

    def loss_terms(self, out: S2HandOutput, images: Tensor, det: Tensor, conf: Tensor,
                   texture_weight: Tensor, names: Sequence[str], *, mask: Tensor | None = None,
                   mtex_mode: str = "official") -> dict[str, Tensor]:
        """The unweighted terms `names` (`LOSS_NAMES`) of one pass; shapes as in `loss`."""
        t: dict[str, Tensor] = {}
        for name in names:
            check_choice(name, PARTS_OF_LOSS, name="loss")
        if "open_2dj" in names:
            t["open_2dj"] = L.open_2dj_loss(out.j2d, det, conf)
        if "hm_integral" in names:
            t["hm_integral"] = L.hm_integral_loss(out.hm_uv, det, conf)
        if "kp_cons" in names:
            t["kp_cons"] = L.kp_cons_loss(out.hm_uv[-1], out.j2d)
        if "open_bone_direc" in names:
            t["open_bone_direc"] = L.bone_direction_loss(out.j2d, det, conf)
        if "bone_len_2d" in names:
            t["bone_len_2d"] = L.bone_length_2d_loss(out.j2d, det, conf)
        if "mscale" in names:
            t["mscale"] = L.mean_scale_loss(out.joints, self.hand.bone_m)
        if "tsa_poses" in names:
            t["tsa_poses"] = L.tsa_pose_loss(out.prior_pose, self.hand.prior_low,
                                             self.hand.prior_high)
        if "mshape" in names:
            t["mshape"] = L.shape_prior_loss(out.shape)
        if "triangle" in names:
            t["triangle"] = L.laplacian_loss(out.vertices, self.faces)
        if "mtex" in names:
            t["mtex"] = L.texture_regularity_loss(out.textures, texture_weight, mtex_mode)
        if {"texture", "mrgb"} & set(names):
            image = images.permute(0, 2, 3, 1)
            target = image * (out.silhouette > 0)[..., None].to(image)
            if "texture" in names:
                t["texture"] = L.texture_loss(out.rgb, target, texture_weight)
            if "mrgb" in names:
                t["mrgb"] = L.mean_rgb_loss(out.rgb, target, texture_weight)
        if "sil" in names:
            t["sil"] = L.silhouette_loss(out.silhouette, mask)
        return t


@register_model("s2hand")
def s2hand(backbone: str = "efficientnet_b3", image_size: int = 224,
           mano_dir: str | None = None, num_pose: int = 30, hm_feats: int = 256,
           hm_stacks: int = 2, hm_modules: int = 2, use_mean_shape: bool = True,
           render_sigma: float = 0.5, hand_model: str | None = None) -> S2Hand:
    """S2HAND: `backbone` any timm model name (official EfficientNet-B3, random init);
    `hand_model` "mano" (`mano_dir`, else ``HANDKIT_MANO_DIR``) or "openhand"; None = MANO when
    `mano_dir` is given, else OpenHand; hourglass ``hm_stacks`` × ``hm_modules`` with
    ``hm_feats`` channels (official 2, 2, 256)."""
    options = {"mano_dir": mano_dir, "hand_model": hand_model, "num_pose": num_pose,
               "hm_feats": hm_feats,
               "hm_stacks": hm_stacks, "hm_modules": hm_modules,
               "use_mean_shape": use_mean_shape, "render_sigma": render_sigma}
    cfg = ModelConfig("s2hand", backbone, image_size, options)
    return S2Hand(cfg, TimmEncoder(backbone),
                  StackedHourglass(21, hm_stacks, hm_modules, hm_feats),
                  S2HandHand(mano_dir, num_pose, hand_model), use_mean_shape=use_mean_shape,
                  render_sigma=render_sigma)
