"""A forearm (and sleeve) for every synthetic hand: a closed, tapered elliptic tube from the wrist.

Real photos of hands always show the forearm; a network trained without one puts the wrist down
the forearm. The forearm here is geometry, not a label: it is rendered with the hands (so it
occludes and is occluded through the z-buffer) but never enters the hand's mask, part map,
box or keypoints.

**Convention:** camera frame in meters (x right, y down, z forward). The hand's own frame is
taken from its posed joints (handkit order), so it works for right and left hands alike:
``a`` = wrist → middle MCP (the fingers' direction), ``l`` = pinky MCP → index MCP made
orthogonal to ``a`` (across the palm), ``n = a × l``. The forearm leaves the wrist along −a,
turned by a wrist flexion about ``l`` and a deviation about ``n``; its cross-section is wider
along ``l`` than along ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Forearm", "sample_forearm", "hand_frame", "forearm_mesh", "REST_WRIST_TO_MCP"]

REST_WRIST_TO_MCP = 0.086
"""Meters: OpenHand's wrist → middle-MCP distance at the mean shape (the forearm's size unit)."""
_SEGMENTS = 20  # vertices around each ring


@dataclass(frozen=True)
class Forearm:
    """One forearm's shape and look (all lengths in meters at the mean hand size).

    Attributes:
        flexion, deviation: radians, the wrist's bend of the forearm relative to the hand.
        length: from the wrist to the far end.
        half_width, half_thickness: the ellipse's semi-axes at the wrist (along l and n).
        growth: semi-axes at the far end over those at the wrist.
        sleeve_start: distance from the wrist where a sleeve begins (None: bare arm).
        sleeve_scale: the sleeve's semi-axes over the arm's.
        sleeve_rgb: (3,) cloth albedo. sleeve_stripes: (freq rad/m, amplitude) of a pattern.
    """

    flexion: float
    deviation: float
    length: float
    half_width: float
    half_thickness: float
    growth: float
    sleeve_start: float | None
    sleeve_scale: float
    sleeve_rgb: np.ndarray
    sleeve_stripes: tuple[float, float]


def sample_forearm(rng: np.random.Generator, sleeve_prob: float) -> Forearm:
    """A random forearm: wrist flexion ~N(0, 25°) within ±60°, deviation ~N(0, 10°) within
    ±25°, 0.2-0.3 m long, 5.2-6.4 cm wide and 3.2-4.0 cm thick at the wrist, 1.15-1.45× that
    at the far end; a sleeve with probability `sleeve_prob`, starting 1-12 cm from the wrist."""
    flexion = float(np.clip(rng.normal(0, np.radians(25)), -np.radians(60), np.radians(60)))
    deviation = float(np.clip(rng.normal(0, np.radians(10)), -np.radians(25), np.radians(25)))
    length = float(rng.uniform(0.2, 0.3))
    half_width = float(rng.uniform(0.026, 0.032))
    half_thickness = float(rng.uniform(0.016, 0.020))
    growth = float(rng.uniform(1.15, 1.45))
    sleeve = rng.uniform() < sleeve_prob
    start = float(rng.uniform(0.01, 0.12)) if sleeve else None
    grey = rng.uniform(0.05, 0.95)
    rgb = np.clip(grey + (rng.uniform(0, 1, 3) - grey) * rng.uniform(0, 1), 0, 1)
    stripes = (float(rng.uniform(60, 400)), float(rng.uniform(0, 0.3) * (rng.uniform() < 0.4)))
    return Forearm(flexion, deviation, length, half_width, half_thickness, growth, start,
                   float(rng.uniform(1.12, 1.3)), rgb.astype(np.float32), stripes)


def hand_frame(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, l, n) unit vectors of a posed hand from its (21, 3) joints (module docstring)."""
    a = joints[9] - joints[0]
    a = a / np.linalg.norm(a)
    l = joints[5] - joints[17]
    l = l - (l @ a) * a
    l = l / np.linalg.norm(l)
    return a, l, np.cross(a, l)


def forearm_mesh(joints: np.ndarray, arm: Forearm, skin: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closed mesh of `arm` attached to the hand with (21, 3) `joints` (meters, camera
    frame), scaled by the hand's wrist → middle-MCP length.

    The tube starts 4 mm on the fingers' side of the wrist joint (inside the palm, at 0.85 of
    its wrist size, so no gap opens at any flexion) and is capped at both ends; a sleeve is a
    wider part of the same tube with a cuff (an annulus facing the hand).

    Args:
        joints: (21, 3) float, handkit order. arm: the forearm. skin: (3,) skin albedo.

    Returns:
        vertices (N, 3) float64 meters, faces (F, 3) int64 wound outward (counter-clockwise
        seen from outside, as the renderer's back-face culling expects), colors (N, 3)
        float32 albedo.
    """
    joints = np.asarray(joints, np.float64)
    scale = float(np.linalg.norm(joints[9] - joints[0])) / REST_WRIST_TO_MCP
    a, l, n = hand_frame(joints)
    d = -a
    d = np.cos(arm.flexion) * d + np.sin(arm.flexion) * n  # bend about l
    d = np.cos(arm.deviation) * d + np.sin(arm.deviation) * l  # then about n
    d /= np.linalg.norm(d)
    u = l - (l @ d) * d
    u /= np.linalg.norm(u)
    v = np.cross(d, u)
    length = arm.length
    stations = [(-0.004, 0.85, False), (0.004, 0.95, False), (0.012, 1.0, False)]
    stations += [(s, None, False) for s in np.linspace(0.025, length, 9)]
    if arm.sleeve_start is not None:
        stations = [st for st in stations if abs(st[0] - arm.sleeve_start) > 1e-3]
        stations.append((arm.sleeve_start, None, True))  # the cuff: bare ring, then sleeve ring
        stations.sort(key=lambda st: st[0])
    rings, colors, ss = [], [], []
    phi = np.linspace(0, 2 * np.pi, _SEGMENTS, endpoint=False)
    for s, taper, cuff in stations:
        size = taper if taper is not None else 1 + (arm.growth - 1) * (max(s, 0) / length) ** 0.8
        for sleeved in ((False, True) if cuff else
                        ((arm.sleeve_start is not None and s > arm.sleeve_start),)):
            k = size * (arm.sleeve_scale if sleeved else 1.0)
            ring = (d * s + np.cos(phi)[:, None] * u * arm.half_width * k
                    + np.sin(phi)[:, None] * v * arm.half_thickness * k)
            rings.append(ring)
            ss.append(s)
            if sleeved:
                pattern = 1 + arm.sleeve_stripes[1] * np.sin(arm.sleeve_stripes[0] * s +
                                                             np.cos(phi) * 2)
                colors.append(arm.sleeve_rgb[None] * pattern[:, None])
            else:
                colors.append(np.repeat(np.asarray(skin, np.float32)[None], _SEGMENTS, 0))
    m = len(rings)
    verts = np.concatenate(rings + [(d * ss[0])[None], (d * ss[-1])[None]]) * scale
    cols = np.concatenate(colors + [colors[0][:1], colors[-1][:1]])
    faces = []
    j = np.arange(_SEGMENTS)
    jn = (j + 1) % _SEGMENTS
    for r in range(m - 1):
        p, q = r * _SEGMENTS, (r + 1) * _SEGMENTS
        faces += [np.stack([p + j, q + j, q + jn], 1), np.stack([p + j, q + jn, p + jn], 1)]
    near, far = m * _SEGMENTS, m * _SEGMENTS + 1
    faces += [np.stack([np.full(_SEGMENTS, near), j, jn], 1),
              np.stack([np.full(_SEGMENTS, far), (m - 1) * _SEGMENTS + jn,
                        (m - 1) * _SEGMENTS + j], 1)]
    faces = np.concatenate(faces).astype(np.int64)
    faces = _orient_outward(verts, faces, d, ss[0] * scale, ss[-1] * scale)
    verts = verts + joints[0]
    return verts, faces, np.clip(cols, 0, 1).astype(np.float32)


def _orient_outward(verts: np.ndarray, faces: np.ndarray, d: np.ndarray, s0: float,
                    s1: float) -> np.ndarray:
    """Flip faces whose normal points into the tube: outward is radial on the wall, −d on the
    near cap and on a cuff (both face the hand), +d on the far cap (vertices relative to the
    wrist)."""
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centre = tri.mean(1)
    s = centre @ d
    radial = centre - s[:, None] * d
    flat = np.ptp(tri @ d, axis=1) < 1e-9
    outward = np.where(flat[:, None], np.where((s > s1 - 1e-4)[:, None], d, -d), radial)
    flip = (normal * outward).sum(1) < 0
    faces = faces.copy()
    faces[flip] = faces[flip][:, ::-1]
    return faces
