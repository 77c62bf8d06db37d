"""Held objects and the grips around them: the synthetic world's ``objects`` option.

Real photos often show a hand holding something (a bottle, a phone, a ball, a tool handle):
fingers wrapped around a surface that hides parts of them. Here a hand that holds an object
(probability ``Domain.held_object``, drawn from the hand's look: `appearance.look_rng`) is
posed in a power grip whose closure follows the object's size (`grip_angles`), and a convex
object (cylinder, box or sphere) is placed against its palm (`object_mesh`). Like the
forearm, the object is geometry, not a label: it is rendered in the hands' z-buffer (it hides
the joints behind it, which become invisible) but is never in a hand's mask, parts, box or
keypoints.

**Convention:** camera frame in meters (x right, y down, z forward). The hand frame
(a, l, n) is `forearm.hand_frame`'s; the palm side is the side of n the fingers curl to.
Sizes are at the mean hand (wrist → middle MCP = `forearm.REST_WRIST_TO_MCP`) and scale with
the hand. The fingers are not collision-solved against the object: a grip's fingertips may
enter its surface, and the z-buffer then shows the object there (as a finger pressed into a
soft surface or seen behind the object's rim would look).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handkit.data.synth.forearm import REST_WRIST_TO_MCP, hand_frame
from handkit.data.synth.poses import grip_angles

__all__ = ["KINDS", "HeldObject", "sample_held_object", "held_angles", "object_mesh"]

KINDS = ("cylinder", "box", "sphere")
_PALM_HALF_THICKNESS = 0.012  # meters at the mean hand: palm surface to the joints' plane
_POSE_SHARE = 0.25  # share of the scene's own sampled pose kept in a grip (videos still move)
_SEGMENTS = 24


@dataclass(frozen=True)
class HeldObject:
    """One held object (lengths in meters at the mean hand size).

    Attributes:
        kind: one of `KINDS`.
        half_extent: (3,) half sizes along the object's own axes (u, v, w): a cylinder's
            (half length, radius, radius) with its axis u; a box's half sides; a sphere's
            (r, r, r).
        tilt: radians, the turn of u away from the hand's l axis, about the palm normal.
        rgb: (3,) albedo. stripes: (frequency rad/m, amplitude) of a pattern along u.
    """

    kind: str
    half_extent: np.ndarray
    tilt: float
    rgb: np.ndarray
    stripes: tuple[float, float]

    @property
    def grip_radius(self) -> float:
        """Meters: the size the fingers close around (a cylinder's radius, a box's half side
        along the fingers, a sphere's radius)."""
        return float(self.half_extent[1])

    @property
    def depth(self) -> float:
        """Meters: the object's half extent along the palm normal (how far its centre sits
        from the palm)."""
        return float(self.half_extent[2])


def sample_held_object(rng: np.random.Generator) -> HeldObject:
    """A random object: a cylinder (radius 1.2-4 cm, 5-11 cm half length: handles, bottles,
    cans), a box (3-7 cm across the palm, 1.5-4 cm along the fingers, 0.4-2 cm thick: phones,
    remotes, books' edges) or a sphere (radius 2.5-4.5 cm), in a random colour, a third striped."""
    kind = KINDS[int(rng.integers(len(KINDS)))]
    if kind == "cylinder":
        r = rng.uniform(0.012, 0.04)
        half = np.array([rng.uniform(0.05, 0.11), r, r])
    elif kind == "box":
        half = np.array([rng.uniform(0.03, 0.07), rng.uniform(0.015, 0.04), rng.uniform(0.004, 0.02)])
    else:
        half = np.full(3, rng.uniform(0.025, 0.045))
    tilt = float(rng.normal(0, np.radians(15)))
    grey = rng.uniform(0.05, 0.95)
    rgb = np.clip(grey + (rng.uniform(0, 1, 3) - grey) * rng.uniform(0, 1), 0, 1)
    stripes = (float(rng.uniform(60, 300)), float(rng.uniform(0.1, 0.4) * (rng.uniform() < 0.33)))
    return HeldObject(kind, half, tilt, rgb.astype(np.float32), stripes)


def held_angles(obj: HeldObject, angles: np.ndarray) -> np.ndarray:
    """(15, 3) anatomical angles of a hand holding `obj`: the power grip that closes around its
    `grip_radius` (`poses.grip_angles`: curl 0.9 at 1 cm down to 0.35 at 5 cm), blended with
    the scene's own `angles` (15, 3) at `_POSE_SHARE` so poses still vary."""
    curl = float(np.clip(1.05 - 14.0 * obj.grip_radius, 0.35, 0.9))
    return (1 - _POSE_SHARE) * grip_angles(curl) + _POSE_SHARE * np.asarray(angles, np.float64)


def object_mesh(joints: np.ndarray, obj: HeldObject) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closed mesh of `obj` held against the palm of the hand with (21, 3) `joints`
    (meters, camera frame, handkit order), scaled by the hand's wrist → middle-MCP length.

    Placement: its centre on the palm side at 0.35·wrist + 0.65·(mean of the four finger
    MCPs), `_PALM_HALF_THICKNESS` + `obj.depth` off the joints' plane; its axes (u, v, w) =
    (l, a, n) turned by `obj.tilt` about n.

    Returns:
        vertices (N, 3) float64 meters, faces (F, 3) int64 wound outward (counter-clockwise
        seen from outside; the shapes are convex, so outward is away from the centre),
        colors (N, 3) float32 albedo.
    """
    joints = np.asarray(joints, np.float64)
    scale = float(np.linalg.norm(joints[9] - joints[0])) / REST_WRIST_TO_MCP
    a, l, n = hand_frame(joints)
    curl_dir = joints[[7, 11, 15, 19]].mean(0) - joints[[5, 9, 13, 17]].mean(0)
    palm = n if curl_dir @ n >= 0 else -n
    u = np.cos(obj.tilt) * l + np.sin(obj.tilt) * a
    v = np.cross(palm, u)
    centre = (0.35 * joints[0] + 0.65 * joints[[5, 9, 13, 17]].mean(0)
              + palm * (_PALM_HALF_THICKNESS + obj.depth) * scale)
    local, faces = _UNIT_SHAPES[obj.kind]()
    local = local * obj.half_extent
    verts = centre + scale * (local[:, :1] * u + local[:, 1:2] * v + local[:, 2:] * palm)
    faces = _orient_convex(verts, faces, centre)
    pattern = 1 + obj.stripes[1] * np.sin(obj.stripes[0] * local[:, 0])
    colors = np.clip(obj.rgb[None] * pattern[:, None], 0, 1).astype(np.float32)
    return verts, faces, colors


def _cylinder() -> tuple[np.ndarray, np.ndarray]:
    """Unit cylinder along x (x in [-1, 1], radius 1 in y, z): 8 wall rings and separate cap
    rings (sharp rims under the renderer's vertex normals), each cap with a centre."""
    phi = np.linspace(0, 2 * np.pi, _SEGMENTS, endpoint=False)
    ring = np.stack([np.cos(phi), np.sin(phi)], 1)
    xs = np.linspace(-1, 1, 8)
    rings = [np.column_stack([np.full(_SEGMENTS, x), ring]) for x in (-1.0, *xs, 1.0)]
    m = len(rings)
    verts = np.concatenate(rings + [np.array([[-1.0, 0, 0], [1.0, 0, 0]])])
    j = np.arange(_SEGMENTS)
    jn = (j + 1) % _SEGMENTS
    faces = [np.stack([p + j, p + _SEGMENTS + j, p + _SEGMENTS + jn], 1) for p in
             range(_SEGMENTS, (m - 2) * _SEGMENTS, _SEGMENTS)]
    faces += [np.stack([p + j, p + _SEGMENTS + jn, p + jn], 1) for p in
              range(_SEGMENTS, (m - 2) * _SEGMENTS, _SEGMENTS)]
    near, far = m * _SEGMENTS, m * _SEGMENTS + 1
    faces += [np.stack([np.full(_SEGMENTS, near), j, jn], 1),
              np.stack([np.full(_SEGMENTS, far), (m - 1) * _SEGMENTS + jn,
                        (m - 1) * _SEGMENTS + j], 1)]
    return verts, np.concatenate(faces)


def _box() -> tuple[np.ndarray, np.ndarray]:
    """Unit cube [-1, 1]³ with 4 vertices per face (flat shading), 12 triangles."""
    verts, faces = [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            s, t = [k for k in range(3) if k != axis]
            quad = np.zeros((4, 3))
            quad[:, axis] = sign
            quad[:, s] = (-1, 1, 1, -1)
            quad[:, t] = (-1, -1, 1, 1)
            base = 4 * len(faces) // 2
            verts.append(quad)
            faces += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    return np.concatenate(verts), np.array(faces)


def _sphere(rows: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Unit UV sphere: `rows` latitude bands × `_SEGMENTS`, a vertex at each pole."""
    theta = np.linspace(0, np.pi, rows + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, _SEGMENTS, endpoint=False)
    ring = np.stack([np.cos(theta)[:, None].repeat(_SEGMENTS, 1),
                     np.sin(theta)[:, None] * np.cos(phi), np.sin(theta)[:, None] * np.sin(phi)],
                    -1).reshape(-1, 3)
    verts = np.concatenate([ring, [[1.0, 0, 0], [-1.0, 0, 0]]])
    j = np.arange(_SEGMENTS)
    jn = (j + 1) % _SEGMENTS
    faces = []
    for r in range(rows - 2):
        p, q = r * _SEGMENTS, (r + 1) * _SEGMENTS
        faces += [np.stack([p + j, q + j, q + jn], 1), np.stack([p + j, q + jn, p + jn], 1)]
    top, bottom = len(ring), len(ring) + 1
    last = (rows - 2) * _SEGMENTS
    faces += [np.stack([np.full(_SEGMENTS, top), j, jn], 1),
              np.stack([np.full(_SEGMENTS, bottom), last + jn, last + j], 1)]
    return verts, np.concatenate(faces)


_UNIT_SHAPES = {"cylinder": _cylinder, "box": _box, "sphere": _sphere}


def _orient_convex(verts: np.ndarray, faces: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """`faces` (F, 3) re-wound so every normal points away from `centre` (exact for a convex
    mesh around its centre)."""
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    flip = (normal * (tri.mean(1) - centre)).sum(1) < 0
    faces = np.asarray(faces, np.int64).copy()
    faces[flip] = faces[flip][:, ::-1]
    return faces
