"""Scenes of the synthetic world: pose hands with OpenHand, place them in a camera, render.

A scene is a pure function of ``(seed, index)`` (plus size): every random draw comes from
``numpy.random.default_rng([seed, stream, index])``, so any worker can make any sample and the
output does not depend on how samples are shared among processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from handkit.data.synth import appearance as app
from handkit.data.synth import skin
from handkit.data.synth.forearm import forearm_mesh, sample_forearm
from handkit.data.synth.objects import HeldObject, held_angles, object_mesh, sample_held_object
from handkit.data.synth.poses import random_rotation, rotation_aa, sample_angles
from handkit.geometry.camera import project_points
from handkit.data.synth.renderer import (joint_visibility, rasterize, shade,
                                         vertex_normals)
from handkit.hand.model import Handedness, mirror_pose
from handkit.hand.openhand import OpenHand, angles_to_pose

__all__ = ["HandState", "HandLabel", "Scene", "hand_model", "pose_hand", "render_hands", "forearms",
           "held_objects",
           "freihand_camera", "fit_depth", "center_in_view", "freihand_scene", "rng_for"]


_ARM_KEY = 101  # look_rng key of the forearm draws
_OBJECT_KEY = 103  # look_rng key of the held-object draws
# meters: with a forearm the wrist joint sits inside a tube up to 3.5 cm in half-width, so a
# wrist seen through that much of its own wrist is visible; other joints keep the 2 cm
_ARM_TOLERANCE = np.array([0.035] + [0.02] * 20)


@lru_cache(maxsize=1)
def hand_model() -> OpenHand:
    """The process-wide OpenHand (built once per process)."""
    return OpenHand()


@lru_cache(maxsize=1)
def _template() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    m = hand_model()
    zeros = torch.zeros(1, m.num_shape)
    rest = m.rest_vertices(zeros, m.rest_joints(zeros))[0].numpy()
    return rest, m.nail.numpy(), m.faces.numpy(), m.parts.numpy()


@lru_cache(maxsize=1)
def _rest_joints() -> np.ndarray:
    m = hand_model()
    return m.rest_joints(torch.zeros(1, m.num_shape))[0].numpy().astype(np.float64)


def rng_for(seed: int, stream: int, index: int) -> np.random.Generator:
    """The generator of sample `index` in random stream `stream` (0 samples, 1 videos, ...)."""
    return np.random.default_rng([int(seed), int(stream), int(index)])


@dataclass(frozen=True)
class HandState:
    """A posed hand in the camera frame (before rendering)."""

    handedness: Handedness
    global_orient: np.ndarray  # (3,) axis-angle, camera frame, rotation about the wrist
    finger_pose: np.ndarray  # (15, 3) axis-angle (model input, already mirrored for left hands)
    shape: np.ndarray  # (10,) OpenHand shape coefficients
    transl: np.ndarray  # (3,) meters, camera frame
    vertices: np.ndarray  # (V, 3) float32 meters, camera frame
    joints: np.ndarray  # (21, 3) float32 meters, camera frame, handkit order
    colors: np.ndarray  # (V, 3) float32 albedo
    look: app.Look
    held: HeldObject | None = None  # the object in its grip (the ``objects`` option)

    def moved(self, offset: np.ndarray) -> "HandState":
        """The same hand translated by `offset` (3,) meters."""
        off = np.asarray(offset, np.float32)
        return HandState(self.handedness, self.global_orient, self.finger_pose, self.shape,
                         (self.transl + offset).astype(np.float32), self.vertices + off,
                         self.joints + off, self.colors, self.look, self.held)


@dataclass(frozen=True)
class HandLabel:
    """Labels of one rendered hand."""

    state: HandState
    uv: np.ndarray  # (21, 2) float64 pixels, handkit order
    visible: np.ndarray  # (21,) bool, from the depth buffer, occluders and image bounds
    box: np.ndarray  # (4,) [x1, y1, x2, y2] pixels, tight box of the projected vertices
    pixels: int  # number of visible hand pixels


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    K: np.ndarray  # (3, 3) float64
    hands: tuple[HandLabel, ...]
    mask: np.ndarray  # (H, W) bool, visible hand pixels (any hand)
    parts: np.ndarray  # (H, W) uint8, 0 background, 1 + PART_NAMES index
    instance: np.ndarray  # (H, W) int8, -1 background, else index into `hands`
    depth: np.ndarray  # (H, W) float32 meters, 0 where no hand


def pose_hand(rng: np.random.Generator, angles: np.ndarray, R: np.ndarray,
              handedness: Handedness, shape: np.ndarray | None = None,
              look: app.Look | None = None, dom: app.Domain = app.DOMAINS["default"]) -> HandState:
    """Run OpenHand for anatomical `angles` (15, 3) and global rotation `R` (3, 3); wrist at 0.
    The look, unless given, is drawn from appearance distribution `dom`. With
    ``dom.held_object`` > 0 the hand may hold an object (drawn from its look and handedness,
    `appearance.look_rng`, so the scene's own draws do not change): its angles are then the
    object's grip blended with `angles` (`objects.held_angles`)."""
    shape = np.clip(rng.normal(0, 1, 10), -2.5, 2.5) if shape is None else shape
    look = app.sample_look(rng, dom) if look is None else look
    held = None
    if dom.held_object > 0:
        held_rng = app.look_rng(look, _OBJECT_KEY, handedness == "left")
        if held_rng.uniform() < dom.held_object:
            held = sample_held_object(held_rng)
            angles = held_angles(held, angles)
    pose = angles_to_pose(torch.as_tensor(angles, dtype=torch.float32))
    orient = torch.as_tensor(rotation_aa(R), dtype=torch.float32)
    if handedness == "left":  # angles describe the anatomy; mirror them into the left model
        pose = mirror_pose(pose)
    with torch.no_grad():
        out = hand_model()(orient[None], pose[None], torch.as_tensor(shape, dtype=torch.float32)[None],
                           handedness=handedness)
    rest, nail, _, _ = _template()
    return HandState(handedness, orient.numpy(), pose.numpy(), shape.astype(np.float32),
                     np.zeros(3, np.float32), out.vertices[0].numpy(), out.joints[0].numpy(),
                     app.vertex_colors(look, rest, nail), look, held)


def fit_depth(vertices: np.ndarray, f: float, radius_px: float) -> float:
    """Depth (meters) at which the hand's bounding sphere spans `radius_px` pixels."""
    center = (vertices.max(0) + vertices.min(0)) / 2
    r = float(np.linalg.norm(vertices - center, axis=1).max())
    return f * r / radius_px


def freihand_camera(rng: np.random.Generator, size: int) -> np.ndarray:
    """FreiHAND-like K for a `size`-px crop: f ∈ [390, 500]·size/224, principal point ≈ size/2."""
    f = rng.uniform(390, 500) * size / 224
    c = size / 2 + rng.uniform(-3, 3, 2) * size / 224
    return np.array([[f, 0, c[0]], [0, f, c[1]], [0, 0, 1.0]])


def center_in_view(hands: list[HandState], K: np.ndarray, size: tuple[int, int],
                   uv_target: np.ndarray, depth: float, margin: float) -> list[HandState]:
    """Translate `hands` together so their joint box centre projects at `uv_target` at `depth`
    (meters), then push them back until every vertex projects inside the (H, W) image `size`
    with `margin` pixels to spare."""
    verts = np.concatenate([h.vertices for h in hands])
    center = (verts.max(0) + verts.min(0)) / 2
    ray = np.linalg.solve(K, np.array([uv_target[0], uv_target[1], 1.0]))
    h, w = size
    for _ in range(8):
        uv = project_points(verts + (ray * depth - center), K)
        over = max(0.0, margin - uv[:, 0].min(), uv[:, 0].max() - (w - margin),
                   margin - uv[:, 1].min(), uv[:, 1].max() - (h - margin))
        if over <= 0:
            break
        depth *= 1.0 + over / min(h, w) * 2 + 0.02
    return [hand.moved(ray * depth - center) for hand in hands]


def forearms(hands: list[HandState], dom: app.Domain, first_vertex: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The forearms of `hands` (each with probability ``dom.forearm``, drawn from the hand's
    own look: `appearance.look_rng`): vertices (N, 3), faces (F, 3) numbered from
    `first_vertex`, albedo (N, 3), and the owning hand of each vertex (N,)."""
    verts, faces, colors, owner = [], [], [], []
    start = first_vertex
    for k, hand in enumerate(hands):
        rng = app.look_rng(hand.look, _ARM_KEY, k)
        if rng.uniform() >= dom.forearm:
            continue
        v, f, c = forearm_mesh(hand.joints, sample_forearm(rng, dom.sleeve), hand.look.skin)
        verts.append(v)
        faces.append(f + start)
        colors.append(c)
        owner.append(np.full(len(v), k))
        start += len(v)
    if not verts:
        return (np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros((0, 3), np.float32),
                np.zeros(0, np.int64))
    return (np.concatenate(verts), np.concatenate(faces), np.concatenate(colors),
            np.concatenate(owner))


def held_objects(hands: list[HandState], first_vertex: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The meshes of the objects `hands` hold: vertices (N, 3), faces (F, 3) numbered from
    `first_vertex`, albedo (N, 3)."""
    meshes = [object_mesh(h.joints, h.held) for h in hands if h.held is not None]
    starts = np.cumsum([first_vertex] + [len(v) for v, _, _ in meshes])
    if not meshes:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros((0, 3), np.float32)
    return (np.concatenate([v for v, _, _ in meshes]),
            np.concatenate([f + start for (_, f, _), start in zip(meshes, starts)]),
            np.concatenate([c for _, _, c in meshes]))


def render_hands(rng: np.random.Generator, hands: list[HandState], K: np.ndarray,
                 height: int, width: int, occluder_prob: float = 0.3,
                 background: np.ndarray | None = None,
                 dom: app.Domain = app.DOMAINS["default"]) -> Scene:
    """Rasterize, shade and composite `hands` over `background` ((H, W, 3) float32 in [0, 1];
    random if None), add occluders and camera artefacts, and label every hand (2D keypoints,
    depth-buffer visibility, box of the projected vertices). The light is `hands[0].look`'s;
    background, occluder rate (`occluder_prob` × ``dom.occluder_scale``) and camera artefacts
    follow appearance distribution `dom`.

    With ``dom.forearm`` > 0 each hand may get a forearm (`forearm.py`), rendered in the same
    z-buffer: it hides what is behind it (other hands, its own hand's joints), but its pixels
    are not hand pixels (mask, parts, instance, depth and box ignore it). For a joint's
    visibility a hand's own forearm counts as its own surface, and the wrist joint is visible
    through up to 3.5 cm of it (the wrist's half-width; other joints keep 2 cm). A hand's held
    object (`HandState.held`, `objects.py`) is in the same z-buffer too, not hand pixels
    either, and hides the joints behind it like any occluder. With ``dom.skin_detail`` > 0 the hand pixels get per-pixel skin detail
    and the softer skin shading (`skin.py`)."""
    _, _, faces, parts = _template()
    n_v = len(parts)
    verts = np.concatenate([h.vertices for h in hands]).astype(np.float64)
    all_faces = np.concatenate([(faces if h.handedness == "right" else faces[:, ::-1]) + k * n_v
                                for k, h in enumerate(hands)])
    colors = np.concatenate([h.colors for h in hands])
    n_hand = len(verts)
    arm_owner = np.zeros(0, np.int64)
    if dom.forearm > 0:
        arm_v, arm_f, arm_c, arm_owner = forearms(hands, dom, n_hand)
        verts = np.concatenate([verts, arm_v])
        all_faces = np.concatenate([all_faces, arm_f])
        colors = np.concatenate([colors, arm_c])
    if any(h.held is not None for h in hands):
        obj_v, obj_f, obj_c = held_objects(hands, len(verts))
        verts = np.concatenate([verts, obj_v])
        all_faces = np.concatenate([all_faces, obj_f])
        colors = np.concatenate([colors, obj_c])
    frags = rasterize(verts, all_faces, K, height, width)
    look = hands[0].look
    shading = skin.shading(look, dom.skin_detail) if dom.skin_detail > 0 else {}
    rgb = shade(frags, verts, vertex_normals(verts, all_faces), all_faces, colors, look.light_dir,
                look.light_rgb, look.ambient, look.specular, look.shininess, **shading)
    if background is None:
        background = app.sample_background(rng, height, width, dom)
    vertex = all_faces[frags.face, 0]
    on_hand = vertex < n_hand
    if dom.skin_detail > 0:
        rest, nail, _, _ = _template()
        hand_faces = all_faces[frags.face[on_hand]]
        rgb[on_hand] = skin.detail(rgb[on_hand], hand_faces, frags.weights[on_hand], n_v,
                                   hands, colors[:n_hand], rest, _rest_joints(), nail, parts,
                                   dom.skin_detail)
    img = background.reshape(-1, 3).copy()
    img[frags.pix] = rgb
    instance = np.full(height * width, -1, np.int8)
    part_map = np.zeros(height * width, np.uint8)
    instance[frags.pix[on_hand]] = vertex[on_hand] // n_v
    part_map[frags.pix[on_hand]] = parts[vertex[on_hand] % n_v] + 1
    arm = None
    if len(arm_owner):
        on_arm = ~on_hand & (vertex < n_hand + len(arm_owner))
        arm = np.full(height * width, -1, np.int8)
        arm[frags.pix[on_arm]] = arm_owner[vertex[on_arm] - n_hand]
    img = img.reshape(height, width, 3)
    instance, part_map = instance.reshape(height, width), part_map.reshape(height, width)
    boxes = [np.concatenate([uv.min(0), uv.max(0)]) for uv in
             (project_points(h.vertices.astype(np.float64), K) for h in hands)]
    if rng.uniform() < occluder_prob * dom.occluder_scale:
        occ, occ_rgb = app.sample_occluder(rng, height, width, boxes[rng.integers(len(hands))])
        img[occ] = occ_rgb[occ]
        instance[occ], part_map[occ] = -1, 0
        if arm is not None:
            arm.reshape(height, width)[occ] = -1
    depth = np.where(instance >= 0, frags.depth, 0.0).astype(np.float32)
    if arm is not None:
        arm = arm.reshape(height, width)
        seen_depth = np.where((instance >= 0) | (arm >= 0), frags.depth, 0.0).astype(np.float32)
    labels = []
    for k, (h, box) in enumerate(zip(hands, boxes)):
        own = instance == k
        if arm is None:
            uv, visible = joint_visibility(h.joints.astype(np.float64), K, depth, own)
        else:
            uv, visible = joint_visibility(h.joints.astype(np.float64), K, seen_depth,
                                           own | (arm == k), _ARM_TOLERANCE)
        labels.append(HandLabel(h, uv, visible, box, int(own.sum())))
    image = app.finish_image(rng, img, dom)
    return Scene(image, K, tuple(labels), instance >= 0, part_map, instance, depth)


def freihand_scene(seed: int, index: int, size: int = 224, appearance: str = "default") -> Scene:
    """One hand centred in a `size`×`size` crop (FreiHAND-like), sample `index` of `seed`, with
    the look of `appearance` (an `appearance.DOMAINS` name)."""
    dom = app.domain(appearance)
    rng = rng_for(seed, 0, index)
    handedness: Handedness = "right"  # FreiHAND has right hands only
    hand = pose_hand(rng, sample_angles(rng), random_rotation(rng), handedness, dom=dom)
    K = freihand_camera(rng, size)
    radius = rng.uniform(0.30, 0.46) * size
    depth = float(np.clip(fit_depth(hand.vertices, K[0, 0], radius), 0.3, 1.2))
    target = size / 2 + rng.uniform(-0.05, 0.05, 2) * size
    hands = center_in_view([hand], K, (size, size), target, depth, margin=1.0)
    return render_hands(rng, hands, K, size, size, dom=dom)
